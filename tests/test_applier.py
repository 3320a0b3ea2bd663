"""The applier on a fake gateway and a fake clock: waiting, its backoff and timeout, updates
SageMaker rolled back, verification, and endpoints created or moved by someone else meanwhile.
Also the gateway's retry reports and how the CLI shows them.

tests/test_lifecycle.py holds the applier's deletion and scaling-restore units.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from botocore.retries.bucket import TokenBucket

from deployspec.applier import Applier, Event
from deployspec.aws import Gateway, Retry
from deployspec.errors import ApplyError, AwsError, DeployspecError, NotManagedError
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.resources import (
    INVOCATIONS,
    Capacity,
    Endpoint,
    EndpointConfig,
    Model,
    Scaling,
    ServerlessConfig,
    Variant,
    ownership_tags,
    to_json,
)

if TYPE_CHECKING:
    from deployspec.aws import Gateway as GatewayType

OURS = ownership_tags("iris")
SCALING = Scaling("endpoint/iris/variant/AllTraffic", 1, 3, 50.0, 300, 60, "p")


def endpoint(config: str = "iris-a", status: str = "InService", **kw: Any) -> Endpoint:
    return Endpoint("iris", config, status, arn="arn:ep", last_modified="t0", **kw)


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class FakeGateway:
    """The endpoint verbs the applier uses. DescribeEndpoint answers `views` one poll at a time
    (the last one repeats); a write replaces them with what follows it."""

    views: list[Endpoint | None]
    after_create: Sequence[Endpoint | None] = ()
    after_update: Sequence[Endpoint | None] = ()
    # CreateEndpoint fails with this, and DescribeEndpoint then shows `after_create`.
    create_error: DeployspecError | None = None
    # The endpoint's tags; every config and model is this spec's.
    tags: dict[str, str] = field(default_factory=lambda: dict(OURS))
    # ARNs of models and configs that lack the ownership tags.
    not_ours: frozenset[str] = frozenset()
    log: list[str] = field(default_factory=list)
    capacities: list[dict[str, Capacity]] = field(default_factory=list)

    def describe_endpoint(self, name: str) -> Endpoint | None:
        self.log.append("DescribeEndpoint")
        return self.views.pop(0) if len(self.views) > 1 else self.views[0]

    def describe_endpoint_config(self, name: str) -> EndpointConfig:
        variant = Variant("iris-m", serverless=ServerlessConfig(2048, 5))
        return EndpointConfig(name, (variant,), arn=f"arn:config/{name}")

    def describe_model(self, name: str) -> Model:
        return Model(name, "image", None, {}, "arn:role", arn=f"arn:model/{name}")

    def list_tags(self, arn: str) -> dict[str, str]:
        if arn in self.not_ours:
            return {"team": "ml"}
        return self.tags if arn == "arn:ep" else dict(OURS)

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> str:
        self.log.append("CreateEndpoint")
        self.views = list(self.after_create)
        if self.create_error is not None:
            raise self.create_error
        return "arn:ep"

    def update_endpoint(self, name: str, config_name: str, deployment: object, **_: Any) -> None:
        self.log.append("UpdateEndpoint")
        self.views = list(self.after_update)

    def update_capacities(self, name: str, capacities: dict[str, Capacity]) -> None:
        self.log.append("UpdateEndpointWeightsAndCapacities")
        self.capacities.append(dict(capacities))
        self.views = list(self.after_update)

    def put_scaling(self, scaling: Scaling) -> None:
        self.log.append("RegisterScalableTarget")

    def delete_scaling(self, resource_id: str, metric: str = INVOCATIONS) -> bool:
        self.log.append("DeregisterScalableTarget")
        return True

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        self.log.append("AddTags")

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        self.log.append("DeleteTags")


def run(
    gateway: FakeGateway, plan: Plan, clock: Clock | None = None, **options: Any
) -> list[Event]:
    clock = clock or Clock()
    events: list[Event] = []
    applier = Applier(cast("GatewayType", gateway), sleep=clock.sleep, clock=clock.time, **options)
    applier.apply(plan, events.append)
    return events


def plan_of(*changes: Change, target: str | None = "iris-b", timeout: int = 1800) -> Plan:
    return Plan(
        spec_name="iris",
        endpoint_name="iris",
        region="us-east-1",
        account="123456789012",
        changes=changes,
        fingerprint={},
        timeout_seconds=timeout,
        target_config=target,
    )


CREATE = Change(
    Kind.ENDPOINT,
    "iris",
    Action.CREATE,
    None,
    {"name": "iris", "config_name": "iris-b", "tags": OURS},
)
UPDATE = Change(
    Kind.ENDPOINT,
    "iris",
    Action.UPDATE,
    {"config_name": "iris-a"},
    {"config_name": "iris-b", "deployment": None, "retain_instance_count": False},
)


# --- waiting: backoff and timeout -----------------------------------------------------------


def test_polls_back_off_by_half_up_to_the_maximum() -> None:
    clock = Clock()
    creating = [endpoint("iris-b", "Creating")] * 9
    gateway = FakeGateway([None], after_create=[*creating, endpoint("iris-b")])

    run(gateway, plan_of(CREATE), clock, poll_initial=2.0, poll_max=10.0)

    assert clock.slept == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0, 10.0, 10.0, 10.0]


def test_an_endpoint_that_never_leaves_creating_times_out_at_the_plans_timeout() -> None:
    clock = Clock()
    gateway = FakeGateway([None], after_create=[endpoint("iris-b", "Creating")])

    with pytest.raises(ApplyError) as raised:
        run(gateway, plan_of(CREATE, timeout=600), clock)

    assert str(raised.value) == "endpoint iris still Creating after 600s"
    assert raised.value.hint is not None and "deployment.timeout" in raised.value.hint
    # It gave up at the deadline, not one poll interval (20 s at most) later or earlier.
    assert 600 <= clock.now < 620
    assert max(clock.slept) == 20.0


def test_waiting_reports_status_and_elapsed_time() -> None:
    gateway = FakeGateway(
        [None], after_create=[endpoint("iris-b", "Creating")] * 3 + [endpoint("iris-b")]
    )

    events = run(gateway, plan_of(CREATE))

    waits = [e.message for e in events if e.kind == "wait"]
    assert waits == ["Creating (0s)", "Creating (1s)", "Creating (2s)"]


def test_an_endpoint_busy_with_another_update_is_waited_for_before_updating() -> None:
    clock = Clock()
    busy = [endpoint("iris-a", "Updating")] * 3
    gateway = FakeGateway([*busy, endpoint("iris-a")], after_update=[endpoint("iris-b")])

    run(gateway, plan_of(UPDATE), clock)

    assert gateway.log.count("UpdateEndpoint") == 1
    assert clock.slept == [1.0, 1.5]  # after the guard's look, two polls still Updating


def test_deployspec_poll_seconds_sets_the_clis_first_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployspec import cli

    gateway = cast("GatewayType", FakeGateway([None]))
    monkeypatch.delenv(cli.POLL_SECONDS_ENV, raising=False)
    default = cli._applier(gateway, cli._poll_seconds())
    assert (default.poll_initial, default.poll_max) == (1.0, 20.0)
    monkeypatch.setenv(cli.POLL_SECONDS_ENV, " 0.1 ")
    quick = cli._applier(gateway, cli._poll_seconds())
    assert (quick.poll_initial, quick.poll_max) == (0.1, 20.0)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", "21"])
def test_a_poll_seconds_that_is_no_wait_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployspec import cli

    monkeypatch.setenv(cli.POLL_SECONDS_ENV, value)
    with pytest.raises(DeployspecError) as refused:
        cli._poll_seconds()
    assert str(refused.value) == (
        f"DEPLOYSPEC_POLL_SECONDS must be a number of seconds above 0 and at most 20, not {value!r}"
    )
    assert refused.value.hint is not None and "unset DEPLOYSPEC_POLL_SECONDS" in refused.value.hint


# --- the outcome of an update -----------------------------------------------------------------


def test_an_update_sagemaker_rolled_back_fails_with_its_reason() -> None:
    rolled_back = endpoint("iris-a", failure_reason="the canary's 5xx alarm fired")
    gateway = FakeGateway(
        [endpoint("iris-a")],
        after_update=[
            endpoint("iris-a", "Updating"),
            endpoint("iris-a", "RollingBack"),
            rolled_back,
        ],
    )

    with pytest.raises(ApplyError) as raised:
        run(gateway, plan_of(UPDATE))

    assert str(raised.value) == (
        "the update of endpoint iris was rolled back; it still serves iris-a. "
        "Reason: the canary's 5xx alarm fired"
    )
    assert raised.value.hint is not None and "the new config is kept" in raised.value.hint


def test_an_update_ending_failed_says_so() -> None:
    failed = endpoint("iris-b", "Failed", failure_reason="CannotStartContainerError")
    gateway = FakeGateway(
        [endpoint("iris-a")], after_update=[endpoint("iris-a", "Updating"), failed]
    )

    with pytest.raises(ApplyError, match="is Failed: CannotStartContainerError"):
        run(gateway, plan_of(UPDATE))


def test_a_concurrent_apply_that_moved_the_endpoint_is_waited_out_then_refused() -> None:
    # Planned against iris-a; another apply was moving it to iris-z: wait, see, refuse.
    moving = [endpoint("iris-a", "Updating")] * 2
    gateway = FakeGateway([*moving, endpoint("iris-z")])

    with pytest.raises(ApplyError) as raised:
        run(gateway, plan_of(UPDATE))

    assert "now serves iris-z, not iris-a as when the plan was made" in str(raised.value)
    assert raised.value.hint is not None and "run plan again" in raised.value.hint
    assert "UpdateEndpoint" not in gateway.log


# --- verification -----------------------------------------------------------------------------


def test_verification_fails_when_the_endpoint_serves_another_config() -> None:
    # Only the scaling changes; meanwhile someone pointed the endpoint elsewhere.
    scaling = Change(Kind.SCALING, SCALING.resource_id, Action.UPDATE, None, to_json(SCALING))
    gateway = FakeGateway([endpoint("iris-z")])

    with pytest.raises(ApplyError) as raised:
        run(gateway, plan_of(scaling))

    assert str(raised.value) == (
        "endpoint iris is InService on iris-z, not InService on iris-b: no reason given"
    )
    assert gateway.log[-1] == "DescribeEndpoint"


def test_verification_fails_when_the_endpoint_is_gone() -> None:
    scaling = Change(Kind.SCALING, SCALING.resource_id, Action.UPDATE, None, to_json(SCALING))
    gateway = FakeGateway([endpoint("iris-b"), None])

    with pytest.raises(ApplyError, match="endpoint iris does not exist after apply"):
        run(gateway, plan_of(scaling))


def test_verification_waits_out_a_transition_then_passes() -> None:
    gateway = FakeGateway([endpoint("iris-b", "SystemUpdating"), endpoint("iris-b")])

    events = run(gateway, plan_of())

    assert [e.message for e in events if e.kind == "wait"] == ["waiting: SystemUpdating"]


# --- 17g: the endpoint another apply created meanwhile ---------------------------------------

RACE = AwsError(
    "AWS CreateEndpoint 'iris' failed: ValidationException: Cannot create already existing "
    'endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris".'
)


def test_a_create_race_on_the_planned_config_is_waited_for() -> None:
    theirs = [endpoint("iris-b", "Creating"), endpoint("iris-b")]
    gateway = FakeGateway([None], after_create=theirs, create_error=RACE)

    events = run(gateway, plan_of(CREATE))

    notes = [e.message for e in events if e.kind == "note"]
    assert notes == ["another apply created it meanwhile, on the planned config: waiting for it"]
    assert gateway.log.count("CreateEndpoint") == 1
    assert Event("done", "endpoint.iris", "done") in events


def test_a_create_race_on_another_config_says_to_plan_again() -> None:
    gateway = FakeGateway([None], after_create=[endpoint("iris-z", "Creating")], create_error=RACE)

    with pytest.raises(ApplyError) as raised:
        run(gateway, plan_of(CREATE))

    assert str(raised.value) == (
        "endpoint iris was created by someone else since the plan (it is Creating on iris-z)"
    )
    assert raised.value.hint == "run plan again"
    assert "Cannot create already existing" not in str(raised.value)


def test_a_create_race_lost_to_an_endpoint_not_ours_is_refused() -> None:
    gateway = FakeGateway(
        [None],
        after_create=[endpoint("iris-b", "Creating")],
        create_error=RACE,
        tags={"team": "ml"},
    )

    with pytest.raises(ApplyError, match="created by someone else since the plan"):
        run(gateway, plan_of(CREATE))


def test_a_create_that_fails_for_another_reason_keeps_its_error() -> None:
    quota = AwsError("AWS CreateEndpoint 'iris' failed: ResourceLimitExceeded: quota")
    gateway = FakeGateway([None], after_create=[None], create_error=quota)

    with pytest.raises(AwsError) as raised:
        run(gateway, plan_of(CREATE))

    assert raised.value is quota


def test_an_endpoint_created_before_the_create_on_another_config_is_refused() -> None:
    # The settle before CreateEndpoint already sees it: no create is attempted.
    gateway = FakeGateway([None, endpoint("iris-z")])

    with pytest.raises(ApplyError, match=r"since the plan \(it is InService on iris-z\)"):
        run(gateway, plan_of(CREATE))

    assert "CreateEndpoint" not in gateway.log


# --- several variants -------------------------------------------------------------------------


def test_weights_and_counts_alone_are_set_in_one_call_without_a_new_config() -> None:
    capacities = Change(
        Kind.ENDPOINT,
        "iris",
        Action.UPDATE,
        {
            "config_name": "iris-a",
            "capacities": {"current": {"instance_count": 1}, "challenger": {"weight": 10.0}},
        },
        {
            "config_name": "iris-a",
            "capacities": {"current": {"instance_count": 3}, "challenger": {"weight": 20.0}},
        },
    )
    gateway = FakeGateway(
        [endpoint("iris-a")], after_update=[endpoint("iris-a", "Updating"), endpoint("iris-a")]
    )

    events = run(gateway, plan_of(capacities, target="iris-a"))

    assert gateway.capacities == [
        {"current": Capacity(instance_count=3), "challenger": Capacity(weight=20.0)}
    ]
    assert "UpdateEndpoint" not in gateway.log
    assert gateway.log.count("UpdateEndpointWeightsAndCapacities") == 1
    # It waits for the endpoint to be InService with its new weights and counts.
    assert [e.message for e in events if e.kind == "wait"] == ["Updating (0s)"]


TWO_AND_A_SHADOW = EndpointConfig(
    "iris-c",
    (
        Variant("iris-m1", "current", None, "ml.m5.large", 1, None, 90.0),
        Variant("iris-m2", "challenger", None, "ml.m5.large", 1, None, 10.0),
    ),
    shadow_variants=(Variant("iris-m3", "shadow", None, "ml.m5.large", 1, None, 1.0),),
)


@pytest.mark.parametrize("foreign", ["iris-m2", "iris-m3"])
def test_a_config_is_created_only_over_models_that_are_all_ours(foreign: str) -> None:
    """Every variant's model, the shadow's too, not only the first."""
    create = Change(
        Kind.ENDPOINT_CONFIG,
        "iris-c",
        Action.CREATE,
        None,
        {**to_json(TWO_AND_A_SHADOW), "tags": OURS},
    )
    gateway = FakeGateway([None], not_ours=frozenset({f"arn:model/{foreign}"}))

    with pytest.raises(NotManagedError) as raised:
        run(gateway, plan_of(create, target=None))

    assert str(raised.value) == (
        f"refusing to change endpoint_config.iris-c (it uses model {foreign}): it is not "
        "managed by deployspec for spec iris (it lacks the ownership tags)"
    )


# --- 17f: retries are reported as they happen -------------------------------------------------


class _Body:
    def __init__(self, code: str) -> None:
        self.code = code

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield json.dumps({"__type": self.code, "message": "no"}).encode() if self.code else b""


def _gateway(
    monkeypatch: pytest.MonkeyPatch, codes: list[tuple[int, str]], max_attempts: int = 2
) -> tuple[Gateway, list[Retry]]:
    """A gateway whose SageMaker answers `codes` in turn (then 200s), and the retries it told."""
    # Backoff and the adaptive token bucket are botocore's own; waiting them out proves nothing.
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)
    monkeypatch.setattr(TokenBucket, "acquire", lambda *_args, **_kwargs: True)
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    gateway = Gateway(session, max_attempts=max_attempts)
    told: list[Retry] = []
    gateway.on_retry = told.append
    answers = list(codes)

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = "r"
        if answers:
            status, code = answers.pop(0)
            return AWSResponse(request.url, status, headers, _Body(code))
        body = json.dumps({"Tags": []}).encode()
        return AWSResponse(request.url, 200, headers, _Raw(body))

    events = gateway._client("sagemaker").meta.events
    events.register_first("before-send.*.*", cast("Callable[..., None]", answer))
    return gateway, told


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def test_each_retry_of_a_throttled_call_is_told_before_it_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    throttled = (400, "ThrottlingException")
    gateway, told = _gateway(monkeypatch, [throttled, throttled])

    assert gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris") == {}

    assert [(r.operation, r.attempt, r.max_attempts, r.throttled) for r in told] == [
        ("ListTags", 2, 3, True),
        ("ListTags", 3, 3, True),
    ]
    assert told[0].message == "AWS is throttling ListTags; retrying (attempt 2 of 3)"


def test_a_call_out_of_attempts_tells_no_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    throttled = (400, "ThrottlingException")
    gateway, told = _gateway(monkeypatch, [throttled] * 3)

    with pytest.raises(AwsError, match="still throttled after 2 retries"):
        gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris")

    assert [r.attempt for r in told] == [2, 3]


def test_an_error_botocore_does_not_retry_tells_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway, told = _gateway(monkeypatch, [(400, "ValidationException")])

    with pytest.raises(AwsError, match="ValidationException"):
        gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris")

    assert told == []


def test_a_server_error_retry_names_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway, told = _gateway(monkeypatch, [(500, "InternalFailure")])

    gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris")

    [retry] = told
    assert not retry.throttled
    assert retry.message == "AWS ListTags failed (InternalFailure); retrying (attempt 2 of 3)"


def test_a_retry_of_an_answer_without_a_body_names_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, told = _gateway(monkeypatch, [(503, "")])

    gateway.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris")

    assert [r.message for r in told] == [
        "AWS ListTags failed (HTTP 503); retrying (attempt 2 of 3)"
    ]


def test_the_cli_prints_retries_on_their_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    from deployspec.cli import _Progress

    progress = _Progress()
    progress.tty = True  # a terminal: the upload bar is redrawn in place
    progress(Event("progress", "artifact.9f86d081884c", "uploading", 0.4))
    progress.retry(Retry("s3", "UploadPart", 2, 11, True, "SlowDown"))
    progress(Event("progress", "artifact.9f86d081884c", "uploading", 1.0))
    progress.retry(Retry("sagemaker", "DescribeEndpoint", 2, 11, True, "ThrottlingException"))

    assert capsys.readouterr().err.split("\n") == [
        "\rartifact.9f86d081884c: [##########               ]  40%",
        "AWS is throttling UploadPart; retrying (attempt 2 of 11)",
        "\rartifact.9f86d081884c: [#########################] 100%",
        "AWS is throttling DescribeEndpoint; retrying (attempt 2 of 11)",
        "",
    ]


def test_no_color_keeps_the_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR turns colour off, not the bar: the bar is plain text."""
    import io

    from deployspec import cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert cli._Progress().tty is True
