"""The sandbox's parts in-process: moto extensions on a fake clock, hosting, throttling."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployspec.runtime import ModelError
from deployspec.runtime.handlers import NotRunnableHere
from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.hosting import ModelHost, extract_model_archive
from deployspec.sandbox.sagemaker_ext import (
    ContainerFailure,
    InvocationTarget,
    ModelInvocationError,
    VariantTarget,
)
from deployspec.sandbox.throttling import Throttle, request_service, throttled_response
from tests.conftest import tar_gz

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStartup:
    """A ContainerStartup the test finishes by hand (or at once)."""

    def __init__(self, failure: ContainerFailure | None, done: bool) -> None:
        self.outcome = failure
        self.done = done

    def finished(self) -> bool:
        return self.done

    def failure(self) -> ContainerFailure | None:
        return self.outcome if self.done else None


class RecordingInvoker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.released: list[str] = []
        self.started: list[tuple[str, ...]] = []
        self.startups: list[FakeStartup] = []
        # What the next start reports; `hold` leaves it unfinished until the test finishes it.
        self.next_failure: ContainerFailure | None = None
        self.hold = False

    def start(self, targets: tuple[InvocationTarget, ...]) -> FakeStartup:
        self.started.append(tuple(t.deployment_key for t in targets))
        startup = FakeStartup(self.next_failure, done=not self.hold)
        self.startups.append(startup)
        return startup

    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        self.calls.append((target.variant.model_data_url or "", content_type, body))
        if body == b"fail":
            raise ModelInvocationError(400, "bad input")
        if body == b"loud":
            raise ModelInvocationError(500, "x" * 5_000_000)
        if body == b"big":
            return b"y" * (sagemaker_ext.SERVERLESS_MAX_PAYLOAD + 1), "text/plain"
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
    # Provisioning, then a batch per instance of the five retained, each baking 60 AWS seconds
    # (30 sandbox seconds at a transition of 30).
    clock.now += 30 + 5 * 30
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


def test_describe_calls_return_only_the_keys_aws_returns(
    invoker: RecordingInvoker, clock: FakeClock
) -> None:
    # moto answered VpcConfig: {}, Containers: [] and DataCaptureConfig: {}; SDKs copy those
    # back into requests that botocore refuses, and sagemaker-core cannot even parse them.
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    clock.now += 30
    model: dict[str, Any] = dict(sm.describe_model(ModelName="model-a"))
    config: dict[str, Any] = dict(sm.describe_endpoint_config(EndpointConfigName="config-a"))
    endpoint: dict[str, Any] = dict(sm.describe_endpoint(EndpointName="ep"))
    for response in (model, config, endpoint):
        response.pop("ResponseMetadata")
    assert sorted(model) == [
        "CreationTime",
        "EnableNetworkIsolation",
        "ExecutionRoleArn",
        "ModelArn",
        "ModelName",
        "PrimaryContainer",
    ]
    assert sorted(config) == [
        "CreationTime",
        "EndpointConfigArn",
        "EndpointConfigName",
        "ProductionVariants",
    ]
    assert "DataCaptureConfig" not in endpoint and "FailureReason" not in endpoint

    capture: Any = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://bucket/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    sm.create_model(ModelName="model-c", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(
        EndpointConfigName="config-c",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": "model-c",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig=capture,
    )
    sm.create_endpoint(EndpointName="captured", EndpointConfigName="config-c")
    clock.now += 30
    assert sm.describe_endpoint_config(EndpointConfigName="config-c")["DataCaptureConfig"] == (
        capture
    )
    # DescribeEndpoint answers DataCaptureConfigSummary, not the config's DataCaptureConfig.
    assert sm.describe_endpoint(EndpointName="captured")["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://bucket/capture",
    }


def test_omit_unset_follows_the_service_model() -> None:
    shape = sagemaker_ext._output_shape("DescribeModel")
    described: dict[str, Any] = {
        "ModelName": "m",
        "ModelArn": "arn",
        "CreationTime": None,  # required: kept whatever it is
        "VpcConfig": {},
        "Containers": [],
        "PrimaryContainer": {"Image": "i", "Environment": {}, "ImageConfig": {}},
        "EnableNetworkIsolation": False,
        "NotInTheModel": "x",
    }
    assert sagemaker_ext.omit_unset(described, shape) == {
        "ModelName": "m",
        "ModelArn": "arn",
        "CreationTime": None,
        "PrimaryContainer": {"Image": "i", "Environment": {}},
        "EnableNetworkIsolation": False,
    }


def test_add_tags_overwrites_a_key_as_aws_does(invoker: RecordingInvoker) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_model(
        ModelName="m",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE},
        Tags=[{"Key": "deployspec:spec-digest", "Value": "one"}, {"Key": "team", "Value": "a"}],
    )
    arn = sm.describe_model(ModelName="m")["ModelArn"]
    for digest in ("two", "three"):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "deployspec:spec-digest", "Value": digest}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "new", "Value": "n"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "deployspec:spec-digest", "Value": "three"},
        {"Key": "team", "Value": "a"},
        {"Key": "new", "Value": "n"},
    ]


def _failure(kind: Any = "health_check") -> ContainerFailure:
    return ContainerFailure("primary", kind, "importing code/inference.py failed", url="s3://x/y")


def test_containers_that_do_not_come_up_fail_the_create(
    invoker: RecordingInvoker, clock: FakeClock
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    invoker.hold = True
    invoker.next_failure = _failure()
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    assert len(invoker.started) == 1 and "config-a" in invoker.started[0][0]
    clock.now += 300
    assert _status(sm, "ep") == "Creating"  # as long as the containers are coming up
    invoker.startups[-1].done = True
    described = sm.describe_endpoint(EndpointName="ep")
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == (
        "The primary container for production variant primary did not pass the ping health "
        "check. Please check CloudWatch logs for this endpoint."
    )
    assert invoker.released == list(invoker.started[0])  # nothing runs it: its worker may go
    logs = boto3.client("logs", region_name="us-east-1")
    group = "/aws/sagemaker/Endpoints/ep"
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"].startswith("primary/i-")
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
    assert [e["message"] for e in events["events"]] == ["importing code/inference.py failed"]

    invoker.hold = False
    invoker.next_failure = _failure("model_data")
    sm.create_endpoint(EndpointName="nodata", EndpointConfigName="config-a")
    clock.now += 30
    assert sm.describe_endpoint(EndpointName="nodata")["FailureReason"] == (
        'Failed to download model data for container "container_1" from URL: "s3://x/y". '
        "Please ensure that there is an object located at the URL and that the role passed to "
        "CreateModel has permissions to download the object."
    )


def test_containers_that_do_not_come_up_roll_the_update_back(
    invoker: RecordingInvoker, clock: FakeClock
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    clock.now += 30
    invoker.next_failure = _failure()
    sm.update_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "b"))
    clock.now += 30
    described = sm.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        "config-a",
    )
    assert "did not pass the ping health check" in described["FailureReason"]
    assert invoker.released == [invoker.started[1][0]]
    answer = runtime.invoke_endpoint(EndpointName="ep", Body=b"1", ContentType="text/csv")
    assert json.loads(answer["Body"].read()) == {"from": "model-a"}  # still the old model


def test_transition_delays_are_bounded(tmp_path: Path) -> None:
    from deployspec.errors import SandboxError
    from deployspec.sandbox import control

    for seconds in (1e300, math.inf, math.nan, -1.0):
        with pytest.raises(ValueError, match="from 0 to 3600"):
            sagemaker_ext.set_transition_seconds(seconds)
        with pytest.raises(SandboxError, match="from 0 to 3600"):
            control.start(0, transition_seconds=seconds, home=tmp_path)
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()


def test_model_errors_and_responses_are_capped(invoker: RecordingInvoker, clock: FakeClock) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=_setup(sm, "a"))
    clock.now += 30
    with pytest.raises(runtime.exceptions.ModelError) as loud:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"loud", ContentType="text/csv")
    response: Any = loud.value.response
    assert len(response["Error"]["Message"]) < 9_000
    assert len(response["OriginalMessage"]) < 9_000
    assert response["OriginalMessage"].endswith("(4,991,808 more characters cut)")
    with pytest.raises(runtime.exceptions.ModelError) as big:
        runtime.invoke_endpoint(EndpointName="ep", Body=b"big", ContentType="text/csv")
    big_response: Any = big.value.response
    assert big_response["OriginalMessage"] == (
        "the model's response of 4,194,305 bytes is over the 4,194,304-byte limit of an "
        "InvokeEndpoint response"
    )


def test_uninstall_gives_back_plain_moto(clock: FakeClock) -> None:
    # Judged by what moto's classes hold, not by what moto does without the patches (lacking
    # UpdateEndpoint, overwriting on create): that is moto's behaviour, and it changes.
    absent = object()
    targets = [(cls, name) for cls, name, _ in sagemaker_ext._patches()]

    def held() -> list[object]:
        return [cls.__dict__.get(name, absent) for cls, name in targets]

    sagemaker_ext.uninstall()
    plain = held()
    sagemaker_ext.install(None)
    assert all(now is not then for now, then in zip(held(), plain, strict=True))
    sagemaker_ext.uninstall()
    assert all(now is then for now, then in zip(held(), plain, strict=True))


# --- hosting -----------------------------------------------------------------------------------


class FakeWorker:
    def __init__(
        self, model_dir: Path, framework: str, program: str | None, code_dir: Path | None
    ) -> None:
        self.model_dir = model_dir
        self.framework = framework
        self.program = program
        self.code_dir = code_dir
        self.files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*"))
        self.code_files = (
            sorted(p.relative_to(code_dir).as_posix() for p in code_dir.rglob("*"))
            if code_dir
            else []
        )
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
    def __init__(self, fail_with: ModelError | None = None) -> None:
        self.workers: list[FakeWorker] = []
        self.fail_with = fail_with

    def __call__(
        self,
        model_dir: Path,
        *,
        framework: str,
        program: str | None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        code_dir: Path | None = None,
    ) -> FakeWorker:
        if self.fail_with is not None:
            raise self.fail_with
        worker = FakeWorker(model_dir, framework, program, code_dir)
        self.workers.append(worker)
        return worker


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
    archive = tar_gz({"model.joblib": b"m", "code/inference.py": b"pass"})
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
        tmp_path, read_object=lambda a, r, u: tar_gz({"x": b"1"}), worker_factory=factory
    )
    with pytest.raises(ModelInvocationError, match="cannot run image") as info:
        host.invoke(_target("d", image="123.dkr.ecr.us-east-1.amazonaws.com/tgi:1"), b"", "a", "b")
    assert info.value.status_code == 500
    with pytest.raises(ModelInvocationError, match="no ModelDataUrl"):
        host.invoke(_target("d", url=None), b"", "a", "b")
    with pytest.raises(ModelInvocationError, match=r"boom \(hint: fix the script\)"):
        host.invoke(_target("d"), b"boom", "a", "b")


def _started(host: ModelHost, *targets: Any) -> ContainerFailure | None:
    startup = host.start(tuple(targets))
    assert startup.wait(30)
    return startup.failure()


def test_host_start_brings_workers_up_and_reports_what_sagemaker_would(tmp_path: Path) -> None:
    archive = tar_gz({"model.joblib": b"m", "code/inference.py": b"pass"})

    def read(account: str, region: str, url: str) -> bytes:
        if "missing" in url:
            raise ModelInvocationError(500, f"model data {url} does not exist")
        return archive

    factory = Factory()
    host = ModelHost(tmp_path, read_object=read, worker_factory=factory)
    assert _started(host, _target("d1")) is None
    assert len(factory.workers) == 1
    host.invoke(_target("d1"), b"a", "text/csv", "text/csv")
    assert len(factory.workers) == 1  # the invocation reuses the worker the start brought up

    missing = _started(host, _target("d2", url="s3://b/missing.tar.gz"))
    assert missing is not None and (missing.kind, missing.url) == (
        "model_data",
        "s3://b/missing.tar.gz",
    )
    # What the sandbox cannot run is no failed start (SageMaker could run it) ...
    custom = _target("d3", image="123.dkr.ecr.us-east-1.amazonaws.com/tgi:1")
    assert _started(host, custom) is None
    lacking = Factory(fail_with=NotRunnableHere("needs the torch package"))
    host_without_torch = ModelHost(tmp_path / "t", read_object=read, worker_factory=lacking)
    assert _started(host_without_torch, _target("d4")) is None
    # ... but a script that does not load is.
    broken = Factory(fail_with=ModelError("importing code/inference.py failed", trace="Trace"))
    host_broken = ModelHost(tmp_path / "b", read_object=read, worker_factory=broken)
    failure = _started(host_broken, _target("d5"))
    assert failure is not None and failure.kind == "health_check"
    assert failure.detail == "importing code/inference.py failed\nTrace"
    for each in (host, host_without_torch, host_broken):
        each.close()


def test_host_releases_workers_started_for_a_deployment_released_meanwhile(
    tmp_path: Path,
) -> None:
    archive = tar_gz({"model.joblib": b"m"})
    gate = threading.Event()

    def slow_read(account: str, region: str, url: str) -> bytes:
        gate.wait(30)
        return archive

    factory = Factory()
    host = ModelHost(tmp_path, read_object=slow_read, worker_factory=factory)
    startup = host.start((_target("d1"),))
    host.release_all()  # a reset while the containers come up
    gate.set()
    assert startup.wait(30)
    assert len(factory.workers) == 1 and factory.workers[0].closed
    host.close()


def test_host_imports_the_program_from_an_s3_source_dir(tmp_path: Path) -> None:
    # The SDK's default scikit-learn path: code in s3://.../sourcedir.tar.gz, not in the model.
    objects = {
        "s3://b/m.tar.gz": tar_gz({"model.joblib": b"m"}),
        "s3://b/src/sourcedir.tar.gz": tar_gz({"inference.py": b"pass", "util.py": b""}),
    }
    factory = Factory()
    host = ModelHost(tmp_path, read_object=lambda a, r, url: objects[url], worker_factory=factory)
    target = _target("d1")
    variant = replace(
        target.variant,
        environment={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/src/sourcedir.tar.gz",
        },
    )
    host.invoke(replace(target, variant=variant), b"a", "text/csv", "text/csv")
    (worker,) = factory.workers
    assert worker.files == ["model.joblib"]
    assert worker.code_dir is not None and worker.code_files == ["inference.py", "util.py"]
    host.release(["d1"])
    assert not worker.code_dir.exists()
    missing = replace(
        variant,
        environment={**variant.environment, "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/none.tar.gz"},
    )

    def read(account: str, region: str, url: str) -> bytes:
        if url not in objects:
            raise ModelInvocationError(500, f"model data {url} does not exist")
        return objects[url]

    host = ModelHost(tmp_path / "2", read_object=read, worker_factory=factory)
    failure = _started(host, replace(target, variant=missing))
    assert failure is not None and failure.kind == "health_check"
    assert "SAGEMAKER_SUBMIT_DIRECTORY s3://b/none.tar.gz" in failure.detail
    host.close()


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
        extract_model_archive(tar_gz(members, links), tmp_path / "model")
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


def test_host_keeps_only_the_most_recently_used_idle_workers_and_restarts_the_others(
    tmp_path: Path,
) -> None:
    archive = tar_gz({"model.joblib": b"m", "code/inference.py": b"pass"})
    factory = Factory()
    host = ModelHost(
        tmp_path, read_object=lambda a, r, u: archive, worker_factory=factory, max_idle_workers=2
    )
    for key in ("d1", "d2", "d3"):
        assert _started(host, _target(key)) is None
    d1, d2, d3 = factory.workers
    assert d1.closed and not d2.closed and not d3.closed  # the oldest idle one went
    host.invoke(_target("d2"), b"a", "text/csv", "text/csv")  # d2 is now the newest
    # d1 comes back as a cold start from its artifacts, and d3, now the oldest, goes.
    assert host.invoke(_target("d1"), b"b", "text/csv", "text/csv") == (b"B", "text/csv")
    assert len(factory.workers) == 4 and d3.closed and not d2.closed
    assert not factory.workers[3].closed
    host.close()


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("PutObject", {"Bucket": "b", "Key": "k/x.bin", "Body": b"1234"}),
        ("UploadPart", {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 2, "Body": b"1"}),
        ("CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "b/other"}),
        (
            "UploadPartCopy",
            {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 1, "CopySource": "b/o"},
        ),
        ("CreateMultipartUpload", {"Bucket": "b", "Key": "k"}),
        (
            "CompleteMultipartUpload",
            {"Bucket": "b", "Key": "k", "UploadId": "u", "MultipartUpload": {"Parts": []}},
        ),
        ("AbortMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"}),
        ("GetObject", {"Bucket": "b", "Key": "k"}),
        ("HeadObject", {"Bucket": "b", "Key": "k"}),
        ("DeleteObject", {"Bucket": "b", "Key": "k"}),
        ("DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "k"}]}}),
        ("ListObjectsV2", {"Bucket": "b", "Prefix": "k/"}),
        ("HeadBucket", {"Bucket": "b"}),
        ("CreateBucket", {"Bucket": "b"}),
        ("GetBucketTagging", {"Bucket": "b"}),
        ("ListBuckets", {}),
    ],
)
def test_s3_requests_are_logged_by_their_api_names(operation: str, params: dict[str, Any]) -> None:
    """The sandbox tells S3's operations apart as botocore sends them (path-style, as to an
    endpoint URL): the request is caught before it is sent and classified from its environ."""
    import botocore.awsrequest
    from botocore.config import Config

    from deployspec.sandbox.app import _payload_bytes, _s3_operation

    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )
    seen: list[botocore.awsrequest.AWSPreparedRequest] = []

    def catch(request: botocore.awsrequest.AWSPreparedRequest, **_: Any) -> Any:
        seen.append(request)
        raise StopIteration  # nothing is sent

    s3.meta.events.register("before-send.s3", catch)
    with pytest.raises(StopIteration):
        method = {api: name for name, api in s3.meta.method_to_api_mapping.items()}[operation]
        getattr(s3, method)(**params)
    [request] = seen
    path, _, query = request.url.removeprefix("http://127.0.0.1:1").partition("?")
    environ = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in request.headers.items()},
    }
    if "Content-Length" in request.headers:
        environ["CONTENT_LENGTH"] = request.headers["Content-Length"]
    assert _s3_operation(environ) == operation
    if operation == "PutObject":
        assert _payload_bytes(environ) == 4
