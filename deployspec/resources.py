"""The SageMaker resources deployspec manages, as plain frozen data.

Contract: these types describe both what the spec wants (built by `desired`) and what exists
(read by `state`), so the planner can compare like with like. They hold no clients and no
bytes; `to_json()`/`from_json()` round-trip them for saved plans. Field names follow the
SageMaker API where one exists, in snake_case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

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
# On endpoint configs: the model they serve, so pruning knows which models are still needed
# without describing every config.
TAG_MODEL = "deployspec:model"
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
    }
)
# Written by apply as it goes, never by the spec: not compared against the spec's tags.
BOOKKEEPING_KEYS = frozenset({TAG_PRUNED, TAG_PREVIOUS, TAG_ADOPTED})


def ownership_tags(spec_name: str) -> dict[str, str]:
    return {TAG_MANAGED_BY: MANAGED_BY, TAG_SPEC: spec_name}


def prune_mark(config_name: str, keep: int) -> str:
    """TAG_PRUNED's value: pruned for this config under this keep policy (lowering keep prunes
    again)."""
    return f"{config_name}@keep={keep}"


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


@dataclass(frozen=True)
class ServerlessConfig:
    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class Variant:
    """One production variant of an endpoint config (deployspec uses exactly one)."""

    model_name: str
    variant_name: str = VARIANT_NAME
    serverless: ServerlessConfig | None = None
    instance_type: str | None = None
    initial_instance_count: int | None = None
    volume_size_gb: int | None = None
    initial_weight: float = 1.0


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
    variant: Variant
    data_capture: DataCapture | None = None
    arn: str | None = None
    # UpdateEndpoint can neither add nor remove it: a change of None to a value or back
    # replaces the endpoint (planner.py).
    async_inference: AsyncInference | None = None


@dataclass(frozen=True)
class LiveVariant:
    """What the endpoint reports for a variant right now (DescribeEndpoint)."""

    variant_name: str
    current_weight: float | None
    desired_weight: float | None
    current_instance_count: int | None
    desired_instance_count: int | None


@dataclass(frozen=True)
class Endpoint:
    name: str
    config_name: str
    status: str | None = None
    failure_reason: str | None = None
    arn: str | None = None
    variants: tuple[LiveVariant, ...] = ()
    last_modified: str | None = None


@dataclass(frozen=True)
class Scaling:
    """Application Auto Scaling of the variant's instance count."""

    resource_id: str
    min_capacity: int
    max_capacity: int
    target_value: float | None
    scale_in_cooldown: int | None
    scale_out_cooldown: int | None
    policy_name: str | None


@dataclass(frozen=True)
class OwnedResource:
    """A config or model carrying this spec's ownership tags, found by listing."""

    kind: str  # "endpoint_config" | "model"
    name: str
    created: str
    model_name: str | None = None  # for configs: the model they serve


@dataclass(frozen=True)
class Artifact:
    """A packaged model.tar.gz: where it is locally, and where it goes in S3."""

    sha256: str
    size: int
    local_path: str | None
    s3_uri: str


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


def spec_digest(
    config_name: str,
    tags: dict[str, str],
    scaling: Scaling | None,
    deployment: Deployment | None,
) -> str:
    """TAG_DIGEST's value: one hash of everything below (what drift falls back on for an
    endpoint applied before TAG_APPLIED existed)."""
    return digest(
        {
            "config": config_name,
            "tags": tags,
            "scaling": scaling.__dict__ if scaling else None,
            "deployment": deployment.__dict__ if deployment else None,
        }
    )[:16]


def scaling_settings(scaling: Scaling | None) -> dict[str, Any] | None:
    """The autoscaling values the planner compares (not the resource id, which the endpoint
    decides, nor the policy name, which an adopted endpoint may have chosen)."""
    if scaling is None:
        return None
    return {
        "min_capacity": scaling.min_capacity,
        "max_capacity": scaling.max_capacity,
        # AWS may give back 50 for 50.0: the hash must not tell them apart.
        "target_value": float(scaling.target_value) if scaling.target_value is not None else None,
        "scale_in_cooldown": scaling.scale_in_cooldown,
        "scale_out_cooldown": scaling.scale_out_cooldown,
    }


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
        scaling: Scaling | None,
        deployment: Deployment | None,
    ) -> AppliedRecord:
        return cls(
            config=config_name,
            tags=part_hash(tags),
            scaling=part_hash(scaling_settings(scaling)),
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
