"""The SageMaker resources deployspec manages, as plain frozen data.

Contract: these types describe both what the spec wants (built by `desired`) and what exists
(read by `state`), so the planner can compare like with like. They hold no clients and no
bytes; `to_json()`/`from_json()` round-trip them for saved plans. Field names follow the
SageMaker API where one exists, in snake_case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pydantic import TypeAdapter

from .naming import digest

VARIANT_NAME = "AllTraffic"

# Ownership lives in tags: SageMaker is the state, there is no local state file.
TAG_MANAGED_BY = "deployspec:managed-by"
TAG_SPEC = "deployspec:spec"
TAG_DIGEST = "deployspec:spec-digest"
# Set on the endpoint beside TAG_DIGEST: what apply applied, part by part (`AppliedRecord`), so
# `deployspec drift` can tell each part's hand-made changes from the spec's pending ones.
TAG_APPLIED = "deployspec:applied"
# Set on the endpoint once old configs and models were pruned for its current config, so an
# unchanged spec need not list the account's configs and models on every plan.
TAG_PRUNED = "deployspec:pruned-for"
# Set on the endpoint by every update: the config it served before, for `rollback`.
TAG_PREVIOUS = "deployspec:previous-config"
# On endpoint configs: the models they serve, so pruning knows which models are still needed
# without describing every config (`models_tag`, `models_of_tag`).
TAG_MODEL = "deployspec:model"
# On an endpoint whose weights or instance counts alone changed: "<live config> <desired
# config>": deployspec's own config it serves, its variants' weights and counts set in place
# (UpdateEndpointWeightsAndCapacities) to the desired config's, which was never created. While
# the spec's config stays that one, the endpoint serving the live config serves the desired.
TAG_SERVES_FOR = "deployspec:serves-for"
# Set on an endpoint adopted in place: "<live config> <desired config>", the config it serves,
# made outside deployspec and never deployspec's, standing for the content-named config it
# holds exactly (state.py), until the spec changes.
TAG_ADOPTED = "deployspec:adopted-config"
MANAGED_BY = "deployspec"
OWNERSHIP_KEYS = frozenset(
    {
        TAG_MANAGED_BY,
        TAG_SPEC,
        TAG_DIGEST,
        TAG_APPLIED,
        TAG_PRUNED,
        TAG_MODEL,
        TAG_PREVIOUS,
        TAG_ADOPTED,
        TAG_SERVES_FOR,
    }
)
# Written by apply as it goes, never by the spec: not compared against the spec's tags.
BOOKKEEPING_KEYS = frozenset({TAG_PRUNED, TAG_PREVIOUS, TAG_ADOPTED, TAG_SERVES_FOR})
MAX_TAG_VALUE = 256


def models_tag(model_names: tuple[str, ...]) -> str:
    """TAG_MODEL's value: the model names, space-separated; over a tag value's 256 characters
    (up to 11 models of 63), the content hashes alone, which `models_of_tag` expands again with
    the spec's name base (every model deployspec names shares it)."""
    full = " ".join(model_names)
    if len(full) <= MAX_TAG_VALUE:
        return full
    return " ".join(name.rsplit("-", 1)[-1] for name in model_names)


def models_of_tag(value: str | None, base: str) -> tuple[str, ...]:
    """The model names in a TAG_MODEL value (`base`: the spec's name base, naming.name_base)."""
    return tuple(
        f"{base}-{token}" if re.fullmatch(r"[0-9a-f]{10}", token) else token
        for token in (value or "").split()
    )


def ownership_tags(spec_name: str) -> dict[str, str]:
    return {TAG_MANAGED_BY: MANAGED_BY, TAG_SPEC: spec_name}


def prune_mark(config_name: str, keep: int, component_models: tuple[str, ...] = ()) -> str:
    """TAG_PRUNED's value: pruned for this config under this keep policy (lowering keep prunes
    again), and, on an inference-component endpoint, for these component models (a model
    change keeps the config: the mark must change for the old model to be pruned)."""
    mark = f"{config_name}@keep={keep}"
    if component_models:
        mark += f"@models={digest(sorted(component_models))[:12]}"
    return mark


def without_aws_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags without AWS's own aws: keys (CloudFormation and others add them; nobody else can
    set or remove them)."""
    return {k: v for k, v in tags.items() if not k.startswith("aws:")}


def comparable_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags the spec decides: without AWS's own keys and without apply's bookkeeping."""
    return {k: v for k, v in without_aws_tags(tags).items() if k not in BOOKKEEPING_KEYS}


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a spec's `tags:` decides: neither AWS's own nor deployspec's."""
    return {k: v for k, v in without_aws_tags(tags).items() if k not in OWNERSHIP_KEYS}


def is_owned(tags: dict[str, str], spec_name: str) -> bool:
    return tags.get(TAG_MANAGED_BY) == MANAGED_BY and tags.get(TAG_SPEC) == spec_name


@dataclass(frozen=True)
class Vpc:
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    name: str
    image: str
    model_data_url: str | None
    environment: dict[str, str]
    execution_role_arn: str
    network_isolation: bool = False
    vpc: Vpc | None = None
    arn: str | None = None
    # Environment keys whose values are secret (secrets.py): masked wherever a plan is shown.
    # Not a SageMaker attribute: never sent, never part of the content name, empty when read.
    sensitive_environment: tuple[str, ...] = ()
    # Mode MultiModel: model_data_url is an S3 prefix of many archives, loaded on demand by
    # the TargetModel of each invocation (a key under the prefix).
    multi_model: bool = False
    # Uncompressed model data: an S3 prefix (ending in /) whose files the container finds
    # under /opt/ml/model (ModelDataSource S3Prefix, CompressionType None), instead of
    # model_data_url's model.tar.gz.
    model_data_source: str | None = None
    # A SageMaker Model Registry version (its ARN): the container is the package's, its image
    # and model data (image is "" and model_data_url None then); environment still applies.
    model_package_name: str | None = None


@dataclass(frozen=True)
class PackageVersion:
    """One version of a SageMaker Model Registry group (ListModelPackages'
    ModelPackageSummary, DescribeModelPackage)."""

    arn: str
    group: str | None  # None for an unversioned package
    version: int | None
    approval: str  # ModelApprovalStatus: Approved, Rejected or PendingManualApproval


APPROVED: Final = "Approved"


@dataclass(frozen=True)
class ServerlessConfig:
    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class Variant:
    """One production (or shadow) variant of an endpoint config."""

    # None on an inference-component endpoint's variant: its components name the models, and
    # AWS refuses a ModelName there.
    model_name: str | None
    variant_name: str = VARIANT_NAME
    serverless: ServerlessConfig | None = None
    instance_type: str | None = None
    initial_instance_count: int | None = None
    volume_size_gb: int | None = None
    initial_weight: float = 1.0
    # GPU readiness, sent only when set (large-model containers set both timeouts).
    startup_health_check_timeout: int | None = None  # seconds
    model_data_download_timeout: int | None = None  # seconds
    inference_ami_version: str | None = None
    # RoutingConfig.RoutingStrategy, e.g. LEAST_OUTSTANDING_REQUESTS; never RANDOM, AWS's
    # default, which is left out as AWS's answer is read back (aws._routing_strategy).
    routing_strategy: str | None = None
    # ManagedInstanceScaling (inference-component endpoints only): SageMaker itself adds and
    # removes instances within these counts as components' copies need them.
    managed_scaling: ManagedInstanceScaling | None = None


DEFAULT_ROUTING_STRATEGY = "RANDOM"


@dataclass(frozen=True)
class DataCapture:
    destination: str
    sampling_percent: int


@dataclass(frozen=True)
class AsyncInference:
    """AsyncInferenceConfig: requests queued, answers written to S3 (and announced on SNS)."""

    output_path: str
    failure_path: str | None = None
    success_topic: str | None = None
    error_topic: str | None = None
    max_concurrent_invocations_per_instance: int | None = None


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    variants: tuple[Variant, ...]  # ProductionVariants, 1-10, in the spec's order
    data_capture: DataCapture | None = None
    arn: str | None = None
    # UpdateEndpoint can neither add nor remove it: a change of None to a value or back
    # replaces the endpoint (planner.py).
    async_inference: AsyncInference | None = None
    # ShadowProductionVariants: sent a copy of what the production variant answers.
    shadow_variants: tuple[Variant, ...] = ()
    # ExecutionRoleArn: AWS requires it on an inference-component endpoint's config (the role
    # its components' containers run with); None otherwise, and then never sent.
    execution_role_arn: str | None = None

    @property
    def all_variants(self) -> tuple[Variant, ...]:
        return (*self.variants, *self.shadow_variants)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models its variants serve, each once, in the order they first appear (none on
        an inference-component endpoint's config: its components name theirs)."""
        return tuple(
            dict.fromkeys(v.model_name for v in self.all_variants if v.model_name is not None)
        )

    @property
    def hosts_components(self) -> bool:
        """Whether it is an inference-component endpoint's config (a model-less variant)."""
        return any(v.model_name is None for v in self.variants)

    def variant_named(self, name: str) -> Variant | None:
        return next((v for v in self.all_variants if v.variant_name == name), None)


@dataclass(frozen=True)
class LiveVariant:
    """What the endpoint reports for a variant right now (DescribeEndpoint)."""

    variant_name: str
    current_weight: float | None
    desired_weight: float | None
    current_instance_count: int | None
    desired_instance_count: int | None


@dataclass(frozen=True)
class Capacity:
    """What UpdateEndpointWeightsAndCapacities sets on one variant (None: left as it is)."""

    instance_count: int | None = None
    weight: float | None = None


@dataclass(frozen=True)
class Endpoint:
    name: str
    config_name: str
    status: str | None = None
    failure_reason: str | None = None
    arn: str | None = None
    variants: tuple[LiveVariant, ...] = ()
    last_modified: str | None = None
    shadow_variants: tuple[LiveVariant, ...] = ()

    def live_variant(self, name: str) -> LiveVariant | None:
        return next(
            (v for v in (*self.variants, *self.shadow_variants) if v.variant_name == name), None
        )


# The metrics deployspec's target-tracking policies track.
INVOCATIONS = "SageMakerVariantInvocationsPerInstance"
PROVISIONED_CONCURRENCY = "SageMakerVariantProvisionedConcurrencyUtilization"
BACKLOG = "ApproximateBacklogSizePerInstance"  # a CloudWatch metric, not a predefined one
# What component autoscaling tracks, and the dimension it scales (ResourceId
# inference-component/<name>).
CONCURRENT_REQUESTS_PER_COPY = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
COPY_COUNT_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


def scaling_dimension(metric: str) -> str:
    """The scalable dimension a metric's policy scales."""
    if metric == PROVISIONED_CONCURRENCY:
        return "sagemaker:variant:DesiredProvisionedConcurrency"
    if metric == CONCURRENT_REQUESTS_PER_COPY:
        return COPY_COUNT_DIMENSION
    return "sagemaker:variant:DesiredInstanceCount"


@dataclass(frozen=True)
class Scaling:
    """Application Auto Scaling of one variant: its instance count, tracking invocations per
    instance (or, for an asynchronous endpoint, its request backlog per instance), or a
    serverless variant's provisioned concurrency, tracking its utilisation; or of one
    inference component (resource id `inference-component/<name>`): its copy count, tracking
    concurrent requests per copy."""

    resource_id: str
    min_capacity: int
    max_capacity: int
    target_value: float | None
    scale_in_cooldown: int | None
    scale_out_cooldown: int | None
    policy_name: str | None
    metric: str = INVOCATIONS  # what the target-tracking policy tracks (below)
    # An asynchronous endpoint at 0 instances has no backlog per instance to track: a step
    # policy on the HasBacklogWithoutCapacity alarm brings the first instance back. A
    # component at 0 copies has no requests per copy either: its step policy's alarm is on
    # NoCapacityInvocationFailures (InferenceComponentName), and brings the first copy back.
    scale_from_zero: bool = False

    @property
    def dimension(self) -> str:
        return scaling_dimension(self.metric)


@dataclass(frozen=True)
class OwnedResource:
    """A config or model carrying this spec's ownership tags, found by listing."""

    kind: str  # "endpoint_config" | "model"
    name: str
    created: str
    model_names: tuple[str, ...] = ()  # for configs: the models they serve (TAG_MODEL)


@dataclass(frozen=True)
class Artifact:
    """A packaged model.tar.gz: where it is locally, and where it goes in S3."""

    sha256: str
    size: int
    local_path: str | None
    s3_uri: str
    # One of a multi-model endpoint's archives: its name in the spec's `models:` and the
    # TargetModel that invokes it (its key under the model's prefix).
    target_model: str | None = None
    model_name: str | None = None  # that spec name


@dataclass(frozen=True)
class WeightsFile:
    """One file of an uncompressed weights tree: its path under /opt/ml/model."""

    path: str
    sha256: str
    size: int
    local_path: str


@dataclass(frozen=True)
class Weights:
    """An uploaded weights tree (weights.py): the S3 prefix named by its tree digest, the
    manifest written beside it once it is complete, and its files."""

    s3_uri: str  # s3://<bucket>/<artifact prefix>/weights/<sha256>/
    manifest_uri: str
    sha256: str
    files: tuple[WeightsFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ManagedInstanceScaling:
    """ProductionVariantManagedInstanceScaling: SageMaker adds and removes the instances of an
    inference-component endpoint between these counts (min 0: scale to zero)."""

    min_instance_count: int
    max_instance_count: int


@dataclass(frozen=True)
class ComputeRequirements:
    """InferenceComponentComputeResourceRequirements: what one copy reserves on an instance."""

    min_memory_mb: int
    cpu_cores: float | None = None
    accelerators: float | None = None
    max_memory_mb: int | None = None


@dataclass(frozen=True)
class RollingUpdate:
    """InferenceComponentDeploymentConfig's rolling update policy: how UpdateInferenceComponent
    replaces copies (batch_type COPY_COUNT or CAPACITY_PERCENT)."""

    batch_type: str
    batch_value: int
    wait_seconds: int = 0
    timeout_seconds: int | None = None
    rollback_batch_type: str | None = None
    rollback_batch_value: int | None = None


@dataclass(frozen=True)
class InferenceComponent:
    """One inference component: a model (or, with base_component, an adapter on another
    component) hosted on an endpoint's variant, reserving `compute` per copy. The name is
    stable (`<spec name>-<component name>`: what clients pass as InferenceComponentName);
    what it serves changes in place. `status`, `failure_reason`, `arn` and
    `current_copy_count` are read from SageMaker and never compared."""

    name: str
    endpoint_name: str
    variant_name: str = VARIANT_NAME
    model_name: str | None = None
    base_component: str | None = None  # BaseInferenceComponentName (an adapter)
    artifact_url: str | None = None  # Container.ArtifactUrl (an adapter's weights)
    compute: ComputeRequirements | None = None  # None for adapters
    startup_health_check_timeout: int | None = None  # StartupParameters, seconds
    model_data_download_timeout: int | None = None
    copy_count: int | None = None  # RuntimeConfig.CopyCount; None for adapters
    status: str | None = None
    failure_reason: str | None = None
    arn: str | None = None
    current_copy_count: int | None = None


@dataclass(frozen=True)
class Deployment:
    """How UpdateEndpoint rolls out (DeploymentConfig)."""

    strategy: str
    step_percent: int | None = None
    step_wait_seconds: int | None = None
    rollback_alarms: tuple[str, ...] = ()
    timeout_seconds: int = 1800


def scaling_resource_id(endpoint: str, variant: str = VARIANT_NAME) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def component_resource_id(component_name: str) -> str:
    """An inference component's Application Auto Scaling resource id (its copy count)."""
    return f"inference-component/{component_name}"


def component_scaling_policy(component_name: str) -> str:
    """The name of the target-tracking policy on an inference component's copies: its own, so
    that one DescribeScalingPolicies by policy names reads every component's policies at once
    (a name shared by all would match every deployspec component in the account)."""
    return f"deployspec-{component_name}-concurrency"


def component_name(spec_name: str, component: str) -> str:
    """An inference component's stable name: the spec's name, then the component's."""
    return f"{spec_name}-{component}"


def spec_digest(
    config_name: str,
    tags: dict[str, str],
    scalings: tuple[Scaling, ...],
    deployment: Deployment | None,
) -> str:
    """TAG_DIGEST's value: one hash of everything below (what drift falls back on for an
    endpoint applied before TAG_APPLIED existed)."""
    scaling: object = None
    if _is_one_variant(scalings):
        scaling = _as_hashed(scalings[0])
    elif scalings:
        scaling = [_as_hashed(s) for s in scalings]
    return digest(
        {
            "config": config_name,
            "tags": tags,
            "scaling": scaling,
            "deployment": deployment.__dict__ if deployment else None,
        }
    )[:16]


def _as_hashed(scaling: Scaling) -> dict[str, Any]:
    """A scaling's attributes as TAG_DIGEST hashes them: those earlier versions had, plus the
    metric and scale-from-zero only where they differ from what those versions applied."""
    data = dict(scaling.__dict__)
    if scaling.metric == INVOCATIONS:
        data.pop("metric")
    if not scaling.scale_from_zero:
        data.pop("scale_from_zero")
    return data


def _is_one_variant(scalings: tuple[Scaling, ...]) -> bool:
    """One target, on the variant a one-variant spec names: hashed as before variants existed,
    so that upgrading deployspec changes no record."""
    return len(scalings) == 1 and scalings[0].resource_id.endswith(f"/variant/{VARIANT_NAME}")


def scaling_settings(scaling: Scaling | None) -> dict[str, Any] | None:
    """The autoscaling values the planner compares (not the resource id, which the endpoint
    decides, nor the policy name, which an adopted endpoint may have chosen)."""
    if scaling is None:
        return None
    settings: dict[str, Any] = {
        "min_capacity": scaling.min_capacity,
        "max_capacity": scaling.max_capacity,
        # AWS may give back 50 for 50.0: the hash must not tell them apart.
        "target_value": float(scaling.target_value) if scaling.target_value is not None else None,
        "scale_in_cooldown": scaling.scale_in_cooldown,
        "scale_out_cooldown": scaling.scale_out_cooldown,
    }
    # Only where they are not what every earlier version applied: records stay as they were.
    if scaling.metric != INVOCATIONS:
        settings["metric"] = scaling.metric
    if scaling.scale_from_zero:
        settings["scale_from_zero"] = True
    return settings


def scalings_settings(scalings: tuple[Scaling, ...]) -> object:
    """What TAG_APPLIED's scaling part hashes: every target's settings by resource id (one
    target of a one-variant spec: its settings alone, as before variants existed)."""
    if not scalings:
        return None
    if _is_one_variant(scalings):
        return scaling_settings(scalings[0])
    return {s.resource_id: scaling_settings(s) for s in scalings}


def part_hash(value: object) -> str:
    """A part's short hash in TAG_APPLIED: 12 hex of the sha256 of its canonical JSON, or "-"
    for a part the spec does not have (no autoscaling, no rollout settings)."""
    return "-" if value is None else digest(value)[:12]


@dataclass(frozen=True)
class AppliedRecord:
    """TAG_APPLIED: the endpoint config apply put on the endpoint, and part hashes of the user
    tags, the autoscaling settings and the rollout settings it applied. At most 130 characters
    (a config name has at most 63), within AWS's 256 for a tag value."""

    config: str
    tags: str
    scaling: str
    rollout: str

    @classmethod
    def of(
        cls,
        config_name: str,
        tags: dict[str, str],
        scalings: tuple[Scaling, ...],
        deployment: Deployment | None,
    ) -> AppliedRecord:
        return cls(
            config=config_name,
            tags=part_hash(tags),
            scaling=part_hash(scalings_settings(scalings)),
            rollout=part_hash(deployment.__dict__ if deployment is not None else None),
        )

    @property
    def value(self) -> str:
        return (
            f"config={self.config} tags={self.tags} scaling={self.scaling} rollout={self.rollout}"
        )

    @classmethod
    def parse(cls, value: str | None) -> AppliedRecord | None:
        """The record in a tag value; None when there is none or it is not one this version
        reads (drift then falls back on TAG_DIGEST)."""
        if not value:
            return None
        fields = dict(item.partition("=")[::2] for item in value.split(" "))
        try:
            record = cls(fields["config"], fields["tags"], fields["scaling"], fields["rollout"])
        except KeyError:
            return None
        return record if all(record.__dict__.values()) else None


T = TypeVar("T")


def to_json(value: object) -> Any:
    """Plain JSON data: dataclasses as dicts, tuples as lists."""
    return TypeAdapter(type(value)).dump_python(value, mode="json")


def from_json(cls: type[T], data: Any) -> T:
    """The inverse of to_json, for saved plans."""
    return TypeAdapter(cls).validate_python(data)
