"""What exists in SageMaker for one spec: read-only, and as few calls as the plan needs.

Contract: `read_actual(gateway, desired)` returns `Actual` using only read calls of the gateway.
Content-hash names make most reads unnecessary: when the endpoint already serves the desired
config, that config and its model are right by construction and are not described again. An
unchanged spec therefore costs DescribeEndpoint and ListTags, plus the two Application Auto
Scaling reads for an autoscaled endpoint. Owned configs and models are listed only when they may
need pruning: when the endpoint is missing or changing, or was not yet pruned for its config.
A spec that hands SageMaker a bucket deployspec never calls (a data capture destination, an
s3:// model archive) adds one HeadBucket for each, first: `check_handed_buckets` refuses one
that is not the deploying account's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .desired import Desired
from .errors import NotManagedError, PlanError
from .naming import is_content_name, name_base
from .resources import (
    TAG_MODEL,
    TAG_PRUNED,
    VARIANT_NAME,
    Endpoint,
    EndpointConfig,
    Model,
    OwnedResource,
    Scaling,
    is_owned,
    prune_mark,
    scaling_resource_id,
    to_json,
)
from .secrets import DECLARED

if TYPE_CHECKING:
    from .aws import Gateway

# Endpoint states in which SageMaker refuses updates; apply waits for them to settle.
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


@dataclass(frozen=True)
class Actual:
    endpoint: Endpoint | None = None
    endpoint_tags: dict[str, str] = field(default_factory=dict)
    # The endpoint's config and model when they are not the desired ones (for the diff).
    current_config: EndpointConfig | None = None
    current_model: Model | None = None
    desired_config_exists: bool = False
    desired_model_exists: bool = False
    artifact_exists: bool | None = None
    # An object is at the artifact's address, but it is not the local archive's bytes.
    artifact_differs: bool = False
    bucket_exists: bool | None = None
    scaling: Scaling | None = None
    # None when listing was not needed (the endpoint was pruned for its current config).
    owned: tuple[OwnedResource, ...] | None = None

    def fingerprint(self) -> dict[str, object]:
        """What a saved plan was made against; apply refuses if it changed since."""
        return {
            **endpoint_fingerprint(self.endpoint),
            "desired_config_exists": self.desired_config_exists,
            "desired_model_exists": self.desired_model_exists,
            "scaling": [
                self.scaling.min_capacity,
                self.scaling.max_capacity,
                self.scaling.target_value,
            ]
            if self.scaling
            else None,
        }


def endpoint_fingerprint(endpoint: Endpoint | None) -> dict[str, object]:
    """The part of a plan's fingerprint that `apply PLAN.json` checks against the live endpoint."""
    return {
        "endpoint_config": endpoint.config_name if endpoint else None,
        "endpoint_status": endpoint.status if endpoint else None,
        "endpoint_modified": endpoint.last_modified if endpoint else None,
    }


def _has_instances(endpoint: Endpoint | None) -> bool:
    """Real-time variants report instance counts; serverless ones do not (and never scale)."""
    return endpoint is not None and any(
        v.current_instance_count is not None for v in endpoint.variants
    )


def read_actual(gateway: Gateway, desired: Desired) -> Actual:
    check_handed_buckets(gateway, desired)
    endpoint = gateway.describe_endpoint(desired.endpoint_name)
    tags: dict[str, str] = {}
    if endpoint is not None and endpoint.arn:
        tags = gateway.list_tags(endpoint.arn)

    serving_desired = endpoint is not None and endpoint.config_name == desired.config.name
    current_config = current_model = None
    if endpoint is not None and not serving_desired:
        current_config = gateway.describe_endpoint_config(endpoint.config_name)
        if current_config is not None:
            current_model = gateway.describe_model(current_config.variant.model_name)

    if serving_desired:
        # Our endpoint serves it: it was checked when it was first put there.
        config_exists = model_exists = True
    else:
        config = gateway.describe_endpoint_config(desired.config.name)
        if config is not None:
            check_reusable(gateway, config, desired.config, desired.spec_name)
        config_exists = config is not None
        if current_model is not None and current_model.name == desired.model.name:
            model_exists = True  # the model our own endpoint serves now
        else:
            model = gateway.describe_model(desired.model.name)
            if model is not None:
                check_reusable(gateway, model, desired.model, desired.spec_name)
            model_exists = model is not None

    artifact_exists = bucket_exists = None
    artifact_differs = False
    if not model_exists and desired.artifact is not None:
        etag = gateway.object_etag(desired.artifact.s3_uri)
        # Anyone who may write to the bucket could have put other bytes at our content
        # address: an object there counts only if it is the archive we would upload.
        artifact_differs = etag is not None and etag != _local_etag(gateway, desired)
        artifact_exists = etag is not None and not artifact_differs
        if etag is None:
            bucket_exists = gateway.bucket_exists(desired.bucket)

    scaling = None
    if desired.scaling is not None or _has_instances(endpoint):
        scaling = gateway.describe_scaling(
            scaling_resource_id(desired.endpoint_name, desired.config.variant.variant_name)
        )

    owned = None
    pruned_for_current = (
        endpoint is not None
        and serving_desired
        and tags.get(TAG_PRUNED) == prune_mark(endpoint.config_name, desired.keep)
    )
    if not pruned_for_current:
        owned = tuple(list_owned(gateway, desired.spec_name))

    return Actual(
        endpoint=endpoint,
        endpoint_tags=tags,
        current_config=current_config,
        current_model=current_model,
        desired_config_exists=config_exists,
        desired_model_exists=model_exists,
        artifact_exists=artifact_exists,
        artifact_differs=artifact_differs,
        bucket_exists=bucket_exists,
        scaling=scaling,
        owned=owned,
    )


def _local_etag(gateway: Gateway, desired: Desired) -> str | None:
    """The ETag S3 gives the local archive when the gateway uploads it (None: not local)."""
    from .artifacts import s3_etag

    artifact = desired.artifact
    if artifact is None or artifact.local_path is None:
        return None
    return s3_etag(Path(artifact.local_path), gateway.multipart_chunk_bytes)


# ---- buckets handed to SageMaker ---------------------------------------------------------

# Buckets of another account the operator trusts for data capture and s3:// model archives.
# An environment variable, not a spec field: a pull request must not be able to grant it.
TRUSTED_BUCKETS_ENV = "DEPLOYSPEC_TRUSTED_BUCKETS"


def trusted_buckets() -> frozenset[str]:
    """The bucket names in DEPLOYSPEC_TRUSTED_BUCKETS (separated by commas or white space)."""
    return frozenset(os.environ.get(TRUSTED_BUCKETS_ENV, "").replace(",", " ").split())


def check_handed_buckets(gateway: Gateway, desired: Desired) -> None:
    """Refuse, with a PlanError, an S3 bucket the spec hands to SageMaker that is not the
    deploying account's: `data_capture.destination` (SageMaker writes every captured request
    and response there) and a spec's own `s3://` model archive (SageMaker serves what is
    there). deployspec never calls these buckets itself, so the ExpectedBucketOwner its own S3
    calls carry does not protect them: one HeadBucket each does, only for a spec using them.
    A missing bucket is refused too: anyone may create a free name, later."""
    handed: list[tuple[str, str, str]] = []
    capture = desired.config.data_capture
    if capture is not None:
        handed.append(
            (
                "data_capture.destination",
                capture.destination,
                "SageMaker would write the endpoint's requests and responses there",
            )
        )
    if desired.artifact is None and desired.model.model_data_url:
        handed.append(
            (
                "model.artifacts",
                desired.model.model_data_url,
                "SageMaker would serve whatever model that account puts there",
            )
        )
    if not handed:
        return
    trusted = trusted_buckets()
    seen: dict[str, str] = {}
    for where, uri, consequence in handed:
        bucket = uri.removeprefix("s3://").split("/", 1)[0]
        if bucket in trusted:
            continue
        if bucket not in seen:
            seen[bucket] = gateway.bucket_ownership(bucket)
        owner = seen[bucket]
        if owner == "us":
            continue
        account = gateway.account_id()
        trust = (
            f"if the bucket is meant to be shared across accounts, whoever runs deployspec can "
            f"trust it: {TRUSTED_BUCKETS_ENV}={bucket}"
        )
        if owner == "missing":
            raise PlanError(
                f"{where}: S3 bucket {bucket!r} does not exist",
                hint=f"create it in account {account} first: deployspec does not create it, "
                "and a free bucket name can be taken by anyone",
            )
        if owner == "another account":
            raise PlanError(
                f"{where}: S3 bucket {bucket!r} belongs to another AWS account, not to "
                f"{account} (the one deploying): {consequence}",
                hint=f"use a bucket of account {account}; {trust}",
            )
        raise PlanError(
            f"{where}: cannot tell whether S3 bucket {bucket!r} belongs to account {account} "
            "(the one deploying): HeadBucket is refused",
            hint=f"allow s3:ListBucket on bucket {bucket!r} for the identity you use (see "
            f"--profile); or, {trust}",
        )


def check_reusable(
    gateway: Gateway,
    found: Model | EndpointConfig,
    wanted: Model | EndpointConfig,
    spec_name: str,
) -> None:
    """A resource that already has the content name we want is used only if it is ours and
    holds what the name promises: anyone able to create models can create one under a name
    `plan` shows, with another role or image, before our apply does."""
    what = "model" if isinstance(found, Model) else "endpoint config"
    tags = gateway.list_tags(found.arn) if found.arn else {}
    problems = []
    if not is_owned(tags, spec_name):
        problems.append(f"it lacks the ownership tags of spec {spec_name!r}")
    differing = differing_fields(found, wanted)
    if differing:
        # Field names only: environment values may be secrets.
        problems.append(f"its content differs from what its name promises ({', '.join(differing)})")
    if problems:
        raise NotManagedError(
            f"{what} {found.name} already exists, but deployspec did not make it for this spec: "
            + "; ".join(problems),
            hint=f"deployspec will neither use nor delete it; if it is yours, delete the {what} "
            "and run again, otherwise find out who created it",
        )


# Attributes that are deployspec's own view of a resource, not SageMaker's: a resource read
# back from AWS never has them.
_NOT_IN_AWS = frozenset({"name", "arn", DECLARED})


def differing_fields(found: Model | EndpointConfig, wanted: Model | EndpointConfig) -> list[str]:
    before, after = to_json(found), to_json(wanted)
    keys = (set(before) | set(after)) - _NOT_IN_AWS
    return sorted(k for k in keys if before.get(k) != after.get(k))


def list_owned(gateway: Gateway, base: str) -> list[OwnedResource]:
    """Configs and models named like ours *and* tagged as ours: names alone prove nothing."""
    found: list[OwnedResource] = []
    # Search for the base content names keep, not the whole spec name: a spec name longer
    # than that base would otherwise find none of its own configs and models.
    search = name_base(base)
    for name, created, arn in gateway.list_endpoint_configs(search):
        if not is_content_name(name, base):
            continue
        tags = gateway.list_tags(arn)
        if is_owned(tags, base):
            found.append(OwnedResource("endpoint_config", name, created, tags.get(TAG_MODEL)))
    for name, created, arn in gateway.list_models(search):
        if not is_content_name(name, base):
            continue
        if is_owned(gateway.list_tags(arn), base):
            found.append(OwnedResource("model", name, created))
    return found


@dataclass(frozen=True)
class Owned:
    """Everything one spec owns, found by name and proven by tags (destroy, rollback)."""

    endpoint: Endpoint | None
    endpoint_tags: dict[str, str]
    # Every scalable target registered on the endpoint's variants, with its policy.
    scaling: tuple[Scaling, ...]
    resources: tuple[OwnedResource, ...]
    model_data: dict[str, str]  # model name -> its ModelDataUrl (only when asked for)


def read_owned(gateway: Gateway, spec_name: str, *, with_model_data: bool = False) -> Owned:
    endpoint = gateway.describe_endpoint(spec_name)
    tags = gateway.list_tags(endpoint.arn) if endpoint is not None and endpoint.arn else {}
    scaling: list[Scaling] = []
    if endpoint is not None:
        # Every variant, serverless ones too: a target left on a variant that is serverless now
        # (or on the variant deployspec names, of a Failed endpoint reporting none) is still
        # there to remove, whatever the spec says today.
        names = dict.fromkeys([*(v.variant_name for v in endpoint.variants), VARIANT_NAME])
        for variant in names:
            found = gateway.describe_scaling(scaling_resource_id(spec_name, variant))
            if found is not None:
                scaling.append(found)
    resources = tuple(list_owned(gateway, spec_name))
    model_data: dict[str, str] = {}
    if with_model_data:
        for item in resources:
            if item.kind == "model":
                model = gateway.describe_model(item.name)
                if model is not None and model.model_data_url:
                    model_data[item.name] = model.model_data_url
    return Owned(endpoint, tags, tuple(scaling), resources, model_data)


def archive_users(
    gateway: Gateway, uris: Iterable[str], ignore: Iterable[str] = ()
) -> dict[str, list[str]]:
    """For each archive, the models other than `ignore` that serve it, whoever made them.

    Content-addressed archives are shared: two specs with the same prefix and the same model
    files upload one archive. Deleting it must wait until no model anywhere in the account
    still points at it, so this describes every model (once, only for --purge-artifacts).
    """
    wanted = set(uris)
    skipped = set(ignore)
    users: dict[str, list[str]] = {uri: [] for uri in wanted}
    if not wanted:
        return users
    for name, _, _ in gateway.list_models(""):
        if name in skipped:
            continue
        model = gateway.describe_model(name)
        if model is not None and model.model_data_url in wanted:
            users[model.model_data_url].append(name)
    return users
