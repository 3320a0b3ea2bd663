"""Asynchronous inference in the sandbox, in-process: moto's mock, the ModelHost, real models."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from deployspec.sandbox import async_inference, sagemaker_ext
from deployspec.sandbox.hosting import ModelHost
from deployspec.sandbox.sagemaker_ext import ContainerFailure, InvocationTarget
from tests.conftest import tar_gz

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# An image the sandbox cannot run: its endpoints go InService without a model worker.
CUSTOM = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/my-server:1"
BUCKET = "async-io"
SUCCESS_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:inference-done"
ERROR_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:inference-failed"

SCRIPTS = {
    "iris": """\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
""",
    "failing": """\
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    raise ValueError("the scaler was never fitted")
""",
    "slow": """\
import time

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    time.sleep(60)
    return body, content_type
""",
}


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    folder = tmp_path_factory.mktemp("iris")
    joblib.dump(LogisticRegression(max_iter=500).fit(data.data, data.target), folder / "m")
    weights = (folder / "m").read_bytes()
    return {
        "archives": {
            name: tar_gz({"model.joblib": weights, "code/inference.py": script.encode()})
            for name, script in SCRIPTS.items()
        },
        "body": json.dumps(data.data[[0, 60, 120]].tolist()),
    }


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory, iris: dict[str, Any]) -> Iterator[Any]:
    """moto with the sandbox's extensions and a real ModelHost; models, input and topics."""
    host = ModelHost(tmp_path_factory.mktemp("cache"))
    sagemaker_ext.install(host)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            for name, archive in iris["archives"].items():
                s3.put_object(Bucket=BUCKET, Key=f"models/{name}.tar.gz", Body=archive)
            s3.put_object(Bucket=BUCKET, Key="input/iris.json", Body=iris["body"])
            sns = boto3.client("sns", region_name=REGION)
            for topic in (SUCCESS_TOPIC, ERROR_TOPIC):
                sns.create_topic(Name=topic.rsplit(":", 1)[1])
            yield s3
    finally:
        host.close()
        sagemaker_ext.uninstall()


@pytest.fixture(scope="module")
def sm(aws: Any) -> Any:
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture(scope="module")
def runtime(aws: Any) -> Any:
    return boto3.client("sagemaker-runtime", region_name=REGION)


def _async_config(**client: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        "OutputConfig": {
            "S3OutputPath": f"s3://{BUCKET}/out/",
            "S3FailurePath": f"s3://{BUCKET}/failed",
            "NotificationConfig": {
                "SuccessTopic": SUCCESS_TOPIC,
                "ErrorTopic": ERROR_TOPIC,
                "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"],
            },
        }
    }
    if client:
        config["ClientConfig"] = client
    return config


def _endpoint(
    sm: Any,
    name: str,
    model: str | None = None,
    async_config: dict[str, Any] | None = None,
    instances: int = 1,
    image: str = SKLEARN,
) -> str:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": f"s3://{BUCKET}/models/{model or 'iris'}.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    variant = {
        "VariantName": "primary",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": instances,
    }
    extra = {"AsyncInferenceConfig": async_config} if async_config is not None else {}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, f"{name} never came InService"
        time.sleep(0.02)
    return name


def _key(url: str) -> str:
    assert url.startswith(f"s3://{BUCKET}/")
    return url[len(f"s3://{BUCKET}/") :]


def _exists(s3: Any, url: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=_key(url))
    except ClientError:
        return False
    return True


def _notifications(topic_arn: str) -> list[dict[str, Any]]:
    from moto.sns.models import sns_backends

    sent = sns_backends[ACCOUNT][REGION].topics[topic_arn].sent_notifications
    return [json.loads(message) for _, message, *_ in sent]


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    error: dict[str, Any] = dict(info.value.response["Error"])
    return error


def test_a_real_prediction_appears_at_the_output_location(aws: Any, sm: Any, runtime: Any) -> None:
    name = _endpoint(sm, "async-iris", async_config=_async_config())
    answer = runtime.invoke_endpoint_async(
        EndpointName=name,
        InputLocation=f"s3://{BUCKET}/input/iris.json",
        ContentType="application/json",
        InferenceId="first-request",
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["InferenceId"] == "first-request"
    assert answer["OutputLocation"] == f"s3://{BUCKET}/out/first-request.out"
    assert answer["FailureLocation"] == f"s3://{BUCKET}/failed/first-request-error.out"
    assert async_inference.wait_idle(30)

    output = aws.get_object(Bucket=BUCKET, Key="out/first-request.out")
    assert json.loads(output["Body"].read()) == [0, 1, 2]
    assert output["ContentType"] == "application/json"
    assert not _exists(aws, answer["FailureLocation"])

    (notification,) = [
        n for n in _notifications(SUCCESS_TOPIC) if n["inferenceId"] == "first-request"
    ]
    assert notification["invocationStatus"] == "Completed"
    assert notification["inferenceId"] == "first-request"
    assert notification["requestParameters"] == {
        "endpointName": name,
        "contentType": "application/json",
        "inputLocation": f"s3://{BUCKET}/input/iris.json",
    }
    assert notification["responseParameters"] == {
        "contentType": "application/json",
        "outputLocation": answer["OutputLocation"],
    }
    assert (notification["eventSource"], notification["eventName"]) == (
        "aws:sagemaker",
        "InferenceResult",
    )
    # IncludeInferenceResponseIn names the success topic: the prediction rides along.
    assert json.loads(base64.b64decode(notification["responseBody"]["content"])) == [0, 1, 2]

    # Without an InferenceId, SageMaker makes one up and names the output after it.
    second = runtime.invoke_endpoint_async(
        EndpointName=name,
        InputLocation=f"s3://{BUCKET}/input/iris.json",
        ContentType="application/json",
    )
    assert second["OutputLocation"] == f"s3://{BUCKET}/out/{second['InferenceId']}.out"
    assert async_inference.wait_idle(30)
    assert _exists(aws, second["OutputLocation"])


def test_a_failing_model_writes_the_failure_location(aws: Any, sm: Any, runtime: Any) -> None:
    name = _endpoint(sm, "async-failing", model="failing", async_config=_async_config())
    answer = runtime.invoke_endpoint_async(
        EndpointName=name,
        InputLocation=f"s3://{BUCKET}/input/iris.json",
        ContentType="application/json",
    )
    assert async_inference.wait_idle(30)
    failure = aws.get_object(Bucket=BUCKET, Key=_key(answer["FailureLocation"]))
    assert "the scaler was never fitted" in failure["Body"].read().decode()
    assert not _exists(aws, answer["OutputLocation"])

    (notification,) = [
        n for n in _notifications(ERROR_TOPIC) if n["inferenceId"] == answer["InferenceId"]
    ]
    assert notification["invocationStatus"] == "Failed"
    assert notification["failureReason"] == (
        "ClientError: Received server error (500) from model. See the SageMaker Endpoint logs "
        "in your account for more information."
    )
    assert notification["responseParameters"] == {"failureLocation": answer["FailureLocation"]}
    assert "responseBody" not in notification  # only the success topic was asked for it


def test_a_missing_input_is_refused(sm: Any, runtime: Any) -> None:
    name = _endpoint(
        sm, "async-custom", async_config={"OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/o"}}
    )
    error = _error(
        lambda: runtime.invoke_endpoint_async(
            EndpointName=name, InputLocation=f"s3://{BUCKET}/input/nothing-here.json"
        )
    )
    assert error["Code"] == "ValidationError"
    assert f"s3://{BUCKET}/input/nothing-here.json does not exist" in error["Message"]
    # Limits botocore's client does not check are AWS's to refuse.
    error = _error(
        lambda: runtime.invoke_endpoint_async(
            EndpointName=name,
            InputLocation=f"s3://{BUCKET}/input/iris.json",
            InvocationTimeoutSeconds=3601,
        )
    )
    assert error["Message"] == (
        "1 validation error detected: Value '3601' at 'invocationTimeoutSeconds' failed to "
        "satisfy constraint: Member must have value less than or equal to 3600"
    )
    assert async_inference.wait_idle(5)


def test_the_invocation_timeout_is_honoured(aws: Any, sm: Any, runtime: Any) -> None:
    name = _endpoint(sm, "async-slow", model="slow", async_config=_async_config())
    started = time.monotonic()
    answer = runtime.invoke_endpoint_async(
        EndpointName=name,
        InputLocation=f"s3://{BUCKET}/input/iris.json",
        InvocationTimeoutSeconds=1,
    )
    assert async_inference.wait_idle(30)
    assert time.monotonic() - started < 20  # the model sleeps for 60 s
    failure = aws.get_object(Bucket=BUCKET, Key=_key(answer["FailureLocation"]))
    assert "within 1 s" in failure["Body"].read().decode()


def test_each_kind_of_endpoint_takes_only_its_own_invocations(
    aws: Any, sm: Any, runtime: Any
) -> None:
    sync = _endpoint(sm, "sync-custom", image=CUSTOM)
    asynchronous = _endpoint(
        sm,
        "async-custom-2",
        image=CUSTOM,
        async_config={"OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/o"}},
    )
    error = _error(
        lambda: runtime.invoke_endpoint(
            EndpointName=asynchronous, Body=b"[]", ContentType="application/json"
        )
    )
    assert error["Code"] == "ValidationError"
    assert "is an asynchronous endpoint" in error["Message"]
    error = _error(
        lambda: runtime.invoke_endpoint_async(
            EndpointName=sync, InputLocation=f"s3://{BUCKET}/input/iris.json"
        )
    )
    assert error["Code"] == "ValidationError"
    assert "is not an asynchronous endpoint" in error["Message"]


def test_async_configs_are_kept_and_refused_as_aws_does(sm: Any) -> None:
    config = _async_config(MaxConcurrentInvocationsPerInstance=3)
    name = _endpoint(sm, "async-described", image=CUSTOM, async_config=config)
    assert sm.describe_endpoint_config(EndpointConfigName=name)["AsyncInferenceConfig"] == config
    assert sm.describe_endpoint(EndpointName=name)["AsyncInferenceConfig"] == config

    # botocore's client checks that OutputConfig is there; AWS checks it too.
    unchecked = boto3.client(
        "sagemaker", region_name=REGION, config=Config(parameter_validation=False)
    )
    variant = {
        "VariantName": "primary",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    refusals = [
        (
            unchecked,
            {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}},
            "1 validation error detected: Value null at 'asyncInferenceConfig.outputConfig' "
            "failed to satisfy constraint: Member must not be null",
        ),
        (
            sm,
            {"OutputConfig": {"S3OutputPath": "bucket/out"}},
            "1 validation error detected: Value 'bucket/out' at "
            "'asyncInferenceConfig.outputConfig.s3OutputPath' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (https|s3)://([^/])/?(.*)",
        ),
        (
            sm,
            {
                "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/o"},
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1001},
            },
            "1 validation error detected: Value '1001' at "
            "'asyncInferenceConfig.clientConfig.maxConcurrentInvocationsPerInstance' failed to "
            "satisfy constraint: Member must have value less than or equal to 1000",
        ),
    ]
    for index, (client, refused, message) in enumerate(refusals):
        error = _error(
            lambda client=client, refused=refused, index=index: client.create_endpoint_config(
                EndpointConfigName=f"refused-{index}",
                ProductionVariants=[variant],
                AsyncInferenceConfig=refused,
            )
        )
        assert (error["Code"], error["Message"]) == ("ValidationException", message)

    serverless = {
        "VariantName": "primary",
        "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
    }
    error = _error(
        lambda: sm.create_endpoint_config(
            EndpointConfigName="refused-serverless",
            ProductionVariants=[serverless],
            AsyncInferenceConfig=config,
        )
    )
    assert error["Code"] == "ValidationException"
    assert "not supported for serverless production variants (primary)" in error["Message"]

    # UpdateEndpoint cannot make an async endpoint synchronous.
    sm.create_endpoint_config(EndpointConfigName="now-sync", ProductionVariants=[variant])
    error = _error(lambda: sm.update_endpoint(EndpointName=name, EndpointConfigName="now-sync"))
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "The AsyncInferenceConfig parameter cannot be removed from this endpoint.",
    )


class _Finished:
    def finished(self) -> bool:
        return True

    def failure(self) -> ContainerFailure | None:
        return None


class BlockingInvoker:
    """Holds every invocation until the gate opens, counting how many run at once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def start(self, targets: tuple[InvocationTarget, ...]) -> _Finished:
        return _Finished()

    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(10)
            return b"done", "text/plain"
        finally:
            with self.lock:
                self.running -= 1

    def release(self, deployment_keys: Iterable[str]) -> None:
        pass


def test_the_backlog_runs_at_most_the_concurrency_times_the_instances(
    aws: Any, sm: Any, runtime: Any
) -> None:
    host = sagemaker_ext.installed_invoker()
    assert host is not None
    blocking = BlockingInvoker()
    sagemaker_ext.install(blocking)
    try:
        name = _endpoint(
            sm,
            "async-backlog",
            image=CUSTOM,
            instances=2,
            async_config=_async_config(MaxConcurrentInvocationsPerInstance=2),
        )
        answers = [
            runtime.invoke_endpoint_async(
                EndpointName=name, InputLocation=f"s3://{BUCKET}/input/iris.json"
            )
            for _ in range(10)
        ]
        deadline = time.monotonic() + 10
        while blocking.running < 4:
            assert time.monotonic() < deadline, f"only {blocking.running} running"
            time.sleep(0.01)
        time.sleep(0.2)  # a fifth one, were it allowed, would have started by now
        assert (blocking.running, blocking.calls) == (4, 4)
        blocking.gate.set()
        assert async_inference.wait_idle(10)
        assert (blocking.most, blocking.calls) == (4, 10)
        assert all(_exists(aws, answer["OutputLocation"]) for answer in answers)
    finally:
        blocking.gate.set()
        sagemaker_ext.install(host)
