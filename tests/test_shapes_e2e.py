"""End to end, the endpoint shapes beyond one synchronous variant: the CLI as a separate process
against a private sandbox, with real predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.conftest import sandbox_client as client

EXAMPLES = REPO / "examples"
SPECIES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {
            "info": info,
            "env": {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)},
        }
    finally:
        control.stop(home)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples folder copied, with the iris model trained where the examples expect it."""
    root = tmp_path_factory.mktemp("examples")
    # One project, as in the repository: an example may use another's model and handlers.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in (
        "sklearn-iris",
        "sklearn-async",
        "sklearn-ab",
        "sklearn-shadow",
        "sklearn-multi-model",
        "sklearn-serverless-pc",
    ):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("model"))
    train = root / "sklearn-iris" / "train.py"
    for args, cwd in (((), "sklearn-iris"), (("--out", "model", "--c", "0.05"), "sklearn-ab")):
        subprocess.run(
            [sys.executable, str(train), *args], check=True, capture_output=True, cwd=root / cwd
        )
    return root


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=180)


def _nothing_owned_left(sandbox: dict[str, Any], endpoint: str) -> None:
    """After destroy: no endpoint, config or model, no scalable target, no deployspec alarm."""
    sm = client(sandbox)
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    targets = client(sandbox, "application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert [t for t in targets if t["ResourceId"].startswith(f"endpoint/{endpoint}/")] == []
    alarms = client(sandbox, "cloudwatch").describe_alarms(
        AlarmNamePrefix=f"deployspec-{endpoint}"
    )["MetricAlarms"]
    assert alarms == []


SHAPE_EXAMPLES = (
    "sklearn-ab",
    "sklearn-shadow",
    "sklearn-multi-model",
    "sklearn-async",
    "sklearn-serverless-pc",
)


def test_every_shape_example_validates(sandbox: dict[str, Any], examples: Path) -> None:
    specs = [str(examples / name / "deployment.yaml") for name in SHAPE_EXAMPLES]
    validated = run_cli("validate", *specs, env=sandbox["env"])
    assert validated.returncode == 0, validated.stderr
    count = len(SHAPE_EXAMPLES)
    assert f"{count} specs checked: {count} valid" in validated.stdout, validated.stdout


def test_async_endpoint_answers_through_s3_and_adding_or_removing_async_replaces_it(
    sandbox: dict[str, Any], examples: Path
) -> None:
    spec = examples / "sklearn-async" / "deployment.yaml"
    body = f"@{examples / 'sklearn-async' / 'input.json'}"
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr

    answered = cli(sandbox, "invoke", str(spec), "--async", "--wait", "--body", body)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["predictions"] == SPECIES
    assert "queued: the answer will be written to s3://deployspec-examples-async/answers/" in (
        answered.stderr
    )
    queued = cli(sandbox, "invoke", str(spec), "--async", "--body", body)
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.startswith("s3://deployspec-examples-async/answers/")
    direct = cli(sandbox, "invoke", str(spec), "--body", body)
    assert direct.returncode == 1
    assert "InvokeEndpointAsync" in direct.stderr
    status = cli(sandbox, "status", str(spec))
    assert "asynchronous:   answers to s3://deployspec-examples-async/answers/" in status.stdout
    # Scaled on the queue, down to zero: the target, its two policies and the alarm.
    assert "0-2 instances (scales to zero), target 5.0 queued requests/instance" in status.stdout
    scaling = client(sandbox, "application-autoscaling")
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId="endpoint/iris-async/variant/AllTraffic"
    )["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in policies) == [
        "deployspec-invocations",
        "deployspec-scale-from-zero",
    ]
    tracking = next(p for p in policies if p["PolicyType"] == "TargetTrackingScaling")
    custom = tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert custom["MetricName"] == "ApproximateBacklogSizePerInstance"
    cloudwatch = client(sandbox, "cloudwatch")
    alarm = "deployspec-iris-async-AllTraffic-scale-from-zero"
    found = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert [a["MetricName"] for a in found] == ["HasBacklogWithoutCapacity"]
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0

    # Without async: the same endpoint name, replaced (UpdateEndpoint cannot remove it).
    text = spec.read_text()
    synchronous = spec.with_name("sync.yaml")
    head = text[: text.index("async:")]
    synchronous.write_text(head[: head.index("  # On the queue")])
    planned = cli(sandbox, "plan", str(synchronous), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "# endpoint.iris-async must be replaced" in planned.stdout
    assert "cannot update an endpoint from asynchronous inference" in planned.stdout
    # The replaced endpoint, and the autoscaling the synchronous spec no longer has.
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in planned.stdout
    moved = cli(sandbox, "apply", str(synchronous), "--auto-approve")
    assert moved.returncode == 0, moved.stderr
    sync_answer = cli(sandbox, "invoke", str(synchronous), "--body", body)
    assert json.loads(sync_answer.stdout)["predictions"] == SPECIES
    assert cli(sandbox, "plan", str(synchronous), "--detailed-exitcode").returncode == 0

    # A rollback across async is refused before anything changes: it would be an update.
    refused = cli(sandbox, "rollback", str(synchronous), "--auto-approve")
    assert refused.returncode == 1
    assert "asynchronous inference" in refused.stderr

    back = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert back.returncode == 0, back.stderr
    assert "must be replaced" in back.stdout
    again = cli(sandbox, "invoke", str(spec), "--async", "--wait", "--body", body)
    assert json.loads(again.stdout)["predictions"] == SPECIES

    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    _nothing_owned_left(sandbox, "iris-async")


CANARY = """\
realtime:
  instance_type: ml.m5.large
deployment:
  strategy: canary
  canary: {percent: 50, wait: 5m}
  rollback_alarms: [iris-errors]
"""


def test_a_canary_update_rolled_back_by_its_alarm_fails_and_the_next_apply_completes(
    sandbox: dict[str, Any], examples: Path
) -> None:
    iris = examples / "sklearn-iris"
    text = (iris / "deployment.yaml").read_text()
    head = text[: text.index("serverless:")].replace("name: iris", "name: iris-canary")
    spec = iris / "canary.yaml"
    spec.write_text(head + CANARY)
    body = f"@{iris / 'input.json'}"
    first = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert first.returncode == 0, first.stderr

    # A new model (one more environment value), and the alarm trips during its canary bake.
    spec.write_text(
        head.replace("entry_point: inference.py", "entry_point: inference.py\n  env: {V: '2'}")
        + CANARY
    )
    armed = run_cli("sandbox", "fault", "--alarm", "iris-errors", env=sandbox["env"])
    assert armed.returncode == 0, armed.stderr
    failed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert failed.returncode == 1
    assert "iris-errors" in failed.stderr, failed.stderr
    answer = cli(sandbox, "invoke", str(spec), "--body", body)
    assert json.loads(answer.stdout)["predictions"] == SPECIES  # the old fleet serves again
    pending = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert pending.returncode == 2, pending.stdout

    done = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert done.returncode == 0, done.stderr
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0
    assert cli(sandbox, "destroy", str(spec), "--auto-approve").returncode == 0


def _answers(sandbox: dict[str, Any], spec: Path, body: str, *extra: str) -> tuple[Any, str]:
    """The predictions an invocation gets, and which variant answered (stderr)."""
    answered = cli(sandbox, "invoke", str(spec), "--body", body, *extra)
    assert answered.returncode == 0, answered.stderr
    return json.loads(answered.stdout)["predictions"], answered.stderr


def test_two_weighted_variants_answer_and_a_weights_only_change_is_made_in_place(
    sandbox: dict[str, Any], examples: Path
) -> None:
    spec = examples / "sklearn-ab" / "deployment.yaml"
    body = f"@{examples / 'sklearn-ab' / 'input.json'}"
    faults = control.FaultClient(sandbox["info"])
    validated = run_cli("validate", str(spec), env=sandbox["env"])
    assert validated.returncode == 0, validated.stderr
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete!" in applied.stdout

    # Each variant's own model answers, pinned with --variant: the challenger, trained with
    # strong regularisation, mistakes the versicolor for a virginica.
    current, who = _answers(sandbox, spec, body, "--variant", "current")
    assert current == SPECIES and "answered by variant current" in who
    challenger, who = _answers(sandbox, spec, body, "--variant", "challenger")
    assert challenger == ["setosa", "virginica", "virginica"]
    assert "answered by variant challenger" in who
    unknown = cli(sandbox, "invoke", str(spec), "--body", body, "--variant", "nope")
    assert unknown.returncode == 1 and "no variant 'nope'" in unknown.stderr

    status = cli(sandbox, "status", str(spec), "--format", "json")
    report = json.loads(status.stdout)
    assert [(v["variant_name"], v["current_weight"]) for v in report["variants"]] == [
        ("current", 90.0),
        ("challenger", 10.0),
    ]
    assert [s["resource_id"] for s in report["scaling"]] == ["endpoint/iris-ab/variant/current"]
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0

    # Weights only: one UpdateEndpointWeightsAndCapacities, no new config, no new fleet.
    text = spec.read_text()
    even = spec.with_name("even.yaml")
    even.write_text(text.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50"))
    planned = cli(sandbox, "plan", str(even))
    assert "variant current: weight 90 → 50" in planned.stdout, planned.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    faults.clear_calls()
    moved = cli(sandbox, "apply", str(even), "--auto-approve")
    assert moved.returncode == 0, moved.stderr
    writes = [
        c["operation"]
        for c in faults.calls()
        if not c["operation"].startswith(("Describe", "List", "Get", "Head"))
    ]
    assert writes == ["UpdateEndpointWeightsAndCapacities", "AddTags"], writes
    live = json.loads(cli(sandbox, "status", str(even), "--format", "json").stdout)
    assert [v["current_weight"] for v in live["variants"]] == [50.0, 50.0]
    assert cli(sandbox, "plan", str(even), "--detailed-exitcode").returncode == 0
    # A weight changed by hand is put back to the spec's, in place again.
    client(sandbox).update_endpoint_weights_and_capacities(
        EndpointName="iris-ab",
        DesiredWeightsAndCapacities=[{"VariantName": "challenger", "DesiredWeight": 5.0}],
    )
    _wait_in_service(sandbox, "iris-ab")
    drifted = cli(sandbox, "plan", str(even))
    assert "variant challenger: variant weight changed outside deployspec" in drifted.stdout

    # A new model for one variant is a new config, the endpoint updated in place.
    changed = spec.with_name("changed.yaml")
    changed.write_text(
        even.read_text().replace(
            "artifacts: ./model", "artifacts: ./model\n      env: {CHALLENGER: '2'}"
        )
    )
    updated = cli(sandbox, "apply", str(changed), "--auto-approve")
    assert updated.returncode == 0, updated.stderr
    assert "Resources: 2 added, 1 changed" in updated.stdout, updated.stdout
    again, _ = _answers(sandbox, changed, body, "--variant", "challenger")
    assert again == ["setosa", "virginica", "virginica"]
    assert cli(sandbox, "plan", str(changed), "--detailed-exitcode").returncode == 0

    destroyed = cli(sandbox, "destroy", str(changed), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    _nothing_owned_left(sandbox, "iris-ab")


def test_a_shadow_variant_gets_a_copy_of_live_traffic_and_is_promoted_by_a_spec_change(
    sandbox: dict[str, Any], examples: Path
) -> None:
    spec = examples / "sklearn-shadow" / "deployment.yaml"
    body = f"@{examples / 'sklearn-shadow' / 'input.json'}"
    faults = control.FaultClient(sandbox["info"])
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    answer, _ = _answers(sandbox, spec, body)
    assert answer == SPECIES  # the production model answers
    refused = cli(sandbox, "invoke", str(spec), "--body", body, "--variant", "candidate")
    assert refused.returncode == 1 and "is the shadow variant" in refused.stderr
    records = _wait_for(lambda: faults.shadow_records("iris-shadow"))
    assert records[0]["variant"] == "candidate"
    assert json.loads(records[0]["body"])["predictions"] == ["setosa", "virginica", "virginica"]
    status = cli(sandbox, "status", str(spec))
    assert "variant candidate: 1 instance(s), shadow (a copy of live traffic)" in status.stdout

    # Promotion: the candidate's model becomes the production variant's, the shadow goes.
    text = spec.read_text()
    promoted = spec.with_name("promoted.yaml")
    promoted.write_text(
        text[: text.index("shadow:")].replace(
            "artifacts: ../sklearn-iris/model", "artifacts: ../sklearn-ab/model"
        )
    )
    planned = cli(sandbox, "plan", str(promoted))
    assert "shadow_variants.candidate: removed" in planned.stdout, planned.stdout
    moved = cli(sandbox, "apply", str(promoted), "--auto-approve")
    assert moved.returncode == 0, moved.stderr
    answer, _ = _answers(sandbox, promoted, body)
    assert answer == ["setosa", "virginica", "virginica"]
    assert cli(sandbox, "plan", str(promoted), "--detailed-exitcode").returncode == 0
    assert cli(sandbox, "destroy", str(promoted), "--auto-approve").returncode == 0
    _nothing_owned_left(sandbox, "iris-shadow")


def _wait_for(found: Any, timeout: float = 30.0) -> Any:
    """What `found()` returns once it returns something (shadow copies are sent after the
    answer, on the sandbox's own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"nothing after {timeout} s")


def _wait_in_service(sandbox: dict[str, Any], name: str) -> None:
    sm = client(sandbox)
    _wait_for(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService")


def test_a_multi_model_endpoint_serves_each_archive_and_adding_one_needs_no_endpoint_update(
    sandbox: dict[str, Any], examples: Path
) -> None:
    folder = examples / "sklearn-multi-model"
    spec = folder / "deployment.yaml"
    body = f"@{folder / 'input.json'}"
    faults = control.FaultClient(sandbox["info"])
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    first, _ = _answers(sandbox, spec, body, "--target-model", "iris-a")
    assert first == SPECIES
    second, _ = _answers(sandbox, spec, body, "--target-model", "iris-b")
    assert second == ["setosa", "virginica", "virginica"]
    untargeted = cli(sandbox, "invoke", str(spec), "--body", body)
    assert untargeted.returncode == 1
    assert "target model" in untargeted.stderr, untargeted.stderr
    unknown = cli(sandbox, "invoke", str(spec), "--body", body, "--target-model", "nope")
    assert unknown.returncode == 1 and "no model 'nope'" in unknown.stderr
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0

    # A third model: its archive is uploaded, and nothing else changes.
    subprocess.run(
        [
            sys.executable,
            str(examples / "sklearn-iris" / "train.py"),
            "--out",
            "extra",
            "--c",
            "0.3",
        ],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    text = spec.read_text()
    more = spec.with_name("more.yaml")
    more.write_text(
        text.replace(
            "    iris-b: ../sklearn-ab/model\n",
            "    iris-b: ../sklearn-ab/model\n    iris-c: ./extra\n",
        )
    )
    planned = cli(sandbox, "plan", str(more))
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in planned.stdout, planned.stdout
    faults.clear_calls()
    added = cli(sandbox, "apply", str(more), "--auto-approve")
    assert added.returncode == 0, added.stderr
    operations = {c["operation"] for c in faults.calls()}
    assert not operations & {"UpdateEndpoint", "CreateModel", "CreateEndpointConfig"}, operations
    third, _ = _answers(sandbox, more, body, "--target-model", "iris-c")
    assert len(third) == 3

    # iris-b removed: its archive is deleted, and the endpoint no longer serves it.
    fewer = spec.with_name("fewer.yaml")
    fewer.write_text(more.read_text().replace("    iris-b: ../sklearn-ab/model\n", ""))
    removed = cli(sandbox, "apply", str(fewer), "--auto-approve")
    assert removed.returncode == 0, removed.stderr
    assert "0 added, 0 changed, 1 destroyed" in removed.stdout, removed.stdout
    s3 = client(sandbox, "s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(
            Bucket="sagemaker-us-east-1-123456789012", Prefix="deployspec/iris-models/multi-model/"
        ).get("Contents", [])
    ]
    assert sorted(k.split("/")[3] for k in keys) == ["iris-a", "iris-c"], keys
    assert cli(sandbox, "plan", str(fewer), "--detailed-exitcode").returncode == 0

    destroyed = cli(sandbox, "destroy", str(fewer), "--auto-approve", "--purge-artifacts")
    assert destroyed.returncode == 0, destroyed.stderr
    left = s3.list_objects_v2(
        Bucket="sagemaker-us-east-1-123456789012", Prefix="deployspec/iris-models/"
    ).get("Contents", [])
    assert left == []
    _nothing_owned_left(sandbox, "iris-models")
