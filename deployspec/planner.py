"""desired × actual → Plan. Pure: no clients, no clock, no I/O.

Contract: `make_plan(desired, actual)` returns the ordered changes that make SageMaker match the
spec, or raises NotManagedError for an endpoint deployspec does not own (unless `adopt`).
SageMaker's immutability drives it: a model or config change means new, content-named
resources plus an in-place UpdateEndpoint; only a Failed (or otherwise unusable) endpoint is
replaced. Each kind has its own rule below (_storage, models, configs, _endpoint_change,
_scaling_changes, _prune, the record); the order of the changes comes from the kinds'
dependencies (kinds.py: upload, model, config, scaling removal — SageMaker refuses
instance-type changes while autoscaling is attached —, endpoint, scaling, then pruning of
configs and models beyond `keep`, which must come after the endpoint serves the new config,
then the record), never from apply.

An endpoint adopted in place (`Actual.stand_in`, state.py) keeps serving its own config for the
desired one: adopting it only tags the endpoint, recording the stand-in (TAG_ADOPTED), and its
config and model, not deployspec's, are never tagged, changed or deleted.

Inference components (`_component_changes`) have stable names and are changed in place: one
missing is created; one whose specification differs is updated (UpdateInferenceComponent, with
its rolling update policy), one whose copy count alone differs gets that count alone
(UpdateInferenceComponentRuntimeConfig) — under copy autoscaling, a live count inside the
range is the autoscaler's, not a difference —; one the spec no longer has is deleted; one
Failed is deleted and created again. When the spec's tags change, each component's follow
(a change of its own, or part of its update), and the endpoint's own tags and records are then
written last, by the record: components come after the endpoint, so an apply stopped between
them must still find the endpoint's tags differing from the spec's. Bases come before their
adapters among puts, adapters first among deletes, deletes before puts (their copies free
capacity). A component on the endpoint without this spec's ownership tags is never changed:
one the spec does not name is noted, one it names is refused (NotManagedError). The endpoint
config of such an endpoint holds the instance side alone, so only an instance-side change
makes a new one. Destroy deletes our components first and keeps an endpoint that hosts a
foreign one (a note says so); rollback moves the endpoint config alone and never touches
components (an older spec re-applied rolls them back).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .desired import Desired
from .errors import NotManagedError, PlanError
from .kinds import order
from .naming import is_content_name
from .plan import Action, Change, Kind, Plan
from .resources import (
    BOOKKEEPING_KEYS,
    MANAGED_BY,
    OWNERSHIP_KEYS,
    TAG_ADOPTED,
    TAG_APPLIED,
    TAG_DIGEST,
    TAG_MANAGED_BY,
    TAG_MODEL,
    TAG_PREVIOUS,
    TAG_PRUNED,
    TAG_SERVES_FOR,
    TAG_SPEC,
    AppliedRecord,
    Deployment,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    Model,
    OwnedResource,
    RollingUpdate,
    Scaling,
    comparable_tags,
    is_owned,
    models_tag,
    part_hash,
    scaling_resource_id,
    scaling_settings,
    scalings_settings,
    to_json,
    without_aws_tags,
)
from .secrets import DECLARED, SENSITIVE, secret_paths, withheld_paths
from .state import BROKEN, IN_PROGRESS, Actual, Owned, adoption_differences
from .wire import inference_component_specification

# What apply records on the endpoint about what it applied (never compared with the spec).
RECORD_KEYS = frozenset({TAG_DIGEST, TAG_APPLIED})
# deployspec's keys other than those records: ownership and apply's bookkeeping.
_OWNERSHIP_ONLY = OWNERSHIP_KEYS - RECORD_KEYS


def make_plan(
    desired: Desired, actual: Actual, *, adopt: bool = False, spec_file: str | None = None
) -> Plan:
    endpoint = actual.endpoint
    # Which version a model package group resolved to: it is in the model's name, so a newer
    # approved version shows as the model replaced (model_package_name old → new).
    notes: list[str] = [
        f"{p.model_key}.package {p.given}: its latest Approved version is {p.arn}"
        for p in desired.packages
        if p.is_group
    ]
    adopting = endpoint is not None and not is_owned(actual.endpoint_tags, desired.spec_name)
    if endpoint is not None and adopting:
        other = actual.endpoint_tags.get(TAG_SPEC)
        if actual.endpoint_tags.get(TAG_MANAGED_BY) == MANAGED_BY and other:
            # Adoption is for endpoints made by hand or by other tools, never a way to take
            # another spec's endpoint.
            raise NotManagedError(
                f"endpoint {endpoint.name!r} is managed by deployspec for spec {other!r}, "
                f"not {desired.spec_name!r}",
                hint="two specs cannot share an endpoint; rename this spec",
            )
        if not adopt:
            raise NotManagedError(
                f"endpoint {endpoint.name!r} exists but was not created by deployspec for "
                f"spec {desired.spec_name!r} (it lacks the deployspec ownership tags)",
                hint="rename the spec's endpoint, or pass --adopt to let deployspec manage "
                "this endpoint from now on",
            )
        notes.append(f"endpoint {endpoint.name} will be adopted: ownership tags are added")
        notes.extend(_adoption_notes(desired, actual))

    # The config the endpoint must serve: the desired one, or the endpoint's own standing for
    # it (adopted, or ours with weights and counts set in place); a change of weights or
    # instance counts alone keeps the endpoint's own config (`_capacity_only`).
    capacity_only = _capacity_only(desired, actual)
    target = (
        endpoint.config_name
        if capacity_only and endpoint is not None
        else actual.stand_in or actual.serves_for or desired.config.name
    )
    status = endpoint.status if endpoint else None
    if status == "UpdateRollbackFailed" and endpoint and endpoint.config_name == target:
        raise PlanError(
            f"endpoint {endpoint.name} is UpdateRollbackFailed: SageMaker could not roll back "
            f"its last update ({endpoint.failure_reason or 'no reason given'})",
            hint="it still serves traffic; change the spec so apply updates it to a new config, "
            "or destroy and apply again",
        )
    if status in IN_PROGRESS:
        notes.append(
            f"endpoint {desired.endpoint_name} is {status}: apply waits for it to finish "
            "before changing anything"
        )

    components = _component_changes(desired, actual)
    notes.extend(components.notes)
    changes = [
        *_storage_changes(desired, actual),
        *_content_named_changes(desired, actual, capacity_only),
        *_tag_changes(desired, actual),
    ]

    deletions, mark = _prune(desired, actual, target, components.kept_models)
    # With nothing to delete the prune mark rides on the endpoint change; with deletions it is
    # written last, once they are done, so a crash in between leaves the mark unset.
    endpoint_change = _endpoint_change(
        desired,
        actual,
        mark if not deletions else None,
        capacity_only,
        defer_tags=components.retagged,
    )
    scaling_changes = [
        *_scaling_changes(desired, actual),
        *_component_scaling_changes(desired, actual, components),
    ]
    if endpoint_change is not None:
        changes.append(endpoint_change)
    changes.extend(components.changes)
    changes.extend(scaling_changes)
    changes.extend(deletions)
    has_endpoint_change = endpoint_change is not None
    # What apply applied is recorded on the endpoint for `drift`: an endpoint change carries
    # the record; a plan that changes the autoscaling alone records it last, once that is done
    # (else drift would take the autoscaling the spec asked for as changed by hand).
    record: dict[str, str] = {}
    untagged: list[str] = []
    if components.retagged:
        # The endpoint's own tags (the spec's and the records) come last, once every
        # component has them: an apply stopped before still finds them differing from the
        # spec's, and the next one retags the components (`_endpoint_change` keeps them).
        wanted = {k: v for k, v in desired.endpoint_tags.items() if k not in _OWNERSHIP_ONLY}
        record = {k: v for k, v in wanted.items() if actual.endpoint_tags.get(k) != v}
        untagged = sorted(set(_user_tags(actual.endpoint_tags)) - set(wanted))
    elif not has_endpoint_change and scaling_changes:
        record = {
            k: v
            for k, v in desired.endpoint_tags.items()
            if k in RECORD_KEYS and actual.endpoint_tags.get(k) != v
        }
    prune = mark is not None and (deletions or not has_endpoint_change)
    if prune or record or untagged:
        before_tags: dict[str, str | None] = {}
        after_tags: dict[str, str] = {}
        reasons: list[str] = []
        if mark is not None and prune:
            before_tags[TAG_PRUNED] = actual.endpoint_tags.get(TAG_PRUNED)
            after_tags[TAG_PRUNED] = mark
            reasons.append("record that older configs and models are pruned")
        if components.retagged and (record or untagged):
            # Keys in before and not in after are removed: the user tags the spec dropped.
            before_tags.update({k: actual.endpoint_tags.get(k) for k in [*record, *untagged]})
            after_tags.update(record)
            reasons.append(
                "tags changed: the endpoint's are written last, once its components have them"
            )
        elif record:
            before_tags.update({k: actual.endpoint_tags.get(k) for k in record})
            after_tags.update(record)
            reasons.append("record the autoscaling applied, which `deployspec drift` checks")
        changes.append(
            Change(
                Kind.PRUNE_MARK,
                desired.endpoint_name,
                Action.UPDATE,
                {"tags": before_tags},
                {"tags": after_tags},
                tuple(reasons),
            )
        )

    return Plan(
        spec_name=desired.spec_name,
        endpoint_name=desired.endpoint_name,
        region=desired.region,
        account=desired.account,
        changes=order(changes),
        fingerprint=actual.fingerprint(),
        notes=tuple(notes),
        endpoint_status=status,
        timeout_seconds=desired.timeout_seconds,
        spec_file=spec_file,
        target_config=target,
        adopt=adopting,
    )


def _storage_changes(desired: Desired, actual: Actual) -> list[Change]:
    """The bucket and the archives new models need: uploaded unless S3 holds these bytes."""
    changes: list[Change] = []
    uploads = [
        artifact
        for artifact in desired.artifacts
        if actual.artifacts.get(artifact.s3_uri, "present") != "present"
    ]
    trees = _weights_changes(desired, actual)
    if (uploads or trees) and actual.bucket_exists is False:
        changes.append(
            Change(
                Kind.BUCKET,
                desired.bucket,
                Action.CREATE,
                None,
                {"bucket": desired.bucket, "region": desired.region},
                ("artifact bucket does not exist (created encrypted, public access blocked)",),
            )
        )
    changes.extend(
        Change(
            Kind.ARTIFACT,
            uri,
            Action.DELETE,
            {"s3_uri": uri},
            None,
            (
                "a multi-model archive the spec no longer lists (or an earlier version of one): "
                "the endpoint stops serving it",
            ),
        )
        for uri in actual.stale_archives
    )
    for artifact in uploads:
        changes.append(
            Change(
                Kind.ARTIFACT,
                artifact.s3_uri,
                Action.CREATE,
                None,
                to_json(artifact),
                (
                    f"the object at this address is not model.tar.gz sha256 "
                    f"{artifact.sha256[:12]} as built here (other bytes, or the "
                    "same content compressed elsewhere): it is uploaded again"
                    if actual.artifacts[artifact.s3_uri] == "differs"
                    else f"model.tar.gz sha256 {artifact.sha256[:12]} is not in S3 yet",
                ),
            )
        )
    changes.extend(trees)
    return changes


def _weights_changes(desired: Desired, actual: Actual) -> list[Change]:
    """Each weights tree whose manifest S3 lacks: what apply sends, copies or skips, file by
    file, decided here from what S3 holds (weights.plan_transfers) and executed as planned."""
    from .weights import plan_transfers, summary, totals, transfers_json

    changes: list[Change] = []
    for tree in desired.weights:
        found = actual.weights.get(tree.s3_uri)
        if found is None or found.complete:
            continue
        transfers = plan_transfers(tree.files, tree.s3_uri, found.present, found.earlier)
        local = {f.path: f.local_path for f in tree.files}
        count = totals(transfers)
        changes.append(
            Change(
                Kind.WEIGHTS,
                tree.s3_uri,
                Action.CREATE,
                None,
                {
                    "s3_uri": tree.s3_uri,
                    "manifest_uri": tree.manifest_uri,
                    "sha256": tree.sha256,
                    "files": len(tree.files),
                    "size": tree.size,
                    "upload": count["upload"],
                    "copy": count["copy"],
                    "present": count["present"],
                    "transfers": transfers_json(transfers, local),
                },
                (
                    f"weights tree {tree.sha256[:12]} is not complete in S3: it "
                    + summary(transfers),
                ),
            )
        )
    return changes


def _config_tags(desired: Desired) -> dict[str, str]:
    return {**desired.tags, TAG_MODEL: models_tag(desired.config.model_names)}


def _capacity_only(desired: Desired, actual: Actual) -> bool:
    """Whether the endpoint's own config (deployspec's) differs from the desired one only in
    its production variants' weights and instance counts: SageMaker changes those in place
    (UpdateEndpointWeightsAndCapacities), with no new config and no new fleet."""
    endpoint, current = actual.endpoint, actual.current_config
    if endpoint is None or current is None or _gone(actual) or endpoint.status in BROKEN:
        return False
    if not is_owned(actual.endpoint_tags, desired.spec_name) or actual.stand_in is not None:
        return False
    if TAG_ADOPTED in actual.endpoint_tags or not is_content_name(current.name, desired.spec_name):
        return False  # not deployspec's config: it gets one of deployspec's own
    wanted = desired.config
    if [v.variant_name for v in current.variants] != [v.variant_name for v in wanted.variants]:
        return False
    as_wanted = replace(
        current,
        name=wanted.name,
        arn=None,
        variants=tuple(
            replace(
                live,
                initial_weight=spec.initial_weight,
                initial_instance_count=spec.initial_instance_count,
            )
            for live, spec in zip(current.variants, wanted.variants, strict=True)
        ),
    )
    # The same content under another name (an earlier deployspec's) is not a capacity change:
    # it is created again under its content name.
    return as_wanted == replace(wanted, arn=None) and replace(current, arn=None) != replace(
        as_wanted, arn=None, name=current.name
    )


def _content_named_changes(
    desired: Desired, actual: Actual, capacity_only: bool = False
) -> list[Change]:
    """Models and configs cannot be changed: one whose content name does not exist is created
    (its content differs from the live one's, or the live one is not deployspec's)."""
    changes: list[Change] = []
    for model in desired.models:
        if model.name in actual.existing_models:
            continue
        changes.append(
            Change(
                Kind.MODEL,
                model.name,
                Action.CREATE,
                None,
                {**to_json(model), "tags": desired.tags},
                _why_new(_model_it_replaces(desired, actual, model), model, "model")
                or _why_copied(
                    desired, actual, "model", _model_it_replaces(desired, actual, model)
                ),
            )
        )
    if not actual.desired_config_exists and not capacity_only:
        changes.append(
            Change(
                Kind.ENDPOINT_CONFIG,
                desired.config.name,
                Action.CREATE,
                None,
                {**to_json(desired.config), "tags": _config_tags(desired)},
                _why_new(actual.current_config, desired.config, "endpoint config")
                or _why_copied(desired, actual, "endpoint config", actual.current_config),
            )
        )
    return changes


def _model_it_replaces(desired: Desired, actual: Actual, model: Model) -> Model | None:
    """The live model that the variants serving `model` serve now (the first found), to say
    what changed; for a one-model endpoint, its model."""
    for component in desired.components:
        if component.model_name != model.name:
            continue
        found = actual.component(component.name)
        if found is not None and found.model_name is not None:
            return actual.current_model(found.model_name)
    if desired.components:
        return None
    if len(actual.current_models) == 1 and len(desired.models) == 1:
        return actual.current_models[0]
    current = actual.current_config
    if current is None:
        return None
    for variant in desired.config.all_variants:
        if variant.model_name != model.name:
            continue
        live = current.variant_named(variant.variant_name)
        if live is not None and live.model_name is not None:
            found_model = actual.current_model(live.model_name)
            if found_model is not None:
                return found_model
    return None


def _tag_changes(desired: Desired, actual: Actual) -> list[Change]:
    """Tags are the one thing SageMaker lets us change in place on models and configs: the
    existing ones follow the spec's tags when the endpoint's differ."""
    live_user_tags = _user_tags(actual.endpoint_tags)
    # A stand-in's config and model are not deployspec's: their tags are their owner's.
    if (
        actual.endpoint is None
        or live_user_tags == _user_tags(desired.tags)
        or actual.stand_in is not None
    ):
        return []
    # The config that serves for the desired one (weights and counts set in place) is ours.
    config_name = actual.serves_for or desired.config.name
    entries = [
        (Kind.MODEL, model.name, model.name in actual.existing_models, desired.tags)
        for model in desired.models
    ]
    entries.append(
        (Kind.ENDPOINT_CONFIG, config_name, actual.desired_config_exists, _config_tags(desired))
    )
    return [
        Change(
            kind,
            name,
            Action.UPDATE,
            {"tags": {**live_user_tags, **_owned_tags(tags)}},
            {"tags": tags},
            ("tags changed",),
        )
        for kind, name, exists, tags in entries
        if exists
    ]


def _adoption_notes(desired: Desired, actual: Actual) -> list[str]:
    """What adopting does to the endpoint's own config and model."""
    config = actual.current_config
    model = actual.current_models[0] if len(actual.current_models) == 1 else None
    if config is None or model is None:
        return []
    if actual.stand_in is not None:
        return [
            f"its endpoint config {config.name} and model {model.name} hold what the spec asks "
            f"for: they stay, standing for {desired.config.name}, and are never changed or "
            "deleted by deployspec (a spec change creates deployspec's own)"
        ]
    differing = adoption_differences(config, model, desired)
    why = (
        f"differ from the spec in {', '.join(differing)}"
        if differing
        else f"hold what a spec cannot express ({'; '.join(actual.not_adoptable)})"
    )
    return [
        f"its endpoint config {config.name} and model {model.name} {why}: apply creates "
        "deployspec's own and updates the endpoint to them; those two are left as they are"
    ]


def _ours_renamed(desired: Desired, actual: Actual, current: str) -> bool:
    """Whether `current`, holding the desired content, is deployspec's own under a name an
    earlier version gave it (not an adopted endpoint's stand-in, which is its owner's)."""
    return (
        is_owned(actual.endpoint_tags, desired.spec_name)
        and TAG_ADOPTED not in actual.endpoint_tags
        and is_content_name(current, desired.spec_name)
    )


def _why_copied(
    desired: Desired, actual: Actual, what: str, current: Model | EndpointConfig | None
) -> tuple[str, ...]:
    """Why a resource is created whose content the endpoint's own already holds: it is not
    deployspec's, or holds more than a spec says, or (our own) it was named before names
    covered the whole request."""
    if current is None:
        return ()
    if _ours_renamed(desired, actual, current.name):
        return (
            f"{what} {current.name} holds this content under a name from an earlier "
            "deployspec: names now hash the whole request, so it is created again under its "
            "new name (the endpoint moves to it without downtime; the old one is pruned)",
        )
    extra = f", and holds {'; '.join(actual.not_adoptable)}" if actual.not_adoptable else ""
    return (
        f"{what} {current.name} holds this content but is not deployspec's{extra}: the same "
        "content is created under its content name",
    )


def _traffic_shift(desired: Desired, endpoint: Endpoint) -> tuple[Deployment | None, str | None]:
    """The rollout an UpdateEndpoint to the desired config sends, and why it is not the spec's.

    SageMaker shifts traffic (canary, linear, rolling) only between variants of the same name
    in the old and the new config, and refuses the update otherwise; an update that renames,
    adds or removes a variant is sent without a DeploymentConfig, all at once."""
    wanted = desired.deployment
    if wanted is None or wanted.strategy == "all_at_once":
        return wanted, None
    live = sorted(v.variant_name for v in (*endpoint.variants, *endpoint.shadow_variants))
    new = sorted(v.variant_name for v in desired.config.all_variants)
    if not live or live == new:
        return wanted, None
    watched = (
        f"; its rollback alarms ({', '.join(wanted.rollback_alarms)}) are not watched"
        if wanted.rollback_alarms
        else ""
    )
    return None, (
        f"variants change ({', '.join(live)} -> {', '.join(new)}): SageMaker shifts traffic "
        f"only between variants of the same name, so this update switches all at once instead "
        f"of {wanted.strategy}{watched}; later updates use {wanted.strategy} again"
    )


def _instance_type_changes(desired: Desired, actual: Actual, variant_name: str) -> bool:
    """Whether the variant's instance type changes (it exists live and in the spec)."""
    current = actual.current_config
    if current is None:
        return False
    live, wanted = current.variant_named(variant_name), desired.config.variant_named(variant_name)
    return live is not None and wanted is not None and live.instance_type != wanted.instance_type


def _gone(actual: Actual) -> bool:
    return actual.endpoint is None or actual.endpoint.status == "Deleting"


def _variant_of(resource_id: str) -> str:
    """`endpoint/<name>/variant/<variant>` -> <variant>."""
    return resource_id.rsplit("/", 1)[-1]


def _scaling_changes(desired: Desired, actual: Actual) -> list[Change]:
    """Each variant's autoscaling: registered, updated, or removed (also around an instance
    type change, which SageMaker refuses while it is attached: kinds.py orders that removal
    before the endpoint change and the registration after it)."""
    out: list[Change] = []
    kept: dict[str, Scaling] = {}
    for live in actual.scalings:
        if _is_component_scaling(live.resource_id):
            continue  # _component_scaling_changes
        variant = _variant_of(live.resource_id)
        wanted = desired.scaling_of(variant)
        if wanted is None:
            reason = (
                "autoscaling removed from the spec"
                if desired.config.variant_named(variant) is not None
                else f"variant {variant} is removed from the spec"
            )
        elif wanted.dimension != live.dimension:
            reason = f"it scales {wanted.dimension} now, not {live.dimension}: registered again"
        elif _instance_type_changes(desired, actual, variant) and not _gone(actual):
            reason = (
                "SageMaker refuses an instance type change while autoscaling is attached; "
                "it is registered again after the update (or restored if the update fails)"
            )
        else:
            kept[live.resource_id] = live
            continue
        out.append(
            Change(Kind.SCALING, live.resource_id, Action.DELETE, to_json(live), None, (reason,))
        )

    for wanted in desired.scalings:
        if _is_component_scaling(wanted.resource_id):
            continue
        found = kept.get(wanted.resource_id)
        if found is None:
            out.append(
                Change(
                    Kind.SCALING,
                    wanted.resource_id,
                    Action.CREATE,
                    None,
                    to_json(wanted),
                    ("autoscaling registered once the endpoint is InService",),
                )
            )
        elif _scaling_key(found) != _scaling_key(wanted):
            out.append(
                Change(
                    Kind.SCALING,
                    wanted.resource_id,
                    Action.UPDATE,
                    to_json(found),
                    to_json(wanted),
                    _diff_reasons(
                        to_json(found),
                        to_json(wanted),
                        drift=not _as_applied(actual, found),
                    ),
                )
            )
    return out


def _as_applied(actual: Actual, live: Scaling) -> bool:
    """Whether the live autoscaling is what apply last applied (the endpoint's record says):
    then a difference is the spec's change, not one made outside deployspec."""
    record = AppliedRecord.parse(actual.endpoint_tags.get(TAG_APPLIED))
    if record is None:
        return False
    # The record hashes every target apply applied: the live ones, as a whole.
    return record.scaling in (
        part_hash(scalings_settings(actual.scalings)),
        part_hash(scaling_settings(live)),
    )


# --- inference components ---------------------------------------------------------------

# Read from SageMaker, never compared, and not part of what a change shows or sends.
_COMPONENT_LIVE_ONLY = ("status", "failure_reason", "arn", "current_copy_count")
# Component states that end by themselves; apply waits them out.
COMPONENT_IN_PROGRESS = frozenset({"Creating", "Updating"})
COMPONENT_PREFIX = "inference-component/"


@dataclass(frozen=True)
class _Components:
    """The components' changes (deletes, adapters first, then puts, bases first), what the
    plan notes about them, the models live components still name after it (kept by pruning),
    the live components that are not ours (their scaling is never touched), and those deleted
    and created again (their copy scaling is registered again after)."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept_models: frozenset[str] = frozenset()
    foreign: frozenset[str] = frozenset()
    recreated: frozenset[str] = frozenset()
    # Some change retags a component: the endpoint's own tags are then written last.
    retagged: bool = False


def _component_retag(
    desired: Desired, actual: Actual, name: str
) -> tuple[dict[str, str], dict[str, str]] | None:
    """A live component's tags before and after, when they must follow the spec's: state read
    them (it reads every component's when the spec's tags differ from the endpoint's) and their
    user tags are not the spec's. Ownership tags are the same on both sides: never touched."""
    live = actual.component_tags.get(name)
    if live is None or _user_tags(live) == _user_tags(desired.tags):
        return None
    return without_aws_tags(live), dict(desired.tags)


def _is_component_scaling(resource_id: str) -> bool:
    return resource_id.startswith(COMPONENT_PREFIX)


def _short_name(desired: Desired, name: str) -> str:
    """An IC name as the spec's components: name it (`<spec>-chat` -> chat)."""
    return name.removeprefix(f"{desired.spec_name}-")


def _component_json(component: InferenceComponent) -> dict[str, Any]:
    """A component as a change shows it: without what only SageMaker reports."""
    data: dict[str, Any] = to_json(component)
    for key in _COMPONENT_LIVE_ONLY:
        data.pop(key, None)
    return data


def _adapters_last(components: list[InferenceComponent]) -> list[InferenceComponent]:
    return sorted(components, key=lambda c: c.base_component is not None)


def _copy_count(desired: Desired, live: InferenceComponent, wanted: InferenceComponent) -> int:
    """The copy count the component must have: the spec's, or, under copy autoscaling, the
    live count brought within the range (inside it, the autoscaler's choice stands)."""
    if wanted.copy_count is None or live.copy_count is None:
        return wanted.copy_count if wanted.copy_count is not None else live.copy_count or 0
    scaling = desired.component_scaling(wanted.name)
    if scaling is None:
        return wanted.copy_count
    return min(max(live.copy_count, scaling.min_capacity), scaling.max_capacity)


def _copies_range(desired: Desired, name: str) -> dict[str, list[int]]:
    """For a component under copy autoscaling, the range its count may move in while apply
    waits (`copies_range`): a count the autoscaler chose inside it is no failure."""
    scaling = desired.component_scaling(name)
    if scaling is None:
        return {}
    return {"copies_range": [scaling.min_capacity, scaling.max_capacity]}


def _rolling_text(policy: RollingUpdate | None) -> str:
    if policy is None:
        return "SageMaker's default rollout"
    unit = "%" if policy.batch_type == "CAPACITY_PERCENT" else ""
    batch = (
        f"{policy.batch_value}% of its copies"
        if unit
        else f"{policy.batch_value} cop{'y' if policy.batch_value == 1 else 'ies'}"
    )
    wait = f", {policy.wait_seconds}s apart" if policy.wait_seconds else ""
    return f"its copies replaced {batch} at a time{wait}, rolled back by SageMaker on failure"


def _component_changes(desired: Desired, actual: Actual) -> _Components:
    """desired components × live ones → creates, updates (specification, runtime, or a wait
    for one in progress), deletes; foreign ones noted, never touched."""
    endpoint = actual.endpoint
    live_all: dict[str, InferenceComponent] = {} if _gone(actual) else dict(actual.components)
    if not desired.components and not live_all:
        return _Components()
    wanted_names = {c.name for c in desired.components}
    tags_of = actual.component_tags

    def ours(name: str) -> bool:
        return is_owned(tags_of.get(name, {}), desired.spec_name)

    notes: list[str] = []
    deletes: list[Change] = []
    puts: list[Change] = []
    kept_models: set[str] = set()
    foreign: set[str] = set()
    recreated: set[str] = set()
    replaced_endpoint = endpoint is not None and endpoint.status in BROKEN
    # Our components that another's adapter runs on: SageMaker refuses to delete them.
    based_on: dict[str, set[str]] = {}
    for other in live_all.values():
        if other.base_component is not None and not ours(other.name):
            based_on.setdefault(other.base_component, set()).add(other.name)

    # Those the spec no longer has (or that go with a broken endpoint): adapters first, so
    # that no adapter outlives its base.
    leaving = [
        c
        for c in live_all.values()
        if c.name not in wanted_names or replaced_endpoint or c.status == "Failed"
    ]
    for live in sorted(leaving, key=lambda c: (c.base_component is None, c.name)):
        if not ours(live.name):
            foreign.add(live.name)
            if live.model_name is not None:
                kept_models.add(live.model_name)
            if replaced_endpoint:
                raise PlanError(
                    f"endpoint {desired.endpoint_name} is {endpoint.status if endpoint else ''} "
                    f"and must be replaced, but it hosts inference component {live.name}, "
                    "which is not deployspec's: deleting the endpoint would delete it too",
                    hint=f"delete inference component {live.name} yourself, then plan again",
                )
            if live.name in wanted_names:
                continue  # refused below, with the other foreign ones the spec names
            notes.append(
                f"inference component {live.name} on endpoint {desired.endpoint_name} is not "
                f"deployspec's (it lacks spec {desired.spec_name}'s ownership tags): left as "
                "it is, and never changed or deleted"
            )
            continue
        if live.status == "Deleting" and live.name in wanted_names:
            continue  # going already; the create of the same name waits for it to be gone
        if live.name in based_on and live.name not in wanted_names:
            notes.append(
                f"inference component {live.name} is kept, though the spec no longer has it: "
                f"adapter {', '.join(sorted(based_on[live.name]))}, not deployspec's, runs on "
                "it, and SageMaker deletes no base while an adapter uses it"
            )
            if live.model_name is not None:
                kept_models.add(live.model_name)
            continue
        if live.status == "Deleting":
            reason = (
                "being deleted (by an earlier run that stopped): apply waits until it is "
                "gone, as what follows it needs"
            )
        elif replaced_endpoint:
            reason = (
                f"endpoint is {endpoint.status if endpoint else ''}: it is replaced, and "
                "its components are deleted first and created again on the new one"
            )
            recreated.add(live.name)
        elif live.name in wanted_names:
            reason = (
                f"component is Failed ({live.failure_reason or 'no reason given'}): it is "
                "deleted and created again"
            )
            recreated.add(live.name)
        elif live.base_component is not None:
            reason = f"adapter {_short_name(desired, live.name)} is removed from the spec"
        else:
            reason = f"component {_short_name(desired, live.name)} is removed from the spec"
        deletes.append(
            Change(
                Kind.INFERENCE_COMPONENT,
                live.name,
                Action.DELETE,
                {"component": to_json(live)},
                None,
                (reason,),
            )
        )

    refused: list[str] = []
    for wanted in _adapters_last(list(desired.components)):
        was = live_all.get(wanted.name)
        current = was
        if was is not None and (was.name in recreated or was.status == "Deleting"):
            current = None
        if current is None:
            if was is not None and was.name not in recreated and not ours(was.name):
                refused.append(was.name)
                continue
            reason = (
                f"adapter on {_short_name(desired, wanted.base_component)}: loaded by its "
                "base component's copies"
                if wanted.base_component is not None
                else f"{wanted.copy_count} "
                f"cop{'y' if wanted.copy_count == 1 else 'ies'} placed on the endpoint's "
                "instances"
            )
            if was is not None and was.status == "Deleting":
                reason = "being deleted; created again once it is gone"
            elif was is not None and was.name in recreated:
                reason = "created again after the one deleted above"
            elif wanted.base_component is None and wanted.copy_count is not None:
                reason = f"no inference component {wanted.name} yet: {reason}"
            puts.append(
                Change(
                    Kind.INFERENCE_COMPONENT,
                    wanted.name,
                    Action.CREATE,
                    None,
                    {
                        "component": _component_json(wanted),
                        "tags": desired.tags,
                        "rolling_update": None,
                        **_copies_range(desired, wanted.name),
                    },
                    (reason,),
                )
            )
            continue
        copies = _copy_count(desired, current, wanted)
        target = replace(wanted, copy_count=copies if wanted.copy_count is not None else None)
        specification_differs = (
            inference_component_specification(current) != inference_component_specification(target)
            or current.variant_name != target.variant_name
        )
        copies_differ = target.copy_count is not None and target.copy_count != current.copy_count
        retag = _component_retag(desired, actual, current.name)
        if retag is not None and not ours(current.name):
            refused.append(current.name)
            continue
        tags_before, tags_after = ({"tags": retag[0]}, {"tags": retag[1]}) if retag else ({}, {})
        if not specification_differs and not copies_differ:
            if current.model_name is not None:
                kept_models.add(current.model_name)
            waiting = current.status in COMPONENT_IN_PROGRESS
            if not waiting and retag is None:
                continue
            # Waited for when a change is in flight, retagged when the spec's tags changed: a
            # tag change alone is AddTags / DeleteTags on the component, nothing else.
            status = ({"status": current.status}, {"status": "InService"}) if waiting else ({}, {})
            puts.append(
                Change(
                    Kind.INFERENCE_COMPONENT,
                    wanted.name,
                    Action.UPDATE,
                    {"component": _component_json(current), **status[0], **tags_before},
                    {
                        "component": _component_json(target),
                        "update": "wait" if waiting else "tags",
                        "rolling_update": None,
                        **status[1],
                        **tags_after,
                        **_copies_range(desired, wanted.name),
                    },
                    (
                        *(
                            [
                                f"component is {current.status}, as the spec asks: apply waits "
                                "until it is InService"
                            ]
                            if waiting
                            else []
                        ),
                        *(["tags changed"] if retag else []),
                    ),
                )
            )
            continue
        if not ours(current.name):
            refused.append(current.name)
            continue
        before = _component_json(current)
        after_component = _component_json(target)
        reasons = list(_diff_reasons(_comparable(before), _comparable(after_component)))
        if specification_differs:
            policy = desired.rolling_updates.get(wanted.name)
            reasons.insert(
                0, f"new specification (UpdateInferenceComponent): {_rolling_text(policy)}"
            )
            update = "specification"
            rolling = to_json(policy) if policy is not None else None
        else:
            reasons.insert(0, "copy count alone (UpdateInferenceComponentRuntimeConfig)")
            update = "runtime"
            rolling = None
        if current.status in COMPONENT_IN_PROGRESS:
            reasons.append(f"component is {current.status}: apply waits for it first")
        if retag:
            reasons.append("tags changed")
        puts.append(
            Change(
                Kind.INFERENCE_COMPONENT,
                wanted.name,
                Action.UPDATE,
                {"component": before, **tags_before},
                {
                    "component": after_component,
                    "update": update,
                    "rolling_update": rolling,
                    **tags_after,
                    **_copies_range(desired, wanted.name),
                },
                tuple(reasons),
            )
        )
    if refused:
        raise NotManagedError(
            f"inference component{'s' if len(refused) > 1 else ''} {', '.join(refused)} on "
            f"endpoint {desired.endpoint_name} "
            f"{'are' if len(refused) > 1 else 'is'} not deployspec's (without spec "
            f"{desired.spec_name}'s ownership tags), and the spec asks for "
            f"{'them' if len(refused) > 1 else 'it'} to change",
            hint="rename the spec's component, or delete the other one yourself",
        )
    return _Components(
        changes=[*deletes, *puts],
        notes=notes,
        kept_models=frozenset(kept_models),
        foreign=frozenset(foreign),
        recreated=frozenset(recreated),
        retagged=any("tags" in (c.after or {}) for c in puts if c.action is Action.UPDATE),
    )


def _comparable(component: dict[str, Any]) -> dict[str, Any]:
    """What a component's reasons compare: not its name and endpoint, its identity."""
    return {k: v for k, v in component.items() if k not in ("name", "endpoint_name")}


def _component_scaling_changes(
    desired: Desired, actual: Actual, components: _Components
) -> list[Change]:
    """Each component's copy autoscaling: registered once the component is InService (with,
    for a minimum of 0 copies, what brings the first copy back), updated, or removed; that of
    a component that is not ours is never touched."""
    out: list[Change] = []
    kept: dict[str, Scaling] = {}
    for live in actual.scalings:
        if not _is_component_scaling(live.resource_id):
            continue
        name = live.resource_id.removeprefix(COMPONENT_PREFIX)
        if name in components.foreign:
            continue
        wanted = desired.component_scaling(name)
        if wanted is None:
            reason = (
                "copy autoscaling removed from the spec"
                if desired.component_named(name) is not None
                else f"component {_short_name(desired, name)} is removed from the spec"
            )
        elif name in components.recreated:
            reason = "its component is created again: registered again once it is InService"
        else:
            kept[live.resource_id] = live
            continue
        out.append(
            Change(Kind.SCALING, live.resource_id, Action.DELETE, to_json(live), None, (reason,))
        )
    for wanted in desired.scalings:
        if not _is_component_scaling(wanted.resource_id):
            continue
        found = kept.get(wanted.resource_id)
        if found is None:
            out.append(
                Change(
                    Kind.SCALING,
                    wanted.resource_id,
                    Action.CREATE,
                    None,
                    to_json(wanted),
                    _component_scaling_reasons(desired, wanted),
                )
            )
        elif _scaling_key(found) != _scaling_key(wanted):
            reasons = _diff_reasons(
                to_json(found), to_json(wanted), drift=not _as_applied(actual, found)
            )
            if wanted.scale_from_zero and not found.scale_from_zero:
                reasons = (*reasons, *_component_scaling_reasons(desired, wanted)[1:])
            out.append(
                Change(
                    Kind.SCALING,
                    wanted.resource_id,
                    Action.UPDATE,
                    to_json(found),
                    to_json(wanted),
                    reasons,
                )
            )
    return out


def _component_scaling_reasons(desired: Desired, scaling: Scaling) -> tuple[str, ...]:
    name = scaling.resource_id.removeprefix(COMPONENT_PREFIX)
    reasons = [
        f"copies of {_short_name(desired, name)} scaled between {scaling.min_capacity} and "
        f"{scaling.max_capacity} on concurrent requests per copy, registered once the "
        "component is InService"
    ]
    if scaling.scale_from_zero:
        reasons.append(
            "scales to zero copies: a step-scaling policy on a CloudWatch alarm (AWS/SageMaker "
            f"NoCapacityInvocationFailures, InferenceComponentName={name}) adds the first copy "
            "back when a request finds none (that request fails while the copy starts)"
        )
    return tuple(reasons)


def _endpoint_change(
    desired: Desired,
    actual: Actual,
    mark: str | None,
    capacity_only: bool = False,
    *,
    defer_tags: bool = False,
) -> Change | None:
    """The endpoint's own change: created, replaced when unusable, or updated in place (to a
    new config, its variants' weights and counts, its tags), or None. `defer_tags`: the
    components' tags change, after this change (their row waits for it): an update keeps the
    endpoint's user tags and records as they are, for make_plan's record to write last."""
    endpoint = actual.endpoint
    name = desired.endpoint_name
    target = (
        endpoint.config_name
        if capacity_only and endpoint is not None
        else actual.stand_in or actual.serves_for or desired.config.name
    )

    bookkeeping = {TAG_PRUNED: mark} if mark is not None else {}
    # An endpoint created in place of one being deleted or broken carries over what apply
    # recorded on it: with the prune mark read but not rewritten (state skipped listing because
    # of it), dropping it would make the next plan a change.
    # Not the stand-in record: a new endpoint serves the desired config itself.
    carried = {
        k: v
        for k, v in actual.endpoint_tags.items()
        if k in BOOKKEEPING_KEYS and k not in (TAG_ADOPTED, TAG_SERVES_FOR)
    }
    if endpoint is None or _gone(actual):
        return Change(
            Kind.ENDPOINT,
            name,
            Action.CREATE,
            None,
            {
                "name": name,
                "config_name": desired.config.name,
                "tags": {**desired.endpoint_tags, **carried, **bookkeeping},
            },
            ("endpoint does not exist",)
            if endpoint is None
            else ("endpoint is being deleted; it is created again once gone",),
        )

    live_tags = without_aws_tags(actual.endpoint_tags)

    def replacement(
        live: Endpoint, before: dict[str, Any], after: dict[str, Any], reason: str, forces: str
    ) -> Change:
        """The endpoint deleted and created again under its name, on the desired config."""
        return Change(
            Kind.ENDPOINT,
            name,
            Action.REPLACE,
            {
                "config_name": endpoint.config_name,
                "status": endpoint.status,
                **before,
                "tags": live_tags,
            },
            {
                "name": name,
                "config_name": desired.config.name,
                **after,
                "tags": {**desired.endpoint_tags, **carried, **bookkeeping},
                "status": "InService",
            },
            (reason,),
            (forces,),
        )

    if endpoint.status in BROKEN:
        return replacement(
            endpoint,
            {"failure_reason": endpoint.failure_reason},
            {},
            f"endpoint is {endpoint.status}: {endpoint.failure_reason or 'no reason given'}",
            "status",
        )

    current = actual.current_config
    if (
        endpoint.config_name != target
        and current is not None
        and (current.async_inference is None) != (desired.config.async_inference is None)
    ):
        adding = desired.config.async_inference is not None
        return replacement(
            endpoint,
            {"async_inference": to_json(current.async_inference)},
            {"async_inference": to_json(desired.config.async_inference)},
            f"SageMaker cannot update an endpoint {'to' if adding else 'from'} asynchronous "
            "inference; it is deleted and created again under its name, and answers no "
            "requests in between",
            "async_inference",
        )

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    reasons: list[str] = []
    if endpoint.config_name != target:
        before["config_name"] = endpoint.config_name
        after["config_name"] = target
        shifted, why_not = _traffic_shift(desired, endpoint)
        after["deployment"] = to_json(shifted) if shifted else None
        if why_not:
            reasons.append(why_not)
        # With autoscaling, keep the instance counts the autoscaler chose instead of resetting
        # them to the config's initial counts (UpdateEndpoint RetainAllVariantProperties, which
        # is endpoint-wide: only when every real-time variant is autoscaled, now and after).
        realtime = [v for v in desired.config.variants if v.instance_type is not None]
        after["retain_instance_count"] = bool(realtime) and all(
            desired.scaling_of(v.variant_name) is not None
            and actual.scaling(scaling_resource_id(name, v.variant_name)) is not None
            and not _instance_type_changes(desired, actual, v.variant_name)
            for v in realtime
        )
        bookkeeping[TAG_PREVIOUS] = endpoint.config_name
        reasons.append(
            "new endpoint config: "
            + (
                "; ".join(_why_new(actual.current_config, desired.config, "endpoint config"))
                or (
                    "the same content under its new name (names now hash the whole request)"
                    if actual.current_config is not None
                    and _ours_renamed(desired, actual, actual.current_config.name)
                    else "changed"
                )
            )
        )
    else:
        was, wanted, why = _capacities(desired, endpoint, spec_change=capacity_only)
        if wanted:
            before["capacities"] = was
            after["capacities"] = wanted
            reasons.extend(why)
        if capacity_only:
            bookkeeping[TAG_SERVES_FOR] = f"{endpoint.config_name} {desired.config.name}"
            if not wanted:
                reasons.append(
                    "the variants' weights and instance counts are already the spec's: "
                    "recorded, with no new endpoint config"
                )
                after["config_name"] = target
    if endpoint.status in IN_PROGRESS and not after:
        # Nothing to change, but apply must still wait for it and check where it lands.
        before["status"] = endpoint.status
        after["status"] = "InService"
        reasons.append(f"endpoint is {endpoint.status}: apply waits until it is InService")
    # Bookkeeping tags already there are kept: the applier removes what `after` lacks.
    kept = {k: v for k, v in live_tags.items() if k in BOOKKEEPING_KEYS}
    if actual.stand_in is not None:
        bookkeeping[TAG_ADOPTED] = f"{actual.stand_in} {desired.config.name}"
    elif actual.serves_for is not None:
        bookkeeping[TAG_SERVES_FOR] = f"{actual.serves_for} {desired.config.name}"
    elif "config_name" in after and not capacity_only:
        # The endpoint leaves the config it was adopted with, or whose weights and counts
        # were set in place.
        kept.pop(TAG_ADOPTED, None)
        kept.pop(TAG_SERVES_FOR, None)
    spec_tags = desired.endpoint_tags
    if defer_tags:
        spec_tags = {
            **{k: v for k, v in live_tags.items() if k not in _OWNERSHIP_ONLY},
            **{k: v for k, v in desired.endpoint_tags.items() if k in _OWNERSHIP_ONLY},
        }
    wanted_tags = {**spec_tags, **kept, **bookkeeping}
    # The spec digest and the applied record only summarise what is compared on its own (the
    # config, the tags, the scaling) plus rollout settings, which act at the next update and
    # live nowhere else: a record that alone differs or is missing (a rollout edit, a scaling
    # edit, which make_plan records itself, an endpoint another deployspec version applied)
    # changes nothing on the endpoint, and planning it made an update with nothing to show.
    # They ride along, like the bookkeeping, when the endpoint changes anyway.
    tags_differ = _without_records(comparable_tags(live_tags)) != _without_records(spec_tags)
    if tags_differ and not reasons:
        reasons.append(
            f"adopted in place: it keeps serving {actual.stand_in}"
            if actual.stand_in is not None and TAG_ADOPTED not in live_tags
            else "tags changed"
        )
    # Bookkeeping alone is no reason for an endpoint change (make_plan records the prune mark
    # on its own); it rides along when the endpoint changes anyway.
    if live_tags != wanted_tags and (after or tags_differ):
        before["tags"] = live_tags
        after["tags"] = wanted_tags
    if not after:
        return None
    after.setdefault("config_name", target)
    before.setdefault("config_name", endpoint.config_name)
    return Change(Kind.ENDPOINT, name, Action.UPDATE, before, after, tuple(reasons))


def _capacities(
    desired: Desired, endpoint: Endpoint, *, spec_change: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """(live, wanted, reasons): the production variants whose weight or instance count differs
    from the spec's, by variant name. An autoscaled variant's count may move within its range:
    that is the autoscaler's doing, not a difference. `spec_change`: the spec changed them
    (else they were changed outside deployspec)."""
    before: dict[str, dict[str, Any]] = {}
    after: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    several = len(desired.config.variants) > 1
    for variant in desired.config.variants:
        live = next((v for v in endpoint.variants if v.variant_name == variant.variant_name), None)
        if live is None:
            continue
        was: dict[str, Any] = {}
        wanted: dict[str, Any] = {}
        prefix = f"variant {variant.variant_name}: " if several or spec_change else ""
        count = live.desired_instance_count
        wanted_count = variant.initial_instance_count
        scaling = desired.scaling_of(variant.variant_name)
        managed = variant.managed_scaling
        if scaling is not None and count is not None:
            wanted_count = min(max(count, scaling.min_capacity), scaling.max_capacity)
        elif managed is not None and count is not None:
            # SageMaker's own to move (managed instance scaling), within the spec's range.
            wanted_count = min(max(count, managed.min_instance_count), managed.max_instance_count)
        if (
            variant.instance_type is not None
            and count is not None
            and wanted_count is not None
            and count != wanted_count
        ):
            was["instance_count"], wanted["instance_count"] = count, wanted_count
            reasons.append(
                f"{prefix}instance count {count} → {wanted_count}"
                if spec_change
                else f"{prefix}instance count changed outside deployspec ({wanted_count} → {count})"
            )
        weight = live.desired_weight
        if weight is not None and abs(weight - variant.initial_weight) > 1e-9:
            was["weight"], wanted["weight"] = weight, variant.initial_weight
            reasons.append(
                f"{prefix}weight {_number(weight)} → {_number(variant.initial_weight)}"
                if spec_change
                else f"{prefix}variant weight changed outside deployspec"
            )
        if wanted:
            before[variant.variant_name] = was
            after[variant.variant_name] = wanted
    return before, after, reasons


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _prune(
    desired: Desired, actual: Actual, target: str, component_models: frozenset[str] = frozenset()
) -> tuple[list[Change], str | None]:
    """(deletions beyond the keep policy, the prune mark to record) — ((), None) when the
    endpoint was already pruned for its config and nothing was listed. `component_models`:
    the models live inference components still name once the plan is applied (no config
    names a component's model: an earlier one is pruned once no component names it)."""
    if actual.owned is None:
        return [], None
    endpoint = actual.endpoint
    configs = sorted(
        (o for o in actual.owned if o.kind == "endpoint_config"),
        key=lambda o: o.created,
        reverse=True,
    )
    # The desired config plus `keep` previous ones, the one serving now first among them: it is
    # the natural rollback target even when a rollback made it older than others.
    serving = endpoint.config_name if endpoint is not None else None
    previous = sorted(
        (c for c in configs if c.name != desired.config.name),
        key=lambda c: c.name != serving,
    )
    # The config the endpoint serves once the plan is applied is in use whatever `keep` says
    # (one whose weights and counts were set in place stands for the desired config).
    keep_configs = {desired.config.name, target, *(c.name for c in previous[: desired.keep])}
    doomed_configs = [c for c in configs if c.name not in keep_configs]

    keep_models = {m.name for m in desired.models} | component_models
    keep_models.update(n for c in configs if c.name in keep_configs for n in c.model_names)
    doomed_models = [o for o in actual.owned if o.kind == "model" and o.name not in keep_models]

    out = [
        Change(
            Kind.ENDPOINT_CONFIG,
            c.name,
            Action.DELETE,
            {"name": c.name, "created": c.created},
            None,
            (f"older than the {desired.keep} kept for rollback",),
        )
        for c in doomed_configs
    ]
    out.extend(
        Change(
            Kind.MODEL,
            m.name,
            Action.DELETE,
            {"name": m.name, "created": m.created},
            None,
            (
                "no kept endpoint config or inference component uses it"
                if desired.components
                else "no kept endpoint config uses it",
            ),
        )
        for m in doomed_models
    )
    return out, desired.prune_mark


def _without_records(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in RECORD_KEYS}


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in without_aws_tags(tags).items() if k not in OWNERSHIP_KEYS}


def _owned_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k in OWNERSHIP_KEYS}


def _scaling_key(scaling: Scaling) -> tuple[object, ...]:
    return (
        scaling.min_capacity,
        scaling.max_capacity,
        scaling.target_value,
        scaling.scale_in_cooldown,
        scaling.scale_out_cooldown,
        scaling.metric,
        scaling.scale_from_zero,
    )


def _why_new(
    current: Model | EndpointConfig | None, wanted: Model | EndpointConfig, what: str
) -> tuple[str, ...]:
    if current is None:
        return (f"no {what} with this content exists yet",)
    before = to_json(current)
    after = to_json(wanted)
    for volatile in ("name", "arn"):
        before.pop(volatile, None)
        after.pop(volatile, None)
    return _diff_reasons(before, after)


def _diff_reasons(
    before: dict[str, Any], after: dict[str, Any], *, drift: bool = False
) -> tuple[str, ...]:
    reasons = []
    hidden = secret_paths(before, after)
    withheld = withheld_paths(before, after)
    flat_before, flat_after = flatten(before), flatten(after)
    # A variant added or removed whole is one line, not one per attribute.
    whole: dict[str, str] = {}
    for side, other, what in ((before, after, "removed"), (after, before, "added")):
        for listing in ("variants", "shadow_variants"):
            names = {v["variant_name"] for v in side.get(listing) or []}
            kept = {v["variant_name"] for v in other.get(listing) or []}
            whole.update({f"{listing}.{name}": what for name in names - kept})
    for prefix, what in sorted(whole.items()):
        reasons.append(f"{prefix}: {what}")
    for key in sorted(set(flat_before) | set(flat_after)):
        if any(key.startswith(prefix + ".") for prefix in whole):
            continue
        old, new = flat_before.get(key), flat_after.get(key)
        # DECLARED is display metadata: the live model never carries it.
        if old == new or key in ("resource_id", "policy_name", DECLARED):
            continue
        if key in hidden:
            what = "added" if old is None else "removed" if new is None else "changed"
            reasons.append(f"{key}: {SENSITIVE} {what}")
        elif key in withheld:
            # The live value may be a secret that the spec, now without the key or without it
            # in secret_env, no longer declares (AWS keeps no record of which keys were):
            # say what happened and what the spec wants, never what the value was.
            reasons.append(f"{key}: removed" if new is None else f"{key}: changed to {_short(new)}")
        else:
            reasons.append(f"{key}: {_short(old)} → {_short(new)}")
    if drift and reasons:
        reasons.insert(0, "changed outside deployspec")
    return tuple(reasons)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, path))
        elif key in ("variants", "shadow_variants") and value == []:
            continue  # a config without shadows: nothing to show
        elif _named_variants(value):
            # A config's variants, by name: one line per attribute, not the whole list.
            for variant in value:
                out.update(flatten(variant, f"{path}.{variant['variant_name']}"))
        else:
            out[path] = value
    return out


def _named_variants(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and isinstance(v.get("variant_name"), str) for v in value)
    )


def _short(value: object) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def make_destroy_plan(
    spec_name: str,
    region: str,
    account: str,
    owned: Owned,
    *,
    purge: tuple[str, ...] = (),
    purge_weights: tuple[str, ...] = (),
) -> Plan:
    """Everything the spec owns, removed in an order SageMaker accepts. An endpoint without our
    tags is never touched. `purge`: the uploaded archives to delete too (the caller keeps only
    those deployspec uploaded under this spec's prefix); `purge_weights`: likewise the weights
    trees (their prefixes, each deleted with its manifest)."""
    changes: list[Change] = []
    endpoint = owned.endpoint
    ours = endpoint is not None and is_owned(owned.endpoint_tags, spec_name)
    notes: list[str] = []
    if endpoint is not None and not ours:
        notes.append(f"endpoint {endpoint.name} is not managed by deployspec: left alone")
    # Inference components: ours are deleted (adapters first); one that is not ours keeps the
    # endpoint it runs on, and the config and models that endpoint needs.
    foreign = [
        c for c in owned.components if not is_owned(owned.component_tags.get(c.name, {}), spec_name)
    ]
    foreign_names = {c.name for c in foreign}
    keeps_endpoint = ours and bool(foreign)
    # Ours, with another's adapter on it: kept with the endpoint (SageMaker deletes no base
    # while an adapter uses it), and its copy scaling and model with it.
    bases = {
        c.base_component: c.name for c in foreign if c.base_component not in (None, *foreign_names)
    }
    for base, adapter in sorted(bases.items()):
        notes.append(
            f"inference component {base} is kept: adapter {adapter}, not deployspec's, runs "
            "on it; delete the adapter yourself and destroy again to remove it"
        )
    kept_names = foreign_names | {b for b in bases if b is not None}
    kept = [c for c in owned.components if c.name in kept_names]
    if ours and endpoint is not None and foreign:
        notes.append(
            f"endpoint {endpoint.name} is kept: it hosts inference component"
            f"{'s' if len(foreign) > 1 else ''} {', '.join(sorted(foreign_names))}, not "
            "deployspec's, which deleting it would delete too; delete "
            f"{'them' if len(foreign) > 1 else 'it'} yourself and destroy again to remove the "
            "endpoint"
        )
    if ours:
        # Every variant's target, as read from the live endpoint: what the spec says now (say,
        # serverless) does not tell what was registered before. A foreign component's copy
        # scaling is its owner's.
        changes.extend(
            Change(Kind.SCALING, s.resource_id, Action.DELETE, to_json(s), None)
            for s in owned.scaling
            if not (
                _is_component_scaling(s.resource_id)
                and s.resource_id.removeprefix(COMPONENT_PREFIX) in kept_names
            )
            and not (keeps_endpoint and not _is_component_scaling(s.resource_id))
        )
        changes.extend(
            Change(
                Kind.INFERENCE_COMPONENT,
                c.name,
                Action.DELETE,
                {"component": to_json(c)},
                None,
                ("being deleted already (by an earlier run that stopped): waited for",)
                if c.status == "Deleting"
                else ("an adapter, deleted before its base",)
                if c.base_component is not None
                else ("deleted before the endpoint",),
            )
            for c in sorted(owned.components, key=lambda c: (c.base_component is None, c.name))
            if c.name not in kept_names
        )
    if ours and endpoint is not None and not keeps_endpoint:
        changes.append(
            Change(
                Kind.ENDPOINT,
                endpoint.name,
                Action.DELETE,
                {"config_name": endpoint.config_name, "status": endpoint.status},
                None,
            )
        )
    serving = (
        endpoint.config_name if endpoint is not None and (not ours or keeps_endpoint) else None
    )
    # Reasons say what each item is to the endpoint, which its name and date do not: what it
    # serves now, or what is kept for rollback (a bare "destroy" on every line said nothing).
    current = endpoint.config_name if endpoint is not None and ours else None
    uses = {o.name: o.model_names for o in owned.resources if o.kind == "endpoint_config"}
    named = {c.model_name for c in kept if c.model_name is not None}
    for item in sorted(owned.resources, key=lambda o: (o.kind != "endpoint_config", o.name)):
        if item.name == serving:
            continue  # in use by an endpoint that is not ours, or that is kept
        if item.kind == "model" and item.name in named:
            notes.append(
                f"model {item.name} is kept: inference component "
                f"{', '.join(sorted(c.name for c in kept if c.model_name == item.name))}, "
                "which is kept, serves it"
            )
            continue
        changes.append(
            Change(
                Kind(item.kind),
                item.name,
                Action.DELETE,
                {"name": item.name, "created": item.created},
                None,
                _destroy_reason(item, current, uses),
            )
        )
    for uri in sorted(set(purge)):
        changes.append(
            Change(
                Kind.ARTIFACT,
                uri,
                Action.DELETE,
                {"s3_uri": uri},
                None,
                ("--purge-artifacts: no other model uses this archive",),
            )
        )
    for uri in sorted(set(purge_weights)):
        changes.append(
            Change(
                Kind.WEIGHTS,
                uri,
                Action.DELETE,
                {"s3_uri": uri},
                None,
                ("--purge-artifacts: no other model uses these weights",),
            )
        )
    return Plan(
        spec_name=spec_name,
        endpoint_name=spec_name,
        region=region,
        account=account,
        changes=order(changes),
        fingerprint={},
        notes=tuple(notes),
        endpoint_status=endpoint.status if endpoint else None,
    )


def _destroy_reason(
    item: OwnedResource, serving: str | None, uses: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """What a config or model is to the endpoint being destroyed; nothing when not known (no
    endpoint of ours, a model no config names)."""
    if serving is None:
        return ()
    if item.kind == "endpoint_config":
        return ("the endpoint serves it",) if item.name == serving else ("kept for rollback",)
    if item.name in uses.get(serving, ()):
        return ("the endpoint serves it",)
    if any(item.name in models for models in uses.values()):
        return ("kept for rollback",)
    return ()


def rollback_target(spec_name: str, owned: Owned) -> str:
    """The config to roll back to: the one the endpoint served before its last update (recorded
    by apply), else the newest kept config older than the current one."""
    endpoint = owned.endpoint
    if endpoint is None or not is_owned(owned.endpoint_tags, spec_name):
        raise NotManagedError(f"no endpoint {spec_name!r} managed by deployspec to roll back")
    kept = {o.name: o for o in owned.resources if o.kind == "endpoint_config"}
    previous = owned.endpoint_tags.get(TAG_PREVIOUS)
    if previous and previous in kept and previous != endpoint.config_name:
        return previous
    current = kept.get(endpoint.config_name)
    older = sorted(
        (c for c in kept.values() if current is None or c.created < current.created),
        key=lambda c: c.created,
        reverse=True,
    )
    if not older:
        raise NotManagedError(
            f"endpoint {spec_name} has no kept config to roll back to from {endpoint.config_name}",
            hint="keep: in the spec sets how many previous configs are kept",
        )
    return older[0].name


def make_rollback_plan(
    spec_name: str,
    region: str,
    account: str,
    owned: Owned,
    current: EndpointConfig | None,
    target: EndpointConfig,
) -> Plan:
    """Point the endpoint back at `target`, with autoscaling following the config that will
    serve, as apply handles it: the count the autoscaler chose is kept, scaling is taken off
    around an instance type change SageMaker would refuse and registered again afterwards, and
    a serverless target (no instances to scale) or a variant the target lacks loses it."""
    endpoint = owned.endpoint
    if endpoint is None:
        raise NotManagedError(f"no endpoint {spec_name!r} to roll back")
    if current is not None and current.hosts_components != target.hosts_components:
        raise PlanError(
            f"cannot roll endpoint {spec_name} back to {target.name}: one of the two configs "
            "hosts inference components and the other serves a model of its own, and SageMaker "
            "cannot update an endpoint across that",
            hint="apply the earlier spec instead",
        )
    if current is not None and (current.async_inference is None) != (
        target.async_inference is None
    ):
        raise PlanError(
            f"cannot roll endpoint {spec_name} back to {target.name}: one of the two configs "
            "serves asynchronous inference and the other does not, and SageMaker cannot update "
            "an endpoint across that",
            hint="apply the earlier spec instead: its plan replaces the endpoint",
        )
    kept: list[Scaling] = []  # kept across the rollback, its instance type unchanged
    again: list[Scaling] = []  # taken off around an instance type change, registered again
    changes: list[Change] = []
    notes: list[str] = []
    if target.hosts_components:
        notes.append(
            "rollback moves the endpoint to an earlier config (its instances: type, count, "
            "managed scaling, routing); its inference components are left as they are: apply "
            "an earlier spec to roll them back"
        )
    for scaling in owned.scaling:
        if _is_component_scaling(scaling.resource_id):
            continue  # a component's copies: the component is not rolled back
        name = _variant_of(scaling.resource_id)
        variant = next((v for v in target.variants if v.variant_name == name), None)
        was = current.variant_named(name) if current is not None else None
        if variant is not None and variant.instance_type is not None:
            if was is not None and was.instance_type == variant.instance_type:
                kept.append(scaling)
                continue
            again.append(scaling)
            reason = "SageMaker refuses an instance type change while autoscaling is attached"
        elif variant is not None:
            reason = f"{target.name} is serverless: it has no instances to scale"
        else:
            reason = f"{target.name} has no such variant"
        changes.append(
            Change(
                Kind.SCALING, scaling.resource_id, Action.DELETE, to_json(scaling), None, (reason,)
            )
        )
    live_tags = without_aws_tags(owned.endpoint_tags)
    # The weights and counts set in place were the abandoned config's.
    tags = {k: v for k, v in live_tags.items() if k != TAG_SERVES_FOR}
    realtime = [v for v in target.variants if v.instance_type is not None]
    changes.append(
        Change(
            Kind.ENDPOINT,
            spec_name,
            Action.UPDATE,
            {"config_name": endpoint.config_name, "tags": live_tags},
            {
                "config_name": target.name,
                "deployment": None,
                # Endpoint-wide (see _endpoint_change): only when every real-time variant keeps
                # its autoscaling.
                "retain_instance_count": bool(realtime)
                and len(kept) == len(realtime)
                and not again,
                "tags": {**tags, TAG_PREVIOUS: endpoint.config_name},
            },
            (f"roll back to {target.name}",),
        )
    )
    changes.extend(
        Change(
            Kind.SCALING,
            scaling.resource_id,
            Action.CREATE,
            None,
            to_json(scaling),
            ("registered again after the rollback",),
        )
        for scaling in again
    )
    return Plan(
        spec_name=spec_name,
        endpoint_name=spec_name,
        region=region,
        account=account,
        changes=order(changes),
        fingerprint={},
        notes=tuple(notes),
        endpoint_status=endpoint.status,
        target_config=target.name,
    )
