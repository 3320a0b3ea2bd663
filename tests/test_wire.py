"""Every field a resource sends is in its request, and so in its content name (wire.py).

A field added to a resource kind and forgotten in its request would keep the old name: state
would find the old resource under it and the change would be silently ignored. These tests
change each field of each kind, nested ones included, and check that the request changes,
unless the field is declared display-only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from deployspec.naming import content_name
from deployspec.resources import (
    AsyncInference,
    ComputeRequirements,
    DataCapture,
    EndpointConfig,
    InferenceComponent,
    ManagedInstanceScaling,
    Model,
    ServerlessConfig,
    Variant,
    Vpc,
)
from deployspec.wire import (
    DISPLAY_ONLY,
    endpoint_config_request,
    inference_component_specification,
    model_request,
)

MODEL = Model(
    name="m",
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
    model_data_url="s3://bucket/prefix/model.tar.gz",
    environment={"A": "1"},
    execution_role_arn="arn:aws:iam::123456789012:role/r",
    network_isolation=False,
    vpc=Vpc(("subnet-1",), ("sg-1",)),
    arn="arn:aws:sagemaker:us-east-1:123456789012:model/m",
    sensitive_environment=("A",),
    model_data_source="s3://bucket/prefix/weights/" + "a" * 64 + "/",
)
# A Model Registry version: its request holds the package and the environment alone.
PACKAGE = Model(
    name="m",
    image="",
    model_data_url=None,
    environment={"A": "1"},
    execution_role_arn="arn:aws:iam::123456789012:role/r",
    model_package_name="arn:aws:sagemaker:us-east-1:123456789012:model-package/group/1",
)
REALTIME = EndpointConfig(
    name="c",
    variants=(
        Variant(
            model_name="m",
            instance_type="ml.g5.xlarge",
            initial_instance_count=1,
            volume_size_gb=4,
            startup_health_check_timeout=600,
            model_data_download_timeout=900,
            inference_ami_version="al2-ami-sagemaker-inference-gpu-3-1",
            routing_strategy="LEAST_OUTSTANDING_REQUESTS",
        ),
    ),
    data_capture=DataCapture("s3://bucket/capture", 10),
    arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c",
    async_inference=AsyncInference(
        "s3://bucket/out/",
        "s3://bucket/failed/",
        "arn:aws:sns:us-east-1:123456789012:done",
        "arn:aws:sns:us-east-1:123456789012:failed",
        4,
    ),
)
SERVERLESS = EndpointConfig(
    name="c",
    variants=(
        Variant(model_name="m", serverless=ServerlessConfig(2048, 5, provisioned_concurrency=1)),
    ),
)
# Two production variants and a shadow: every field of each is sent, in its own list.
CURRENT = Variant("m", "current", None, "ml.m5.large", 2, 8, 90.0)
CHALLENGER = Variant("m2", "challenger", None, "ml.c5.large", 1, 4, 10.0)
SHADOW = Variant("m3", "shadow", None, "ml.m5.xlarge", 1, 16, 0.5)
VARIANTS = EndpointConfig(name="c", variants=(CURRENT, CHALLENGER), shadow_variants=(SHADOW,))
# An inference-component endpoint's config: a model-less variant, SageMaker scaling its
# instances, and the role its components run with.
COMPONENTS = EndpointConfig(
    name="c",
    variants=(
        Variant(
            model_name=None,
            instance_type="ml.g5.12xlarge",
            initial_instance_count=1,
            routing_strategy="LEAST_OUTSTANDING_REQUESTS",
            managed_scaling=ManagedInstanceScaling(0, 2),
        ),
    ),
    execution_role_arn="arn:aws:iam::123456789012:role/r",
)
COMPONENT = InferenceComponent(
    name="assistants-chat",
    endpoint_name="assistants",
    model_name="assistants-0123456789",
    compute=ComputeRequirements(16384, cpu_cores=4.0, accelerators=2.0, max_memory_mb=32768),
    startup_health_check_timeout=600,
    model_data_download_timeout=900,
    copy_count=1,
    status="InService",
    arn="arn:aws:sagemaker:us-east-1:123456789012:inference-component/assistants-chat",
    current_copy_count=1,
)
ADAPTER = InferenceComponent(
    name="assistants-chat-lora",
    endpoint_name="assistants",
    base_component="assistants-chat",
    artifact_url="s3://bucket/prefix/" + "b" * 64 + "/model.tar.gz",
)


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "EXTRA": "1"}
    if isinstance(value, tuple):
        return (*value, "x")
    raise AssertionError(f"no way to change {value!r}: extend _changed for this type")


def _variations(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(field path, a copy of `value` with that one field changed) for every leaf field."""
    out: list[tuple[str, Any]] = []
    skip = DISPLAY_ONLY.get(type(value).__name__, frozenset())
    for field in dataclasses.fields(value):
        if field.name in skip:
            continue
        current = getattr(value, field.name)
        where = f"{path}{type(value).__name__}.{field.name}"
        if current is None or current == ():
            continue  # another sample sets it: test_every_field_is_checked says so
        if dataclasses.is_dataclass(current):
            for inner, changed in _variations(current, f"{where} > "):
                out.append((inner, dataclasses.replace(value, **{field.name: changed})))
        elif isinstance(current, tuple) and current and dataclasses.is_dataclass(current[0]):
            # A list of variants: each field of each entry, the others left as they are.
            for index, item in enumerate(current):
                for inner, changed in _variations(item, f"{where}[{index}] > "):
                    items = (*current[:index], changed, *current[index + 1 :])
                    out.append((inner, dataclasses.replace(value, **{field.name: items})))
        else:
            out.append((where, dataclasses.replace(value, **{field.name: _changed(current)})))
    return out


CASES = [
    *((path, model_request, MODEL, changed) for path, changed in _variations(MODEL)),
    *(
        (path, model_request, PACKAGE, changed)
        for path, changed in _variations(PACKAGE)
        if path in ("Model.model_package_name", "Model.environment")
    ),
    *(
        (path, endpoint_config_request, REALTIME, changed)
        for path, changed in _variations(REALTIME)
    ),
    *(
        (path, endpoint_config_request, SERVERLESS, changed)
        for path, changed in _variations(SERVERLESS)
        if "serverless" in path
    ),
    *(
        (path, endpoint_config_request, VARIANTS, changed)
        for path, changed in _variations(VARIANTS)
    ),
    *(
        (path, endpoint_config_request, COMPONENTS, changed)
        for path, changed in _variations(COMPONENTS)
    ),
    *(
        (path, inference_component_specification, COMPONENT, changed)
        for path, changed in _variations(COMPONENT)
    ),
    *(
        (path, inference_component_specification, ADAPTER, changed)
        for path, changed in _variations(ADAPTER)
    ),
]
SAMPLES = {
    id(MODEL): "model",
    id(PACKAGE): "package",
    id(REALTIME): "realtime",
    id(SERVERLESS): "serverless",
    id(COMPONENTS): "components-config",
    id(COMPONENT): "component",
    id(ADAPTER): "adapter",
}


@pytest.mark.parametrize(
    ("path", "request_of", "base", "changed"),
    CASES,
    ids=[f"{SAMPLES.get(id(c[2]), 'variants')}: {c[0]}" for c in CASES],
)
def test_every_field_changes_the_request_and_the_name(
    path: str, request_of: Any, base: Any, changed: Any
) -> None:
    assert request_of(changed) != request_of(base), f"{path} is not sent: add it to wire.py"
    assert content_name("spec", request_of(changed)) != content_name("spec", request_of(base))


def test_display_only_fields_do_not_change_the_name() -> None:
    other = dataclasses.replace(MODEL, name="other", arn=None, sensitive_environment=())
    assert model_request(other) == model_request(MODEL)
    assert endpoint_config_request(dataclasses.replace(REALTIME, name="o", arn=None)) == (
        endpoint_config_request(REALTIME)
    )
    # What SageMaker reports back, and the fields beside the Specification, leave it as it is:
    # the planner compares a live component's specification with this same body.
    live = dataclasses.replace(
        COMPONENT, status="Updating", failure_reason="x", arn=None, current_copy_count=3
    )
    assert inference_component_specification(live) == inference_component_specification(COMPONENT)
    moved = dataclasses.replace(COMPONENT, copy_count=4, endpoint_name="e", variant_name="v")
    assert inference_component_specification(moved) == (
        inference_component_specification(COMPONENT)
    )


def test_every_field_is_checked() -> None:
    """Each field of each kind is changed by some case above (the samples leave none unset)."""
    # "EndpointConfig.variants[1]" checks the field EndpointConfig.variants.
    checked = {part.split("[")[0] for path, *_ in CASES for part in path.split(" > ")}
    for kind in (
        Model,
        EndpointConfig,
        Variant,
        ServerlessConfig,
        DataCapture,
        Vpc,
        AsyncInference,
        ManagedInstanceScaling,
        InferenceComponent,
        ComputeRequirements,
    ):
        skip = DISPLAY_ONLY.get(kind.__name__, frozenset())
        for field in dataclasses.fields(kind):
            if field.name not in skip:
                assert f"{kind.__name__}.{field.name}" in checked, f"give a sample {field.name}"


def test_production_variants_keep_their_order_and_the_shadow_has_its_own_list() -> None:
    request = endpoint_config_request(VARIANTS)
    assert [v["VariantName"] for v in request["ProductionVariants"]] == ["current", "challenger"]
    assert request["ProductionVariants"][1] == {
        "VariantName": "challenger",
        "ModelName": "m2",
        "InitialVariantWeight": 10.0,
        "InstanceType": "ml.c5.large",
        "InitialInstanceCount": 1,
        "VolumeSizeInGB": 4,
    }
    assert [v["VariantName"] for v in request["ShadowProductionVariants"]] == ["shadow"]
    assert request["ShadowProductionVariants"][0]["ModelName"] == "m3"
    # No shadow: no empty list either (SageMaker refuses one).
    assert "ShadowProductionVariants" not in endpoint_config_request(REALTIME)


@pytest.mark.parametrize(
    "moved",
    [
        dataclasses.replace(VARIANTS, variants=(CHALLENGER, CURRENT)),
        dataclasses.replace(VARIANTS, variants=(CURRENT,), shadow_variants=(CHALLENGER, SHADOW)),
        dataclasses.replace(VARIANTS, variants=(CURRENT, CHALLENGER, SHADOW), shadow_variants=()),
        dataclasses.replace(VARIANTS, shadow_variants=()),
    ],
    ids=["production-order", "production-to-shadow", "shadow-to-production", "shadow-removed"],
)
def test_the_order_and_the_list_of_a_variant_are_part_of_the_name(moved: EndpointConfig) -> None:
    """The same variants in another order or another list are another request: the first
    production variant is what SageMaker reports first, and a shadow gets no traffic of its
    own."""
    assert content_name("spec", endpoint_config_request(moved)) != content_name(
        "spec", endpoint_config_request(VARIANTS)
    )


def test_an_inference_component_endpoints_config_and_components_are_sent_as_aws_wants() -> None:
    """No ModelName on the variant (AWS: "Inference Components are not supported in this
    Endpoint" otherwise), ManagedInstanceScaling enabled, the role on the config; a
    component's specification names its model, an adapter's its base and archive alone."""
    request = endpoint_config_request(COMPONENTS)
    assert request == {
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "InitialVariantWeight": 1.0,
                "InstanceType": "ml.g5.12xlarge",
                "InitialInstanceCount": 1,
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
                "ManagedInstanceScaling": {
                    "Status": "ENABLED",
                    "MinInstanceCount": 0,
                    "MaxInstanceCount": 2,
                },
            }
        ],
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
    }
    assert "ExecutionRoleArn" not in endpoint_config_request(REALTIME)
    assert inference_component_specification(COMPONENT) == {
        "ModelName": "assistants-0123456789",
        "ComputeResourceRequirements": {
            "MinMemoryRequiredInMb": 16384,
            "NumberOfCpuCoresRequired": 4.0,
            "NumberOfAcceleratorDevicesRequired": 2.0,
            "MaxMemoryRequiredInMb": 32768,
        },
        "StartupParameters": {
            "ModelDataDownloadTimeoutInSeconds": 900,
            "ContainerStartupHealthCheckTimeoutInSeconds": 600,
        },
    }
    assert inference_component_specification(ADAPTER) == {
        "BaseInferenceComponentName": "assistants-chat",
        "Container": {"ArtifactUrl": ADAPTER.artifact_url},
    }
