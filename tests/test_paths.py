"""Local paths a spec names stay inside its project unless the operator allows more (issue 9.8);
request bodies read from local files are bounded (issue 9.11).

A spec is input a pull request can change, and CI runs deployspec on it with the runner's files
around: no path it names, nor a symlink it reaches, may lead out of the project root (the git
work tree holding the spec, else its folder) by default.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from deployspec.artifacts import ArtifactError, ArtifactSource, Layout, list_entries
from deployspec.cli import MAX_INVOKE_BODY, _read_body, main
from deployspec.errors import DeployspecError, SpecError
from deployspec.spec import ALLOWED_ROOTS_ENV, load_spec, project_root
from tests.conftest import run_cli

SPEC = """\
name: iris
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: sklearn
  version: "1.2-1"
  artifacts: {artifacts}
  entry_point: {entry_point}
serverless:
  memory_mb: 2048
"""
SCRIPT = "def model_fn(model_dir):\n    return None\n"


@pytest.fixture(autouse=True)
def no_operator_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOWED_ROOTS_ENV, raising=False)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files of the machine that are not the project's: a key, a settings script."""
    folder = tmp_path / "outside"
    (folder / ".ssh").mkdir(parents=True)
    (folder / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (folder / "settings.py").write_text(SCRIPT)
    return folder


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project folder beside `outside`, holding what a valid spec needs (not a git repo)."""
    folder = tmp_path / "proj"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.joblib").write_bytes(b"weights")
    (folder / "inference.py").write_text(SCRIPT)
    return folder


def write(folder: Path, artifacts: str = "./model", entry_point: str = "inference.py") -> Path:
    path = folder / "deployment.yaml"
    path.write_text(SPEC.format(artifacts=artifacts, entry_point=entry_point))
    return path


def refused(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [d.format() for d in caught.value.diagnostics]


def assert_outside(error: str, spec: Path, line_col: str, field: str, given: str) -> None:
    root = spec.parent.resolve()
    assert error.startswith(f"{spec}:{line_col}: {field}: {given!r} leads outside the project ")
    assert f"outside the project root {root}\n" in error
    assert "--allow-path DIR" in error and ALLOWED_ROOTS_ENV in error
    # Where it resolved to is outside by definition: a CI log must not show it (where a
    # symlink points, where home is). The root shown is the project's own.
    assert "resolves to" not in error
    outside = root.parent / "outside"
    assert str(outside) not in error.replace(given, "<given>")


# --- what the issue found packaged -----------------------------------------------------------


def test_home_folder_is_refused(proj: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(outside))
    spec = write(proj, artifacts="~/.ssh")
    [error] = refused(spec)
    assert_outside(error, spec, "6:14", "model.artifacts", "~/.ssh")
    assert str(outside) not in error  # where home is


def test_absolute_path_is_refused(proj: Path, outside: Path) -> None:
    spec = write(proj, artifacts=str(outside / ".ssh" / "id_rsa"))
    [error] = refused(spec)
    assert_outside(error, spec, "6:14", "model.artifacts", str(outside / ".ssh" / "id_rsa"))


def test_artifacts_folder_that_is_a_symlink_to_outside_is_refused(
    proj: Path, outside: Path
) -> None:
    (proj / "weights").symlink_to(outside / ".ssh", target_is_directory=True)
    spec = write(proj, artifacts="./weights")
    [error] = refused(spec)
    assert_outside(error, spec, "6:14", "model.artifacts", "./weights")


def test_artifacts_file_that_is_a_symlink_to_outside_is_refused(proj: Path, outside: Path) -> None:
    (proj / "model.joblib").symlink_to(outside / ".ssh" / "id_rsa")
    spec = write(proj, artifacts="./model.joblib")
    [error] = refused(spec)
    assert_outside(error, spec, "6:14", "model.artifacts", "./model.joblib")


def test_source_dir_symlink_to_outside_is_refused(proj: Path, outside: Path) -> None:
    (proj / "code").symlink_to(outside, target_is_directory=True)
    spec = write(proj)
    spec.write_text(
        spec.read_text().replace("  entry_point:", "  source_dir: ./code\n  entry_point:")
    )
    errors = refused(spec)
    assert_outside(errors[0], spec, "7:15", "model.source_dir", "./code")


def test_entry_point_climbing_out_is_refused(proj: Path, outside: Path) -> None:
    deep = proj / "a" / "b"
    (deep / "model").mkdir(parents=True)
    (deep / "model" / "model.joblib").write_bytes(b"weights")
    spec = write(deep, entry_point="../../../outside/settings.py")
    [error] = refused(spec)
    assert error.startswith(f"{spec}:7:16: model.entry_point: '../../../outside/settings.py'")
    assert f"outside the project root {deep.resolve()}" in error
    assert str(outside) not in error


def test_entry_point_symlink_to_outside_is_refused(proj: Path, outside: Path) -> None:
    (proj / "inference.py").unlink()
    (proj / "inference.py").symlink_to(outside / "settings.py")
    spec = write(proj)
    [error] = refused(spec)
    assert_outside(error, spec, "7:16", "model.entry_point", "inference.py")


def test_symlink_inside_the_artifacts_folder_leading_outside_is_refused(
    proj: Path, outside: Path
) -> None:
    (proj / "model" / "tokenizer").symlink_to(outside / ".ssh", target_is_directory=True)
    spec = write(proj)
    [error] = refused(spec)
    assert error == (
        f"{spec}:6:14: model.artifacts: the symlink 'tokenizer' in './model' leads outside "
        "that folder\n    hint: links inside the artifacts and source_dir folders must stay "
        "inside them (model.tar.gz holds what they point to): copy the file into the folder "
        "instead"
    )
    assert str(outside) not in error  # where the link points
    # Packaging keeps refusing it too, whatever made the source.
    source = ArtifactSource(Layout.FLAT, proj / "model")
    with pytest.raises(ArtifactError, match="points outside the artifacts folder"):
        list_entries(source)


def test_symlink_deep_inside_source_dir_leading_outside_is_refused(
    proj: Path, outside: Path
) -> None:
    (proj / "code" / "lib").mkdir(parents=True)
    (proj / "code" / "serve.py").write_text(SCRIPT)
    (proj / "code" / "lib" / "conf.py").symlink_to(outside / "settings.py")
    spec = write(proj, entry_point="serve.py")
    spec.write_text(
        spec.read_text().replace("  entry_point:", "  source_dir: ./code\n  entry_point:")
    )
    [error] = refused(spec)
    assert error.startswith(f"{spec}:7:15: model.source_dir: the symlink 'lib/conf.py' in ")
    assert str(outside) not in error


def test_a_path_outside_is_refused_before_its_existence_is_checked(
    proj: Path, outside: Path
) -> None:
    # Otherwise the errors would tell a pull request's author which files the runner has.
    spec = write(proj, artifacts=str(outside / "nothing-here"))
    [error] = refused(spec)
    assert "leads outside the project root" in error and "not found" not in error


def test_a_symlink_loop_outside_is_reported_without_its_path(proj: Path, outside: Path) -> None:
    # Resolving stops where the loop closes, outside; the system's message names that place.
    (outside / "a").symlink_to(outside / "b")
    (outside / "b").symlink_to(outside / "a")
    (proj / "weights").symlink_to(outside / "a")
    spec = write(proj, artifacts="./weights")
    [error] = refused(spec)
    assert error.startswith(f"{spec}:6:14: model.artifacts: cannot use this path: ")
    assert "symlink loop" in error
    assert str(outside) not in error


@pytest.mark.parametrize("artifacts", ["./link", "~/.ssh", "{outside}/.ssh"])
def test_the_cli_never_prints_where_an_outside_path_leads(
    proj: Path, outside: Path, artifacts: str
) -> None:
    (proj / "link").symlink_to(outside / ".ssh", target_is_directory=True)
    given = artifacts.format(outside=outside)
    spec = write(proj, artifacts=given)
    result = run_cli(
        "validate", str(spec), env={"HOME": str(outside), ALLOWED_ROOTS_ENV: ""}, cwd=proj
    )
    assert result.returncode == 1
    assert f"{given!r} leads outside the project root {proj.resolve()}" in result.stderr
    assert str(outside) not in result.stderr.replace(given, "<given>")


# --- what stays allowed ------------------------------------------------------------------------


def test_paths_and_links_inside_the_project_are_fine(proj: Path) -> None:
    (proj / "model" / "alias.joblib").symlink_to(proj / "model" / "model.joblib")
    (proj / "current").symlink_to(proj / "model", target_is_directory=True)
    loaded = load_spec(write(proj, artifacts="./current"))
    assert loaded.paths.artifacts == (proj / "model").resolve()


def test_the_root_is_the_git_work_tree_holding_the_spec(tmp_path: Path, proj: Path) -> None:
    (proj / ".git").mkdir()
    deploy = proj / "deploy" / "prod"
    deploy.mkdir(parents=True)
    spec = write(deploy, artifacts="../../model", entry_point="../../inference.py")
    assert project_root(deploy) == proj.resolve()
    loaded = load_spec(spec)
    assert loaded.paths.artifacts == (proj / "model").resolve()
    # Above the work tree is still outside.
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "w.bin").write_bytes(b"w")
    [error] = refused(write(deploy, artifacts="../../../shared", entry_point="../../inference.py"))
    assert f"outside the project root {proj.resolve()}" in error


def test_a_git_file_marks_a_work_tree_too(proj: Path) -> None:
    # Submodules and linked worktrees have a .git file, not a folder.
    (proj / ".git").write_text("gitdir: /elsewhere/.git/worktrees/proj\n")
    (proj / "sub").mkdir()
    assert project_root(proj / "sub") == proj.resolve()


def test_without_git_the_root_is_the_spec_folder(proj: Path) -> None:
    (proj / "deploy").mkdir()
    spec = write(proj / "deploy", artifacts="../model", entry_point="../inference.py")
    [artifacts, entry_point] = refused(spec)
    assert f"outside the project root {(proj / 'deploy').resolve()}" in artifacts
    assert "model.entry_point" in entry_point


def test_operator_roots_from_the_environment_allow_more(
    proj: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(proj, entry_point=str(outside / "settings.py"))
    refused(spec)
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, os.pathsep.join(["/nonexistent", str(outside), ""]))
    loaded = load_spec(spec)
    assert loaded.paths.entry_point == (outside / "settings.py").resolve()


def test_an_allowed_root_still_refuses_what_lies_beside_it(
    proj: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, str(outside / ".ssh"))
    [error] = refused(write(proj, entry_point=str(outside / "settings.py")))
    assert f"and the allowed roots {(outside / '.ssh').resolve()}" in error


def test_a_relative_operator_root_is_an_error(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, "data")
    [error] = refused(write(proj))
    assert error.startswith(f"{ALLOWED_ROOTS_ENV}: 'data' is not an absolute path")


# --- the command line --------------------------------------------------------------------------


def test_allow_path_on_the_command_line(proj: Path, outside: Path) -> None:
    spec = write(proj, entry_point=str(outside / "settings.py"))
    denied = run_cli("validate", str(spec))
    assert denied.returncode == 1
    assert f"{spec}:7:16: model.entry_point:" in denied.stderr
    assert "--allow-path" in denied.stderr
    allowed = run_cli("validate", str(spec), "--allow-path", str(outside))
    assert allowed.returncode == 0, allowed.stderr
    # Relative to where the command runs, like every other path on the command line.
    relative = run_cli("validate", str(spec), "--allow-path", "outside", cwd=outside.parent)
    assert relative.returncode == 0, relative.stderr


def test_allow_path_adds_to_the_environment_and_is_not_inherited(
    proj: Path,
    outside: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, str(other))
    spec = write(proj, entry_point=str(outside / "settings.py"))
    main(["validate", str(spec), "--allow-path", str(outside)])
    assert "valid" in capsys.readouterr().out
    assert os.environ[ALLOWED_ROOTS_ENV] == str(other)
    with pytest.raises(SystemExit):
        main(["validate", str(spec)])
    assert "outside the project root" in capsys.readouterr().err


def test_var_files_are_the_operators_and_may_lie_anywhere(proj: Path, outside: Path) -> None:
    (outside / "vars.yaml").write_text("folder: ./model\n")
    spec = write(proj, artifacts="'{{ folder }}'")
    result = run_cli("validate", str(spec), "--var-file", str(outside / "vars.yaml"))
    assert result.returncode == 0, result.stderr


def test_a_templated_path_is_located_in_the_template(proj: Path, outside: Path) -> None:
    spec = proj / "deployment.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            {% set where = "../outside" %}
            name: iris
            role: arn:aws:iam::123456789012:role/SageMakerExecution
            model:
              framework: sklearn
              version: "1.2-1"
              artifacts: "{{ where }}"
              entry_point: inference.py
            """
        )
    )
    [error] = refused(spec)
    assert error.startswith(f"{spec}:7:")
    assert "model.artifacts: '../outside' leads outside the project root" in error


# --- request bodies read from local files (issue 9.11) -------------------------------------------


def test_invoke_body_from_an_endless_file_is_refused_at_the_limit(tmp_path: Path) -> None:
    # The body is read before the spec: no endpoint or spec is needed to show the bound.
    result = run_cli("invoke", str(tmp_path / "deployment.yaml"), "--body", "@/dev/zero")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert "larger than SageMaker's limit of 6 MB (6,291,456 bytes" in result.stderr
    assert "S3" in result.stderr and "asynchronous inference" in result.stderr


def test_invoke_body_up_to_the_limit_is_read_whole(tmp_path: Path) -> None:
    from deployspec.sandbox.sagemaker_ext import realtime_max_payload  # loads moto: only here

    assert realtime_max_payload() == MAX_INVOKE_BODY  # botocore's service model says 6 MB
    body = tmp_path / "body.bin"
    body.write_bytes(b"x" * MAX_INVOKE_BODY)
    assert _read_body(f"@{body}") == b"x" * MAX_INVOKE_BODY
    body.write_bytes(b"x" * (MAX_INVOKE_BODY + 1))
    with pytest.raises(DeployspecError, match=rf"the request body in {body} is larger"):
        _read_body(f"@{body}")
    assert _read_body('{"a": 1}') == b'{"a": 1}'
