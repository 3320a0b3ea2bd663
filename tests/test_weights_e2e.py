"""End to end, uncompressed weights (compression: none): the CLI as a separate process against a
private sandbox. A scikit-learn model deployed from its folder's files, its entry point changed
(only code/ is uploaded again, the model copied server-side), and destroy --purge-artifacts
leaving nothing of it in S3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli

BUCKET = "sagemaker-us-east-1-123456789012"
PREFIX = "deployspec/iris-weights/weights/"


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
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/sklearn-iris, trained, with compression: none."""
    root = tmp_path_factory.mktemp("project") / "sklearn-iris"
    shutil.copytree(
        REPO / "examples" / "sklearn-iris", root, ignore=shutil.ignore_patterns("model")
    )
    subprocess.run(
        [sys.executable, str(root / "train.py")], check=True, capture_output=True, cwd=root
    )
    path = root / "deployment.yaml"
    text = path.read_text().replace("name: iris\n", "name: iris-weights\n")
    text = text.replace(
        "  entry_point: inference.py\n", "  entry_point: inference.py\n  compression: none\n"
    )
    path.write_text(text)
    return path


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=180)


def s3_keys(sandbox: dict[str, Any]) -> list[str]:
    make: Callable[..., Any] = boto3.client
    s3 = make(
        "s3",
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted(item["Key"].removeprefix(PREFIX) for item in found)


def test_plan_apply_invoke_change_the_code_and_purge(sandbox: dict[str, Any], spec: Path) -> None:
    body = (spec.parent / "input.json").read_text()
    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "weights." in planned.stdout and "will be uploaded" in planned.stdout
    assert "uploads 2 files" in planned.stdout, planned.stdout
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    keys = s3_keys(sandbox)
    # The container's files under the tree's prefix, the manifest beside it.
    [tree] = {k.split("/", 1)[0] for k in keys if "/" in k}
    assert sorted(keys) == sorted(
        [f"{tree}/code/inference.py", f"{tree}/model.joblib", f"{tree}.manifest.json"]
    )
    answer = cli(sandbox, "invoke", str(spec), "--body", body)
    assert answer.returncode == 0, answer.stderr
    assert len(json.loads(answer.stdout)["predictions"]) == 3, answer.stdout

    # The entry point alone changes: only code/inference.py is uploaded again.
    script = spec.parent / "inference.py"
    script.write_text(script.read_text() + "\n# a comment: a new version of the code\n")
    changed = cli(sandbox, "plan", str(spec))
    assert changed.returncode == 0, changed.stderr
    assert "uploads 1 file" in changed.stdout and "copies 1" in changed.stdout, changed.stdout
    again = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert again.returncode == 0, again.stderr
    assert cli(sandbox, "invoke", str(spec), "--body", body).returncode == 0
    assert cli(sandbox, "plan", str(spec), "--detailed-exitcode").returncode == 0

    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve", "--purge-artifacts")
    assert destroyed.returncode == 0, destroyed.stderr
    assert s3_keys(sandbox) == []
