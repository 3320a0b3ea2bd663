"""Inference components in the planner: tables of (desired, actual) → changes, no AWS at all.

One endpoint, `assistants`, hosts three components: `chat` (a GPU model, copy autoscaling
from zero, a rolling update policy), `embed` (a CPU model, two copies) and `chat-lora` (an
adapter on chat). Each row changes one thing and names the changes the plan must hold, in
order; the rows after the table check what those changes carry (their `after` is what apply
executes), destroy and rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from deployspec.desired import Desired
from deployspec.errors import NotManagedError, PlanError
from deployspec.kinds import waits_for
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.planner import flatten, make_destroy_plan, make_plan, make_rollback_plan
from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    COPY_COUNT_DIMENSION,
    Artifact,
    ComputeRequirements,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    LiveVariant,
    ManagedInstanceScaling,
    Model,
    OwnedResource,
    RollingUpdate,
    Scaling,
    Variant,
    ownership_tags,
    to_json,
)
from deployspec.state import Actual, Owned

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:3.3.6"
SHA = "b" * 64
ADAPTER_URL = f"s3://bucket/deployspec/assistants/{SHA}/model.tar.gz"
OURS = ownership_tags("assistants")
TAGS = {"team": "ml", **OURS}

CHAT_MODEL = Model("assistants-aaaaaaaaaa", IMAGE, None, {"HF_MODEL_ID": "m"}, ROLE)
EMBED_MODEL = Model("assistants-eeeeeeeeee", IMAGE, None, {"HF_MODEL_ID": "e"}, ROLE)
NEW_CHAT_MODEL = replace(CHAT_MODEL, name="assistants-ffffffffff", environment={"HF_MODEL_ID": "n"})


def host(
    name: str = "assistants-cccccccccc", instance_type: str = "ml.g5.12xlarge"
) -> EndpointConfig:
    """The components' endpoint config: one model-less variant, instances scaled by SageMaker."""
    return EndpointConfig(
        name,
        (
            Variant(
                None,
                instance_type=instance_type,
                initial_instance_count=1,
                managed_scaling=ManagedInstanceScaling(0, 2),
            ),
        ),
        execution_role_arn=ROLE,
    )


CHAT = InferenceComponent(
    "assistants-chat",
    "assistants",
    model_name=CHAT_MODEL.name,
    compute=ComputeRequirements(16384, cpu_cores=4.0, accelerators=2.0),
    startup_health_check_timeout=600,
    model_data_download_timeout=600,
    copy_count=1,
)
EMBED = InferenceComponent(
    "assistants-embed",
    "assistants",
    model_name=EMBED_MODEL.name,
    compute=ComputeRequirements(1024, cpu_cores=1.0),
    copy_count=2,
)
LORA = InferenceComponent(
    "assistants-chat-lora", "assistants", base_component=CHAT.name, artifact_url=ADAPTER_URL
)
CHAT_SCALING = Scaling(
    "inference-component/assistants-chat",
    0,
    4,
    4.0,
    300,
    60,
    "deployspec-assistants-chat-concurrency",
    metric=CONCURRENT_REQUESTS_PER_COPY,
    scale_from_zero=True,
)
ROLLING = RollingUpdate("COPY_COUNT", 1, 0, 1200)


def desired(**overrides: Any) -> Desired:
    base = Desired(
        spec_name="assistants",
        region="us-east-1",
        account="123456789012",
        bucket="bucket",
        artifacts=(Artifact(SHA, 10, "/tmp/lora.tar.gz", ADAPTER_URL),),
        models=(CHAT_MODEL, EMBED_MODEL),
        config=host(),
        endpoint_name="assistants",
        tags=TAGS,
        spec_digest="d1",
        scalings=(CHAT_SCALING,),
        deployment=None,
        keep=2,
        timeout_seconds=1800,
        # The adapter first: the planner, not the spec's order, puts bases first.
        components=(LORA, CHAT, EMBED),
        rolling_updates={CHAT.name: ROLLING},
    )
    return replace(base, **overrides)


D = desired()


def live(component: InferenceComponent, **kw: Any) -> InferenceComponent:
    """As SageMaker describes it: InService, its copies running."""
    return replace(
        component,
        status=kw.pop("status", "InService"),
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:inference-component/{component.name}",
        current_copy_count=component.copy_count,
        **kw,
    )


LIVE = {c.name: live(c) for c in (CHAT, EMBED, LORA)}
LIVE_VARIANTS = (LiveVariant("AllTraffic", 1.0, 1.0, 1, 1),)


def settled(**kw: Any) -> Actual:
    """The endpoint as the last apply of D left it: InService on D's config, every component
    as D says (their tags unread: no change needs them)."""
    options: dict[str, Any] = {
        "endpoint": Endpoint(
            "assistants", D.config.name, "InService", arn="arn:ep", variants=LIVE_VARIANTS
        ),
        "endpoint_tags": {**D.endpoint_tags, "deployspec:pruned-for": D.prune_mark},
        "desired_config_exists": True,
        "existing_models": frozenset({CHAT_MODEL.name, EMBED_MODEL.name}),
        "scalings": (CHAT_SCALING,),
        "components": dict(LIVE),
        **kw,
    }
    return Actual(**options)


def tagged(*names: str, tags: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    return {name: dict(TAGS if tags is None else tags) for name in names}


IC, S, M, C, E, A = (
    Kind.INFERENCE_COMPONENT,
    Kind.SCALING,
    Kind.MODEL,
    Kind.ENDPOINT_CONFIG,
    Kind.ENDPOINT,
    Kind.ARTIFACT,
)
CREATE, UPDATE, REPLACE, DELETE = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE
CHAT_ID = CHAT_SCALING.resource_id


@dataclass(frozen=True)
class Case:
    name: str
    desired: Desired
    actual: Actual
    # (kind, name, action) of every change, in order.
    expected: list[tuple[Kind, str, Action]]
    # change index -> {flattened path of `after`: value}.
    after: dict[int, dict[str, Any]] = field(default_factory=dict)
    # change index -> fragments its reasons must hold.
    reasons: dict[int, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


NEW_ENDPOINT = Actual(bucket_exists=True, artifacts={ADAPTER_URL: "missing"})
# The spec's tags changed: team dropped, cost added.
RETAGGED = {"cost": "42", **OURS}

CASES = [
    Case(
        "a new endpoint: everything created, the endpoint before its components, bases before "
        "adapters, copy scaling after its component",
        D,
        NEW_ENDPOINT,
        [
            (A, ADAPTER_URL, CREATE),
            (M, CHAT_MODEL.name, CREATE),
            (M, EMBED_MODEL.name, CREATE),
            (C, D.config.name, CREATE),
            (E, "assistants", CREATE),
            (IC, CHAT.name, CREATE),
            (IC, EMBED.name, CREATE),
            (IC, LORA.name, CREATE),
            (S, CHAT_ID, CREATE),
        ],
        after={
            3: {
                "variants.AllTraffic.model_name": None,
                "variants.AllTraffic.managed_scaling.min_instance_count": 0,
                "variants.AllTraffic.managed_scaling.max_instance_count": 2,
                "execution_role_arn": ROLE,
            },
            5: {
                "component.model_name": CHAT_MODEL.name,
                "component.copy_count": 1,
                "component.compute.accelerators": 2.0,
                "rolling_update": None,
                "tags.deployspec:spec": "assistants",
                "tags.team": "ml",
            },
            7: {
                "component.base_component": CHAT.name,
                "component.artifact_url": ADAPTER_URL,
                "component.copy_count": None,
            },
            8: {"scale_from_zero": True, "min_capacity": 0},
        },
        reasons={
            5: ("no inference component assistants-chat yet", "1 copy placed"),
            7: ("adapter on chat",),
            8: ("NoCapacityInvocationFailures", "InferenceComponentName=assistants-chat"),
        },
    ),
    Case("every component as the spec says: nothing to do", D, settled(), []),
    Case(
        "a model change: a new model, the component's specification updated with its rolling "
        "policy, the old model pruned after it",
        desired(
            models=(NEW_CHAT_MODEL, EMBED_MODEL),
            components=(LORA, replace(CHAT, model_name=NEW_CHAT_MODEL.name), EMBED),
        ),
        settled(
            component_tags=tagged(CHAT.name),
            owned=(
                OwnedResource("endpoint_config", D.config.name, "2026-01-01"),
                OwnedResource("model", CHAT_MODEL.name, "2026-01-01"),
                OwnedResource("model", EMBED_MODEL.name, "2026-01-01"),
            ),
        ),
        [
            (M, NEW_CHAT_MODEL.name, CREATE),
            (IC, CHAT.name, UPDATE),
            (M, CHAT_MODEL.name, DELETE),
            (Kind.PRUNE_MARK, "assistants", UPDATE),
        ],
        after={
            1: {
                "update": "specification",
                "component.model_name": NEW_CHAT_MODEL.name,
                "component.copy_count": 1,
                "rolling_update.batch_type": "COPY_COUNT",
                "rolling_update.batch_value": 1,
                "rolling_update.timeout_seconds": 1200,
            }
        },
        reasons={
            1: (
                "UpdateInferenceComponent",
                "1 copy at a time",
                f"model_name: {CHAT_MODEL.name} → {NEW_CHAT_MODEL.name}",
            ),
            2: ("no kept endpoint config or inference component uses it",),
        },
    ),
    Case(
        "a copy count alone: one runtime update, nothing else",
        desired(components=(LORA, CHAT, replace(EMBED, copy_count=3))),
        settled(component_tags=tagged(EMBED.name)),
        [(IC, EMBED.name, UPDATE)],
        after={0: {"update": "runtime", "component.copy_count": 3, "rolling_update": None}},
        reasons={0: ("UpdateInferenceComponentRuntimeConfig", "copy_count: 2 → 3")},
    ),
    Case(
        "copies under autoscaling: a live count inside the range is the autoscaler's",
        D,
        settled(components={**LIVE, CHAT.name: live(CHAT, copy_count=3)}),
        [],
    ),
    Case(
        "copies under autoscaling: a live count above the range is brought back within it",
        D,
        settled(
            components={**LIVE, CHAT.name: live(CHAT, copy_count=6)},
            component_tags=tagged(CHAT.name),
        ),
        [(IC, CHAT.name, UPDATE)],
        after={0: {"update": "runtime", "component.copy_count": 4}},
    ),
    Case(
        "a compute change: the specification updated, SageMaker's default rollout (no "
        "policy), the copy count untouched",
        desired(
            components=(
                LORA,
                CHAT,
                replace(EMBED, compute=ComputeRequirements(2048, cpu_cores=1.0)),
            )
        ),
        settled(component_tags=tagged(EMBED.name)),
        [(IC, EMBED.name, UPDATE)],
        after={
            0: {
                "update": "specification",
                "rolling_update": None,
                "component.compute.min_memory_mb": 2048,
                "component.copy_count": 2,
            }
        },
        reasons={0: ("SageMaker's default rollout", "compute.min_memory_mb: 1024 → 2048")},
    ),
    Case(
        "a specification change under autoscaling keeps the autoscaler's copy count",
        desired(
            components=(LORA, replace(CHAT, startup_health_check_timeout=900), EMBED),
        ),
        settled(
            components={**LIVE, CHAT.name: live(CHAT, copy_count=3)},
            component_tags=tagged(CHAT.name),
        ),
        [(IC, CHAT.name, UPDATE)],
        after={0: {"update": "specification", "component.copy_count": 3}},
    ),
    Case(
        "an adapter and its base added: the base first, whatever the spec's order",
        D,
        settled(components={EMBED.name: LIVE[EMBED.name]}, scalings=()),
        [(IC, CHAT.name, CREATE), (IC, LORA.name, CREATE), (S, CHAT_ID, CREATE)],
    ),
    Case(
        "an adapter and its base removed: copy scaling, then the adapter, then its base",
        desired(components=(EMBED,), scalings=(), rolling_updates={}),
        settled(component_tags=tagged(CHAT.name, LORA.name)),
        [
            (S, CHAT_ID, DELETE),
            (IC, LORA.name, DELETE),
            (IC, CHAT.name, DELETE),
            # The autoscaling applied, recorded for drift once it is done (as for variants).
            (Kind.PRUNE_MARK, "assistants", UPDATE),
        ],
        reasons={
            0: ("component chat is removed from the spec",),
            1: ("adapter chat-lora is removed from the spec",),
        },
    ),
    Case(
        "a component removed: deleted, before the one added in its place (capacity)",
        desired(
            components=(LORA, CHAT, replace(EMBED, name="assistants-rerank")),
        ),
        settled(component_tags=tagged(EMBED.name)),
        [(IC, EMBED.name, DELETE), (IC, "assistants-rerank", CREATE)],
    ),
    Case(
        "a component that is not ours: noted, never touched, nor its copy scaling",
        D,
        settled(
            components={**LIVE, "someone-else": live(replace(EMBED, name="someone-else"))},
            scalings=(
                CHAT_SCALING,
                replace(CHAT_SCALING, resource_id="inference-component/someone-else"),
            ),
            component_tags=tagged("someone-else", tags={"team": "other"}),
        ),
        [],
        notes=("inference component someone-else on endpoint assistants is not deployspec's",),
    ),
    Case(
        "an instance type change: a new config and an endpoint update, no component change",
        desired(config=host("assistants-dddddddddd", "ml.g5.48xlarge")),
        settled(desired_config_exists=False, current_config=host()),
        [(C, "assistants-dddddddddd", CREATE), (E, "assistants", UPDATE)],
        after={1: {"config_name": "assistants-dddddddddd"}},
    ),
    Case(
        "managed instance scaling: SageMaker's instance count inside the range is no change",
        D,
        settled(
            endpoint=Endpoint(
                "assistants",
                D.config.name,
                "InService",
                arn="arn:ep",
                variants=(LiveVariant("AllTraffic", 1.0, 1.0, 0, 0),),
            )
        ),
        [],
    ),
    Case(
        "scale to zero: the copy scaling registered with what brings the first copy back",
        D,
        settled(scalings=()),
        [(S, CHAT_ID, CREATE)],
        after={
            0: {
                "scale_from_zero": True,
                "metric": CONCURRENT_REQUESTS_PER_COPY,
                "resource_id": CHAT_ID,
            }
        },
        reasons={0: ("between 0 and 4", "step-scaling policy", "NoCapacityInvocationFailures")},
    ),
    Case(
        "copy autoscaling removed from the spec: its target deleted, the component kept",
        desired(scalings=()),
        settled(),
        [(S, CHAT_ID, DELETE), (Kind.PRUNE_MARK, "assistants", UPDATE)],
        reasons={0: ("copy autoscaling removed from the spec",)},
    ),
    Case(
        "a Failed component: its scaling off, deleted, created again, scaling back on",
        D,
        settled(
            components={
                **LIVE,
                CHAT.name: live(CHAT, status="Failed", failure_reason="CUDA out of memory"),
            },
            component_tags=tagged(CHAT.name),
        ),
        [
            (S, CHAT_ID, DELETE),
            (IC, CHAT.name, DELETE),
            (IC, CHAT.name, CREATE),
            (S, CHAT_ID, CREATE),
        ],
        reasons={1: ("Failed (CUDA out of memory)",), 2: ("created again",)},
    ),
    Case(
        "a component still Creating as the spec asks (an apply was interrupted): apply waits",
        D,
        settled(components={**LIVE, EMBED.name: live(EMBED, status="Creating")}),
        [(IC, EMBED.name, UPDATE)],
        after={0: {"update": "wait", "status": "InService"}},
    ),
    Case(
        "the spec's tags changed: models, config and every component retagged (a tag change "
        "alone: AddTags / DeleteTags), the endpoint's own tags written last",
        desired(tags=RETAGGED),
        settled(component_tags=tagged(CHAT.name, EMBED.name, LORA.name)),
        [
            (M, CHAT_MODEL.name, UPDATE),
            (M, EMBED_MODEL.name, UPDATE),
            (C, D.config.name, UPDATE),
            (IC, CHAT.name, UPDATE),
            (IC, EMBED.name, UPDATE),
            (IC, LORA.name, UPDATE),
            (Kind.PRUNE_MARK, "assistants", UPDATE),
        ],
        after={
            3: {"update": "tags", "tags.cost": "42", "tags.deployspec:spec": "assistants"},
            5: {"update": "tags", "component.base_component": CHAT.name, "tags.cost": "42"},
            6: {"tags.cost": "42"},
        },
        reasons={3: ("tags changed",), 6: ("written last, once its components have them",)},
    ),
    Case(
        "the spec's tags and a copy count changed: the runtime update carries the tags",
        desired(tags=RETAGGED, components=(LORA, CHAT, replace(EMBED, copy_count=3))),
        settled(component_tags=tagged(CHAT.name, EMBED.name, LORA.name)),
        [
            (M, CHAT_MODEL.name, UPDATE),
            (M, EMBED_MODEL.name, UPDATE),
            (C, D.config.name, UPDATE),
            (IC, CHAT.name, UPDATE),
            (IC, EMBED.name, UPDATE),
            (IC, LORA.name, UPDATE),
            (Kind.PRUNE_MARK, "assistants", UPDATE),
        ],
        after={4: {"update": "runtime", "component.copy_count": 3, "tags.cost": "42"}},
        reasons={4: ("UpdateInferenceComponentRuntimeConfig", "tags changed")},
    ),
    Case(
        "a broken endpoint: its components deleted, the endpoint replaced, components again",
        D,
        settled(
            endpoint=Endpoint("assistants", D.config.name, "Failed", "boom", arn="arn:ep"),
            component_tags=tagged(CHAT.name, EMBED.name, LORA.name),
        ),
        [
            (S, CHAT_ID, DELETE),
            (IC, LORA.name, DELETE),
            (IC, CHAT.name, DELETE),
            (IC, EMBED.name, DELETE),
            (E, "assistants", REPLACE),
            (IC, CHAT.name, CREATE),
            (IC, EMBED.name, CREATE),
            (IC, LORA.name, CREATE),
            (S, CHAT_ID, CREATE),
        ],
    ),
]


def _check(plan: Plan, case: Case) -> None:
    assert [(c.kind, c.name, c.action) for c in plan.changes] == case.expected
    for index, attributes in case.after.items():
        shown = flatten(plan.changes[index].after or {})
        for path, value in attributes.items():
            assert path in shown, (index, path, sorted(shown))
            assert shown[path] == value, (index, path, shown[path])
        # What only SageMaker reports is never planned.
        assert "component.status" not in shown and "component.arn" not in shown
    for index, fragments in case.reasons.items():
        text = " | ".join(plan.changes[index].reasons)
        for fragment in fragments:
            assert fragment in text, (index, fragment, text)
    assert len(plan.notes) == len(case.notes), plan.notes
    for note, fragment in zip(plan.notes, case.notes, strict=True):
        assert fragment in note
    # Every change is after what it waits for (kinds.py), and has a reason.
    for index, change in enumerate(plan.changes):
        assert change.reasons, change.address
        assert not any(waits_for(change, later) for later in plan.changes[index + 1 :])


@pytest.mark.parametrize("case", CASES, ids=str)
def test_components_plan(case: Case) -> None:
    plan = make_plan(case.desired, case.actual)
    _check(plan, case)
    # JSON-safe: a saved plan holds exactly this.
    assert Plan.from_json(plan.to_json()) == plan


def planned_json(component: InferenceComponent) -> dict[str, Any]:
    data: dict[str, Any] = to_json(component)
    for key in ("status", "failure_reason", "arn", "current_copy_count"):
        del data[key]
    return data


def test_a_component_update_carries_the_live_component_without_what_only_sagemaker_reports() -> (
    None
):
    plan = make_plan(
        desired(components=(LORA, CHAT, replace(EMBED, copy_count=3))),
        settled(component_tags=tagged(EMBED.name)),
    )
    (change,) = plan.changes
    assert change.before == {"component": planned_json(EMBED)}
    assert change.after is not None
    assert set(change.after) == {"component", "update", "rolling_update"}
    assert change.after["component"] == planned_json(replace(EMBED, copy_count=3))


def test_a_component_deletion_carries_the_live_component() -> None:
    plan = make_plan(desired(components=(LORA, CHAT)), settled(component_tags=tagged(EMBED.name)))
    (change,) = plan.changes
    assert change.action is DELETE and change.after is None
    assert change.before == {"component": to_json(LIVE[EMBED.name])}


def test_a_component_the_spec_asks_to_change_but_is_not_ours_is_refused() -> None:
    with pytest.raises(NotManagedError, match=r"assistants-embed .*not deployspec's"):
        make_plan(
            desired(components=(LORA, CHAT, replace(EMBED, copy_count=3))),
            settled(component_tags=tagged(EMBED.name, tags={"team": "other"})),
        )
    # Its tags unread (state read them only where a change needs them): not proven ours.
    with pytest.raises(NotManagedError):
        make_plan(desired(components=(LORA, CHAT, replace(EMBED, copy_count=3))), settled())


def test_a_broken_endpoint_hosting_a_foreign_component_is_not_replaced() -> None:
    with pytest.raises(PlanError, match="someone-else"):
        make_plan(
            D,
            settled(
                endpoint=Endpoint("assistants", D.config.name, "Failed", "boom", arn="arn:ep"),
                components={**LIVE, "someone-else": live(replace(EMBED, name="someone-else"))},
                component_tags=tagged(CHAT.name, EMBED.name, LORA.name),
            ),
        )


def test_component_tags_follow_the_spec_without_touching_ownership_tags() -> None:
    plan = make_plan(
        desired(tags=RETAGGED), settled(component_tags=tagged(CHAT.name, EMBED.name, LORA.name))
    )
    retags = [c for c in plan.changes if c.kind is IC]
    assert [c.name for c in retags] == [CHAT.name, EMBED.name, LORA.name]
    for change in retags:
        # What the component has, then the spec's tags: team is removed, cost added, the
        # ownership tags the same on both sides (apply writes only what differs).
        assert (change.before or {})["tags"] == TAGS
        assert (change.after or {})["tags"] == RETAGGED
        assert (change.before or {})["component"] == (change.after or {})["component"]
    # No endpoint change: its tags and records come last, in the record (`team` removed).
    assert not [c for c in plan.changes if c.kind is E]
    record = plan.changes[-1]
    assert record.kind is Kind.PRUNE_MARK
    before, after = (record.before or {})["tags"], (record.after or {})["tags"]
    assert before["team"] == "ml" and "team" not in after and after["cost"] == "42"
    assert after["deployspec:applied"] == desired(tags=RETAGGED).endpoint_tags["deployspec:applied"]
    assert not set(after) & {"deployspec:managed-by", "deployspec:spec"}


def test_an_endpoint_update_during_a_retag_keeps_its_tags_for_the_record() -> None:
    """With a new config as well, the endpoint update keeps the endpoint's tags as they are:
    written before the components', an apply stopped in between would leave the components
    with the old tags and the endpoint saying they were done."""
    new = desired(tags=RETAGGED, config=host("assistants-dddddddddd", "ml.g5.48xlarge"))
    plan = make_plan(
        new,
        settled(
            desired_config_exists=False,
            current_config=host(),
            component_tags=tagged(CHAT.name, EMBED.name, LORA.name),
        ),
    )
    (update,) = [c for c in plan.changes if c.kind is E]
    assert (update.after or {})["config_name"] == "assistants-dddddddddd"
    kept = (update.after or {})["tags"]
    assert kept["team"] == "ml" and "cost" not in kept
    assert kept["deployspec:applied"] == D.endpoint_tags["deployspec:applied"]
    record = plan.changes[-1]
    assert record.kind is Kind.PRUNE_MARK and (record.after or {})["tags"]["cost"] == "42"
    assert plan.changes.index(update) < min(
        plan.changes.index(c) for c in plan.changes if c.kind is IC
    )


def test_a_retag_stopped_half_way_is_completed_by_the_next_plan() -> None:
    """chat got the new tags, embed and the adapter did not, the endpoint's were never written
    (they come last): the next plan retags the two, and writes the endpoint's."""
    plan = make_plan(
        desired(tags=RETAGGED),
        settled(
            component_tags={
                **tagged(EMBED.name, LORA.name),
                **tagged(CHAT.name, tags=RETAGGED),
            }
        ),
    )
    assert [c.name for c in plan.changes if c.kind is IC] == [EMBED.name, LORA.name]
    assert plan.changes[-1].kind is Kind.PRUNE_MARK


def test_the_prune_mark_follows_the_component_models() -> None:
    """A component's model changes with no new config: the mark must change with it, or
    state would skip listing and the old model would never be pruned."""
    other = desired(components=(LORA, replace(CHAT, model_name=NEW_CHAT_MODEL.name), EMBED))
    assert other.prune_mark != D.prune_mark
    assert other.prune_mark.startswith(f"{D.config.name}@keep=2@models=")
    assert desired(components=()).prune_mark == f"{D.config.name}@keep=2"


def test_component_scaling_scales_copies() -> None:
    assert CHAT_SCALING.dimension == COPY_COUNT_DIMENSION
    assert ("inference_component", CHAT.name) in [(k.value, n) for k, n in D.addresses]


# --- destroy and rollback -------------------------------------------------------------------


def owned(**kw: Any) -> Owned:
    options: dict[str, Any] = {
        "endpoint": Endpoint("assistants", D.config.name, "InService", arn="arn:ep"),
        "endpoint_tags": dict(D.endpoint_tags),
        "scaling": (CHAT_SCALING,),
        "resources": (
            OwnedResource("endpoint_config", D.config.name, "2026-01-02"),
            OwnedResource("model", CHAT_MODEL.name, "2026-01-02"),
            OwnedResource("model", EMBED_MODEL.name, "2026-01-02"),
        ),
        "model_data": {},
        "components": tuple(LIVE.values()),
        "component_tags": tagged(*LIVE),
        **kw,
    }
    return Owned(**options)


def _destroyed(plan: Plan) -> list[tuple[Kind, str, Action]]:
    return [(c.kind, c.name, c.action) for c in plan.changes]


def test_destroy_deletes_scaling_then_adapters_then_components_then_the_endpoint() -> None:
    plan = make_destroy_plan("assistants", "us-east-1", "123456789012", owned())
    assert _destroyed(plan) == [
        (S, CHAT_ID, DELETE),
        (IC, LORA.name, DELETE),
        (IC, CHAT.name, DELETE),
        (IC, EMBED.name, DELETE),
        (E, "assistants", DELETE),
        (C, D.config.name, DELETE),
        (M, CHAT_MODEL.name, DELETE),
        (M, EMBED_MODEL.name, DELETE),
    ]
    assert plan.notes == ()


def test_destroy_keeps_an_endpoint_hosting_a_component_that_is_not_ours() -> None:
    """Deleting the endpoint would take the other component with it: ours go, the endpoint,
    its config and the model the other component serves stay, and the plan says why."""
    theirs = live(replace(EMBED, name="someone-else"))
    plan = make_destroy_plan(
        "assistants",
        "us-east-1",
        "123456789012",
        owned(
            components=(*LIVE.values(), theirs),
            scaling=(
                CHAT_SCALING,
                replace(CHAT_SCALING, resource_id="inference-component/someone-else"),
            ),
        ),
    )
    assert _destroyed(plan) == [
        (S, CHAT_ID, DELETE),
        (IC, LORA.name, DELETE),
        (IC, CHAT.name, DELETE),
        (IC, EMBED.name, DELETE),
        (M, CHAT_MODEL.name, DELETE),
    ]
    assert len(plan.notes) == 2
    assert "endpoint assistants is kept" in plan.notes[0]
    assert "someone-else" in plan.notes[0]
    assert f"model {EMBED_MODEL.name} is kept" in plan.notes[1]


def _rollback(current: EndpointConfig, target: EndpointConfig) -> Plan:
    return make_rollback_plan(
        "assistants",
        "us-east-1",
        "123456789012",
        owned(scaling=(CHAT_SCALING,)),
        current,
        target,
    )


def test_rollback_moves_the_config_alone_and_leaves_components_and_their_scaling() -> None:
    plan = _rollback(host("assistants-dddddddddd", "ml.g5.48xlarge"), host())
    assert _destroyed(plan) == [(E, "assistants", UPDATE)]
    change: Change = plan.changes[0]
    assert change.after is not None and change.after["config_name"] == D.config.name
    assert any("inference components are left as they are" in note for note in plan.notes)


def test_rollback_across_components_and_a_model_of_its_own_is_refused() -> None:
    model_config = EndpointConfig(
        "assistants-9999999999",
        (Variant(CHAT_MODEL.name, instance_type="ml.g5.12xlarge", initial_instance_count=1),),
    )
    with pytest.raises(PlanError, match="hosts inference components"):
        _rollback(host(), model_config)


def test_a_component_update_reads_well_in_the_text_plan() -> None:
    """Rendered generically: the reasons say which call, the rows what changes, and the
    update mode itself (an execution detail) is not a row."""
    from deployspec.render import render_text

    text = render_text(
        make_plan(
            desired(
                models=(NEW_CHAT_MODEL, EMBED_MODEL),
                components=(LORA, replace(CHAT, model_name=NEW_CHAT_MODEL.name), EMBED),
            ),
            settled(component_tags=tagged(CHAT.name)),
        )
    )
    assert "  # inference_component.assistants-chat will be updated in-place\n" in text
    assert "new specification (UpdateInferenceComponent): its copies replaced 1 copy" in text
    assert f'~ component.model_name           = "{CHAT_MODEL.name}" -> "{NEW_CHAT_MODEL.name}"' in (
        text
    )
    assert '+ rolling_update.batch_type      = "COPY_COUNT"' in text
    assert " update " not in text and "status" not in text


def test_a_component_still_deleting_is_waited_for_before_what_needs_it_gone() -> None:
    """A destroy or apply killed after DeleteInferenceComponent: the next run plans the delete
    again (apply only waits), so that the endpoint or the base goes after it, not before."""
    deleting = {**LIVE, EMBED.name: live(EMBED, status="Deleting")}
    plan = make_destroy_plan(
        "assistants", "us-east-1", "123456789012", owned(components=tuple(deleting.values()))
    )
    assert (IC, EMBED.name, DELETE) in _destroyed(plan)
    assert _destroyed(plan).index((IC, EMBED.name, DELETE)) < _destroyed(plan).index(
        (E, "assistants", DELETE)
    )
    (waited,) = [c for c in plan.changes if c.name == EMBED.name]
    assert "being deleted already" in waited.reasons[0]
    # An adapter removed from the spec, still Deleting: its base's own deletion waits for it.
    gone = {**LIVE, LORA.name: live(LORA, status="Deleting")}
    applied = make_plan(
        desired(components=(EMBED,)),
        settled(components=gone, component_tags=tagged(*LIVE)),
    )
    order = [(c.kind, c.name, c.action) for c in applied.changes]
    assert order.index((IC, LORA.name, DELETE)) < order.index((IC, CHAT.name, DELETE))
    # One the spec still has is not deleted: its create waits for it to be gone.
    again = make_plan(
        D,
        settled(
            components={**LIVE, EMBED.name: live(EMBED, status="Deleting")},
            component_tags=tagged(*LIVE),
        ),
    )
    assert [(c.name, c.action) for c in again.changes if c.kind is IC] == [(EMBED.name, CREATE)]


def test_a_base_another_adapter_runs_on_is_kept_by_apply_and_destroy() -> None:
    """SageMaker deletes no base while an adapter uses it: a foreign adapter on our chat keeps
    chat (and its model and scaling) with a note, where it would otherwise be deleted."""
    theirs = live(replace(LORA, name="their-lora"))
    components = {**LIVE, theirs.name: theirs}
    plan = make_destroy_plan(
        "assistants",
        "us-east-1",
        "123456789012",
        owned(components=tuple(components.values())),
    )
    assert _destroyed(plan) == [
        (IC, LORA.name, DELETE),
        (IC, EMBED.name, DELETE),
        (M, EMBED_MODEL.name, DELETE),
    ]
    assert any(
        f"inference component {CHAT.name} is kept: adapter their-lora" in n for n in plan.notes
    )
    assert any(f"model {CHAT_MODEL.name} is kept" in n for n in plan.notes)
    applied = make_plan(
        desired(components=(EMBED,), scalings=()),
        settled(components=components, component_tags=tagged(*LIVE)),
    )
    deleted = [c.name for c in applied.changes if c.kind is IC and c.action is DELETE]
    assert deleted == [LORA.name]
    assert any(f"{CHAT.name} is kept, though the spec no longer has it" in n for n in applied.notes)
    assert not any(c.kind is M and c.name == CHAT_MODEL.name for c in applied.changes)


def test_an_autoscaled_component_carries_the_range_its_count_may_move_in() -> None:
    plan = make_plan(
        desired(components=(LORA, replace(CHAT, model_name=NEW_CHAT_MODEL.name), EMBED)),
        settled(component_tags=tagged(*LIVE)),
    )
    chat = next(c for c in plan.changes if c.kind is IC and c.name == CHAT.name)
    assert chat.after is not None and chat.after["copies_range"] == [0, 4]
    embed = make_plan(
        desired(components=(LORA, CHAT, replace(EMBED, copy_count=3))),
        settled(component_tags=tagged(*LIVE)),
    )
    (change,) = [c for c in embed.changes if c.kind is IC]
    assert change.after is not None and "copies_range" not in change.after
