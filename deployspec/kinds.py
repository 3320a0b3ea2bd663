"""Resource kinds as rows: what identifies each, what names it, and what its changes wait for.

Contract: `ROWS` has one `Row` per plan Kind: how a resource of the kind is identified (its
address is `<kind>.<identity>`), whether a change to it makes a new content-named resource, is
made in place, or replaces it, and which other changes its own must come after (`after`: a
create/update/replace — "put" — or a delete of another kind). `order(changes)` sorts any
plan's changes (apply, destroy, rollback) so that every change comes after those it waits for,
keeping the planner's order among the rest: apply executes exactly that order and never
re-decides it. Rules are per kind, so changes of one kind keep the planner's order among
themselves: that is how an adapter component comes after its base (the planner emits bases
first among puts, adapters first among deletes). Adding a kind of resource is adding a Row
(and its Kind, its request in wire.py, its reading in state.py and its planning rule in
planner.py): docs/architecture.md says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .plan import Action, Change, Kind


class Phase(StrEnum):
    PUT = "put"  # create, update or replace
    DELETE = "delete"


def phase_of(change: Change) -> Phase:
    return Phase.DELETE if change.action is Action.DELETE else Phase.PUT


@dataclass(frozen=True)
class Row:
    kind: Kind
    label: str  # how messages name one
    identity: str  # what the name in its address is
    on_change: str  # what a change of its content means
    # (this kind's phase, the kind and phase it waits for, why)
    after: tuple[tuple[Phase, Kind, Phase, str], ...] = ()
    # Its identity is unique across accounts and regions (an S3 URI), not within one.
    global_identity: bool = False


PUT, DELETE = Phase.PUT, Phase.DELETE

ROWS: dict[Kind, Row] = {
    row.kind: row
    for row in (
        Row(
            Kind.BUCKET,
            "bucket",
            "bucket name",
            "created once; never changed or deleted",
            global_identity=True,
        ),
        Row(
            Kind.ARTIFACT,
            "artifact",
            "S3 URI named by the archive's content digest",
            "a new archive at a new key",
            (
                (PUT, Kind.BUCKET, PUT, "uploaded into the bucket"),
                (DELETE, Kind.MODEL, DELETE, "deleted once no model names it"),
            ),
            global_identity=True,
        ),
        Row(
            Kind.WEIGHTS,
            "weights",
            "S3 prefix named by the digest of its files' paths, digests and sizes",
            "a new prefix; files an earlier tree holds are copied server-side, the rest uploaded",
            (
                (PUT, Kind.BUCKET, PUT, "uploaded into the bucket"),
                (DELETE, Kind.MODEL, DELETE, "deleted once no model names it"),
            ),
            global_identity=True,
        ),
        Row(
            Kind.MODEL,
            "model",
            "content name: spec name + hash of its whole CreateModel request",
            "a new model (SageMaker models cannot be changed); tags are updated in place",
            (
                (PUT, Kind.ARTIFACT, PUT, "its ModelDataUrl must exist"),
                (PUT, Kind.WEIGHTS, PUT, "its ModelDataSource prefix must be complete"),
                (DELETE, Kind.ENDPOINT_CONFIG, DELETE, "no config may name it"),
                (DELETE, Kind.ENDPOINT, PUT, "the endpoint no longer serves it"),
                (DELETE, Kind.ENDPOINT, DELETE, "the endpoint is gone"),
                (DELETE, Kind.INFERENCE_COMPONENT, PUT, "no component names it any more"),
                (DELETE, Kind.INFERENCE_COMPONENT, DELETE, "no component names it any more"),
            ),
        ),
        Row(
            Kind.ENDPOINT_CONFIG,
            "endpoint config",
            "content name: spec name + hash of its whole CreateEndpointConfig request",
            "a new config (configs cannot be changed); tags are updated in place",
            (
                (PUT, Kind.MODEL, PUT, "its variants name the model"),
                (DELETE, Kind.ENDPOINT, PUT, "the endpoint no longer serves it"),
                (DELETE, Kind.ENDPOINT, DELETE, "the endpoint is gone"),
                (DELETE, Kind.SCALING, PUT, "pruned once the endpoint is settled"),
            ),
        ),
        Row(
            Kind.ENDPOINT,
            "endpoint",
            "the spec's name (stable: what clients invoke)",
            "updated in place to a new config (UpdateEndpoint, no downtime), or its weights "
            "and capacities; replaced only when it is unusable",
            (
                (PUT, Kind.ENDPOINT_CONFIG, PUT, "it serves the config"),
                (PUT, Kind.MODEL, PUT, "its config's models must exist"),
                (
                    PUT,
                    Kind.SCALING,
                    DELETE,
                    "SageMaker refuses an instance type change while autoscaling is attached",
                ),
                (DELETE, Kind.SCALING, DELETE, "a scalable target outliving its endpoint fails"),
                (
                    DELETE,
                    Kind.INFERENCE_COMPONENT,
                    DELETE,
                    "an endpoint is deleted once it hosts no components",
                ),
                (
                    PUT,
                    Kind.INFERENCE_COMPONENT,
                    DELETE,
                    "a replaced endpoint's components are deleted first; a removed component "
                    "frees its instances' capacity first",
                ),
            ),
        ),
        Row(
            Kind.INFERENCE_COMPONENT,
            "inference component",
            "the stable name <spec>-<component>",
            "updated in place: UpdateInferenceComponent (specification, rolling) or "
            "UpdateInferenceComponentRuntimeConfig (copy count only)",
            (
                (PUT, Kind.ENDPOINT, PUT, "placed once its endpoint is InService"),
                (PUT, Kind.MODEL, PUT, "its specification names the model"),
                (PUT, Kind.ARTIFACT, PUT, "an adapter's ArtifactUrl must exist"),
                (
                    PUT,
                    Kind.INFERENCE_COMPONENT,
                    DELETE,
                    "a removed component's copies free their instances' capacity first",
                ),
                (DELETE, Kind.SCALING, DELETE, "a scalable target outliving its component fails"),
                (PUT, Kind.SCALING, DELETE, "a re-created component's copy scaling goes first"),
            ),
        ),
        Row(
            Kind.SCALING,
            "scaling target",
            "Application Auto Scaling resource id endpoint/<name>/variant/<variant> or "
            "inference-component/<name>",
            "updated in place (RegisterScalableTarget and PutScalingPolicy)",
            (
                (PUT, Kind.ENDPOINT, PUT, "registered once the endpoint is InService"),
                (PUT, Kind.INFERENCE_COMPONENT, PUT, "registered once the component is InService"),
            ),
        ),
        Row(
            Kind.PRUNE_MARK,
            "record",
            "the endpoint whose record tags it writes",
            "tags written in place",
            tuple(
                (PUT, kind, phase, "written once everything it records is done")
                for kind in Kind
                if kind is not Kind.PRUNE_MARK
                for phase in Phase
            ),
        ),
    )
}


def waits_for(change: Change, other: Change) -> bool:
    """Whether `change` must come after `other`, by the rows' rules."""
    mine = phase_of(change)
    theirs = phase_of(other)
    return any(
        phase is mine and kind is other.kind and other_phase is theirs
        for phase, kind, other_phase, _ in ROWS[change.kind].after
    )


def order(changes: Sequence[Change]) -> tuple[Change, ...]:
    """The changes in an order every row's rules accept: repeatedly the first change (in the
    planner's order) that waits for none of those left. The rules form no cycle (tested)."""
    left = list(changes)
    out: list[Change] = []
    while left:
        for index, change in enumerate(left):
            if not any(waits_for(change, other) for other in left if other is not change):
                out.append(left.pop(index))
                break
        else:  # pragma: no cover - the rules are acyclic (tests/test_kinds.py)
            raise ValueError(f"the ordering rules form a cycle among {[c.address for c in left]}")
    return tuple(out)
