"""The sandbox's parts in-process: moto extensions on a fake clock, hosting, throttling."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployspec.runtime import ModelError
from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.hosting import ModelHost, extract_model_archive
from deployspec.sandbox.sagemaker_ext import (
    InvocationTarget,
    ModelInvocationError,
    VariantTarget,
)
from deployspec.sandbox.throttling import Throttle, request_service, throttled_response

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingInvoker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.released: list[str] = []

    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        self.calls.append((target.variant.model_data_url or "", content_type, body))
        if body == b"fail":
            raise ModelInvocationError(400, "bad input")
        return b'{"from": "%s"}' % target.variant.model_name.encode(), "application/json"

    def release(self, deployment_keys: Iterable[str]) -> None:
        self.released += list(deployment_keys)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    sagemaker_ext.set_clock(fake)
    yield fake
    sagemaker_ext.set_clock(__import__("time").monotonic)


@pytest.fixture
def invoker(clock: FakeClock) -> Iterator[RecordingInvoker]:
    recording = RecordingInvoker()
    sagemaker_ext.install(recording)
    sagemaker_ext.set_transition_seconds(30)
    try:
        with mock_aws():
            yield recording
    finally:
        sagemaker_ext.uninstall()


def _setup(sm: Any, suffix: str, memory: int = 2048) -> str:
    sm.create_model(
        ModelName=f"model-{suffix}",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://bucket/{suffix}.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"config-{suffix}",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": f"model-{suffix}",
                "ServerlessConfig": {"MemorySizeInMB": memory, "MaxConcurrency": 1},
            }
        ],
    )
    return f"config-{suffix}"


def _status(sm: Any, name: str) -> str:
    status: str = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
    return status


def test_transitions_follow_the_clock_exactly(invoker: RecordingInvoker, clock: FakeClock) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    clock.now += 29.9
    assert _status(sm, "ep") == "Creating"
    clock.now += 0.1
    assert _status(sm, "ep") == "InService"

    sm.update_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "b", memory=4096))
    clock.now += 29.9
    assert _status(sm, "ep") == "Updating"
    clock.now += 0.1
    described = sm.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        "config-b",
    )
    # The deployment of config-a runs nowhere any more: its resources may go.
    assert len(invoker.released) == 1 and "config-a" in invoker.released[0]

    sm.delete_endpoint(EndpointName="ep")
    assert _status(sm, "ep") == "Deleting"
    clock.now += 30
    assert sm.list_endpoints()["Endpoints"] == []
    assert len(invoker.released) == 2 and "config-b" in invoker.released[1]


def test_retained_variant_properties_survive_an_update(
    invoker: RecordingInvoker, clock: FakeClock
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    for suffix, count in [("one", 1), ("two", 3)]:
        sm.create_model(ModelName=f"m-{suffix}", ExecutionRoleArn=ROLE, PrimaryContainer={})
        sm.create_endpoint_config(
            EndpointConfigName=f"c-{suffix}",
            ProductionVariants=[
                {
                    "VariantName": "primary",
                    "ModelName": f"m-{suffix}",
                    "InstanceType": "ml.g5.xlarge",  # unknown to moto's own list
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c-one")
    clock.now += 30
    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[{"VariantName": "primary", "DesiredInstanceCount": 5}],
    )
    assert _status(sm, "ep") == "Updating"
    clock.now += 30
    sm.update_endpoint(
        EndpointName="ep",
        EndpointConfigName="c-two",
        RetainAllVariantProperties=True,
        DeploymentConfig={"RollingUpdatePolicy": _ROLLING},
    )
    clock.now += 30
    described = sm.describe_endpoint(EndpointName="ep")
    assert described["EndpointConfigName"] == "c-two"
    assert described["ProductionVariants"][0]["DesiredInstanceCount"] == 5
    assert described["LastDeploymentConfig"]["RollingUpdatePolicy"] == _ROLLING
    bad: Any = {
        "VariantName": "v",
        "ModelName": "m-one",
        "InstanceType": "ml.nonsense.xlarge",
        "InitialInstanceCount": 1,
    }
    with pytest.raises(sm.exceptions.ClientError, match=r"'ml\.nonsense\.xlarge' at"):
        sm.create_endpoint_config(EndpointConfigName="c-bad", ProductionVariants=[bad])


_ROLLING: Any = {
    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
    "WaitIntervalInSeconds": 60,
}


def test_invoke_goes_through_the_invoker(invoker: RecordingInvoker, clock: FakeClock) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    with pytest.raises(runtime.exceptions.ValidationError):
        runtime.invoke_endpoint(EndpointName="ep", Body=b"x", ContentType="text/csv")
    clock.now += 30
    binary = bytes(range(256))  # not UTF-8: moto alone would fail to decode it
    answer = runtime.invoke_endpoint(
        EndpointName="ep", Body=binary, ContentType="application/x-npy"
    )
    assert json.loads(answer["Body"].read()) == {"from": "model-a"}
    assert invoker.calls == [("s3://bucket/a.tar.gz", "application/x-npy", binary)]

    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"fail", ContentType="text/csv")
    response: Any = info.value.response
    assert response["OriginalStatusCode"] == 400
    assert response["Error"]["Message"].startswith(
        'Received client error (400) from primary with message "bad input".'
    )


def test_a_config_deleted_under_a_running_endpoint_keeps_serving(
    invoker: RecordingInvoker, clock: FakeClock
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    clock.now += 30
    sm.delete_endpoint_config(EndpointConfigName="config-a")
    sm.delete_model(ModelName="model-a")
    answer = runtime.invoke_endpoint(EndpointName="ep", Body=b"1", ContentType="text/csv")
    assert json.loads(answer["Body"].read()) == {"from": "model-a"}


def test_uninstall_gives_back_plain_moto(clock: FakeClock) -> None:
    sagemaker_ext.install(None)
    sagemaker_ext.uninstall()
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        _setup(sm, "a")
        _setup(sm, "a")  # moto itself overwrites silently
        with pytest.raises(NotImplementedError, match="update_endpoint"):
            sm.update_endpoint(EndpointName="x", EndpointConfigName="config-a")


# --- hosting -----------------------------------------------------------------------------------


class FakeWorker:
    def __init__(self, model_dir: Path, framework: str, program: str | None) -> None:
        self.model_dir = model_dir
        self.framework = framework
        self.program = program
        self.files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*"))
        self.closed = False

    def invoke(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[bytes, str]:
        if body == b"boom":
            raise ModelError("predict_fn raised ValueError: boom", 500, hint="fix the script")
        return body.upper(), accept

    def close(self) -> None:
        self.closed = True


class Factory:
    def __init__(self) -> None:
        self.workers: list[FakeWorker] = []

    def __call__(
        self,
        model_dir: Path,
        *,
        framework: str,
        program: str | None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> FakeWorker:
        worker = FakeWorker(model_dir, framework, program)
        self.workers.append(worker)
        return worker


def _archive(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _target(key: str, image: str | None = IMAGE, url: str | None = "s3://b/m.tar.gz") -> Any:
    variant = VariantTarget(
        variant_name="primary",
        model_name="m",
        image=image,
        model_data_url=url,
        environment={"SAGEMAKER_PROGRAM": "inference.py"},
    )
    return InvocationTarget("123456789012", "us-east-1", "ep", key, variant)


def test_host_starts_one_worker_per_deployment_and_closes_released_ones(tmp_path: Path) -> None:
    archive = _archive({"model.joblib": b"m", "code/inference.py": b"pass"})
    reads: list[str] = []

    def read(account: str, region: str, url: str) -> bytes:
        reads.append(url)
        return archive

    factory = Factory()
    host = ModelHost(tmp_path, read_object=read, worker_factory=factory)
    assert host.invoke(_target("d1"), b"abc", "text/csv", "text/csv") == (b"ABC", "text/csv")
    assert host.invoke(_target("d1"), b"x", "text/csv", "text/csv") == (b"X", "text/csv")
    assert len(factory.workers) == 1 and len(reads) == 1
    first = factory.workers[0]
    assert (first.framework, first.program) == ("sklearn", "inference.py")
    assert first.files == ["code", "code/inference.py", "model.joblib"]

    host.invoke(_target("d2"), b"y", "text/csv", "text/csv")
    host.release(["d1"])
    assert first.closed and not factory.workers[1].closed
    assert not first.model_dir.exists()
    host.close()
    assert factory.workers[1].closed
    with pytest.raises(ModelInvocationError, match="shutting down"):
        host.invoke(_target("d2"), b"y", "text/csv", "text/csv")


def test_host_reports_what_it_cannot_run(tmp_path: Path) -> None:
    factory = Factory()
    host = ModelHost(
        tmp_path, read_object=lambda a, r, u: _archive({"x": b"1"}), worker_factory=factory
    )
    with pytest.raises(ModelInvocationError, match="cannot run image") as info:
        host.invoke(_target("d", image="123.dkr.ecr.us-east-1.amazonaws.com/tgi:1"), b"", "a", "b")
    assert info.value.status_code == 500
    with pytest.raises(ModelInvocationError, match="no ModelDataUrl"):
        host.invoke(_target("d", url=None), b"", "a", "b")
    with pytest.raises(ModelInvocationError, match=r"boom \(hint: fix the script\)"):
        host.invoke(_target("d"), b"boom", "a", "b")


@pytest.mark.parametrize(
    ("members", "links", "problem"),
    [
        ({"../escape.py": b"x"}, None, "outside the model"),
        ({"/etc/passwd": b"x"}, None, "outside the model"),
        ({"ok": b"x"}, {"link": "/etc/passwd"}, "link or special file"),
    ],
)
def test_unpacking_refuses_archives_that_escape(
    tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None, problem: str
) -> None:
    with pytest.raises(ModelInvocationError, match=problem):
        extract_model_archive(_archive(members, links), tmp_path / "model")
    assert not (tmp_path / "escape.py").exists()


def test_unpacking_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ModelInvocationError, match="not a readable tar archive"):
        extract_model_archive(b"joblib bytes, not a tarball", tmp_path / "model")


# --- throttling --------------------------------------------------------------------------------


def test_throttle_spreads_the_fraction_evenly() -> None:
    throttle = Throttle()
    throttle.set(1 / 3, "sagemaker")
    assert [throttle.should_throttle("sagemaker") for _ in range(6)] == [
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    assert not any(throttle.should_throttle("s3") for _ in range(5))
    throttle.set(1.0)
    assert throttle.should_throttle("s3")
    throttle.set(0, "sagemaker")  # the named rule goes; the catch-all applies
    assert throttle.should_throttle("sagemaker")
    throttle.clear()
    assert not throttle.should_throttle("sagemaker")
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError):
            throttle.set(bad)


def test_requests_are_told_apart_by_their_signature() -> None:
    def environ(service: str, path: str = "/") -> dict[str, Any]:
        auth = (
            "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/"
            f"{service}/aws4_request, SignedHeaders=host, Signature=abc"
        )
        return {"HTTP_AUTHORIZATION": auth, "PATH_INFO": path}

    assert request_service(environ("sagemaker")) == "sagemaker"
    assert request_service(environ("sagemaker", "/endpoints/x/invocations")) == "sagemaker-runtime"
    assert request_service(environ("s3", "/bucket/key")) == "s3"
    assert request_service({"PATH_INFO": "/_sandbox/health"}) is None


def test_throttled_responses_speak_each_protocol() -> None:
    status, _, body = throttled_response("sagemaker")
    assert status == 400 and json.loads(body)["__type"] == "ThrottlingException"
    status, _, body = throttled_response("sts")
    assert status == 400 and b"<Code>Throttling</Code>" in body
    status, _, body = throttled_response("s3")
    assert status == 503 and b"<Code>SlowDown</Code>" in body
