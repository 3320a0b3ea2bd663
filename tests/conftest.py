"""Shared fixtures: spec files written into a temporary project folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

VALID_SKLEARN = """\
name: iris
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: sklearn
  version: "1.2-1"
  artifacts: ./model
  entry_point: inference.py
serverless:
  memory_mb: 2048
  max_concurrency: 5
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding what VALID_SKLEARN points at."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"not really a model")
    (tmp_path / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    return tmp_path


@pytest.fixture
def write_spec(project: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "deployment.yaml") -> Path:
        path = project / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: a separate process, its exit code and both streams."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "deployspec", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, region: str) -> None:
    """No AWS setting of the machine reaches a test: fake static credentials, no config files."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
