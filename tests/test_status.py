"""`status` is cheap and read-only, and says what the endpoint runs and what would change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
