"""Multi-model endpoints in the sandbox, in-process: moto's mock, the ModelHost, real models."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.hosting import ModelHost
from deployspec.sandbox.multi_model import image_supports_multi_model
from deployspec.sandbox.sagemaker_ext import InvocationTarget, ModelInvocationError, VariantTarget
from tests.conftest import tar_gz

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
# An image the sandbox cannot run: its endpoints go InService without a model worker.
CUSTOM = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-server:1"
BUCKET = "mme-models"
PREFIX = f"s3://{BUCKET}/mme/"

SCRIPT = """\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two iris classifiers that answer differently: classes 0-2, and the same shifted by 10."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    archives = {}
    for name, offset in (("a", 0), ("b", 10)):
        folder = tmp_path_factory.mktemp(f"model-{name}")
        classifier = LogisticRegression(max_iter=500).fit(iris.data, iris.target + offset)
        joblib.dump(classifier, folder / "model.joblib")
        archives[name] = tar_gz(
            {
                "model.joblib": (folder / "model.joblib").read_bytes(),
                "code/inference.py": SCRIPT.encode(),
            }
        )
    return {"archives": archives, "body": json.dumps(iris.data[[0, 60, 120]].tolist())}


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]) -> Iterator[Any]:
    """moto with the sandbox's extensions and a real ModelHost; the models in S3."""
    host = ModelHost(tmp_path_factory.mktemp("cache"))
    sagemaker_ext.install(host)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            for name, archive in models["archives"].items():
                s3.put_object(Bucket=BUCKET, Key=f"mme/{name}.tar.gz", Body=archive)
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


def _endpoint(sm: Any, name: str, container: dict[str, Any]) -> str:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, f"{name} never came InService"
        time.sleep(0.02)
    return name


@pytest.fixture(scope="module")
def mme(sm: Any) -> str:
    return _endpoint(
        sm,
        "multi",
        {
            "Image": SKLEARN,
            "Mode": "MultiModel",
            "ModelDataUrl": PREFIX,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )


def _invoke(runtime: Any, endpoint: str, body: str, **kwargs: Any) -> tuple[Any, str]:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType="application/json", **kwargs
    )
    return json.loads(answer["Body"].read()), answer["InvokedProductionVariant"]


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    error: dict[str, Any] = dict(info.value.response["Error"])
    return error


def test_two_archives_under_the_prefix_answer_with_their_own_models(
    runtime: Any, mme: str, models: dict[str, Any]
) -> None:
    body = models["body"]
    assert _invoke(runtime, mme, body, TargetModel="a.tar.gz") == ([0, 1, 2], "primary")
    assert _invoke(runtime, mme, body, TargetModel="b.tar.gz") == ([10, 11, 12], "primary")
    # Loaded once, then answered from the cache, still its own model.
    assert _invoke(runtime, mme, body, TargetModel="a.tar.gz") == ([0, 1, 2], "primary")


def test_an_unknown_target_model_is_awss_error(
    runtime: Any, mme: str, models: dict[str, Any]
) -> None:
    error = _error(lambda: _invoke(runtime, mme, models["body"], TargetModel="nope.tar.gz"))
    assert error["Code"] == "ValidationError"
    assert error["Message"].startswith(
        f"Failed to download model data(bucket: {BUCKET}, key: mme/nope.tar.gz). Please ensure"
    )


def test_an_invocation_without_target_model_is_awss_error(
    runtime: Any, mme: str, models: dict[str, Any]
) -> None:
    error = _error(lambda: _invoke(runtime, mme, models["body"]))
    assert error["Code"] == "ValidationError"
    assert error["Message"].endswith("is missing a target model header.")


def test_a_target_model_on_a_single_model_endpoint_is_awss_error(
    aws: Any, sm: Any, runtime: Any, models: dict[str, Any]
) -> None:
    aws.put_object(Bucket=BUCKET, Key="single/model.tar.gz", Body=models["archives"]["a"])
    name = _endpoint(
        sm, "single", {"Image": CUSTOM, "ModelDataUrl": f"s3://{BUCKET}/single/model.tar.gz"}
    )
    error = _error(lambda: _invoke(runtime, name, models["body"], TargetModel="a.tar.gz"))
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "Endpoint single is not a multi-model endpoint and does not support target model header."
    )


def test_an_archive_replaced_under_the_same_key_is_picked_up(
    aws: Any, runtime: Any, mme: str, models: dict[str, Any]
) -> None:
    body = models["body"]
    aws.put_object(Bucket=BUCKET, Key="mme/current.tar.gz", Body=models["archives"]["a"])
    assert _invoke(runtime, mme, body, TargetModel="current.tar.gz")[0] == [0, 1, 2]
    aws.put_object(Bucket=BUCKET, Key="mme/current.tar.gz", Body=models["archives"]["b"])
    assert _invoke(runtime, mme, body, TargetModel="current.tar.gz")[0] == [10, 11, 12]


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        (SKLEARN, True),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", True),
        (f"{DLC}/pytorch-inference:2.1-cpu-py310", True),
        (f"{DLC}/tensorflow-inference:2.13-cpu", True),
        (f"{DLC}/sagemaker-tritonserver:23.02-py3", True),
        (f"{DLC}/pytorch-inference:2.1-gpu-py310", False),
        (f"{DLC}/tensorflow-inference:2.13-gpu", False),
        (f"{DLC}/huggingface-pytorch-inference:2.1-transformers4.37-cpu-py310-ubuntu22.04", False),
        (f"{DLC}/pytorch-inference-neuronx:2.1-neuronx-py310", False),
        (CUSTOM, True),  # its Docker labels are in ECR, which the sandbox cannot read
    ],
)
def test_create_model_refuses_images_without_the_multi_model_label(
    sm: Any, image: str, accepted: bool
) -> None:
    assert image_supports_multi_model(image) is accepted
    name = "label-" + hashlib.sha256(image.encode()).hexdigest()[:12]
    container = {"Image": image, "Mode": "MultiModel", "ModelDataUrl": PREFIX}
    if accepted:
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
        assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Mode"] == "MultiModel"
        return
    error = _error(
        lambda: sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"Your Ecr Image {image} does not contain required "
        "com.amazonaws.sagemaker.capabilities.multi-models=true Docker label(s)."
    )
    # The same image serving one model is fine.
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": image, "ModelDataUrl": f"{PREFIX}a.tar.gz"},
    )


def test_a_serverless_multi_model_endpoint_is_refused(sm: Any) -> None:
    sm.create_model(
        ModelName="mme-serverless",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": SKLEARN, "Mode": "MultiModel", "ModelDataUrl": PREFIX},
    )
    error = _error(
        lambda: sm.create_endpoint_config(
            EndpointConfigName="mme-serverless",
            ProductionVariants=[
                {
                    "VariantName": "primary",
                    "ModelName": "mme-serverless",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
                }
            ],
        )
    )
    assert error["Code"] == "ValidationException"
    assert "serverless endpoints do not support multi-model endpoints" in error["Message"]


# --- the host's cache of target models, with a fake worker ---------------------------------------


class FakeWorker:
    def __init__(self, model_dir: Path, **_: Any) -> None:
        self.model = (model_dir / "model.txt").read_text()
        self.closed = False

    def invoke(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[bytes, str]:
        return self.model.encode(), "text/plain"

    def close(self) -> None:
        self.closed = True


def test_the_host_loads_each_target_model_once_within_its_bound(tmp_path: Path) -> None:
    objects = {
        f"{PREFIX}a.tar.gz": tar_gz({"model.txt": b"A"}),
        f"{PREFIX}b.tar.gz": tar_gz({"model.txt": b"B"}),
    }
    versions = {url: "1" for url in objects}
    started: list[FakeWorker] = []

    def factory(model_dir: Path, **kwargs: Any) -> FakeWorker:
        worker = FakeWorker(model_dir, **kwargs)
        started.append(worker)
        return worker

    host = ModelHost(
        tmp_path,
        read_object=lambda account, region, url: objects[url],
        stat_object=lambda account, region, url: versions.get(url),
        worker_factory=factory,
        max_idle_workers=1,
    )
    variant = VariantTarget("primary", "mme", SKLEARN, PREFIX, {}, multi_model=True)
    target = InvocationTarget("123456789012", REGION, "multi", "deployment-1", variant)
    # A multi-model container starts empty: nothing to load, nothing to fail.
    startup = host.start((target,))
    assert startup.wait(5) and startup.failure() is None
    assert started == []

    def answer(model: str) -> bytes:
        chosen = InvocationTarget(
            "123456789012", REGION, "multi", "deployment-1", variant, target_model=model
        )
        return host.invoke(chosen, b"x", "text/plain", "*/*")[0]

    assert [answer("a.tar.gz"), answer("a.tar.gz"), answer("b.tar.gz")] == [b"A", b"A", b"B"]
    assert len(started) == 2  # a once (cached), then b
    assert started[0].closed  # one idle worker at most: a's went when b's came
    assert answer("a.tar.gz") == b"A" and len(started) == 3  # loaded again, a cold start

    objects[f"{PREFIX}a.tar.gz"] = tar_gz({"model.txt": b"A2"})
    versions[f"{PREFIX}a.tar.gz"] = "2"
    assert answer("a.tar.gz") == b"A2"
    assert started[2].closed and len(started) == 4

    del versions[f"{PREFIX}b.tar.gz"]
    with pytest.raises(ModelInvocationError, match="does not exist"):
        answer("b.tar.gz")

    host.release(["deployment-1"])
    assert all(worker.closed for worker in started)
    assert [p for p in (tmp_path / "deployment-1").rglob("*") if p.is_file()] == []
