"""The applier's inference-component handlers on a fake gateway and a fake clock: creating,
updating (the specification, rolled, or the copy count alone) and deleting, each waited for
and verified; an update SageMaker rolled back, a Failed component, a killed apply completed by
the next, and the ownership guard (nothing that is not this spec's is ever written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

import pytest

from deployspec.applier import Applier, Event
from deployspec.errors import ApplyError, AwsError, NotManagedError
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    ComputeRequirements,
    Endpoint,
    InferenceComponent,
    Model,
    RollingUpdate,
    Scaling,
    ownership_tags,
    to_json,
)
from tests.test_applier import Clock

if TYPE_CHECKING:
    from deployspec.aws import Gateway

OURS = ownership_tags("assistants")
CHAT = InferenceComponent(
    name="assistants-chat",
    endpoint_name="assistants",
    model_name="assistants-aaaaaaaaaa",
    compute=ComputeRequirements(min_memory_mb=1024, cpu_cores=1.0),
    copy_count=1,
)
NEW_MODEL = replace(CHAT, model_name="assistants-bbbbbbbbbb")
LORA = InferenceComponent(
    name="assistants-chat-lora",
    endpoint_name="assistants",
    base_component="assistants-chat",
    artifact_url="s3://bucket/assistants/" + "c" * 64 + "/model.tar.gz",
)


def live(component: InferenceComponent, status: str = "InService", **kw: Any) -> InferenceComponent:
    return replace(component, status=status, arn=f"arn:ic/{component.name}", **kw)


@dataclass
class FakeGateway:
    """The verbs the component handlers and their guard use. DescribeInferenceComponent
    answers `views[name]` one poll at a time (the last one repeats); a write replaces them
    with `after[(operation, name)]`."""

    views: dict[str, list[InferenceComponent | None]]
    after: dict[tuple[str, str], Sequence[InferenceComponent | None]] = field(default_factory=dict)
    # ARNs whose tags are not this spec's.
    not_ours: frozenset[str] = frozenset()
    create_error: AwsError | None = None
    log: list[str] = field(default_factory=list)
    writes: list[tuple[str, Any]] = field(default_factory=list)

    def describe_endpoint(self, name: str) -> Endpoint | None:
        return Endpoint("assistants", "assistants-cfg", "InService", arn="arn:ep")

    def describe_model(self, name: str) -> Model:
        return Model(name, "image", None, {}, "arn:role", arn=f"arn:model/{name}")

    def list_tags(self, arn: str) -> dict[str, str]:
        return {"team": "ml"} if arn in self.not_ours else dict(OURS)

    def describe_inference_component(self, name: str) -> InferenceComponent | None:
        self.log.append(f"Describe {name}")
        found = self.views.get(name, [None])
        return found.pop(0) if len(found) > 1 else found[0]

    def _wrote(self, operation: str, name: str, detail: Any) -> None:
        self.log.append(f"{operation} {name}")
        self.writes.append((operation, detail))
        if (operation, name) in self.after:
            self.views[name] = list(self.after[(operation, name)])

    def create_inference_component(
        self, component: InferenceComponent, tags: dict[str, str]
    ) -> str:
        self._wrote("Create", component.name, (component, tags))
        if self.create_error is not None:
            raise self.create_error
        return f"arn:ic/{component.name}"

    def update_inference_component(
        self,
        component: InferenceComponent,
        rolling_update: RollingUpdate | None,
        *,
        copy_count: int | None = None,
    ) -> None:
        self._wrote("Update", component.name, (component, rolling_update, copy_count))

    def update_inference_component_copies(
        self, component: InferenceComponent, copy_count: int
    ) -> None:
        self._wrote("UpdateRuntimeConfig", component.name, copy_count)

    def delete_inference_component(self, name: str) -> bool:
        self._wrote("Delete", name, None)
        return True

    def put_scaling(self, scaling: Scaling) -> None:
        self._wrote("PutScaling", scaling.resource_id, scaling)

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        self._wrote("AddTags", arn, dict(tags))

    def delete_tags(self, arn: str, keys: Sequence[str]) -> None:
        self._wrote("DeleteTags", arn, sorted(keys))


def run(gateway: FakeGateway, *changes: Change, clock: Clock | None = None) -> list[Event]:
    clock = clock or Clock()
    events: list[Event] = []
    plan = Plan(
        spec_name="assistants",
        endpoint_name="assistants",
        region="eu-west-1",
        account="123456789012",
        changes=changes,
        fingerprint={},
        timeout_seconds=600,
        target_config=None,
    )
    Applier(cast("Gateway", gateway), sleep=clock.sleep, clock=clock.time).apply(
        plan, events.append
    )
    return events


def create(component: InferenceComponent = CHAT) -> Change:
    return Change(
        Kind.INFERENCE_COMPONENT,
        component.name,
        Action.CREATE,
        None,
        {"component": to_json(component), "tags": OURS, "rolling_update": None},
    )


def update(
    before: InferenceComponent,
    after: InferenceComponent,
    how: str,
    rolling: RollingUpdate | None = None,
) -> Change:
    return Change(
        Kind.INFERENCE_COMPONENT,
        after.name,
        Action.UPDATE,
        {"component": to_json(before)},
        {
            "component": to_json(after),
            "update": how,
            "rolling_update": to_json(rolling) if rolling is not None else None,
        },
    )


def delete(component: InferenceComponent) -> Change:
    return Change(
        Kind.INFERENCE_COMPONENT,
        component.name,
        Action.DELETE,
        {"component": to_json(live(component))},
        None,
    )


def writes_of(gateway: FakeGateway) -> list[str]:
    return [operation for operation, _ in gateway.writes]


# --- create ----------------------------------------------------------------------------------


def test_a_component_is_created_with_its_tags_and_waited_for_until_in_service() -> None:
    gateway = FakeGateway(
        {CHAT.name: [None]},
        after={("Create", CHAT.name): [live(CHAT, "Creating")] * 2 + [live(CHAT)]},
    )

    events = run(gateway, create())

    assert gateway.writes == [("Create", (CHAT, OURS))]
    waits = [e.message for e in events if e.kind == "wait"]
    assert waits == ["Creating (0s)", "Creating (1s)"]


def test_an_adapter_is_created_on_its_base_which_must_be_ours() -> None:
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)], LORA.name: [None]},
        after={("Create", LORA.name): [live(LORA)]},
    )
    run(gateway, create(LORA))
    assert writes_of(gateway) == ["Create"]

    foreign = FakeGateway(
        {CHAT.name: [live(CHAT)], LORA.name: [None]}, not_ours=frozenset({f"arn:ic/{CHAT.name}"})
    )
    with pytest.raises(NotManagedError, match="its base assistants-chat"):
        run(foreign, create(LORA))
    assert foreign.writes == []


def test_a_killed_apply_is_completed_by_the_next_without_creating_it_again() -> None:
    """The first apply created it and was killed while it was Creating: the next apply's plan
    still says create, and finds it ours, on the planned specification."""
    gateway = FakeGateway({CHAT.name: [live(CHAT, "Creating"), live(CHAT)]})

    events = run(gateway, create())

    assert gateway.writes == []
    assert any("an earlier apply made it" in e.message for e in events)


def test_an_existing_component_on_another_specification_is_refused_not_overwritten() -> None:
    gateway = FakeGateway({CHAT.name: [live(NEW_MODEL)]})
    with pytest.raises(ApplyError, match="another specification than the plan's"):
        run(gateway, create())
    assert gateway.writes == []


def test_a_create_race_lost_to_a_concurrent_apply_of_the_same_component_is_waited_for() -> None:
    gateway = FakeGateway(
        {CHAT.name: [None]},
        after={("Create", CHAT.name): [live(CHAT, "Creating"), live(CHAT)]},
        create_error=AwsError("AWS CreateInferenceComponent failed: it already exists"),
    )
    events = run(gateway, create())
    assert any("another apply created it meanwhile" in e.message for e in events)


def test_a_component_that_ends_failed_fails_the_apply_with_its_reason() -> None:
    gateway = FakeGateway(
        {CHAT.name: [None]},
        after={
            ("Create", CHAT.name): [
                live(CHAT, "Creating"),
                live(CHAT, "Failed", failure_reason="the container did not pass its ping"),
            ]
        },
    )
    with pytest.raises(ApplyError, match="is Failed: the container did not pass its ping"):
        run(gateway, create())


def test_a_component_that_never_leaves_creating_times_out_at_the_plans_timeout() -> None:
    clock = Clock()
    gateway = FakeGateway(
        {CHAT.name: [None]}, after={("Create", CHAT.name): [live(CHAT, "Creating")]}
    )
    with pytest.raises(ApplyError, match="still Creating after 600s"):
        run(gateway, create(), clock=clock)
    assert 600 <= clock.now < 620


# --- update ----------------------------------------------------------------------------------


def test_a_copy_count_alone_is_exactly_one_write() -> None:
    more = replace(CHAT, copy_count=3)
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={
            ("UpdateRuntimeConfig", CHAT.name): [
                live(more, "Updating", current_copy_count=1),
                live(more, current_copy_count=3),
            ]
        },
    )

    events = run(gateway, update(CHAT, more, "runtime"))

    assert gateway.writes == [("UpdateRuntimeConfig", 3)]
    assert [e.message for e in events if e.kind == "wait"] == ["Updating, 1 of 3 copies (0s)"]


RETAGGED = {"cost": "42", **OURS}


def retag(change: Change, before: dict[str, str], after: dict[str, str]) -> Change:
    """The change with the component's tags following the spec's (as the planner adds them)."""
    return replace(
        change,
        before={**(change.before or {}), "tags": before},
        after={**(change.after or {}), "tags": after},
    )


def test_a_tag_change_alone_is_delete_tags_and_add_tags_on_the_component() -> None:
    gateway = FakeGateway({CHAT.name: [live(CHAT)]})

    run(gateway, retag(update(CHAT, CHAT, "tags"), {"team": "ml", **OURS}, RETAGGED))

    # Only what differs: the dropped key removed, the new one added; ownership untouched.
    assert gateway.writes == [("DeleteTags", ["team"]), ("AddTags", {"cost": "42"})]
    assert "DeleteTags arn:ic/assistants-chat" in gateway.log


def test_an_update_with_tags_retags_the_component_once_it_is_in_service() -> None:
    more = replace(CHAT, copy_count=3)
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={("UpdateRuntimeConfig", CHAT.name): [live(more, "Updating"), live(more)]},
    )

    run(gateway, retag(update(CHAT, more, "runtime"), dict(OURS), RETAGGED))

    assert writes_of(gateway) == ["UpdateRuntimeConfig", "AddTags"]
    assert gateway.writes[-1] == ("AddTags", {"cost": "42"})


def test_the_endpoints_tags_written_last_drop_the_keys_the_spec_dropped() -> None:
    record = Change(
        Kind.PRUNE_MARK,
        "assistants",
        Action.UPDATE,
        {"tags": {"team": "ml", "deployspec:applied": "old"}},
        {"tags": {"cost": "42", "deployspec:applied": "new"}},
    )
    gateway = FakeGateway({})

    run(gateway, record)

    assert gateway.writes == [
        ("DeleteTags", ["team"]),
        ("AddTags", {"cost": "42", "deployspec:applied": "new"}),
    ]
    assert gateway.log[-1] == "AddTags arn:ep"


def test_copies_asked_for_but_not_placed_are_waited_for_then_fail_with_what_to_do() -> None:
    more = replace(CHAT, copy_count=3)
    placing = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={
            ("UpdateRuntimeConfig", CHAT.name): [
                live(more, current_copy_count=2),
                live(more, current_copy_count=3),
            ]
        },
    )
    events = run(placing, update(CHAT, more, "runtime"))
    assert [e.message for e in events if e.kind == "wait"] == ["placing copies: 2 of 3 (0s)"]

    clock = Clock()
    short = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={("UpdateRuntimeConfig", CHAT.name): [live(more, current_copy_count=2)]},
    )
    with pytest.raises(ApplyError) as raised:
        run(short, update(CHAT, more, "runtime"), clock=clock)
    assert "has 2 of its 3 copies placed after 600s" in str(raised.value)
    assert raised.value.hint is not None and "managed_scaling.max" in raised.value.hint
    assert 600 <= clock.now < 620


def test_a_new_specification_is_rolled_as_the_plan_says_with_the_new_copy_count() -> None:
    policy = RollingUpdate("COPY_COUNT", 1, wait_seconds=30)
    target = replace(NEW_MODEL, copy_count=2)
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={("Update", CHAT.name): [live(target, "Updating"), live(target)]},
    )

    run(gateway, update(CHAT, target, "specification", policy))

    assert gateway.writes == [("Update", (target, policy, 2))]


def test_an_update_sagemaker_rolled_back_fails_with_its_reason() -> None:
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={
            ("Update", CHAT.name): [
                live(NEW_MODEL, "Updating"),
                live(CHAT, failure_reason="the new copies failed their health check"),
            ]
        },
    )
    with pytest.raises(ApplyError) as raised:
        run(gateway, update(CHAT, NEW_MODEL, "specification"))
    assert "was rolled back" in str(raised.value)
    assert "the new copies failed their health check" in str(raised.value)


def test_an_update_already_made_by_a_killed_apply_is_only_verified() -> None:
    gateway = FakeGateway({CHAT.name: [live(NEW_MODEL, "Updating"), live(NEW_MODEL)]})
    run(gateway, update(CHAT, NEW_MODEL, "specification"))
    assert gateway.writes == []


def test_a_component_busy_with_another_change_is_waited_out_before_the_update() -> None:
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT, "Updating"), live(CHAT, "Updating"), live(CHAT)]},
        after={("Update", CHAT.name): [live(NEW_MODEL)]},
    )
    events = run(gateway, update(CHAT, NEW_MODEL, "specification"))
    assert writes_of(gateway) == ["Update"]
    # (The guard's own look takes the first view.)
    assert [e.message for e in events if e.kind == "wait"] == ["waiting: Updating"]


def test_a_wait_change_writes_nothing_and_waits_for_in_service() -> None:
    gateway = FakeGateway({CHAT.name: [live(CHAT, "Creating"), live(CHAT)]})
    run(gateway, update(CHAT, CHAT, "wait"))
    assert gateway.writes == []


def test_copies_changed_by_someone_else_meanwhile_fail_the_verification() -> None:
    more = replace(CHAT, copy_count=3)
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={("UpdateRuntimeConfig", CHAT.name): [live(replace(CHAT, copy_count=5))]},
    )
    with pytest.raises(ApplyError, match="with 5 copies, not the planned 3"):
        run(gateway, update(CHAT, more, "runtime"))


def test_copies_its_autoscaling_moved_within_the_range_are_no_failure() -> None:
    """Under copy autoscaling the count may move while an update rolls out: inside the plan's
    `copies_range` that is the autoscaler's choice; outside it, still a failure."""
    new = replace(NEW_MODEL, copy_count=2)
    for copies, fails in ((4, False), (1, False), (5, True)):
        gateway = FakeGateway(
            {CHAT.name: [live(CHAT)]},
            after={("Update", CHAT.name): [live(replace(new, copy_count=copies))]},
        )
        change = update(CHAT, new, "specification")
        assert change.after is not None
        ranged = replace(change, after={**change.after, "copies_range": [1, 4]})
        if fails:
            with pytest.raises(ApplyError, match=f"with {copies} copies, not the planned 2"):
                run(gateway, ranged)
        else:
            run(gateway, ranged)
            assert writes_of(gateway) == ["Update"]


def test_a_component_gone_since_the_plan_is_not_updated() -> None:
    gateway = FakeGateway({CHAT.name: [None]})
    with pytest.raises(ApplyError, match="disappeared since the plan"):
        run(gateway, update(CHAT, NEW_MODEL, "specification"))
    assert gateway.writes == []


# --- delete ----------------------------------------------------------------------------------


def test_a_delete_waits_until_the_component_is_gone() -> None:
    gateway = FakeGateway(
        {CHAT.name: [live(CHAT)]},
        after={("Delete", CHAT.name): [live(CHAT, "Deleting")] * 2 + [None]},
    )
    events = run(gateway, delete(CHAT))
    assert writes_of(gateway) == ["Delete"]
    assert [e.message for e in events if e.kind == "wait"] == ["waiting: Deleting"] * 2


def test_deleting_a_component_already_gone_is_done() -> None:
    gateway = FakeGateway({CHAT.name: [None]})
    run(gateway, delete(CHAT))
    assert gateway.writes == []


# --- the guard -------------------------------------------------------------------------------


def test_a_component_without_our_tags_is_never_written() -> None:
    for change in (update(CHAT, NEW_MODEL, "specification"), delete(CHAT), create()):
        gateway = FakeGateway(
            {CHAT.name: [live(CHAT)]}, not_ours=frozenset({f"arn:ic/{CHAT.name}"})
        )
        with pytest.raises(NotManagedError, match="lacks the ownership tags"):
            run(gateway, change)
        assert gateway.writes == []


def test_a_component_of_the_name_on_another_endpoint_is_never_written() -> None:
    elsewhere = live(replace(CHAT, endpoint_name="other"))
    gateway = FakeGateway({CHAT.name: [elsewhere]})
    with pytest.raises(NotManagedError, match="runs on endpoint other, not on assistants"):
        run(gateway, update(CHAT, NEW_MODEL, "specification"))
    assert gateway.writes == []


def test_a_plan_writing_another_component_than_it_names_is_refused() -> None:
    edited = Change(
        Kind.INFERENCE_COMPONENT,
        CHAT.name,
        Action.CREATE,
        None,
        {"component": to_json(replace(CHAT, name="someone-else")), "tags": OURS},
    )
    gateway = FakeGateway({})
    with pytest.raises(NotManagedError, match="'someone-else'"):
        run(gateway, edited)
    assert gateway.writes == []


def test_a_component_serving_a_model_not_ours_is_refused() -> None:
    gateway = FakeGateway({CHAT.name: [None]}, not_ours=frozenset({f"arn:model/{CHAT.model_name}"}))
    with pytest.raises(NotManagedError, match=f"it uses model {CHAT.model_name}"):
        run(gateway, create())
    assert gateway.writes == []


def test_components_go_only_on_an_endpoint_of_this_spec() -> None:
    gateway = FakeGateway({CHAT.name: [None]}, not_ours=frozenset({"arn:ep"}))
    with pytest.raises(NotManagedError, match="endpoint assistants is not managed"):
        run(gateway, create())
    assert gateway.writes == []


COPIES = Scaling(
    "inference-component/assistants-chat", 1, 4, 4.0, 300, 60, "p", CONCURRENT_REQUESTS_PER_COPY
)


def test_copy_scaling_is_registered_only_for_a_component_of_ours() -> None:
    put = Change(Kind.SCALING, COPIES.resource_id, Action.CREATE, None, to_json(COPIES))
    gateway = FakeGateway({CHAT.name: [live(CHAT)]})
    run(gateway, put)
    assert writes_of(gateway) == ["PutScaling"]

    foreign = FakeGateway({CHAT.name: [live(CHAT)]}, not_ours=frozenset({f"arn:ic/{CHAT.name}"}))
    with pytest.raises(NotManagedError):
        run(foreign, put)
    assert foreign.writes == []

    missing = FakeGateway({CHAT.name: [None]})
    with pytest.raises(NotManagedError, match="does not exist"):
        run(missing, put)
