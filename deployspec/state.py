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

An endpoint of inference components (the spec's `components:`, or a live config naming no model)
adds one ListInferenceComponents and one DescribeInferenceComponent per component
(`read_components`): an unchanged spec of five components costs 3 reads plus 1 per component,
and, when it autoscales their copies, two more: one DescribeScalableTargets and one
DescribeScalingPolicies for all of them (by their policies' names, `Gateway.describe_scalings`).
A component's tags are read only where its ownership matters: one the spec does not name, or
that is not InService as the spec asks (the endpoint's tags prove the rest, which no change
touches), and every one's when the spec's tags differ from the endpoint's (the components'
follow them, from what each has). Its variant's instances are SageMaker's to scale (managed
instance scaling): no scalable target is read for them.

Each uncompressed weights tree the spec uploads (`read_weights`) costs one HeadObject of its
manifest when complete; otherwise the spec's manifests are listed and the newest read (files
to copy), and what an interrupted apply left under the tree's prefix is read back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .desired import Desired
from .errors import NotManagedError, PlanError
from .naming import is_content_name, name_base
from .resources import (
    TAG_ADOPTED,
    TAG_APPLIED,
    TAG_MANAGED_BY,
    TAG_MODEL,
    TAG_PRUNED,
    TAG_SERVES_FOR,
    VARIANT_NAME,
    AppliedRecord,
    Artifact,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    Model,
    OwnedResource,
    Scaling,
    Weights,
    component_resource_id,
    is_owned,
    models_of_tag,
    scaling_resource_id,
    to_json,
    user_tags,
)
from .secrets import DECLARED
from .wire import inference_component_specification

if TYPE_CHECKING:
    from .aws import Gateway

# Endpoint states in which SageMaker refuses updates; apply waits for them to settle.
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# Endpoint states from which only a new endpoint recovers. UpdateRollbackFailed is not one:
# such an endpoint still serves traffic, and an update to a new config is the way out.
BROKEN = frozenset({"Failed", "OutOfService"})


@dataclass(frozen=True)
class WeightsState:
    """What S3 holds of one weights tree: complete (its manifest is there), or what an
    interrupted apply left at its keys and the earlier trees' manifests it may copy from."""

    complete: bool
    # path -> (size, sha256 metadata) of the objects already at this tree's keys
    present: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    # (prefix, path -> (sha256, size)) of earlier trees of this spec, newest first
    earlier: tuple[tuple[str, dict[str, tuple[str, int]]], ...] = ()


@dataclass(frozen=True)
class Actual:
    endpoint: Endpoint | None = None
    endpoint_tags: dict[str, str] = field(default_factory=dict)
    # The endpoint's config and its models when they are not the desired ones (for the diff).
    current_config: EndpointConfig | None = None
    current_models: tuple[Model, ...] = ()
    desired_config_exists: bool = False
    # The desired models that exist (checked to be ours and to hold what their names say).
    existing_models: frozenset[str] = frozenset()
    # For each archive of a model that does not exist yet: "present" (S3 holds the archive
    # built here), "missing", or "differs" (another object is at its content address).
    artifacts: dict[str, str] = field(default_factory=dict)
    bucket_exists: bool | None = None
    # The scalable targets found on the endpoint's variants (those the spec scales, and every
    # real-time variant's, to remove one the spec no longer asks for).
    scalings: tuple[Scaling, ...] = ()
    # None when listing was not needed (the endpoint was pruned for its current config).
    owned: tuple[OwnedResource, ...] | None = None
    # The endpoint's own config, made outside deployspec, standing for the desired one (see the
    # module's docstring): set, the endpoint serving it serves the desired config.
    stand_in: str | None = None
    # Why the endpoint's config and model, though they hold the desired content, cannot stand
    # in for it: what else they hold that a spec cannot express.
    not_adoptable: tuple[str, ...] = ()
    # deployspec's own config the endpoint serves for the desired one, its weights and counts
    # set in place (TAG_SERVES_FOR): set, the endpoint serving it serves the desired config.
    serves_for: str | None = None
    # Archives under a multi-model prefix that the spec no longer lists.
    stale_archives: tuple[str, ...] = ()
    # Each desired weights tree (by prefix) as S3 holds it (read_weights).
    weights: dict[str, WeightsState] = field(default_factory=dict)
    # The inference components on the endpoint, by name (read_components), and the tags of
    # those whose ownership a change would need: each that the spec does not ask for or that
    # is not as it asks (one the spec holds as it is needs no proof: no change touches it).
    components: dict[str, InferenceComponent] = field(default_factory=dict)
    component_tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def current_model(self, name: str) -> Model | None:
        return next((m for m in self.current_models if m.name == name), None)

    def scaling(self, resource_id: str) -> Scaling | None:
        return next((s for s in self.scalings if s.resource_id == resource_id), None)

    def component(self, name: str) -> InferenceComponent | None:
        return self.components.get(name)

    def fingerprint(self) -> dict[str, object]:
        """What a saved plan was made against; apply refuses if it changed since."""
        found: dict[str, object] = {
            **endpoint_fingerprint(self.endpoint),
            "desired_config_exists": self.desired_config_exists,
            "existing_models": sorted(self.existing_models),
            "scaling": [
                [s.resource_id, s.min_capacity, s.max_capacity, s.target_value]
                for s in self.scalings
            ],
        }
        if self.components:
            # Each one's state, specification and tags, not its copy count: autoscaling moves
            # that all the time.
            found["components"] = {
                name: [
                    c.status,
                    c.variant_name,
                    inference_component_specification(c),
                    sorted(self.component_tags.get(name, {}).items()),
                ]
                for name, c in sorted(self.components.items())
            }
        return found


def endpoint_fingerprint(endpoint: Endpoint | None) -> dict[str, object]:
    """The part of a plan's fingerprint that `apply PLAN.json` checks against the live endpoint."""
    return {
        "endpoint_config": endpoint.config_name if endpoint else None,
        "endpoint_status": endpoint.status if endpoint else None,
        "endpoint_modified": endpoint.last_modified if endpoint else None,
    }


def _scaled_targets(
    endpoint: Endpoint | None,
    tags: dict[str, str],
    desired: Desired,
    components: Iterable[str],
    *,
    serving_desired: bool,
) -> list[str]:
    """The resource ids whose scalable targets are read: those the spec scales, and every live
    real-time variant's, whose target must go if the spec no longer scales it. A serverless
    variant's provisioned concurrency, and the copies of the endpoint's inference components,
    are read only when apply recorded that it registered autoscaling (TAG_APPLIED), so that an
    unchanged spec without autoscaling costs no read for them. The instances of an endpoint
    serving the spec's inference-component config are SageMaker's to scale (managed instance
    scaling), never deployspec's: its variant is read only if apply recorded autoscaling."""
    ids = [s.resource_id for s in desired.scalings]
    if endpoint is not None:
        record = AppliedRecord.parse(tags.get(TAG_APPLIED))
        scaled_before = record is not None and record.scaling != "-"
        managed = serving_desired and bool(desired.components)
        ids.extend(
            scaling_resource_id(desired.endpoint_name, v.variant_name)
            for v in (*endpoint.variants, *endpoint.shadow_variants)
            if (v.current_instance_count is not None and not managed) or scaled_before
        )
        if scaled_before:
            ids.extend(component_resource_id(name) for name in components)
    return list(dict.fromkeys(ids))


def _one_model(config: EndpointConfig) -> bool:
    return len(config.all_variants) == 1


def read_actual(gateway: Gateway, desired: Desired) -> Actual:
    check_handed_buckets(gateway, desired)
    endpoint = gateway.describe_endpoint(desired.endpoint_name)
    tags: dict[str, str] = {}
    if endpoint is not None and endpoint.arn:
        tags = gateway.list_tags(endpoint.arn)

    stand_in = recorded_stand_in(endpoint, tags, desired)
    serves_for = recorded_serves_for(endpoint, tags, desired)
    serving_desired = endpoint is not None and (
        endpoint.config_name == desired.config.name
        or stand_in is not None
        or serves_for is not None
    )
    current_config: EndpointConfig | None = None
    current_models: list[Model] = []
    if endpoint is not None and not serving_desired:
        current_config = gateway.describe_endpoint_config(endpoint.config_name)
        if current_config is not None:
            for name in current_config.model_names:
                found = gateway.describe_model(name)
                if found is not None:
                    current_models.append(found)

    not_adoptable: tuple[str, ...] = ()
    if (
        endpoint is not None
        and current_config is not None
        and len(current_models) == 1
        and _one_model(current_config)
        and _one_model(desired.config)
        # Not another spec's (refused) nor ours (moved by hand to another config: updated back).
        and TAG_MANAGED_BY not in tags
        and endpoint.status == "InService"
        and not adoption_differences(current_config, current_models[0], desired)
    ):
        not_adoptable = _unexpressed(gateway, current_config, current_models[0])
        if not not_adoptable:
            stand_in = endpoint.config_name
            serving_desired = True

    components: dict[str, InferenceComponent] = {}
    component_tags: dict[str, dict[str, str]] = {}
    if endpoint is not None and (desired.components or has_components(current_config)):
        # An endpoint to be replaced takes every component with it: each one's owner matters.
        # The spec's tags changing (the endpoint's differ) changes every component's too.
        components, component_tags = read_components(
            gateway,
            endpoint.name,
            None if endpoint.status in BROKEN else desired,
            retag=is_owned(tags, desired.spec_name) and user_tags(tags) != user_tags(desired.tags),
        )

    existing: set[str] = set()
    serving = {m.name for m in current_models}
    if is_owned(tags, desired.spec_name):
        # The models our endpoint's components serve now: checked when they were put there
        # (a component whose tags were read counts only if it is ours).
        serving.update(
            c.model_name
            for c in components.values()
            if c.model_name is not None
            and (
                c.name not in component_tags or is_owned(component_tags[c.name], desired.spec_name)
            )
        )
    if serving_desired:
        # Our endpoint serves it: it was checked when it was first put there, and with it the
        # models its variants name (an inference-component endpoint's config names none: its
        # components' models are checked below).
        config_exists = True
        existing.update(
            desired.config.model_names if desired.components else (m.name for m in desired.models)
        )
    else:
        config = gateway.describe_endpoint_config(desired.config.name)
        if config is not None:
            check_reusable(gateway, config, desired.config, desired.spec_name)
        config_exists = config is not None
    for wanted in desired.models:
        if wanted.name in existing:
            continue
        if wanted.name in serving:
            existing.add(wanted.name)  # a model our own endpoint serves now
            continue
        model = gateway.describe_model(wanted.name)
        if model is not None:
            check_reusable(gateway, model, wanted, desired.spec_name)
            existing.add(wanted.name)

    artifacts: dict[str, str] = {}
    bucket_exists = None

    def check(artifact: Artifact) -> None:
        nonlocal bucket_exists
        etag = gateway.object_etag(artifact.s3_uri)
        # Anyone who may write to the bucket could have put other bytes at our content
        # address: an object there counts only if it is the archive we would upload.
        if etag is None:
            artifacts[artifact.s3_uri] = "missing"
            if bucket_exists is None:
                bucket_exists = gateway.bucket_exists(desired.bucket)
        elif etag != _local_etag(gateway, artifact):
            artifacts[artifact.s3_uri] = "differs"
        else:
            artifacts[artifact.s3_uri] = "present"

    for model in desired.models:
        artifact = desired.artifact_of(model)
        if model.name in existing or artifact is None or artifact.s3_uri in artifacts:
            continue
        check(artifact)
    # An adapter's archive (its ArtifactUrl) as a model's: read unless one of our components
    # serves from it, which it could only once the archive was uploaded (a Failed one may have
    # failed for want of it).
    named = {
        c.artifact_url
        for c in components.values()
        if c.status == "InService"
        and is_owned(tags, desired.spec_name)
        and (c.name not in component_tags or is_owned(component_tags[c.name], desired.spec_name))
    }
    for component in desired.components:
        url = component.artifact_url
        artifact = next((a for a in desired.artifacts if a.s3_uri == url), None)
        if artifact is None or url in named or url in artifacts:
            continue
        check(artifact)

    stale: list[str] = []
    for model in desired.models:
        if not model.multi_model or model.model_data_url is None:
            continue
        # A multi-model endpoint serves whatever is under its prefix: every archive is checked
        # (one listing), whether or not the model exists, and those the spec dropped are found.
        listed = gateway.list_objects(model.model_data_url)
        archives = desired.archives_of(model)
        for archive in archives:
            etag = listed.get(archive.s3_uri)
            if etag is None:
                artifacts[archive.s3_uri] = "missing"
                if bucket_exists is None:
                    bucket_exists = gateway.bucket_exists(desired.bucket)
            elif etag != _local_etag(gateway, archive):
                artifacts[archive.s3_uri] = "differs"
            else:
                artifacts[archive.s3_uri] = "present"
        keep = {a.s3_uri for a in archives}
        stale.extend(
            uri
            for uri in sorted(listed)
            if uri not in keep and is_multi_model_archive(uri, model.model_data_url)
        )

    weights_state: dict[str, WeightsState] = {}
    for tree in desired.weights:
        weights_state[tree.s3_uri] = read_weights(gateway, tree)
        if not weights_state[tree.s3_uri].complete and bucket_exists is None:
            bucket_exists = gateway.bucket_exists(desired.bucket)

    scalings = tuple(
        gateway.describe_scalings(
            _scaled_targets(endpoint, tags, desired, components, serving_desired=serving_desired)
        )
    )

    owned = None
    pruned_for_current = (
        endpoint is not None
        and serving_desired
        # The mark names the desired config, which a stand-in serves for.
        and tags.get(TAG_PRUNED) == desired.prune_mark
    )
    if not pruned_for_current:
        owned = tuple(list_owned(gateway, desired.spec_name))

    return Actual(
        endpoint=endpoint,
        endpoint_tags=tags,
        current_config=current_config,
        current_models=tuple(current_models),
        desired_config_exists=config_exists,
        existing_models=frozenset(existing),
        artifacts=artifacts,
        bucket_exists=bucket_exists,
        scalings=scalings,
        owned=owned,
        stand_in=stand_in,
        not_adoptable=not_adoptable,
        serves_for=serves_for,
        stale_archives=tuple(stale),
        weights=weights_state,
        components=components,
        component_tags=component_tags,
    )


def has_components(config: EndpointConfig | None) -> bool:
    """Whether a config is an inference-component endpoint's: its variants name no model."""
    return config is not None and config.hosts_components


def read_components(
    gateway: Gateway, endpoint_name: str, desired: Desired | None = None, *, retag: bool = False
) -> tuple[dict[str, InferenceComponent], dict[str, dict[str, str]]]:
    """The endpoint's inference components (one listing, one description each) and the tags
    of those whose ownership a change needs: every one when there is no `desired` (destroy, a
    broken endpoint's replacement) or when `retag` (the spec's tags changed: each component's
    follow, from what it has), else each the spec does not hold as it is
    (`component_settled`). ListInferenceComponents
    answers with the endpoint's components at the moment it is asked: one deleted before its
    description is gone, and left out."""
    wanted = {c.name: c for c in desired.components} if desired is not None else {}
    found: dict[str, InferenceComponent] = {}
    tags: dict[str, dict[str, str]] = {}
    for name, _, arn in gateway.list_inference_components(endpoint_name):
        live = gateway.describe_inference_component(name)
        if live is None:
            continue
        found[name] = live
        spec = wanted.get(name)
        if retag or desired is None or spec is None or not component_settled(live, spec, desired):
            found_arn = live.arn or arn
            tags[name] = gateway.list_tags(found_arn) if found_arn else {}
    return found, tags


# What a component's specification is, as compared (the rest is SageMaker's account of it).
_COMPONENT_SPECIFICATION = (
    "endpoint_name",
    "variant_name",
    "model_name",
    "base_component",
    "artifact_url",
    "compute",
    "startup_health_check_timeout",
    "model_data_download_timeout",
)


def same_specification(live: InferenceComponent, wanted: InferenceComponent) -> bool:
    """Whether a live component serves what `wanted` specifies (its copies aside)."""
    return all(getattr(live, key) == getattr(wanted, key) for key in _COMPONENT_SPECIFICATION)


def component_settled(
    live: InferenceComponent, wanted: InferenceComponent, desired: Desired
) -> bool:
    """Whether the live component is as the spec asks, so that no change will touch it: InService
    on the wanted specification, and its copy count the wanted one or, under the spec's
    autoscaling, within its range (the autoscaler's to move)."""
    if live.status != "InService" or not same_specification(live, wanted):
        return False
    if live.copy_count == wanted.copy_count:
        return True
    scaling = desired.component_scaling(wanted.name)
    return (
        scaling is not None
        and live.copy_count is not None
        and scaling.min_capacity <= live.copy_count <= scaling.max_capacity
    )


def read_weights(gateway: Gateway, tree: Weights) -> WeightsState:
    """One HeadObject of the tree's manifest when it is complete (the unchanged case). Else
    one listing of the spec's manifests, the newest EARLIER_MANIFESTS of them read and their
    prefixes listed (a copy source must still exist), one listing of the tree's own prefix and
    a HeadObject of each file found there at its size (what an interrupted apply left, trusted
    by its sha256 metadata)."""
    from .weights import EARLIER_MANIFESTS, MANIFEST_SUFFIX, is_manifest, parse_manifest

    if gateway.object_etag(tree.manifest_uri) is not None:
        return WeightsState(complete=True)
    root = tree.s3_uri.rstrip("/").rsplit("/", 1)[0] + "/"  # <artifact prefix>/weights/
    manifests = [
        (uri, modified)
        for uri, modified in gateway.list_shallow(root)
        if is_manifest(uri, root) and uri != tree.manifest_uri
    ]
    earlier: list[tuple[str, dict[str, tuple[str, int]]]] = []
    for uri, _ in sorted(manifests, key=lambda item: item[1], reverse=True)[:EARLIER_MANIFESTS]:
        found = gateway.get_object(uri)
        parsed = parse_manifest(found[0]) if found is not None else None
        if parsed is not None:
            prefix = uri.removesuffix(MANIFEST_SUFFIX) + "/"
            # A manifest outlives a file deleted by hand: only files still there at their
            # size can be copied, or every later plan would pick the same missing source.
            there = gateway.list_object_sizes(prefix)
            held = {
                path: entry
                for path, entry in parsed.items()
                if there.get(prefix + path) == entry[1]
            }
            earlier.append((prefix, held))
    sizes = {f.path: f.size for f in tree.files}
    present: dict[str, tuple[int, str | None]] = {}
    for uri, size in gateway.list_object_sizes(tree.s3_uri).items():
        path = uri.removeprefix(tree.s3_uri)
        if sizes.get(path) != size:
            continue
        head = gateway.object_sha256(uri)
        if head is not None:
            present[path] = head
    return WeightsState(complete=False, present=present, earlier=tuple(earlier))


def is_multi_model_archive(uri: str, prefix: str) -> bool:
    """Whether `uri` is an archive deployspec uploads under a multi-model prefix:
    <prefix><name>/<sha256>/model.tar.gz (desired.target_model_key)."""
    return uri.startswith(prefix) and (
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[0-9a-f]{64}/model\.tar\.gz", uri[len(prefix) :])
        is not None
    )


def recorded_serves_for(
    endpoint: Endpoint | None, tags: dict[str, str], desired: Desired
) -> str | None:
    """deployspec's own config the endpoint serves for the desired one, its weights and counts
    set in place, as it records (TAG_SERVES_FOR), when it still serves it and the spec still
    wants that config; None otherwise."""
    return _recorded_stand_for(TAG_SERVES_FOR, endpoint, tags, desired)


def recorded_stand_in(
    endpoint: Endpoint | None, tags: dict[str, str], desired: Desired
) -> str | None:
    """The config an endpoint adopted in place serves for the desired one, as it records
    (TAG_ADOPTED), when it still serves it and the spec still wants that content; None
    otherwise. An endpoint being replaced or deleted gets the desired config itself."""
    return _recorded_stand_for(TAG_ADOPTED, endpoint, tags, desired)


def _recorded_stand_for(
    key: str, endpoint: Endpoint | None, tags: dict[str, str], desired: Desired
) -> str | None:
    """The live config a record "<live config> <desired config>" in tag `key` names, while our
    endpoint serves it, is usable, and the spec wants that desired config."""
    if endpoint is None or not is_owned(tags, desired.spec_name):
        return None
    if endpoint.status in BROKEN or endpoint.status == "Deleting":
        return None
    live, _, wanted = tags.get(key, "").partition(" ")
    if live and live == endpoint.config_name and wanted == desired.config.name:
        return live
    return None


def adoption_differences(config: EndpointConfig, model: Model, desired: Desired) -> list[str]:
    """The attributes in which a live one-variant config and its model differ from the desired
    ones, names, tags and the model the variant names aside ("model.image", "config.variants").
    A desired endpoint of several variants or models is never adopted in place."""
    if len(desired.models) != 1 or not _one_model(desired.config) or not _one_model(config):
        return ["config.variants"]
    wanted = desired.models[0]
    # The variant names the model by its own name: that the two models hold the same content
    # is what the model's comparison says.
    as_ours = replace(
        config, variants=tuple(replace(v, model_name=wanted.name) for v in config.variants)
    )
    return [
        *(f"model.{name}" for name in differing_fields(model, wanted)),
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


def _local_etag(gateway: Gateway, artifact: Artifact) -> str | None:
    """The ETag S3 gives the local archive when the gateway uploads it (None: not local)."""
    from .artifacts import s3_etag

    if artifact.local_path is None:
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
    for model in desired.models:
        # A multi-model prefix is in deployspec's own bucket, as uploaded archives are.
        if desired.artifact_of(model) is None and model.model_data_url and not model.multi_model:
            handed.append(
                (
                    "model.artifacts",
                    model.model_data_url,
                    "SageMaker would serve whatever model that account puts there",
                )
            )
        if model.model_data_source and desired.weights_of(model) is None:
            handed.append(
                (
                    "model.artifacts",
                    model.model_data_source,
                    "SageMaker would serve whatever files that account puts there",
                )
            )
    uploaded = {a.s3_uri for a in desired.artifacts}
    for component in desired.components:
        # An adapter's own s3:// weights; those deployspec uploads are in its own bucket.
        if component.artifact_url and component.artifact_url not in uploaded:
            handed.append(
                (
                    "components.artifacts",
                    component.artifact_url,
                    "SageMaker would serve whatever adapter that account puts there",
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
            found.append(
                OwnedResource(
                    "endpoint_config", name, created, models_of_tag(tags.get(TAG_MODEL), search)
                )
            )
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
    # model name -> its ModelDataUrl or ModelDataSource prefix (only when asked for)
    model_data: dict[str, str]
    # The inference components on the endpoint (whoever made them; the scaling targets of
    # their copies are in `scaling`), and each one's tags: one without this spec's ownership
    # tags is never deleted, and keeps the endpoint it runs on.
    components: tuple[InferenceComponent, ...] = ()
    component_tags: dict[str, dict[str, str]] = field(default_factory=dict)


def read_owned(
    gateway: Gateway,
    spec_name: str,
    *,
    with_model_data: bool = False,
    components: bool | None = False,
) -> Owned:
    """`components`: True reads the endpoint's inference components (the spec has some); None
    first looks whether the config it serves names no model (one DescribeEndpointConfig, so
    that an endpoint of models never needs ListInferenceComponents, a permission older
    policies lack); False reads none (rollback moves configs and never touches them)."""
    endpoint = gateway.describe_endpoint(spec_name)
    tags = gateway.list_tags(endpoint.arn) if endpoint is not None and endpoint.arn else {}
    scaling: list[Scaling] = []
    found: dict[str, InferenceComponent] = {}
    component_tags: dict[str, dict[str, str]] = {}
    if endpoint is not None:
        if components or (
            components is None and has_components(_serving_config(gateway, endpoint))
        ):
            found, component_tags = read_components(gateway, endpoint.name)
        # Every variant, serverless ones too: a target left on a variant that is serverless now
        # (or on the variant deployspec names, of a Failed endpoint reporting none) is still
        # there to remove, whatever the spec says today.
        live = (*endpoint.variants, *endpoint.shadow_variants)
        names = dict.fromkeys([*(v.variant_name for v in live), VARIANT_NAME])
        scaling.extend(
            gateway.describe_scalings(
                [
                    *(scaling_resource_id(spec_name, n) for n in names),
                    *(component_resource_id(name) for name in found),
                ]
            )
        )
    resources = tuple(list_owned(gateway, spec_name))
    model_data: dict[str, str] = {}
    if with_model_data:
        for item in resources:
            if item.kind == "model":
                model = gateway.describe_model(item.name)
                data = model.model_data_url or model.model_data_source if model else None
                if data:
                    model_data[item.name] = data
    return Owned(
        endpoint,
        tags,
        tuple(scaling),
        resources,
        model_data,
        components=tuple(found.values()),
        component_tags=component_tags,
    )


def _serving_config(gateway: Gateway, endpoint: Endpoint) -> EndpointConfig | None:
    """The config the endpoint serves; None when it is gone or of a shape deployspec does not
    read (destroy then leaves the endpoint's components to it)."""
    from .errors import UnsupportedShapeError

    try:
        return gateway.describe_endpoint_config(endpoint.config_name)
    except UnsupportedShapeError:
        return None


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
        if model is None:
            continue
        for uri in {model.model_data_url, model.model_data_source}:
            if uri is not None and uri in wanted:
                users[uri].append(name)
    return users
