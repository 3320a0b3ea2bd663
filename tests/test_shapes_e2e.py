"""End to end, the endpoint shapes beyond one synchronous variant: the CLI as a separate process
against a private sandbox, with real predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli

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
    for name in ("sklearn-iris", "sklearn-async"):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("model"))
    subprocess.run(
        [sys.executable, str(root / "sklearn-iris" / "train.py")],
        check=True,
        capture_output=True,
        cwd=root / "sklearn-iris",
    )
    return root


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=180)


def sagemaker(sandbox: dict[str, Any]) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


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

    # Without async: the same endpoint name, replaced (UpdateEndpoint cannot remove it).
    text = spec.read_text()
    synchronous = spec.with_name("sync.yaml")
    synchronous.write_text(text[: text.index("async:")])
    planned = cli(sandbox, "plan", str(synchronous), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "# endpoint.iris-async must be replaced" in planned.stdout
    assert "cannot update an endpoint from asynchronous inference" in planned.stdout
    assert "Plan: 2 to add, 0 to change, 1 to destroy." in planned.stdout
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
    sm = sagemaker(sandbox)
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


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
