"""What exists in SageMaker for one spec: read-only, and as few calls as the plan needs.

Contract: `read_actual(gateway, desired)` returns `Actual` using only read calls of the gateway.
Content-hash names make most reads unnecessary: when the endpoint already serves the desired
config, that config and its model are right by construction and are not described again. An
unchanged spec therefore costs DescribeEndpoint and ListTags, plus the two Application Auto
Scaling reads for an autoscaled endpoint. Owned configs and models are listed only when they
may need pruning: when the endpoint is missing or changing, or was not yet pruned for its
config. A spec that hands SageMaker a bucket deployspec never calls (a data capture
destination, an s3:// model archive) adds one HeadBucket for each, first:
`check_handed_buckets` refuses one that is not the deploying account's.

Adoption in place: an endpoint made outside deployspec whose config and model hold exactly the
desired content (every SageMaker attribute equal but their names, tags and the model name the
variant names; and nothing a spec cannot express, `importer.unexpressed`, which costs one whole
description of each) needs no new resources: its config *stands in* for the desired one
(`Actual.stand_in`). Once adopted, the endpoint records that (TAG_ADOPTED: "<its config> <the
desired config>"), and while the spec's config stays that one the endpoint serving its own
config counts as serving the desired config, at the same two reads. The stand-in and its model
are never deployspec's: never tagged, listed as owned, changed or deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .desired import Desired
from .errors import NotManagedError, PlanError
from .naming import is_content_name, name_base
from .resources import (
    TAG_ADOPTED,
    TAG_MANAGED_BY,
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
# Endpoint states from which only a new endpoint recovers. UpdateRollbackFailed is not one:
# such an endpoint still serves traffic, and an update to a new config is the way out.
BROKEN = frozenset({"Failed", "OutOfService"})


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
    # The endpoint's own config, made outside deployspec, standing for the desired one (see the
    # module's docstring): set, the endpoint serving it serves the desired config.
    stand_in: str | None = None
    # Why the endpoint's config and model, though they hold the desired content, cannot stand
    # in for it: what else they hold that a spec cannot express.
    not_adoptable: tuple[str, ...] = ()

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

    stand_in = recorded_stand_in(endpoint, tags, desired)
    serving_desired = endpoint is not None and (
        endpoint.config_name == desired.config.name or stand_in is not None
    )
    current_config = current_model = None
    if endpoint is not None and not serving_desired:
        current_config = gateway.describe_endpoint_config(endpoint.config_name)
        if current_config is not None:
            current_model = gateway.describe_model(current_config.variant.model_name)

    not_adoptable: tuple[str, ...] = ()
    if (
        endpoint is not None
        and current_config is not None
        and current_model is not None
        # Not another spec's (refused) nor ours (moved by hand to another config: updated back).
        and TAG_MANAGED_BY not in tags
        and endpoint.status == "InService"
        and not adoption_differences(current_config, current_model, desired)
    ):
        not_adoptable = _unexpressed(gateway, current_config, current_model)
        if not not_adoptable:
            stand_in = endpoint.config_name
            serving_desired = True

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
        # The mark names the desired config, which a stand-in serves for.
        and tags.get(TAG_PRUNED) == prune_mark(desired.config.name, desired.keep)
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
        stand_in=stand_in,
        not_adoptable=not_adoptable,
    )


def recorded_stand_in(
    endpoint: Endpoint | None, tags: dict[str, str], desired: Desired
) -> str | None:
    """The config an endpoint adopted in place serves for the desired one, as it records
    (TAG_ADOPTED), when it still serves it and the spec still wants that content; None
    otherwise. An endpoint being replaced or deleted gets the desired config itself."""
    if endpoint is None or not is_owned(tags, desired.spec_name):
        return None
    if endpoint.status in BROKEN or endpoint.status == "Deleting":
        return None
    live, _, wanted = tags.get(TAG_ADOPTED, "").partition(" ")
    if live and live == endpoint.config_name and wanted == desired.config.name:
        return live
    return None


def adoption_differences(config: EndpointConfig, model: Model, desired: Desired) -> list[str]:
    """The attributes in which a live config and its model differ from the desired ones,
    names, tags and the model the variant names aside ("model.image", "config.variant")."""
    # The variant names the model by its own name: that the two models hold the same content
    # is what the model's comparison says.
    as_ours = replace(config, variant=replace(config.variant, model_name=desired.model.name))
    return [
        *(f"model.{name}" for name in differing_fields(model, desired.model)),
        *(f"config.{name}" for name in differing_fields(as_ours, desired.config)),
    ]


def _unexpressed(gateway: Gateway, config: EndpointConfig, model: Model) -> tuple[str, ...]:
    """What the live config and model hold beyond what deployspec's types (and a spec) say."""
    from .importer import unexpressed

    config_data = gateway.describe_whole("endpoint_config", config.name)
    model_data = gateway.describe_whole("model", model.name)
    if config_data is None or model_data is None:
        return ("it was deleted while deployspec read it",)
    return tuple(unexpressed(config_data, model_data))


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
