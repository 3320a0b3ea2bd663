"""The spec commands as users run them: separate processes, exit codes, no tracebacks."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from deployspec.cli import _long_running
from deployspec.schema import json_schema
from tests.conftest import REPO, VALID_SKLEARN, run_cli


def test_validate_valid_and_invalid_files(project: Path) -> None:
    good = project / "good.yaml"
    good.write_text(VALID_SKLEARN)
    bad = project / "bad.yaml"
    bad.write_text(VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: 100"))
    ok = run_cli("validate", str(good))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{good}: valid (iris: sklearn 1.2-1, serverless 2048 MB)"
    both = run_cli("validate", str(good), str(bad))
    assert both.returncode == 1
    assert f"{good}: valid" in both.stdout
    assert both.stderr.startswith(f"{bad}:9:14: serverless.memory_mb: 100 is not allowed")
    assert "Traceback" not in both.stderr


def test_no_traceback_for_any_bad_input_unless_debug(project: Path) -> None:
    junk = project / "junk.yaml"
    junk.write_bytes(b"\x00\x01\x02")
    plain = run_cli("validate", str(junk), str(project / "missing.yaml"), str(project))
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert f"{project / 'missing.yaml'}: file not found" in plain.stderr
    debug = run_cli("--debug", "validate", str(junk))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_var_flags(project: Path) -> None:
    spec = project / "d.yaml"
    spec.write_text(
        VALID_SKLEARN.replace("name: iris", "name: iris-{{ stage }}") + "vars: {stage: dev}\n"
    )
    result = run_cli("validate", str(spec), "--var", "stage=prod")
    assert result.returncode == 0, result.stderr
    assert "(iris-prod:" in result.stdout
    result = run_cli("validate", str(spec), "--var", "stage")
    assert result.returncode == 1
    assert "'stage' is not NAME=VALUE" in result.stderr
    # A misspelt name would otherwise be ignored, and its variable keep its default.
    result = run_cli("validate", str(spec), "--var", "stgae=prod")
    assert result.returncode == 1
    assert result.stderr.startswith(f"--var: 'stgae' is not a variable of {spec}")
    assert "did you mean 'stage'?" in result.stderr and "prod" not in result.stderr


def test_usage_errors_exit_1_not_2() -> None:
    result = run_cli("validate")
    assert result.returncode == 1
    assert "Missing argument" in result.stderr


def test_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and "deployspec" in version.stdout
    commands: tuple[list[str], ...] = (
        [],
        ["validate"],
        ["schema"],
        ["init"],
        ["completion"],
        ["plan"],
        ["apply"],
        ["destroy"],
        ["status"],
        ["rollback"],
        ["invoke"],
        ["serve"],
        ["sandbox"],
        ["sandbox", "start"],
        ["sandbox", "stop"],
        ["sandbox", "status"],
        ["sandbox", "fault"],
    )
    for command in commands:
        result = run_cli(*command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage:" in result.stdout


def test_completion_script() -> None:
    result = run_cli("completion", "bash")
    assert result.returncode == 0
    assert "_DEPLOYSPEC_COMPLETE" in result.stdout


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "schemas" / "deployment.schema.json").read_text())
    assert committed == json_schema(), "run `make schema` and commit the result"
    printed = run_cli("schema")
    assert json.loads(printed.stdout) == committed


def test_schema_documents_fields() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    memory = schema["$defs"]["Serverless"]["properties"]["memory_mb"]
    assert memory["default"] == 2048 and memory["enum"] == [1024, 2048, 3072, 4096, 5120, 6144]
    assert "description" in schema["properties"]["name"]


def test_init_writes_a_spec_that_validates_once_the_model_is_in_place(tmp_path: Path) -> None:
    model_files = {
        "sklearn": "model.joblib",
        "pytorch": "model.pth",
        "tensorflow": "saved_model.pb",
        "xgboost": "xgboost-model",
    }
    for framework, model_file in model_files.items():
        target = tmp_path / framework
        created = run_cli("init", "--framework", framework, str(target))
        assert created.returncode == 0, created.stderr
        # As `init` says next: the folder it makes is empty until the model is put there,
        # and plan could not package it.
        spec = target / "deployment.yaml"
        empty = run_cli("validate", str(spec))
        assert empty.returncode == 1
        assert "model.artifacts: the artifacts folder" in empty.stderr, empty.stderr
        assert "holds no files" in empty.stderr
        # TensorFlow Serving's SavedModel sits in a numeric version folder.
        folder = target / ("model/1" if framework == "tensorflow" else "model")
        (folder / model_file).write_bytes(b"weights")
        checked = run_cli("validate", str(spec))
        assert checked.returncode == 0, checked.stderr
    again = run_cli("init", "--framework", "sklearn", str(tmp_path / "sklearn"))
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr


def test_validate_and_help_do_not_import_heavy_modules(project: Path) -> None:
    spec = project / "d.yaml"
    # `{{ name }}` alone needs no Jinja either.
    spec.write_text(
        VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: {{ memory }}")
        + "vars: {memory: 2048}\n"
    )
    probe = (
        "import sys; from deployspec.cli import main\n"
        "try:\n    main(['validate', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('boto3', 'botocore', 'sagemaker', 'sagemaker.core', 'pandas', "
        "'jinja2') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, check=False
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_the_process_entry_collects_garbage_only_once_a_command_runs_long() -> None:
    probe = (
        "import gc, weakref\n"
        "from deployspec import cli\n"
        "class Node:\n"
        "    pass\n"
        "seen = []\n"
        "def command(argv=None):\n"
        "    seen.append(gc.isenabled())\n"
        "    node = Node()\n"
        "    node.itself = node\n"
        "    seen.append(weakref.ref(node))\n"
        "    del node\n"
        "    cli._long_running()\n"
        "    seen.append(gc.isenabled())\n"
        "cli.main = command\n"
        "cli.run()\n"
        "print('SEEN', seen[0], seen[2], gc.get_freeze_count() > 0, gc.isenabled())\n"
        "print('CYCLE', 'collected' if seen[1]() is None else 'kept')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert "SEEN False True True True" in result.stdout, result.stdout + result.stderr
    # Garbage from loading is collected, not frozen with what is still in use.
    assert "CYCLE collected" in result.stdout, result.stdout + result.stderr


def test_long_running_leaves_an_embedding_process_alone() -> None:
    # main() called in-process (tests, other tools) keeps the caller's collector as it is.
    frozen = gc.get_freeze_count()
    _long_running()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        _long_running()
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_init_refuses_a_name_sagemaker_would_refuse(tmp_path: Path) -> None:
    result = run_cli("init", "--name", "bad_name", str(tmp_path / "x"))
    assert result.returncode == 1
    assert "cannot name a SageMaker endpoint" in result.stderr


def test_bad_ports_and_urls_are_usage_errors(project: Path) -> None:
    spec = project / "d.yaml"
    spec.write_text(VALID_SKLEARN)
    for args in (
        ["serve", str(spec), "--port", "70000"],
        ["sandbox", "start", "--port", "70000"],
        ["invoke", str(spec), "--local", "--local-url", "notaurl", "--body", "{}"],
    ):
        result = run_cli(*args)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr


def test_an_unusable_cache_folder_is_an_error_not_a_traceback(project: Path) -> None:
    spec = project / "d.yaml"
    spec.write_text(VALID_SKLEARN)
    blocker = project / "not-a-folder"
    blocker.write_text("")
    result = run_cli("serve", str(spec), env={"DEPLOYSPEC_CACHE_DIR": str(blocker)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
