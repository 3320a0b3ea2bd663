"""`status` is cheap and read-only, and says what the endpoint runs and what would change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deployspec.errors import DeployspecError
from deployspec.operations import component_target
from deployspec.spec import load_spec
from tests.conftest import run_cli
from tests.test_e2e import calls, cli, iris, iris_model, sandbox, sm

__all__ = ["iris", "iris_model", "sandbox", "sm"]  # fixtures, used by name


def _archives(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.tar.gz"))


def test_status_never_packages_and_shows_what_is_served(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    live = cli(sandbox, "status", str(iris))
    assert live.returncode == 0, live.stderr
    assert "serving:        model iris-" in live.stdout
    assert "serverless, 2048 MB, up to 5 concurrent requests" in live.stdout

    cache = Path(sandbox["env"]["DEPLOYSPEC_CACHE_DIR"])
    before = _archives(cache)
    (iris.parent / "model" / "extra.txt").write_text("changed model files")
    sandbox["faults"].clear_calls()
    changed = cli(sandbox, "status", str(iris))
    assert changed.returncode == 0, changed.stderr
    assert "matches spec:   unknown (the model files of" in changed.stdout
    assert "InService" in changed.stdout and "serverless, 2048 MB" in changed.stdout
    assert _archives(cache) == before  # nothing was packaged
    assert calls(sandbox)[1] == []
    report = json.loads(cli(sandbox, "status", str(iris), "--format", "json").stdout)
    assert report["matches_spec"] is None and "matches_spec_unknown_because" in report


def test_status_lists_each_pending_change_with_its_reasons(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    changed = cli(sandbox, "status", str(iris), "--var", "memory_mb=3072")
    assert "matches spec:   no: 2 resources to change" in changed.stdout
    assert "variants.AllTraffic.serverless.memory_mb: 2048 → 3072" in changed.stdout


COMPONENTS_SPEC = """\
name: duo
region: us-east-1
role: arn:aws:iam::123456789012:role/SageMakerExecution
realtime:
  instance_type: ml.m5.xlarge
  managed_scaling: {min: 1, max: 2}
components:
  - name: first
    model: {framework: sklearn, version: "1.9-0", artifacts: ./model, entry_point: inference.py}
    compute: {cpu_cores: 1, memory_mb: 1024}
    copies: {{ copies }}
  - name: second
    model: {framework: sklearn, version: "1.9-0", artifacts: ./model, entry_point: second.py}
    compute: {cpu_cores: 1, memory_mb: 1024}
vars:
  copies: 1
"""


def test_status_lists_components_and_each_is_invoked_by_its_name(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    """An endpoint of inference components: status shows each component's copies and
    compute and the instances SageMaker scales; an unchanged plan reads the endpoint, its
    tags, the component listing and each component once; `invoke --component` reaches each."""
    folder = iris.parent
    (folder / "second.py").write_text((folder / "inference.py").read_text())
    spec = folder / "components.yaml"
    spec.write_text(COMPONENTS_SPEC)
    # Polled often: the components' Creating is what this test waits for.
    fast = {**sandbox["env"], "DEPLOYSPEC_POLL_SECONDS": "0.2"}
    applied = run_cli("apply", str(spec), "--auto-approve", "--sandbox", env=fast)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    try:
        sandbox["faults"].clear_calls()
        unchanged = cli(sandbox, "plan", str(spec))
        assert "No changes" in unchanged.stdout, unchanged.stdout
        reads, writes = calls(sandbox)
        assert writes == []
        assert sorted(reads) == sorted(
            ["DescribeEndpoint", "ListTags", "ListInferenceComponents"]
            + ["DescribeInferenceComponent"] * 2
        )

        shown = cli(sandbox, "status", str(spec), "--var", "copies=2")
        assert shown.returncode == 0, shown.stderr
        assert "serving:        inference components: ml.m5.xlarge x1" in shown.stdout
        assert "instances:    1-2, managed by SageMaker" in shown.stdout
        assert (
            "component first (duo-first): InService, 1 of 1 copies, each 1 CPU core, "
            "1024 MB memory" in shown.stdout
        )
        assert "component second (duo-second): InService" in shown.stdout
        assert "inference_component.duo-first: copy count alone" in shown.stdout
        report = json.loads(cli(sandbox, "status", str(spec), "--format", "json").stdout)
        assert report["managed_scaling"] == {"min_instance_count": 1, "max_instance_count": 2}
        first = report["components"][0]
        assert (first["name"], first["inference_component"], first["copies"]) == (
            "first",
            "duo-first",
            {"desired": 1, "current": 1},
        )
        assert first["compute"]["cpu_cores"] == 1.0 and first["managed_by_deployspec"]
        # A CPU type: no accelerators to reserve, and none the instances have.
        assert report["instance_usage"] == {
            "instance_type": "ml.m5.xlarge",
            "instances": 1,
            "copies": 2,
            "accelerators": {"reserved": 0, "available": 0},
            "cpu_cores": 2.0,
            "memory_mb": 2048,
        }

        body = f"@{folder / 'input.json'}"
        for name in ("first", "second"):
            answered = cli(sandbox, "invoke", str(spec), "--component", name, "--body", body)
            assert answered.returncode == 0, answered.stderr
            assert "predictions" in answered.stdout
        loaded = load_spec(spec)
        with pytest.raises(DeployspecError) as unnamed:
            component_target(loaded, None)
        assert unnamed.value.hint == "pass --component NAME, one of: first, second"
        with pytest.raises(DeployspecError, match="the spec has no component 'third'"):
            component_target(loaded, "third")
    finally:
        destroyed = run_cli("destroy", str(spec), "--auto-approve", "--sandbox", env=fast)
        assert destroyed.returncode == 0, destroyed.stderr
