"""deployspec against private sandboxes, end to end: a model that does not load fails `apply`
as SageMaker's health check fails the endpoint; saved plans and `make demo` use their own
sandbox and nobody else's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.test_e2e import cli, iris, iris_model, sandbox, sm

__all__ = ["iris", "iris_model", "sandbox", "sm"]  # fixtures, used by name

HEALTH_CHECK = (
    "The primary container for production variant AllTraffic did not pass the ping health "
    "check. Please check CloudWatch logs for this endpoint."
)


def _break(spec: Path, script: str) -> None:
    (spec.parent / "inference.py").write_text(script)


def test_a_model_that_does_not_import_fails_the_create(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    # It was reported InService, failing only at the first invoke.
    _break(iris, "from joblib import no_such_name\n\ndef model_fn(model_dir):\n    return 1\n")
    failed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert HEALTH_CHECK in failed.stderr
    assert "Traceback" not in failed.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] == "Failed"


def test_a_model_fn_that_raises_rolls_the_update_back(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    serving = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    _break(iris, "def model_fn(model_dir):\n    raise FileNotFoundError('model.joblib')\n")
    failed = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "was rolled back" in failed.stderr
    assert HEALTH_CHECK in failed.stderr
    live = sm.describe_endpoint(EndpointName="iris")
    assert (live["EndpointStatus"], live["EndpointConfigName"]) == ("InService", serving)
    body = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
    answer = cli(sandbox, "invoke", str(iris), "--body", body)
    assert answer.returncode == 0, answer.stderr
    assert "setosa" in answer.stdout  # the old model still answers


def test_a_plan_saved_against_the_sandbox_applies_as_its_hint_says(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    made = cli(sandbox, "plan", str(iris), "--out", str(saved))
    assert made.returncode == 0, made.stderr
    hint = f"apply it with `deployspec apply {saved}`"
    assert hint in made.stderr
    # As printed: no --sandbox, no DEPLOYSPEC_SANDBOX; the plan says where it was made.
    applied = run_cli("apply", str(saved), env=sandbox["env"])
    assert applied.returncode == 0, applied.stderr
    assert sm.describe_endpoint(EndpointName="iris")["EndpointStatus"] == "InService"


def test_make_demo_runs_its_own_sandbox_beside_ours(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    """`make demo` while another sandbox runs in the default home: the demo neither deploys
    into it nor stops it (it did both when every sandbox shared ~/.deployspec)."""
    home = Path(sandbox["env"]["DEPLOYSPEC_HOME"])
    ours = control.status(home)
    assert ours is not None
    # The demo's default home is this test's sandbox home: HOME/.deployspec.
    (tmp_path / ".deployspec").symlink_to(home, target_is_directory=True)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "DEPLOYSPEC_CACHE_DIR": sandbox["env"]["DEPLOYSPEC_CACHE_DIR"],
        "NO_COLOR": "1",
    }
    env.pop("DEPLOYSPEC_HOME", None)
    # The demo trains into examples/*/model beside itself: run from a copy of what it uses, so
    # that it never writes into this checkout while other tests (other xdist workers) read it.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "demo.py", checkout / "scripts" / "demo.py")
    shutil.copytree(
        REPO / "examples",
        checkout / "examples",
        ignore=shutil.ignore_patterns("model", "__pycache__"),
    )
    before = _files(REPO / "examples")
    demo = subprocess.run(
        [sys.executable, str(checkout / "scripts" / "demo.py")],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Demo complete" in demo.stdout
    assert control.status(home) == ours  # still running, untouched
    assert ours.endpoint_url not in demo.stdout + demo.stderr
    assert "DEPLOYSPEC_HOME=" in demo.stdout
    assert _files(REPO / "examples") == before  # nothing trained into this checkout


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root`: when it was last written, and its size."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return found
