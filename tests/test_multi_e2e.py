"""Many specs end to end: the CLI as a separate process against this module's own sandbox,
over a folder of serverless iris specs, one of them broken and two naming one endpoint."""

# The fixtures imported from test_e2e are named again by the tests that use them.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.test_e2e import (  # noqa: F401 - pytest finds the fixtures by name
    EXAMPLES,
    calls,
    cli,
    iris_model,
    sandbox,
    sm,
)
from tests.test_multi import GIT_ENV, git

GOOD = ("alpha", "beta", "gamma")


def iris_spec(folder: Path, model: Path, name: str, file: str = "deployment.yaml") -> Path:
    """A private copy of the scikit-learn example, deploying endpoint `name`."""
    folder.mkdir(parents=True)
    for part in ("inference.py", "input.json"):
        shutil.copy(EXAMPLES / "sklearn-iris" / part, folder / part)
    shutil.copytree(model, folder / "model")
    text = (EXAMPLES / "sklearn-iris" / "deployment.yaml").read_text()
    spec = folder / file
    spec.write_text(text.replace("name: iris\n", f"name: {name}\n"))
    return spec


@pytest.fixture
def fleet(tmp_path: Path, iris_model: Path) -> Path:
    """specs/: three good specs, a broken one, and two files naming endpoint iris-twin."""
    root = tmp_path / "specs"
    for name in GOOD:
        iris_spec(root / name, iris_model, f"iris-{name}")
    broken = root / "broken" / "deployment.yaml"
    broken.parent.mkdir()
    broken.write_text("name: Broken_Name\nrole: nope\n")
    iris_spec(root / "twin-1", iris_model, "iris-twin")
    iris_spec(root / "twin-2", iris_model, "iris-twin", "second.deploy.yaml")
    return root


def headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("==> ")]


def in_folder(
    sandbox: dict[str, Any], folder: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The CLI run from `folder`, so that the files it shows are relative to it."""
    return run_cli(*args, "--sandbox", cwd=folder, env={**sandbox["env"], **GIT_ENV})


def test_a_folder_plans_each_spec_reports_errors_and_collisions_and_sums_up(
    sandbox: dict[str, Any], sm: Any, fleet: Path
) -> None:
    root = fleet.parent
    planned = in_folder(sandbox, root, "plan", "specs")
    assert planned.returncode == 1, planned.stderr
    assert headers(planned.stdout) == [
        "==> specs/alpha/deployment.yaml: endpoint iris-alpha (us-east-1) <==",
        "==> specs/beta/deployment.yaml: endpoint iris-beta (us-east-1) <==",
        "==> specs/broken/deployment.yaml <==",
        "==> specs/gamma/deployment.yaml: endpoint iris-gamma (us-east-1) <==",
        "==> specs/twin-1/deployment.yaml: endpoint iris-twin (us-east-1) <==",
        "==> specs/twin-2/second.deploy.yaml: endpoint iris-twin (us-east-1) <==",
    ]
    assert planned.stdout.count("Plan: 5 to add, 0 to change, 0 to destroy.") == 3
    assert "specs/broken/deployment.yaml:1:7: name: 'Broken_Name'" in planned.stdout
    assert (
        "error: specs/twin-1/deployment.yaml collides with specs/twin-2/second.deploy.yaml: "
        "the same endpoint iris-twin (us-east-1)"
    ) in planned.stdout
    assert "error: specs/twin-2/second.deploy.yaml collides with specs/twin-1/" in planned.stdout
    assert planned.stdout.endswith("\n3 specs with changes, 0 unchanged, 3 errors\n")
    assert "Traceback" not in planned.stderr
    # An error is an error, with or without --detailed-exitcode.
    detailed = in_folder(sandbox, root, "plan", "specs", "--detailed-exitcode")
    assert detailed.returncode == 1
    assert detailed.stdout == planned.stdout

    # The colliding specs were refused before any state was read: the same calls as planning
    # the three good specs alone.
    sandbox["faults"].clear_calls()
    in_folder(sandbox, root, "plan", "specs")
    with_all = Counter(calls(sandbox)[0])
    sandbox["faults"].clear_calls()
    alone = in_folder(sandbox, root, "plan", *(f"specs/{n}" for n in GOOD), "--detailed-exitcode")
    assert alone.returncode == 2, alone.stdout + alone.stderr
    assert with_all == Counter(calls(sandbox)[0])
    assert calls(sandbox)[1] == []

    as_json = in_folder(sandbox, root, "plan", "specs", "--format", "json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["summary"] == {"with_changes": 3, "unchanged": 0, "errors": 3}
    assert [s["file"] for s in document["specs"]][:3] == [
        "specs/alpha/deployment.yaml",
        "specs/beta/deployment.yaml",
        "specs/broken/deployment.yaml",
    ]
    assert document["specs"][0]["plan"]["summary"] == {"add": 5, "change": 0, "destroy": 0}
    assert "Broken_Name" in document["specs"][2]["error"]["message"]
    assert "iris-twin" in document["specs"][4]["error"]["message"]

    markdown = in_folder(sandbox, root, "plan", "specs", "--format", "markdown")
    assert markdown.stdout.startswith("<!-- deployspec-plan -->\n")
    assert "| `specs/broken/deployment.yaml` |  | **error** |" in markdown.stdout
    assert markdown.stdout.count("<details><summary><code>specs/") == 6


def test_apply_refuses_everything_when_one_spec_cannot_be_planned(
    sandbox: dict[str, Any], sm: Any, fleet: Path
) -> None:
    sandbox["faults"].clear_calls()
    refused = in_folder(sandbox, fleet.parent, "apply", "specs", "--auto-approve")
    assert refused.returncode == 1
    assert "error: nothing applied: 3 of 6 specs could not be planned" in refused.stderr
    assert refused.stdout.endswith("3 specs with changes, 0 unchanged, 3 errors\n")
    assert calls(sandbox)[1] == []  # not one write
    assert sm.list_endpoints()["Endpoints"] == []


def test_apply_many_then_plan_again_shows_no_changes(
    sandbox: dict[str, Any], sm: Any, fleet: Path, iris_model: Path
) -> None:
    root = fleet.parent
    for extra in ("broken", "twin-1", "twin-2"):
        shutil.rmtree(fleet / extra)
    applied = in_folder(sandbox, root, "apply", "specs", "--auto-approve", "--parallelism", "2")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.endswith("Apply finished: 3 succeeded, 0 failed.\n")
    for name in GOOD:
        assert (
            f"specs/{name}/deployment.yaml: Apply complete! Resources: 5 added, 0 changed, "
            f"0 destroyed. Endpoint iris-{name} is InService."
        ) in applied.stdout
    # Progress from applies running at once: every line says whose it is.
    progress = [line for line in applied.stderr.splitlines() if line]
    assert progress and all(
        line.startswith(tuple(f"iris-{n}: " for n in GOOD)) for line in progress
    )
    assert {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]} == {
        f"iris-{n}" for n in GOOD
    }

    sandbox["faults"].clear_calls()
    again = in_folder(sandbox, root, "plan", "specs", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.endswith("\n0 specs with changes, 3 unchanged, 0 errors\n")
    reads, writes = calls(sandbox)
    assert writes == []
    # Two reads a spec, and the session (account) paid once for all.
    assert len(reads) <= 2 * len(GOOD) + 1, reads

    # A fifth of all calls throttled: botocore's adaptive retries absorb it, same plans.
    sandbox["faults"].throttle(0.2, None)
    try:
        throttled = in_folder(sandbox, root, "plan", "specs", "--detailed-exitcode")
    finally:
        sandbox["faults"].clear()
    assert throttled.returncode == 0, throttled.stderr
    assert throttled.stdout == again.stdout

    status = in_folder(sandbox, root, "status", "specs", "--format", "json")
    assert status.returncode == 0, status.stderr
    reports = json.loads(status.stdout)
    assert [r["file"] for r in reports] == [f"specs/{n}/deployment.yaml" for n in GOOD]
    assert all(r["matches_spec"] is True and r["status"] == "InService" for r in reports)

    # --changed-since: only the spec whose inference script changed is planned.
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fleet")
    script = fleet / "beta" / "inference.py"
    script.write_text(script.read_text() + "\n# changed\n")
    changed = in_folder(sandbox, root, "plan", "--changed-since", "main", "--detailed-exitcode")
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert headers(changed.stdout) == [
        "==> specs/beta/deployment.yaml: endpoint iris-beta (us-east-1) <=="
    ]
    assert changed.stdout.endswith("\n1 spec with changes, 0 unchanged, 0 errors\n")

    # On a branch, another team's new spec names iris-alpha, which specs/alpha deploys and
    # which did not change: compared all the same, it is refused by every command, and
    # nothing is written (apply would have taken the endpoint over, destroy deleted it).
    git(root, "commit", "-q", "-am", "beta's script")
    git(root, "checkout", "-q", "-b", "team2")
    iris_spec(fleet / "team2" / "dup", iris_model, "iris-alpha")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "team2 deploys iris-alpha")
    taken = (
        "error: specs/team2/dup/deployment.yaml collides with specs/alpha/deployment.yaml: "
        "the same endpoint iris-alpha (us-east-1)"
    )
    sandbox["faults"].clear_calls()
    for command in ("plan", "apply", "destroy", "status", "validate"):
        args = ("--auto-approve",) if command in ("apply", "destroy") else ()
        if command == "validate":
            refused = run_cli(command, "--changed-since", "main", cwd=root, env=GIT_ENV)
        else:
            refused = in_folder(sandbox, root, command, "--changed-since", "main", *args)
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
        assert taken.removesuffix(" (us-east-1)") in refused.stdout + refused.stderr, command
        if command == "plan":
            assert taken in refused.stdout
            assert headers(refused.stdout) == [
                "==> specs/team2/dup/deployment.yaml: endpoint iris-alpha (us-east-1) <=="
            ]
            assert refused.stdout.endswith("\n0 specs with changes, 0 unchanged, 1 error\n")
    assert calls(sandbox)[1] == []  # not one write
    alpha = sm.describe_endpoint(EndpointName="iris-alpha")
    assert alpha["EndpointStatus"] == "InService"
    shutil.rmtree(fleet / "team2")

    destroyed = in_folder(sandbox, root, "destroy", "specs", "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "3 specs to destroy, 0 owning nothing, 0 errors" in destroyed.stdout
    assert destroyed.stdout.endswith("Destroy finished: 3 succeeded, 0 failed.\n")
    assert sm.list_endpoints()["Endpoints"] == []


def test_one_failed_apply_stops_no_other(sandbox: dict[str, Any], sm: Any, fleet: Path) -> None:
    root = fleet.parent
    for extra in ("broken", "twin-1", "twin-2"):
        shutil.rmtree(fleet / extra)
    sandbox["faults"].fail_next_create("iris-beta", "image cannot be pulled")
    applied = in_folder(sandbox, root, "apply", "specs", "--auto-approve")
    assert applied.returncode == 1
    assert applied.stdout.endswith("Apply finished: 2 succeeded, 1 failed.\n")
    assert "specs/beta/deployment.yaml: apply failed for iris-beta:" in applied.stdout
    assert "iris-beta: failed: " in applied.stderr
    statuses = {e["EndpointName"]: e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]}
    assert statuses["iris-alpha"] == statuses["iris-gamma"] == "InService"
    assert statuses["iris-beta"] == "Failed"


def test_one_spec_named_keeps_the_one_spec_output(
    sandbox: dict[str, Any], sm: Any, fleet: Path
) -> None:
    spec = fleet / "alpha" / "deployment.yaml"
    one = cli(sandbox, "plan", str(spec))
    assert one.returncode == 0
    assert headers(one.stdout) == [] and "specs with changes" not in one.stdout
    assert one.stdout.endswith("Plan: 5 to add, 0 to change, 0 to destroy.\n")
    folder = cli(sandbox, "plan", str(fleet / "alpha"))
    assert headers(folder.stdout) == [f"==> {spec}: endpoint iris-alpha (us-east-1) <=="]
    assert os.path.basename(folder.stdout.splitlines()[-1]) == (
        "1 spec with changes, 0 unchanged, 0 errors"
    )
