"""Drift classification is pure: tables of (what the spec wants, what is live) → findings.

Each row of CASES builds the endpoint as the last apply of some spec left it (its tags carry
that spec's `deployspec:applied` record, or, for an endpoint an older deployspec applied, only
its `deployspec:spec-digest`), changes something behind deployspec's back or in the spec, and
names the findings expected, in order, with their cause: drift (changed outside deployspec),
pending (the spec changed since the last apply), rollback, unverified. REFUSED lists the
endpoints drift does not check. Reads are counted on a fake gateway; the CLI end to end is in
test_drift_e2e.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest

from deployspec.drift import (
    Cause,
    Finding,
    Live,
    SpecReport,
    Wanted,
    classify,
    document,
    exit_code,
    last_applied,
    read_live,
    render_report,
    render_text,
    summary_line,
    wanted_of,
)
from deployspec.errors import NotManagedError
from deployspec.naming import content_name
from deployspec.resources import (
    TAG_ADOPTED,
    TAG_APPLIED,
    TAG_DIGEST,
    TAG_MANAGED_BY,
    TAG_PREVIOUS,
    TAG_PRUNED,
    TAG_SERVES_FOR,
    TAG_SPEC,
    AppliedRecord,
    DataCapture,
    Deployment,
    Endpoint,
    EndpointConfig,
    LiveVariant,
    Scaling,
    ServerlessConfig,
    Variant,
    ownership_tags,
    scaling_settings,
    spec_digest,
)
from deployspec.wire import endpoint_config_request

MODEL = "iris-aaaaaaaaaa"
SERVERLESS = EndpointConfig(
    "iris-cccccccccc", (Variant(MODEL, serverless=ServerlessConfig(2048, 5)),)
)
BIGGER = EndpointConfig("iris-eeeeeeeeee", (Variant(MODEL, serverless=ServerlessConfig(3072, 5)),))
EARLIER = EndpointConfig("iris-bbbbbbbbbb", (Variant(MODEL, serverless=ServerlessConfig(1024, 5)),))
HANDMADE = EndpointConfig(
    "iris-by-hand", (Variant(MODEL, serverless=ServerlessConfig(4096, 5)),), arn="arn:config"
)
REALTIME = EndpointConfig(
    "iris-dddddddddd", (Variant(MODEL, instance_type="ml.m5.large", initial_instance_count=1),)
)
SCALING = Scaling("endpoint/iris/variant/AllTraffic", 1, 3, 50.0, 300, 60, "deployspec-invocations")
ROLLOUT = Deployment("ALL_AT_ONCE", timeout_seconds=1800)
OWNED_CONFIG_TAGS = {**ownership_tags("iris"), "team": "ml"}


def wanted(
    config: EndpointConfig = SERVERLESS,
    tags: dict[str, str] | None = None,
    scalings: tuple[Scaling, ...] = (),
    deployment: Deployment | None = None,
    *,
    model_known: bool = True,
) -> Wanted:
    return Wanted(
        spec_name="iris",
        config=config,
        user_tags={"team": "ml"} if tags is None else tags,
        scalings=scalings,
        deployment=deployment,
        model_known=model_known,
        not_packaged=None if model_known else "the model files are not packaged here",
    )


W = wanted()
WR = wanted(REALTIME, scalings=(SCALING,), deployment=ROLLOUT)  # real-time, autoscaled
WR_FIXED = wanted(REALTIME, deployment=ROLLOUT)  # real-time, no autoscaling


def applied_tags(w: Wanted, **extra: str) -> dict[str, str]:
    """The endpoint's tags as the last apply of `w` left them."""
    assert w.config_name is not None and w.record is not None
    return {
        **w.user_tags,
        **ownership_tags("iris"),
        TAG_DIGEST: spec_digest(w.config_name, w.user_tags, w.scalings, w.deployment),
        TAG_APPLIED: w.record.value,
        TAG_PRUNED: f"{w.config_name}@keep=2",
        "aws:cloudformation:stack-name": "ignored",
        **extra,
    }


def legacy_tags(w: Wanted, **extra: str) -> dict[str, str]:
    """The tags an apply of `w` by a deployspec older than the deployspec:applied record left."""
    return without(applied_tags(w, **extra), TAG_APPLIED)


def variants(count: int | None = 1, weight: float = 1.0) -> tuple[LiveVariant, ...]:
    return (LiveVariant("AllTraffic", weight, weight, count, count),)


def on(
    applied: Wanted,
    serving: str | None = None,
    *,
    status: str = "InService",
    tags: dict[str, str] | None = None,
    count: int | None = None,
    weight: float = 1.0,
    failure: str | None = None,
    **live: Any,
) -> Live:
    """The endpoint the last apply of `applied` left (serving `serving`, if given), as read;
    `live` sets Live's other fields."""
    realtime = applied.config.variants[0].serverless is None
    endpoint = Endpoint(
        name="iris",
        config_name=serving or applied.config.name,
        status=status,
        failure_reason=failure,
        arn="arn:endpoint",
        variants=variants(count if count is not None else 1, weight)
        if realtime
        else variants(None),
    )
    options: dict[str, Any] = {
        "tags": applied_tags(applied) if tags is None else tags,
        "scalings": applied.scalings,
        "scaling_read": realtime,
    }
    options.update(live)
    return Live(endpoint, **options)


def without(tags: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in keys}


# --- endpoints of several variants ------------------------------------------------------------

MODEL_B = "iris-ffffffffff"


def named(config: EndpointConfig) -> EndpointConfig:
    """The config under its content name, as desired.py names it: the config that weights set
    in place stand for is then known from its name alone."""
    return replace(config, name=content_name("iris", endpoint_config_request(config)))


def two(blue: float = 90.0, green: float = 10.0, green_type: str = "ml.m5.large") -> EndpointConfig:
    """Two real-time production variants, blue and green, of one instance each."""
    return named(
        EndpointConfig(
            "",
            (
                Variant(MODEL, "blue", None, "ml.m5.large", 1, initial_weight=blue),
                Variant(MODEL_B, "green", None, green_type, 1, initial_weight=green),
            ),
        )
    )


TWO = two()
BLUE_SCALING = Scaling("endpoint/iris/variant/blue", 1, 4, 100.0, 300, 60, "deployspec-invocations")
GREEN_SCALING = replace(BLUE_SCALING, resource_id="endpoint/iris/variant/green")
W2 = wanted(TWO, scalings=(BLUE_SCALING,), deployment=ROLLOUT)  # blue autoscaled 1-4
W2_WIDER = replace(W2, scalings=(replace(BLUE_SCALING, max_capacity=6),))
W2_RESIZED = replace(W2, scalings=(replace(BLUE_SCALING, min_capacity=2, max_capacity=6),))
# The spec's weights changed to 50/50 and applied in place (UpdateEndpointWeightsAndCapacities):
# HALVES was never created; the endpoint serving TWO stands for it, as TAG_SERVES_FOR records.
HALVES = two(50.0, 50.0)
W_HALVES = wanted(HALVES, scalings=(BLUE_SCALING,), deployment=ROLLOUT)
SET_IN_PLACE = {TAG_SERVES_FOR: f"{TWO.name} {HALVES.name}"}
# Then the spec edited beyond weights (green on a bigger instance), and weights as well.
W_BIGGER_GREEN = wanted(two(50.0, 50.0, "ml.m5.xlarge"), scalings=(BLUE_SCALING,))
W_REWEIGHED = wanted(two(60.0, 40.0, "ml.m5.xlarge"), scalings=(BLUE_SCALING,))
# One production variant and a shadow, the shadow autoscaled 1-2.
SHADOWED = named(
    EndpointConfig(
        "",
        (Variant(MODEL, instance_type="ml.m5.large", initial_instance_count=1),),
        shadow_variants=(Variant(MODEL_B, "candidate", None, "ml.m5.large", 1),),
    )
)
CANDIDATE_SCALING = replace(
    BLUE_SCALING, resource_id="endpoint/iris/variant/candidate", max_capacity=2
)
W_SHADOWED = wanted(SHADOWED, scalings=(CANDIDATE_SCALING,), deployment=ROLLOUT)
# One variant: the spec's instance count raised to 2 and applied in place on REALTIME.
REALTIME_TWO = named(
    replace(REALTIME, variants=(replace(REALTIME.variants[0], initial_instance_count=2),))
)
W_RT_TWO = wanted(REALTIME_TWO, deployment=ROLLOUT)
COUNT_IN_PLACE = {TAG_SERVES_FOR: f"{REALTIME.name} {REALTIME_TWO.name}"}


def on_variants(
    applied: Wanted,
    serving: str | None = None,
    *,
    counts: dict[str, int] | None = None,
    weights: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    **live: Any,
) -> Live:
    """The endpoint of several variants the last apply of `applied` left: each variant at its
    initial count and weight unless `counts` or `weights` name it; `live` sets Live's other
    fields."""

    def live_variant(variant: Variant) -> LiveVariant:
        weight = (weights or {}).get(variant.variant_name, variant.initial_weight)
        count = (counts or {}).get(variant.variant_name, variant.initial_instance_count)
        return LiveVariant(variant.variant_name, weight, weight, count, count)

    config = applied.config
    endpoint = Endpoint(
        name="iris",
        config_name=serving or config.name,
        status="InService",
        arn="arn:endpoint",
        variants=tuple(live_variant(v) for v in config.variants),
        shadow_variants=tuple(live_variant(v) for v in config.shadow_variants),
    )
    options: dict[str, Any] = {
        "tags": applied_tags(applied) if tags is None else tags,
        "scalings": applied.scalings,
        "scaling_read": True,
        **live,
    }
    return Live(endpoint, **options)


@dataclass(frozen=True)
class Case:
    name: str
    wanted: Wanted
    live: Live
    expected: list[tuple[str, Cause]]
    # Substrings of the findings' details / of what could not be checked, in any order.
    details: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    applied: dict[str, object] = field(default_factory=dict)  # attribute -> its `applied`
    unknown: tuple[str, ...] = ()  # attributes whose applied value is not known

    def __str__(self) -> str:
        return self.name


W_BIGGER = wanted(BIGGER)
# What apply records on an endpoint adopted in place: HANDMADE stands for SERVERLESS.
ADOPTED = f"{HANDMADE.name} {SERVERLESS.name}"
W_TEAM = wanted(tags={"team": "data"})
# The review's repro: applied with team ml, env prod, autoscaling max 4.
W_PROD = wanted(
    REALTIME,
    tags={"team": "ml", "env": "prod"},
    scalings=(replace(SCALING, max_capacity=4),),
    deployment=ROLLOUT,
)
W_STAGING = replace(
    W_PROD, user_tags={"team": "ml", "env": "staging"}, scalings=(replace(SCALING, max_capacity=6),)
)

CASES = [
    # --- in sync ----------------------------------------------------------------------------
    Case("serverless endpoint as applied", W, on(W), []),
    Case("autoscaled count within the registered range", WR, on(WR, count=3), []),
    Case(
        "only the spec's rollout settings changed: nothing on the endpoint differs",
        replace(WR, deployment=Deployment("CANARY", 10, 300)),
        on(WR),
        [],
    ),
    # --- the endpoint's config ---------------------------------------------------------------
    Case(
        "serverless config swapped for one made by hand (UpdateEndpoint)",
        W,
        on(W, HANDMADE.name, config=HANDMADE, config_tags={}),
        [("endpoint_config", Cause.DRIFT)],
        details=("did not create", "serverless 4096 MB"),
        applied={"endpoint_config": SERVERLESS.name},
    ),
    Case(
        "pointed at an earlier config of this spec, by hand",
        W,
        on(
            W,
            EARLIER.name,
            tags=applied_tags(W, **{TAG_PREVIOUS: EARLIER.name}),
            config=EARLIER,
            config_tags=OWNED_CONFIG_TAGS,
        ),
        [("endpoint_config", Cause.DRIFT)],
        details=("an earlier config of this spec", "not the one the last apply put there"),
    ),
    Case(
        "rolled back with deployspec rollback: not drift",
        W,
        on(
            W,
            EARLIER.name,
            tags=applied_tags(W, **{TAG_PREVIOUS: SERVERLESS.name}),
            config=EARLIER,
            config_tags=OWNED_CONFIG_TAGS,
        ),
        [("endpoint_config", Cause.ROLLBACK)],
    ),
    Case(
        "spec edited, not applied: pending",
        W_BIGGER,
        on(W, config=SERVERLESS, config_tags=OWNED_CONFIG_TAGS),
        [("endpoint_config", Cause.PENDING)],
        details=("serverless 2048 MB, up to 5 concurrent -> serverless 3072 MB",),
    ),
    Case(
        "spec edited and the endpoint pointed elsewhere by hand: the applied config is recorded",
        W_BIGGER,
        on(W, HANDMADE.name, config=HANDMADE, config_tags={}),
        [("endpoint_config", Cause.DRIFT)],
        details=(f"the spec, changed since, asks for {BIGGER.name}",),
        applied={"endpoint_config": SERVERLESS.name},
    ),
    Case(
        "adopted in place: the endpoint's own config stands for the spec's",
        W,
        on(W, HANDMADE.name, tags=applied_tags(W, **{TAG_ADOPTED: ADOPTED})),
        [],
    ),
    Case(
        "adopted in place, then the spec edited: pending",
        W_BIGGER,
        on(
            W,
            HANDMADE.name,
            tags=applied_tags(W, **{TAG_ADOPTED: ADOPTED}),
            config=HANDMADE,
            config_tags={},
        ),
        [("endpoint_config", Cause.PENDING)],
        details=("adopted in place",),
    ),
    Case(
        "adopted in place, then pointed at another config by hand",
        W,
        on(
            W,
            "iris-other-hand",
            tags=applied_tags(W, **{TAG_ADOPTED: ADOPTED}),
            config=replace(HANDMADE, name="iris-other-hand"),
            config_tags={},
        ),
        [("endpoint_config", Cause.DRIFT)],
        applied={"endpoint_config": SERVERLESS.name},
    ),
    Case(
        "the served config was deleted",
        W_BIGGER,
        on(W, config_problem="missing"),
        [("endpoint_config", Cause.DRIFT)],
        details=("no longer exists",),
    ),
    Case(
        "pointed at a config of a shape deployspec never makes",
        W,
        on(W, "two-variants", config_problem="endpoint config two-variants has 2 variants"),
        [("endpoint_config", Cause.DRIFT)],
        details=("has 2 variants",),
    ),
    # --- capacity ----------------------------------------------------------------------------
    Case(
        "count outside the registered autoscaling range",
        WR,
        on(WR, count=5),
        [("instance_count", Cause.DRIFT)],
        details=("outside the registered autoscaling range 1-3",),
    ),
    Case(
        "count changed by hand, no autoscaling",
        WR_FIXED,
        on(WR_FIXED, count=2),
        [("instance_count", Cause.DRIFT)],
        details=("UpdateEndpointWeightsAndCapacities",),
        applied={"instance_count": 1},
    ),
    Case(
        "weight changed by hand",
        WR_FIXED,
        on(WR_FIXED, weight=0.5),
        [("weight", Cause.DRIFT)],
    ),
    Case(
        "the count of a real-time config the spec replaces is judged by the serving config",
        replace(WR_FIXED, config=replace(REALTIME, name="iris-ffffffffff")),
        on(WR_FIXED, count=1, config=REALTIME, config_tags=OWNED_CONFIG_TAGS),
        [("endpoint_config", Cause.PENDING)],
    ),
    # --- autoscaling -------------------------------------------------------------------------
    Case(
        "scalable target's min and max changed by hand",
        WR,
        on(WR, scalings=(replace(SCALING, min_capacity=2, max_capacity=6),)),
        [("autoscaling.min_capacity", Cause.DRIFT), ("autoscaling.max_capacity", Cause.DRIFT)],
        applied={"autoscaling.max_capacity": 3},
    ),
    Case(
        "target-tracking policy removed",
        WR,
        on(
            WR,
            scalings=(
                replace(
                    SCALING,
                    target_value=None,
                    scale_in_cooldown=None,
                    scale_out_cooldown=None,
                    policy_name=None,
                ),
            ),
        ),
        [
            ("autoscaling.target_value", Cause.DRIFT),
            ("autoscaling.scale_in_cooldown", Cause.DRIFT),
            ("autoscaling.scale_out_cooldown", Cause.DRIFT),
        ],
        details=("the target-tracking policy was removed or replaced",),
    ),
    Case(
        "target value changed in the policy",
        WR,
        on(WR, scalings=(replace(SCALING, target_value=500.0),)),
        [("autoscaling.target_value", Cause.DRIFT)],
    ),
    Case(
        "scalable target deregistered; a count the autoscaler left within its range is fine",
        WR,
        on(WR, count=3, scalings=()),
        [("autoscaling", Cause.DRIFT)],
        details=("deregistered outside deployspec",),
    ),
    Case(
        "deregistered, and the count set beyond the range it had",
        WR,
        on(WR, count=7, scalings=()),
        [("instance_count", Cause.DRIFT), ("autoscaling", Cause.DRIFT)],
        details=("the range it had, 1-3, does not hold it either",),
    ),
    Case(
        "autoscaling registered by hand",
        WR_FIXED,
        on(WR_FIXED, scalings=(SCALING,)),
        [("autoscaling", Cause.DRIFT)],
        details=("registered outside deployspec",),
    ),
    Case(
        "spec adds autoscaling: pending",
        replace(WR_FIXED, scalings=(SCALING,)),
        on(WR_FIXED),
        [("autoscaling", Cause.PENDING)],
    ),
    Case(
        "spec raises the maximum: pending",
        replace(WR, scalings=(replace(SCALING, max_capacity=5),)),
        on(WR),
        [("autoscaling.max_capacity", Cause.PENDING)],
    ),
    Case(
        "spec drops autoscaling: pending",
        WR_FIXED,
        on(WR),
        [("autoscaling", Cause.PENDING)],
    ),
    Case(
        "maximum raised in the spec and the minimum changed by hand",
        replace(WR, scalings=(replace(SCALING, max_capacity=5),)),
        on(WR, scalings=(replace(SCALING, min_capacity=2),)),
        [("autoscaling.min_capacity", Cause.DRIFT), ("autoscaling.max_capacity", Cause.PENDING)],
    ),
    # --- tags --------------------------------------------------------------------------------
    Case(
        "user tag changed by hand",
        W,
        on(W, tags={**applied_tags(W), "team": "data"}),
        [("tags.team", Cause.DRIFT)],
        applied={"tags.team": "ml"},
    ),
    Case(
        "user tag removed and another added by hand",
        W,
        on(W, tags={**without(applied_tags(W), "team"), "owner": "someone"}),
        [("tags.owner", Cause.DRIFT), ("tags.team", Cause.DRIFT)],
        details=("tag added outside deployspec", "tag removed outside deployspec"),
    ),
    Case("spec changes a tag: pending", W_TEAM, on(W), [("tags.team", Cause.PENDING)]),
    Case(
        "spec adds a tag while another was changed by hand: told apart key by key",
        wanted(tags={"team": "ml", "cost": "42"}),
        on(W, tags={**applied_tags(W), "team": "data"}),
        [("tags.cost", Cause.PENDING), ("tags.team", Cause.DRIFT)],
    ),
    Case(
        "the same tag changed in the spec and by hand: drift, its applied value unknown",
        W_TEAM,
        on(W, tags={**applied_tags(W), "team": "ops"}),
        [("tags.team", Cause.DRIFT)],
        details=("which keys were changed by hand is not recorded",),
        unknown=("tags.team",),
    ),
    Case(
        "two tags edited in the spec while one was changed by hand: told apart key by key",
        wanted(tags={"team": "ml", "env": "staging", "cost": "42"}),
        on(
            wanted(tags={"team": "ml", "env": "prod"}),
            tags={**applied_tags(wanted(tags={"team": "ml", "env": "prod"})), "team": "ops"},
        ),
        [("tags.cost", Cause.PENDING), ("tags.env", Cause.PENDING), ("tags.team", Cause.DRIFT)],
        applied={"tags.team": "ml", "tags.env": "prod"},
    ),
    Case(
        "the review's repro: a tag and the maximum changed by hand, another tag and the "
        "maximum edited in the spec",
        W_STAGING,
        on(
            W_PROD,
            count=2,
            tags={**applied_tags(W_PROD), "team": "other"},
            scalings=(replace(SCALING, max_capacity=8),),
        ),
        [
            ("autoscaling.max_capacity", Cause.DRIFT),
            ("tags.env", Cause.PENDING),
            ("tags.team", Cause.DRIFT),
        ],
        applied={"tags.team": "ml", "tags.env": "prod"},
        unknown=("autoscaling.max_capacity",),
    ),
    Case(
        "changed by hand to what the spec now asks: nothing to fix, not reported",
        W_BIGGER,
        on(W, BIGGER.name, tags={**applied_tags(W)}),
        [],
    ),
    Case(
        "spec edited (pending config) while a tag was removed by hand (drift)",
        W_BIGGER,
        on(
            W,
            tags=without(applied_tags(W), "team"),
            config=SERVERLESS,
            config_tags=OWNED_CONFIG_TAGS,
        ),
        [("endpoint_config", Cause.PENDING), ("tags.team", Cause.DRIFT)],
    ),
    Case(
        "ownership tag removed",
        W,
        on(W, tags=without(applied_tags(W), TAG_MANAGED_BY)),
        [(f"tags.{TAG_MANAGED_BY}", Cause.DRIFT)],
        details=("ownership tag removed",),
    ),
    Case(
        "ownership tags removed from an endpoint serving another config of ours",
        W_BIGGER,
        on(
            W,
            tags=without(applied_tags(W), TAG_MANAGED_BY, TAG_SPEC),
            config=SERVERLESS,
            config_tags=OWNED_CONFIG_TAGS,
        ),
        [
            (f"tags.{TAG_MANAGED_BY}", Cause.DRIFT),
            (f"tags.{TAG_SPEC}", Cause.DRIFT),
            ("endpoint_config", Cause.PENDING),
        ],
    ),
    Case(
        "the record tags removed, nothing else differs",
        W,
        on(W, tags=without(applied_tags(W), TAG_DIGEST, TAG_APPLIED)),
        [(f"tags.{TAG_APPLIED}", Cause.DRIFT)],
        unknown=(f"tags.{TAG_APPLIED}",),
    ),
    Case(
        "the record tags removed and the spec edited: the edit cannot be told from drift",
        W_BIGGER,
        on(
            W,
            tags=without(applied_tags(W), TAG_DIGEST, TAG_APPLIED),
            config=SERVERLESS,
            config_tags=OWNED_CONFIG_TAGS,
        ),
        [(f"tags.{TAG_APPLIED}", Cause.DRIFT), ("endpoint_config", Cause.UNVERIFIED)],
        unchecked=("deployspec:spec-digest tag is gone",),
        unknown=(f"tags.{TAG_APPLIED}", "endpoint_config"),
    ),
    Case(
        "only the spec-digest tag removed: the record still tells",
        W_TEAM,
        on(W, tags=without(applied_tags(W), TAG_DIGEST)),
        [("tags.team", Cause.PENDING)],
    ),
    Case(
        "a record this version cannot read: the spec-digest tag is used",
        W_TEAM,
        on(W, tags=applied_tags(W, **{TAG_APPLIED: "v9 something"})),
        [("tags.team", Cause.PENDING)],
    ),
    Case(
        "a rollout edit changes nothing drift compares, even with other parts edited",
        replace(W_TEAM, config=BIGGER, deployment=ROLLOUT),
        on(W, HANDMADE.name, config=HANDMADE, config_tags={}),
        [("endpoint_config", Cause.DRIFT), ("tags.team", Cause.PENDING)],
    ),
    # --- endpoints applied by a deployspec older than the deployspec:applied record -------------
    Case("older deployspec: as applied", WR, on(WR, tags=legacy_tags(WR)), []),
    Case(
        "older deployspec: the spec edited, the digest hashes what is live: pending",
        replace(W_TEAM, config=BIGGER),
        on(W, tags=legacy_tags(W), config=SERVERLESS, config_tags=OWNED_CONFIG_TAGS),
        [("endpoint_config", Cause.PENDING), ("tags.team", Cause.PENDING)],
    ),
    Case(
        "older deployspec: changed by hand, the digest hashes the spec: drift",
        WR,
        on(
            WR,
            tags={**legacy_tags(WR), "team": "data"},
            scalings=(replace(SCALING, max_capacity=6),),
        ),
        [("autoscaling.max_capacity", Cause.DRIFT), ("tags.team", Cause.DRIFT)],
        applied={"autoscaling.max_capacity": 3, "tags.team": "ml"},
    ),
    Case(
        "older deployspec: changed by hand and in the spec: unverified, a foreign config drift",
        replace(W_TEAM, config=BIGGER, deployment=ROLLOUT),
        on(W, HANDMADE.name, tags=legacy_tags(W), config=HANDMADE, config_tags={}),
        [("endpoint_config", Cause.DRIFT), ("tags.team", Cause.UNVERIFIED)],
        unchecked=("matches neither the spec nor what is live", "apply once with this"),
        unknown=("endpoint_config", "tags.team"),
    ),
    # --- the endpoint itself -----------------------------------------------------------------
    Case(
        "endpoint deleted outside deployspec (its configs are still there)",
        W,
        Live(None, leftover_config=SERVERLESS.name),
        [("endpoint.status", Cause.DRIFT)],
        details=("deleted outside deployspec",),
    ),
    Case(
        "never applied: pending",
        W,
        Live(None),
        [("endpoint.status", Cause.PENDING)],
    ),
    Case(
        "Failed",
        W,
        on(W, status="Failed", failure="the container did not pass the ping health check"),
        [("endpoint.status", Cause.DRIFT)],
        details=("the endpoint is Failed: the container did not pass the ping health check",),
    ),
    Case(
        "OutOfService",
        WR_FIXED,
        on(WR_FIXED, status="OutOfService", count=2),
        [("endpoint.status", Cause.DRIFT)],
    ),
    Case(
        "Updating: capacity is not judged mid-update",
        WR,
        on(WR, status="Updating", count=5),
        [],
        unchecked=("the endpoint is Updating",),
    ),
    Case(
        "Deleting: nothing else is checked",
        WR,
        on(WR, status="Deleting", tags={**applied_tags(WR), "team": "x"}),
        [],
        unchecked=("the endpoint is Deleting",),
    ),
    # --- the model not packaged on this machine -------------------------------------------------
    Case(
        "model not packaged: the applied config is still recognised, the model is not checked",
        wanted(model_known=False),
        on(W),
        [],
        unchecked=("not packaged here",),
    ),
    Case(
        "model not packaged: a tag changed by hand is still drift",
        wanted(model_known=False),
        on(W, tags={**applied_tags(W), "team": "data"}, config=SERVERLESS, config_tags={}),
        [("tags.team", Cause.DRIFT)],
        unchecked=("not packaged here",),
    ),
    Case(
        "model not packaged: a realtime count changed by hand is judged by the served config",
        wanted(REALTIME, deployment=ROLLOUT, model_known=False),
        on(WR_FIXED, count=4, config=REALTIME, config_tags=OWNED_CONFIG_TAGS),
        [("instance_count", Cause.DRIFT)],
    ),
    # --- endpoints of several variants: findings by variant ------------------------------------
    Case("two variants as applied", W2, on_variants(W2), []),
    Case(
        "two variants: the autoscaled one within its range, the other at its count",
        W2,
        on_variants(W2, counts={"blue": 4}),
        [],
    ),
    Case(
        "two variants: one's weight changed by hand",
        W2,
        on_variants(W2, weights={"green": 30.0}),
        [("variants.green.weight", Cause.DRIFT)],
        details=("UpdateEndpointWeightsAndCapacities",),
        applied={"variants.green.weight": 10.0},
    ),
    Case(
        "two variants: the count of the one without autoscaling changed by hand",
        W2,
        on_variants(W2, counts={"green": 2}),
        [("variants.green.instance_count", Cause.DRIFT)],
        details=("no autoscaling is registered",),
        applied={"variants.green.instance_count": 1},
    ),
    Case(
        "two variants: a count outside that variant's own autoscaling range",
        W2,
        on_variants(W2, counts={"blue": 6, "green": 1}),
        [("variants.blue.instance_count", Cause.DRIFT)],
        details=("outside the registered autoscaling range 1-4",),
    ),
    Case(
        "two variants: one's autoscaling maximum changed by hand",
        W2,
        on_variants(W2, scalings=(replace(BLUE_SCALING, max_capacity=8),)),
        [("autoscaling.blue.max_capacity", Cause.DRIFT)],
        applied={"autoscaling.blue.max_capacity": 4},
    ),
    Case(
        "two variants: autoscaling registered by hand on the other",
        W2,
        on_variants(W2, scalings=(BLUE_SCALING, GREEN_SCALING)),
        [("autoscaling.green", Cause.DRIFT)],
        details=("registered outside deployspec",),
    ),
    Case(
        "two variants: one's autoscaling deregistered, its count left within the range it had",
        W2,
        on_variants(W2, counts={"blue": 3}, scalings=()),
        [("autoscaling.blue", Cause.DRIFT)],
        details=("deregistered outside deployspec",),
        applied={"autoscaling.blue": scaling_settings(BLUE_SCALING)},
    ),
    Case(
        "two variants: the spec raises one's maximum: pending",
        W2_WIDER,
        on_variants(W2),
        [("autoscaling.blue.max_capacity", Cause.PENDING)],
    ),
    Case(
        "two variants: one's range changed in the spec, the other's autoscaling registered by "
        "hand: told apart variant by variant",
        W2_RESIZED,
        on_variants(W2, scalings=(BLUE_SCALING, GREEN_SCALING)),
        [
            ("autoscaling.blue.min_capacity", Cause.PENDING),
            ("autoscaling.blue.max_capacity", Cause.PENDING),
            ("autoscaling.green", Cause.DRIFT),
        ],
        applied={"autoscaling.blue.min_capacity": 1, "autoscaling.green": None},
    ),
    Case(
        "the spec goes from one variant to two: pending",
        W2,
        on(WR_FIXED, config=REALTIME, config_tags=OWNED_CONFIG_TAGS),
        [("endpoint_config", Cause.PENDING), ("autoscaling.blue", Cause.PENDING)],
        details=(
            "(ml.m5.large x1 -> blue ml.m5.large x1 weight 90, green ml.m5.large x1 weight 10)",
        ),
    ),
    Case(
        "a shadow's autoscaling changed by hand",
        W_SHADOWED,
        on_variants(W_SHADOWED, scalings=(replace(CANDIDATE_SCALING, max_capacity=5),)),
        [("autoscaling.candidate.max_capacity", Cause.DRIFT)],
        applied={"autoscaling.candidate.max_capacity": 2},
    ),
    # --- weights and counts set in place by deployspec (deployspec:serves-for) --------------
    Case(
        "weights set in place by deployspec: in sync",
        W_HALVES,
        on_variants(W_HALVES, TWO.name, tags=applied_tags(W_HALVES, **SET_IN_PLACE)),
        [],
    ),
    Case(
        "weights set in place, then one changed by hand: judged by the spec's weights",
        W_HALVES,
        on_variants(
            W_HALVES,
            TWO.name,
            weights={"green": 30.0},
            tags=applied_tags(W_HALVES, **SET_IN_PLACE),
        ),
        [("variants.green.weight", Cause.DRIFT)],
        applied={"variants.green.weight": 50.0},
    ),
    Case(
        "weights set in place, then the spec edited: pending, the weights judged by the config "
        "they stand for",
        W_BIGGER_GREEN,
        on_variants(
            W_HALVES,
            TWO.name,
            tags=applied_tags(W_HALVES, **SET_IN_PLACE),
            config=replace(TWO, arn="arn:two"),
        ),
        [("endpoint_config", Cause.PENDING)],
        details=(
            "(blue ml.m5.large x1 weight 50, green ml.m5.large x1 weight 50 -> blue ml.m5.large "
            "x1 weight 50, green ml.m5.xlarge x1 weight 50)",
            "its weights and instance counts set in place for it",
        ),
    ),
    Case(
        "weights set in place, the spec edited, and a weight changed by hand",
        W_BIGGER_GREEN,
        on_variants(
            W_HALVES,
            TWO.name,
            weights={"green": 30.0},
            tags=applied_tags(W_HALVES, **SET_IN_PLACE),
            config=replace(TWO, arn="arn:two"),
        ),
        [("endpoint_config", Cause.PENDING), ("variants.green.weight", Cause.DRIFT)],
        applied={"variants.green.weight": 50.0},
    ),
    Case(
        "weights set in place, the spec's weights edited, and a weight changed by hand: the "
        "weights cannot be judged",
        W_REWEIGHED,
        on_variants(
            W_HALVES,
            TWO.name,
            weights={"green": 30.0},
            tags=applied_tags(W_HALVES, **SET_IN_PLACE),
            config=replace(TWO, arn="arn:two"),
        ),
        [("endpoint_config", Cause.PENDING)],
        unchecked=(f"apply set them in place for config {HALVES.name}",),
    ),
    Case(
        "one variant's instance count set in place by deployspec: in sync",
        W_RT_TWO,
        on(W_RT_TWO, REALTIME.name, count=2, tags=applied_tags(W_RT_TWO, **COUNT_IN_PLACE)),
        [],
    ),
    Case(
        "one variant's count set in place, then changed by hand: the finding keeps its name",
        W_RT_TWO,
        on(W_RT_TWO, REALTIME.name, count=3, tags=applied_tags(W_RT_TWO, **COUNT_IN_PLACE)),
        [("instance_count", Cause.DRIFT)],
        applied={"instance_count": 2},
    ),
]


def _shape(findings: tuple[Finding, ...]) -> list[tuple[str, Cause]]:
    return [(f.attribute, f.cause) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_classify(case: Case) -> None:
    assessment = classify(case.wanted, case.live)
    assert _shape(assessment.findings) == case.expected
    details = " | ".join(f.detail for f in assessment.findings)
    for text in case.details:
        assert text in details
    for text in case.unchecked:
        assert any(text in item for item in assessment.unchecked), assessment.unchecked
    by_attribute = {f.attribute: f for f in assessment.findings}
    for attribute, value in case.applied.items():
        assert by_attribute[attribute].applied == value
    unknown = tuple(f.attribute for f in assessment.findings if not f.applied_known)
    assert unknown == case.unknown


def test_every_row_has_a_distinct_name() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


def test_a_spec_edit_alone_never_drifts() -> None:
    """Pending is not drift: the rows whose live state is what the last apply left, with only
    the spec edited, have no drift findings at all."""
    for spec in (W_BIGGER, W_TEAM, replace(WR, scalings=(replace(SCALING, max_capacity=5),))):
        applied = W if spec.config.variants[0].serverless else WR
        live = on(applied, config=applied.config, config_tags=OWNED_CONFIG_TAGS)
        findings = classify(spec, live).findings
        assert findings and {f.cause for f in findings} == {Cause.PENDING}


@dataclass(frozen=True)
class Refusal:
    name: str
    live: Live
    message: str

    def __str__(self) -> str:
        return self.name


REFUSED = [
    Refusal(
        "endpoint made by hand under the spec's name",
        on(W, HANDMADE.name, tags={"team": "ml"}, config=HANDMADE, config_tags={}),
        "deployspec does not manage it",
    ),
    Refusal(
        "endpoint another spec manages",
        on(
            W,
            HANDMADE.name,
            tags={TAG_MANAGED_BY: "deployspec", TAG_SPEC: "other"},
            config=HANDMADE,
            config_tags={},
        ),
        "managed by deployspec for spec 'other'",
    ),
]


@pytest.mark.parametrize("refusal", REFUSED, ids=str)
def test_refused(refusal: Refusal) -> None:
    with pytest.raises(NotManagedError, match=refusal.message):
        classify(W, refusal.live)


def test_the_record_is_the_one_apply_writes(write_spec: Any, tmp_path: Path) -> None:
    """What drift expects of the spec is what apply writes for it: else drift would call every
    spec edit drift."""
    from deployspec.desired import build_desired
    from deployspec.spec import load_spec
    from tests.conftest import VALID_SKLEARN

    realtime = VALID_SKLEARN.replace(
        "serverless:\n  memory_mb: 2048\n  max_concurrency: 5\n",
        "realtime:\n  instance_type: ml.m5.large\n  instance_count: 1\n"
        "  autoscaling: {min: 1, max: 3, target_invocations_per_instance: 50}\n"
        "deployment:\n  strategy: canary\n",
    )
    for text in (VALID_SKLEARN + "tags:\n  team: ml\n", realtime, TWO_VARIANT_SPEC):
        loaded = load_spec(write_spec(text))
        desired = build_desired(
            loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path / "cache"
        )
        w = Wanted.of(desired)
        assert w.record is not None
        assert desired.endpoint_tags[TAG_APPLIED] == w.record.value == desired.applied.value
        assert desired.endpoint_tags[TAG_DIGEST] == desired.spec_digest
        assert w.user_tags == loaded.spec.tags
        assert w.scalings == desired.scalings


TWO_VARIANT_SPEC = """\
name: iris
role: arn:aws:iam::123456789012:role/SageMakerExecution
variants:
  - name: blue
    weight: 90
    model: {framework: sklearn, version: "1.2-1", artifacts: ./model, entry_point: inference.py}
    realtime:
      instance_type: ml.m5.large
      autoscaling: {min: 1, max: 3, target_invocations_per_instance: 50}
  - name: green
    weight: 10
    model:
      framework: sklearn
      version: "1.2-1"
      artifacts: ./model
      entry_point: inference.py
      env: {COLOR: green}
    realtime:
      instance_type: ml.m5.large
      instance_count: 2
      autoscaling: {min: 2, max: 4, target_invocations_per_instance: 20}
"""


def test_the_record_fits_a_tag_value_and_reads_back() -> None:
    """AWS takes tag values of at most 256 characters: the worst case is a 63-character config
    name with every part set."""
    many_tags = {f"key-{i:02}": "v" * 256 for i in range(50)}
    rollout = Deployment("CANARY", 10, 600, ("alarm-" + "a" * 200,) * 10, 3600)
    record = AppliedRecord.of("c" * 63, many_tags, (SCALING,), rollout)
    assert len(record.value) <= 256
    assert AppliedRecord.parse(record.value) == record
    assert AppliedRecord.parse(AppliedRecord.of("c", {}, (), None).value) is not None
    for unreadable in ("", "config=x tags=1", "v2 config=x", "config= tags=1 scaling=2 rollout=3"):
        assert AppliedRecord.parse(unreadable) is None


ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


class _Region:
    region = "us-east-1"


def test_without_the_packaged_model_the_rest_of_the_spec_is_still_known(
    write_spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployspec.spec import load_spec
    from tests.conftest import VALID_SKLEARN

    loaded = load_spec(
        write_spec(
            VALID_SKLEARN.replace(
                "serverless:\n  memory_mb: 2048\n  max_concurrency: 5\n",
                "realtime:\n  instance_type: ml.m5.large\n  instance_count: 2\n"
                "  autoscaling: {min: 2, max: 4, target_invocations_per_instance: 20}\n",
            )
            + "tags:\n  team: ml\n"
        )
    )
    cache = tmp_path / "empty-cache"
    monkeypatch.setenv("DEPLOYSPEC_CACHE_DIR", str(cache))
    w = wanted_of(loaded, cast(Any, _Region()), ROLE)
    assert not w.model_known and w.config_name is None and w.record is None
    assert w.not_packaged is not None and "not packaged" in w.not_packaged
    assert w.user_tags == {"team": "ml"}
    [scaling] = w.scalings
    assert (scaling.min_capacity, scaling.max_capacity) == (2, 4)
    assert w.config.variants[0].instance_type == "ml.m5.large"
    assert w.config.variants[0].initial_instance_count == 2
    assert not any(cache.rglob("*.tar.gz"))  # nothing was packaged


def test_without_the_packaged_models_every_variant_is_still_known(
    write_spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployspec.spec import load_spec

    loaded = load_spec(write_spec(TWO_VARIANT_SPEC))
    cache = tmp_path / "empty-cache"
    monkeypatch.setenv("DEPLOYSPEC_CACHE_DIR", str(cache))
    w = wanted_of(loaded, cast(Any, _Region()), ROLE)
    assert not w.model_known and w.record is None
    assert [(v.variant_name, v.initial_weight) for v in w.config.variants] == [
        ("blue", 90.0),
        ("green", 10.0),
    ]
    assert [v.initial_instance_count for v in w.config.variants] == [1, 2]
    assert [(s.resource_id, s.min_capacity, s.max_capacity) for s in w.scalings] == [
        ("endpoint/iris/variant/blue", 1, 3),
        ("endpoint/iris/variant/green", 2, 4),
    ]
    assert not any(cache.rglob("*.tar.gz"))


# --- reads --------------------------------------------------------------------------------


class FakeGateway:
    """The gateway's read verbs over a fixed state, counting calls."""

    region = "us-east-1"

    def __init__(
        self,
        endpoint: Endpoint | None,
        tags: dict[str, dict[str, str]],
        configs: dict[str, EndpointConfig],
        scalings: tuple[Scaling, ...] = (),
    ) -> None:
        self.endpoint, self.tags, self.configs, self.scalings = endpoint, tags, configs, scalings
        self.calls: list[str] = []

    def describe_endpoint(self, name: str) -> Endpoint | None:
        self.calls.append("DescribeEndpoint")
        return self.endpoint

    def list_tags(self, arn: str) -> dict[str, str]:
        self.calls.append("ListTags")
        return self.tags.get(arn, {})

    def describe_endpoint_config(self, name: str) -> EndpointConfig | None:
        self.calls.append("DescribeEndpointConfig")
        return self.configs.get(name)

    def list_endpoint_configs(self, name_contains: str) -> list[tuple[str, str, str]]:
        self.calls.append("ListEndpointConfigs")
        return [(c.name, f"2026-01-0{i}", c.arn or "") for i, c in enumerate(self.configs.values())]

    def describe_scalings(self, resource_ids: list[str]) -> list[Scaling]:
        """As the gateway reads them: one DescribeScalableTargets for all, then the policies
        of each target found."""
        self.calls.append("DescribeScalableTargets")
        found = [s for s in self.scalings if s.resource_id in resource_ids]
        self.calls.extend("DescribeScalingPolicies" for _ in found)
        return found


def test_an_unchanged_spec_costs_the_reads_plan_makes_and_no_more() -> None:
    serverless = FakeGateway(
        Endpoint("iris", SERVERLESS.name, "InService", arn="arn:ep", variants=variants(None)),
        {"arn:ep": applied_tags(W)},
        {},
    )
    assert classify(W, read_live(cast(Any, serverless), W)).findings == ()
    assert serverless.calls == ["DescribeEndpoint", "ListTags"]

    realtime = FakeGateway(
        Endpoint("iris", REALTIME.name, "InService", arn="arn:ep", variants=variants(2)),
        {"arn:ep": applied_tags(WR)},
        {},
        (SCALING,),
    )
    assert classify(WR, read_live(cast(Any, realtime), WR)).findings == ()
    assert realtime.calls == [
        "DescribeEndpoint",
        "ListTags",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
    ]

    adopted = FakeGateway(
        Endpoint("iris", HANDMADE.name, "InService", arn="arn:ep", variants=variants(None)),
        {"arn:ep": applied_tags(W, **{TAG_ADOPTED: ADOPTED})},
        {},
    )
    assert classify(W, read_live(cast(Any, adopted), W)).findings == ()
    assert adopted.calls == ["DescribeEndpoint", "ListTags"]


def test_another_config_is_described_and_its_tags_read_only_if_not_the_applied_one() -> None:
    ours = replace(SERVERLESS, arn="arn:ours")
    pending = FakeGateway(
        Endpoint("iris", SERVERLESS.name, "InService", arn="arn:ep", variants=variants(None)),
        {"arn:ep": applied_tags(W), "arn:ours": OWNED_CONFIG_TAGS},
        {SERVERLESS.name: ours},
    )
    live = read_live(cast(Any, pending), W_BIGGER)
    assert _shape(classify(W_BIGGER, live).findings) == [("endpoint_config", Cause.PENDING)]
    assert pending.calls == ["DescribeEndpoint", "ListTags", "DescribeEndpointConfig"]

    handmade = FakeGateway(
        Endpoint("iris", HANDMADE.name, "InService", arn="arn:ep", variants=variants(None)),
        {"arn:ep": applied_tags(W), "arn:config": {}},
        {HANDMADE.name: HANDMADE},
    )
    live = read_live(cast(Any, handmade), W)
    assert _shape(classify(W, live).findings) == [("endpoint_config", Cause.DRIFT)]
    assert handmade.calls == ["DescribeEndpoint", "ListTags", "DescribeEndpointConfig", "ListTags"]


def test_two_variants_cost_one_target_read_and_the_policies_of_those_found() -> None:
    both = (BLUE_SCALING, GREEN_SCALING)
    w = replace(W2, scalings=both)
    live_variants = (
        LiveVariant("blue", 90.0, 90.0, 2, 2),
        LiveVariant("green", 10.0, 10.0, 1, 1),
    )
    steady = FakeGateway(
        Endpoint("iris", TWO.name, "InService", arn="arn:ep", variants=live_variants),
        {"arn:ep": applied_tags(w)},
        {},
        both,
    )
    assert classify(w, read_live(cast(Any, steady), w)).findings == ()
    assert steady.calls == [
        "DescribeEndpoint",
        "ListTags",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DescribeScalingPolicies",
    ]

    # A variant the spec does not autoscale is read too: its instances may have a target.
    by_hand = FakeGateway(
        Endpoint("iris", TWO.name, "InService", arn="arn:ep", variants=live_variants),
        {"arn:ep": applied_tags(W2)},
        {},
        both,
    )
    found = classify(W2, read_live(cast(Any, by_hand), W2)).findings
    assert _shape(found) == [("autoscaling.green", Cause.DRIFT)]

    # Weights set in place: the endpoint serving its older config stands for the spec's, and
    # that config is not described.
    halves = tuple(replace(v, current_weight=50.0, desired_weight=50.0) for v in live_variants)
    in_place = FakeGateway(
        Endpoint("iris", TWO.name, "InService", arn="arn:ep", variants=halves),
        {"arn:ep": applied_tags(W_HALVES, **SET_IN_PLACE)},
        {TWO.name: TWO},
        (BLUE_SCALING,),
    )
    assert classify(W_HALVES, read_live(cast(Any, in_place), W_HALVES)).findings == ()
    assert in_place.calls == [
        "DescribeEndpoint",
        "ListTags",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
    ]


def test_without_the_model_the_record_spares_listing_and_describing_configs() -> None:
    """A fresh CI runner has nothing packaged: the spec's config name is unknown, and the
    serving config is taken from the record."""
    unpackaged = replace(WR, model_known=False, not_packaged="not packaged here")
    steady = FakeGateway(
        Endpoint("iris", REALTIME.name, "InService", arn="arn:ep", variants=variants(3)),
        {"arn:ep": applied_tags(WR)},
        {REALTIME.name: REALTIME},
        (SCALING,),
    )
    assessment = classify(unpackaged, read_live(cast(Any, steady), unpackaged))
    assert assessment.findings == () and assessment.unchecked
    assert steady.calls == [
        "DescribeEndpoint",
        "ListTags",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
    ]

    # A count beyond the range needs the applied config's initial count: described, no more.
    by_hand = FakeGateway(
        Endpoint("iris", REALTIME.name, "InService", arn="arn:ep", variants=variants(5)),
        {"arn:ep": applied_tags(WR)},
        {REALTIME.name: REALTIME},
        (SCALING,),
    )
    live = read_live(cast(Any, by_hand), unpackaged)
    assert _shape(classify(unpackaged, live).findings) == [("instance_count", Cause.DRIFT)]
    assert by_hand.calls == [
        "DescribeEndpoint",
        "ListTags",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DescribeEndpointConfig",
    ]

    # Only the old digest: the config is described and its ownership read, never listed.
    legacy = FakeGateway(
        Endpoint("iris", REALTIME.name, "InService", arn="arn:ep", variants=variants(3)),
        {"arn:ep": legacy_tags(WR), "arn:rt": OWNED_CONFIG_TAGS},
        {REALTIME.name: replace(REALTIME, arn="arn:rt")},
        (SCALING,),
    )
    assert classify(unpackaged, read_live(cast(Any, legacy), unpackaged)).findings == ()
    assert "ListEndpointConfigs" not in legacy.calls and len(legacy.calls) == 6


def test_a_missing_endpoint_is_told_deleted_only_when_our_configs_remain() -> None:
    ours = replace(SERVERLESS, arn="arn:ours")
    left = FakeGateway(None, {"arn:ours": OWNED_CONFIG_TAGS}, {SERVERLESS.name: ours})
    assert read_live(cast(Any, left), W).leftover_config == SERVERLESS.name
    foreign = FakeGateway(None, {"arn:ours": {"team": "ml"}}, {SERVERLESS.name: ours})
    assert read_live(cast(Any, foreign), W).leftover_config is None


def test_last_applied_is_the_record_or_what_the_old_digest_proves() -> None:
    """Never a guess: the record, or for an older deployspec's endpoint the live values or the
    spec's when they hash to its spec-digest."""
    assert last_applied(W_BIGGER, on(W)) == W.record
    assert last_applied(W_BIGGER, on(W, tags=legacy_tags(W))) == W.record  # live, as applied
    assert last_applied(W, on(W_BIGGER, tags=legacy_tags(W))) == W.record  # the spec's
    forged = on(W, tags={**legacy_tags(W), TAG_DIGEST: "0" * 16})
    assert last_applied(W, forged) is None
    assert last_applied(W, on(W, tags=without(legacy_tags(W), TAG_DIGEST))) is None


# --- output -------------------------------------------------------------------------------


def _report(findings: list[Finding], **kw: Any) -> SpecReport:
    return SpecReport(
        "specs/iris/deployment.yaml",
        "iris",
        "iris",
        "us-east-1",
        "InService",
        tuple(findings),
        **kw,
    )


DRIFTED = _report(
    list(classify(WR, on(WR, count=5, tags=without(applied_tags(WR), "team"))).findings)
)
PENDING = _report(list(classify(W_TEAM, on(W)).findings))
IN_SYNC = _report([])
BROKEN = SpecReport(
    "specs/broken/deployment.yaml",
    error="no execution role",
    error_hint="set role:",
    error_text="error: no execution role\n  hint: set role:",
)


def test_text_groups_per_spec_with_applied_live_and_how_to_fix() -> None:
    text = render_text([DRIFTED, PENDING, IN_SYNC, BROKEN])
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[:4] == [
        "==> specs/iris/deployment.yaml: endpoint iris (us-east-1) <==",
        "drifted: 2 changes outside deployspec",
        "  changed outside deployspec:",
        "    instance_count: 1 (applied) -> 5 (live)",
    ]
    assert "    tags.team: ml (applied) -> (none) (live)" in blocks[0]
    assert "`deployspec apply specs/iris/deployment.yaml` restores what the spec says" in blocks[0]
    assert "update the spec to keep the live change" in blocks[0]
    assert "pending (the spec changed since the last apply; not drift):" in blocks[1]
    assert "    tags.team: ml (live) -> data (spec)" in blocks[1]
    assert blocks[2].splitlines()[1] == "no drift"
    assert blocks[3].splitlines() == [
        "==> specs/broken/deployment.yaml <==",
        "error: no execution role",
        "  hint: set role:",
    ]
    assert text.endswith("\n1 spec drifted, 2 in sync, 1 error (1 with pending spec changes)\n")


def test_summary_and_exit_codes() -> None:
    assert summary_line([IN_SYNC, IN_SYNC]) == "0 specs drifted, 2 in sync, 0 errors"
    assert summary_line([DRIFTED, DRIFTED, IN_SYNC]) == "2 specs drifted, 1 in sync, 0 errors"
    assert exit_code([IN_SYNC, PENDING]) == 0
    assert exit_code([IN_SYNC, DRIFTED]) == 2
    assert exit_code([DRIFTED, BROKEN]) == 1
    rolled_back = _report([Finding("endpoint_config", Cause.ROLLBACK, "a", "b", "a", "")])
    unverified = _report([Finding("tags.team", Cause.UNVERIFIED, None, "x", "y", "")])
    assert exit_code([rolled_back, unverified]) == 0


def test_unverified_is_never_headed_no_drift() -> None:
    """An older deployspec's endpoint whose digest matches neither side: not drift (exit 0),
    but not "no drift" either."""
    assessment = classify(
        replace(W_TEAM, deployment=ROLLOUT), on(W, tags={**legacy_tags(W), "team": "ops"})
    )
    report = _report(list(assessment.findings), unchecked=assessment.unchecked)
    lines = render_report(report)
    assert (
        lines[1]
        == "unverified: 1 difference from the spec that drift cannot tell from pending changes"
    )
    assert "no drift" not in lines
    assert any("apply once with this deployspec to enable drift checks" in line for line in lines)
    assert report.state == "unverified" and exit_code([report]) == 0
    assert summary_line([report, IN_SYNC]) == "0 specs drifted, 1 in sync, 1 unverified, 0 errors"
    assert document([report])["summary"]["unverified"] == 1


def test_json_document_is_stable_for_alerting() -> None:
    doc = document([DRIFTED, PENDING, BROKEN])
    assert json.loads(json.dumps(doc)) == doc  # plain JSON
    assert list(doc) == ["format_version", "exit_code", "summary", "specs"]
    assert doc["format_version"] == 1 and doc["exit_code"] == 1
    assert doc["summary"] == {
        "specs": 3,
        "drifted": 1,
        "in_sync": 1,
        "unverified": 0,
        "errors": 1,
        "with_pending": 1,
    }
    first = doc["specs"][0]
    assert list(first) == [
        "file",
        "spec_name",
        "endpoint",
        "region",
        "state",
        "endpoint_status",
        "findings",
        "unchecked",
        "error",
    ]
    assert first["state"] == "drifted"
    assert first["findings"][0] == {
        "attribute": "instance_count",
        "cause": "drift",
        "applied": 1,
        "applied_known": True,
        "live": 5,
        "spec": 1,
        "detail": first["findings"][0]["detail"],
    }
    assert doc["specs"][2]["error"] == {"message": "no execution role", "hint": "set role:"}
    assert doc["specs"][2]["state"] == "error" and doc["specs"][2]["findings"] == []


def test_findings_never_carry_model_environments() -> None:
    """Drift reads no model: a config swapped for one serving other secrets says only names."""
    live = on(W, HANDMADE.name, config=replace(HANDMADE, data_capture=DataCapture("s3://b", 5)))
    live = replace(live, config_tags={})
    text = json.dumps(document([_report(list(classify(W, live).findings))]))
    assert "environment" not in text and "data capture 5%" in text
