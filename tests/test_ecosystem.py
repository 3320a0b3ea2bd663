"""What deployspec ships for the tools around it: `schema --check`, the pre-commit hooks (run by
the real pre-commit in a temporary git repository) and the CI workflows under examples/ci/
(parsed as their CI parses them; every deployspec command line they hold checked against the
CLI's own command tree)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from deployspec.cli import cli
from deployspec.multi import is_spec_name
from deployspec.render import PLAN_MARKER
from deployspec.schema import json_schema, schema_text
from tests.conftest import REPO, SANDBOX_POLL_SECONDS, VALID_SKLEARN, run_cli

CI = REPO / "examples" / "ci"
GITHUB_WORKFLOWS = {
    name: CI / "github" / f"deployspec-{name}.yml" for name in ("plan", "apply", "drift")
}
GITLAB_CI = CI / "gitlab" / ".gitlab-ci.yml"


# --- deployspec schema --check / --out ---------------------------------------------------------


def test_schema_check_passes_current_files_whatever_their_layout(tmp_path: Path) -> None:
    # Compared as parsed JSON: another indentation or key order is the same schema.
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(json_schema(), sort_keys=True, separators=(",", ":")))
    committed = REPO / "schemas" / "deployment.schema.json"
    result = run_cli("schema", "--check", str(committed), str(compact))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{committed}: current", f"{compact}: current"]


def test_schema_check_reports_every_stale_file_and_how_to_regenerate_it(tmp_path: Path) -> None:
    current = tmp_path / "current.json"
    current.write_text(schema_text())
    stale = tmp_path / "stale.json"
    old = json_schema()
    old["$defs"]["Serverless"]["properties"]["memory_mb"]["enum"].pop()
    stale.write_text(json.dumps(old, indent=2))
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "$schema": \n')
    retyped = tmp_path / "retyped.json"
    # `true == 1` in Python; in JSON a boolean is no number.
    flipped = json_schema()
    flipped["additionalProperties"] = 0
    retyped.write_text(json.dumps(flipped))
    missing = tmp_path / "missing.json"
    result = run_cli(
        "schema", "--check", str(current), str(stale), str(broken), str(retyped), str(missing)
    )
    assert result.returncode == 1
    assert result.stdout == f"{current}: current\n"
    errors = result.stderr
    assert "Traceback" not in errors
    assert (
        f"{stale}: not the schema of this deployspec: "
        "/$defs/Serverless/properties/memory_mb/enum has 5 items, not 6"
    ) in errors
    assert f"{broken}:3:1: not valid JSON" in errors
    assert f"{retyped}: not the schema of this deployspec: /additionalProperties is 0" in errors
    assert f"{missing}: file not found" in errors
    for path in (stale, broken, retyped):
        assert f"regenerate it with `deployspec schema > {path}`" in errors


def test_schema_out_writes_exactly_what_schema_prints(tmp_path: Path) -> None:
    printed = run_cli("schema")
    assert printed.returncode == 0
    assert printed.stdout == schema_text()
    out = tmp_path / "deployment.schema.json"
    out.write_text("stale")
    written = run_cli("schema", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert written.stdout == f"wrote {out}\n"
    assert out.read_text() == printed.stdout
    # Through a symlink, like `deployspec schema > link`: the file it points at is written.
    link = tmp_path / "link.json"
    target = tmp_path / "target.json"
    target.write_text("stale")
    link.symlink_to(target)
    assert run_cli("schema", "--out", str(link)).returncode == 0
    assert link.is_symlink() and target.read_text() == printed.stdout
    assert not list(tmp_path.glob(".*tmp*"))
    folder = run_cli("schema", "--out", str(tmp_path))
    assert folder.returncode == 1 and "is a folder" in folder.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check"], "--check needs the schema FILE(s)"),
        (["some.json"], "pass --check to check files"),
        (["--check", "a.json", "--out", "b.json"], "--check and --out do not go together"),
    ],
)
def test_schema_usage_errors(args: list[str], message: str) -> None:
    result = run_cli("schema", *args)
    assert result.returncode == 1
    assert message in result.stderr


# --- .pre-commit-hooks.yaml ---------------------------------------------------------------------


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in hooks}


def test_hook_definitions() -> None:
    hooks = _hooks()
    assert set(hooks) == {"deployspec-validate", "deployspec-schema"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["entry"].split()[0] == "deployspec"
        # pre-commit passes the matching files after the entry's own arguments.
        check_invocation([*shlex.split(hook["entry"])[1:], "FILE"])
    validate = re.compile(hooks["deployspec-validate"]["files"])
    names = [
        "deployment.yaml",
        "svc/deployment.yaml",
        "a/b/iris.deploy.yaml",
        "iris.deploy.yaml",
        ".deploy.yaml",
        "deployment.yml",
        "mydeployment.yaml",
        "deployment.yaml.bak",
        "svc/values.yaml",
    ]
    for path in names:
        # The same files a directory argument of validate/plan would find.
        assert bool(validate.search(path)) == is_spec_name(Path(path).name), path
    schema = re.compile(hooks["deployspec-schema"]["files"])
    assert schema.search("deployment.schema.json")
    assert schema.search("svc/deployment.schema.json")
    assert not schema.search("other.schema.json")
    assert not schema.search("deployment.schema.json.orig")


@dataclass(frozen=True)
class PreCommit:
    hook_repo: Path
    rev: str
    env: dict[str, str]

    def project(self, root: Path) -> Path:
        """A new git repository using both hooks from the copy of this repository."""
        root.mkdir()
        _git(self.env, root, "init", "--quiet")
        (root / ".pre-commit-config.yaml").write_text(
            "repos:\n"
            f"  - repo: {self.hook_repo}\n"
            f"    rev: {self.rev}\n"
            "    hooks:\n"
            "      - id: deployspec-validate\n"
            "      - id: deployspec-schema\n"
        )
        return root

    def run(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`pre-commit run` on the staged files, as the git hook runs it."""
        _git(self.env, project, "add", "--all")
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--color", "never", *args],
            cwd=project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


def _git(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _copy_of_this_repository(env: dict[str, str], destination: Path) -> str:
    """A git repository holding this work tree's files as they are (the tracked ones and the new
    ones not ignored), committed: what a clone of it at a tag would hold once committed. On a
    clean checkout, exactly its commit's files."""
    listed = _git(env, REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    destination.mkdir()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in git
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    _git(env, destination, "init", "--quiet")
    _git(env, destination, "add", "--all")
    _git(env, destination, "commit", "--quiet", "--no-verify", "-m", "deployspec under test")
    return _git(env, destination, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreCommit]:
    """pre-commit with its own home, the hooks' environment installed once for the module."""
    base = tmp_path_factory.mktemp("pre-commit")
    git_config = base / "gitconfig"
    git_config.write_text(
        "[user]\n\tname = deployspec tests\n\temail = tests@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        # No AWS setting, no deployspec setting, no git or pre-commit setting of this machine
        # (nor this checkout's own source on the path) reaches the hooks.
        if not key.startswith(("AWS_", "DEPLOYSPEC_", "GIT_", "PRE_COMMIT", "PYTHON"))
        and key != "VIRTUAL_ENV"
    }
    env.update(
        PRE_COMMIT_HOME=str(base / "home"),
        GIT_CONFIG_GLOBAL=str(git_config),
        GIT_CONFIG_NOSYSTEM="1",
        AWS_CONFIG_FILE=str(base / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(base / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        DEPLOYSPEC_HOME=str(base / "deployspec-home"),
        NO_COLOR="1",
    )
    hook_repo = base / "deployspec"
    rev = _copy_of_this_repository(env, hook_repo)
    tool = PreCommit(hook_repo, rev, env)
    warm = tool.project(base / "warm-up")
    # Creates the hooks' virtualenv and pip-installs deployspec with its dependencies (no
    # extras) into it: most of this module's time.
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install-hooks"],
        cwd=warm,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield tool
    # The environment is some 400 MB: not left for pytest's last three runs to keep.
    shutil.rmtree(base, ignore_errors=True)


def _spec_project(root: Path) -> Path:
    (root / "svc" / "model").mkdir(parents=True)
    (root / "svc" / "model" / "model.joblib").write_bytes(b"not really a model")
    (root / "svc" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    return root / "svc"


def test_pre_commit_validate_hook(pre_commit: PreCommit, tmp_path: Path) -> None:
    project = pre_commit.project(tmp_path / "project")
    svc = _spec_project(project)
    (svc / "deployment.yaml").write_text(VALID_SKLEARN)
    broken = svc / "iris.deploy.yaml"
    broken.write_text(VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: 100"))
    # Not a spec by its name: not the hook's business, however broken.
    (svc / "values.yaml").write_text("memory_mb: [100\n")
    failed = pre_commit.run(project, "deployspec-validate")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "deployspec validate" in output and "Failed" in output
    assert "svc/iris.deploy.yaml:9:14: serverless.memory_mb: 100 is not allowed" in output
    assert "svc/deployment.yaml: valid (iris: sklearn 1.2-1, serverless 2048 MB)" in output
    assert "values.yaml" not in output
    assert "Traceback" not in output

    # Fixed, it is another copy of the same endpoint: all staged specs go to one validate.
    broken.write_text(VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: 3072"))
    colliding = pre_commit.run(project, "deployspec-validate")
    assert colliding.returncode == 1
    assert "svc/iris.deploy.yaml collides with svc/deployment.yaml" in colliding.stdout

    broken.write_text(VALID_SKLEARN.replace("name: iris", "name: iris-large"))
    passed = pre_commit.run(project, "deployspec-validate")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"deployspec validate\.+Passed", passed.stdout)
    # validate packages nothing: the project holds only what was put there.
    assert _git(pre_commit.env, project, "ls-files", "--others", "--exclude-standard") == ""


def test_pre_commit_schema_hook(pre_commit: PreCommit, tmp_path: Path) -> None:
    project = pre_commit.project(tmp_path / "project")
    svc = _spec_project(project)
    schema_file = svc / "deployment.schema.json"
    schema_file.write_text(schema_text())
    (project / "other.schema.json").write_text("{}")
    passed = pre_commit.run(project)  # every hook; no spec staged, so validate is skipped
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"deployspec schema --check\.+Passed", passed.stdout)
    assert re.search(r"deployspec validate\.+\(no files to check\)Skipped", passed.stdout)

    stale = json_schema()
    del stale["properties"]["name"]["description"]
    schema_file.write_text(json.dumps(stale, indent=2))
    failed = pre_commit.run(project, "deployspec-schema")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert (
        "svc/deployment.schema.json: not the schema of this deployspec: "
        "/properties/name/description is missing"
    ) in output
    assert "regenerate it with `deployspec schema > svc/deployment.schema.json`" in output
    assert "other.schema.json" not in output


# --- the CI workflows ---------------------------------------------------------------------------

_GHA_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
# A redirection and its target (`> plan.md`, `2>&1`, `>>"$FILE"`), unquoted: not arguments.
_REDIRECTION = re.compile(
    r"(?<![\w$])\d*(?:>>|>&|&>|>|<)\s*(?:&?\d+\b|\"[^\"]*\"|'[^']*'|[^\s;&|]+)"
)
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_SHELL_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec"}


def _logical_lines(script: str) -> Iterator[str]:
    """The script's lines, continuations joined, heredoc bodies (another language) left out."""
    lines = script.replace("\\\n", " ").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        yield line
        heredoc = _HEREDOC.search(line)
        if heredoc:
            while index < len(lines) and lines[index].strip() != heredoc.group(2):
                index += 1
            index += 1


def deployspec_invocations(script: str) -> list[list[str]]:
    """Every `deployspec ...` the shell script runs, as its argument lists (after `deployspec`):
    at the start of a line or after `&&`, `||`, `;`, `|`, `$(`, `if`, `then`..., environment
    assignments before it skipped. `${{ }}` becomes a placeholder; `$VAR`s stay as written."""
    found: list[list[str]] = []
    for line in _logical_lines(_GHA_EXPRESSION.sub("$GHA_EXPRESSION", script)):
        lexer = shlex.shlex(_REDIRECTION.sub(" ", line), posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set(";&|()"):
                words = list(segment)
                while words and (words[0] in _SHELL_KEYWORDS or re.match(r"^\w+=", words[0])):
                    words.pop(0)
                if words and words[0] == "deployspec":
                    found.append(words[1:])
                segment = []
            else:
                segment.append(token)
    return found


# What the parser holds for a parameter it was given; anything else (None, click's UNSET) is
# a parameter left out.
_VALUES = (str, bool, tuple, list)


def _is_placeholder(value: str) -> bool:
    return "$" in value


def check_invocation(args: list[str]) -> str:
    """Raise click.UsageError unless `deployspec ARGS` names a real command with real options,
    each given the values it takes (choices and types checked, except for placeholders, and
    paths, which need not exist here). Returns the command's path, e.g. "plan"."""
    ctx = click.Context(cli, info_name="deployspec")
    command: click.Command = cli
    path: list[str] = []
    rest = list(args)
    while True:
        # The parser alone: options and their arguments, without callbacks or conversion.
        opts, rest, order = command.make_parser(ctx).parse_args(args=rest)
        for param in dict.fromkeys(order):
            value = opts.get(param.name or "")
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                if (
                    isinstance(item, str)
                    and not _is_placeholder(item)
                    and not isinstance(param.type, (click.Path, click.File))
                ):
                    param.type.convert(item, param, ctx)
        if not isinstance(command, click.Group):
            break
        if not rest:
            raise click.UsageError(f"`deployspec {' '.join(args)}` names no command")
        name, *rest = rest
        sub = command.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r} in `deployspec {' '.join(args)}`")
        path.append(name)
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    if rest:
        raise click.UsageError(f"unexpected arguments {rest} in `deployspec {' '.join(args)}`")
    for param in command.params:
        value = opts.get(param.name or "")
        if param.required and (value is None or value == () or not isinstance(value, _VALUES)):
            raise click.UsageError(f"{param.name} missing in `deployspec {' '.join(args)}`")
    return " ".join(path)


def _github(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(GITHUB_WORKFLOWS[name].read_text())
    return document


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1, as PyYAML reads it, takes the key `on` for true; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict), triggers
    return triggers


def _github_scripts(workflow: dict[Any, Any]) -> Iterator[tuple[str, int, str]]:
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job["steps"]):
            if "run" in step:
                yield job_name, index, step["run"]


def _gitlab() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GITLAB_CI.read_text())
    return document


_GITLAB_KEYWORDS = {
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
}


def _gitlab_jobs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs as GitLab runs them: hidden templates merged in through `extends` (hashes
    merged deeply, anything else replaced)."""

    def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        result = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = value
        return result

    def resolve(job: dict[str, Any]) -> dict[str, Any]:
        parents = job.get("extends", [])
        result: dict[str, Any] = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            result = merged(result, resolve(document[parent]))
        return merged(result, {k: v for k, v in job.items() if k != "extends"})

    return {
        name: resolve(job)
        for name, job in document.items()
        if name not in _GITLAB_KEYWORDS and not name.startswith(".")
    }


def _gitlab_script(job: dict[str, Any]) -> str:
    """before_script and script run in one shell, in this order."""

    def lines(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        return [line for item in value for line in lines(item)]

    return "\n".join(lines(job.get("before_script", [])) + lines(job["script"]))


def _all_invocations() -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {"github": [], "gitlab": []}
    for name in GITHUB_WORKFLOWS:
        for _, _, script in _github_scripts(_github(name)):
            found["github"].extend(deployspec_invocations(script))
    for job in _gitlab_jobs(_gitlab()).values():
        found["gitlab"].extend(deployspec_invocations(_gitlab_script(job)))
    return found


def test_the_command_line_extraction() -> None:
    script = """\
pip install "deployspec @ git+https://example.com/deployspec@v1"  # not a run of it
code=0
deployspec plan . \\
  --changed-since "origin/${{ github.base_ref }}" \\
  --format markdown > plan.md 2>&1 || code=$?
if deployspec validate a.yaml; then echo "deployspec is fine"; fi
out=$(DEPLOYSPEC_HOME=/tmp deployspec status x.yaml --format json)
python3 - <<'PY'
print("deployspec apply --no-such-option")  # it's Python, not shell
PY
deployspec --debug apply . --auto-approve
"""
    assert deployspec_invocations(script) == [
        ["plan", ".", "--changed-since", "origin/$GHA_EXPRESSION", "--format", "markdown"],
        ["validate", "a.yaml"],
        ["status", "x.yaml", "--format", "json"],
        ["--debug", "apply", ".", "--auto-approve"],
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["plan", ".", "--no-such-option"],
        ["plan", ".", "--format", "yaml"],
        ["plan", ".", "--format"],
        ["no-such-command", "."],
        ["apply", "--auto-approve=yes", "."],
        ["schema", "--check", "a.json", "--nope"],
        [],
    ],
)
def test_the_check_refuses_what_the_cli_refuses(args: list[str]) -> None:
    with pytest.raises(click.UsageError):
        check_invocation(args)


def test_a_workflow_naming_a_missing_option_fails_the_check(tmp_path: Path) -> None:
    # The path every workflow takes through this module, on a workflow with a typo in it.
    workflow = tmp_path / "typo.yml"
    workflow.write_text(
        "on: {pull_request: {}}\n"
        "jobs:\n"
        "  plan:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: |\n"
        "          deployspec plan . --changed-since origin/${{ github.base_ref }} \\\n"
        "            --format markdown --detailed-exit-code > plan.md\n"
    )
    (found,) = [
        invocation
        for _, _, script in _github_scripts(yaml.safe_load(workflow.read_text()))
        for invocation in deployspec_invocations(script)
    ]
    with pytest.raises(click.NoSuchOption, match="--detailed-exit-code"):
        check_invocation(found)


def test_every_deployspec_command_line_in_the_workflows_is_real() -> None:
    found = _all_invocations()
    for system, invocations in found.items():
        commands = sorted(check_invocation(invocation) for invocation in invocations)
        # Each system plans, applies (a range of commits, or everything) and checks drift.
        assert commands == ["apply", "apply", "drift", "plan"], (system, invocations)
        by_command = {invocation[0]: invocation for invocation in invocations}
        plan = by_command["plan"]
        assert {"--changed-since", "--detailed-exitcode"} <= set(plan), plan
        assert plan[plan.index("--format") + 1] == "markdown"
        applies = [invocation for invocation in invocations if invocation[0] == "apply"]
        assert all("--auto-approve" in invocation for invocation in applies)
        assert any("--changed-since" in invocation for invocation in applies)
        drift = by_command["drift"]
        assert drift[drift.index("--format") + 1] == "json"


def _bash_syntax(script: str) -> None:
    checked = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, (checked.stderr, script)


def test_github_workflows() -> None:
    for name in GITHUB_WORKFLOWS:
        workflow = _github(name)
        assert workflow["name"]
        assert workflow["permissions"] == {"contents": "read"}, "least privilege by default"
        for job_name, job in workflow["jobs"].items():
            assert job["runs-on"]
            steps = job["steps"]
            assert steps and all(("uses" in s) != ("run" in s) for s in steps), job_name
            uses = [step["uses"] for step in steps if "uses" in step]
            assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@\S+", action) for action in uses), uses
            aws = [
                i for i, s in enumerate(steps) if "configure-aws-credentials" in s.get("uses", "")
            ]
            runs = [i for i, s in enumerate(steps) if deployspec_invocations(s.get("run", ""))]
            assert runs, job_name
            # Credentials by OIDC role assumption, before deployspec runs; no stored keys.
            assert len(aws) == 1 and aws[0] < runs[0], job_name
            assert steps[aws[0]]["with"]["role-to-assume"].startswith("${{ vars.")
            assert "aws-access-key-id" not in steps[aws[0]]["with"]
            assert job["permissions"]["id-token"] == "write"
            for step in steps:
                if "run" in step:
                    _bash_syntax(_GHA_EXPRESSION.sub("x", step["run"]))
        text = GITHUB_WORKFLOWS[name].read_text()
        assert text.count("${{") == text.count("}}"), name

    plan = _github("plan")
    assert set(_triggers(plan)) == {"pull_request"}
    (job,) = plan["jobs"].values()
    assert job["permissions"]["pull-requests"] == "write"
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    comment = next(s for s in job["steps"] if "github-script" in s.get("uses", ""))
    script = comment["with"]["script"]
    # One comment, found again by the marker the markdown starts with, and updated.
    assert PLAN_MARKER in script and "updateComment" in script and "createComment" in script
    assert "listComments" in script and "paginate" in script

    apply = _github("apply")
    assert _triggers(apply)["push"] == {"branches": ["main"]}
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert apply["concurrency"]["group"] == "deployspec-apply"
    (job,) = apply["jobs"].values()
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0

    drift = _github("drift")
    assert [entry["cron"] for entry in _triggers(drift)["schedule"]]


def test_gitlab_ci() -> None:
    document = _gitlab()
    jobs = _gitlab_jobs(document)
    assert set(jobs) == {"deployspec-plan", "deployspec-apply", "deployspec-drift"}
    for name, job in jobs.items():
        assert job["stage"] in document["stages"], name
        assert job["rules"] and all("if" in rule for rule in job["rules"]), name
        # Credentials by OIDC: the job's ID token, exchanged for the role (by botocore, through
        # the standard web identity variables).
        assert job["id_tokens"]["AWS_ID_TOKEN"]["aud"]
        assert job["variables"]["AWS_ROLE_ARN"].startswith("$DEPLOYSPEC_")
        script = _gitlab_script(job)
        assert "AWS_WEB_IDENTITY_TOKEN_FILE" in script and "$AWS_ID_TOKEN" in script
        assert "AWS_SECRET_ACCESS_KEY" not in script
        _bash_syntax(script)
    assert document["variables"]["GIT_DEPTH"] == "0"

    plan = jobs["deployspec-plan"]
    # Merge request pipelines, except those of merge requests from forks (as on GitHub).
    assert [rule["if"] for rule in plan["rules"]] == [
        '$CI_PIPELINE_SOURCE == "merge_request_event" && '
        "$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_MERGE_REQUEST_PROJECT_ID"
    ]
    note = _gitlab_script(plan)
    assert PLAN_MARKER in note and '"PUT"' in note and '"POST"' in note
    # The note's Python, as the heredoc hands it to python3, compiles.
    body = note.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(body, "mr-note", "exec")

    apply = jobs["deployspec-apply"]
    assert apply["resource_group"] == "deployspec-apply"
    assert apply["interruptible"] is False
    assert all("$CI_DEFAULT_BRANCH" in rule["if"] for rule in apply["rules"])
    drift = jobs["deployspec-drift"]
    assert [rule["if"] for rule in drift["rules"]] == ['$CI_PIPELINE_SOURCE == "schedule"']
    assert drift["artifacts"]["when"] == "always"


# --- the workflows' own logic, run ---------------------------------------------------------------

# actions/github-script runs `script` as the body of an async function given these; the mock
# records the REST calls the script makes.
_GITHUB_SCRIPT_HARNESS = """
const fs = require('fs');
const [scriptFile, commentsFile] = process.argv.slice(2);
const script = fs.readFileSync(scriptFile, 'utf8');
const comments = JSON.parse(fs.readFileSync(commentsFile, 'utf8'));
const calls = [];
const issues = {
  listComments: async () => { throw new Error('list through github.paginate'); },
  updateComment: async (params) => { calls.push(['update', params]); },
  createComment: async (params) => { calls.push(['create', params]); },
};
const github = {
  rest: { issues },
  paginate: async (method, params) => {
    if (method !== issues.listComments) throw new Error('paginate of another method');
    calls.push(['list', params]);
    return comments;
  },
};
const context = {
  repo: { owner: 'octo', repo: 'models' }, issue: { number: 7 },
  serverUrl: 'https://github.com', runId: 42,
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', script)(require, github, context)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((error) => { console.error(error); process.exit(1); });
"""


def _comment_step() -> dict[str, Any]:
    (job,) = _github("plan")["jobs"].values()
    step: dict[str, Any] = next(s for s in job["steps"] if "github-script" in s.get("uses", ""))
    return step


def _run_comment_script(
    tmp_path: Path, plan: str | None, exitcode: str, comments: list[dict[str, Any]]
) -> list[list[Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (GitHub's runners have it)")
    temp = tmp_path / "runner-temp"
    temp.mkdir(parents=True)
    if plan is not None:
        (temp / "plan.md").write_text(plan)
    (tmp_path / "script.js").write_text(_comment_step()["with"]["script"])
    (tmp_path / "comments.json").write_text(json.dumps(comments))
    (tmp_path / "harness.js").write_text(_GITHUB_SCRIPT_HARNESS)
    done = subprocess.run(
        [node, "harness.js", "script.js", "comments.json"],
        cwd=tmp_path,
        env={**os.environ, "RUNNER_TEMP": str(temp), "EXITCODE": exitcode},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls: list[list[Any]] = json.loads(done.stdout)
    assert calls[0] == [
        "list",
        {"owner": "octo", "repo": "models", "issue_number": 7, "per_page": 100},
    ]
    return calls[1:]


PLAN_MD = f"{PLAN_MARKER}\n### deployspec plan\n1 spec with changes, 0 unchanged, 0 errors\n"
BOT = {"type": "Bot", "login": "github-actions[bot]"}
PERSON = {"type": "User", "login": "someone"}


def test_github_comment_created_when_a_pull_request_first_changes_a_spec(tmp_path: Path) -> None:
    calls = _run_comment_script(tmp_path, PLAN_MD, "2", [{"id": 1, "user": PERSON, "body": "hi"}])
    assert calls == [
        ["create", {"owner": "octo", "repo": "models", "issue_number": 7, "body": PLAN_MD}]
    ]


def test_github_comment_updated_in_place(tmp_path: Path) -> None:
    comments = [
        # A person quoting the marker keeps their comment.
        {"id": 1, "user": PERSON, "body": f"{PLAN_MARKER}\nquoted"},
        {"id": 2, "user": BOT, "body": "another bot's comment"},
        {"id": 3, "user": BOT, "body": f"{PLAN_MARKER}\nthe plan of the last push"},
    ]
    # Even when nothing changes any more: the comment must not keep showing an old plan.
    for exitcode in ("2", "0"):
        calls = _run_comment_script(tmp_path / exitcode, PLAN_MD, exitcode, comments)
        assert calls == [
            ["update", {"owner": "octo", "repo": "models", "comment_id": 3, "body": PLAN_MD}]
        ]


def test_github_no_comment_when_no_spec_changes(tmp_path: Path) -> None:
    assert _run_comment_script(tmp_path, f"{PLAN_MARKER}\nno changes\n", "0", []) == []


def test_github_comment_when_the_plan_failed_before_any_output(tmp_path: Path) -> None:
    (call,) = _run_comment_script(tmp_path, None, "1", [])
    assert call[0] == "create"
    body = call[1]["body"]
    assert body.startswith(f"{PLAN_MARKER}\n**deployspec plan failed**")
    assert "https://github.com/octo/models/actions/runs/42" in body
    # Markdown without the marker (from a deployspec that does not write it) gets it added.
    (call,) = _run_comment_script(tmp_path / "plain", "plain plan\n", "2", [])
    assert call[1]["body"] == f"{PLAN_MARKER}\nplain plan\n"


class _FakeGitLab:
    """The few GitLab API calls the merge request note makes, recorded."""

    def __init__(self, notes: list[dict[str, Any]], page_size: int = 2) -> None:
        import http.server
        import threading

        self.notes = notes
        self.calls: list[tuple[str, str, Any]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, value: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, item in (headers or {}).items():
                    self.send_header(key, item)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length", "0"))
                return json.loads(self.rfile.read(length))

            def _refused(self) -> bool:
                """GitLab's answer to a token it does not know (expired, revoked)."""
                if self.headers["PRIVATE-TOKEN"] == "glpat-test":
                    return False
                data = b'{"message":"401 Unauthorized"}'
                self.send_response(401, "Unauthorized")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True

            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                url = urlsplit(self.path)
                fake.calls.append(("GET", url.path, None))
                if self._refused():
                    return
                if url.path == "/api/v4/user":
                    self._reply({"id": 5, "username": "project_1_bot"})
                    return
                assert url.path == "/api/v4/projects/11/merge_requests/3/notes"
                page = int(parse_qs(url.query)["page"][0])
                found = fake.notes[(page - 1) * page_size : page * page_size]
                more = page * page_size < len(fake.notes)
                self._reply(found, {"X-Next-Page": str(page + 1) if more else ""})

            def do_PUT(self) -> None:
                fake.calls.append(("PUT", self.path, self._body()))
                if not self._refused():
                    self._reply({})

            def do_POST(self) -> None:
                fake.calls.append(("POST", self.path, self._body()))
                if not self._refused():
                    self._reply({})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _gitlab_note_entry() -> str:
    script = _gitlab_jobs(_gitlab())["deployspec-plan"]["script"]
    entry: str = next(item for item in script if "<<'PY'" in item)
    return entry


def _run_note(
    tmp_path: Path, fake: _FakeGitLab, plan: str, exitcode: str, token: str | None = "glpat-test"
) -> subprocess.CompletedProcess[str]:
    """The note step as the job runs it; `token` None: DEPLOYSPEC_GITLAB_TOKEN not set."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "plan.md").write_text(plan)
    env = {key: value for key, value in os.environ.items() if key != "DEPLOYSPEC_GITLAB_TOKEN"}
    env.update(
        CI_API_V4_URL=fake.url,
        CI_PROJECT_ID="11",
        CI_MERGE_REQUEST_IID="3",
        CI_JOB_URL="https://gitlab.example.com/g/p/-/jobs/9",
        PLAN_EXITCODE=exitcode,
    )
    if token is not None:
        env["DEPLOYSPEC_GITLAB_TOKEN"] = token
    done = subprocess.run(
        ["bash", "-e", "-c", _gitlab_note_entry()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if token == "glpat-test":
        assert done.returncode == 0, done.stderr
    return done


def test_gitlab_note_created_then_updated_in_place(tmp_path: Path) -> None:
    notes = [
        {"id": 1, "author": {"id": 8}, "body": f"{PLAN_MARKER}\nsomeone quoting it"},
        {"id": 2, "author": {"id": 5}, "body": "the bot on something else"},
        {"id": 3, "author": {"id": 9}, "body": "looks good"},
    ]
    fake = _FakeGitLab(notes)
    try:
        _run_note(tmp_path / "none", fake, f"{PLAN_MARKER}\nno changes\n", "0")
        assert [c for c in fake.calls if c[0] != "GET"] == []
        _run_note(tmp_path / "first", fake, PLAN_MD, "2")
        notes_path = "/api/v4/projects/11/merge_requests/3/notes"
        assert fake.calls[-1] == ("POST", notes_path, {"body": PLAN_MD})
        # The note it made, on the second page of notes: found and updated, not added again.
        notes.append({"id": 4, "author": {"id": 5}, "body": PLAN_MD})
        fake.calls.clear()
        _run_note(tmp_path / "again", fake, f"{PLAN_MARKER}\nno changes now\n", "0")
        pages = [c[1] for c in fake.calls if c[0] == "GET"]
        assert pages == ["/api/v4/user", notes_path, notes_path]
        assert fake.calls[-1] == (
            "PUT",
            f"{notes_path}/4",
            {"body": f"{PLAN_MARKER}\nno changes now\n"},
        )
    finally:
        fake.close()


@pytest.mark.parametrize("token", [None, ""])
def test_gitlab_note_skipped_without_a_token(tmp_path: Path, token: str | None) -> None:
    # A merge request pipeline that does not see the token (a protected variable, a fork's
    # pipeline, none defined): one line saying so, no note, and the plan's own result stands.
    fake = _FakeGitLab([])
    try:
        done = _run_note(tmp_path, fake, PLAN_MD, "2", token=token)
    finally:
        fake.close()
    assert done.returncode == 0, done.stderr
    assert fake.calls == []
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    assert "DEPLOYSPEC_GITLAB_TOKEN is not set" in line and "no merge request note" in line


def test_gitlab_note_with_a_refused_token_fails_in_one_line(tmp_path: Path) -> None:
    # Set but refused (expired, revoked): a configuration to fix, so the step fails; with a
    # message, not a traceback.
    fake = _FakeGitLab([])
    try:
        done = _run_note(tmp_path, fake, PLAN_MD, "2", token="glpat-expired")
    finally:
        fake.close()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert "401 Unauthorized to GET /user" in line and "DEPLOYSPEC_GITLAB_TOKEN" in line
    assert [call[0] for call in fake.calls] == ["GET"]


def test_gitlab_plan_job_order_shows_the_plan_before_the_note() -> None:
    # The plan is in the log even when the note step fails.
    script = _gitlab_jobs(_gitlab())["deployspec-plan"]["script"]
    shown = script.index("cat plan.md")
    assert shown < script.index(_gitlab_note_entry())


@pytest.fixture(scope="module")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An environment like a CI runner's, with deployspec on PATH pointed at a private sandbox."""
    from deployspec.sandbox import control

    home = tmp_path_factory.mktemp("ci-sandbox-home")
    control.start(0, transition_seconds=0.2, home=home)
    git_config = home / "gitconfig"
    git_config.write_text("[user]\n\tname = ci\n\temail = ci@example.invalid\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DEPLOYSPEC_", "GIT_", "GITHUB_", "CI_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        DEPLOYSPEC_HOME=str(home),
        DEPLOYSPEC_CACHE_DIR=str(tmp_path_factory.mktemp("ci-cache")),
        DEPLOYSPEC_SANDBOX="1",
        DEPLOYSPEC_POLL_SECONDS=SANDBOX_POLL_SECONDS,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        GIT_CONFIG_GLOBAL=str(git_config),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    try:
        yield env
    finally:
        control.stop(home)


def test_gitlab_pip_cache_in_the_checkout_is_no_change(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """GitLab caches only paths inside the checkout, so the pip cache is an untracked folder
    there: the jobs' before_script must keep it out of what --changed-since counts."""
    env = dict(sandbox_env)
    work = tmp_path / "work"
    work.mkdir()
    _git(env, work, "init", "--quiet", "--initial-branch", "main")
    # A spec at the root that does not load: its inputs are unknown, so a change anywhere in
    # its folder (the whole checkout) would make it count as changed, and fail the job.
    (work / "deployment.yaml").write_text(
        VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: 100")
    )
    _git(env, work, "add", "--all")
    _git(env, work, "commit", "--quiet", "-m", "start")
    # What GitLab restores from the job cache before before_script runs.
    wheel = work / ".cache" / "pip" / "http-v2" / "a" / "b" / "entry"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"cached download")

    job = _gitlab_jobs(_gitlab())["deployspec-plan"]
    before = [item for item in job["before_script"] if not item.startswith("pip install")]
    assert len(before) == len(job["before_script"]) - 1  # only the install is left out
    script = "\n".join([*before, "deployspec validate . --changed-since HEAD"])
    for attempt in (1, 2):  # a runner reusing its checkout runs it again
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=work,
            env={**env, "AWS_ID_TOKEN": "an-id-token"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (attempt, done.stdout + done.stderr)
        assert "No spec changed since HEAD." in done.stdout + done.stderr
    assert _git(env, work, "status", "--porcelain") == ""
    exclude = (work / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count("/.cache/pip/") == 1
    # Only the cache: a new file elsewhere in the checkout still counts.
    (work / "notes.txt").write_text("new\n")
    changed = subprocess.run(
        ["deployspec", "validate", ".", "--changed-since", "HEAD"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "memory_mb" in changed.stdout + changed.stderr


def _step(workflow: str, command: str) -> str:
    """The `run:` of the workflow's step that runs `deployspec COMMAND`."""
    (job,) = _github(workflow)["jobs"].values()
    (script,) = [
        step["run"]
        for step in job["steps"]
        if any(args[:1] == [command] for args in deployspec_invocations(step.get("run", "")))
    ]
    assert isinstance(script, str)
    return script


def _outputs(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines)


def test_the_workflows_steps_against_the_sandbox(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """The plan, apply and drift steps of both CI systems, run by bash as their runners run
    them, on a pull request that adds a spec: plan shows changes (exit 2 recorded, not a
    failure), apply makes them, plan and drift then find nothing."""
    env = dict(sandbox_env)

    def git(*args: str, cwd: Path) -> str:
        return _git(env, cwd, *args)

    origin = tmp_path / "origin.git"
    git("init", "--quiet", "--bare", str(origin), cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "--quiet", "--initial-branch", "main", cwd=work)
    (work / "README.md").write_text("models\n")
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "start", cwd=work)
    git("remote", "add", "origin", str(origin), cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    base = git("rev-parse", "HEAD", cwd=work).strip()
    git("checkout", "--quiet", "-b", "add-iris", cwd=work)
    svc = work / "svc"
    shutil.copytree(
        REPO / "examples" / "sklearn-iris", svc, ignore=shutil.ignore_patterns("model", "*.pyc")
    )
    trained = subprocess.run(
        [sys.executable, str(svc / "train.py"), "--out", str(svc / "model")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr
    spec = svc / "deployment.yaml"
    spec.write_text(spec.read_text().replace("name: iris", "name: ci-iris"))
    git("add", "--all", "--force", cwd=work)
    git("commit", "--quiet", "-m", "add iris", cwd=work)
    git("fetch", "--quiet", "origin", cwd=work)

    def run(script: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        # GitHub's `bash -e {0}`; GitLab's runner also runs its scripts with -e.
        return subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=work,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def github(workflow: str, command: str, **extra: str) -> tuple[dict[str, str], Path]:
        runner = tmp_path / f"runner-{workflow}-{len(list(tmp_path.glob('runner-*')))}"
        runner.mkdir()
        files = {
            "GITHUB_OUTPUT": str(runner / "output"),
            "GITHUB_STEP_SUMMARY": str(runner / "summary"),
            "RUNNER_TEMP": str(runner),
        }
        done = run(_step(workflow, command), {**files, **extra})
        assert done.returncode == 0, done.stdout + done.stderr
        return _outputs(runner / "output"), runner

    outputs, runner = github("plan", "plan", GITHUB_BASE_REF="main")
    assert outputs == {"exitcode": "2"}, (runner / "plan.md").read_text()
    plan = (runner / "plan.md").read_text()
    # The comment is found again by the marker deployspec's markdown starts with.
    assert plan.startswith(PLAN_MARKER + "\n") and "ci-iris" in plan
    assert (runner / "summary").read_text() == plan

    # GitLab's plan job, its note posted to a stand-in for the GitLab API.
    fake = _FakeGitLab([])
    try:
        job = _gitlab_jobs(_gitlab())["deployspec-plan"]
        done = run(
            "\n".join(job["script"]),
            {
                "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
                "CI_API_V4_URL": fake.url,
                "CI_PROJECT_ID": "11",
                "CI_MERGE_REQUEST_IID": "3",
                "CI_JOB_URL": "https://gitlab.example.com/g/p/-/jobs/9",
                "DEPLOYSPEC_GITLAB_TOKEN": "glpat-test",
            },
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (posted,) = [call for call in fake.calls if call[0] == "POST"]
        assert "ci-iris" in posted[2]["body"] and posted[2]["body"].startswith(PLAN_MARKER)
        assert (work / "plan.md").read_text() in posted[2]["body"]
    finally:
        fake.close()
    (work / "plan.md").unlink()

    # The first apply knows no earlier one: every spec.
    github("apply", "apply", BASE="")
    outputs, runner = github("plan", "plan", GITHUB_BASE_REF="main")
    assert outputs == {"exitcode": "0"}, (runner / "plan.md").read_text()
    # From the last applied commit: nothing changed since, nothing to apply.
    github("apply", "apply", BASE=git("rev-parse", "HEAD", cwd=work).strip())

    # GitLab's apply job without an API token applies every spec: all unchanged.
    apply_job = _gitlab_jobs(_gitlab())["deployspec-apply"]
    done = run("\n".join(apply_job["script"]), {"CI_PIPELINE_SOURCE": "push"})
    assert done.returncode == 0, done.stdout + done.stderr

    outputs, runner = github("drift", "drift")
    assert outputs == {"exitcode": "0"}
    json.loads((runner / "drift.json").read_text())
    drift_job = _gitlab_jobs(_gitlab())["deployspec-drift"]
    done = run("\n".join(drift_job["script"]), {})
    assert done.returncode == 0, done.stdout + done.stderr
    (work / "drift.json").unlink()
    # Nothing the steps wrote is left in the checkout for --changed-since to count.
    assert git("status", "--porcelain", cwd=work) == ""
