"""The SageMaker request bodies of each content-named resource kind, as plain data.

Contract: `model_request(model)` and `endpoint_config_request(config)` are the CreateModel and
CreateEndpointConfig requests the gateway sends (aws.py), without the resource's own name and
its tags, which the gateway adds. They are pure. `desired` names each resource by the hash of
exactly this body (`content_name`), so whatever is sent is hashed, and a field that reaches
SageMaker cannot change without the name changing: the name of an existing resource says it
holds this content. Fields that are never sent (an ARN read back, which environment keys are
secret) are listed in DISPLAY_ONLY; tests/test_wire.py changes every other field of every kind
and checks that the request, and so the name, changes. A registry model (`model_package_name`,
the version's ARN) sends ModelPackageName and its environment alone: the image and the model
data are the package's, and the version is in the name, so a newer version is a new model.
An inference-component endpoint's variant sends no ModelName (AWS refuses one there) and its
ManagedInstanceScaling; its config sends ExecutionRoleArn. `inference_component_specification`
is the Specification of CreateInferenceComponent and UpdateInferenceComponent: components are
not content-named (their name is stable, their specification is updated in place), but what
the gateway sends and what the planner compares against the live one are this one body.
"""

from __future__ import annotations

from typing import Any

from .resources import AsyncInference, EndpointConfig, InferenceComponent, Model, Variant

# Attributes of the resource dataclasses that are not part of any request, by class name.
DISPLAY_ONLY: dict[str, frozenset[str]] = {
    "Model": frozenset({"name", "arn", "sensitive_environment"}),
    "EndpointConfig": frozenset({"name", "arn"}),
    # The endpoint, variant and copy count are CreateInferenceComponent's other fields (the
    # copy count RuntimeConfig's), not its Specification; the rest is read from SageMaker.
    "InferenceComponent": frozenset(
        {
            "name",
            "endpoint_name",
            "variant_name",
            "copy_count",
            "status",
            "failure_reason",
            "arn",
            "current_copy_count",
        }
    ),
}


def model_request(model: Model) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": model.image, "Environment": dict(model.environment)}
    if model.model_data_url is not None:
        container["ModelDataUrl"] = model.model_data_url
    if model.model_data_source is not None:
        container["ModelDataSource"] = {
            "S3DataSource": {
                "S3Uri": model.model_data_source,
                "S3DataType": "S3Prefix",
                "CompressionType": "None",
            }
        }
    if model.multi_model:
        container["Mode"] = "MultiModel"
    if model.model_package_name is not None:
        # A registry version brings its image and model data (its InferenceSpecification);
        # the container names the package alone, as the SageMaker SDK's ModelPackage does.
        container = {
            "ModelPackageName": model.model_package_name,
            "Environment": dict(model.environment),
        }
    request: dict[str, Any] = {
        "PrimaryContainer": container,
        "ExecutionRoleArn": model.execution_role_arn,
        "EnableNetworkIsolation": model.network_isolation,
    }
    if model.vpc is not None:
        request["VpcConfig"] = {
            "Subnets": list(model.vpc.subnets),
            "SecurityGroupIds": list(model.vpc.security_groups),
        }
    return request


def variant_request(variant: Variant) -> dict[str, Any]:
    request: dict[str, Any] = {"VariantName": variant.variant_name}
    if variant.model_name is not None:  # None: its inference components name the models
        request["ModelName"] = variant.model_name
    request["InitialVariantWeight"] = variant.initial_weight
    if variant.serverless is not None:
        serverless: dict[str, int] = {
            "MemorySizeInMB": variant.serverless.memory_mb,
            "MaxConcurrency": variant.serverless.max_concurrency,
        }
        if variant.serverless.provisioned_concurrency is not None:
            serverless["ProvisionedConcurrency"] = variant.serverless.provisioned_concurrency
        request["ServerlessConfig"] = serverless
    if variant.instance_type is not None:
        request["InstanceType"] = variant.instance_type
    if variant.initial_instance_count is not None:
        request["InitialInstanceCount"] = variant.initial_instance_count
    if variant.volume_size_gb is not None:
        request["VolumeSizeInGB"] = variant.volume_size_gb
    if variant.startup_health_check_timeout is not None:
        request["ContainerStartupHealthCheckTimeoutInSeconds"] = (
            variant.startup_health_check_timeout
        )
    if variant.model_data_download_timeout is not None:
        request["ModelDataDownloadTimeoutInSeconds"] = variant.model_data_download_timeout
    if variant.inference_ami_version is not None:
        request["InferenceAmiVersion"] = variant.inference_ami_version
    if variant.routing_strategy is not None:
        request["RoutingConfig"] = {"RoutingStrategy": variant.routing_strategy}
    if variant.managed_scaling is not None:
        request["ManagedInstanceScaling"] = {
            "Status": "ENABLED",
            "MinInstanceCount": variant.managed_scaling.min_instance_count,
            "MaxInstanceCount": variant.managed_scaling.max_instance_count,
        }
    return request


def endpoint_config_request(config: EndpointConfig) -> dict[str, Any]:
    request: dict[str, Any] = {"ProductionVariants": [variant_request(v) for v in config.variants]}
    if config.shadow_variants:
        request["ShadowProductionVariants"] = [variant_request(v) for v in config.shadow_variants]
    if config.data_capture is not None:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": config.data_capture.sampling_percent,
            "DestinationS3Uri": config.data_capture.destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    if config.async_inference is not None:
        request["AsyncInferenceConfig"] = async_inference_request(config.async_inference)
    if config.execution_role_arn is not None:
        request["ExecutionRoleArn"] = config.execution_role_arn
    return request


def inference_component_specification(component: InferenceComponent) -> dict[str, Any]:
    """InferenceComponentSpecification: a model's component names its model, what each copy
    reserves and its start-up timeouts; an adapter names its base component (its IC name)
    and its archive, and runs on the base's copies (no compute of its own)."""
    spec: dict[str, Any] = {}
    if component.model_name is not None:
        spec["ModelName"] = component.model_name
    if component.base_component is not None:
        spec["BaseInferenceComponentName"] = component.base_component
    if component.artifact_url is not None:
        spec["Container"] = {"ArtifactUrl": component.artifact_url}
    if component.compute is not None:
        compute = component.compute
        required: dict[str, Any] = {"MinMemoryRequiredInMb": compute.min_memory_mb}
        if compute.cpu_cores is not None:
            required["NumberOfCpuCoresRequired"] = compute.cpu_cores
        if compute.accelerators is not None:
            required["NumberOfAcceleratorDevicesRequired"] = compute.accelerators
        if compute.max_memory_mb is not None:
            required["MaxMemoryRequiredInMb"] = compute.max_memory_mb
        spec["ComputeResourceRequirements"] = required
    startup: dict[str, int] = {}
    if component.model_data_download_timeout is not None:
        startup["ModelDataDownloadTimeoutInSeconds"] = component.model_data_download_timeout
    if component.startup_health_check_timeout is not None:
        startup["ContainerStartupHealthCheckTimeoutInSeconds"] = (
            component.startup_health_check_timeout
        )
    if startup:
        spec["StartupParameters"] = startup
    return spec


def async_inference_request(settings: AsyncInference) -> dict[str, Any]:
    output: dict[str, Any] = {"S3OutputPath": settings.output_path}
    if settings.failure_path is not None:
        output["S3FailurePath"] = settings.failure_path
    topics = {
        key: value
        for key, value in (
            ("SuccessTopic", settings.success_topic),
            ("ErrorTopic", settings.error_topic),
        )
        if value is not None
    }
    if topics:
        output["NotificationConfig"] = topics
    request: dict[str, Any] = {"OutputConfig": output}
    if settings.max_concurrent_invocations_per_instance is not None:
        request["ClientConfig"] = {
            "MaxConcurrentInvocationsPerInstance": settings.max_concurrent_invocations_per_instance
        }
    return request
