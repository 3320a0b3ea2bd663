"""Lifecycle defects: scaling across rollback and destroy, replacement bookkeeping, deletions
that never end, incomplete uploads, and scaling restored however an update fails.

Planner and applier units run on plain data and a fake gateway with a fake clock; the rest is
the CLI end to end against the sandbox, with test_e2e's fixtures.
"""

# The fixtures imported from test_e2e are named again by the tests that use them.
# ruff: noqa: F811

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.stub import Stubber

from deployspec.applier import Applier, Event
from deployspec.errors import ApplyError, AwsError, DeployspecError
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.planner import make_destroy_plan, make_plan, make_rollback_plan
from deployspec.resources import (
    INVOCATIONS,
    TAG_PREVIOUS,
    TAG_PRUNED,
    Endpoint,
    EndpointConfig,
    LiveVariant,
    OwnedResource,
    Scaling,
    ServerlessConfig,
    Variant,
    ownership_tags,
    to_json,
)
from deployspec.state import Actual, Owned, read_owned
from tests.conftest import catches_signal, start_cli
from tests.test_applier import Clock, plan_of
from tests.test_e2e import (  # noqa: F401 - pytest finds the fixtures by name
    _realtime,
    cli,
    iris,
    iris_model,
    sandbox,
    sm,
)
from tests.test_planner import desired, live_endpoint

if TYPE_CHECKING:
    from deployspec.aws import Gateway

SCALING = Scaling("endpoint/iris/variant/AllTraffic", 1, 3, 50.0, 300, 60, "deployspec-invocations")
REALTIME = LiveVariant("AllTraffic", 1.0, 1.0, 2, 2)
SERVERLESS = LiveVariant("AllTraffic", 1.0, 1.0, None, None)


def realtime_config(name: str, instance_type: str = "ml.m5.large") -> EndpointConfig:
    return EndpointConfig(
        name, (Variant("m", instance_type=instance_type, initial_instance_count=1),)
    )


def serverless_config(name: str) -> EndpointConfig:
    return EndpointConfig(name, (Variant("m", serverless=ServerlessConfig(2048, 5)),))


def owned(
    config: str, variant: LiveVariant, scaling: tuple[Scaling, ...], previous: str | None = None
) -> Owned:
    tags = {**ownership_tags("iris"), **({TAG_PREVIOUS: previous} if previous else {})}
    configs = tuple(
        OwnedResource("endpoint_config", name, f"2026-01-0{day}T00:00:00+00:00")
        for day, name in enumerate(("iris-a", "iris-b"), start=1)
    )
    endpoint = live_endpoint(config, variants=(variant,))
    return Owned(endpoint, tags, scaling, configs, {})


def summary(plan: Plan) -> list[tuple[str, str]]:
    return [(c.action.value, c.address) for c in plan.changes]


# --- 14: scaling follows the config that serves -------------------------------------------


def test_rollback_to_a_serverless_config_takes_scaling_off_for_good() -> None:
    plan = make_rollback_plan(
        "iris",
        "us-east-1",
        "123456789012",
        owned("iris-a", REALTIME, (SCALING,), previous="iris-b"),
        realtime_config("iris-a"),
        serverless_config("iris-b"),
    )

    assert summary(plan) == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
    ]
    assert "serverless" in plan.changes[0].reasons[0]
    update = plan.changes[1].after
    assert update is not None and update["retain_instance_count"] is False


def test_rollback_to_a_realtime_config_registers_scaling_only_if_it_was_attached() -> None:
    bare = make_rollback_plan(
        "iris",
        "us-east-1",
        "123456789012",
        owned("iris-b", SERVERLESS, ()),
        serverless_config("iris-b"),
        realtime_config("iris-a"),
    )
    assert summary(bare) == [("update", "endpoint.iris")]

    # A target left on the serverless variant (by an older deployspec) moves to the real-time
    # fleet as it was: taken off around the type change, registered again after it.
    attached = make_rollback_plan(
        "iris",
        "us-east-1",
        "123456789012",
        owned("iris-b", SERVERLESS, (SCALING,)),
        serverless_config("iris-b"),
        realtime_config("iris-a"),
    )
    assert summary(attached) == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
        ("create", "scaling.endpoint/iris/variant/AllTraffic"),
    ]


def test_rollback_between_serverless_configs_removes_a_stray_target() -> None:
    plan = make_rollback_plan(
        "iris",
        "us-east-1",
        "123456789012",
        owned("iris-b", SERVERLESS, (SCALING,)),
        serverless_config("iris-b"),
        serverless_config("iris-a"),
    )
    assert summary(plan) == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("update", "endpoint.iris"),
    ]


def test_destroy_removes_the_scaling_of_every_variant() -> None:
    other = replace(SCALING, resource_id="endpoint/iris/variant/Canary")
    plan = make_destroy_plan(
        "iris", "us-east-1", "123456789012", owned("iris-b", SERVERLESS, (SCALING, other))
    )
    assert summary(plan)[:3] == [
        ("delete", "scaling.endpoint/iris/variant/AllTraffic"),
        ("delete", "scaling.endpoint/iris/variant/Canary"),
        ("delete", "endpoint.iris"),
    ]


class _ReadGateway:
    """The read verbs read_owned uses, over one endpoint and its scalable targets."""

    def __init__(self, endpoint: Endpoint | None, scaling: dict[str, Scaling]) -> None:
        self.endpoint = endpoint
        self.scaling = scaling
        self.described: list[list[str]] = []  # the resource ids of each call

    def describe_endpoint(self, name: str) -> Endpoint | None:
        return self.endpoint

    def list_tags(self, arn: str) -> dict[str, str]:
        return ownership_tags("iris")

    def describe_scalings(self, resource_ids: list[str]) -> list[Scaling]:
        self.described.append(list(resource_ids))
        return [self.scaling[i] for i in resource_ids if i in self.scaling]

    def list_endpoint_configs(self, text: str) -> list[tuple[str, str, str]]:
        return []

    def list_models(self, text: str) -> list[tuple[str, str, str]]:
        return []


def test_read_owned_finds_scaling_on_every_variant_serverless_or_not() -> None:
    canary = LiveVariant("Canary", 0.1, 0.1, 1, 1)
    endpoint = live_endpoint("iris-b", variants=(SERVERLESS, canary))
    other = replace(SCALING, resource_id="endpoint/iris/variant/Canary")
    gateway = _ReadGateway(endpoint, {SCALING.resource_id: SCALING, other.resource_id: other})

    found = read_owned(cast("Gateway", gateway), "iris")

    assert found.scaling == (SCALING, other)
    # One read for every variant's target, the variant deployspec names among them once.
    assert gateway.described == [[SCALING.resource_id, other.resource_id]]


def test_read_owned_reads_no_scaling_without_an_endpoint() -> None:
    gateway = _ReadGateway(None, {SCALING.resource_id: SCALING})
    assert read_owned(cast("Gateway", gateway), "iris").scaling == ()
    assert gateway.described == []


# --- 15: a replaced endpoint keeps apply's bookkeeping --------------------------------------


def test_replacing_a_failed_endpoint_keeps_the_bookkeeping_tags() -> None:
    d = desired()
    mark = f"{d.config.name}@keep=2"
    tags = {**d.endpoint_tags, TAG_PRUNED: mark, TAG_PREVIOUS: "iris-0000000000"}
    actual = Actual(
        endpoint=live_endpoint(status="Failed", failure_reason="CannotStartContainerError"),
        endpoint_tags=tags,
        desired_config_exists=True,
        existing_models=frozenset({d.models[0].name}),
        owned=None,  # state skipped listing: the endpoint was pruned for its config
    )

    [change] = make_plan(d, actual).changes

    assert (change.kind, change.action) == (Kind.ENDPOINT, Action.REPLACE)
    assert change.after is not None
    assert change.after["tags"][TAG_PRUNED] == mark
    assert change.after["tags"][TAG_PREVIOUS] == "iris-0000000000"


# --- applier units: a fake gateway on a fake clock ---------------------------------------


@dataclass
class FakeGateway:
    """The Gateway verbs the applier uses, over one endpoint held in memory."""

    endpoint: Endpoint | None
    # What DescribeEndpoint shows poll by poll once DeleteEndpoint was called (the last repeats).
    after_delete: list[Endpoint | None] = field(default_factory=list)
    update_error: DeployspecError | None = None
    put_error: DeployspecError | None = None
    abort_error: DeployspecError | None = None
    scaling: dict[str, Scaling] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    deleted: bool = False

    def describe_endpoint(self, name: str) -> Endpoint | None:
        if self.deleted and self.after_delete:
            return self.after_delete.pop(0) if len(self.after_delete) > 1 else self.after_delete[0]
        return self.endpoint

    def list_tags(self, arn: str) -> dict[str, str]:
        return ownership_tags("iris")

    def describe_endpoint_config(self, name: str) -> EndpointConfig:
        """Every config the plans here name is one of the spec's (the guard asks)."""
        return EndpointConfig(name, (Variant(model_name="iris-m"),), arn=f"arn:config/{name}")

    def delete_endpoint(self, name: str) -> bool:
        self.log.append("DeleteEndpoint")
        self.deleted = True
        return True

    def update_endpoint(self, name: str, config_name: str, deployment: object, **_: Any) -> None:
        self.log.append("UpdateEndpoint")
        if self.update_error is not None:
            raise self.update_error
        assert self.endpoint is not None
        self.endpoint = replace(self.endpoint, status="Updating")

    def put_scaling(self, scaling: Scaling) -> None:
        self.log.append("RegisterScalableTarget")
        if self.put_error is not None:
            raise self.put_error
        self.scaling[scaling.resource_id] = scaling

    def delete_scaling(self, resource_id: str, metric: str = INVOCATIONS) -> bool:
        self.log.append("DeregisterScalableTarget")
        return self.scaling.pop(resource_id, None) is not None

    def abort_incomplete_uploads(self, s3_uri: str) -> int:
        self.log.append("ListMultipartUploads")
        if self.abort_error is not None:
            raise self.abort_error
        return 2

    def upload_file(self, path: Path, s3_uri: str, progress: Any = None) -> None:
        self.log.append("PutObject")


def applier(gateway: FakeGateway, clock: Clock | None = None, **kwargs: Any) -> Applier:
    clock = clock or Clock()
    options: dict[str, Any] = {"sleep": clock.sleep, "clock": clock.time, **kwargs}
    return Applier(cast("Gateway", gateway), **options)


def serving(config: str = "iris-a", status: str = "InService", **kw: Any) -> Endpoint:
    return live_endpoint(config, status, **{"variants": (REALTIME,), "last_modified": "t0", **kw})


DESTROY = Change(Kind.ENDPOINT, "iris", Action.DELETE, {"config_name": "iris-a"}, None)


# --- 16: a deletion overtaken by a new endpoint stops at once --------------------------------


def test_destroy_stops_when_the_endpoint_is_created_again_meanwhile() -> None:
    clock = Clock()
    deleting = serving(status="Deleting", last_modified="t1")
    again = serving("iris-z", status="Creating", last_modified="t2")
    gateway = FakeGateway(serving(), after_delete=[deleting, deleting, again])

    with pytest.raises(ApplyError) as raised:
        applier(gateway, clock).apply(plan_of(DESTROY, target=None))

    assert "was created again (it is Creating on iris-z)" in str(raised.value)
    assert raised.value.hint is not None and "run plan" in raised.value.hint
    assert clock.now < 60  # not the 1800 s timeout


def test_an_endpoint_in_service_after_deleting_is_a_new_one() -> None:
    deleting = serving(status="Deleting")
    gateway = FakeGateway(serving(), after_delete=[deleting, serving(last_modified="t3")])

    with pytest.raises(ApplyError, match="created again"):
        applier(gateway).apply(plan_of(DESTROY, target=None))


def test_a_deletion_that_fails_says_so() -> None:
    deleting = serving(status="Deleting")
    failed = serving(status="Failed", failure_reason="internal error")
    gateway = FakeGateway(serving(), after_delete=[deleting, failed])

    with pytest.raises(ApplyError, match="is Failed instead of deleted: internal error"):
        applier(gateway).apply(plan_of(DESTROY, target=None))


def test_a_late_view_of_the_endpoint_before_its_deletion_is_waited_out() -> None:
    # DescribeEndpoint may still show the endpoint as it was just before DeleteEndpoint.
    events: list[Event] = []
    gateway = FakeGateway(serving(), after_delete=[serving(), serving(status="Deleting"), None])

    applier(gateway).apply(plan_of(DESTROY, target=None), events.append)

    assert gateway.log == ["DeleteEndpoint"]
    assert [e.message for e in events if e.kind == "wait"] == [
        "waiting: InService",
        "waiting: Deleting",
    ]


# --- 19: scaling restored however the update fails ------------------------------------------


def type_change_plan() -> Plan:
    return plan_of(
        Change(Kind.SCALING, SCALING.resource_id, Action.DELETE, to_json(SCALING), None),
        Change(
            Kind.ENDPOINT,
            "iris",
            Action.UPDATE,
            {"config_name": "iris-a"},
            {"config_name": "iris-b", "deployment": None, "retain_instance_count": False},
        ),
        Change(Kind.SCALING, SCALING.resource_id, Action.CREATE, None, to_json(SCALING)),
        target="iris-b",
    )


def test_update_refused_by_sagemaker_restores_the_scaling() -> None:
    refused = AwsError("AWS UpdateEndpoint 'iris' failed: ResourceLimitExceeded: quota")
    gateway = FakeGateway(serving(), update_error=refused, scaling={SCALING.resource_id: SCALING})
    events: list[Event] = []

    with pytest.raises(AwsError, match="ResourceLimitExceeded"):
        applier(gateway).apply(type_change_plan(), events.append)

    assert gateway.scaling == {SCALING.resource_id: SCALING}
    assert gateway.log == ["DeregisterScalableTarget", "UpdateEndpoint", "RegisterScalableTarget"]
    assert Event("done", f"scaling.{SCALING.resource_id}", "restored after the failure") in events


def test_update_interrupted_by_ctrl_c_restores_the_scaling() -> None:
    gateway = FakeGateway(serving(), scaling={SCALING.resource_id: SCALING})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        applier(gateway, sleep=interrupt).apply(type_change_plan())

    assert gateway.scaling == {SCALING.resource_id: SCALING}


@dataclass
class _DeregisteredThenInterrupted(FakeGateway):
    """DeregisterScalableTarget done on the AWS side, its answer never read: Ctrl-C came first."""

    def delete_scaling(self, *args: Any, **kwargs: Any) -> bool:
        super().delete_scaling(*args, **kwargs)
        raise KeyboardInterrupt


def test_ctrl_c_while_the_scaling_is_being_deregistered_restores_it() -> None:
    gateway = _DeregisteredThenInterrupted(serving(), scaling={SCALING.resource_id: SCALING})

    with pytest.raises(KeyboardInterrupt):
        applier(gateway).apply(type_change_plan())

    assert gateway.scaling == {SCALING.resource_id: SCALING}
    assert "UpdateEndpoint" not in gateway.log


@pytest.mark.parametrize(
    "line", [("done", f"scaling.{SCALING.resource_id}"), ("start", "endpoint.iris")]
)
def test_ctrl_c_between_taking_the_scaling_off_and_the_update_restores_it(
    line: tuple[str, str],
) -> None:
    """Between two changes apply prints their lines: a Ctrl-C may land there as well."""
    gateway = FakeGateway(serving(), scaling={SCALING.resource_id: SCALING})
    pressed: list[Event] = []

    def report(event: Event) -> None:
        if (event.kind, event.address) == line and not pressed:
            pressed.append(event)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        applier(gateway).apply(type_change_plan(), report)

    assert pressed, "the line was printed"
    assert gateway.scaling == {SCALING.resource_id: SCALING}
    assert "UpdateEndpoint" not in gateway.log


def test_a_restore_that_fails_is_reported_and_the_first_error_kept() -> None:
    refused = AwsError("AWS UpdateEndpoint 'iris' failed: ResourceLimitExceeded: quota")
    gateway = FakeGateway(
        serving(),
        update_error=refused,
        put_error=AwsError("AWS RegisterScalableTarget failed: Throttling"),
        scaling={SCALING.resource_id: SCALING},
    )
    events: list[Event] = []

    with pytest.raises(AwsError) as raised:
        applier(gateway).apply(type_change_plan(), events.append)

    assert raised.value is refused
    notes = [e.message for e in events if e.kind == "note"]
    assert notes == ["could not be restored: AWS RegisterScalableTarget failed: Throttling"]


def test_failed_rollback_to_serverless_puts_the_scaling_back() -> None:
    plan = make_rollback_plan(
        "iris",
        "us-east-1",
        "123456789012",
        owned("iris-a", REALTIME, (SCALING,), previous="iris-b"),
        realtime_config("iris-a"),
        serverless_config("iris-b"),
    )
    refused = AwsError("AWS UpdateEndpoint 'iris' failed: ValidationException")
    gateway = FakeGateway(serving(), update_error=refused, scaling={SCALING.resource_id: SCALING})

    with pytest.raises(AwsError):
        applier(gateway).apply(plan)

    # The rollback planned no new target, but the real-time fleet still serves: it keeps one.
    assert gateway.scaling == {SCALING.resource_id: SCALING}


def test_scaling_removed_with_no_update_to_follow_is_not_restored() -> None:
    gateway = FakeGateway(serving(), scaling={SCALING.resource_id: SCALING})
    failing = Change(Kind.ENDPOINT, "iris", Action.DELETE, {"config_name": "iris-a"}, None)
    gateway.after_delete = [serving(status="Deleting"), serving(status="Creating")]
    destroy = plan_of(
        Change(Kind.SCALING, SCALING.resource_id, Action.DELETE, to_json(SCALING), None),
        failing,
        target=None,
    )

    with pytest.raises(ApplyError):
        applier(gateway).apply(destroy)

    assert gateway.scaling == {}


# --- 17: incomplete uploads are cleared first, and never block the upload -----------------


def artifact_change(tmp_path: Path) -> Change:
    local = tmp_path / "model.tar.gz"
    local.write_bytes(gzip.compress(b"a tar stream", mtime=0))
    digest = hashlib.sha256(b"a tar stream").hexdigest()  # of the content, as packaged
    uri = f"s3://bucket/deployspec/{digest}/model.tar.gz"
    size = local.stat().st_size
    after = {"sha256": digest, "size": size, "local_path": str(local), "s3_uri": uri}
    return Change(Kind.ARTIFACT, uri, Action.CREATE, None, after)


def test_upload_aborts_incomplete_uploads_of_its_key_first(tmp_path: Path) -> None:
    gateway = FakeGateway(None)
    events: list[Event] = []

    applier(gateway).apply(plan_of(artifact_change(tmp_path), target=None), events.append)

    assert gateway.log[:2] == ["ListMultipartUploads", "PutObject"]
    assert "aborted 2 incomplete earlier upload(s)" in [e.message for e in events]


def test_upload_goes_ahead_when_incomplete_uploads_cannot_be_listed(tmp_path: Path) -> None:
    denied = AwsError("AWS ListMultipartUploads failed: AccessDenied")
    gateway = FakeGateway(None, abort_error=denied)
    events: list[Event] = []

    applier(gateway).apply(plan_of(artifact_change(tmp_path), target=None), events.append)

    assert "PutObject" in gateway.log
    assert [e.kind for e in events if "not cleared" in e.message] == ["note"]


def test_stale_uploads_of_other_archives_under_the_prefix_are_aborted_and_nothing_else() -> None:
    from deployspec.aws import STALE_UPLOAD_SECONDS
    from deployspec.aws import Gateway as RealGateway

    now = datetime(2030, 1, 10, tzinfo=UTC)
    stale = now - timedelta(seconds=STALE_UPLOAD_SECONDS + 60)
    fresh = now - timedelta(hours=1)
    prefix = "deployspec/iris"
    key = f"{prefix}/{'a' * 64}/model.tar.gz"
    uploads = {
        key: fresh,  # this very archive: aborted whatever its age
        f"{prefix}/{'b' * 64}/model.tar.gz": stale,  # an earlier model's, killed: aborted
        f"{prefix}/{'c' * 64}/model.tar.gz": fresh,  # may be another apply at work: kept
        f"{prefix}/{'d' * 64}/notes.txt": stale,  # not an archive of ours
        f"{prefix}/nested/{'e' * 64}/model.tar.gz": stale,  # another spec's prefix below ours
        f"{prefix}/{'F' * 64}/model.tar.gz": stale,  # not a digest deployspec writes
    }
    gateway = RealGateway(
        boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
    )
    gateway._account_id = "123456789012"
    stubber = Stubber(gateway._client("s3"))
    owner = {"Bucket": "bucket", "ExpectedBucketOwner": "123456789012"}
    listing = [
        {"Key": k, "UploadId": f"u{i}", "Initiated": began}
        for i, (k, began) in enumerate(uploads.items())
    ]
    # The listing is of the spec's prefix, slash included: `deployspec/iris-2/` is not in it.
    stubber.add_response(
        "list_multipart_uploads", {"Uploads": listing}, {**owner, "Prefix": f"{prefix}/"}
    )
    stubber.add_response("abort_multipart_upload", {}, {**owner, "Key": key, "UploadId": "u0"})
    stubber.add_response(
        "abort_multipart_upload",
        {},
        {**owner, "Key": f"{prefix}/{'b' * 64}/model.tar.gz", "UploadId": "u1"},
    )
    with stubber:
        assert gateway.abort_incomplete_uploads(f"s3://bucket/{key}", now=now) == 2
    stubber.assert_no_pending_responses()


# --- end to end against the sandbox ----------------------------------------------------


def _aws(sandbox: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _targets(sandbox: dict[str, Any]) -> list[tuple[str, int, int]]:
    found = _aws(sandbox, "application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    return [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in found]


def _apply(sandbox: dict[str, Any], spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = cli(sandbox, "apply", str(spec), "--auto-approve", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_e2e_rollback_to_serverless_leaves_no_scaling_behind(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    serverless = iris.read_text()
    _realtime(iris)
    realtime = iris.read_text()
    _apply(sandbox, iris)
    iris.write_text(serverless)
    _apply(sandbox, iris)
    serverless_config = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    iris.write_text(realtime)
    _apply(sandbox, iris)  # the real-time config again, autoscaled; the serverless one kept
    assert _targets(sandbox) == [("endpoint/iris/variant/AllTraffic", 1, 3)]

    rolled = cli(sandbox, "rollback", str(iris), "--auto-approve")
    assert rolled.returncode == 0, rolled.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"] == serverless_config
    assert _targets(sandbox) == []

    # Back to real-time: no scaling was attached to register again; apply adds it.
    back = cli(sandbox, "rollback", str(iris), "--auto-approve")
    assert back.returncode == 0, back.stderr
    assert _targets(sandbox) == []
    planned = cli(sandbox, "plan", str(iris)).stdout
    assert "# scaling.endpoint/iris/variant/AllTraffic will be created" in planned


def test_e2e_destroy_removes_scaling_whatever_the_spec_says(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _apply(sandbox, iris)  # serverless
    scaling = _aws(sandbox, "application-autoscaling")
    resource = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/iris/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    # What an older deployspec's rollback left on the serverless variant.
    scaling.register_scalable_target(**resource, MinCapacity=1, MaxCapacity=3)

    gone = cli(sandbox, "destroy", str(iris), "--auto-approve")

    assert gone.returncode == 0, gone.stderr
    assert "scaling.endpoint/iris/variant/AllTraffic" in gone.stdout
    # Deregistering a target deletes its policies too on AWS (moto keeps them).
    assert _targets(sandbox) == []


def test_e2e_replaced_failed_endpoint_plans_no_changes_after(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    sandbox["faults"].fail_next_create("iris", "CannotStartContainerError")
    failed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert failed.returncode == 1
    sandbox["faults"].clear()
    replaced = _apply(sandbox, iris)
    assert "replacing" in replaced.stderr

    again = cli(sandbox, "plan", str(iris), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_e2e_the_bucket_apply_creates_aborts_incomplete_uploads_after_a_day(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _apply(sandbox, iris)
    s3 = _aws(sandbox, "s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket="sagemaker-us-east-1-123456789012")
    assert [r["AbortIncompleteMultipartUpload"] for r in rules["Rules"]] == [
        {"DaysAfterInitiation": 1}
    ]


def test_e2e_apply_aborts_the_upload_a_killed_apply_left(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    bucket = "sagemaker-us-east-1-123456789012"
    s3 = _aws(sandbox, "s3")
    s3.create_bucket(Bucket=bucket)
    planned = json.loads(cli(sandbox, "plan", str(iris), "--format", "json").stdout)
    [uri] = [c["name"] for c in planned["changes"] if c["kind"] == "artifact"]
    key = uri.removeprefix(f"s3://{bucket}/")
    prefix = key.rsplit("/", 2)[0]
    assert prefix == "deployspec/iris"
    s3.create_multipart_upload(Bucket=bucket, Key=key)  # killed before it completed
    # A killed upload of an earlier model: the spec changed before the next apply.
    older = f"{prefix}/{'0' * 64}/model.tar.gz"
    s3.create_multipart_upload(Bucket=bucket, Key=older)
    # Others' keys in the shared bucket, left alone whatever their age.
    unrelated = sorted(
        [
            f"{prefix}/{'1' * 64}/weights.bin",
            f"{prefix}/nested/{'2' * 64}/model.tar.gz",
            f"{prefix}-2/{'3' * 64}/model.tar.gz",
            f"other-team/{'4' * 64}/model.tar.gz",
            "notes/model.tar.gz",
        ]
    )
    for other in unrelated:
        s3.create_multipart_upload(Bucket=bucket, Key=other)
    # Stale by STALE_UPLOAD_SECONDS: moto dates every upload 2010-11-10 (checked, since the
    # older archive's upload is aborted only when it is older than that).
    initiated = {
        u["Key"]: u["Initiated"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    }
    assert initiated[older] < datetime.now(UTC) - timedelta(days=2)

    applied = _apply(sandbox, iris)

    assert "aborted 2 incomplete earlier upload(s)" in applied.stderr
    left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert sorted(u["Key"] for u in left) == unrelated
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_e2e_ctrl_c_during_an_instance_type_change_restores_autoscaling(
    sandbox: dict[str, Any], sm: Any, iris: Path, signum: signal.Signals
) -> None:
    _realtime(iris)
    _apply(sandbox, iris)
    _realtime(iris, "ml.m5.xlarge")
    sandbox["faults"].set_transition_seconds(30)
    try:
        proc = start_cli("apply", str(iris), "--sandbox", "--auto-approve", env=sandbox["env"])
        try:
            # Updating: apply has called UpdateEndpoint, and waits 30 s for it to finish.
            deadline = time.monotonic() + 60
            while sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] != "Updating":
                assert proc.poll() is None, "apply ended before it updated the endpoint"
                assert time.monotonic() < deadline, "apply did not update the endpoint in 60 s"
                time.sleep(0.05)
            assert _targets(sandbox) == []  # taken off for the type change
            # Ctrl-C (and SIGTERM: `kill`, a cancelled CI job) must mean KeyboardInterrupt in
            # apply; else it runs on and succeeds, or dies with the scaling off.
            assert catches_signal(proc.pid, signum), f"apply does not handle {signum.name}"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                out, err = proc.communicate()
    finally:
        sandbox["faults"].set_transition_seconds(0.3)

    # Failed by its own exit, not killed by the signal: what it took off was put back.
    assert proc.returncode > 0, out + err
    assert "Apply complete!" not in out
    assert "restored after the failure" in err
    assert "Traceback" not in err
    assert _targets(sandbox) == [("endpoint/iris/variant/AllTraffic", 1, 3)]
