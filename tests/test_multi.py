"""Many specs, the parts that need no AWS: which files FILES names, which specs a git change
touches (on real temporary repositories), collisions, the grouped renderings and the
65,536-character comment, and the thread safety the parallel plans rely on."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployspec import artifacts, operations
from deployspec.artifacts import ArtifactSource, Layout, package
from deployspec.aws import Gateway
from deployspec.errors import DeployspecError, SpecError
from deployspec.multi import (
    Changes,
    Claim,
    Found,
    SpecPlan,
    changes_for,
    changes_since,
    claim_of,
    endpoint_collisions,
    find_collisions,
    find_specs,
    is_single_file,
    start_folder,
    summarize,
)
from deployspec.operations import (
    SpecRun,
    Target,
    check_endpoint_collisions,
    connect_many,
    load_many,
    load_selected,
    run_parallel,
)
from deployspec.plan import Plan
from deployspec.planner import make_plan
from deployspec.render import (
    MAX_COMMENT_CHARS,
    PLAN_MARKER,
    comment_length,
    many_document,
    many_summary_line,
    render_markdown_many,
    render_text_many,
)
from deployspec.resources import Model, Scaling
from deployspec.state import Actual
from tests.conftest import VALID_SKLEARN, run_cli
from tests.test_planner import MODEL_B, SCALE_CHALLENGER, SCALE_CURRENT, desired

# --- find_specs -------------------------------------------------------------------------------


def touch(path: Path, text: str = "name: x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def paths(found: list[Found]) -> list[str]:
    return [str(f.path) for f in found]


def test_a_folder_gives_every_spec_beneath_it_sorted_and_skips_what_holds_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "specs/b/deployment.yaml")
    touch(tmp_path / "specs/a/deployment.yaml")
    touch(tmp_path / "specs/a/extra.deploy.yaml")
    touch(tmp_path / "specs/a/notes.yaml")  # not a spec by its name
    touch(tmp_path / "specs/a/.deploy.yaml")  # no name before the suffix
    touch(tmp_path / "specs/.hidden/deployment.yaml")
    touch(tmp_path / "specs/node_modules/pkg/deployment.yaml")
    touch(tmp_path / "specs/venv/lib/deployment.yaml")
    touch(tmp_path / "specs/env-2/pyvenv.cfg")  # a virtual environment by its marker file
    touch(tmp_path / "specs/env-2/lib/site/deployment.yaml")
    touch(tmp_path / "specs/__pycache__/deployment.yaml")
    found = find_specs(["specs"])
    assert paths(found) == [
        "specs/a/deployment.yaml",
        "specs/a/extra.deploy.yaml",
        "specs/b/deployment.yaml",
    ]
    assert all(f.error is None for f in found)


def test_a_hidden_folder_named_itself_is_walked(tmp_path: Path) -> None:
    spec = touch(tmp_path / ".deploy/deployment.yaml")
    assert paths(find_specs([tmp_path / ".deploy"])) == [str(spec)]


def test_globs_are_recursive_keep_only_spec_names_and_skip_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "specs/a/prod.deploy.yaml")
    touch(tmp_path / "specs/a/b/c/dev.deploy.yaml")
    touch(tmp_path / "specs/a/other.yaml")
    touch(tmp_path / "specs/.venv/x/venv.deploy.yaml")
    touch(tmp_path / "specs/tools/pyvenv.cfg")
    touch(tmp_path / "specs/tools/lib/tool.deploy.yaml")
    assert paths(find_specs(["specs/**/*.yaml"])) == [
        "specs/a/b/c/dev.deploy.yaml",
        "specs/a/prod.deploy.yaml",
    ]
    assert paths(find_specs(["specs/*/prod.*"])) == ["specs/a/prod.deploy.yaml"]


def test_each_spec_once_however_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "specs/a/deployment.yaml")
    touch(tmp_path / "specs/b/deployment.yaml")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "specs/b/deployment.yaml")
    found = find_specs(
        [
            "specs/b/deployment.yaml",
            "specs",
            "specs/a/../a/deployment.yaml",
            "link.yaml",
            "specs/*/deployment.yaml",
        ]
    )
    # The first name each spec was found by is the one shown.
    assert paths(found) == ["specs/a/deployment.yaml", "specs/b/deployment.yaml"]


def test_a_file_named_is_taken_whatever_its_name_and_a_missing_one_left_to_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "prod.yml")
    found = find_specs(["prod.yml", "missing.yaml"])
    assert paths(found) == ["missing.yaml", "prod.yml"]
    assert all(f.error is None for f in found)


def test_a_folder_or_pattern_naming_no_spec_is_an_error_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "empty/readme.yaml")
    touch(tmp_path / "specs/a/deployment.yaml")
    found = find_specs(["empty", "nothing/**/*.deploy.yaml", "specs"])
    assert paths(found) == ["empty", "nothing/**/*.deploy.yaml", "specs/a/deployment.yaml"]
    assert found[0].error is not None and "no spec in this folder" in str(found[0].error)
    assert found[1].error is not None and "the pattern matches no spec" in str(found[1].error)
    assert found[1].error.hint is not None and "quote the pattern" in found[1].error.hint
    assert found[2].error is None


def test_only_one_file_argument_keeps_the_one_spec_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "specs/a/deployment.yaml")
    touch(tmp_path / "odd[1].yaml")  # brackets, yet a file that exists
    assert is_single_file(["specs/a/deployment.yaml"])
    assert is_single_file(["odd[1].yaml"])
    assert is_single_file(["missing.yaml"])  # loading it says it is missing, as ever
    assert not is_single_file(["specs"])
    assert not is_single_file(["specs/*/deployment.yaml"])
    assert not is_single_file(["specs/a/deployment.yaml", "specs/a/deployment.yaml"])
    assert not is_single_file([])


# --- --changed-since on real git repositories -------------------------------------------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
TEMPLATED = VALID_SKLEARN.replace("name: iris", "name: {{ spec }}-{{ stage }}")


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository on branch `feature`, forked from `main`: specs a, b (inference script in
    src/) and c, a var file every spec reads, and an unrelated README."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    for name in ("a", "b", "c"):
        folder = root / "specs" / name
        text = TEMPLATED + f"vars: {{spec: {name}, stage: dev}}\n"
        if name == "b":
            text = text.replace("entry_point: inference.py", "entry_point: src/inference.py")
        touch(folder / "deployment.yaml", text)
        touch(folder / "model" / "model.joblib", f"weights of {name}")
        touch(folder / "model" / "classes.json", "[]")
        script = folder / ("src/inference.py" if name == "b" else "inference.py")
        touch(script, "def model_fn(model_dir):\n    return None\n")
    touch(root / "vars" / "prod.yaml", "stage: prod\n")
    touch(root / "README.md", "specs\n")
    touch(root / ".gitignore", "*.log\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "specs")
    git(root, "checkout", "-q", "-b", "feature")
    monkeypatch.chdir(root)
    return root


def touched(repo: Path, ref: str = "main", var_files: tuple[Path, ...] = ()) -> list[str]:
    changes = changes_since(ref, repo)
    runs = load_selected(find_specs([repo / "specs"]), [], var_files, changes=changes).runs
    assert all(run.error is None for run in runs), [run.error for run in runs]
    return [run.file.parent.name for run in runs]


def test_nothing_changed_touches_no_spec(repo: Path) -> None:
    assert touched(repo) == []
    assert changes_since("main", repo).paths == frozenset()


EDITS: dict[str, tuple[Callable[[Path], Any], list[str]]] = {
    "an artifact file edited, not staged": (
        lambda r: (r / "specs/a/model/model.joblib").write_text("retrained"),
        ["a"],
    ),
    "an artifact file deleted": (lambda r: (r / "specs/a/model/model.joblib").unlink(), ["a"]),
    "an untracked file in the artifacts": (
        lambda r: touch(r / "specs/c/model/vocab.txt", "new"),
        ["c"],
    ),
    "the inference script, staged": (
        lambda r: (
            (r / "specs/b/src/inference.py").write_text("def model_fn(d):\n    return 1\n"),
            git(r, "add", "-A"),
        ),
        ["b"],
    ),
    "the inference script, committed on the branch": (
        lambda r: (
            (r / "specs/b/src/inference.py").write_text("def model_fn(d):\n    return 2\n"),
            git(r, "commit", "-q", "-am", "script"),
        ),
        ["b"],
    ),
    "the spec file itself": (
        lambda r: (r / "specs/c/deployment.yaml").write_text(
            (r / "specs/c/deployment.yaml")
            .read_text()
            .replace("max_concurrency: 5", "max_concurrency: 6")
        ),
        ["c"],
    ),
    "an unrelated file": (lambda r: (r / "README.md").write_text("more\n"), []),
    "a new untracked file outside every spec": (lambda r: touch(r / "docs/x.md", "x"), []),
    "an ignored file in the artifacts": (lambda r: touch(r / "specs/a/model/train.log"), []),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_spec_is_touched_by_a_change_of_what_it_reads(repo: Path, edit: str) -> None:
    change, expected = EDITS[edit]
    change(repo)
    assert touched(repo) == expected


def test_a_var_file_read_touches_every_spec_reading_it(repo: Path) -> None:
    var_file = repo / "vars" / "prod.yaml"
    assert touched(repo, var_files=(var_file,)) == []
    var_file.write_text("stage: staging\n")
    assert touched(repo, var_files=(var_file,)) == ["a", "b", "c"]
    assert touched(repo) == []  # not read without --var-file


def test_only_changes_since_the_merge_base_count(repo: Path) -> None:
    # main moves on after the branch forked: its change is not this branch's.
    git(repo, "checkout", "-q", "main")
    (repo / "specs/c/model/model.joblib").write_text("main's retrain")
    git(repo, "commit", "-q", "-am", "main moves on")
    git(repo, "checkout", "-q", "feature")
    (repo / "specs/a/model/model.joblib").write_text("feature's retrain")
    git(repo, "commit", "-q", "-am", "feature")
    assert touched(repo, "main") == ["a"]
    # Against the branch's own parent, only its last commit counts.
    assert touched(repo, "HEAD~1") == ["a"]
    assert touched(repo, "HEAD") == []


def test_a_spec_that_does_not_load_counts_by_its_folder(repo: Path) -> None:
    (repo / "specs/b/deployment.yaml").write_text("name: Broken_Name\n")
    changes = changes_since("main", repo)
    runs = load_selected(find_specs([repo / "specs"]), [], [], changes=changes).runs
    assert [run.file.parent.name for run in runs] == ["b"]
    assert isinstance(runs[0].error, SpecError)
    # An old breakage elsewhere is not shown when its folder did not change.
    git(repo, "commit", "-q", "-am", "break b")
    (repo / "specs/a/inference.py").write_text("def model_fn(d):\n    return 3\n")
    runs = load_selected(
        find_specs([repo / "specs"]), [], [], changes=changes_since("HEAD", repo)
    ).runs
    assert [run.file.parent.name for run in runs] == ["a"]


def test_not_a_repository_and_unknown_refs_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(DeployspecError, match="is not inside a git repository"):
        changes_since("main", outside)
    with pytest.raises(DeployspecError, match="git knows no commit 'origin/main'") as unknown:
        changes_since("origin/main", repo)
    assert unknown.value.hint is not None and "fetch-depth: 0" in unknown.value.hint
    with pytest.raises(DeployspecError, match="git knows no commit"):
        changes_since("--output=/tmp/x", repo)  # a name, never an option
    git(repo, "checkout", "-q", "--orphan", "island")
    git(repo, "commit", "-q", "-m", "unrelated history")
    with pytest.raises(DeployspecError, match="no common ancestor") as unrelated:
        changes_since("main", repo)
    assert unrelated.value.hint is not None and "fetch-depth: 0" in unrelated.value.hint


def test_changed_since_through_the_cli_without_aws(repo: Path) -> None:
    # No spec changed: success, and no AWS (nor sandbox) is needed to say so.
    nothing = run_cli("plan", "--changed-since", "main", cwd=repo, env={"AWS_REGION": ""})
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == "No spec changed since main.\n"
    as_json = run_cli("plan", "--changed-since", "main", "--format", "json", cwd=repo)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["specs"] == []
    markdown = run_cli("plan", "--changed-since", "main", "--format", "markdown", cwd=repo)
    assert markdown.stdout.startswith(PLAN_MARKER + "\n")
    assert "No spec changed since `main`." in markdown.stdout

    (repo / "specs/b/src/inference.py").write_text("def model_fn(d):\n    return 4\n")
    checked = run_cli("validate", "--changed-since", "main", cwd=repo)
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout
        == "specs/b/deployment.yaml: valid (b-dev: sklearn 1.2-1, serverless 2048 MB)\n"
    )
    single = run_cli("validate", "specs/a/deployment.yaml", "--changed-since", "main", cwd=repo)
    assert single.stdout == "No spec changed since main.\n"

    unknown = run_cli("plan", "--changed-since", "origin/main", cwd=repo)
    assert unknown.returncode == 1
    assert "git knows no commit 'origin/main'" in unknown.stderr
    assert "fetch-depth: 0" in unknown.stderr and "Traceback" not in unknown.stderr


def test_changes_are_those_of_the_repository_holding_the_files(repo: Path, tmp_path: Path) -> None:
    # Another repository, with a main of its own, as the current folder.
    elsewhere = tmp_path / "elsewhere"
    touch(elsewhere / "README.md", "another project\n")
    git(elsewhere, "init", "-q", "-b", "main")
    git(elsewhere, "add", "-A")
    git(elsewhere, "commit", "-q", "-m", "other")
    (repo / "specs/b/src/inference.py").write_text("def model_fn(d):\n    return 5\n")
    checked = run_cli("validate", str(repo / "specs"), "--changed-since", "main", cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == (
        f"{repo}/specs/b/deployment.yaml: valid (b-dev: sklearn 1.2-1, serverless 2048 MB)\n"
    )
    one = repo / "specs/b/deployment.yaml"
    single = run_cli("validate", str(one), "--changed-since", "main", cwd=elsewhere)
    assert single.returncode == 0 and single.stdout.endswith(
        "valid (b-dev: sklearn 1.2-1, serverless 2048 MB)\n"
    )
    # Where git is asked from: a folder, a file's folder, a pattern's fixed part, what exists.
    assert start_folder(repo / "specs") == repo / "specs"
    assert start_folder(one) == repo / "specs" / "b"
    assert start_folder(f"{repo}/specs/**/*.yaml") == repo / "specs"
    assert start_folder(repo / "specs/new/deployment.yaml") == repo / "specs"
    assert changes_for("main", [repo / "specs"], [one]).root == repo

    # Specs of two repositories at once, or of one nested in another: refused, never compared
    # against the wrong history (git diff in the outer one does not see the inner one's files).
    spec = touch(elsewhere / "specs/x/deployment.yaml", VALID_SKLEARN)
    mixed = run_cli(
        "validate", str(repo / "specs"), str(elsewhere), "--changed-since", "main", cwd=elsewhere
    )
    assert mixed.returncode == 1
    assert (
        f"error: --changed-since main: {spec} is outside the git repository {repo} (that of "
        "the first of FILES)"
    ) in mixed.stderr
    assert "run deployspec once per repository" in mixed.stderr
    nested = repo / "specs/vendored"
    touch(nested / "deployment.yaml", VALID_SKLEARN.replace("name: iris", "name: vendored"))
    git(nested, "init", "-q", "-b", "main")
    with pytest.raises(DeployspecError, match="in another git repository") as inner:
        changes_for("main", [repo / "specs"], [f.path for f in find_specs([repo / "specs"])])
    assert str(nested / "deployment.yaml") in str(inner.value)


SHARED_VARS = {
    "a": "name: a-{{ stage }}\nvars: {stage: dev}\n",
    "b": "name: '{{ team }}-b'\n",
    "d": "name: d\n",
}


def shared_vars_specs(project: Path) -> Path:
    """specs/a takes stage, specs/b takes team (used, never declared), specs/d takes none."""
    for folder, head in SHARED_VARS.items():
        spec = spec_folder(project / "specs" / folder, "x")
        spec.write_text(spec.read_text().replace("name: x\n", head))
    return touch(project / "vars.yaml", "stage: prod\nteam: ml\n")


def test_shared_variables_reach_the_specs_that_take_them(project: Path) -> None:
    var_file = shared_vars_specs(project)
    runs = load_many(find_specs([project / "specs"]), ["team=search"], [var_file])
    assert [run.error for run in runs] == [None, None, None]
    # Each spec receives only what it declares or uses.
    assert [run.loaded.variables if run.loaded else None for run in runs] == [
        {"stage": "prod"},
        {"team": "search"},
        {},
    ]
    result = run_cli("validate", "specs", "--var-file", "vars.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "specs/a/deployment.yaml: valid (a-prod: sklearn 1.2-1, serverless 2048 MB)",
        "specs/b/deployment.yaml: valid (ml-b: sklearn 1.2-1, serverless 2048 MB)",
        "specs/d/deployment.yaml: valid (d: sklearn 1.2-1, serverless 2048 MB)",
        "3 specs checked: 3 valid, 0 invalid.",
    ]
    # One spec named alone is still held to its own variables.
    alone = run_cli("validate", "specs/d/deployment.yaml", "--var-file", "vars.yaml", cwd=project)
    assert alone.returncode == 1
    assert "vars.yaml:1:1: 'stage' is not a variable of specs/d/deployment.yaml" in alone.stderr


def test_a_shared_variable_no_spec_takes_is_a_typo(project: Path) -> None:
    var_file = shared_vars_specs(project)
    var_file.write_text("stage: prod\nteam: ml\nstgae: prod\n")
    result = run_cli("validate", "specs", "--var-file", "vars.yaml", "--var", "tema=x", cwd=project)
    assert result.returncode == 1
    assert "vars.yaml:3:1: 'stgae' is not a variable of any of the 3 specs" in result.stderr
    assert (
        "hint: did you mean 'stage'? their variables (under vars: or used in a template): "
        "stage, team" in result.stderr
    )
    assert "--var: 'tema' is not a variable of any of the 3 specs" in result.stderr
    assert "valid (" not in result.stdout and "Traceback" not in result.stderr
    # A spec whose template does not parse declares what cannot be told: nothing is refused
    # on its account; its own error is the one shown.
    touch(project / "specs/e/deployment.yaml", "name: {% if %}\n")
    broken = run_cli("validate", "specs", "--var-file", "vars.yaml", cwd=project)
    assert broken.returncode == 1
    assert "stgae" not in broken.stderr and "specs/e/deployment.yaml:1:" in broken.stderr
    assert "4 specs checked: 3 valid, 1 invalid." in broken.stdout


def test_a_changed_spec_colliding_with_an_unchanged_one_is_refused(repo: Path) -> None:
    # On the branch, a new spec names the endpoint that specs/a deploys (a-dev).
    dup = touch(repo / "team2/dup/deployment.yaml", TEMPLATED + "vars: {spec: a, stage: dev}\n")
    touch(dup.parent / "model" / "model.joblib", "weights of the copy")
    touch(dup.parent / "inference.py", "def model_fn(model_dir):\n    return None\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "team2 takes a-dev")
    selected = load_selected(find_specs([repo]), [], [], changes=changes_for("main", [repo], []))
    assert [run.file.parent.name for run in selected.runs] == ["dup"]
    assert [run.file.parent.name for run in selected.unchanged] == ["a", "b", "c"]
    check_endpoint_collisions(selected.runs, Target(), others=selected.unchanged)
    assert str(selected.runs[0].error) == (
        f"{dup} collides with {repo}/specs/a/deployment.yaml: the same endpoint a-dev"
    )
    assert all(run.error is None for run in selected.unchanged)  # not run: no error of theirs
    # Without the unchanged ones, as before: nothing to compare with.
    check_endpoint_collisions(selected.unchanged, Target())
    assert all(run.error is None for run in selected.unchanged)

    checked = run_cli("validate", "--changed-since", "main", cwd=repo)
    assert checked.returncode == 1
    assert (
        "error: team2/dup/deployment.yaml collides with specs/a/deployment.yaml: the same "
        "endpoint a-dev"
    ) in checked.stderr
    assert "specs/a/deployment.yaml: valid" not in checked.stdout


# --- collisions --------------------------------------------------------------------------------


def claim(file: str, spec: str, endpoint: str | None = None, *resources: tuple[str, str]) -> Claim:
    return Claim(file, spec, ("1", "us-east-1", endpoint or spec), tuple(resources))


def test_two_specs_deploying_one_endpoint_collide_and_the_rest_do_not() -> None:
    claims = [
        claim("a.yaml", "a"),
        claim("b.yaml", "iris"),
        claim("c.yaml", "iris"),
        claim("d.yaml", "d"),
        claim("e.yaml", "iris"),
    ]
    errors = find_collisions(claims)
    assert sorted(errors) == [1, 2, 4]
    assert str(errors[1]) == (
        "b.yaml collides with c.yaml, e.yaml: the same endpoint iris (us-east-1)"
    )
    assert "c.yaml collides with b.yaml, e.yaml" in str(errors[2])


def test_one_endpoint_name_in_two_regions_or_accounts_is_no_collision() -> None:
    east = claim("a.yaml", "iris")
    west = replace(east, file="b.yaml", endpoint=("1", "us-west-2", "iris"))
    other = replace(east, file="c.yaml", endpoint=("2", "us-east-1", "iris"))
    assert find_collisions([east, west, other]) == {}


def test_content_named_resources_shared_under_two_spec_names_collide() -> None:
    uri = "s3://bucket/shared/" + "a" * 64 + "/model.tar.gz"
    claims = [
        claim("a.yaml", "a", None, ("artifact", uri), ("model", "1/us-east-1/m-1")),
        claim("b.yaml", "b", None, ("artifact", uri), ("model", "1/us-east-1/m-2")),
        claim("c.yaml", "c", None, ("model", "1/us-east-1/m-2")),
        claim("d.yaml", "d", None, ("model", "1/us-east-1/m-4")),
    ]
    errors = find_collisions(claims)
    assert sorted(errors) == [0, 1, 2]
    assert str(errors[0]) == f"a.yaml collides with b.yaml (spec b): the same artifact {uri}"
    assert str(errors[1]) == (
        f"b.yaml collides with a.yaml (spec a), c.yaml (spec c): the same artifact {uri}, model m-2"
    )
    assert errors[0].hint is not None and "prefix:" in errors[0].hint


def test_the_claims_of_a_desired_state() -> None:
    scaling = Scaling("endpoint/iris/variant/AllTraffic", 1, 2, 10.0, None, None, "p")
    found = claim_of("a.yaml", desired(scalings=(scaling,)))
    assert found.endpoint == ("123456789012", "us-east-1", "iris")
    assert dict(found.resources) == {
        "model": "123456789012/us-east-1/iris-aaaaaaaaaa",
        "endpoint config": "123456789012/us-east-1/iris-cccccccccc",
        "artifact": desired().artifacts[0].s3_uri,
        "scaling target": "123456789012/us-east-1/endpoint/iris/variant/AllTraffic",
    }
    # Same content and prefix under another spec name: one artifact, two owners.
    other = desired(spec_name="iris-copy", endpoint_name="iris-copy")
    errors = find_collisions([found, claim_of("b.yaml", other)])
    assert sorted(errors) == [0, 1]
    assert "the same model iris-aaaaaaaaaa, endpoint config iris-cccccccccc, artifact s3://" in str(
        errors[1]
    )


def test_a_spec_of_two_variants_claims_each_model_archive_and_target() -> None:
    b_archive = str(MODEL_B.model_data_url)
    two = desired(
        models=(*desired().models, MODEL_B),
        artifacts=(*desired().artifacts, replace(desired().artifacts[0], s3_uri=b_archive)),
        scalings=(SCALE_CURRENT, SCALE_CHALLENGER),
    )
    where = "123456789012/us-east-1"
    assert sorted(claim_of("a.yaml", two).resources) == [
        ("artifact", b_archive),
        ("artifact", desired().artifacts[0].s3_uri),
        ("endpoint config", f"{where}/iris-cccccccccc"),
        ("model", f"{where}/iris-aaaaaaaaaa"),
        ("model", f"{where}/{MODEL_B.name}"),
        ("scaling target", f"{where}/endpoint/iris/variant/challenger"),
        ("scaling target", f"{where}/endpoint/iris/variant/current"),
    ]
    # The second variant's model, under another spec name, collides on its own.
    other = desired(
        spec_name="other",
        endpoint_name="other",
        models=(MODEL_B,),
        artifacts=(),
        config=replace(desired().config, name="other-cccccccccc"),
    )
    errors = find_collisions([claim_of("a.yaml", two), claim_of("b.yaml", other)])
    assert (
        str(errors[0]) == f"a.yaml collides with b.yaml (spec other): the same model {MODEL_B.name}"
    )


def test_endpoint_collisions_without_desired_state() -> None:
    errors = endpoint_collisions(
        [("a.yaml", "iris", None), ("b.yaml", "iris", None), ("c.yaml", "other", "eu-west-1")]
    )
    assert sorted(errors) == [0, 1]
    assert str(errors[0]) == "a.yaml collides with b.yaml: the same endpoint iris"
    assert errors[0].hint is not None and "without region:" not in errors[0].hint


def test_a_spec_without_region_meets_the_same_name_in_every_region() -> None:
    # validate knows no session: a spec without region: may deploy to any region.
    errors = endpoint_collisions(
        [
            ("a.yaml", "same", None),
            ("b.yaml", "same", "us-east-1"),
            ("c.yaml", "same", "eu-west-1"),
            ("d.yaml", "alone", "us-east-1"),
        ]
    )
    assert sorted(errors) == [0, 1, 2]
    assert str(errors[0]) == (
        "a.yaml collides with b.yaml, c.yaml: the same endpoint same "
        "(no region: here; eu-west-1, us-east-1 there)"
    )
    # Two known regions still only meet themselves: b and c collide with a alone.
    assert str(errors[1]) == "b.yaml collides with a.yaml: the same endpoint same (us-east-1)"
    assert str(errors[2]) == "c.yaml collides with a.yaml: the same endpoint same (eu-west-1)"
    assert errors[1].hint is not None and "without region:" in errors[1].hint
    # An account not known (no role) meets every account; two known ones only themselves.
    claims = [
        claim("a.yaml", "iris"),
        replace(claim("b.yaml", "iris"), endpoint=("", "us-east-1", "iris")),
        replace(claim("c.yaml", "iris"), endpoint=("2", "us-east-1", "iris")),
    ]
    assert {i: str(e).split(":")[0] for i, e in find_collisions(claims).items()} == {
        0: "a.yaml collides with b.yaml",
        1: "b.yaml collides with a.yaml, c.yaml",
        2: "c.yaml collides with b.yaml",
    }


def test_validate_finds_a_spec_without_region_colliding(project: Path) -> None:
    spec_folder(project / "specs" / "east", "same")
    regional = project / "specs" / "east" / "deployment.yaml"
    regional.write_text(regional.read_text() + "region: us-east-1\n")
    spec_folder(project / "specs" / "default", "same")
    result = run_cli("validate", "specs", cwd=project)
    assert result.returncode == 1, result.stdout
    assert (
        "error: specs/default/deployment.yaml collides with specs/east/deployment.yaml: the "
        "same endpoint same (no region: here; us-east-1 there)"
    ) in result.stderr
    assert (
        "specs/east/deployment.yaml collides with specs/default/deployment.yaml: the same "
        "endpoint same (us-east-1)"
    ) in result.stderr
    assert result.stdout.splitlines() == ["2 specs checked: 0 valid, 2 invalid."]


# --- rendering ----------------------------------------------------------------------------------


def created(name: str, environment: dict[str, str] | None = None) -> Plan:
    base = desired()
    [served] = base.models
    model = Model(
        name=f"{name}-aaaaaaaaaa",
        image=served.image,
        model_data_url=served.model_data_url,
        environment=environment if environment is not None else dict(served.environment),
        execution_role_arn=served.execution_role_arn,
    )
    config = replace(
        base.config,
        variants=tuple(replace(v, model_name=model.name) for v in base.config.variants),
    )
    d = replace(base, spec_name=name, endpoint_name=name, models=(model,), config=config)
    missing = {a.s3_uri: "missing" for a in d.artifacts}
    return make_plan(d, Actual(artifacts=missing, bucket_exists=False, owned=()))


def unchanged(name: str) -> Plan:
    return replace(created(name), changes=())


def item(name: str, the_plan: Plan | None = None, error: DeployspecError | None = None) -> SpecPlan:
    return SpecPlan(f"specs/{name}/deployment.yaml", name, name, "us-east-1", the_plan, error)


def test_text_blocks_in_order_then_one_summary_line() -> None:
    items = [
        item("a", created("a")),
        item("b", unchanged("b")),
        SpecPlan("specs/c/deployment.yaml", error=DeployspecError("boom", hint="fix it")),
        item("d", unchanged("d")),
    ]
    text = render_text_many(items)
    headers = [line for line in text.splitlines() if line.startswith("==> ")]
    assert headers == [
        "==> specs/a/deployment.yaml: endpoint a (us-east-1) <==",
        "==> specs/b/deployment.yaml: endpoint b (us-east-1) <==",
        "==> specs/c/deployment.yaml <==",
        "==> specs/d/deployment.yaml: endpoint d (us-east-1) <==",
    ]
    assert "error: boom\n  hint: fix it\n" in text
    assert "Plan: 5 to add, 0 to change, 0 to destroy." in text
    assert text.endswith("\n1 spec with changes, 2 unchanged, 1 error\n")
    assert "hunter2" not in text  # the model's API_KEY stays masked
    summary = summarize(items)
    assert many_summary_line(replace(summary, with_changes=3, unchanged=40)) == (
        "3 specs with changes, 40 unchanged, 1 error"
    )


def test_the_json_document_of_many_specs() -> None:
    problems = SpecError([])
    items = [
        item("a", created("a")),
        item("b", error=DeployspecError("nope", hint="h")),
        item("c", error=problems),
    ]
    document = many_document(items)
    assert document["format_version"] == 3
    assert document["summary"] == {"with_changes": 1, "unchanged": 0, "errors": 2}
    first, second, _ = document["specs"]
    assert set(first) == {"file", "spec_name", "endpoint_name", "region", "plan"}
    assert first["plan"]["endpoint_name"] == "a" and first["plan"]["summary"]["add"] == 5
    assert second == {
        "file": "specs/b/deployment.yaml",
        "spec_name": "b",
        "endpoint_name": "b",
        "region": "us-east-1",
        "error": {"message": "nope", "hint": "h"},
    }
    assert "hunter2" not in json.dumps(document)


def test_markdown_of_many_specs_is_one_comment_with_a_table_and_sections() -> None:
    items = [
        item("a", created("a")),
        item("b", unchanged("b")),
        item("c", error=DeployspecError("cannot read | the thing", hint="look")),
    ]
    text = render_markdown_many(items)
    lines = text.splitlines()
    assert lines[0] == PLAN_MARKER
    assert lines[1] == "### deployspec plan: 1 spec with changes, 1 unchanged, 1 error"
    assert (
        "| `specs/a/deployment.yaml` | `a` (us-east-1) | 5 to add, 0 to change, 0 to destroy |"
        in lines
    )
    assert "| `specs/b/deployment.yaml` | `b` (us-east-1) | no changes |" in lines
    assert "| `specs/c/deployment.yaml` | `c` (us-east-1) | **error** |" in lines
    # Sections for the spec with changes and the one in error, none for the unchanged one.
    assert text.count("<details><summary><code>specs/") == 2
    assert "<summary><code>specs/b/" not in text
    assert "### deployspec plan: `a` (us-east-1)" in text  # the one-spec markdown inside
    assert "cannot read | the thing\nhint: look" in text
    assert "Summarised" not in text
    assert "hunter2" not in text


def sections_in(text: str) -> list[str]:
    """The files whose collapsed sections a comment holds, in order."""
    return re.findall(r"<details><summary><code>([^<]+)</code>", text)


def not_shown(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("**Not shown**")]
    assert len(lines) == 1, lines
    return lines[0]


def test_markdown_longer_than_a_comment_keeps_whole_sections_errors_and_smallest_first() -> None:
    # Real plans whose sections are large: environments of many long (secret) values.
    def big(name: str, keys: int) -> Plan:
        env = {f"SETTING_{i:03d}": f"value-{i}-" + "x" * 180 for i in range(keys)}
        env["DB_PASSWORD"] = "hunter2-" + "s" * 40
        return created(name, env)

    items = [
        item("huge", big("huge", 300)),
        item("large", big("large", 150)),
        item("small", created("small")),
        item("broken", error=DeployspecError("bad spec")),
        *(item(f"same-{i}", unchanged(f"same-{i}")) for i in range(40)),
        item("large-2", big("large-2", 150)),
    ]
    whole = render_markdown_many(items, limit=10**9)
    assert comment_length(whole) > MAX_COMMENT_CHARS  # the case is real
    text = render_markdown_many(items)
    assert comment_length(text) <= MAX_COMMENT_CHARS
    assert text.startswith(PLAN_MARKER + "\n")
    assert "> **Summarised:** this plan is longer than GitHub's 65,536-character limit" in text
    assert "so 2 of 5 sections are not shown (listed at the end)." in text
    # The error and the smallest are whole, in the order given; one large one fits beside.
    assert sections_in(text) == [
        "specs/large/deployment.yaml",
        "specs/small/deployment.yaml",
        "specs/broken/deployment.yaml",
    ]
    assert "### deployspec plan: `small` (us-east-1)" in text
    assert "bad spec" in text
    assert not_shown(text) == (
        "**Not shown** (2 specs; `deployspec plan FILE` with this run's options shows one): "
        "`specs/huge/deployment.yaml`, `specs/large-2/deployment.yaml`"
    )
    # The table is whole: every spec is in it.
    for name in ("huge", "large", "small", "broken", "same-0", "same-39", "large-2"):
        assert f"| `specs/{name}/deployment.yaml` |" in text
    assert "hunter2" not in whole


def test_markdown_of_250_changed_specs_shows_as_many_whole_sections_as_fit() -> None:
    items = [item(f"service-{i:03d}", created(f"service-{i:03d}")) for i in range(250)]
    items.insert(7, item("noisy", created("noisy", {f"K{i}": "v" * 200 for i in range(40)})))
    whole = render_markdown_many(items, limit=10**9)
    assert comment_length(whole) > MAX_COMMENT_CHARS
    text = render_markdown_many(items)
    assert comment_length(text) < MAX_COMMENT_CHARS
    # Most of the budget is used, by whole sections: the table, then sections while they fit.
    assert comment_length(text) > MAX_COMMENT_CHARS - 2_000
    shown = sections_in(text)
    # The table takes about 27,000 characters, a section about 2,900: a dozen fit beside it.
    assert len(shown) >= 12
    assert "specs/noisy/deployment.yaml" not in shown  # the largest waits
    for file in shown:
        assert text.count(f"<details><summary><code>{file}</code>") == 1
    for name in ("service-000", "service-249", "noisy"):
        assert f"| `specs/{name}/deployment.yaml` |" in text  # the table is whole
    left = 251 - len(shown)
    assert f"so {left} of 251 sections are not shown (listed at the end)." in text
    listed = not_shown(text)
    assert listed.startswith(f"**Not shown** ({left} specs; ")
    named = re.findall(r"`(specs/[^`]+)`", listed)
    more = re.search(r"… and (\d+) more$", listed)
    assert len(named) + (int(more.group(1)) if more else 0) == left
    assert set(named).isdisjoint(shown)


def test_markdown_of_400_errors_shows_the_errors_themselves() -> None:
    items = [
        item(
            f"team-{i:03d}",
            error=DeployspecError(f"specs/team-{i:03d}: cannot read role {i}", hint="set role:"),
        )
        for i in range(400)
    ]
    text = render_markdown_many(items)
    assert comment_length(text) < MAX_COMMENT_CHARS
    assert comment_length(text) > MAX_COMMENT_CHARS - 2_000
    assert (
        text.splitlines()[1] == "### deployspec plan: 0 specs with changes, 0 unchanged, 400 errors"
    )
    shown = sections_in(text)
    assert len(shown) >= 100
    assert "cannot read role 0\nhint: set role:" in text  # the error text itself
    assert all(f"| `specs/team-{i:03d}/deployment.yaml` |" in text for i in range(400))
    left = 400 - len(shown)
    listed = not_shown(text)
    named = re.findall(r"`(specs/[^`]+)`", listed)
    more = re.search(r"… and (\d+) more$", listed)
    assert len(named) + (int(more.group(1)) if more else 0) == left


def test_markdown_of_thousands_of_specs_shortens_the_table_and_counts_what_it_cuts() -> None:
    items = [item(f"spec-number-{i:04d}-" + "n" * 60, created(f"s{i}")) for i in range(900)]
    items += [item(f"quiet-{i}", unchanged(f"q{i}")) for i in range(300)]
    text = render_markdown_many(items)
    assert comment_length(text) <= MAX_COMMENT_CHARS
    assert "the table lists the specs with changes or errors, and counts the rest" in text
    rows = [line for line in text.splitlines() if line.startswith("| `specs/spec-number-")]
    cut = re.search(r"^\| … and (\d+) more with changes or errors \| \| \|$", text, re.M)
    assert cut is not None and rows
    assert len(rows) + int(cut.group(1)) == 900  # every spec counted once
    assert "| 300 other specs | | no changes |" in text
    assert "specs/quiet-" not in text
    # As many rows as fit: one row more would not.
    assert comment_length(text) > MAX_COMMENT_CHARS - 2 * len(rows[0])


def test_comment_length_counts_as_github_may() -> None:
    assert comment_length("abc") == 3
    assert comment_length("é") == 1
    assert comment_length("🚀") == 2  # outside the BMP: two UTF-16 units


# --- what the parallel plans rely on ------------------------------------------------------------


def test_threads_packaging_at_once_lose_no_index_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every thread reads the index before any writes it back: without the lock each would
    # write only its own entry.
    read_index = artifacts._read_index
    reading = threading.Barrier(4, timeout=0.5)

    def slow_read(cache_dir: Path) -> dict[str, tuple[str, int]]:
        entries = read_index(cache_dir)
        # Serialised by the lock, nobody else reads meanwhile: the barrier breaks.
        with contextlib.suppress(threading.BrokenBarrierError):
            reading.wait()
        return entries

    monkeypatch.setattr(artifacts, "_read_index", slow_read)
    sources = []
    for i in range(4):
        folder = tmp_path / f"model-{i}"
        touch(folder / "weights.bin", f"weights {i}")
        sources.append(ArtifactSource(Layout.FLAT, folder))
    cache = tmp_path / "cache"
    threads = [threading.Thread(target=package, args=(s, cache)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(artifacts, "_read_index", read_index)
    assert all(artifacts.cached(source, cache) is not None for source in sources)


def test_threads_packaging_one_folder_at_once_agree(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    touch(folder / "weights.bin", "w" * 200_000)
    source = ArtifactSource(Layout.FLAT, folder)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(package(source, tmp_path / "c")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.sha256 for r in results}) == 1 and len(results) == 6
    artifacts.verify_archive(results[0].path, results[0].sha256)
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".")]  # no temp left


def test_threads_looking_up_images_at_once_leave_the_warning_filters_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # warnings.catch_warnings() swaps process-wide state: two threads inside it at once can
    # leave "ignore" in place for good. Entered slowly here, so that any overlap is seen.
    from deployspec import images

    inside: dict[int, int] = {}  # thread -> depth (the SDK may nest its own)
    most = 0
    count = threading.Lock()

    class Watched(warnings.catch_warnings):
        def __enter__(self) -> Any:
            nonlocal most
            me = threading.get_ident()
            with count:
                inside[me] = inside.get(me, 0) + 1
                most = max(most, len(inside))
            time.sleep(0.05)
            return super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            super().__exit__(*exc)
            me = threading.get_ident()
            with count:
                inside[me] -= 1
                if not inside[me]:
                    del inside[me]

    monkeypatch.setattr(warnings, "catch_warnings", Watched)
    monkeypatch.setattr(images, "_SDK", None)  # as in a fresh process
    before = list(warnings.filters)
    uris: list[str] = []

    def look_up() -> None:
        uris.append(images._retrieve("sklearn", "us-east-1", "1.2-1", "py3", None, None))

    threads = [threading.Thread(target=look_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert warnings.filters == before
    assert len(uris) == 6 and len(set(uris)) == 1 and "sagemaker-scikit-learn:1.2-1" in uris[0]


def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def test_threads_sharing_a_gateway_ask_for_the_account_once() -> None:
    gateway = Gateway(session())
    asked: list[int] = []

    class Sts:
        def get_caller_identity(self) -> dict[str, str]:
            asked.append(1)
            time.sleep(0.05)  # long enough for every thread to ask meanwhile
            return {"Account": "123456789012"}

    gateway._sts = Sts  # type: ignore[assignment,method-assign]
    threads = [threading.Thread(target=gateway.account_id) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert asked == [1]


def test_a_sibling_shares_the_session_and_its_lock_not_its_listener() -> None:
    gateway = Gateway(session(), max_attempts=7)
    gateway.on_retry = print
    twin = gateway.sibling()
    assert twin._session is gateway._session and twin._lock is gateway._lock
    assert twin.on_retry is None and twin.calls is not gateway.calls
    # botocore's adaptive mode, with room for a fifth of the calls throttled.
    assert twin._config.retries == {"mode": "adaptive", "max_attempts": 7}  # type: ignore[attr-defined]
    assert Gateway(session())._config.retries == {"mode": "adaptive", "max_attempts": 10}  # type: ignore[attr-defined]


def test_parallel_work_is_bounded_and_each_error_stays_its_own(tmp_path: Path) -> None:
    runs = [SpecRun(tmp_path / f"{i}.yaml") for i in range(12)]
    runs[3].error = DeployspecError("failed to load")
    running = 0
    most = 0
    lock = threading.Lock()

    def work(run: SpecRun) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        if run.file.name == "5.yaml":
            raise DeployspecError("failed to plan")
        if run.file.name == "7.yaml":
            raise OSError(13, "Permission denied", "/x")
        run.result = "planned"

    run_parallel(runs, work, parallelism=3)
    assert most == 3
    assert str(runs[3].error) == "failed to load" and runs[3].result is None
    assert str(runs[5].error) == "failed to plan"
    assert str(runs[7].error) == "Permission denied: /x"
    assert [r.result for i, r in enumerate(runs) if i not in (3, 5, 7)] == ["planned"] * 9


def test_one_gateway_per_region_and_a_failure_shared_by_all_is_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    def spec(name: str, region: str | None) -> Path:
        text = VALID_SKLEARN.replace("name: iris", f"name: {name}")
        if region:
            text += f"region: {region}\n"
        return touch(project / f"{name}.deploy.yaml", text)

    files = [spec("a", None), spec("b", "us-east-1"), spec("c", "eu-west-1"), spec("d", None)]
    made: list[str | None] = []

    class FakeGateway:
        def __init__(self, region: str) -> None:
            self.region = region

    def connect(target: Target, region: str | None) -> FakeGateway:
        made.append(region)
        return FakeGateway(region or "us-east-1")  # the configured default

    monkeypatch.setattr(operations, "connect", connect)
    runs = load_many([Found(f) for f in files], [], [])
    connect_many(runs, Target())
    assert sorted(made, key=str) == [None, "eu-west-1", "us-east-1"]
    # The default region and the one spec naming it share one gateway.
    assert runs[0].gateway is runs[1].gateway is runs[3].gateway
    assert runs[2].gateway is not runs[0].gateway and runs[2].region == "eu-west-1"

    def unreachable(target: Target, region: str | None) -> None:
        raise DeployspecError("the local sandbox is not running")

    monkeypatch.setattr(operations, "connect", unreachable)
    with pytest.raises(DeployspecError, match="sandbox is not running"):
        connect_many(load_many([Found(f) for f in files], [], []), Target())

    def one_region(target: Target, region: str | None) -> FakeGateway:
        if region == "eu-west-1":
            raise DeployspecError("no such region here")
        return FakeGateway(region or "us-east-1")

    monkeypatch.setattr(operations, "connect", one_region)
    runs = load_many([Found(f) for f in files], [], [])
    connect_many(runs, Target())
    assert [str(r.error) if r.error else None for r in runs] == [
        None,
        None,
        "no such region here",
        None,
    ]


def test_once_connected_a_spec_without_region_is_in_the_sessions_region(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def spec(file: str, region: str | None) -> Path:
        text = VALID_SKLEARN.replace("name: iris", "name: same")
        return touch(project / file, text + (f"region: {region}\n" if region else ""))

    files = [spec("a.deploy.yaml", None), spec("b.deploy.yaml", "us-east-1")]

    class FakeGateway:
        def __init__(self, region: str) -> None:
            self.region = region

    for default, collide in (("eu-west-1", False), ("us-east-1", True)):
        monkeypatch.setattr(
            operations,
            "connect",
            lambda target, region, default=default: FakeGateway(region or default),
        )
        runs = load_many([Found(f) for f in files], [], [])
        check_endpoint_collisions(runs, Target())  # before connecting: any region
        assert all(run.error is not None for run in runs)
        runs = load_many([Found(f) for f in files], [], [])
        connect_many(runs, Target())
        check_endpoint_collisions(runs, Target())  # the session's region, exactly
        assert [run.error is not None for run in runs] == [collide, collide], default


# --- the commands, where no AWS is needed ---------------------------------------------------------


def spec_folder(folder: Path, endpoint: str, name: str = "deployment.yaml") -> Path:
    touch(folder / "model" / "model.joblib", "weights")
    touch(folder / "inference.py", "def model_fn(model_dir):\n    return None\n")
    return touch(folder / name, VALID_SKLEARN.replace("name: iris", f"name: {endpoint}"))


def test_validate_many_reports_each_spec_collisions_and_a_summary(project: Path) -> None:
    for name, endpoint in (("a", "iris-a"), ("b", "iris-b"), ("c", "iris-b")):
        spec_folder(project / "specs" / name, endpoint, "x.deploy.yaml")
    touch(project / "specs" / "d" / "deployment.yaml", "name: Bad_Name\n")
    result = run_cli("validate", "specs", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "specs/a/x.deploy.yaml: valid (iris-a: sklearn 1.2-1, serverless 2048 MB)",
        "4 specs checked: 1 valid, 3 invalid.",
    ]
    assert (
        "error: specs/b/x.deploy.yaml collides with specs/c/x.deploy.yaml: the same endpoint iris-b"
        in result.stderr
    )
    assert "specs/d/deployment.yaml:1:7: name: 'Bad_Name'" in result.stderr
    assert "Traceback" not in result.stderr
    globbed = run_cli("validate", "specs/a/*.yaml", "specs/a", cwd=project)
    assert globbed.returncode == 0, globbed.stderr
    assert globbed.stdout == (
        "specs/a/x.deploy.yaml: valid (iris-a: sklearn 1.2-1, serverless 2048 MB)\n"
    )


def test_plan_out_is_refused_for_many_specs_before_anything_is_read(project: Path) -> None:
    touch(project / "a/deployment.yaml")
    touch(project / "b/deployment.yaml")
    result = run_cli("plan", "a", "b", "--out", "plan.json", cwd=project, env={"AWS_REGION": ""})
    assert result.returncode == 1
    assert "--out saves the plan of one spec, and these FILES name several" in result.stderr
    assert not (project / "plan.json").exists()


def test_the_many_spec_options_are_checked(project: Path) -> None:
    for value in ("0", "65"):
        bad = run_cli("plan", ".", "--parallelism", value, cwd=project)
        assert bad.returncode == 1 and "--parallelism" in bad.stderr
    missing = run_cli("status", cwd=project)
    assert missing.returncode == 1 and "Missing argument 'FILES...'" in missing.stderr


def test_changes_is_plain_data() -> None:
    # What touches() compares: real paths, and every folder above a changed file.
    changes = Changes("main", "abc", Path("/r"), frozenset({Path("/r/specs/a/model/w.bin")}))
    assert Path("/r/specs/a/model") in changes.covered and Path("/r/specs/b") not in changes.covered
