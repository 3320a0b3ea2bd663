"""The resource kinds' ordering rules (kinds.py): every rule the planner relied on, as a table."""

from __future__ import annotations

import itertools
import random

import pytest

from deployspec.kinds import ROWS, order, waits_for
from deployspec.plan import Action, Change, Kind


def change(kind: Kind, action: Action, name: str = "x") -> Change:
    return Change(kind, name, action, None, None)


C, U, R, D = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE

# (earlier, later): `later` must come after `earlier` whenever both are in a plan.
RULES = [
    ((Kind.BUCKET, C), (Kind.ARTIFACT, C)),
    ((Kind.ARTIFACT, C), (Kind.MODEL, C)),
    ((Kind.MODEL, C), (Kind.ENDPOINT_CONFIG, C)),
    ((Kind.ENDPOINT_CONFIG, C), (Kind.ENDPOINT, U)),
    ((Kind.ENDPOINT_CONFIG, C), (Kind.ENDPOINT, C)),
    ((Kind.ENDPOINT_CONFIG, C), (Kind.ENDPOINT, R)),
    ((Kind.MODEL, U), (Kind.ENDPOINT, U)),  # tags on the model, before the endpoint's
    ((Kind.SCALING, D), (Kind.ENDPOINT, U)),  # instance type change under autoscaling
    ((Kind.ENDPOINT, U), (Kind.SCALING, C)),
    ((Kind.ENDPOINT, C), (Kind.SCALING, U)),
    ((Kind.ENDPOINT, U), (Kind.ENDPOINT_CONFIG, D)),  # prune after the endpoint moved
    ((Kind.SCALING, C), (Kind.ENDPOINT_CONFIG, D)),
    ((Kind.ENDPOINT_CONFIG, D), (Kind.MODEL, D)),
    ((Kind.ENDPOINT, U), (Kind.MODEL, D)),
    ((Kind.SCALING, D), (Kind.ENDPOINT, D)),  # destroy
    ((Kind.ENDPOINT, D), (Kind.ENDPOINT_CONFIG, D)),
    ((Kind.ENDPOINT, D), (Kind.MODEL, D)),
    ((Kind.MODEL, D), (Kind.ARTIFACT, D)),
    ((Kind.BUCKET, C), (Kind.WEIGHTS, C)),  # uncompressed weights: uploaded into the bucket
    ((Kind.WEIGHTS, C), (Kind.MODEL, C)),  # before the model naming its prefix
    ((Kind.MODEL, D), (Kind.WEIGHTS, D)),  # purged once no model names it
    ((Kind.ENDPOINT, C), (Kind.INFERENCE_COMPONENT, C)),  # components: on an InService endpoint
    ((Kind.ENDPOINT, U), (Kind.INFERENCE_COMPONENT, U)),
    ((Kind.MODEL, C), (Kind.INFERENCE_COMPONENT, C)),  # its specification names the model
    ((Kind.MODEL, C), (Kind.INFERENCE_COMPONENT, U)),
    ((Kind.ARTIFACT, C), (Kind.INFERENCE_COMPONENT, C)),  # an adapter's archive
    ((Kind.SCALING, D), (Kind.INFERENCE_COMPONENT, D)),  # copy scaling off first
    ((Kind.INFERENCE_COMPONENT, C), (Kind.SCALING, C)),  # copy scaling after the component
    ((Kind.INFERENCE_COMPONENT, U), (Kind.SCALING, U)),
    ((Kind.INFERENCE_COMPONENT, D), (Kind.ENDPOINT, D)),  # destroy: components first
    ((Kind.INFERENCE_COMPONENT, U), (Kind.MODEL, D)),  # the old model, once nothing names it
    ((Kind.INFERENCE_COMPONENT, D), (Kind.MODEL, D)),
    ((Kind.INFERENCE_COMPONENT, D), (Kind.INFERENCE_COMPONENT, C)),  # capacity freed first
    ((Kind.INFERENCE_COMPONENT, D), (Kind.INFERENCE_COMPONENT, U)),
    ((Kind.INFERENCE_COMPONENT, D), (Kind.ENDPOINT, R)),  # a broken endpoint's, first
    ((Kind.SCALING, D), (Kind.INFERENCE_COMPONENT, C)),  # a Failed one re-created
    *(
        ((kind, action), (Kind.PRUNE_MARK, U))
        for kind in Kind
        if kind is not Kind.PRUNE_MARK
        for action in (C, U, D)
    ),
]


@pytest.mark.parametrize(
    ("earlier", "later"), RULES, ids=[f"{a[0]}.{a[1]}<{b[0]}.{b[1]}" for a, b in RULES]
)
def test_a_change_comes_after_what_it_waits_for(
    earlier: tuple[Kind, Action], later: tuple[Kind, Action]
) -> None:
    first, second = change(*earlier, name="a"), change(*later, name="b")
    assert waits_for(second, first)
    assert order([second, first]) == (first, second)


def test_the_rules_form_no_cycle() -> None:
    every = [change(kind, action, f"{kind}-{action}") for kind in Kind for action in (C, U, D)]
    ordered = order(every)  # raises on a cycle
    for index, item in enumerate(ordered):
        assert not any(waits_for(item, later) for later in ordered[index + 1 :])


def test_the_planners_order_is_kept_among_independent_changes() -> None:
    independent = [change(Kind.MODEL, U, "m"), change(Kind.BUCKET, C, "b")]
    assert order(independent) == tuple(independent)
    assert order(independent[::-1]) == tuple(independent[::-1])


def test_a_whole_update_plan_orders_the_same_from_any_starting_order() -> None:
    """An instance type change under autoscaling with pruning: every rule holds whatever order
    the changes come in, and the planner's own order is kept as it is."""
    expected = (
        change(Kind.BUCKET, C),
        change(Kind.ARTIFACT, C),
        change(Kind.MODEL, C, "new"),
        change(Kind.ENDPOINT_CONFIG, C, "new"),
        change(Kind.SCALING, D),
        change(Kind.ENDPOINT, U),
        change(Kind.SCALING, C),
        change(Kind.ENDPOINT_CONFIG, D, "old"),
        change(Kind.MODEL, D, "old"),
        change(Kind.PRUNE_MARK, U),
    )
    assert order(expected) == expected
    shuffler = random.Random(7)
    for _ in range(50):
        items = list(expected)
        shuffler.shuffle(items)
        ordered = order(items)
        for index, item in enumerate(ordered):
            assert not any(waits_for(item, later) for later in ordered[index + 1 :])
        position = {c: i for i, c in enumerate(ordered)}
        for earlier, later in itertools.pairwise(expected[4:]):  # scaling off → … → record
            assert position[earlier] < position[later]


def test_components_keep_the_planners_order_bases_first_and_adapters_first_on_delete() -> None:
    """Adapters wait on their base by the planner's order alone: per-kind rules treat every
    component alike, so order() must never reorder components among themselves, whatever
    else the plan holds and wherever it sits."""
    ic = Kind.INFERENCE_COMPONENT
    puts = [change(ic, C, "base"), change(ic, C, "adapter"), change(ic, U, "other")]
    deletes = [change(ic, D, "old-adapter"), change(ic, D, "old-base")]
    others = [
        change(Kind.SCALING, D, "old-scaling"),
        change(Kind.ENDPOINT, U, "e"),
        change(Kind.MODEL, C, "m"),
        change(Kind.ARTIFACT, C, "a"),
        change(Kind.SCALING, C, "s"),
        change(Kind.MODEL, D, "old-model"),
    ]
    shuffler = random.Random(11)
    for _ in range(50):
        rest = shuffler.sample(others, shuffler.randrange(len(others) + 1))
        cut = shuffler.randrange(len(rest) + 1)
        items = [*rest[:cut], *deletes, *puts, *rest[cut:]]
        ordered = order(items)
        components = [c for c in ordered if c.kind is ic]
        assert components == [*deletes, *puts]
        for index, item in enumerate(ordered):
            assert not any(waits_for(item, later) for later in ordered[index + 1 :])


def test_every_kind_has_a_row() -> None:
    assert set(ROWS) == set(Kind)
    for row, (phase, kind, other, why) in itertools.chain.from_iterable(
        ((row, rule) for rule in row.after) for row in ROWS.values()
    ):
        assert why and kind in ROWS, (row.kind, phase, other)
