"""The planner is pure: tables of (desired, actual) → expected changes, no AWS at all.

Each row of CASES is (name, desired tweaks, actual state) → the planned (kind, name, action,
reasons) in order, plus, where a row needs them, attributes of particular changes, the plan's
counts and notes. REFUSED lists the states the planner refuses. Rendering is tested in
test_render.py; saved plans in test_ownership.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from deployspec.desired import Desired
from deployspec.errors import DeployspecError, NotManagedError, PlanError
from deployspec.plan import Action, Kind, Plan
from deployspec.planner import flatten, make_plan
from deployspec.resources import (
    TAG_APPLIED,
    TAG_DIGEST,
    TAG_MANAGED_BY,
    TAG_MODEL,
    TAG_PREVIOUS,
    TAG_PRUNED,
    TAG_SERVES_FOR,
    TAG_SPEC,
    Artifact,
    AsyncInference,
    Deployment,
    Endpoint,
    EndpointConfig,
    LiveVariant,
    Model,
    OwnedResource,
    Scaling,
    ServerlessConfig,
    Variant,
    ownership_tags,
)
from deployspec.state import Actual

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# The archive's content digest, as artifacts.py names it: it names the S3 key.
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ARCHIVE = f"s3://bucket/deployspec/iris/{SHA}/model.tar.gz"


def desired(**overrides: object) -> Desired:
    model = Model(
        name="iris-aaaaaaaaaa",
        image=IMAGE,
        model_data_url=ARCHIVE,
        environment={"SAGEMAKER_PROGRAM": "inference.py", "API_KEY": "hunter2"},
        execution_role_arn=ROLE,
    )
    config = EndpointConfig(
        name="iris-cccccccccc",
        variants=(Variant(model_name=model.name, serverless=ServerlessConfig(2048, 5)),),
    )
    base = Desired(
        spec_name="iris",
        region="us-east-1",
        account="123456789012",
        bucket="bucket",
        artifacts=(Artifact(SHA, 10, "/tmp/iris.tar.gz", ARCHIVE),),
        models=(model,),
        config=config,
        endpoint_name="iris",
        tags={"team": "ml", **ownership_tags("iris")},
        spec_digest="d1",
        scalings=(),
        deployment=None,
        keep=2,
        timeout_seconds=1800,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def live_endpoint(
    config: str = "iris-cccccccccc", status: str = "InService", **kw: object
) -> Endpoint:
    return Endpoint(name="iris", config_name=config, status=status, arn="arn:ep", **kw)  # type: ignore[arg-type]


def without(tags: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in keys}


def owned_tags(d: Desired, pruned: str | None = None) -> dict[str, str]:
    tags = {**d.endpoint_tags}
    if pruned:
        tags[TAG_PRUNED] = pruned
    return tags


# --- the states the rows share ------------------------------------------------------------

D = desired()
D_CONFIG = D.config.name
MARK = "iris-cccccccccc@keep=2"  # the prune mark of D's config under keep: 2
TAGS = owned_tags(D, pruned=MARK)  # the endpoint as the last apply of D left it
SCALING = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")
SCALING_ID = SCALING.resource_id


def realtime(name: str, instance_type: str = "ml.m5.xlarge", count: int = 1) -> EndpointConfig:
    return EndpointConfig(
        name,
        (Variant("iris-aaaaaaaaaa", instance_type=instance_type, initial_instance_count=count),),
    )


RT = realtime("iris-cccccccccc")
OLD_SERVERLESS = EndpointConfig(
    "iris-bbbbbbbbbb", (Variant("iris-aaaaaaaaaa", serverless=ServerlessConfig(1024, 5)),)
)
THREE = (LiveVariant("AllTraffic", 1.0, 1.0, 3, 3),)
ASYNC = AsyncInference("s3://b/out/", "s3://b/failed/")


def serving_desired(**kw: Any) -> Actual:
    """The endpoint InService on D's config, its config and model there."""
    options: dict[str, Any] = {
        "endpoint": live_endpoint(),
        "endpoint_tags": TAGS,
        "desired_config_exists": True,
        "existing_models": frozenset({"iris-aaaaaaaaaa"}),
        **kw,
    }
    return Actual(**options)


M, C, E = Kind.MODEL, Kind.ENDPOINT_CONFIG, Kind.ENDPOINT
CREATE, UPDATE, REPLACE, DELETE = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE


@dataclass(frozen=True)
class Case:
    name: str
    tweaks: dict[str, Any]
    actual: Actual
    # (kind, name, action, reasons) of every change, in order.
    expected: list[tuple[Kind, str, Action, tuple[str, ...]]]
    # change index -> {flattened attribute path: value} the change's `after` must hold.
    after: dict[int, dict[str, Any]] = field(default_factory=dict)
    # change index -> (before, after), exactly.
    exact: dict[int, tuple[dict[str, Any] | None, dict[str, Any] | None]] = field(
        default_factory=dict
    )
    # change index -> the attributes that force its replacement (none elsewhere).
    forces: dict[int, tuple[str, ...]] = field(default_factory=dict)
    counts: tuple[int, int, int] | None = None
    notes: tuple[str, ...] = ()  # fragments, one per expected note
    adopt: bool = False
    endpoint_status: str | None = None
    # The config the endpoint serves once applied, when not the spec's own (set in place).
    target: str | None = None

    def __str__(self) -> str:
        return self.name


def with_volume(config: EndpointConfig, size: int) -> EndpointConfig:
    return replace(config, variants=tuple(replace(v, volume_size_gb=size) for v in config.variants))


# --- several variants ----------------------------------------------------------------------

MODEL_B = replace(D.models[0], name="iris-bbbbbbbbb0", model_data_url="s3://bucket/b.tar.gz")


def two(
    name: str = "iris-2222222222",
    weights: tuple[float, float] = (90.0, 10.0),
    counts: tuple[int, int] = (1, 1),
    model_b: str = MODEL_B.name,
) -> EndpointConfig:
    return EndpointConfig(
        name,
        (
            Variant(D.models[0].name, "current", None, "ml.m5.large", counts[0], None, weights[0]),
            Variant(model_b, "challenger", None, "ml.m5.large", counts[1], None, weights[1]),
        ),
    )


def two_live(
    weights: tuple[float, float] = (90.0, 10.0), counts: tuple[int, int] = (1, 1)
) -> tuple[LiveVariant, ...]:
    return (
        LiveVariant("current", weights[0], weights[0], counts[0], counts[0]),
        LiveVariant("challenger", weights[1], weights[1], counts[1], counts[1]),
    )


SCALE_CURRENT = replace(SCALING, resource_id="endpoint/iris/variant/current")
SCALE_CHALLENGER = replace(SCALING, resource_id="endpoint/iris/variant/challenger", max_capacity=2)
TWO = {"config": two(), "models": (D.models[0], MODEL_B), "artifacts": ()}
D_TWO = desired(**TWO)


def two_serving(**kw: Any) -> Actual:
    options: dict[str, Any] = {
        "endpoint": live_endpoint("iris-2222222222", variants=two_live()),
        "endpoint_tags": owned_tags(D_TWO, pruned="iris-2222222222@keep=2"),
        "desired_config_exists": True,
        "existing_models": frozenset({D.models[0].name, MODEL_B.name}),
        **kw,
    }
    return Actual(**options)


def weights_moved(old: EndpointConfig, live: tuple[LiveVariant, ...], **kw: Any) -> Actual:
    """The endpoint on its own older config `old`, the spec asking for other weights/counts."""
    return Actual(
        endpoint=live_endpoint(old.name, variants=live),
        endpoint_tags=owned_tags(D_TWO, pruned=f"{old.name}@keep=2"),
        current_config=old,
        current_models=(D.models[0], MODEL_B),
        existing_models=frozenset({D.models[0].name, MODEL_B.name}),
        **kw,
    )


TWO_VARIANT_CASES = [
    Case("two variants as the spec says plan nothing", TWO, two_serving(), [], counts=(0, 0, 0)),
    Case(
        "a weights-only change is set in place: no new config",
        {**TWO, "config": two("iris-3333333333", weights=(50.0, 50.0))},
        weights_moved(two(), two_live(), owned=()),
        [
            (
                E,
                "iris",
                UPDATE,
                ("variant current: weight 90 → 50", "variant challenger: weight 10 → 50"),
            )
        ],
        after={
            0: {
                "config_name": "iris-2222222222",
                "capacities.current.weight": 50.0,
                "capacities.challenger.weight": 50.0,
                f"tags.{TAG_SERVES_FOR}": "iris-2222222222 iris-3333333333",
            }
        },
        target="iris-2222222222",
    ),
    Case(
        "an instance-count-only change is set in place, for that variant only",
        {**TWO, "config": two("iris-3333333333", counts=(3, 1))},
        weights_moved(two(), two_live(), owned=()),
        [(E, "iris", UPDATE, ("variant current: instance count 1 → 3",))],
        exact={},
        after={0: {"capacities.current.instance_count": 3, "capacities.challenger": None}},
        target="iris-2222222222",
    ),
    Case(
        "weights set in place stand for the spec's config: a no-op afterwards",
        {**TWO, "config": two("iris-3333333333", weights=(50.0, 50.0))},
        Actual(
            endpoint=live_endpoint("iris-2222222222", variants=two_live((50.0, 50.0))),
            endpoint_tags={
                **owned_tags(
                    desired(**{**TWO, "config": two("iris-3333333333", weights=(50.0, 50.0))}),
                    pruned="iris-3333333333@keep=2",
                ),
                TAG_SERVES_FOR: "iris-2222222222 iris-3333333333",
            },
            desired_config_exists=True,
            existing_models=frozenset({D.models[0].name, MODEL_B.name}),
            serves_for="iris-2222222222",
        ),
        [],
        counts=(0, 0, 0),
        target="iris-2222222222",
    ),
    Case(
        "a weight changed by hand on one variant of two is put back",
        TWO,
        two_serving(endpoint=live_endpoint("iris-2222222222", variants=two_live((90.0, 40.0)))),
        [(E, "iris", UPDATE, ("variant challenger: variant weight changed outside deployspec",))],
        after={0: {"capacities.challenger.weight": 10.0, "capacities.current": None}},
    ),
    Case(
        "a model change on one variant is a new model and config",
        {
            **TWO,
            "config": two("iris-3333333333", model_b="iris-cccccccc00"),
            "models": (D.models[0], replace(MODEL_B, name="iris-cccccccc00", image="other")),
        },
        weights_moved(two(), two_live(), owned=()),
        [
            (M, "iris-cccccccc00", CREATE, (f"image: {IMAGE[:77]}... → other",)),
            (
                C,
                "iris-3333333333",
                CREATE,
                ("variants.challenger.model_name: iris-bbbbbbbbb0 → iris-cccccccc00",),
            ),
            (
                E,
                "iris",
                UPDATE,
                (
                    "new endpoint config: variants.challenger.model_name: iris-bbbbbbbbb0 → "
                    "iris-cccccccc00",
                ),
            ),
        ],
    ),
    Case(
        "each variant's autoscaling is its own: one registered, one updated",
        {**TWO, "scalings": (SCALE_CURRENT, SCALE_CHALLENGER)},
        two_serving(scalings=(replace(SCALE_CURRENT, max_capacity=8),)),
        [
            (
                Kind.SCALING,
                "endpoint/iris/variant/current",
                UPDATE,
                ("changed outside deployspec", "max_capacity: 8 → 4"),
            ),
            (
                Kind.SCALING,
                "endpoint/iris/variant/challenger",
                CREATE,
                ("autoscaling registered once the endpoint is InService",),
            ),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record the autoscaling applied, which `deployspec drift` checks",),
            ),
        ],
    ),
    Case(
        "a removed variant's autoscaling is deregistered before the endpoint update",
        {
            "config": EndpointConfig("iris-3333333333", (two().variants[0],)),
            "models": (D.models[0],),
            "scalings": (SCALE_CURRENT,),
        },
        weights_moved(two(), two_live(), scalings=(SCALE_CURRENT, SCALE_CHALLENGER), owned=()),
        [
            (C, "iris-3333333333", CREATE, ("variants.challenger: removed",)),
            (
                Kind.SCALING,
                "endpoint/iris/variant/challenger",
                DELETE,
                ("variant challenger is removed from the spec",),
            ),
            (E, "iris", UPDATE, ("new endpoint config: variants.challenger: removed",)),
        ],
    ),
    Case(
        "pruning never deletes the config the endpoint keeps serving for the spec's",
        {**TWO, "config": two("iris-3333333333", weights=(50.0, 50.0)), "keep": 0},
        weights_moved(
            two(),
            two_live(),
            owned=(
                OwnedResource(
                    "endpoint_config",
                    "iris-2222222222",
                    "2026-01-02",
                    (D.models[0].name, MODEL_B.name),
                ),
                OwnedResource(
                    "endpoint_config", "iris-1111111111", "2026-01-01", ("iris-old0000000",)
                ),
                OwnedResource("model", D.models[0].name, "2026-01-02"),
                OwnedResource("model", MODEL_B.name, "2026-01-02"),
                OwnedResource("model", "iris-old0000000", "2026-01-01"),
            ),
        ),
        [
            (
                E,
                "iris",
                UPDATE,
                ("variant current: weight 90 → 50", "variant challenger: weight 10 → 50"),
            ),
            (C, "iris-1111111111", DELETE, ("older than the 0 kept for rollback",)),
            (M, "iris-old0000000", DELETE, ("no kept endpoint config uses it",)),
            (Kind.PRUNE_MARK, "iris", UPDATE, ("record that older configs and models are pruned",)),
        ],
        target="iris-2222222222",
    ),
]


# --- multi-model archives, and the other scaling metrics ---------------------------------

PREFIX = "s3://bucket/deployspec/iris/multi-model/"
SHA_A, SHA_B = "a" * 64, "b" * 64
MME = replace(D.models[0], model_data_url=PREFIX, multi_model=True)


def archive(name: str, sha: str) -> Artifact:
    key = f"{name}/{sha}/model.tar.gz"
    return Artifact(sha, 10, f"/tmp/{name}.tar.gz", PREFIX + key, key, name)


MULTI = {"models": (MME,), "artifacts": (archive("iris-a", SHA_A), archive("iris-b", SHA_B))}
BACKLOG_SCALING = replace(
    SCALING, min_capacity=0, metric="ApproximateBacklogSizePerInstance", scale_from_zero=True
)

OTHER_CASES = [
    Case(
        "a model added to a multi-model endpoint is an upload and nothing else",
        MULTI,
        serving_desired(
            artifacts={
                PREFIX + f"iris-a/{SHA_A}/model.tar.gz": "present",
                PREFIX + f"iris-b/{SHA_B}/model.tar.gz": "missing",
            }
        ),
        [
            (
                Kind.ARTIFACT,
                PREFIX + f"iris-b/{SHA_B}/model.tar.gz",
                CREATE,
                (f"model.tar.gz sha256 {SHA_B[:12]} is not in S3 yet",),
            )
        ],
        after={0: {"target_model": f"iris-b/{SHA_B}/model.tar.gz", "model_name": "iris-b"}},
        counts=(1, 0, 0),
    ),
    Case(
        "an archive the spec no longer lists is deleted",
        MULTI,
        serving_desired(
            artifacts={
                PREFIX + f"iris-a/{SHA_A}/model.tar.gz": "present",
                PREFIX + f"iris-b/{SHA_B}/model.tar.gz": "present",
            },
            stale_archives=(PREFIX + f"iris-old/{'c' * 64}/model.tar.gz",),
        ),
        [
            (
                Kind.ARTIFACT,
                PREFIX + f"iris-old/{'c' * 64}/model.tar.gz",
                DELETE,
                (
                    "a multi-model archive the spec no longer lists (or an earlier version of "
                    "one): the endpoint stops serving it",
                ),
            )
        ],
        counts=(0, 0, 1),
    ),
    Case(
        "backlog autoscaling down to zero is registered with its scale-from-zero policy",
        {"config": RT, "scalings": (BACKLOG_SCALING,)},
        serving_desired(endpoint=live_endpoint(variants=(LiveVariant("AllTraffic", 1, 1, 1, 1),))),
        [
            (
                Kind.SCALING,
                SCALING_ID,
                CREATE,
                ("autoscaling registered once the endpoint is InService",),
            ),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record the autoscaling applied, which `deployspec drift` checks",),
            ),
        ],
        after={0: {"metric": "ApproximateBacklogSizePerInstance", "scale_from_zero": True}},
    ),
    Case(
        "raising min from zero takes the scale-from-zero policy off",
        {
            "config": RT,
            "scalings": (replace(BACKLOG_SCALING, min_capacity=1, scale_from_zero=False),),
        },
        serving_desired(scalings=(BACKLOG_SCALING,)),
        [
            (
                Kind.SCALING,
                SCALING_ID,
                UPDATE,
                (
                    "changed outside deployspec",
                    "min_capacity: 0 → 1",
                    "scale_from_zero: True → False",
                ),
            ),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record the autoscaling applied, which `deployspec drift` checks",),
            ),
        ],
    ),
    Case(
        "a target on another dimension is registered again",
        {
            "scalings": (
                replace(SCALING, metric="SageMakerVariantProvisionedConcurrencyUtilization"),
            )
        },
        serving_desired(scalings=(SCALING,)),
        [
            (
                Kind.SCALING,
                SCALING_ID,
                DELETE,
                (
                    "it scales sagemaker:variant:DesiredProvisionedConcurrency now, not "
                    "sagemaker:variant:DesiredInstanceCount: registered again",
                ),
            ),
            (
                Kind.SCALING,
                SCALING_ID,
                CREATE,
                ("autoscaling registered once the endpoint is InService",),
            ),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record the autoscaling applied, which `deployspec drift` checks",),
            ),
        ],
    ),
]


CASES = [
    *OTHER_CASES,
    Case(
        "empty account creates everything",
        {},
        Actual(artifacts={ARCHIVE: "missing"}, bucket_exists=False, owned=()),
        [
            (
                Kind.BUCKET,
                "bucket",
                CREATE,
                ("artifact bucket does not exist (created encrypted, public access blocked)",),
            ),
            (Kind.ARTIFACT, ARCHIVE, CREATE, (f"model.tar.gz sha256 {SHA[:12]} is not in S3 yet",)),
            (M, "iris-aaaaaaaaaa", CREATE, ("no model with this content exists yet",)),
            (C, "iris-cccccccccc", CREATE, ("no endpoint config with this content exists yet",)),
            (E, "iris", CREATE, ("endpoint does not exist",)),
        ],
        after={
            3: {f"tags.{TAG_MODEL}": "iris-aaaaaaaaaa"},
            4: {f"tags.{TAG_PRUNED}": MARK, f"tags.{TAG_DIGEST}": "d1", "config_name": D_CONFIG},
        },
        counts=(5, 0, 0),
    ),
    Case(
        "the digest tag is on the endpoint only",
        {},
        Actual(artifacts={ARCHIVE: "present"}, owned=()),
        [
            (M, "iris-aaaaaaaaaa", CREATE, ("no model with this content exists yet",)),
            (C, "iris-cccccccccc", CREATE, ("no endpoint config with this content exists yet",)),
            (E, "iris", CREATE, ("endpoint does not exist",)),
        ],
        after={
            0: {f"tags.{TAG_DIGEST}": None},
            1: {f"tags.{TAG_DIGEST}": None},
            2: {f"tags.{TAG_DIGEST}": "d1"},
        },
    ),
    Case("matching state plans nothing", {}, serving_desired(), [], counts=(0, 0, 0)),
    *(
        Case(
            f"async inference {what}: the endpoint must be replaced",
            {"config": replace(RT, async_inference=wanted)},
            serving_desired(
                endpoint=live_endpoint("iris-bbbbbbbbbb"),
                current_config=replace(RT, name="iris-bbbbbbbbbb", async_inference=live),
                desired_config_exists=False,
                owned=None,
            ),
            [
                (C, "iris-cccccccccc", CREATE, reasons),
                (
                    E,
                    "iris",
                    REPLACE,
                    (
                        f"SageMaker cannot update an endpoint {way} asynchronous inference; it is "
                        "deleted and created again under its name, and answers no requests in "
                        "between",
                    ),
                ),
            ],
            forces={1: ("async_inference",)},
            counts=(2, 0, 1),
        )
        for what, wanted, live, way, reasons in (
            (
                "added",
                ASYNC,
                None,
                "to",
                (
                    "async_inference.failure_path: null → s3://b/failed/",
                    "async_inference.output_path: null → s3://b/out/",
                ),
            ),
            (
                "removed",
                None,
                ASYNC,
                "from",
                (
                    "async_inference.failure_path: s3://b/failed/ → null",
                    "async_inference.output_path: s3://b/out/ → null",
                ),
            ),
        )
    ),
    Case(
        "async inference settings changed: a new config, updated in place",
        {"config": replace(RT, async_inference=replace(ASYNC, output_path="s3://b/new/"))},
        serving_desired(
            endpoint=live_endpoint("iris-bbbbbbbbbb"),
            current_config=replace(RT, name="iris-bbbbbbbbbb", async_inference=ASYNC),
            desired_config_exists=False,
            owned=None,
        ),
        [
            (
                C,
                "iris-cccccccccc",
                CREATE,
                ("async_inference.output_path: s3://b/out/ → s3://b/new/",),
            ),
            (
                E,
                "iris",
                UPDATE,
                ("new endpoint config: async_inference.output_path: s3://b/out/ → s3://b/new/",),
            ),
        ],
    ),
    Case(
        "the same content under an earlier version's name is created again under its new name",
        {},
        serving_desired(
            endpoint=live_endpoint("iris-0123456789"),
            current_config=replace(D.config, name="iris-0123456789"),
            current_models=(replace(D.models[0], name="iris-aaaaaaaaaa"),),
            desired_config_exists=False,
            owned=None,
        ),
        [
            (
                C,
                "iris-cccccccccc",
                CREATE,
                (
                    "endpoint config iris-0123456789 holds this content under a name from an "
                    "earlier deployspec: names now hash the whole request, so it is created "
                    "again under its new name (the endpoint moves to it without downtime; the "
                    "old one is pruned)",
                ),
            ),
            (
                E,
                "iris",
                UPDATE,
                (
                    "new endpoint config: the same content under its new name (names now hash "
                    "the whole request)",
                ),
            ),
        ],
    ),
    Case(
        "aws: tags and bookkeeping are not drift",
        {},
        serving_desired(
            endpoint_tags={
                **TAGS,
                TAG_PREVIOUS: "iris-0000000000",
                "aws:cloudformation:stack-name": "legacy",
            }
        ),
        [],
    ),
    Case(
        # The digest covers the rollout settings too, which act at the next update only, and a
        # digest of another deployspec version differs as well: nothing on the endpoint changes.
        "a digest that alone differs plans nothing",
        {"deployment": Deployment("canary", 10, 300, timeout_seconds=3600)},
        serving_desired(endpoint_tags={**TAGS, TAG_DIGEST: "d0"}),
        [],
    ),
    Case(
        "changed config updates the endpoint in place",
        {},
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb"),
            endpoint_tags=owned_tags(D, pruned="iris-bbbbbbbbbb"),
            current_config=OLD_SERVERLESS,
            current_models=(D.models[0],),
            existing_models=frozenset({D.models[0].name}),
            owned=(
                OwnedResource(
                    "endpoint_config", "iris-bbbbbbbbbb", "2026-01-02", ("iris-aaaaaaaaaa",)
                ),
                OwnedResource("model", "iris-aaaaaaaaaa", "2026-01-01"),
            ),
        ),
        [
            (
                C,
                "iris-cccccccccc",
                CREATE,
                ("variants.AllTraffic.serverless.memory_mb: 1024 → 2048",),
            ),
            (
                E,
                "iris",
                UPDATE,
                ("new endpoint config: variants.AllTraffic.serverless.memory_mb: 1024 → 2048",),
            ),
        ],
        after={
            # The endpoint remembers what it served before (for rollback) and that pruning is
            # done.
            1: {
                "config_name": "iris-cccccccccc",
                f"tags.{TAG_PREVIOUS}": "iris-bbbbbbbbbb",
                f"tags.{TAG_PRUNED}": MARK,
                "retain_instance_count": False,
            }
        },
        counts=(1, 1, 0),
    ),
    Case(
        "a failed endpoint is replaced",
        {},
        serving_desired(endpoint=live_endpoint(status="Failed", failure_reason="image not found")),
        [(E, "iris", REPLACE, ("endpoint is Failed: image not found",))],
        after={0: {"status": "InService", f"tags.{TAG_PRUNED}": MARK}},
        forces={0: ("status",)},
        counts=(1, 0, 1),
    ),
    Case(
        "an endpoint being deleted is created again",
        {},
        serving_desired(endpoint=live_endpoint(status="Deleting"), owned=()),
        [(E, "iris", CREATE, ("endpoint is being deleted; it is created again once gone",))],
        notes=("endpoint iris is Deleting: apply waits",),
        endpoint_status="Deleting",
    ),
    Case(
        "an endpoint still updating is noted and waited for",
        {},
        serving_desired(endpoint=live_endpoint(status="Updating")),
        [(E, "iris", UPDATE, ("endpoint is Updating: apply waits until it is InService",))],
        notes=("endpoint iris is Updating: apply waits for it to finish",),
        endpoint_status="Updating",
    ),
    Case(
        "an endpoint still creating gets a wait-and-verify change",
        {},
        serving_desired(endpoint=live_endpoint(status="Creating")),
        [(E, "iris", UPDATE, ("endpoint is Creating: apply waits until it is InService",))],
        exact={
            0: (
                {"status": "Creating", "config_name": "iris-cccccccccc"},
                {"status": "InService", "config_name": "iris-cccccccccc"},
            )
        },
        notes=("endpoint iris is Creating: apply waits for it to finish",),
    ),
    Case(
        "UpdateRollbackFailed on another config is updated, never replaced",
        {},
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb", status="UpdateRollbackFailed"),
            endpoint_tags=TAGS,
            desired_config_exists=True,
            existing_models=frozenset({D.models[0].name}),
        ),
        [
            (
                E,
                "iris",
                UPDATE,
                ("new endpoint config: no endpoint config with this content exists yet",),
            )
        ],
    ),
    Case(
        "a tag change updates model, config and endpoint in place",
        {"tags": {"team": "vision", **ownership_tags("iris")}},
        serving_desired(endpoint_tags={**D.endpoint_tags, TAG_PRUNED: "iris-cccccccccc"}),
        [
            (M, "iris-aaaaaaaaaa", UPDATE, ("tags changed",)),
            (C, "iris-cccccccccc", UPDATE, ("tags changed",)),
            (E, "iris", UPDATE, ("tags changed",)),
        ],
        after={
            0: {"tags.team": "vision"},
            1: {"tags.team": "vision", f"tags.{TAG_MODEL}": "iris-aaaaaaaaaa"},
            2: {"tags.team": "vision", f"tags.{TAG_PRUNED}": "iris-cccccccccc"},
        },
        counts=(0, 3, 0),
    ),
    Case(
        "pruning keeps the current config and `keep` previous ones",
        {"keep": 1},
        serving_desired(
            endpoint_tags=owned_tags(D),
            owned=(
                OwnedResource(
                    "endpoint_config", "iris-cccccccccc", "2026-01-05", ("iris-aaaaaaaaaa",)
                ),
                OwnedResource(
                    "endpoint_config", "iris-1111111111", "2026-01-04", ("iris-m111111111",)
                ),
                OwnedResource(
                    "endpoint_config", "iris-2222222222", "2026-01-03", ("iris-m222222222",)
                ),
                OwnedResource(
                    "endpoint_config", "iris-3333333333", "2026-01-02", ("iris-m333333333",)
                ),
                OwnedResource("model", "iris-aaaaaaaaaa", "2026-01-05"),
                OwnedResource("model", "iris-m111111111", "2026-01-04"),
                OwnedResource("model", "iris-m222222222", "2026-01-03"),
                OwnedResource("model", "iris-m333333333", "2026-01-02"),
                OwnedResource("model", "iris-orphan0000", "2026-01-01"),
            ),
        ),
        [
            (C, "iris-2222222222", DELETE, ("older than the 1 kept for rollback",)),
            (C, "iris-3333333333", DELETE, ("older than the 1 kept for rollback",)),
            (M, "iris-m222222222", DELETE, ("no kept endpoint config uses it",)),
            (M, "iris-m333333333", DELETE, ("no kept endpoint config uses it",)),
            (M, "iris-orphan0000", DELETE, ("no kept endpoint config uses it",)),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record that older configs and models are pruned",),
            ),
        ],
        after={5: {f"tags.{TAG_PRUNED}": "iris-cccccccccc@keep=1"}},
    ),
    Case(
        "a lowered keep is a stale prune mark",
        {"keep": 1},
        serving_desired(owned=()),
        [
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record that older configs and models are pruned",),
            )
        ],
        exact={0: ({"tags": {TAG_PRUNED: MARK}}, {"tags": {TAG_PRUNED: "iris-cccccccccc@keep=1"}})},
    ),
    Case(
        "an instance count the autoscaler chose is not drift",
        {"config": RT, "scalings": (SCALING,)},
        serving_desired(
            endpoint=live_endpoint(variants=THREE),
            endpoint_tags=owned_tags(D, pruned="iris-cccccccccc"),
            scalings=(SCALING,),
        ),
        [],
    ),
    Case(
        "an instance count changed by hand is drift",
        {"config": RT},
        serving_desired(
            endpoint=live_endpoint(variants=THREE),
            endpoint_tags=owned_tags(D, pruned="iris-cccccccccc"),
        ),
        [(E, "iris", UPDATE, ("instance count changed outside deployspec (1 → 3)",))],
        exact={
            0: (
                {
                    "config_name": "iris-cccccccccc",
                    "capacities": {"AllTraffic": {"instance_count": 3}},
                },
                {
                    "config_name": "iris-cccccccccc",
                    "capacities": {"AllTraffic": {"instance_count": 1}},
                },
            )
        },
    ),
    Case(
        "a scaling policy edited by hand is drift",
        {"scalings": (SCALING,)},
        serving_desired(
            endpoint_tags=owned_tags(desired(scalings=(SCALING,)), pruned=MARK),
            scalings=(replace(SCALING, target_value=500.0),),
        ),
        [
            (
                Kind.SCALING,
                SCALING_ID,
                UPDATE,
                ("changed outside deployspec", "target_value: 500.0 → 100.0"),
            )
        ],
    ),
    Case(
        # The endpoint itself does not change: the record of what was applied is written last.
        "a scaling change is planned alone, then recorded on the endpoint for drift",
        {"config": RT, "scalings": (replace(SCALING, max_capacity=6),), "spec_digest": "d2"},
        serving_desired(
            endpoint=live_endpoint(variants=THREE),
            endpoint_tags=owned_tags(desired(config=RT, scalings=(SCALING,)), pruned=MARK),
            scalings=(SCALING,),
        ),
        [
            (
                Kind.SCALING,
                SCALING_ID,
                UPDATE,
                ("max_capacity: 4 → 6",),  # the spec's change: the live one is as applied
            ),
            (
                Kind.PRUNE_MARK,
                "iris",
                UPDATE,
                ("record the autoscaling applied, which `deployspec drift` checks",),
            ),
        ],
        exact={
            1: (
                {
                    "tags": {
                        TAG_DIGEST: "d1",
                        TAG_APPLIED: desired(config=RT, scalings=(SCALING,)).applied.value,
                    }
                },
                {
                    "tags": {
                        TAG_DIGEST: "d2",
                        TAG_APPLIED: desired(
                            config=RT, scalings=(replace(SCALING, max_capacity=6),)
                        ).applied.value,
                    }
                },
            )
        },
        counts=(0, 2, 0),
    ),
    Case(
        "an endpoint applied before the applied record existed: no change for it alone",
        {"config": RT, "scalings": (SCALING,)},
        serving_desired(
            endpoint=live_endpoint(variants=THREE),
            endpoint_tags=without(owned_tags(D, pruned=MARK), TAG_APPLIED),
            scalings=(SCALING,),
        ),
        [],
    ),
    Case(
        "a rollout edit alone changes nothing, though the record differs",
        {"config": RT, "deployment": Deployment("CANARY", 10, 300), "spec_digest": "d2"},
        serving_desired(endpoint=live_endpoint(variants=(LiveVariant("AllTraffic", 1, 1, 1, 1),))),
        [],
    ),
    Case(
        "a tag edit carries the new record on the endpoint change",
        {"tags": {"team": "data", **ownership_tags("iris")}, "spec_digest": "d2"},
        serving_desired(),
        [
            (M, "iris-aaaaaaaaaa", UPDATE, ("tags changed",)),
            (C, "iris-cccccccccc", UPDATE, ("tags changed",)),
            (E, "iris", UPDATE, ("tags changed",)),
        ],
        after={
            2: {
                f"tags.{TAG_DIGEST}": "d2",
                f"tags.{TAG_APPLIED}": desired(
                    tags={"team": "data", **ownership_tags("iris")}
                ).applied.value,
            }
        },
    ),
    Case(
        "autoscaling removed from the spec is deregistered",
        {"config": RT},
        serving_desired(endpoint_tags=owned_tags(D, pruned="iris-cccccccccc"), scalings=(SCALING,)),
        [(Kind.SCALING, SCALING_ID, DELETE, ("autoscaling removed from the spec",))],
    ),
    Case(
        "an instance type change deregisters scaling first",
        {
            "config": realtime("iris-cccccccccc"),
            "scalings": (SCALING,),
            "deployment": Deployment("all_at_once", timeout_seconds=1800),
        },
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb"),
            endpoint_tags=owned_tags(D, pruned="iris-bbbbbbbbbb"),
            current_config=realtime("iris-bbbbbbbbbb", "ml.m5.large"),
            current_models=(D.models[0],),
            existing_models=frozenset({D.models[0].name}),
            scalings=(SCALING,),
            owned=(),
        ),
        [
            (
                C,
                "iris-cccccccccc",
                CREATE,
                ("variants.AllTraffic.instance_type: ml.m5.large → ml.m5.xlarge",),
            ),
            (
                Kind.SCALING,
                SCALING_ID,
                DELETE,
                (
                    "SageMaker refuses an instance type change while autoscaling is attached; it "
                    "is registered again after the update (or restored if the update fails)",
                ),
            ),
            (
                E,
                "iris",
                UPDATE,
                (
                    "new endpoint config: variants.AllTraffic.instance_type: ml.m5.large → "
                    "ml.m5.xlarge",
                ),
            ),
            (
                Kind.SCALING,
                SCALING_ID,
                CREATE,
                ("autoscaling registered once the endpoint is InService",),
            ),
        ],
        after={2: {"retain_instance_count": False, "deployment.strategy": "all_at_once"}},
    ),
    Case(
        "a config change under autoscaling keeps the autoscaled count",
        {"config": with_volume(realtime("iris-cccccccccc"), 30), "scalings": (SCALING,)},
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb", variants=THREE),
            endpoint_tags=owned_tags(D, pruned="iris-bbbbbbbbbb"),
            current_config=realtime("iris-bbbbbbbbbb"),
            current_models=(D.models[0],),
            existing_models=frozenset({D.models[0].name}),
            scalings=(SCALING,),
            owned=(),
        ),
        [
            (C, "iris-cccccccccc", CREATE, ("variants.AllTraffic.volume_size_gb: null → 30",)),
            (
                E,
                "iris",
                UPDATE,
                ("new endpoint config: variants.AllTraffic.volume_size_gb: null → 30",),
            ),
        ],
        after={1: {"retain_instance_count": True}},
    ),
    Case(
        "an initial count change under autoscaling is the autoscaler's: only recorded",
        {"config": realtime("iris-cccccccccc", count=2), "scalings": (SCALING,)},
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb", variants=THREE),
            endpoint_tags=owned_tags(D, pruned="iris-bbbbbbbbbb"),
            current_config=realtime("iris-bbbbbbbbbb"),
            current_models=(D.models[0],),
            existing_models=frozenset({D.models[0].name}),
            scalings=(SCALING,),
            owned=(),
        ),
        [
            (
                E,
                "iris",
                UPDATE,
                (
                    "the variants' weights and instance counts are already the spec's: "
                    "recorded, with no new endpoint config",
                ),
            ),
        ],
        after={0: {f"tags.{TAG_SERVES_FOR}": "iris-bbbbbbbbbb iris-cccccccccc"}},
        target="iris-bbbbbbbbbb",
    ),
    *TWO_VARIANT_CASES,
    Case(
        "a changed secret is a new model, its reason masked",
        {},
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb"),
            endpoint_tags=owned_tags(D),
            current_models=(
                replace(D.models[0], name="iris-0000000000", environment={"API_KEY": "old-secret"}),
            ),
            artifacts={ARCHIVE: "present"},
            owned=(),
        ),
        [
            (
                M,
                "iris-aaaaaaaaaa",
                CREATE,
                (
                    "environment.API_KEY: (sensitive) changed",
                    "environment.SAGEMAKER_PROGRAM: null → inference.py",
                ),
            ),
            (C, "iris-cccccccccc", CREATE, ("no endpoint config with this content exists yet",)),
            (
                E,
                "iris",
                UPDATE,
                ("new endpoint config: no endpoint config with this content exists yet",),
            ),
        ],
    ),
    Case(
        "an endpoint made by hand is adopted with --adopt",
        {},
        serving_desired(endpoint_tags={"team": "ml"}),
        [(E, "iris", UPDATE, ("tags changed",))],
        after={0: {f"tags.{TAG_MANAGED_BY}": "deployspec", f"tags.{TAG_SPEC}": "iris"}},
        notes=("endpoint iris will be adopted: ownership tags are added",),
        adopt=True,
    ),
]


def _shape(plan: Plan) -> list[tuple[Kind, str, Action, tuple[str, ...]]]:
    return [(c.kind, c.name, c.action, c.reasons) for c in plan.changes]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_plan(case: Case) -> None:
    plan = make_plan(desired(**case.tweaks), case.actual, adopt=case.adopt)

    assert _shape(plan) == case.expected
    for index, wanted in case.after.items():
        after = flatten(plan.changes[index].after or {})
        assert {key: after.get(key) for key in wanted} == wanted, plan.changes[index].address
    for index, (before, after_exact) in case.exact.items():
        assert (plan.changes[index].before, plan.changes[index].after) == (before, after_exact)
    assert {i: c.forces for i, c in enumerate(plan.changes) if c.forces} == case.forces
    if case.counts is not None:
        assert plan.counts() == case.counts
    assert len(plan.notes) == len(case.notes), plan.notes
    for note, fragment in zip(plan.notes, case.notes, strict=True):
        assert fragment in note
    if case.endpoint_status is not None:
        assert plan.endpoint_status == case.endpoint_status
    assert plan.adopt is case.adopt
    assert plan.target_config == (case.target or desired(**case.tweaks).config.name)


def test_every_row_has_a_distinct_name() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@dataclass(frozen=True)
class Refusal:
    name: str
    actual: Actual
    error: type[DeployspecError]
    fragment: str  # of the message or the hint
    adopt: bool = False

    def __str__(self) -> str:
        return self.name


REFUSED = [
    Refusal(
        "an endpoint made by hand, without --adopt",
        serving_desired(endpoint_tags={"team": "ml"}),
        NotManagedError,
        "--adopt",
    ),
    Refusal(
        "another spec's endpoint, even with --adopt",
        serving_desired(endpoint_tags={**ownership_tags("other"), "team": "ml"}),
        NotManagedError,
        "managed by deployspec for spec 'other'",
        adopt=True,
    ),
    Refusal(
        "UpdateRollbackFailed on the desired config",
        serving_desired(
            endpoint=live_endpoint(status="UpdateRollbackFailed", failure_reason="alarm")
        ),
        PlanError,
        "could not roll back its last update (alarm)",
    ),
]


@pytest.mark.parametrize("refusal", REFUSED, ids=str)
def test_refused(refusal: Refusal) -> None:
    with pytest.raises(refusal.error) as raised:
        make_plan(desired(), refusal.actual, adopt=refusal.adopt)
    assert refusal.fragment in f"{raised.value} {raised.value.hint}"


def test_plan_json_round_trip() -> None:
    for case in CASES:
        plan = make_plan(desired(**case.tweaks), case.actual, adopt=case.adopt)
        assert Plan.from_json(plan.to_json()) == plan, case.name


def test_an_uploaded_archive_is_addressed_by_its_digest_and_named_by_its_uri() -> None:
    plan = make_plan(
        desired(), Actual(artifacts={ARCHIVE: "missing"}, bucket_exists=True, owned=())
    )
    [upload] = [c for c in plan.changes if c.kind is Kind.ARTIFACT]
    assert upload.address == f"artifact.{SHA[:12]}"
    assert upload.name == ARCHIVE  # what apply and its guard use
    assert upload.to_json()["address"] == f"artifact.{SHA[:12]}"


def test_rollback_prefers_the_recorded_previous_config_and_handles_scaling() -> None:
    from deployspec.planner import make_rollback_plan, rollback_target
    from deployspec.state import Owned

    configs = (
        OwnedResource("endpoint_config", "iris-v1", "2026-01-01T00:00:00+00:00"),
        OwnedResource("endpoint_config", "iris-v2", "2026-01-02T00:00:00+00:00"),
        OwnedResource("endpoint_config", "iris-v3", "2026-01-03T00:00:00+00:00"),
    )
    tags = {**ownership_tags("iris"), TAG_PREVIOUS: "iris-v1"}
    owned = Owned(live_endpoint("iris-v3"), tags, (SCALING,), configs, {})
    # v2's update was rolled back by SageMaker: v1 is what served before v3, not v2.
    assert rollback_target("iris", owned) == "iris-v1"
    untagged = replace(owned, endpoint_tags=ownership_tags("iris"))
    assert rollback_target("iris", untagged) == "iris-v2"

    def config(name: str, kind: str) -> EndpointConfig:
        return EndpointConfig(name, (Variant("m", instance_type=kind, initial_instance_count=1),))

    same = make_rollback_plan(
        "iris",
        "us-east-1",
        "1",
        owned,
        config("iris-v3", "ml.m5.large"),
        config("iris-v1", "ml.m5.large"),
    )
    [update] = same.changes
    assert update.after is not None and update.after["retain_instance_count"] is True
    assert same.target_config == "iris-v1"
    other = make_rollback_plan(
        "iris",
        "us-east-1",
        "1",
        owned,
        config("iris-v3", "ml.m5.xlarge"),
        config("iris-v1", "ml.m5.large"),
    )
    assert [(c.action.value, c.address) for c in other.changes] == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
        ("create", "scaling.endpoint/iris/variant/AllTraffic"),
    ]


CANARY = Deployment("canary", 10, 300, rollback_alarms=("p99-latency",), timeout_seconds=3600)


@pytest.mark.parametrize(
    ("live", "current", "shifted"),
    [
        # AllTraffic -> current + challenger: SageMaker refuses a canary between other names.
        (THREE, realtime("iris-bbbbbbbbbb"), False),
        # The same two variants on another config: the canary runs as the spec says.
        (two_live(), two("iris-1111111111", model_b="iris-aaaaaaaaaa"), True),
    ],
    ids=["variants renamed", "same variants"],
)
def test_a_rollout_between_differently_named_variants_switches_all_at_once(
    live: tuple[LiveVariant, ...], current: EndpointConfig, shifted: bool
) -> None:
    wanted = desired(**TWO, deployment=CANARY)
    actual = Actual(
        endpoint=live_endpoint(current.name, variants=live),
        endpoint_tags=owned_tags(wanted, pruned=f"{current.name}@keep=2"),
        current_config=current,
        current_models=(D.models[0],),
        existing_models=frozenset({D.models[0].name, MODEL_B.name}),
        owned=(),
    )

    plan = make_plan(wanted, actual)

    update = next(c for c in plan.changes if c.kind is E)
    assert flatten(update.after or {}).get("deployment.strategy") == ("canary" if shifted else None)
    fallback = [r for r in update.reasons if "shifts traffic only between variants" in r]
    if shifted:
        assert fallback == []
    else:
        assert fallback == [
            "variants change (AllTraffic -> challenger, current): SageMaker shifts traffic only "
            "between variants of the same name, so this update switches all at once instead of "
            "canary; its rollback alarms (p99-latency) are not watched; later updates use "
            "canary again"
        ]
