"""The sandbox server process, driven with plain boto3 as any AWS client would drive it."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deployspec.errors import SandboxError
from deployspec.sandbox import control
from deployspec.sandbox.control import FaultClient, SandboxInfo
from tests.conftest import run_cli, tar_gz

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TRANSITION = 0.2
BUCKET = "sandbox-models"

IRIS_SCRIPT = """\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""

FAILING_SCRIPT = """\
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    raise ValueError("the scaler was never fitted")
"""

CONSTANT_SCRIPT = """\
import json

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return json.dumps({"answer": 42}), "application/json"
"""


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _client(info: SandboxInfo, service: str, **config: Any) -> Any:
    env = control.environment(info)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    home = tmp_path_factory.mktemp("deployspec-home")
    info, started_now = control.start(0, transition_seconds=TRANSITION, home=home)
    assert started_now
    yield info
    assert control.stop(home) is True
    assert _group_members(info.pid) == []


@pytest.fixture(scope="module")
def sm(sandbox: SandboxInfo) -> Any:
    return _client(sandbox, "sagemaker")


@pytest.fixture(scope="module")
def runtime(sandbox: SandboxInfo) -> Any:
    return _client(sandbox, "sagemaker-runtime")


@pytest.fixture(scope="module")
def faults(sandbox: SandboxInfo) -> Iterator[FaultClient]:
    client = FaultClient(sandbox)
    yield client
    client.clear()


@pytest.fixture(scope="module")
def iris_packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An iris classifier packaged like the scikit-learn container wants, with three scripts."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    classifier = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    folder = tmp_path_factory.mktemp("iris")
    joblib.dump(classifier, folder / "model.joblib")
    scripts = {"iris": IRIS_SCRIPT, "failing": FAILING_SCRIPT, "constant": CONSTANT_SCRIPT}
    samples = [list(map(float, iris.data[i])) for i in (0, 60, 120)]
    return {
        "archives": {name: _package(folder, script) for name, script in scripts.items()},
        "samples": samples,
        "expected": classifier.predict(samples).tolist(),
    }


def _upload(info: SandboxInfo, archives: dict[str, bytes]) -> dict[str, str]:
    s3 = _client(info, "s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    for name, archive in archives.items():
        s3.put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=archive)
    return {name: f"s3://{BUCKET}/{name}/model.tar.gz" for name in archives}


@pytest.fixture(autouse=True)
def iris_model(sandbox: SandboxInfo, iris_packages: dict[str, Any]) -> dict[str, Any]:
    # Autouse: the sandbox downloads and loads every endpoint's model when it is created, as
    # SageMaker does, so each test's models must exist in S3 (and a reset empties it).
    return {**iris_packages, "urls": _upload(sandbox, iris_packages["archives"])}


def _package(folder: Path, script: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder / "model.joblib", arcname="model.joblib")
        data = script.encode()
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# The default model loads fast (no scikit-learn to import) for tests about the API itself.
def _model(sm: Any, model_data_url: str = f"s3://{BUCKET}/constant/model.tar.gz") -> str:
    name = _name("model")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    return name


def _config(sm: Any, model: str, memory: int = 2048, instance_type: str | None = None) -> str:
    """A serverless config, or a real-time one with one instance of `instance_type`."""
    name = _name("config")
    variant: dict[str, Any] = {"VariantName": "primary", "ModelName": model}
    if instance_type:
        variant.update(InstanceType=instance_type, InitialInstanceCount=1)
    else:
        variant["ServerlessConfig"] = {"MemorySizeInMB": memory, "MaxConcurrency": 2}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    return name


def _statuses(sm: Any, endpoint: str, until: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Poll DescribeEndpoint until `until` holds; every status seen, in order, deduplicated."""
    seen: list[str] = []
    # Generous: creating an endpoint starts its model's worker, slow on a loaded machine.
    deadline = time.monotonic() + 90
    while True:
        try:
            status = sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as error:
            status = {"EndpointStatus": "<gone>", "error": error}
        if not seen or seen[-1] != status["EndpointStatus"]:
            seen.append(status["EndpointStatus"])
        if until(status):
            return seen
        assert time.monotonic() < deadline, f"still {seen} after 90 s"
        time.sleep(0.02)


def _in_service(status: dict[str, Any]) -> bool:
    return status["EndpointStatus"] in {"InService", "Failed"}


def _endpoint(sm: Any, config: str) -> str:
    name = _name("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert _statuses(sm, name, _in_service)[-1] == "InService"
    return name


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    error: dict[str, Any] = dict(info.value.response["Error"])
    return error


# --- AWS's errors ------------------------------------------------------------------------------


def test_creating_an_existing_name_fails_like_aws(sm: Any) -> None:
    model = _model(sm)
    config = _config(sm, model)
    endpoint = _endpoint(sm, config)
    arn = "arn:aws:sagemaker:us-east-1:123456789012"

    error = _error(lambda: _recreate_model(sm, model))
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f'Cannot create already existing model "{arn}:model/{model}".'

    error = _error(
        lambda: sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "v",
                    "ModelName": model,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    )
    assert error["Message"] == (
        f'Cannot create already existing endpoint configuration "{arn}:endpoint-config/{config}".'
    )

    error = _error(lambda: sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config))
    assert (
        error["Message"] == f'Cannot create already existing endpoint "{arn}:endpoint/{endpoint}".'
    )
    # Nothing was overwritten.
    assert (
        sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0][
            "VariantName"
        ]
        == "primary"
    )


def _recreate_model(sm: Any, model: str) -> None:
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "other"})


def test_missing_names_give_aws_messages(sm: Any) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012"
    cases = [
        (lambda: sm.describe_model(ModelName="nope"), f'Could not find model "{arn}:model/nope".'),
        (lambda: sm.delete_model(ModelName="nope"), f'Could not find model "{arn}:model/nope".'),
        (
            lambda: sm.describe_endpoint_config(EndpointConfigName="nope"),
            f'Could not find endpoint configuration "{arn}:endpoint-config/nope".',
        ),
        (
            lambda: sm.delete_endpoint_config(EndpointConfigName="nope"),
            f'Could not find endpoint configuration "{arn}:endpoint-config/nope".',
        ),
        (
            lambda: sm.create_endpoint(EndpointName="x", EndpointConfigName="nope"),
            f'Could not find endpoint configuration "{arn}:endpoint-config/nope".',
        ),
        (
            lambda: _config(sm, "nope"),
            f'Could not find model "{arn}:model/nope".',
        ),
        (
            lambda: sm.describe_endpoint(EndpointName="nope"),
            f'Could not find endpoint "{arn}:endpoint/nope".',
        ),
        (
            lambda: sm.delete_endpoint(EndpointName="nope"),
            f'Could not find endpoint "{arn}:endpoint/nope".',
        ),
        (
            lambda: sm.update_endpoint(EndpointName="nope", EndpointConfigName="nope"),
            f'Could not find endpoint "{arn}:endpoint/nope".',
        ),
    ]
    for call, message in cases:
        error = _error(call)
        assert (error["Code"], error["Message"]) == ("ValidationException", message)


# --- transitions -------------------------------------------------------------------------------


def test_create_goes_through_creating_to_in_service(sm: Any) -> None:
    config = _config(sm, _model(sm))
    name = _name("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    listed = {e["EndpointName"]: e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]}
    assert listed[name] == "Creating"
    assert _statuses(sm, name, _in_service) == ["Creating", "InService"]
    listed = {e["EndpointName"]: e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]}
    assert listed[name] == "InService"


def test_update_endpoint_moves_to_the_new_config(sm: Any) -> None:
    model = _model(sm)
    old, new = _config(sm, model, memory=2048), _config(sm, model, memory=4096)
    name = _endpoint(sm, old)
    before = sm.describe_endpoint(EndpointName=name)

    arn = sm.update_endpoint(EndpointName=name, EndpointConfigName=new)["EndpointArn"]
    assert arn == before["EndpointArn"]
    updating = sm.describe_endpoint(EndpointName=name)
    # As in AWS: the old config serves until the new one is in, the new one shows as pending.
    assert updating["EndpointStatus"] == "Updating"
    assert updating["EndpointConfigName"] == old
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == new
    error = _error(lambda: sm.update_endpoint(EndpointName=name, EndpointConfigName=new))
    assert error["Message"] == f'Cannot update in-progress endpoint "{arn}".'

    assert _statuses(sm, name, _in_service) == ["Updating", "InService"]
    after = sm.describe_endpoint(EndpointName=name)
    assert after["EndpointConfigName"] == new
    assert after["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 4096
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    assert "FailureReason" not in after and "PendingDeploymentSummary" not in after


def test_update_endpoint_validates_like_aws(sm: Any) -> None:
    name = _endpoint(sm, _config(sm, _model(sm)))
    arn = "arn:aws:sagemaker:us-east-1:123456789012"
    error = _error(lambda: sm.update_endpoint(EndpointName=name, EndpointConfigName="nope"))
    assert (
        error["Message"] == f'Could not find endpoint configuration "{arn}:endpoint-config/nope".'
    )
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_delete_goes_through_deleting_to_gone(sm: Any) -> None:
    config = _config(sm, _model(sm))
    creating = _name("endpoint")
    sm.create_endpoint(EndpointName=creating, EndpointConfigName=config)
    error = _error(lambda: sm.delete_endpoint(EndpointName=creating))
    assert error["Message"].startswith("Cannot update in-progress endpoint")

    name = _endpoint(sm, config)
    sm.delete_endpoint(EndpointName=name)
    assert _statuses(sm, name, lambda s: s["EndpointStatus"] == "<gone>") == [
        "Deleting",
        "<gone>",
    ]
    assert name not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}


def test_transition_delay_can_change_at_runtime(sm: Any, faults: FaultClient) -> None:
    faults.set_transition_seconds(0)
    try:
        name = _name("endpoint")
        started = time.monotonic()
        sm.create_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm)))
        # No delay of its own: Creating lasts only while the model's container comes up.
        assert _statuses(sm, name, _in_service)[-1] == "InService"
        assert time.monotonic() - started < 60
    finally:
        faults.set_transition_seconds(TRANSITION)


# --- faults ------------------------------------------------------------------------------------


def test_failed_create_ends_failed_with_the_reason(sm: Any, faults: FaultClient) -> None:
    name = _name("endpoint")
    faults.fail_next_create(name, "CannotStartContainerError: ping health check failed")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm)))
    assert _statuses(sm, name, _in_service) == ["Creating", "Failed"]
    failed = sm.describe_endpoint(EndpointName=name)
    assert failed["FailureReason"] == "CannotStartContainerError: ping health check failed"
    # The fault is spent: it applies to the next create only.
    assert faults.faults()["fail_next_create"] == {}


def test_failed_update_rolls_back_to_the_old_config(sm: Any, faults: FaultClient) -> None:
    model = _model(sm)
    old, new = _config(sm, model), _config(sm, model, memory=3072)
    name = _endpoint(sm, old)
    faults.fail_next_update(name, "new fleet failed health checks", rollback=True)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=new)
    assert _statuses(sm, name, _in_service) == ["Updating", "InService"]
    after = sm.describe_endpoint(EndpointName=name)
    assert after["EndpointConfigName"] == old
    assert after["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 2048
    assert after["FailureReason"] == "new fleet failed health checks"

    # A later update goes through and clears the reason.
    sm.update_endpoint(EndpointName=name, EndpointConfigName=new)
    _statuses(sm, name, _in_service)
    after = sm.describe_endpoint(EndpointName=name)
    assert after["EndpointConfigName"] == new and "FailureReason" not in after


def test_failed_update_without_rollback_ends_failed(sm: Any, faults: FaultClient) -> None:
    model = _model(sm)
    old, new = _config(sm, model), _config(sm, model)
    name = _endpoint(sm, old)
    faults.fail_next_update(name, "update failed", rollback=False)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=new)
    assert _statuses(sm, name, _in_service) == ["Updating", "Failed"]
    assert sm.describe_endpoint(EndpointName=name)["FailureReason"] == "update failed"
    error = _error(lambda: sm.update_endpoint(EndpointName=name, EndpointConfigName=new))
    assert error["Message"].startswith("Cannot update failed endpoint")


def test_throttling_hits_exactly_the_fraction_asked(
    sandbox: SandboxInfo, faults: FaultClient
) -> None:
    # botocore retries throttling by itself; a single attempt shows every throttled call.
    sm = _client(sandbox, "sagemaker", retries={"total_max_attempts": 1})
    s3 = _client(sandbox, "s3", retries={"total_max_attempts": 1})
    faults.throttle(0.5, "sagemaker")
    try:
        outcomes = []
        for _ in range(8):
            try:
                sm.list_endpoints()
                outcomes.append("ok")
            except ClientError as error:
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                assert error.response["Error"]["Message"] == "Rate exceeded"
                outcomes.append(error.response["Error"]["Code"])
        assert outcomes == ["ok", "ThrottlingException"] * 4
        for _ in range(4):
            s3.list_buckets()  # other services are untouched
    finally:
        faults.clear()
    for _ in range(4):
        sm.list_endpoints()


def test_throttling_all_services_spares_none(sandbox: SandboxInfo, faults: FaultClient) -> None:
    sts = _client(sandbox, "sts", retries={"total_max_attempts": 1})
    faults.throttle(1.0)
    try:
        error = _error(sts.get_caller_identity)
        assert error["Code"] == "Throttling"
    finally:
        faults.clear()
    assert sts.get_caller_identity()["Account"] == "123456789012"


def test_control_api_rejects_nonsense(faults: FaultClient, sandbox: SandboxInfo) -> None:
    with pytest.raises(SandboxError, match="between 0 and 1"):
        faults.throttle(1.5)
    with pytest.raises(SandboxError, match="transition seconds"):
        faults.set_transition_seconds(-1)
    with pytest.raises(SandboxError, match="from 0 to 3600"):
        faults.set_transition_seconds(1e300)
    # Both used to be answered 500 (a RecursionError, int("abc")).
    deep = b"[" * 100_000 + b"]" * 100_000
    assert _raw(sandbox, "POST /_sandbox/faults", deep).startswith(b"HTTP/1.1 400")
    signed = (
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/"
        "aws4_request, SignedHeaders=host, Signature=0\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    for path, headers in (("/_sandbox/faults", ""), ("/", signed)):
        answer = _raw(sandbox, f"POST {path}", b"Action=GetCallerIdentity", "abc", headers)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
        assert b"Content-Length 'abc' is not a number" in answer


def _raw(
    sandbox: SandboxInfo, request: str, body: bytes, length: str = "", headers: str = ""
) -> bytes:
    head = (
        f"{request} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}"
        f"Content-Length: {length or len(body)}\r\n\r\n"
    )
    received = b""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=30) as conn:
        conn.sendall(head.encode() + body)
        while chunk := conn.recv(65536):
            received += chunk
    return received


# --- SageMaker's startup: model data and the ping health check ----------------------------------

NO_IMPORT_SCRIPT = "import os\n\ndef model_fn(model_dir)\n    return None\n"
RAISING_SCRIPT = "def model_fn(model_dir):\n    raise RuntimeError('no weights in ' + model_dir)\n"


def _packages(sandbox: SandboxInfo, scripts: dict[str, str]) -> dict[str, str]:
    archives = {name: tar_gz({"code/inference.py": s.encode()}) for name, s in scripts.items()}
    return _upload(sandbox, archives)


def test_a_model_that_does_not_load_fails_the_create_as_sagemaker_does(
    sandbox: SandboxInfo, sm: Any
) -> None:
    urls = _packages(sandbox, {"no-import": NO_IMPORT_SCRIPT, "raising": RAISING_SCRIPT})
    logs = _client(sandbox, "logs")
    for url, said in ((urls["no-import"], "SyntaxError"), (urls["raising"], "no weights in")):
        name = _name("endpoint")
        sm.create_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm, url)))
        assert _statuses(sm, name, _in_service) == ["Creating", "Failed"]
        assert sm.describe_endpoint(EndpointName=name)["FailureReason"] == (
            "The primary container for production variant primary did not pass the ping "
            "health check. Please check CloudWatch logs for this endpoint."
        )
        group = f"/aws/sagemaker/Endpoints/{name}"
        (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
        assert said in "\n".join(e["message"] for e in events["events"])
    missing = _name("endpoint")
    url = f"s3://{BUCKET}/nothing/model.tar.gz"
    sm.create_endpoint(EndpointName=missing, EndpointConfigName=_config(sm, _model(sm, url)))
    assert _statuses(sm, missing, _in_service)[-1] == "Failed"
    assert sm.describe_endpoint(EndpointName=missing)["FailureReason"].startswith(
        f'Failed to download model data for container "container_1" from URL: "{url}".'
    )


def test_an_update_to_a_model_that_does_not_load_is_rolled_back(
    sandbox: SandboxInfo, sm: Any, runtime: Any
) -> None:
    urls = _packages(sandbox, {"raising": RAISING_SCRIPT})
    name = _endpoint(sm, _config(sm, _model(sm)))
    config = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    broken = _config(sm, _model(sm, urls["raising"]))
    sm.update_endpoint(EndpointName=name, EndpointConfigName=broken)
    assert _statuses(sm, name, lambda s: s["EndpointStatus"] != "Updating")[-1] == "InService"
    described = sm.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == config
    assert "did not pass the ping health check" in described["FailureReason"]
    answer = runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    assert json.loads(answer["Body"].read()) == {"answer": 42}  # the old model still answers


def test_code_in_an_s3_source_dir_is_imported_as_the_container_does(
    sandbox: SandboxInfo, sm: Any, runtime: Any, iris_model: dict[str, Any]
) -> None:
    """The SDK's default scikit-learn path: SAGEMAKER_SUBMIT_DIRECTORY=s3://.../sourcedir.tar.gz
    and a model.tar.gz without code/ (it answered ModelError before)."""
    with tarfile.open(fileobj=io.BytesIO(iris_model["archives"]["iris"])) as packaged:
        member = packaged.extractfile("model.joblib")
        assert member is not None
        weights = member.read()
    s3 = _client(sandbox, "s3")
    objects = {
        "sdk/model.tar.gz": tar_gz({"model.joblib": weights}),
        "sdk/source/sourcedir.tar.gz": tar_gz({"serve.py": IRIS_SCRIPT.encode()}),
    }
    for key, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    model = _name("model")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": f"s3://{BUCKET}/sdk/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "serve.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/sdk/source/sourcedir.tar.gz",
            },
        },
    )
    name = _endpoint(sm, _config(sm, model))
    answer = runtime.invoke_endpoint(
        EndpointName=name, Body=json.dumps(iris_model["samples"]), ContentType="application/json"
    )
    assert json.loads(answer["Body"].read()) == iris_model["expected"]


# --- InvokeEndpoint ----------------------------------------------------------------------------


def test_invoke_runs_the_real_model(sm: Any, runtime: Any, iris_model: dict[str, Any]) -> None:
    name = _endpoint(sm, _config(sm, _model(sm, iris_model["urls"]["iris"])))
    response = runtime.invoke_endpoint(
        EndpointName=name,
        Body=json.dumps(iris_model["samples"]),
        ContentType="application/json",
        Accept="application/json",
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "primary"
    assert json.loads(response["Body"].read()) == iris_model["expected"]
    assert iris_model["expected"] == [0, 1, 2]


def test_a_failing_script_is_a_model_error(
    sm: Any, runtime: Any, iris_model: dict[str, Any]
) -> None:
    name = _endpoint(sm, _config(sm, _model(sm, iris_model["urls"]["failing"])))
    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(
            EndpointName=name, Body=b"[[1, 2, 3, 4]]", ContentType="application/json"
        )
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 500
    assert "the scaler was never fitted" in response["OriginalMessage"]
    assert response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_an_update_reaches_the_invoked_model(
    sm: Any, runtime: Any, iris_model: dict[str, Any]
) -> None:
    name = _endpoint(sm, _config(sm, _model(sm, iris_model["urls"]["iris"])))
    body = json.dumps(iris_model["samples"])
    first = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="application/json")
    assert json.loads(first["Body"].read()) == iris_model["expected"]

    sm.update_endpoint(
        EndpointName=name,
        EndpointConfigName=_config(sm, _model(sm, iris_model["urls"]["constant"])),
    )
    # While Updating, the old model keeps answering.
    during = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="application/json")
    assert json.loads(during["Body"].read()) == iris_model["expected"]
    _statuses(sm, name, _in_service)
    after = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="application/json")
    assert json.loads(after["Body"].read()) == {"answer": 42}


def test_invoking_a_missing_or_unready_endpoint_fails_like_aws(sm: Any, runtime: Any) -> None:
    with pytest.raises(
        runtime.exceptions.ValidationError,
        match=r"Endpoint nope of account 123456789012 not found\.$",
    ):
        runtime.invoke_endpoint(EndpointName="nope", Body=b"[]", ContentType="application/json")
    name = _name("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm)))
    with pytest.raises(runtime.exceptions.ValidationError, match="not found"):
        runtime.invoke_endpoint(EndpointName=name, Body=b"[]", ContentType="application/json")


def test_bodies_over_the_limits_are_refused_like_aws(
    sm: Any, runtime: Any, iris_model: dict[str, Any]
) -> None:
    model = _model(sm, iris_model["urls"]["iris"])
    serverless = _endpoint(sm, _config(sm, model))
    samples = json.dumps(iris_model["samples"]).encode()
    # Leading whitespace is valid JSON: exactly 4 MB still reaches the model, a byte more not.
    exactly = b" " * (4 * 1024 * 1024 - len(samples)) + samples
    answer = runtime.invoke_endpoint(
        EndpointName=serverless, Body=exactly, ContentType="application/json"
    )
    assert json.loads(answer["Body"].read()) == iris_model["expected"]
    with pytest.raises(runtime.exceptions.ValidationError, match=r"has oversize body\.$"):
        runtime.invoke_endpoint(
            EndpointName=serverless, Body=b" " + exactly, ContentType="application/json"
        )

    realtime = _endpoint(sm, _config(sm, model, instance_type="ml.m5.large"))
    six_mb = b" " * (6 * 1024 * 1024)
    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint(
            EndpointName=realtime, Body=six_mb + b"[]", ContentType="application/json"
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert info.value.response["Error"]["Code"] == "413"
    assert "HTTP content length exceeded 6291456 bytes" in str(info.value)


# --- lifecycle ---------------------------------------------------------------------------------


def test_reset_forgets_everything(sandbox: SandboxInfo, faults: FaultClient) -> None:
    sm = _client(sandbox, "sagemaker")
    _endpoint(sm, _config(sm, _model(sm)))
    faults.fail_next_create("someday", "boom")
    faults.refuse_next_update("someday", "quota")
    assert faults.faults()["refuse_next_update"] == {"someday": "quota"}
    faults.reset()
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_models()["Models"] == []
    assert faults.faults() == {
        "fail_next_create": {},
        "fail_next_update": {},
        "refuse_next_update": {},
        "alarm_next_update": [],
        "throttle": [],
    }


def test_start_status_stop_leave_nothing_running(
    tmp_path: Path, iris_packages: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    info, started_now = control.start(0, transition_seconds=0, home=home)
    try:
        assert started_now
        again, started_again = control.start(home=home)
        assert (again, started_again) == (info, False)
        assert control.status(home) == info
        env = control.environment(info)
        assert env["AWS_ENDPOINT_URL"] == info.endpoint_url == f"http://127.0.0.1:{info.port}"

        # A model worker must go down with the server.
        urls = _upload(info, iris_packages["archives"])
        sm = _client(info, "sagemaker")
        name = _endpoint(sm, _config(sm, _model(sm, urls["iris"])))
        _client(info, "sagemaker-runtime").invoke_endpoint(
            EndpointName=name,
            Body=json.dumps(iris_packages["samples"]),
            ContentType="application/json",
        )
        assert len(_group_members(info.pid)) >= 2
    finally:
        assert control.stop(home) is True
    assert _group_members(info.pid) == []
    assert control.status(home) is None
    assert control.stop(home) is False
    assert not (home / "sandbox" / "sandbox.json").exists()


def test_a_state_file_from_another_home_is_never_attached_to(
    tmp_path: Path, sandbox: SandboxInfo
) -> None:
    # The module's sandbox answers at the address the copied file names, with the same pid;
    # it serves another home, so this home has no sandbox.
    copied = tmp_path / "sandbox" / "sandbox.json"
    copied.parent.mkdir()
    copied.write_text((Path(sandbox.state_dir) / "sandbox.json").read_text())
    assert control.status(tmp_path) is None
    assert not copied.exists()
    assert control.stop(tmp_path) is False
    assert control.status(Path(sandbox.state_dir).parent) == sandbox  # untouched


def test_a_sandbox_of_another_checkout_is_never_used_or_stopped(tmp_path: Path) -> None:
    """Two checkouts (or virtualenvs) on one machine, one home: neither takes the other's."""
    other = tmp_path / "other-checkout"
    shutil.copytree(
        control.package_root() / "deployspec",
        other / "deployspec",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(other)}
    state = str(home / "sandbox")
    server = subprocess.Popen(
        [sys.executable, "-m", "deployspec.sandbox.server", "--port", "0", "--state-dir", state],
        env=env,
        cwd=other,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "sandbox" / "sandbox.json").exists():
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.1)
        recorded = json.loads((home / "sandbox" / "sandbox.json").read_text())
        assert recorded["package_root"] == str(other.resolve())
        for attempt in (
            lambda: control.status(home),
            lambda: control.stop(home),
            lambda: control.start(0, home=home),
        ):
            with pytest.raises(control.ForeignSandboxError) as refused:
                attempt()
            assert str(other.resolve()) in str(refused.value)
            assert refused.value.hint is not None and "DEPLOYSPEC_HOME" in refused.value.hint
        stopped = run_cli("sandbox", "stop", env={"DEPLOYSPEC_HOME": str(home)})
        assert stopped.returncode == 1 and "another deployspec installation" in stopped.stderr
        assert server.poll() is None  # still running: it was never ours to stop
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_start_reports_a_server_that_cannot_start(
    tmp_path: Path, sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The port is taken by the module's sandbox: said before any server is spawned.
    with pytest.raises(SandboxError) as taken:
        control.start(sandbox.port, home=tmp_path)
    assert f"cannot start the sandbox on port {sandbox.port}" in str(taken.value)
    assert taken.value.hint is not None and "--port 0" in taken.value.hint
    # A server that dies while starting is reported with the end of its log.
    monkeypatch.setattr(control, "_SERVER_MODULE", "deployspec.sandbox.no_such_module")
    with pytest.raises(SandboxError) as died:
        control.start(0, home=tmp_path)
    assert "exited" in str(died.value)
    assert died.value.hint is not None and "No module named" in died.value.hint


def test_the_sklearn_example_answers_through_plain_boto3(
    sandbox: SandboxInfo, sm: Any, runtime: Any, tmp_path: Path
) -> None:
    """The example as its README has it: trained by its own script, packaged like the
    container wants, deployed with plain boto3 calls, then invoked for a real prediction."""
    example = Path(__file__).resolve().parent.parent / "examples" / "sklearn-iris"
    model_dir = tmp_path / "model"
    subprocess.run(
        [sys.executable, str(example / "train.py"), "--out", str(model_dir)],
        check=True,
        capture_output=True,
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(model_dir / "model.joblib", arcname="model.joblib")
        archive.add(example / "inference.py", arcname="code/inference.py")
    [url] = _upload(sandbox, {"sklearn-example": buffer.getvalue()}).values()
    endpoint = _endpoint(sm, _config(sm, _model(sm, url)))
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept="application/json",
        Body=(example / "input.json").read_bytes(),
    )
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read()) == {
        "predictions": ["setosa", "versicolor", "virginica"]
    }


def test_instance_type_change_under_autoscaling_is_refused_like_aws(
    sandbox: SandboxInfo, sm: Any, iris_model: dict[str, Any]
) -> None:
    model = _model(sm)

    def realtime(instance_type: str) -> str:
        name = _name("config")
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": 1,
                }
            ],
        )
        return name

    endpoint = _endpoint(sm, realtime("ml.m5.large"))
    scaling = _client(sandbox, "application-autoscaling")
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    bigger = realtime("ml.m5.xlarge")
    error = _error(lambda: sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger))
    assert error["Code"] == "ValidationException"
    assert "auto scaling" in error["Message"]
    scaling.deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger)


def test_weights_and_capacities_change_only_what_is_asked_like_aws(sm: Any) -> None:
    model = _model(sm)
    config = _name("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    endpoint = _endpoint(sm, config)
    arn = sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]

    answer = sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "primary", "DesiredInstanceCount": 3}],
    )
    # botocore's output shape: EndpointArn alone.
    assert {k: v for k, v in answer.items() if k != "ResponseMetadata"} == {"EndpointArn": arn}
    updating = sm.describe_endpoint(EndpointName=endpoint)
    assert updating["EndpointStatus"] == "Updating"
    # The desired count at once, the current one once the update is done; the weight, not
    # named in the request, kept (moto set it to None).
    [variant] = updating["ProductionVariants"]
    assert (variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]) == (3, 1)
    assert (variant["DesiredWeight"], variant["CurrentWeight"]) == (1.0, 1.0)
    error = _error(
        lambda: sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "primary", "DesiredWeight": 0.5}],
        )
    )
    assert error["Message"] == f'Cannot update in-progress endpoint "{arn}".'
    assert _statuses(sm, endpoint, _in_service) == ["Updating", "InService"]
    [variant] = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    assert (variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]) == (3, 3)

    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "primary", "DesiredWeight": 0.5}],
    )
    assert _statuses(sm, endpoint, _in_service)[-1] == "InService"
    [variant] = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    assert (variant["DesiredWeight"], variant["CurrentWeight"]) == (0.5, 0.5)
    assert (variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]) == (3, 3)
