"""The sandbox's inference components, driven with boto3 as an independent client: endpoint
configs without a model, the component API's states, shapes and errors, capacity accounting,
managed instance scaling (to zero and back), tags, and invocations routed to each component's
real model. Most tests run in-process (moto's mock, a fake clock); the invocations of real
scikit-learn models, streaming and reset run against a sandbox server."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from deployspec.gpus import accelerator_count
from deployspec.sandbox import control, inference_components, instance_sizes, sagemaker_ext
from deployspec.sandbox.control import SandboxInfo
from deployspec.sandbox.hosting import ModelHost, _Startup
from deployspec.sandbox.sagemaker_ext import InvocationTarget
from tests.conftest import tar_gz

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "models"
TRANSITION = 30.0
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"

# Answers with the name its archive carries: which model answered, cheaply (no scikit-learn).
NAMED_SCRIPT = """\
import json
import os

def model_fn(model_dir):
    with open(os.path.join(model_dir, "name.txt")) as handle:
        return handle.read().strip()

def transform_fn(model, body, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""

BROKEN_SCRIPT = """\
def model_fn(model_dir):
    raise RuntimeError("weights are corrupt")
"""

JOBLIB_SCRIPT = """\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TrackingHost(ModelHost):
    """The real host, remembering its startups (to wait for them) and what it released."""

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir)
        self.startups: list[_Startup] = []
        self.released: list[str] = []

    def start(self, targets: tuple[InvocationTarget, ...]) -> _Startup:
        startup = super().start(targets)
        self.startups.append(startup)
        return startup

    def release(self, deployment_keys: Any) -> None:
        keys = list(deployment_keys)
        self.released += keys
        super().release(keys)

    def wait_for_startups(self) -> None:
        for startup in self.startups:
            assert startup.wait(60)


def named_archive(name: str, script: str = NAMED_SCRIPT) -> bytes:
    return tar_gz({"name.txt": name.encode(), "code/inference.py": script.encode()})


@dataclass
class Lab:
    """An in-process sandbox: moto's mock with the extensions, a fake clock."""

    clock: FakeClock
    sm: Any
    runtime: Any
    s3: Any
    host: TrackingHost | None

    def wait(self, seconds: float = TRANSITION) -> None:
        self.clock.now += seconds

    def model(self, name: str, archive: bytes | None = None) -> str:
        self.s3.put_object(
            Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=archive or named_archive(name)
        )
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
            },
        )
        return name

    def config(
        self,
        name: str,
        instance_type: str = "ml.m5.xlarge",
        instances: int = 1,
        managed: tuple[int, int] | None = None,
        routing: str | None = None,
    ) -> str:
        variant: dict[str, Any] = {
            "VariantName": "AllTraffic",
            "InstanceType": instance_type,
            "InitialInstanceCount": instances,
        }
        if managed is not None:
            variant["ManagedInstanceScaling"] = {
                "Status": "ENABLED",
                "MinInstanceCount": managed[0],
                "MaxInstanceCount": managed[1],
            }
        if routing is not None:
            variant["RoutingConfig"] = {"RoutingStrategy": routing}
        self.sm.create_endpoint_config(
            EndpointConfigName=name, ExecutionRoleArn=ROLE, ProductionVariants=[variant]
        )
        return name

    def endpoint(self, name: str, config: str) -> str:
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        if self.host is not None:
            self.host.wait_for_startups()
        self.wait()
        assert self.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        return name

    def create(
        self,
        name: str,
        endpoint: str,
        model: str | None,
        copies: int | None = 1,
        *,
        memory: int = 1024,
        cpus: float | None = None,
        accelerators: float | None = None,
        **extra: Any,
    ) -> str:
        specification: dict[str, Any] = extra.pop("Specification", {})
        if model is not None:
            required: dict[str, Any] = {"MinMemoryRequiredInMb": memory}
            if cpus is not None:
                required["NumberOfCpuCoresRequired"] = cpus
            if accelerators is not None:
                required["NumberOfAcceleratorDevicesRequired"] = accelerators
            specification = {"ModelName": model, "ComputeResourceRequirements": required}
        request: dict[str, Any] = {
            "InferenceComponentName": name,
            "EndpointName": endpoint,
            "Specification": specification,
            **extra,
        }
        if copies is not None:
            request["RuntimeConfig"] = {"CopyCount": copies}
        arn: str = self.sm.create_inference_component(**request)["InferenceComponentArn"]
        return arn

    def ic(self, name: str) -> dict[str, Any]:
        described = dict(self.sm.describe_inference_component(InferenceComponentName=name))
        described.pop("ResponseMetadata")
        return described

    def status(self, name: str) -> str:
        return str(self.ic(name)["InferenceComponentStatus"])

    def copies(self, name: str) -> tuple[int, int]:
        runtime = self.ic(name)["RuntimeConfig"]
        return runtime["DesiredCopyCount"], runtime["CurrentCopyCount"]

    def instances(self, endpoint: str) -> tuple[int, int]:
        """(desired, current) instances of the endpoint's variant."""
        variant = self.sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
        return variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]

    def runtime_copies(self, name: str, copies: int) -> None:
        self.sm.update_inference_component_runtime_config(
            InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": copies}
        )

    def invoke(self, endpoint: str, component: str | None, body: bytes = b"[1]") -> Any:
        extra = {"InferenceComponentName": component} if component else {}
        answer = self.runtime.invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType="application/json", **extra
        )
        return json.loads(answer["Body"].read())


def _lab(tmp_path: Path, hosted: bool) -> Iterator[Lab]:
    clock = FakeClock()
    host = TrackingHost(tmp_path / "models") if hosted else None
    sagemaker_ext.set_clock(clock)
    sagemaker_ext.install(host)
    sagemaker_ext.set_transition_seconds(TRANSITION)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            yield Lab(
                clock,
                boto3.client("sagemaker", region_name=REGION),
                boto3.client("sagemaker-runtime", region_name=REGION),
                s3,
                host,
            )
    finally:
        sagemaker_ext.uninstall()
        sagemaker_ext.set_clock(time.monotonic)
        if host is not None:
            host.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """No model runs: creates and updates wait for no container."""
    yield from _lab(tmp_path, hosted=False)


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[Lab]:
    """Models run in real workers (cheap ones: they answer with their name)."""
    yield from _lab(tmp_path, hosted=True)


def _error(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    error: Any = info.value.response["Error"]
    return {str(key): str(value) for key, value in error.items()}


# --- the instance table ------------------------------------------------------------------------


def test_instance_sizes_are_sagemaker_types_with_the_gpu_tables_accelerators() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    enum = set(model.shape_for("ProductionVariantInstanceType").enum)  # type: ignore[attr-defined]
    listed = instance_sizes.known_types()
    assert [t for t in listed if t not in enum] == []
    for family in ("m5", "c5", "g5", "g6", "p4d", "p5"):
        assert any(t.startswith(f"ml.{family}.") for t in listed), family
    for instance_type in listed:
        size = instance_sizes.size_of(instance_type)
        assert size.accelerators == accelerator_count(instance_type)
        assert size.vcpus >= 2 and size.memory_mib >= 3840
    assert instance_sizes.size_of("ml.g5.12xlarge") == instance_sizes.InstanceSize(
        vcpus=48, memory_mib=192 * 1024, accelerators=4
    )
    with pytest.raises(instance_sizes.UnknownInstanceSize, match=r"ml\.x2iedn\.xlarge"):
        instance_sizes.size_of("ml.x2iedn.xlarge")


# --- endpoint configs and endpoints for components ----------------------------------------------


def test_an_endpoint_without_a_model_goes_in_service_and_scales_to_zero_when_idle(
    lab: Lab,
) -> None:
    lab.config("hosting", managed=(0, 2), routing="LEAST_OUTSTANDING_REQUESTS")
    described = lab.sm.describe_endpoint_config(EndpointConfigName="hosting")
    scaling = {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    routing = {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    assert described["ExecutionRoleArn"] == ROLE
    assert described["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "InstanceType": "ml.m5.xlarge",
            "InitialInstanceCount": 1,
            "ManagedInstanceScaling": scaling,
            "RoutingConfig": routing,
        }
    ]
    lab.sm.create_endpoint(EndpointName="ep", EndpointConfigName="hosting")
    assert lab.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    lab.wait()
    endpoint = lab.sm.describe_endpoint(EndpointName="ep")
    assert endpoint["EndpointStatus"] == "InService"
    # InitialInstanceCount instances, no model: and with nothing to host, managed scaling
    # releases the idle instance (MinInstanceCount 0).
    assert endpoint["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "CurrentWeight": 1.0,
            "DesiredWeight": 1.0,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 0,
            "ManagedInstanceScaling": scaling,
            "RoutingConfig": routing,
        }
    ]
    lab.wait()
    assert lab.instances("ep") == (0, 0)


def test_configs_for_components_are_checked_as_aws_checks_them(lab: Lab) -> None:
    lab.model("m")
    scaling = {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": 2}
    hosting = {
        "VariantName": "AllTraffic",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }

    def create(variants: list[dict[str, Any]], **extra: Any) -> dict[str, str]:
        return _error(
            lambda: lab.sm.create_endpoint_config(
                EndpointConfigName="c", ProductionVariants=variants, **extra
            )
        )

    assert create([{**hosting, "ModelName": "m", "ManagedInstanceScaling": scaling}]) == {
        "Code": "ValidationException",
        "Message": "ManagedInstanceScaling is only supported for inference component endpoints.",
    }
    assert "ExecutionRoleArn is required" in create([hosting])["Message"]
    mixed = create(
        [hosting, {**hosting, "VariantName": "b", "ModelName": "m"}], ExecutionRoleArn=ROLE
    )
    assert "cannot mix" in mixed["Message"]
    serverless = {
        "VariantName": "AllTraffic",
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
    }
    assert "needs an InstanceType" in create([serverless], ExecutionRoleArn=ROLE)["Message"]
    unknown = create([{**hosting, "InstanceType": "ml.x2iedn.xlarge"}], ExecutionRoleArn=ROLE)
    assert (
        "does not know the vCPUs and memory of instance type ml.x2iedn.xlarge" in unknown["Message"]
    )
    outside = {**hosting, "InitialInstanceCount": 3, "ManagedInstanceScaling": scaling}
    assert "between" in create([outside], ExecutionRoleArn=ROLE)["Message"]
    shadow = create(
        [hosting],
        ExecutionRoleArn=ROLE,
        ShadowProductionVariants=[{**hosting, "VariantName": "s", "ModelName": "m"}],
    )
    assert "Shadow variants are not supported" in shadow["Message"]
    # Nothing was created on the way.
    assert lab.sm.list_endpoint_configs()["EndpointConfigs"] == []


# --- states and shapes ---------------------------------------------------------------------------


def test_a_component_is_created_updated_scaled_and_deleted_through_awss_states(lab: Lab) -> None:
    for name in ("blue", "green"):
        lab.model(name)
    lab.endpoint("ep", lab.config("hosting"))
    arn = lab.create("chat", "ep", "blue", copies=2, cpus=1, memory=2048, VariantName="AllTraffic")
    assert arn == f"{ARN}:inference-component/chat"
    creating = lab.ic("chat")
    created = creating["CreationTime"]
    assert creating == {
        "InferenceComponentName": "chat",
        "InferenceComponentArn": arn,
        "EndpointName": "ep",
        "EndpointArn": f"{ARN}:endpoint/ep",
        "VariantName": "AllTraffic",
        "Specification": {
            "ModelName": "blue",
            "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": 1.0,
                "MinMemoryRequiredInMb": 2048,
            },
        },
        "RuntimeConfig": {"DesiredCopyCount": 2, "CurrentCopyCount": 0},
        "CreationTime": created,
        "LastModifiedTime": created,
        "InferenceComponentStatus": "Creating",
    }
    lab.wait(TRANSITION - 1)
    assert lab.status("chat") == "Creating"
    lab.wait(1)
    assert (lab.status("chat"), lab.copies("chat")) == ("InService", (2, 2))
    assert lab.ic("chat")["LastModifiedTime"] > created

    # An update rolls out the new specification; meanwhile Describe shows the old one. Two
    # batches of one copy, 60 AWS seconds apart, add 60 * 30 / 60 sandbox seconds.
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 60,
        }
    }
    new_spec = {
        "ModelName": "green",
        "StartupParameters": {"ContainerStartupHealthCheckTimeoutInSeconds": 600},
        "ComputeResourceRequirements": {
            "MinMemoryRequiredInMb": 4096,
            "MaxMemoryRequiredInMb": 8192,
        },
    }
    lab.sm.update_inference_component(
        InferenceComponentName="chat", Specification=new_spec, DeploymentConfig=rolling
    )
    updating = lab.ic("chat")
    assert updating["InferenceComponentStatus"] == "Updating"
    assert updating["Specification"]["ModelName"] == "blue"
    assert "LastDeploymentConfig" not in updating
    lab.wait(TRANSITION)
    assert lab.status("chat") == "Updating"
    lab.wait(TRANSITION)
    updated = lab.ic("chat")
    assert updated["InferenceComponentStatus"] == "InService"
    assert updated["Specification"] == new_spec
    assert updated["LastDeploymentConfig"] == rolling
    assert updated["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    assert "FailureReason" not in updated

    # The copy count alone: Desired at once, Current once the update is done.
    lab.runtime_copies("chat", 3)
    assert (lab.status("chat"), lab.copies("chat")) == ("Updating", (3, 2))
    lab.wait()
    assert (lab.status("chat"), lab.copies("chat")) == ("InService", (3, 3))

    lab.sm.delete_inference_component(InferenceComponentName="chat")
    assert lab.status("chat") == "Deleting"
    listed = lab.sm.list_inference_components()["InferenceComponents"]
    assert [(c["InferenceComponentName"], c["InferenceComponentStatus"]) for c in listed] == [
        ("chat", "Deleting")
    ]
    lab.wait()
    assert _error(lambda: lab.ic("chat")) == {
        "Code": "ValidationException",
        "Message": f'Could not find inference component "{arn}".',
    }
    assert lab.sm.list_inference_components()["InferenceComponents"] == []


def test_awss_refusals_of_components(lab: Lab) -> None:
    lab.model("m")
    lab.endpoint("ep", lab.config("hosting", instance_type="ml.m5.large"))  # 2 vCPUs, 8 GiB
    lab.sm.create_endpoint_config(
        EndpointConfigName="models",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    lab.endpoint("plain", "models")

    def refused(**request: Any) -> dict[str, str]:
        name = request.pop("name", "ic")
        endpoint = request.pop("endpoint", "ep")
        model = request.pop("model", "m")
        copies = request.pop("copies", 1)
        return _error(lambda: lab.create(name, endpoint, model, copies, **request))

    assert refused(copies=0)["Message"].startswith("CopyCount 0 is not allowed")
    assert refused(endpoint="plain") == {
        "Code": "ValidationException",
        "Message": inference_components.NOT_AN_IC_ENDPOINT,
    }
    assert refused(endpoint="nowhere")["Message"] == (
        f'Could not find endpoint "{ARN}:endpoint/nowhere".'
    )
    assert refused(VariantName="other")["Message"] == (
        f'Production variant "other" is not present in endpoint "{ARN}:endpoint/ep".'
    )
    assert refused(model="gone")["Message"] == f'Could not find model "{ARN}:model/gone".'
    per_copy = refused(accelerators=1)
    assert per_copy["Message"] == (
        "Inference component ic requires 1 accelerator device per copy, which exceeds the 0 "
        "accelerator devices of one ml.m5.large instance: every copy must fit on one instance "
        "of the endpoint."
    )
    assert (
        "requires 3 CPU cores per copy, which exceeds the 2 CPU cores" in refused(cpus=3)["Message"]
    )
    assert (
        "requires 9000 MB of memory per copy, which exceeds the 8192 MB"
        in refused(memory=9000)["Message"]
    )
    assert refused(cpus=1, copies=3)["Message"] == (
        "Insufficient capacity on endpoint ep for the 3 copies of inference component ic: 2 "
        "fit on its 1 instance(s) of type ml.m5.large next to the copies of its other "
        "inference components; each copy needs 1024 MB of memory, 1 CPU core."
    )
    assert (
        "MaxMemoryRequiredInMb 512 is below"
        in refused(
            model=None,
            Specification={
                "ModelName": "m",
                "ComputeResourceRequirements": {
                    "MinMemoryRequiredInMb": 1024,
                    "MaxMemoryRequiredInMb": 512,
                },
            },
        )["Message"]
    )
    assert (
        "needs ComputeResourceRequirements"
        in refused(model=None, Specification={"ModelName": "m"})["Message"]
    )
    # botocore's shape, checked as AWS checks it.
    assert refused(name="bad_name") == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'bad_name' at 'inferenceComponentName' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    }
    # Checked by the server too, for clients that do not validate as botocore does.
    unchecked = boto3.client(
        "sagemaker", region_name=REGION, config=Config(parameter_validation=False)
    )
    below = _error(
        lambda: unchecked.create_inference_component(
            InferenceComponentName="ic",
            EndpointName="ep",
            Specification={
                "ModelName": "m",
                "ComputeResourceRequirements": {
                    "MinMemoryRequiredInMb": 1024,
                    "NumberOfCpuCoresRequired": 0.1,
                },
            },
            RuntimeConfig={"CopyCount": 1},
        )
    )
    assert below["Message"] == (
        "1 validation error detected: Value '0.1' at "
        "'specification.computeResourceRequirements.numberOfCpuCoresRequired' failed to "
        "satisfy constraint: Member must have value greater than or equal to 0.25"
    )

    lab.create("ic", "ep", "m", cpus=1)
    assert refused()["Message"] == (
        f'Cannot create already existing inference component "{ARN}:inference-component/ic".'
    )
    while_creating = _error(lambda: lab.runtime_copies("ic", 2))
    assert while_creating["Message"] == (
        f'Cannot update in-progress inference component "{ARN}:inference-component/ic" (Creating).'
    )
    assert (
        "Cannot delete in-progress"
        in _error(lambda: lab.sm.delete_inference_component(InferenceComponentName="ic"))["Message"]
    )
    lab.wait()
    assert (
        "needs a Specification or a RuntimeConfig"
        in _error(lambda: lab.sm.update_inference_component(InferenceComponentName="ic"))["Message"]
    )
    assert (
        "Could not find inference component"
        in _error(lambda: lab.runtime_copies("nothing", 1))["Message"]
    )
    # An endpoint of components is deleted after its components, and keeps hosting them.
    deleting = _error(lambda: lab.sm.delete_endpoint(EndpointName="ep"))
    assert deleting["Message"] == (
        f'Cannot delete endpoint "{ARN}:endpoint/ep": it hosts inference components (ic). '
        "Delete them first."
    )
    assert (
        "which the new endpoint configuration lacks or gives a ModelName"
        in _error(lambda: lab.sm.update_endpoint(EndpointName="ep", EndpointConfigName="models"))[
            "Message"
        ]
    )
    lab.sm.delete_inference_component(InferenceComponentName="ic")
    lab.wait()
    lab.sm.delete_endpoint(EndpointName="ep")


# --- capacity ----------------------------------------------------------------------------------


def test_copies_are_counted_against_instances_and_wait_for_room(lab: Lab) -> None:
    for name in ("a", "b", "c"):
        lab.model(name)
    # Two ml.m5.xlarge: 4 vCPUs and 16 GiB each, no managed scaling.
    lab.endpoint("ep", lab.config("fixed", instances=2))
    lab.create("a", "ep", "a", copies=2, cpus=2)
    lab.create("b", "ep", "b", copies=2, cpus=2, memory=4096)
    message = _error(lambda: lab.create("c", "ep", "c", copies=1, cpus=1))["Message"]
    assert message.startswith("Insufficient capacity on endpoint ep for the 1 copies")
    assert "0 fit on its 2 instance(s)" in message
    lab.wait()
    assert (lab.copies("a"), lab.copies("b")) == ((2, 2), (2, 2))
    assert lab.instances("ep") == (2, 2)

    # A copy count the endpoint has no room for is not refused: the copy waits.
    lab.runtime_copies("b", 3)
    lab.wait()
    assert (lab.status("b"), lab.copies("b")) == ("InService", (3, 2))
    lab.sm.delete_inference_component(InferenceComponentName="a")
    lab.wait()
    assert lab.copies("b") == (3, 3)
    # Memory counts too: 3 copies of 4 GiB, and one of 8 GiB would need 20 of the 32 GiB.
    lab.create("c", "ep", "c", copies=1, cpus=1, memory=8192)
    lab.wait()
    assert lab.copies("c") == (1, 1)
    assert (
        "Insufficient capacity"
        in _error(
            lambda: lab.sm.update_inference_component(
                InferenceComponentName="c",
                Specification={
                    "ModelName": "c",
                    "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 16384},
                },
            )
        )["Message"]
    )


@pytest.mark.parametrize("managed", [None, (1, 2)], ids=["fixed", "managed-at-max"])
def test_more_copies_of_one_component_never_take_anothers_place(
    lab: Lab, managed: tuple[int, int] | None
) -> None:
    for name in ("a", "b"):
        lab.model(name)
    # Two ml.m5.xlarge (4 vCPUs each), at their limit either way: a's and b's copies fill them.
    lab.endpoint("ep", lab.config("full", instances=2, managed=managed))
    lab.create("a", "ep", "a", copies=2, cpus=2)
    lab.create("b", "ep", "b", copies=2, cpus=2)
    lab.wait()
    assert (lab.copies("a"), lab.copies("b")) == ((2, 2), (2, 2))

    # The older component asks for one more copy than there is room for: it waits, and b
    # keeps both of its copies (first fit in creation order would have moved one of them).
    lab.runtime_copies("a", 3)
    lab.wait()
    assert (lab.status("a"), lab.copies("a"), lab.copies("b")) == ("InService", (3, 2), (2, 2))
    lab.wait()
    assert (lab.copies("a"), lab.copies("b"), lab.instances("ep")) == ((3, 2), (2, 2), (2, 2))

    # Room freed by b's fewer copies goes to the copy waiting for it.
    lab.runtime_copies("b", 1)
    lab.wait()
    assert (lab.copies("a"), lab.copies("b")) == ((3, 3), (1, 1))


def test_accelerators_come_from_the_gpu_table(lab: Lab) -> None:
    lab.model("llm")
    lab.endpoint("gpu", lab.config("gpu", instance_type="ml.g5.12xlarge"))  # 4 GPUs
    assert (
        "which exceeds the 4 accelerator devices of one ml.g5.12xlarge"
        in _error(lambda: lab.create("big", "gpu", "llm", accelerators=5, memory=16384))["Message"]
    )
    lab.create("chat", "gpu", "llm", copies=2, accelerators=2, memory=16384)
    assert (
        "0 fit"
        in _error(lambda: lab.create("more", "gpu", "llm", accelerators=1, memory=1024))["Message"]
    )
    lab.wait()
    assert lab.copies("chat") == (2, 2)


def test_managed_instance_scaling_adds_instances_up_to_max_and_releases_them_to_zero(
    hosted: Lab,
) -> None:
    lab = hosted
    lab.model("m")
    # ml.m5.large: 2 vCPUs; copies of 1 core, so 2 copies per instance.
    lab.endpoint("ep", lab.config("managed", instance_type="ml.m5.large", managed=(0, 3)))
    lab.create("ic", "ep", "m", copies=3, cpus=1)
    assert lab.instances("ep") == (2, 1)  # the second instance is being provisioned
    # Creating: no copy answers yet.
    assert _error(lambda: lab.invoke("ep", "ic"))["Message"] == inference_components.NO_CAPACITY
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    assert (lab.status("ic"), lab.copies("ic")) == ("InService", (3, 3))
    assert lab.instances("ep") == (2, 2)
    assert lab.invoke("ep", "ic") == {"model": "m"}

    lab.runtime_copies("ic", 6)
    assert lab.instances("ep") == (3, 2)
    lab.wait()
    assert (lab.copies("ic"), lab.instances("ep")) == ((6, 6), (3, 3))
    # Beyond MaxInstanceCount the copies stay pending.
    lab.runtime_copies("ic", 8)
    lab.wait()
    assert (lab.status("ic"), lab.copies("ic"), lab.instances("ep")) == (
        "InService",
        (8, 6),
        (3, 3),
    )

    # Scale to zero: no copy, then (one transition later) no instance.
    lab.runtime_copies("ic", 0)
    lab.wait()
    assert (lab.status("ic"), lab.copies("ic"), lab.instances("ep")) == (
        "InService",
        (0, 0),
        (0, 3),
    )
    lab.wait()
    assert lab.instances("ep") == (0, 0)
    assert _error(lambda: lab.invoke("ep", "ic")) == {
        "Code": "ValidationError",
        "Message": inference_components.NO_CAPACITY,
    }
    # And back: the first copy waits for an instance, then answers.
    lab.runtime_copies("ic", 1)
    assert lab.instances("ep") == (1, 0)
    lab.wait()
    assert (lab.copies("ic"), lab.instances("ep")) == ((1, 1), (1, 1))
    assert lab.invoke("ep", "ic") == {"model": "m"}


# --- adapters ----------------------------------------------------------------------------------


def test_an_adapter_runs_on_its_base_and_keeps_it_from_deletion(hosted: Lab) -> None:
    lab = hosted
    lab.model("base")
    lab.endpoint("ep", lab.config("hosting"))
    lab.s3.put_object(Bucket=BUCKET, Key="adapters/support.tar.gz", Body=b"lora")
    adapter_spec = {
        "BaseInferenceComponentName": "base",
        "Container": {"ArtifactUrl": f"s3://{BUCKET}/adapters/support.tar.gz"},
    }
    lab.create("base", "ep", "base", copies=1, cpus=1)
    creating_base = _error(lambda: lab.create("lora", "ep", None, None, Specification=adapter_spec))
    assert creating_base["Message"] == (
        "The base inference component base is Creating: an adapter needs its base InService."
    )
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    lab.create("lora", "ep", None, None, Specification=adapter_spec)
    lab.wait()
    adapter = lab.ic("lora")
    assert adapter["InferenceComponentStatus"] == "InService"
    assert adapter["Specification"] == adapter_spec
    assert "RuntimeConfig" not in adapter  # it runs on its base's copies
    # The tiny models cannot load LoRA weights: the adapter answers with its base's model.
    assert lab.invoke("ep", "lora") == {"model": "base"}

    with_compute = _error(
        lambda: lab.create(
            "x",
            "ep",
            None,
            None,
            Specification={
                **adapter_spec,
                "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 128},
            },
        )
    )
    assert "takes neither ModelName nor ComputeResourceRequirements" in with_compute["Message"]
    on_adapter = {**adapter_spec, "BaseInferenceComponentName": "lora"}
    assert (
        "is itself an adapter"
        in _error(lambda: lab.create("x", "ep", None, None, Specification=on_adapter))["Message"]
    )
    assert (
        "takes no RuntimeConfig"
        in _error(lambda: lab.create("x", "ep", None, 1, Specification=adapter_spec))["Message"]
    )
    assert _error(lambda: lab.sm.delete_inference_component(InferenceComponentName="base")) == {
        "Code": "ValidationException",
        "Message": "Inference component base is a base inference component for one or more "
        "associated adapter inference components (lora). Delete them first.",
    }
    # An adapter whose artifacts are not there fails as the download would.
    missing = {**adapter_spec, "Container": {"ArtifactUrl": f"s3://{BUCKET}/adapters/none.tar.gz"}}
    lab.create("lost", "ep", None, None, Specification=missing)
    lab.wait()
    lost = lab.ic("lost")
    assert lost["InferenceComponentStatus"] == "Failed"
    assert lost["FailureReason"].startswith(
        'Failed to download model data for container "container_1" from URL: '
        f'"s3://{BUCKET}/adapters/none.tar.gz".'
    )
    for name in ("lora", "lost"):
        lab.sm.delete_inference_component(InferenceComponentName=name)
    lab.wait()
    lab.sm.delete_inference_component(InferenceComponentName="base")


def test_a_component_may_bring_its_own_container_instead_of_a_model(hosted: Lab) -> None:
    lab = hosted
    lab.endpoint("ep", lab.config("hosting"))
    lab.s3.put_object(Bucket=BUCKET, Key="own/model.tar.gz", Body=named_archive("own"))
    container = {
        "Image": IMAGE,
        "ArtifactUrl": f"s3://{BUCKET}/own/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
    }
    lab.create(
        "own",
        "ep",
        None,
        Specification={
            "Container": container,
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 512},
        },
    )
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    described = lab.ic("own")["Specification"]["Container"]
    resolved = described.pop("DeployedImage")
    assert described == {
        "ArtifactUrl": container["ArtifactUrl"],
        "Environment": container["Environment"],
    }
    assert resolved["SpecifiedImage"] == IMAGE
    repository = IMAGE.rsplit(":", 1)[0]
    assert resolved["ResolvedImage"].startswith(f"{repository}@sha256:")
    assert lab.invoke("ep", "own") == {"model": "own"}
    both = _error(
        lambda: lab.create(
            "both",
            "ep",
            None,
            Specification={
                "ModelName": "x",
                "Container": container,
                "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 512},
            },
        )
    )
    assert "takes ModelName or Container, not both" in both["Message"]


# --- containers that fail, rollbacks -------------------------------------------------------------


def test_a_failing_container_fails_the_create_and_rolls_an_update_back(hosted: Lab) -> None:
    lab = hosted
    lab.model("good")
    lab.model("broken", named_archive("broken", BROKEN_SCRIPT))
    lab.endpoint("ep", lab.config("hosting"))
    lab.create("bad", "ep", "broken")
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    failed = lab.ic("bad")
    assert failed["InferenceComponentStatus"] == "Failed"
    assert failed["FailureReason"].startswith(
        "The container for inference component bad did not pass the ping health check."
    )
    assert failed["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 0}
    logs = boto3.client("logs", region_name=REGION)
    group = "/aws/sagemaker/InferenceComponents/bad"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"])
    assert any("weights are corrupt" in e["message"] for e in events["events"])
    assert (
        "Cannot update failed inference component"
        in _error(lambda: lab.runtime_copies("bad", 1))["Message"]
    )

    lab.create("chat", "ep", "good")
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    released = len(lab.host.released)  # type: ignore[union-attr]
    lab.sm.update_inference_component(
        InferenceComponentName="chat",
        Specification={
            "ModelName": "broken",
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
        },
        RuntimeConfig={"CopyCount": 2},
    )
    assert lab.invoke("ep", "chat") == {"model": "good"}  # the old one answers meanwhile
    lab.host.wait_for_startups()  # type: ignore[union-attr]
    lab.wait()
    rolled_back = lab.ic("chat")
    assert rolled_back["InferenceComponentStatus"] == "InService"
    assert rolled_back["Specification"]["ModelName"] == "good"
    assert rolled_back["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    assert "did not pass the ping health check" in rolled_back["FailureReason"]
    assert lab.invoke("ep", "chat") == {"model": "good"}
    # The new fleet's worker is released; the old one keeps serving.
    assert len(lab.host.released) == released + 1  # type: ignore[union-attr]


def test_an_alarm_of_the_rolling_update_rolls_it_back(lab: Lab) -> None:
    for name in ("old", "new"):
        lab.model(name)
    lab.endpoint("ep", lab.config("hosting"))
    lab.create("chat", "ep", "old")
    lab.wait()
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="errors",
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    lab.sm.update_inference_component(
        InferenceComponentName="chat",
        Specification={
            "ModelName": "new",
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
        },
        DeploymentConfig={
            "RollingUpdatePolicy": {
                "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 0,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]},
        },
    )
    lab.wait()
    described = lab.ic("chat")
    assert described["InferenceComponentStatus"] == "InService"
    assert described["Specification"]["ModelName"] == "old"
    assert 'CloudWatch alarm "errors"' in described["FailureReason"]
    too_big = _error(
        lambda: lab.sm.update_inference_component(
            InferenceComponentName="chat",
            RuntimeConfig={"CopyCount": 1},
            DeploymentConfig={
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 80},
                    "WaitIntervalInSeconds": 0,
                }
            },
        )
    )
    assert "must have a Value from 5 to 50, not 80" in too_big["Message"]


# --- list, tags, endpoint updates ----------------------------------------------------------------


def test_list_filters_sorts_and_pages(lab: Lab) -> None:
    lab.model("m")
    lab.endpoint("one", lab.config("c1"))
    lab.endpoint("two", lab.config("c2"))
    for name, endpoint in (("alpha", "one"), ("beta", "one"), ("gamma", "two")):
        lab.create(name, endpoint, "m")
        lab.wait(1)
    lab.wait()
    lab.runtime_copies("beta", 2)  # Updating

    def names(**request: Any) -> list[str]:
        listed = lab.sm.list_inference_components(**request)["InferenceComponents"]
        return [c["InferenceComponentName"] for c in listed]

    assert names() == ["gamma", "beta", "alpha"]  # CreationTime, Descending by default
    assert names(SortBy="Name", SortOrder="Ascending") == ["alpha", "beta", "gamma"]
    assert names(SortBy="Status", SortOrder="Ascending") == ["alpha", "gamma", "beta"]
    assert names(EndpointNameEquals="one") == ["beta", "alpha"]
    assert names(VariantNameEquals="AllTraffic", NameContains="mm") == ["gamma"]
    assert names(StatusEquals="Updating") == ["beta"]
    created = lab.ic("beta")["CreationTime"]
    assert names(CreationTimeAfter=created) == ["gamma"]
    assert names(CreationTimeBefore=created) == ["alpha"]
    gamma_done = lab.ic("gamma")["LastModifiedTime"]  # before beta's update
    assert names(LastModifiedTimeAfter=gamma_done) == ["beta"]
    assert names(LastModifiedTimeBefore=gamma_done) == ["alpha"]
    first = lab.sm.list_inference_components(MaxResults=2, SortBy="Name")
    assert [c["InferenceComponentName"] for c in first["InferenceComponents"]] == ["gamma", "beta"]
    second = lab.sm.list_inference_components(
        MaxResults=2, SortBy="Name", NextToken=first["NextToken"]
    )
    assert [c["InferenceComponentName"] for c in second["InferenceComponents"]] == ["alpha"]
    assert "NextToken" not in second
    summary = first["InferenceComponents"][0]
    assert sorted(summary) == [
        "CreationTime",
        "EndpointArn",
        "EndpointName",
        "InferenceComponentArn",
        "InferenceComponentName",
        "InferenceComponentStatus",
        "LastModifiedTime",
        "VariantName",
    ]
    # The paginator boto3 users (deployspec among them) read every page with.
    pages = lab.sm.get_paginator("list_inference_components").paginate(
        EndpointNameEquals="one", PaginationConfig={"PageSize": 1}
    )
    assert [c["InferenceComponentName"] for p in pages for c in p["InferenceComponents"]] == [
        "beta",
        "alpha",
    ]
    assert (
        "Invalid pagination token"
        in _error(lambda: lab.sm.list_inference_components(NextToken="not-a-token"))["Message"]
    )


def test_tags_live_on_the_components_arn(lab: Lab) -> None:
    lab.model("m")
    lab.endpoint("ep", lab.config("hosting"))
    arn = lab.create(
        "chat",
        "ep",
        "m",
        Tags=[
            {"Key": "deployspec:managed-by", "Value": "deployspec"},
            {"Key": "deployspec:spec", "Value": "assistants"},
        ],
    )
    assert lab.sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "deployspec:managed-by", "Value": "deployspec"},
        {"Key": "deployspec:spec", "Value": "assistants"},
    ]
    lab.sm.add_tags(
        ResourceArn=arn,
        Tags=[{"Key": "deployspec:spec", "Value": "other"}, {"Key": "team", "Value": "ml"}],
    )
    lab.sm.delete_tags(ResourceArn=arn, TagKeys=["deployspec:managed-by"])
    assert lab.sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "deployspec:spec", "Value": "other"},
        {"Key": "team", "Value": "ml"},
    ]
    assert (
        "Could not find inference component"
        in _error(lambda: lab.sm.list_tags(ResourceArn=f"{ARN}:inference-component/nothing"))[
            "Message"
        ]
    )


def test_an_endpoint_update_moves_its_components_to_the_new_fleet(lab: Lab) -> None:
    lab.model("m")
    lab.endpoint("ep", lab.config("small", instance_type="ml.m5.large"))  # 2 vCPUs
    lab.create("ic", "ep", "m", copies=2, cpus=1)
    lab.wait()
    lab.runtime_copies("ic", 3)
    lab.wait()
    assert lab.copies("ic") == (3, 2)
    lab.config("large", instance_type="ml.m5.xlarge")  # 4 vCPUs
    lab.sm.update_endpoint(EndpointName="ep", EndpointConfigName="large")
    lab.wait()
    assert lab.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    assert (lab.status("ic"), lab.copies("ic")) == ("InService", (3, 3))


# --- against a sandbox server: real models, streaming, reset --------------------------------------


def _client(info: SandboxInfo, service: str) -> Any:
    env = control.environment(info)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    home = tmp_path_factory.mktemp("deployspec-home")
    info, started_now = control.start(0, transition_seconds=0.1, home=home)
    assert started_now
    yield info
    assert control.stop(home) is True


@pytest.fixture(scope="module")
def two_models() -> dict[str, Any]:
    """Two different real scikit-learn models: an iris classifier and a diabetes regressor."""
    import joblib
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    found: dict[str, Any] = {}
    for name, (data, estimator) in {
        "iris": (load_iris(), LogisticRegression(max_iter=500)),
        "diabetes": (load_diabetes(), LinearRegression()),
    }.items():
        fitted = estimator.fit(data.data, data.target)
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        samples = [list(map(float, data.data[i])) for i in (0, 60, 120)]
        found[name] = {
            "archive": tar_gz(
                {"model.joblib": buffer.getvalue(), "code/inference.py": JOBLIB_SCRIPT.encode()}
            ),
            "samples": samples,
            "expected": fitted.predict(samples).tolist(),
        }
    return found


def _until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox did not get there in time")
        time.sleep(0.1)


def test_components_answer_with_their_own_real_models_streamed_too_until_reset(
    server: SandboxInfo, two_models: dict[str, Any]
) -> None:
    sm, runtime, s3 = (_client(server, s) for s in ("sagemaker", "sagemaker-runtime", "s3"))
    s3.create_bucket(Bucket=BUCKET)
    for name, model in two_models.items():
        s3.put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=model["archive"])
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
            },
        )
    sm.create_endpoint_config(
        EndpointConfigName="shared",
        ExecutionRoleArn=ROLE,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
                "ManagedInstanceScaling": {
                    "Status": "ENABLED",
                    "MinInstanceCount": 0,
                    "MaxInstanceCount": 2,
                },
            }
        ],
    )
    sm.create_endpoint(EndpointName="shared", EndpointConfigName="shared")
    _until(lambda: sm.describe_endpoint(EndpointName="shared")["EndpointStatus"] == "InService")
    for name in two_models:
        sm.create_inference_component(
            InferenceComponentName=name,
            EndpointName="shared",
            VariantName="AllTraffic",
            Specification={
                "ModelName": name,
                "ComputeResourceRequirements": {
                    "NumberOfCpuCoresRequired": 1,
                    "MinMemoryRequiredInMb": 1024,
                },
            },
            RuntimeConfig={"CopyCount": 1},
        )

    def in_service(name: str) -> bool:
        described = sm.describe_inference_component(InferenceComponentName=name)
        return bool(described["InferenceComponentStatus"] == "InService")

    _until(lambda: all(in_service(name) for name in two_models))
    for name, model in two_models.items():
        answer = runtime.invoke_endpoint(
            EndpointName="shared",
            InferenceComponentName=name,
            Body=json.dumps(model["samples"]),
            ContentType="application/json",
            Accept="application/json",
        )
        assert answer["InvokedProductionVariant"] == "AllTraffic"
        assert json.loads(answer["Body"].read()) == pytest.approx(model["expected"])
    streamed = runtime.invoke_endpoint_with_response_stream(
        EndpointName="shared",
        InferenceComponentName="iris",
        Body=json.dumps(two_models["iris"]["samples"]),
        ContentType="application/json",
    )
    parts = [event["PayloadPart"]["Bytes"] for event in streamed["Body"]]
    assert json.loads(b"".join(parts)) == two_models["iris"]["expected"]
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(EndpointName="shared", Body=b"[]", ContentType="application/json")
    assert missing.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": inference_components.HEADER_REQUIRED,
    }
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint_with_response_stream(
            EndpointName="shared",
            InferenceComponentName="nothing",
            Body=b"[]",
            ContentType="application/json",
        )
    assert unknown.value.response["Error"]["Message"] == (
        "Inference component nothing is not present within endpoint shared."
    )

    control.FaultClient(server).reset()
    assert sm.list_inference_components()["InferenceComponents"] == []
    with pytest.raises(ClientError, match="Could not find inference component"):
        sm.describe_inference_component(InferenceComponentName="iris")


def test_a_component_name_on_an_endpoint_of_models_is_refused(hosted: Lab) -> None:
    lab = hosted
    lab.model("m")
    lab.sm.create_endpoint_config(
        EndpointConfigName="models",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    lab.endpoint("plain", "models")
    assert lab.invoke("plain", None) == {"model": "m"}
    assert _error(lambda: lab.invoke("plain", "chat")) == {
        "Code": "ValidationError",
        "Message": inference_components.HEADER_NOT_ALLOWED,
    }
