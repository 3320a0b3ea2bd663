"""The planner is pure: tables of (desired, actual) → expected changes, no AWS at all."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deployspec.desired import Desired
from deployspec.errors import NotManagedError
from deployspec.plan import Action, Kind, Plan
from deployspec.planner import make_plan
from deployspec.render import render_json, render_markdown, render_text
from deployspec.resources import (
    TAG_DIGEST,
    TAG_MODEL,
    TAG_PREVIOUS,
    TAG_PRUNED,
    Artifact,
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


def desired(**overrides: object) -> Desired:
    model = Model(
        name="iris-aaaaaaaaaa",
        image=IMAGE,
        model_data_url="s3://bucket/deployspec/abc/model.tar.gz",
        environment={"SAGEMAKER_PROGRAM": "inference.py", "API_KEY": "hunter2"},
        execution_role_arn=ROLE,
    )
    config = EndpointConfig(
        name="iris-cccccccccc",
        variant=Variant(model_name=model.name, serverless=ServerlessConfig(2048, 5)),
    )
    base = Desired(
        spec_name="iris",
        region="us-east-1",
        account="123456789012",
        bucket="bucket",
        artifact=Artifact("abc", 10, "/tmp/abc.tar.gz", "s3://bucket/deployspec/abc/model.tar.gz"),
        model=model,
        config=config,
        endpoint_name="iris",
        tags={"team": "ml", **ownership_tags("iris")},
        spec_digest="d1",
        scaling=None,
        deployment=None,
        keep=2,
        timeout_seconds=1800,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def live_endpoint(
    config: str = "iris-cccccccccc", status: str = "InService", **kw: object
) -> Endpoint:
    return Endpoint(name="iris", config_name=config, status=status, arn="arn:ep", **kw)  # type: ignore[arg-type]


def owned_tags(d: Desired, pruned: str | None = None) -> dict[str, str]:
    tags = {**d.endpoint_tags}
    if pruned:
        tags[TAG_PRUNED] = pruned
    return tags


def summary(plan: Plan) -> list[tuple[str, str]]:
    return [(c.action.value, c.address) for c in plan.changes]


def test_empty_account_creates_everything() -> None:
    d = desired()
    plan = make_plan(d, Actual(artifact_exists=False, bucket_exists=False, owned=()))
    assert summary(plan) == [
        ("create", "bucket.bucket"),
        ("create", "artifact.s3://bucket/deployspec/abc/model.tar.gz"),
        ("create", "model.iris-aaaaaaaaaa"),
        ("create", "endpoint_config.iris-cccccccccc"),
        ("create", "endpoint.iris"),
    ]
    assert plan.counts() == (5, 0, 0)
    endpoint_tags = (plan.changes[4].after or {})["tags"]
    assert endpoint_tags[TAG_PRUNED] == "iris-cccccccccc@keep=2"
    assert plan.target_config == "iris-cccccccccc"
    config_change = plan.changes[3]
    assert config_change.after is not None
    assert config_change.after["tags"][TAG_MODEL] == "iris-aaaaaaaaaa"


def test_matching_state_plans_nothing() -> None:
    d = desired()
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
    )
    plan = make_plan(d, actual)
    assert plan.changes == ()
    assert render_text(plan) == "No changes. Endpoint iris matches the spec.\n"


def test_changed_config_updates_endpoint_in_place() -> None:
    d = desired()
    old_config = EndpointConfig(
        name="iris-bbbbbbbbbb",
        variant=Variant(model_name="iris-aaaaaaaaaa", serverless=ServerlessConfig(1024, 5)),
    )
    actual = Actual(
        endpoint=live_endpoint("iris-bbbbbbbbbb"),
        endpoint_tags=owned_tags(d, pruned="iris-bbbbbbbbbb"),
        current_config=old_config,
        current_model=d.model,
        desired_model_exists=True,
        owned=(
            OwnedResource("endpoint_config", "iris-bbbbbbbbbb", "2026-01-02", "iris-aaaaaaaaaa"),
            OwnedResource("model", "iris-aaaaaaaaaa", "2026-01-01"),
        ),
    )
    plan = make_plan(d, actual)
    assert summary(plan) == [
        ("create", "endpoint_config.iris-cccccccccc"),
        ("update", "endpoint.iris"),
    ]
    assert "variant.serverless.memory_mb: 1024 → 2048" in plan.changes[0].reasons
    update = plan.changes[1]
    assert update.before is not None and update.after is not None
    assert update.before["config_name"] == "iris-bbbbbbbbbb"
    assert update.after["config_name"] == "iris-cccccccccc"
    # The endpoint remembers what it served before (for rollback) and that pruning is done.
    assert update.after["tags"][TAG_PREVIOUS] == "iris-bbbbbbbbbb"
    assert update.after["tags"][TAG_PRUNED] == "iris-cccccccccc@keep=2"
    assert render_text(plan) == GOLDEN_UPDATE


def test_failed_endpoint_is_replaced() -> None:
    d = desired()
    actual = Actual(
        endpoint=live_endpoint(status="Failed", failure_reason="image not found"),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
    )
    plan = make_plan(d, actual)
    [change] = plan.changes
    assert change.action is Action.REPLACE and change.forces == ("status",)
    assert "endpoint is Failed: image not found" in change.reasons
    assert render_text(plan) == GOLDEN_REPLACE
    assert plan.counts() == (1, 0, 1)


def test_endpoint_not_owned_is_refused_unless_adopted() -> None:
    d = desired()
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags={"team": "ml"},
        desired_config_exists=True,
        desired_model_exists=True,
    )
    with pytest.raises(NotManagedError) as caught:
        make_plan(d, actual)
    assert "--adopt" in (caught.value.hint or "")
    plan = make_plan(d, actual, adopt=True)
    assert plan.notes and "adopted" in plan.notes[0]
    assert [c.kind for c in plan.changes] == [Kind.ENDPOINT]


def test_in_progress_endpoint_is_noted() -> None:
    d = desired()
    actual = Actual(
        endpoint=live_endpoint(status="Updating"),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
    )
    plan = make_plan(d, actual)
    assert plan.endpoint_status == "Updating"
    assert "apply waits for it to finish" in plan.notes[0]


def test_tag_only_change_updates_in_place() -> None:
    d = desired(tags={"team": "vision", **ownership_tags("iris")})
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags={**desired().endpoint_tags, TAG_PRUNED: "iris-cccccccccc"},
        desired_config_exists=True,
        desired_model_exists=True,
    )
    plan = make_plan(d, actual)
    assert summary(plan) == [
        ("update", "model.iris-aaaaaaaaaa"),
        ("update", "endpoint_config.iris-cccccccccc"),
        ("update", "endpoint.iris"),
    ]
    assert plan.counts() == (0, 3, 0)


def test_prune_keeps_current_and_previous() -> None:
    d = desired(keep=1)
    owned = (
        OwnedResource("endpoint_config", "iris-cccccccccc", "2026-01-05", "iris-aaaaaaaaaa"),
        OwnedResource("endpoint_config", "iris-1111111111", "2026-01-04", "iris-m111111111"),
        OwnedResource("endpoint_config", "iris-2222222222", "2026-01-03", "iris-m222222222"),
        OwnedResource("endpoint_config", "iris-3333333333", "2026-01-02", "iris-m333333333"),
        OwnedResource("model", "iris-aaaaaaaaaa", "2026-01-05"),
        OwnedResource("model", "iris-m111111111", "2026-01-04"),
        OwnedResource("model", "iris-m222222222", "2026-01-03"),
        OwnedResource("model", "iris-m333333333", "2026-01-02"),
        OwnedResource("model", "iris-orphan0000", "2026-01-01"),
    )
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags=owned_tags(d),
        desired_config_exists=True,
        desired_model_exists=True,
        owned=owned,
    )
    plan = make_plan(d, actual)
    assert summary(plan) == [
        ("delete", "endpoint_config.iris-2222222222"),
        ("delete", "endpoint_config.iris-3333333333"),
        ("delete", "model.iris-m222222222"),
        ("delete", "model.iris-m333333333"),
        ("delete", "model.iris-orphan0000"),
        ("update", "prune_mark.iris"),
    ]


def test_autoscaled_count_is_not_drift_but_manual_change_is() -> None:
    scaling = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")
    rt_config = EndpointConfig(
        name="iris-cccccccccc",
        variant=Variant(
            model_name="iris-aaaaaaaaaa", instance_type="ml.m5.xlarge", initial_instance_count=1
        ),
    )
    variants = (LiveVariant("AllTraffic", 1.0, 1.0, 3, 3),)
    base = Actual(
        endpoint=live_endpoint(variants=variants),
        desired_config_exists=True,
        desired_model_exists=True,
        scaling=scaling,
    )
    d = desired(config=rt_config, scaling=scaling)
    actual = replace(base, endpoint_tags=owned_tags(d, pruned="iris-cccccccccc"))
    assert make_plan(d, actual).changes == ()
    manual = desired(config=rt_config)  # no autoscaling: 3 instances is drift from 1
    actual = replace(base, scaling=None, endpoint_tags=owned_tags(manual, pruned="iris-cccccccccc"))
    [change] = make_plan(manual, actual).changes
    assert change.before == {"config_name": "iris-cccccccccc", "instance_count": 3}
    assert change.after == {"config_name": "iris-cccccccccc", "instance_count": 1}
    assert "instance count changed outside deployspec (1 → 3)" in change.reasons


def test_edited_scaling_policy_is_drift() -> None:
    wanted = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")
    edited = replace(wanted, target_value=500.0)
    d = desired(scaling=wanted)
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
        scaling=edited,
    )
    [change] = make_plan(d, actual).changes
    assert change.kind is Kind.SCALING and change.action is Action.UPDATE
    assert change.reasons == ("changed outside deployspec", "target_value: 500.0 → 100.0")


def test_instance_type_change_deregisters_scaling_first() -> None:
    scaling = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")
    old = EndpointConfig(
        "iris-bbbbbbbbbb",
        Variant("iris-aaaaaaaaaa", instance_type="ml.m5.large", initial_instance_count=1),
    )
    new = EndpointConfig(
        "iris-cccccccccc",
        Variant("iris-aaaaaaaaaa", instance_type="ml.m5.xlarge", initial_instance_count=1),
    )
    d = desired(
        config=new, scaling=scaling, deployment=Deployment("all_at_once", timeout_seconds=1800)
    )
    actual = Actual(
        endpoint=live_endpoint("iris-bbbbbbbbbb"),
        endpoint_tags=owned_tags(d, pruned="iris-bbbbbbbbbb"),
        current_config=old,
        current_model=d.model,
        desired_model_exists=True,
        scaling=scaling,
        owned=(),
    )
    plan = make_plan(d, actual)
    assert summary(plan) == [
        ("create", "endpoint_config.iris-cccccccccc"),
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
        ("create", "scaling.endpoint/iris/variant/AllTraffic"),
    ]
    assert plan.changes[2].after is not None
    assert plan.changes[2].after["retain_instance_count"] is False


def test_secrets_never_rendered() -> None:
    plan = make_plan(desired(), Actual(artifact_exists=True, owned=()))
    for output in (render_text(plan), render_json(plan), render_markdown(plan)):
        assert "hunter2" not in output
        assert "(sensitive)" in output


def test_changed_secret_reason_is_masked() -> None:
    d = desired()
    old_model = replace(d.model, name="iris-0000000000", environment={"API_KEY": "old-secret"})
    actual = Actual(
        endpoint=live_endpoint("iris-bbbbbbbbbb"),
        endpoint_tags=owned_tags(d),
        current_model=old_model,
        artifact_exists=True,
        owned=(),
    )
    plan = make_plan(d, actual)
    text = render_text(plan) + render_json(plan) + render_markdown(plan)
    assert "old-secret" not in text and "hunter2" not in text
    assert "environment.API_KEY: (sensitive) changed" in text


def test_plan_json_round_trip() -> None:
    plan = make_plan(desired(), Actual(artifact_exists=False, bucket_exists=True, owned=()))
    assert Plan.from_json(plan.to_json()) == plan


def test_digest_tag_on_endpoint_only() -> None:
    plan = make_plan(desired(), Actual(artifact_exists=True, owned=()))
    after = {c.kind: c.after or {} for c in plan.changes}
    assert TAG_DIGEST in after[Kind.ENDPOINT]["tags"]
    assert TAG_DIGEST not in after[Kind.MODEL]["tags"]


GOLDEN_REPLACE = """\
deployspec will perform the following actions on endpoint iris (us-east-1):

  # endpoint.iris must be replaced
  # (endpoint is Failed: image not found)
-/+ endpoint "iris" {
      - failure_reason = "image not found"
      + name           = "iris"
      ~ status         = "Failed" -> "InService"  # forces replacement
    }

Plan: 1 to add, 0 to change, 1 to destroy.
"""

GOLDEN_UPDATE = """\
deployspec will perform the following actions on endpoint iris (us-east-1):

  # endpoint_config.iris-cccccccccc will be created
  # (variant.serverless.memory_mb: 1024 → 2048)
  + endpoint_config "iris-cccccccccc" {
      + name                               = "iris-cccccccccc"
      + tags.team                          = "ml"
      + variant.initial_weight             = 1.0
      + variant.model_name                 = "iris-aaaaaaaaaa"
      + variant.serverless.max_concurrency = 5
      + variant.serverless.memory_mb       = 2048
      + variant.variant_name               = "AllTraffic"
    }

  # endpoint.iris will be updated in-place
  # (new endpoint config: variant.serverless.memory_mb: 1024 → 2048)
  ~ endpoint "iris" {
      ~ config_name = "iris-bbbbbbbbbb" -> "iris-cccccccccc"
    }

Plan: 1 to add, 1 to change, 0 to destroy.
"""


def test_endpoint_still_creating_gets_a_wait_and_verify_change() -> None:
    d = desired()
    actual = Actual(
        endpoint=live_endpoint(status="Creating"),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
    )
    [change] = make_plan(d, actual).changes
    assert change.kind is Kind.ENDPOINT and change.action is Action.UPDATE
    assert change.before == {"status": "Creating", "config_name": "iris-cccccccccc"}
    assert change.after == {"status": "InService", "config_name": "iris-cccccccccc"}


def test_update_rollback_failed_is_not_replaced() -> None:
    from deployspec.errors import PlanError

    d = desired()
    stuck = Actual(
        endpoint=live_endpoint(status="UpdateRollbackFailed", failure_reason="alarm"),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
    )
    with pytest.raises(PlanError):
        make_plan(d, stuck)
    moved = replace(stuck, endpoint=live_endpoint("iris-bbbbbbbbbb", status="UpdateRollbackFailed"))
    [change] = make_plan(d, moved).changes
    assert change.action is Action.UPDATE  # an update to a new config, never a replacement


def test_aws_tags_and_bookkeeping_are_not_drift() -> None:
    d = desired()
    tags = {
        **owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        TAG_PREVIOUS: "iris-0000000000",
        "aws:cloudformation:stack-name": "legacy",
    }
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags=tags,
        desired_config_exists=True,
        desired_model_exists=True,
    )
    assert make_plan(d, actual).changes == ()


def test_lowered_keep_is_a_stale_prune_mark() -> None:
    d = desired(keep=1)
    actual = Actual(
        endpoint=live_endpoint(),
        endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
        desired_config_exists=True,
        desired_model_exists=True,
        owned=(),
    )
    [change] = make_plan(d, actual).changes
    assert change.kind is Kind.PRUNE_MARK
    assert change.after == {"tags": {TAG_PRUNED: "iris-cccccccccc@keep=1"}}


def test_rollback_prefers_the_recorded_previous_config_and_handles_scaling() -> None:
    from deployspec.planner import make_rollback_plan, rollback_target
    from deployspec.state import Owned

    scaling = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")
    configs = (
        OwnedResource("endpoint_config", "iris-v1", "2026-01-01T00:00:00+00:00"),
        OwnedResource("endpoint_config", "iris-v2", "2026-01-02T00:00:00+00:00"),
        OwnedResource("endpoint_config", "iris-v3", "2026-01-03T00:00:00+00:00"),
    )
    tags = {**ownership_tags("iris"), TAG_PREVIOUS: "iris-v1"}
    owned = Owned(live_endpoint("iris-v3"), tags, (scaling,), configs, {})
    # v2's update was rolled back by SageMaker: v1 is what served before v3, not v2.
    assert rollback_target("iris", owned) == "iris-v1"
    untagged = replace(owned, endpoint_tags=ownership_tags("iris"))
    assert rollback_target("iris", untagged) == "iris-v2"

    def config(name: str, kind: str) -> EndpointConfig:
        return EndpointConfig(name, Variant("m", instance_type=kind, initial_instance_count=1))

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
    assert summary(other) == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
        ("create", "scaling.endpoint/iris/variant/AllTraffic"),
    ]
