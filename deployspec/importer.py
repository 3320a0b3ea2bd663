"""`deployspec import ENDPOINT`: a spec written from a live endpoint, for `apply --adopt`.

Contract: `import_endpoint(gateway, name)` reads the endpoint with read calls only
(DescribeEndpoint, its config and each model its variants serve, whole and as deployspec's
types; the endpoint's tags; each real-time variant's Application Auto Scaling target and
policies) and returns `Imported`: the text of a deployment.yaml that `validate` accepts, and
notes for the user. The spec asks for exactly what the endpoint runs wherever a spec can say it,
so that `plan --adopt` adopts an endpoint of one variant in place (state.py: only deployspec's
tags are added); the notes and the YAML's header say what to review and what could not be
imported as it is, and `Imported.in_place` whether adoption will be in place (the spec is loaded
and built back, as plan will, and compared with the live config and models).

- An endpoint of one production variant is written in the one-variant form (`model:` and
  `serverless:` or `realtime:`). Several production variants, or one and a shadow, are written
  as `variants:` (each with its name, weight and `realtime:` or `serverless:`, autoscaling per
  variant) and `shadow:`; a model several variants serve is the top-level `model:` they share,
  every other variant has its own `model:`. Such an endpoint is never adopted in place: adopting
  it creates deployspec's own models and config of the same content.
- The image becomes `framework`/`version` (and `py_version` or `base_framework_version` where
  the tables' defaults give another image) when the SDK's tables give exactly that image for the
  instance types of the variants serving it (images.framework_of_image), else
  `framework: custom` with `image`.
- The artifact stays its S3 URI. The inference code stays where the model has it (in code/ of
  that archive, or in the sourcedir.tar.gz an s3:// SAGEMAKER_SUBMIT_DIRECTORY names): a spec's
  `entry_point` is a local file deployspec packages into an archive it builds, which an s3://
  archive is not, so SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY stay in `env:`, as the
  model has them. SAGEMAKER_REGION, which deployspec sets itself, maps back to `region:`.
- An environment value that looks secret (secrets.is_secret) is never written: it becomes an SSM
  reference (`{ssm: /<endpoint>/<KEY>}`, `/<endpoint>/<variant>/<KEY>` in a variant's own model)
  whose parameter the user must create with the value.
- User tags are imported; deployspec's own (`deployspec:`) and AWS's (`aws:`) never are.
- A model created from a Model Registry version (a container of ModelPackageName and
  Environment alone, the name a version's ARN) becomes `package: <ARN>`, its `framework` the
  one the SDK's tables give for the package's image (DescribeModelPackage), else custom. A
  package named otherwise (an unversioned package's name), or with an image or model data of
  the container's own beside it, is refused, named.

An endpoint of inference components (its config's variant names no model) is refused first, on
its own: a spec expresses one (`components:`), but import does not read components back yet.
Any other endpoint whose shape a spec cannot express yet is refused with an UnsupportedShapeError
naming everything it has (`config_shape`, `model_shape`, `scaling_shape`): inference components,
several shadow variants or a shadow beside several production variants, a serverless variant
beside others, several containers, multi-model mode, KMS keys, models of different execution
roles, and any other attribute deployspec would not send. `unexpressed(config, model)` is the
same check for adoption in place. Nothing here prints.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DeployspecError, SpecError, UnsupportedShapeError
from .resources import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    TAG_SPEC,
    VARIANT_NAME,
    EndpointConfig,
    Model,
    Scaling,
    Variant,
    scaling_resource_id,
    without_aws_tags,
)
from .secrets import is_secret

if TYPE_CHECKING:
    from .aws import Gateway
    from .desired import Desired

# deployspec's own tag keys (spec.RESERVED_TAG_PREFIX), never a user's.
_OWN_TAG_PREFIX = "deployspec:"
# spec.MAX_USER_TAGS: SageMaker's 50 tags per resource less deployspec's own.
_MAX_USER_TAGS = 45
# Set by deployspec itself (desired.container_environment) to the deployment's region.
_REGION_ENV = "SAGEMAKER_REGION"
# The script the framework containers run, and where they look for it inside model.tar.gz
# (desired.py).
_PROGRAM = "SAGEMAKER_PROGRAM"
_CODE_IN_ARCHIVE = "/opt/ml/model/code"
# The defaults the spec gives autoscaling cooldowns (spec.Autoscaling).
_SCALE_IN_DEFAULT, _SCALE_OUT_DEFAULT = 300, 60
_INVOCATIONS = "SageMakerVariantInvocationsPerInstance"
_OUR_POLICY = "deployspec-invocations"


@dataclass(frozen=True)
class Imported:
    name: str
    text: str  # the deployment.yaml
    notes: tuple[str, ...]  # what to review, what could not be imported as it is
    in_place: bool  # `apply --adopt` adds only tags: the spec's model and config are the live ones
    managed: bool  # deployspec manages the endpoint already (for this spec): no --adopt needed
    config_name: str
    model_name: str  # the model the endpoint serves; its models, comma-separated, if several
    model_names: tuple[str, ...] = ()  # each model the endpoint's variants serve, once


# ---- what a spec cannot express -----------------------------------------------------------


def _set(value: object) -> bool:
    """An attribute counts only when it holds something (AWS may report false or empty)."""
    return value not in (None, False, "", [], {})


# Endpoint config attributes beyond the one variant and data capture deployspec sends.
_CONFIG_ATTRIBUTES = {
    "KmsKeyId": "a KMS key for the instances' storage volumes (KmsKeyId)",
    "ExplainerConfig": "an online explainer (ExplainerConfig)",
    "VpcConfig": "a VPC on the endpoint config (VpcConfig, for inference components)",
    "ExecutionRoleArn": "an execution role on the endpoint config (ExecutionRoleArn, for "
    "inference components)",
    "EnableNetworkIsolation": "network isolation on the endpoint config (EnableNetworkIsolation, "
    "for inference components)",
}
_CONFIG_KNOWN = frozenset(
    {
        "EndpointConfigName",
        "EndpointConfigArn",
        "CreationTime",
        "ProductionVariants",
        "ShadowProductionVariants",
        "DataCaptureConfig",
        "AsyncInferenceConfig",
    }
)
_ASYNC_OUTPUT_KNOWN = frozenset({"S3OutputPath", "S3FailurePath", "NotificationConfig"})
_ASYNC_TOPICS = frozenset({"SuccessTopic", "ErrorTopic"})
_ASYNC_ATTRIBUTES = {
    "KmsKeyId": "asynchronous answers encrypted with a KMS key (AsyncInferenceConfig KmsKeyId)",
    "IncludeInferenceResponseIn": "answers included in notifications "
    "(NotificationConfig.IncludeInferenceResponseIn)",
}
_VARIANT_KNOWN = frozenset(
    {
        "VariantName",
        "ModelName",
        "InitialInstanceCount",
        "InstanceType",
        "InitialVariantWeight",
        "VolumeSizeInGB",
        "ServerlessConfig",
    }
)
_VARIANT_ATTRIBUTES = {
    "AcceleratorType": "an Elastic Inference accelerator (AcceleratorType)",
    "ModelDataDownloadTimeoutInSeconds": "a model download timeout "
    "(ModelDataDownloadTimeoutInSeconds)",
    "ContainerStartupHealthCheckTimeoutInSeconds": "a container start-up timeout "
    "(ContainerStartupHealthCheckTimeoutInSeconds)",
    "CoreDumpConfig": "core dumps (CoreDumpConfig)",
    "EnableSSMAccess": "SSM access to the instances (EnableSSMAccess)",
    "ManagedInstanceScaling": "managed instance scaling (ManagedInstanceScaling)",
    "RoutingConfig": "a routing strategy (RoutingConfig)",
    "InferenceAmiVersion": "an inference AMI version (InferenceAmiVersion)",
    "CapacityReservationConfig": "a capacity reservation (CapacityReservationConfig)",
}
# Values that say what leaving the attribute out says.
_VARIANT_DEFAULTS: dict[str, object] = {
    "ManagedInstanceScaling": {"Status": "DISABLED"},
    "RoutingConfig": {"RoutingStrategy": "RANDOM"},
}
_SERVERLESS_KNOWN = frozenset({"MemorySizeInMB", "MaxConcurrency", "ProvisionedConcurrency"})
_CAPTURE_KNOWN = frozenset(
    {"EnableCapture", "InitialSamplingPercentage", "DestinationS3Uri", "CaptureOptions"}
)
_CAPTURE_ATTRIBUTES = {
    "KmsKeyId": "data capture encrypted with a KMS key (DataCaptureConfig.KmsKeyId)",
    "CaptureContentTypeHeader": "data capture content types "
    "(DataCaptureConfig.CaptureContentTypeHeader)",
}
_MODEL_KNOWN = frozenset(
    {
        "ModelName",
        "ModelArn",
        "CreationTime",
        "PrimaryContainer",
        "Containers",
        "ExecutionRoleArn",
        "EnableNetworkIsolation",
        "VpcConfig",
        # Output only: SageMaker's instance recommendation for the model.
        "DeploymentRecommendation",
        # Only meaningful with several containers, which are named on their own.
        "InferenceExecutionConfig",
    }
)
_CONTAINER_KNOWN = frozenset(
    {"Image", "ModelDataUrl", "Environment", "Mode", "ModelDataSource", "ImageConfig"}
)
_CONTAINER_ATTRIBUTES = {
    "ContainerHostname": "a container host name (ContainerHostname)",
    "MultiModelConfig": "multi-model caching settings (MultiModelConfig)",
    "AdditionalModelDataSources": "additional model data sources (AdditionalModelDataSources)",
    "InferenceSpecificationName": "an inference specification (InferenceSpecificationName)",
}


def config_shape(data: Mapping[str, Any]) -> list[str]:
    """What an endpoint config (its whole description) holds that a spec cannot express."""
    variants: list[Mapping[str, Any]] = list(data.get("ProductionVariants") or [])
    shadows: list[Mapping[str, Any]] = list(data.get("ShadowProductionVariants") or [])
    found = _variants_shape(variants, shadows, _set(data.get("AsyncInferenceConfig")))
    found.extend(_extras(data, _CONFIG_KNOWN, _CONFIG_ATTRIBUTES))
    for variant in (*variants, *shadows):
        name = variant.get("VariantName")
        if not variant.get("ModelName"):
            found.append(f"inference components (variant {name} names no model)")
        extras = _extras(variant, _VARIANT_KNOWN, _VARIANT_ATTRIBUTES, _VARIANT_DEFAULTS)
        serverless = variant.get("ServerlessConfig")
        if isinstance(serverless, Mapping):
            extras.extend(f"ServerlessConfig.{k}" for k in _extras(serverless, _SERVERLESS_KNOWN))
        found.extend(f"variant {name}: {what}" for what in extras)
    queued = data.get("AsyncInferenceConfig")
    if isinstance(queued, Mapping) and _set(queued):
        output = queued.get("OutputConfig") or {}
        found.extend(_extras(output, _ASYNC_OUTPUT_KNOWN, _ASYNC_ATTRIBUTES))
        found.extend(
            _extras(output.get("NotificationConfig") or {}, _ASYNC_TOPICS, _ASYNC_ATTRIBUTES)
        )
        found.extend(_extras(queued, frozenset({"OutputConfig", "ClientConfig"})))
        if not output.get("S3OutputPath"):
            found.append("asynchronous inference without an output path (S3OutputPath)")
    capture = data.get("DataCaptureConfig")
    # Capture switched off (or reported empty) is what no capture says.
    if isinstance(capture, Mapping) and _set(capture) and capture.get("EnableCapture", True):
        modes = {str(o.get("CaptureMode")) for o in capture.get("CaptureOptions") or []}
        if modes != {"Input", "Output"}:
            shown = " and ".join(sorted(modes)) or "nothing"
            found.append(f"data capture of {shown} only (a spec captures requests and responses)")
        found.extend(_extras(capture, _CAPTURE_KNOWN, _CAPTURE_ATTRIBUTES))
    return found


def _variants_shape(
    variants: Sequence[Mapping[str, Any]], shadows: Sequence[Mapping[str, Any]], queued: bool
) -> list[str]:
    """The combinations of production and shadow variants a spec cannot express (those its
    validation refuses, as SageMaker's shadow tests and serverless endpoints do)."""
    found: list[str] = []

    def names(items: Sequence[Mapping[str, Any]]) -> str:
        return ", ".join(str(v.get("VariantName")) for v in items)

    if not variants:
        found.append("no production variant")
    serverless = [v for v in variants if _set(v.get("ServerlessConfig"))]
    if serverless and len(variants) > 1:
        found.append(
            f"a serverless variant ({names(serverless)}) beside other production variants (a "
            "spec's serverless variant is the endpoint's only one)"
        )
    weights = [v.get("InitialVariantWeight", 1.0) for v in variants]
    if len(variants) > 1 and all(w == 0 for w in weights):
        found.append("production variants all of weight 0 (in a spec some variant has traffic)")
    if len(shadows) > 1:
        found.append(f"{len(shadows)} shadow variants ({names(shadows)}; a spec has at most one)")
    if shadows and len(variants) > 1:
        found.append(
            f"a shadow variant beside {len(variants)} production variants (a spec pairs its "
            "shadow with one)"
        )
    if shadows and serverless:
        found.append("a shadow variant beside a serverless variant")
    if any(not v.get("InstanceType") for v in shadows):
        found.append("a shadow variant without instances (a spec's shadow is real-time)")
    if shadows and queued:
        found.append("a shadow variant on an asynchronous endpoint")
    if shadows and any(
        str(v.get("InstanceType") or "").startswith("ml.inf1.") for v in (*variants, *shadows)
    ):
        found.append("a shadow test on Inf1 instances")
    return found


def model_shape(data: Mapping[str, Any]) -> list[str]:
    """What a model (its whole description) holds that a spec cannot express."""
    found: list[str] = []
    containers: list[Mapping[str, Any]] = list(data.get("Containers") or [])
    if not containers and isinstance(data.get("PrimaryContainer"), Mapping):
        containers = [data["PrimaryContainer"]]
    if len(containers) > 1:
        images = ", ".join(str(c.get("ContainerHostname") or c.get("Image")) for c in containers)
        found.append(f"{len(containers)} containers (an inference pipeline: {images})")
    elif not containers:
        found.append("no container")
    found.extend(_extras(data, _MODEL_KNOWN))
    for container in containers if len(containers) == 1 else []:
        if container.get("Mode", "SingleModel") != "SingleModel":
            found.append(f"multi-model mode (Mode {container.get('Mode')})")
        package = container.get("ModelPackageName")
        if package is not None:
            found.extend(_package_shape(container))
            continue
        found.extend(_extras(container, _CONTAINER_KNOWN, _CONTAINER_ATTRIBUTES))
        url = container.get("ModelDataUrl")
        source = container.get("ModelDataSource")
        if _set(source):
            s3 = source.get("S3DataSource") if isinstance(source, Mapping) else None
            plain = (
                isinstance(s3, Mapping)
                and set(s3) <= {"S3Uri", "S3DataType", "CompressionType"}
                and s3.get("S3DataType") == "S3Object"
                and s3.get("CompressionType") == "Gzip"
                and (url is None or s3.get("S3Uri") == url)
            )
            if not plain:
                found.append(
                    "model data that is not one model.tar.gz (ModelDataSource: an S3 prefix, "
                    "uncompressed data, or an access config)"
                )
        elif not url:
            found.append(
                "no model data (the image holds the model; a spec's model.artifacts names it)"
            )
        image_config = container.get("ImageConfig")
        if _set(image_config) and image_config != {"RepositoryAccessMode": "Platform"}:
            found.append("an image from a private registry (ImageConfig)")
    return found


def _package_shape(container: Mapping[str, Any]) -> list[str]:
    """What a container deployed from a model package holds beyond `package: <version ARN>`."""
    from .spec import PACKAGE_VERSION_ARN

    package = str(container.get("ModelPackageName"))
    found: list[str] = []
    if not re.fullmatch(PACKAGE_VERSION_ARN, package):
        found.append(
            f"a model package named {package} (ModelPackageName; a spec's package: is a "
            "version's ARN, or a group whose latest Approved version it deploys)"
        )
    extras = [k for k in container if k not in ("ModelPackageName", "Environment", "Mode")]
    if extras:
        found.append(
            f"a model package with container settings of its own beside it ({', '.join(extras)})"
        )
    return found


def scaling_shape(data: Mapping[str, Any] | None) -> list[str]:
    """What a variant's autoscaling (describe_whole "scaling") holds that a spec cannot
    express: a spec's autoscaling is one target-tracking policy on invocations per instance."""
    if data is None:
        return []
    found: list[str] = []
    targets: list[Mapping[str, Any]] = list(data.get("ScalableTargets") or [])
    for target in targets:
        if int(target.get("MinCapacity", 1)) < 1:
            found.append("autoscaling down to 0 instances (a spec's autoscaling.min is at least 1)")
        suspended = target.get("SuspendedState") or {}
        if any(bool(v) for v in suspended.values()):
            found.append("suspended autoscaling (SuspendedState)")
    policies: list[Mapping[str, Any]] = list(data.get("ScalingPolicies") or [])
    tracking = [p for p in policies if _is_invocations_policy(p)]
    tracking.sort(key=lambda p: p.get("PolicyName") != _OUR_POLICY)
    others = [p for p in policies if p not in tracking[:1]]
    if not tracking:
        found.append(
            "autoscaling without a target-tracking policy on invocations per instance "
            "(a spec's autoscaling is one)"
        )
    else:
        configuration = tracking[0].get("TargetTrackingScalingPolicyConfiguration") or {}
        if configuration.get("DisableScaleIn"):
            found.append(f"policy {tracking[0].get('PolicyName')} never scales in (DisableScaleIn)")
    if others:
        shown = ", ".join(f"{p.get('PolicyName')} ({_policy_kind(p)})" for p in others)
        found.append(f"autoscaling policies a spec cannot express: {shown}")
    return found


def unexpressed(config: Mapping[str, Any], model: Mapping[str, Any]) -> list[str]:
    """What a live config and its model (whole descriptions) hold beyond what a spec says."""
    return [
        *(f"config: {x}" for x in config_shape(config)),
        *(f"model: {x}" for x in model_shape(model)),
    ]


def _extras(
    data: Mapping[str, Any],
    known: frozenset[str],
    names: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> list[str]:
    named = names or {}
    usual = defaults or {}
    return [
        named.get(key, key)
        for key, value in data.items()
        if key not in known and _set(value) and usual.get(key) != value
    ]


def _is_invocations_policy(policy: Mapping[str, Any]) -> bool:
    configuration = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    metric = configuration.get("PredefinedMetricSpecification") or {}
    return (
        policy.get("PolicyType") == "TargetTrackingScaling"
        and metric.get("PredefinedMetricType") == _INVOCATIONS
        and not configuration.get("CustomizedMetricSpecification")
    )


def _policy_kind(policy: Mapping[str, Any]) -> str:
    configuration = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    metric = (configuration.get("PredefinedMetricSpecification") or {}).get(
        "PredefinedMetricType"
    ) or ("a custom metric" if configuration.get("CustomizedMetricSpecification") else None)
    kind = str(policy.get("PolicyType"))
    return f"{kind} on {metric}" if metric else kind


# ---- reading the endpoint -----------------------------------------------------------------


@dataclass(frozen=True)
class _Live:
    config: EndpointConfig
    models: tuple[Model, ...]  # each once, in the order its variants name them
    scalings: tuple[Scaling, ...]  # of the variants autoscaled
    tags: dict[str, str]
    status: str | None
    managed: bool
    # Model name -> the image of the Model Registry package it deploys (DescribeModelPackage).
    package_images: Mapping[str, str] = field(default_factory=dict)

    def package_image(self, model: Model) -> str | None:
        return self.package_images.get(model.name)

    @property
    def one_variant(self) -> bool:
        """Written in the one-variant form (`model:` and its capacity), as before variants."""
        return len(self.config.all_variants) == 1

    @property
    def model(self) -> Model:
        """The endpoint's one model (its first of several)."""
        return self.models[0]

    def model_of(self, variant: Variant) -> Model:
        return next((m for m in self.models if m.name == variant.model_name), self.models[0])

    def scaling_of(self, variant_name: str) -> Scaling | None:
        wanted = f"/variant/{variant_name}"
        return next((s for s in self.scalings if s.resource_id.endswith(wanted)), None)


def _read(gateway: Gateway, name: str) -> _Live:
    endpoint = gateway.describe_endpoint(name)
    if endpoint is None:
        raise DeployspecError(
            f"endpoint {name!r} does not exist in {gateway.region}",
            hint="check the name and the region (--region, --profile): "
            "`aws sagemaker list-endpoints` lists them",
        )
    config_data = gateway.describe_whole("endpoint_config", endpoint.config_name)
    if config_data is None:
        raise DeployspecError(
            f"endpoint {name} serves endpoint config {endpoint.config_name}, which was deleted: "
            "what the endpoint runs cannot be read back",
            hint="write the spec by hand (`deployspec init`), or recreate the config",
        )
    production: list[Mapping[str, Any]] = list(config_data.get("ProductionVariants") or [])
    if production and not any(v.get("ModelName") for v in production):
        # Its models are its components': a spec can hold them (components:), but import
        # does not read components back into one yet.
        raise UnsupportedShapeError(
            f"endpoint {name} hosts inference components (its config "
            f"{endpoint.config_name} names no model): import cannot express an endpoint of "
            "components yet",
            hint="write its spec by hand with realtime: and components: (a component per "
            "model, its compute and copies; examples/components/), and deploy that spec to "
            "an endpoint of its own; keep managing this one with the tool that made it",
        )
    problems = config_shape(config_data)
    entries: list[Mapping[str, Any]] = [
        *(config_data.get("ProductionVariants") or []),
        *(config_data.get("ShadowProductionVariants") or []),
    ]
    model_names = list(dict.fromkeys(str(v["ModelName"]) for v in entries if v.get("ModelName")))
    several = len(model_names) > 1
    roles: set[str] = set()
    for model_name in model_names:
        model_data = gateway.describe_whole("model", model_name)
        if model_data is None:
            raise DeployspecError(
                f"endpoint {name} serves model {model_name}, which was deleted: what it runs "
                "cannot be read back",
                hint="write the spec by hand (`deployspec init`), or recreate the model",
            )
        shape = model_shape(model_data)
        problems.extend(f"model {model_name}: {x}" if several else x for x in shape)
        roles.add(str(model_data.get("ExecutionRoleArn")))
    if len(roles) > 1:
        problems.append(
            f"models of {len(roles)} execution roles ({', '.join(sorted(roles))}; a spec has one "
            "role:)"
        )
    tags = gateway.list_tags(endpoint.arn) if endpoint.arn else {}
    owner = tags.get(TAG_SPEC) if tags.get(TAG_MANAGED_BY) == MANAGED_BY else None
    if owner is not None and owner != name:
        raise DeployspecError(
            f"endpoint {name} is managed by deployspec for spec {owner!r}, whose name is not "
            "the endpoint's",
            hint="a spec's name is its endpoint's: find that spec instead",
        )
    user_tags = _user_tags(tags)
    if len(user_tags) > _MAX_USER_TAGS:
        problems.append(f"{len(user_tags)} tags (a spec has at most {_MAX_USER_TAGS})")
    scaled: list[str] = []
    for variant in entries:
        if not variant.get("InstanceType"):
            continue
        variant_name = str(variant.get("VariantName"))
        scaling_data = gateway.describe_whole("scaling", scaling_resource_id(name, variant_name))
        shape = scaling_shape(scaling_data)
        problems.extend(f"variant {variant_name}: {x}" if len(entries) > 1 else x for x in shape)
        if scaling_data is not None:
            scaled.append(variant_name)
    if scaled and _set(config_data.get("AsyncInferenceConfig")):
        problems.append(
            "autoscaling of an asynchronous endpoint (a spec cannot express backlog-based "
            "scaling yet)"
        )
    if problems:
        raise UnsupportedShapeError(
            f"endpoint {name} cannot be imported: it has {'; '.join(problems)}",
            hint="a spec expresses one model, in one container, per variant: one real-time or "
            "serverless variant, up to 10 real-time ones, or one and a shadow; keep managing "
            "this endpoint with the tool that made it",
        )
    # The shape is one deployspec reads: as its own types, as plan compares them.
    config = gateway.describe_endpoint_config(endpoint.config_name)
    models = [gateway.describe_model(model_name) for model_name in model_names]
    found = [m for m in models if m is not None]
    if config is None or len(found) != len(models):
        raise DeployspecError(
            f"endpoint {name}'s config or a model was deleted while importing it"
            if several
            else f"endpoint {name}'s config or model was deleted while importing it"
        )
    scalings = (
        tuple(gateway.describe_scalings([scaling_resource_id(name, v) for v in scaled]))
        if scaled
        else ()
    )
    images: dict[str, str] = {}
    for model in found:
        if model.model_package_name is None:
            continue
        package = gateway.describe_whole("model_package", model.model_package_name) or {}
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
        images[model.name] = str(containers[0].get("Image") or "")
    return _Live(
        config,
        tuple(found),
        scalings,
        tags,
        endpoint.status,
        managed=owner == name,
        package_images=images,
    )


def _user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in without_aws_tags(dict(tags)).items() if not k.startswith(_OWN_TAG_PREFIX)
    }


# ---- writing the spec ---------------------------------------------------------------------


def import_endpoint(gateway: Gateway, name: str, *, now: datetime | None = None) -> Imported:
    region = gateway.region
    live = _read(gateway, name)
    notes: list[str] = []
    secrets: dict[str, str] = {}
    spec = _spec(name, region, live, notes, secrets)
    body = "\n".join(_yaml(spec)) + "\n"
    differences, in_place = _built_back(body, name, region, live, secrets)
    models = ", ".join(m.name for m in live.models)
    if live.status != "InService":
        notes.insert(
            0,
            f"endpoint {name} is {live.status}: the spec is of endpoint config "
            f"{live.config.name}, which it names now",
        )
    if live.managed:
        notes.insert(
            0,
            f"endpoint {name} is managed by deployspec already: plan this spec without --adopt",
        )
    elif differences and live.one_variant:
        notes.append(
            f"the spec's model and config differ from the live ones in {', '.join(differences)}: "
            "`apply --adopt` creates deployspec's own and updates the endpoint to them "
            f"({live.config.name} and {live.model.name} stay as they are)"
        )
    elif differences:
        notes.append(
            "the spec's models and config differ from the live ones in "
            f"{', '.join(differences)}: `apply --adopt` creates deployspec's own and updates "
            f"the endpoint to them ({live.config.name} and {models} stay as they are)"
        )
    elif not live.one_variant:
        notes.append(
            "the spec holds what the endpoint runs, but an endpoint of several variants is never "
            "adopted in place: `apply --adopt` creates deployspec's own models and config of "
            f"that content and updates the endpoint to them ({live.config.name} and {models} "
            "stay as they are)"
        )
    # A model several variants serve says the same of itself for each.
    notes = list(dict.fromkeys(notes))
    header = _header(name, region, live, notes, in_place, now or datetime.now(UTC))
    return Imported(
        name=name,
        text=header + body,
        notes=tuple(notes),
        in_place=in_place,
        managed=live.managed,
        config_name=live.config.name,
        model_name=models,
        model_names=tuple(m.name for m in live.models),
    )


def _spec(
    name: str, region: str, live: _Live, notes: list[str], secrets: dict[str, str]
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "region": region, "role": live.model.execution_role_arn}
    user_tags = _user_tags(live.tags)
    if user_tags:
        spec["tags"] = dict(sorted(user_tags.items()))
    if live.one_variant:
        _one_variant(spec, name, region, live, notes, secrets)
    else:
        _variants(spec, name, region, live, notes, secrets)
    capture = live.config.data_capture
    if capture is not None:
        spec["data_capture"] = {
            "destination": capture.destination,
            "sampling_percent": capture.sampling_percent,
        }
    queued = live.config.async_inference
    if queued is not None:
        spec["async"] = {
            key: value
            for key, value in (
                ("output", queued.output_path),
                ("failure", queued.failure_path),
                ("success_topic", queued.success_topic),
                ("error_topic", queued.error_topic),
                (
                    "max_concurrent_invocations_per_instance",
                    queued.max_concurrent_invocations_per_instance,
                ),
            )
            if value is not None
        }
    return spec


def _one_variant(
    spec: dict[str, Any],
    name: str,
    region: str,
    live: _Live,
    notes: list[str],
    secrets: dict[str, str],
) -> None:
    """`model:` and `serverless:` or `realtime:`: the form of one variant, named AllTraffic."""
    variant = live.config.all_variants[0]
    spec["model"] = _model_section(
        name,
        region,
        live.model,
        [variant.instance_type],
        notes,
        secrets,
        package_image=live.package_image(live.model),
    )
    scaling = live.scaling_of(variant.variant_name)
    key, capacity = _capacity(variant, scaling, notes)
    spec[key] = capacity
    if variant.variant_name != VARIANT_NAME:
        notes.append(
            f"the endpoint's variant is named {variant.variant_name}; a spec's is always "
            f"{VARIANT_NAME}: adopting creates deployspec's own config with that variant"
            + (" (and registers its autoscaling on it)" if scaling is not None else "")
        )
    if abs(variant.initial_weight - 1.0) > 1e-9:
        notes.append(
            f"variant {variant.variant_name} has weight {variant.initial_weight}; a spec's one "
            "variant has weight 1 (the same traffic: all of it)"
        )


def _variants(
    spec: dict[str, Any],
    name: str,
    region: str,
    live: _Live,
    notes: list[str],
    secrets: dict[str, str],
) -> None:
    """`variants:` (and `shadow:`): each production variant by name, with its weight and
    capacity; the model several variants serve is the top-level `model:` they share, every
    other variant has a `model:` of its own."""
    config = live.config
    shared, uses = Counter(v.model_name for v in config.all_variants).most_common(1)[0]
    top = shared if uses > 1 else None

    def label(model: Model) -> str:
        return f"model {model.name}: " if len(live.models) > 1 else ""

    def own_model(variant: Variant, model_key: str) -> dict[str, Any]:
        model = live.model_of(variant)
        return _model_section(
            name,
            region,
            model,
            [variant.instance_type],
            notes,
            secrets,
            model_key=model_key,
            parameters=f"/{name}/{variant.variant_name}",
            label=label(model),
            package_image=live.package_image(model),
        )

    if top is not None:
        model = next(m for m in live.models if m.name == top)
        types = [v.instance_type for v in config.all_variants if v.model_name == top]
        spec["model"] = _model_section(
            name,
            region,
            model,
            types,
            notes,
            secrets,
            label=label(model),
            package_image=live.package_image(model),
        )
    entries: list[dict[str, Any]] = []
    for index, variant in enumerate(config.variants):
        entry: dict[str, Any] = {"name": variant.variant_name, "weight": variant.initial_weight}
        if variant.model_name != top:
            entry["model"] = own_model(variant, f"variants[{index}].model")
        scaling = live.scaling_of(variant.variant_name)
        key, capacity = _capacity(variant, scaling, notes, f"variant {variant.variant_name}: ")
        entry[key] = capacity
        entries.append(entry)
    spec["variants"] = entries
    if not config.shadow_variants:
        return
    shadow, production = config.shadow_variants[0], config.variants[0]
    block: dict[str, Any] = {"name": shadow.variant_name}
    if shadow.model_name != top:
        block["model"] = own_model(shadow, "shadow.model")
    scaling = live.scaling_of(shadow.variant_name)
    block["realtime"] = _realtime(shadow, scaling, notes, f"shadow {shadow.variant_name}: ")
    spec["shadow"] = block
    if abs(shadow.initial_weight - production.initial_weight) > 1e-9:
        notes.append(
            f"shadow variant {shadow.variant_name} has weight {shadow.initial_weight}, its "
            f"production variant {production.variant_name} {production.initial_weight}: a "
            "spec's shadow has its production variant's weight (adopting creates deployspec's "
            "own config with that weight)"
        )


def _model_section(
    name: str,
    region: str,
    model: Model,
    instance_types: Sequence[str | None],
    notes: list[str],
    secrets: dict[str, str],
    *,
    model_key: str = "model",
    parameters: str | None = None,
    label: str = "",
    package_image: str | None = None,
) -> dict[str, Any]:
    """A model block for `model`, served on `instance_types` (None: serverless); for a model
    from the registry, `package: <ARN>` and the framework of the package's image."""
    from . import images

    if model.model_package_name is not None:
        return _package_section(
            name,
            region,
            model,
            instance_types,
            notes,
            secrets,
            model_key=model_key,
            parameters=parameters,
            label=label,
            image=package_image or "",
        )
    matches = [images.framework_of_image(model.image, region, t) for t in instance_types]
    match = matches[0] if all(m == matches[0] for m in matches) else None
    shown = " and ".join(dict.fromkeys(t or "serverless" for t in instance_types))
    section: dict[str, Any] = {}
    if match is not None and match.framework == "sklearn" and _PROGRAM not in model.environment:
        # A spec for that container must name its script; this model names none.
        match = None
        notes.append(
            f"{label}{model.image} is SageMaker's scikit-learn container, which needs an "
            f"inference script, and the model names none ({_PROGRAM}): it is written as "
            "framework: custom with that image"
        )
    elif match is None and any(m is not None for m in matches):
        notes.append(
            f"{label}the SageMaker SDK image tables give {model.image} for some of the instance "
            f"types serving it ({shown}), not all, in {region}: it is written as framework: "
            "custom with that image (the container's own handler contract applies)"
        )
    elif match is None:
        notes.append(
            f"{label}no SageMaker SDK image table gives {model.image} for {shown} in {region}: "
            "it is written as framework: custom with that image (the container's own handler "
            "contract applies)"
        )
    if match is not None:
        section["framework"] = match.framework
        section["version"] = match.version
        if match.py_version is not None:
            section["py_version"] = match.py_version
        if match.base_framework_version is not None:
            section["base_framework_version"] = match.base_framework_version
        if any(t is not None and t.startswith(("ml.inf", "ml.trn")) for t in instance_types):
            section["image"] = model.image  # validate asks Neuron instances to name theirs
    else:
        section["framework"] = "custom"
        section["image"] = model.image
    section["artifacts"] = model.model_data_url
    return _with_container_settings(
        section,
        name,
        region,
        model,
        notes,
        secrets,
        model_key=model_key,
        parameters=parameters,
        label=label,
    )


def _with_container_settings(
    section: dict[str, Any],
    name: str,
    region: str,
    model: Model,
    notes: list[str],
    secrets: dict[str, str],
    *,
    model_key: str,
    parameters: str | None,
    label: str,
) -> dict[str, Any]:
    """A model block's `env`, `network_isolation` and `vpc` from the live model, whatever its
    source (artifacts or a package)."""
    env = _environment(
        name,
        region,
        model,
        notes,
        secrets,
        model_key=model_key,
        parameters=parameters or f"/{name}",
        label=label,
    )
    if env:
        section["env"] = env
    if model.network_isolation:
        section["network_isolation"] = True
    if model.vpc is not None:
        section["vpc"] = {
            "subnets": list(model.vpc.subnets),
            "security_groups": list(model.vpc.security_groups),
        }
    return section


def _package_section(
    name: str,
    region: str,
    model: Model,
    instance_types: Sequence[str | None],
    notes: list[str],
    secrets: dict[str, str],
    *,
    model_key: str,
    parameters: str | None,
    label: str,
    image: str,
) -> dict[str, Any]:
    """`framework` (what the package's image is, for `invoke --prompt` and the GPU rules) and
    `package:`, the version deployed; the image and the model data stay the package's."""
    from . import images

    matches = {images.framework_of_image(image, region, t) for t in instance_types}
    match = next(iter(matches)) if len(matches) == 1 else None
    if match is None:
        notes.append(
            f"{label}no SageMaker SDK image table gives the image of package "
            f"{model.model_package_name} ({image or 'unknown'}): it is written as framework: "
            "custom (the container's own handler contract applies)"
        )
    section: dict[str, Any] = {
        "framework": match.framework if match is not None else "custom",
        "package": model.model_package_name,
    }
    return _with_container_settings(
        section,
        name,
        region,
        model,
        notes,
        secrets,
        model_key=model_key,
        parameters=parameters,
        label=label,
    )


def _capacity(
    variant: Variant, scaling: Scaling | None, notes: list[str], label: str = ""
) -> tuple[str, dict[str, Any]]:
    """("serverless" or "realtime", the block) of a variant."""
    if variant.serverless is None:
        return "realtime", _realtime(variant, scaling, notes, label)
    serverless: dict[str, Any] = {
        "memory_mb": variant.serverless.memory_mb,
        "max_concurrency": variant.serverless.max_concurrency,
    }
    if variant.serverless.provisioned_concurrency is not None:
        serverless["provisioned_concurrency"] = variant.serverless.provisioned_concurrency
    return "serverless", serverless


def _realtime(
    variant: Variant, scaling: Scaling | None, notes: list[str], label: str = ""
) -> dict[str, Any]:
    count = variant.initial_instance_count or 1
    realtime: dict[str, Any] = {"instance_type": variant.instance_type, "instance_count": count}
    if variant.volume_size_gb is not None:
        realtime["volume_size_gb"] = variant.volume_size_gb
    if scaling is None:
        return realtime
    auto: dict[str, Any] = {
        "min": scaling.min_capacity,
        "max": scaling.max_capacity,
        "target_invocations_per_instance": scaling.target_value,
    }
    for key, value, default in (
        ("scale_in_cooldown", scaling.scale_in_cooldown, _SCALE_IN_DEFAULT),
        ("scale_out_cooldown", scaling.scale_out_cooldown, _SCALE_OUT_DEFAULT),
    ):
        if value is None:
            notes.append(
                f"{label}autoscaling policy {scaling.policy_name} sets no "
                f"{key.replace('_', ' ')}: the spec's default ({default}s) is set by the first "
                "apply"
            )
        elif value != default:
            auto[key] = value
    if not scaling.min_capacity <= count <= scaling.max_capacity:
        # validate refuses a start outside the range the autoscaler keeps.
        realtime["instance_count"] = min(max(count, scaling.min_capacity), scaling.max_capacity)
        notes.append(
            f"{label}the config starts {count} instance(s), outside autoscaling "
            f"{scaling.min_capacity}-{scaling.max_capacity}: the spec starts "
            f"{realtime['instance_count']}"
        )
    realtime["autoscaling"] = auto
    return realtime


def _environment(
    name: str,
    region: str,
    model: Model,
    notes: list[str],
    secrets: dict[str, str],
    *,
    model_key: str = "model",
    parameters: str | None = None,
    label: str = "",
) -> dict[str, Any]:
    """The model block's env; each secret-looking value becomes an SSM reference under
    `parameters` (its value kept in `secrets` by desired.reference_key, for the build back)."""
    from .desired import reference_key

    env: dict[str, Any] = dict(sorted(model.environment.items()))
    if env.get(_REGION_ENV) == region:
        del env[_REGION_ENV]  # deployspec sets it to region: itself
    elif _REGION_ENV not in env:
        notes.append(
            f"{label}the model's environment has no {_REGION_ENV}, which deployspec always sets "
            "(to the region): its model differs from this one"
        )
    program = env.get(_PROGRAM)
    if isinstance(program, str):
        submitted = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
        where = (
            f"in the source archive {submitted}"
            if isinstance(submitted, str) and submitted.startswith("s3://")
            else f"in code/ of {model.model_data_url}"
            if submitted in (None, _CODE_IN_ARCHIVE)
            else f"in {submitted}"
        )
        notes.append(
            f"{label}the inference script {program} is {where}: it stays there, named by "
            "env SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY as the model has them "
            "(entry_point is a local file deployspec packages, and an s3:// archive is served "
            "as it is). To manage the code with deployspec, unpack the archive into a folder, "
            "set artifacts to it and entry_point to the script, and drop those two entries"
        )
    for key, value in list(env.items()):
        if isinstance(value, str) and is_secret(key, value):
            parameter = f"{parameters or f'/{name}'}/{key}"
            secrets[reference_key(model_key, key)] = value
            env[key] = {"ssm": parameter}
            notes.append(
                f"{label}env {key} looks secret: its value is not written; the spec reads it "
                f"from the SSM parameter {parameter}, which you must create with the live value "
                f"(aws ssm put-parameter --type SecureString --name {parameter} --value ...) or "
                "point elsewhere (if it is no secret, write the value instead)"
            )
    return env


def _built_back(
    body: str, name: str, region: str, live: _Live, secrets: Mapping[str, str]
) -> tuple[list[str], bool]:
    """Load the spec as `validate` does and build it as `plan` does, then compare with what
    runs: (the attributes in which deployspec's models, config or scaling would differ, whether
    adopting leaves the live config and models serving: for one variant, when nothing differs;
    for several, only when they are deployspec's own, the very ones the spec names)."""
    from .desired import build_desired
    from .spec import load_spec
    from .state import adoption_differences

    with tempfile.TemporaryDirectory(prefix="deployspec-import-") as folder:
        path = Path(folder) / "deployment.yaml"
        path.write_text(body, encoding="utf-8")
        try:
            loaded = load_spec(path)
        except SpecError as error:
            problems = "; ".join(d.format().replace(str(path), "spec") for d in error.diagnostics)
            raise DeployspecError(
                f"the spec written from endpoint {name} does not validate: {problems}",
                hint="this is a bug in `deployspec import`: please report it",
            ) from None
        desired = build_desired(
            loaded,
            region=region,
            role=live.model.execution_role_arn,
            resolved_env=secrets,
            # The spec names each package by the version the live model deploys.
            resolved_packages={
                key: spec.package for key, spec in loaded.spec.models.items() if spec.package
            },
        )
    if not live.one_variant:
        return _variant_differences(live, desired), desired.config.name == live.config.name
    differences = adoption_differences(live.config, live.model, desired)
    found = live.scaling_of(live.config.all_variants[0].variant_name)
    wanted = desired.scalings[0] if desired.scalings else None
    if wanted is not None and found is not None:
        differences.extend(_scaling_differences("scaling", wanted, found))
    return differences, not differences


def _scaling_differences(prefix: str, wanted: Scaling, found: Scaling) -> list[str]:
    return [
        f"{prefix}.{field}"
        for field in ("min_capacity", "max_capacity", "target_value")
        if getattr(wanted, field) != getattr(found, field)
    ]


def _variant_differences(live: _Live, desired: Desired) -> list[str]:
    """Where the built spec's variants, their models and autoscaling, and the rest of its
    config differ from the live ones (the models compared by content, not name)."""
    from .state import differing_fields

    live_variants, wanted_variants = live.config.all_variants, desired.config.all_variants
    if [v.variant_name for v in live_variants] != [v.variant_name for v in wanted_variants]:
        return ["config.variants"]
    out: list[str] = []
    for found, wanted in zip(live_variants, wanted_variants, strict=True):
        at = f"variants.{found.variant_name}"
        # (Never None here: import refuses endpoints of components, whose variants name none.)
        model = desired.model_named(wanted.model_name) if wanted.model_name else None
        if model is None:
            out.append(f"{at}.model")
        else:
            out.extend(f"{at}.model.{f}" for f in differing_fields(live.model_of(found), model))
        out.extend(
            f"{at}.{f.name}"
            for f in fields(Variant)
            if f.name != "model_name" and getattr(found, f.name) != getattr(wanted, f.name)
        )
        had, asked = live.scaling_of(found.variant_name), desired.scaling_of(wanted.variant_name)
        if (had is None) != (asked is None):
            out.append(f"{at}.scaling")
        elif had is not None and asked is not None:
            out.extend(_scaling_differences(f"{at}.scaling", asked, had))
    rest = replace(
        live.config,
        variants=desired.config.variants,
        shadow_variants=desired.config.shadow_variants,
    )
    out.extend(f"config.{f}" for f in differing_fields(rest, desired.config))
    return list(dict.fromkeys(out))


def _header(
    name: str, region: str, live: _Live, notes: list[str], in_place: bool, now: datetime
) -> str:
    account = live.config.arn.split(":")[4] if live.config.arn else "?"
    models = (
        f"model {live.model.name}"
        if len(live.models) == 1
        else f"models {', '.join(m.name for m in live.models)}"
    )
    lines = [
        f"Written by `deployspec import {name}` on {now:%Y-%m-%d} from SageMaker endpoint",
        f"{name} in {region} (account {account}): endpoint config {live.config.name}, {models}.",
        "Review it before committing it:",
        "- role, tags and every value below are the live endpoint's; deployment (how updates",
        "  roll out) and keep are deployspec's defaults.",
        *(line for note in notes for line in _bullet(note)),
        _closing(live, in_place),
    ]
    wrapped = [piece for line in lines for piece in _wrap(line)]
    return "".join(f"# {_comment_safe(line)}\n" if line else "#\n" for line in wrapped)


def _closing(live: _Live, in_place: bool) -> str:
    models = "model" if len(live.models) == 1 else "models"
    if live.managed:
        return "Then `deployspec plan` this file: " + (
            f"its {models} and config are the endpoint's own, deployspec's already."
            if in_place
            else "it creates new content-named ones and updates the endpoint to them."
        )
    return "Then `deployspec plan --adopt` this file: " + (
        f"it should only add deployspec's tags to the endpoint; its config and {models} stay "
        "yours, never changed or deleted by deployspec."
        if in_place
        else f"it creates deployspec's own {models} and config and updates the endpoint to them."
    )


def _bullet(note: str) -> list[str]:
    pieces = _wrap(note, 90)
    return [f"- {pieces[0]}", *(f"  {p}" for p in pieces[1:])]


def _wrap(text: str, width: int = 94) -> list[str]:
    if text.startswith(("- ", "  ")):
        return [text]
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def _comment_safe(text: str) -> str:
    """A comment line that templating leaves alone: specs are Jinja templates, comments too."""
    return re.sub(r"\{(?=[{%#])", "{ ", text.replace("\n", " "))


# ---- YAML ---------------------------------------------------------------------------------

# Plain scalars YAML (1.1 or 1.2) reads back as the same string.
_PLAIN = re.compile(r"[A-Za-z/](?:[A-Za-z0-9_./@+=:-]*[A-Za-z0-9_./@+=-])?")
_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"})
_TEMPLATE_MARKERS = ("{{", "{%", "{#")


def _yaml(data: Mapping[str, Any], indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for key, value in data.items():
        label = _scalar(key)
        if isinstance(value, Mapping) and set(value) == {"ssm"}:
            lines.append(f"{pad}{label}: {{ssm: {_scalar(value['ssm'])}}}  # TODO: create it")
        elif isinstance(value, Mapping):
            lines.append(f"{pad}{label}:")
            lines.extend(_yaml(value, indent + 1))
        elif isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value):
            # A block sequence of mappings (variants:): "- " opens each item's first key.
            lines.append(f"{pad}{label}:")
            for item in value:
                item_lines = _yaml(item, indent + 2)
                item_lines[0] = f"{pad}  - {item_lines[0].lstrip()}"
                lines.extend(item_lines)
        elif isinstance(value, list):
            lines.append(f"{pad}{label}: [{', '.join(_scalar(item) for item in value)}]")
        else:
            lines.append(f"{pad}{label}: {_scalar(value)}")
    return lines


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if any(marker in text for marker in _TEMPLATE_MARKERS):
        # The spec is rendered as a template before YAML reads it.
        if "{% endraw %}" in text:
            raise DeployspecError(
                "a value holds {% endraw %}, which a spec cannot hold as text",
                hint="write the spec by hand",
            )
        return _quoted("{% raw %}" + text + "{% endraw %}")
    if _PLAIN.fullmatch(text) and text.lower() not in _WORDS:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: escapes for the quote, the backslash and what is not
    printable."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif 0xD800 <= code < 0xE000 or code in (0xFEFF, 0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
