"""End to end: the CLI as a separate process against the local sandbox (moto's server plus
UpdateEndpoint, state transitions and faults). AWS calls are counted on the server side."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployspec.aws import Gateway
from deployspec.sandbox import control
from tests.conftest import REPO, run_cli

EXAMPLES = REPO / "examples"
READ_PREFIXES = ("Describe", "List", "Get", "Head", "GET ", "HEAD ")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.3, home=home)
    env = {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)}
    try:
        yield {"info": info, "env": env, "faults": control.FaultClient(info)}
    finally:
        control.stop(home)
    assert control.status(home) is None


@pytest.fixture
def sm(sandbox: dict[str, Any]) -> Any:
    sandbox["faults"].reset()
    sandbox["faults"].clear_calls()
    return sandbox_client(sandbox, "sagemaker")


@pytest.fixture(scope="module")
def iris_model(trained_iris_model: Path) -> Path:
    """The example's trained model (read-only: `iris` copies it), trained once per process
    for every module that deploys it."""
    return trained_iris_model


@pytest.fixture
def iris(tmp_path: Path, iris_model: Path) -> Path:
    """A private copy of the scikit-learn example with its trained model."""
    folder = tmp_path / "sklearn-iris"
    shutil.copytree(EXAMPLES / "sklearn-iris", folder, ignore=shutil.ignore_patterns("model"))
    shutil.copytree(iris_model, folder / "model")
    return folder / "deployment.yaml"


def sandbox_client(sandbox: dict[str, Any], service: str) -> Any:
    """A boto3 client of the module's sandbox, to look behind deployspec's back."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def sandbox_gateway(sandbox: dict[str, Any]) -> Gateway:
    """deployspec's own gateway to the module's sandbox."""
    return Gateway.local(
        endpoint_url=sandbox["info"].endpoint_url,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )


def cli(
    sandbox: dict[str, Any], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=timeout)


def calls(sandbox: dict[str, Any]) -> tuple[list[str], list[str]]:
    found = [c["operation"] for c in sandbox["faults"].calls()]
    reads = [op for op in found if op.startswith(READ_PREFIXES)]
    writes = [op for op in found if not op.startswith(READ_PREFIXES)]
    return reads, writes


def owned_names(sm: Any) -> tuple[list[str], list[str]]:
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    models = [m["ModelName"] for m in sm.list_models()["Models"]]
    return sorted(configs), sorted(models)


def example_copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    if name == "pytorch-serverless":
        # The sandbox loads the model for real (torch comes with the llm extra): the
        # TorchScript file its train.py writes, seeded, in a few seconds.
        subprocess.run(
            [sys.executable, str(folder / "train.py"), "--out", str(folder / "model")],
            check=True,
            capture_output=True,
        )
    return folder / "deployment.yaml"


@pytest.mark.parametrize("example", ["sklearn-iris", "pytorch-serverless", "tensorflow-resnet50"])
def test_every_example_plans_applies_and_replans_without_changes(
    example: str, sandbox: dict[str, Any], sm: Any, tmp_path: Path, iris: Path
) -> None:
    spec = iris if example == "sklearn-iris" else example_copy(tmp_path, example)
    empty = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert empty.returncode == 2, empty.stderr
    assert "will be created" in empty.stdout
    assert "Plan: 5 to add, 0 to change, 0 to destroy." in empty.stdout

    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete!" in applied.stdout

    sandbox["faults"].clear_calls()
    again = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.endswith("matches the spec.\n")
    reads, writes = calls(sandbox)
    assert writes == []
    assert len(reads) <= 5, reads

    sandbox["faults"].clear_calls()
    second = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert second.returncode == 0, second.stderr
    assert "No changes." in second.stdout
    assert calls(sandbox)[1] == []


def test_changed_memory_updates_in_place_and_keeps_the_old_config(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    first = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]

    planned = cli(sandbox, "plan", str(iris), "--var", "memory_mb=3072", "--detailed-exitcode")
    assert planned.returncode == 2
    assert "variants.AllTraffic.serverless.memory_mb: 2048 → 3072" in planned.stdout
    assert '~ endpoint "iris"' in planned.stdout
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in planned.stdout

    sandbox["faults"].clear_calls()
    applied = cli(sandbox, "apply", str(iris), "--var", "memory_mb=3072", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    _, writes = calls(sandbox)
    assert "UpdateEndpoint" in writes and "CreateEndpoint" not in writes
    assert "CreateModel" not in writes  # same model, new config only
    live = sm.describe_endpoint(EndpointName="iris")
    assert live["EndpointStatus"] == "InService"
    second = live["EndpointConfigName"]
    assert second != first
    configs, _ = owned_names(sm)
    assert first in configs and second in configs


def test_model_change_creates_new_model_and_config(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    old_model = owned_names(sm)[1]
    script = iris.parent / "inference.py"
    script.write_text(script.read_text() + "\n# a changed script is a new model\n")
    planned = cli(sandbox, "plan", str(iris))
    assert "# model.iris-" in planned.stdout and "will be created" in planned.stdout
    assert "model_data_url:" in planned.stdout
    applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    _, models = owned_names(sm)
    assert len(models) == 2 and set(old_model) < set(models)
    answer = cli(sandbox, "invoke", str(iris), "--body", f"@{iris.parent / 'input.json'}")
    assert answer.returncode == 0, answer.stderr
    assert '"setosa"' in answer.stdout


def test_rolled_back_update_fails_and_old_config_keeps_serving(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    serving = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    sandbox["faults"].fail_next_update("iris", "the canary's 5xx alarm fired")
    failed = cli(sandbox, "apply", str(iris), "--var", "memory_mb=4096", "--auto-approve")
    assert failed.returncode == 1
    assert "was rolled back" in failed.stderr
    assert "the canary's 5xx alarm fired" in failed.stderr
    assert "Traceback" not in failed.stderr
    live = sm.describe_endpoint(EndpointName="iris")
    assert live["EndpointStatus"] == "InService"
    assert live["EndpointConfigName"] == serving
    # The fault is spent: apply again converges.
    retried = cli(sandbox, "apply", str(iris), "--var", "memory_mb=4096", "--auto-approve")
    assert retried.returncode == 0, retried.stderr


def test_failed_create_is_replaced_by_the_next_apply(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    sandbox["faults"].fail_next_create("iris", "CannotStartContainerError")
    failed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert failed.returncode == 1
    assert "is Failed: CannotStartContainerError" in failed.stderr
    planned = cli(sandbox, "plan", str(iris))
    assert '-/+ endpoint "iris"' in planned.stdout
    assert "# forces replacement" in planned.stdout
    fixed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert fixed.returncode == 0, fixed.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] == "InService"


def test_killed_apply_is_completed_by_the_next(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    # Long enough to kill the apply while the endpoint is Creating, however loaded the
    # machine; the resumed apply below waits out the rest of it.
    sandbox["faults"].set_transition_seconds(10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployspec", "apply", str(iris), "--sandbox", "--auto-approve"],
        env={**os.environ, **sandbox["env"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        endpoints = sm.list_endpoints()["Endpoints"]
        if endpoints:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] == "Creating"
    sandbox["faults"].set_transition_seconds(0.3)
    resumed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = cli(sandbox, "plan", str(iris), "--detailed-exitcode")
    assert final.returncode == 0, final.stdout
    configs, models = owned_names(sm)
    assert len(configs) == 1 and len(models) == 1


def test_keep_policy_prunes_only_beyond_keep(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    for memory in ("1024", "2048", "3072", "4096"):
        result = cli(sandbox, "apply", str(iris), "--var", f"memory_mb={memory}", "--auto-approve")
        assert result.returncode == 0, result.stderr
    configs, models = owned_names(sm)
    assert len(configs) == 3  # the current one and keep: 2 previous
    assert len(models) == 1
    serving = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    assert serving in configs


def test_rollback_returns_to_the_previous_config(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    first = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    changed = cli(sandbox, "apply", str(iris), "--var", "memory_mb=3072", "--auto-approve")
    assert changed.returncode == 0
    rolled = cli(sandbox, "rollback", str(iris), "--auto-approve")
    assert rolled.returncode == 0, rolled.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"] == first


def test_destroy_leaves_nothing_owned(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    assert (
        cli(sandbox, "apply", str(iris), "--var", "memory_mb=3072", "--auto-approve").returncode
        == 0
    )
    unowned = sm.create_model(
        ModelName="iris-0123456789",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
    )
    assert unowned
    gone = cli(sandbox, "destroy", str(iris), "--auto-approve")
    assert gone.returncode == 0, gone.stderr
    assert sm.list_endpoints()["Endpoints"] == []
    configs, models = owned_names(sm)
    assert configs == [] and models == ["iris-0123456789"]  # not ours: left alone
    nothing = cli(sandbox, "destroy", str(iris), "--auto-approve")
    assert "Nothing to destroy" in nothing.stdout


def test_saved_plan_applies_exactly_or_refuses_when_stale(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    made = cli(sandbox, "plan", str(iris), "--out", str(saved))
    assert made.returncode == 0 and saved.stat().st_mode & 0o777 == 0o600
    applied = cli(sandbox, "apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    stale = tmp_path / "stale.json"
    assert (
        cli(sandbox, "plan", str(iris), "--var", "memory_mb=3072", "--out", str(stale)).returncode
        == 0
    )
    assert (
        cli(sandbox, "apply", str(iris), "--var", "memory_mb=4096", "--auto-approve").returncode
        == 0
    )
    refused = cli(sandbox, "apply", str(stale))
    assert refused.returncode == 1
    assert "the saved plan is stale" in refused.stderr


def test_endpoint_not_created_by_deployspec_is_refused(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    sm.create_model(
        ModelName="handmade",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
    )
    sm.create_endpoint_config(
        EndpointConfigName="handmade",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "handmade",
                "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1},
            }
        ],
    )
    sm.create_endpoint(EndpointName="iris", EndpointConfigName="handmade")
    refused = cli(sandbox, "plan", str(iris))
    assert refused.returncode == 1
    assert "was not created by deployspec" in refused.stderr
    assert "--adopt" in refused.stderr
    adopted = cli(sandbox, "plan", str(iris), "--adopt")
    assert adopted.returncode == 0
    assert "will be adopted" in adopted.stdout


def test_apply_without_terminal_needs_auto_approve(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    result = cli(sandbox, "apply", str(iris))
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert sm.list_endpoints()["Endpoints"] == []


def test_json_and_markdown_plans(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    import json

    as_json = cli(sandbox, "plan", str(iris), "--format", "json")
    document = json.loads(as_json.stdout)
    assert document["format_version"] == 3
    assert document["summary"] == {"add": 5, "change": 0, "destroy": 0}
    assert [c["action"] for c in document["changes"]][:2] == ["create", "create"]
    markdown = cli(sandbox, "plan", str(iris), "--format", "markdown")
    assert markdown.stdout.startswith("### deployspec plan: `iris`")
    assert "<details>" in markdown.stdout


def test_without_a_sandbox_the_hint_says_how_to_start_one(iris: Path, tmp_path: Path) -> None:
    result = run_cli(
        "plan", str(iris), "--sandbox", env={"DEPLOYSPEC_HOME": str(tmp_path / "nowhere")}
    )
    assert result.returncode == 1
    assert "deployspec sandbox start" in result.stderr


def _realtime(spec: Path, instance_type: str = "ml.m5.large") -> None:
    text = spec.read_text()
    head = text.split("serverless:")[0].split("realtime:")[0]
    spec.write_text(
        head
        + f"realtime:\n  instance_type: {instance_type}\n  instance_count: 1\n"
        + "  autoscaling: {min: 1, max: 3, target_invocations_per_instance: 50}\n"
        + "vars:\n  memory_mb: 2048\n"
    )


def test_autoscaling_registered_after_in_service_and_survives_type_change(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _realtime(iris)
    applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    lines = applied.stderr.splitlines()
    assert lines.index("endpoint.iris: done") < lines.index(
        "scaling.endpoint/iris/variant/AllTraffic: creating"
    )
    scaling = sandbox_client(sandbox, "application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 3)]
    assert cli(sandbox, "plan", str(iris), "--detailed-exitcode").returncode == 0

    # A policy edited by hand is drift, and apply puts it back.
    scaling.put_scaling_policy(
        PolicyName="deployspec-invocations",
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/iris/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 500.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    drift = cli(sandbox, "plan", str(iris))
    assert "changed outside deployspec" in drift.stdout
    assert "target_value: 500.0 → 50.0" in drift.stdout

    _realtime(iris, "ml.m5.xlarge")
    planned = cli(sandbox, "plan", str(iris))
    order = [
        line
        for line in planned.stdout.splitlines()
        if line.startswith(("  # scaling", "  # endpoint."))
    ]
    assert order == [
        "  # scaling.endpoint/iris/variant/AllTraffic will be destroyed",
        "  # endpoint.iris will be updated in-place",
        "  # scaling.endpoint/iris/variant/AllTraffic will be created",
    ]
    changed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert changed.returncode == 0, changed.stderr
    assert cli(sandbox, "plan", str(iris), "--detailed-exitcode").returncode == 0


def test_tag_change_is_applied_in_place(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    iris.write_text(iris.read_text().replace("project: deployspec-examples", "project: renamed"))
    sandbox["faults"].clear_calls()
    applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Resources: 0 added, 3 changed, 0 destroyed." in applied.stdout
    _, writes = calls(sandbox)
    assert set(writes) == {"AddTags"}
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["project"] == "renamed"


def test_throttled_calls_are_retried(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    sandbox["faults"].throttle(0.25, "sagemaker")
    applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    sandbox["faults"].clear()
    assert cli(sandbox, "plan", str(iris), "--detailed-exitcode").returncode == 0


def _read_until(stream: Any, text: str, timeout: float = 120) -> str:
    """What `stream` (a process's pipe) said up to and including `text`, which may end
    without a newline (a prompt)."""
    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} in {seen.decode(errors='replace')!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"ended before {text!r}: {seen.decode(errors='replace')!r}"
            seen += chunk
    return seen.decode()


def test_concurrent_applies_never_issue_conflicting_updates(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    sandbox["faults"].set_transition_seconds(3)
    sandbox["faults"].clear_calls()
    env = {**os.environ, **sandbox["env"], "NO_COLOR": "1"}
    base = [sys.executable, "-m", "deployspec", "apply", str(iris), "--sandbox"]
    # The second apply plans first, then waits at its confirmation prompt (on a terminal, as a
    # person would run it): its plan is made against the endpoint before the first apply moves
    # it, however fast or slow the machine, with no window to hit.
    controller, terminal = pty.openpty()
    try:
        second = subprocess.Popen(
            [*base, "--var", "memory_mb=4096"],
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(terminal)
        planned = _read_until(second.stdout, "Only 'yes' will be accepted")
        assert "Plan: 1 to add, 1 to change, 0 to destroy." in planned
        first = subprocess.Popen(
            [*base, "--var", "memory_mb=3072", "--auto-approve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Approved once the first is about to update: whether the second then finds the
        # endpoint still Updating (and waits for it) or already moved, it must refuse.
        _read_until(first.stderr, "endpoint.iris: updating")
        os.write(controller, b"yes\n")
        _, err1 = first.communicate(timeout=120)
        _, err2 = second.communicate(timeout=120)
    finally:
        os.close(controller)
        sandbox["faults"].set_transition_seconds(0.3)
    assert first.returncode == 0, err1.decode()
    # The second planned against the endpoint the first moved: it saw the endpoint had moved
    # (after waiting for the update, if it was still under way) and refused instead of
    # fighting it.
    assert second.returncode == 1, err2.decode()
    assert "run plan again" in err2.decode() and "Traceback" not in err2.decode()
    writes = [c["operation"] for c in sandbox["faults"].calls()]
    assert writes.count("UpdateEndpoint") == 1
    live = sm.describe_endpoint(EndpointName="iris")
    assert live["EndpointStatus"] == "InService"


def test_plain_aws_endpoint_url_works_without_the_sandbox_flag(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    env = {
        **sandbox["env"],
        "AWS_ENDPOINT_URL": sandbox["info"].endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    planned = run_cli("plan", str(iris), "--detailed-exitcode", env=env)
    assert planned.returncode == 2, planned.stderr
    applied = run_cli("apply", str(iris), "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] == "InService"


def test_a_bad_poll_interval_stops_apply_before_any_write(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    env = {**sandbox["env"], "DEPLOYSPEC_POLL_SECONDS": "soon"}
    refused = run_cli("apply", str(iris), "--sandbox", "--auto-approve", env=env)
    assert refused.returncode == 1, refused.stderr
    assert "DEPLOYSPEC_POLL_SECONDS must be a number of seconds" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert calls(sandbox)[1] == []
    assert sm.list_endpoints()["Endpoints"] == []


def test_status_reports_state_and_match(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    import json

    missing = cli(sandbox, "status", str(iris))
    assert missing.returncode == 0
    assert "endpoint iris: does not exist" in missing.stdout
    assert "matches spec:   no" in missing.stdout
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    live = cli(sandbox, "status", str(iris))
    assert "endpoint iris (us-east-1): InService" in live.stdout
    assert "matches spec:   yes" in live.stdout
    report = json.loads(cli(sandbox, "status", str(iris), "--format", "json").stdout)
    assert report["status"] == "InService" and report["matches_spec"] is True
    assert report["managed_by_deployspec"] is True
    changed = json.loads(
        cli(sandbox, "status", str(iris), "--var", "memory_mb=3072", "--format", "json").stdout
    )
    assert changed["matches_spec"] is False and changed["pending_changes"] == 2


def test_destroy_purges_artifacts_only_when_asked(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    s3 = sandbox_client(sandbox, "s3")
    bucket = "sagemaker-us-east-1-123456789012"
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    assert cli(sandbox, "destroy", str(iris), "--auto-approve").returncode == 0
    assert len(s3.list_objects_v2(Bucket=bucket).get("Contents", [])) == 1
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    purged = cli(sandbox, "destroy", str(iris), "--auto-approve", "--purge-artifacts")
    assert purged.returncode == 0, purged.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []


@pytest.mark.parametrize("refused", [False, True], ids=["rolled-back", "refused-at-once"])
def test_failed_instance_type_change_restores_autoscaling(
    sandbox: dict[str, Any], sm: Any, iris: Path, refused: bool
) -> None:
    """Whether the update fails as it runs or SageMaker refuses UpdateEndpoint itself (a quota,
    say), the scaling taken off for it is put back."""
    _realtime(iris)
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    _realtime(iris, "ml.m5.xlarge")
    if refused:
        sandbox["faults"].refuse_next_update("iris", "instance quota for ml.m5.xlarge exceeded")
    else:
        sandbox["faults"].fail_next_update("iris", "new instances failed health checks")
    failed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert failed.returncode == 1
    assert (
        "instance quota for ml.m5.xlarge exceeded" if refused else "new instances failed"
    ) in failed.stderr
    assert "restored after the failure" in failed.stderr
    scaling = sandbox_client(sandbox, "application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 3)]


def test_secret_references_are_read_when_planning_and_never_shown(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    ssm = sandbox_client(sandbox, "ssm")
    secrets = sandbox_client(sandbox, "secretsmanager")
    ssm.put_parameter(Name="/iris/token", Value="tok-first-1", Type="SecureString")
    arn = secrets.create_secret(Name="iris/db", SecretString='{"password": "pw-first-1"}')["ARN"]
    iris.write_text(
        iris.read_text().replace(
            "  entry_point: inference.py\n",
            "  entry_point: inference.py\n  env:\n"
            "    API_TOKEN: {ssm: /iris/token}\n"
            f"    DB_PASSWORD: {{secretsmanager: '{arn}', json_key: password}}\n",
        )
    )
    for fmt in ("text", "json", "markdown"):
        shown = cli(sandbox, "plan", str(iris), "--format", fmt)
        assert shown.returncode == 0, shown.stderr
        assert "(sensitive)" in shown.stdout
        assert "tok-first-1" not in shown.stdout + shown.stderr
        assert "pw-first-1" not in shown.stdout + shown.stderr
    applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "tok-first-1" not in applied.stdout + applied.stderr
    [model] = owned_names(sm)[1]
    environment = sm.describe_model(ModelName=model)["PrimaryContainer"]["Environment"]
    assert environment["API_TOKEN"] == "tok-first-1"
    assert environment["DB_PASSWORD"] == "pw-first-1"

    ssm.put_parameter(Name="/iris/token", Value="tok-second-2", Type="SecureString", Overwrite=True)
    sandbox["faults"].clear_calls()
    rotated = cli(sandbox, "plan", str(iris), "--detailed-exitcode")
    assert rotated.returncode == 2, rotated.stderr
    assert "environment.API_TOKEN: (sensitive) changed" in rotated.stdout
    assert "tok-" not in rotated.stdout + rotated.stderr
    reads, writes = calls(sandbox)
    assert writes == [] and {"GetParameter", "GetSecretValue"} <= set(reads)
