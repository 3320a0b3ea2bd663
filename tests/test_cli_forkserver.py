"""The tests' CLI fork server (`tests/cli_forkserver.py`): a forked run is the run a plain
subprocess makes, process for process; only the imports are done before it starts."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import VALID_SKLEARN, _forkserver, run_cli


def _spawned(
    monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    with monkeypatch.context() as patch:
        patch.setenv("DEPLOYSPEC_TEST_SPAWN", "1")
        return run_cli(*args, cwd=cwd)


def test_a_forked_run_answers_as_a_spawned_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "good.yaml").write_text(VALID_SKLEARN)
    (project / "bad.yaml").write_text(VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: 9"))
    for args in (
        ("validate", "good.yaml"),
        ("validate", "good.yaml", "bad.yaml"),
        ("--debug", "validate", "missing.yaml"),
        ("plan", "good.yaml", "--no-such-option"),
    ):
        forked = run_cli(*args, cwd=project)
        spawned = _spawned(monkeypatch, *args, cwd=project)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            spawned.returncode,
            spawned.stdout,
            spawned.stderr,
        ), args
    assert run_cli("validate", "bad.yaml", cwd=project).returncode == 1


def test_each_run_has_its_own_environment_and_folder(tmp_path: Path) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\x00\x01\x02")
    # --debug sets DEPLOYSPEC_DEBUG in its own process: the next run does not inherit it.
    assert "Traceback" in run_cli("--debug", "validate", str(junk)).stderr
    assert "Traceback" not in run_cli("validate", str(junk)).stderr
    assert "Traceback" in run_cli("validate", str(junk), env={"DEPLOYSPEC_DEBUG": "1"}).stderr
    # A relative spec path is found from the run's own working directory.
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "deployment.yaml").write_text("name: [")
    inside = run_cli("validate", "deployment.yaml", cwd=tmp_path / "here")
    assert "file not found" not in inside.stderr
    assert inside.returncode == 1
    assert "file not found" in run_cli("validate", "deployment.yaml", cwd=tmp_path).stderr
    server = _forkserver()
    assert server.process.poll() is None


def test_a_run_past_its_timeout_is_killed(tmp_path: Path) -> None:
    # A server that takes the connection and never answers: the CLI waits on it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    (tmp_path / "deployment.yaml").write_text(VALID_SKLEARN)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli(
            "invoke", "deployment.yaml", "--local", "--local-url", url, "--body", "{}",
            cwd=tmp_path, timeout=2,
        )  # fmt: skip
    assert time.monotonic() - started < 10
    silent.close()
    # The server still serves the next run.
    assert run_cli("--help").returncode == 0
