"""The sandbox driven by the SageMaker SDKs as independent clients.

SageMaker Python SDK v3 (`sagemaker-core`, a dependency of deployspec) runs here for real. The
classic SDK (`sagemaker` 2.x) cannot be installed beside it: 2.257 requires sagemaker-core<2
and ships its own `sagemaker/__init__.py` over the v3 namespace. Its update path is reproduced
instead, request for request, from `Session.create_endpoint_config_from_existing` (what
`Predictor.update_endpoint(initial_instance_count=2)` calls): it copies a description back into
CreateEndpointConfig, so any key the sandbox returns that AWS does not becomes a request
botocore refuses.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from deployspec.sandbox import control
from deployspec.sandbox.control import SandboxInfo

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "sdk-clients"
SCRIPT = """\
import json

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return json.dumps({"echo": json.loads(body)}), "application/json"
"""
CAPTURE: Any = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 50,
    "DestinationS3Uri": f"s3://{BUCKET}/capture",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    home = tmp_path_factory.mktemp("clients-home")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield info
    finally:
        control.stop(home)


@pytest.fixture
def session(sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """A boto3 session on the sandbox, as a user's SDK would get it: from the environment."""
    for key, value in control.environment(sandbox).items():
        monkeypatch.setenv(key, value)
    return boto3.Session(region_name=sandbox.region)


@pytest.fixture
def model_url(session: boto3.Session) -> str:
    s3 = session.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(SCRIPT)
        archive.addfile(info, io.BytesIO(SCRIPT.encode()))
    s3.put_object(Bucket=BUCKET, Key="echo/model.tar.gz", Body=buffer.getvalue())
    return f"s3://{BUCKET}/echo/model.tar.gz"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _deploy(sm: Any, model_url: str, *, capture: bool = False) -> tuple[str, str, str]:
    """A real-time endpoint on the echo model; (model, config, endpoint) names, InService."""
    model, config, endpoint = _name("model"), _name("config"), _name("endpoint")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": model_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    extra: dict[str, Any] = {"DataCaptureConfig": CAPTURE} if capture else {}
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        **extra,
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 450}
    )
    return model, config, endpoint


def test_the_v3_sdk_reads_and_drives_sandbox_resources(
    session: boto3.Session, model_url: str
) -> None:
    # Endpoint.get failed with 4 validation errors on data_capture_config (moto's `{}`);
    # Model.get and EndpointConfig.get on VpcConfig {} and DataCaptureConfig {}.
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model

    sm: Any = session.client("sagemaker")
    model_name, config_name, endpoint_name = _deploy(sm, model_url)
    model = Model.get(model_name, session=session, region=session.region_name)
    assert model.primary_container.model_data_url == model_url
    config = EndpointConfig.get(config_name, session=session, region=session.region_name)
    assert config.production_variants[0].instance_type == "ml.m5.xlarge"
    endpoint = Endpoint.get(endpoint_name, session=session, region=session.region_name)
    assert endpoint.endpoint_status == "InService"
    answer = endpoint.invoke(body=json.dumps([1, 2]), content_type="application/json")
    assert json.loads(answer.body.read()) == {"echo": [1, 2]}

    _, captured_config, captured_name = _deploy(sm, model_url, capture=True)
    captured = Endpoint.get(captured_name, session=session, region=session.region_name)
    assert captured.data_capture_config.capture_status == "Started"
    assert captured.data_capture_config.current_sampling_percentage == 50
    with_capture = EndpointConfig.get(captured_config, session=session, region=session.region_name)
    assert with_capture.data_capture_config.destination_s3_uri == CAPTURE["DestinationS3Uri"]

    # An update through the SDK, to the config of the other endpoint.
    endpoint.endpoint_config_name = captured_config
    endpoint.update()
    endpoint.wait_for_status("InService", poll=1, timeout=120)
    assert endpoint.endpoint_config_name == captured_config
    assert Endpoint.get(endpoint_name, session=session).data_capture_config.enable_capture


def _config_from_existing(sm: Any, existing: str, new: str, variants: list[Any]) -> None:
    """`Session.create_endpoint_config_from_existing` of the classic SDK (2.257), reduced to
    its requests: what it copies from DescribeEndpointConfig into CreateEndpointConfig."""
    described = sm.describe_endpoint_config(EndpointConfigName=existing)
    request: dict[str, Any] = {"EndpointConfigName": new, "ProductionVariants": variants}
    tags = sm.list_tags(ResourceArn=described["EndpointConfigArn"])["Tags"]
    if tags:
        request["Tags"] = tags
    if described.get("KmsKeyId") is not None:
        request["KmsKeyId"] = described.get("KmsKeyId")
    for key in ("DataCaptureConfig", "AsyncInferenceConfig", "ExplainerConfig"):
        if described.get(key) is not None:
            request[key] = described[key]
    sm.create_endpoint_config(**request)


@pytest.mark.parametrize("capture", [False, True])
def test_the_classic_sdks_update_endpoint_round_trip(
    session: boto3.Session, model_url: str, capture: bool
) -> None:
    # Predictor.update_endpoint(initial_instance_count=2): a new variant from the described
    # one, everything else copied, then UpdateEndpoint. It failed with ParamValidationError on
    # DataCaptureConfig {} (no InitialSamplingPercentage, DestinationS3Uri, CaptureOptions).
    sm: Any = session.client("sagemaker")
    model, config, endpoint = _deploy(sm, model_url, capture=capture)
    current = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    variant = {
        "ModelName": current["ModelName"],
        "InstanceType": current["InstanceType"],
        "InitialInstanceCount": 2,
        "VariantName": "AllTraffic",
        "InitialVariantWeight": 1,
    }
    new_config = _name("config")
    _config_from_existing(sm, config, new_config, [variant])
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 450}
    )
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointConfigName"] == new_config
    assert described["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    assert ("DataCaptureConfig" in described) is capture

    # The same for a model: DescribeModel copied into CreateModel (VpcConfig {} and
    # Containers [] were refused).
    copied = sm.describe_model(ModelName=model)
    keys = ("PrimaryContainer", "Containers", "VpcConfig", "ExecutionRoleArn")
    sm.create_model(ModelName=_name("model"), **{k: copied[k] for k in keys if k in copied})


def test_tags_set_twice_keep_one_value(session: boto3.Session, model_url: str) -> None:
    sm: Any = session.client("sagemaker")
    _, config, _ = _deploy(sm, model_url)
    arn = sm.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"]
    for value in ("a" * 12, "b" * 12):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "deployspec:spec-digest", "Value": value}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "deployspec:spec-digest", "Value": "b" * 12}
    ]


def test_describe_keys_exist_in_botocores_model(session: boto3.Session, model_url: str) -> None:
    """Every key the sandbox returns is one the service model has (AWS sends no others)."""
    import botocore.session
    from botocore.model import ListShape, StructureShape

    service = botocore.session.get_session().get_service_model("sagemaker")
    sm: Any = session.client("sagemaker")
    model, config, endpoint = _deploy(sm, model_url, capture=True)
    calls = {
        "DescribeModel": {"ModelName": model},
        "DescribeEndpointConfig": {"EndpointConfigName": config},
        "DescribeEndpoint": {"EndpointName": endpoint},
    }

    def check(value: Any, shape: Any, where: str) -> None:
        if isinstance(shape, StructureShape):
            assert isinstance(value, dict), where
            for key, member in value.items():
                assert key in shape.members, f"{where}.{key} is not in the model"
                assert member not in ({}, []), f"{where}.{key} is empty: AWS omits it"
                check(member, shape.members[key], f"{where}.{key}")
            # The model calls a summary's KmsKeyId required; there is none without a key.
            missing = set(shape.required_members) - set(value) - {"KmsKeyId"}
            assert not missing, (where, missing)
        elif isinstance(shape, ListShape):
            for index, item in enumerate(value):
                check(item, shape.member, f"{where}[{index}]")

    for operation, params in calls.items():
        client_method = getattr(sm, _snake(operation))
        response = dict(client_method(**params))
        response.pop("ResponseMetadata")
        check(response, service.operation_model(operation).output_shape, operation)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
