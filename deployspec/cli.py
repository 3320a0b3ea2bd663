"""The command line: the only module that prints, prompts and exits.

Every expected failure is a DeployspecError, printed once on stderr without a traceback and
mapped to exit code 1 (`--debug` shows the traceback). Exit code 2 is reserved for "changes
present" (`plan --detailed-exitcode`, and `drift` when an endpoint drifted), so usage errors
exit 1 too. Over many specs an error anywhere wins over changes. Heavy modules (boto3, the
SageMaker SDK) are imported inside the commands that need them, keeping `--help` and
`validate` fast.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

# pydantic looks for plugins by scanning every installed distribution's metadata the first
# time a model is built, a noticeable share of `validate`'s start-up; deployspec uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from . import __version__
from .errors import DeployspecError

if TYPE_CHECKING:
    from .operations import Target

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _debug_enabled() -> bool:
    return os.environ.get("DEPLOYSPEC_DEBUG", "") not in ("", "0")


def _allow_paths(ctx: click.Context, param: click.Parameter, folders: tuple[Path, ...]) -> None:
    """--allow-path: added to DEPLOYSPEC_ALLOWED_ROOTS, where the spec loader reads its roots.

    Through the environment rather than every command's arguments: it reaches the loader
    however a command gets there, and a spec field could be granted by the spec itself.
    """
    if not folders:
        return
    from .spec import ALLOWED_ROOTS_ENV

    before = os.environ.get(ALLOWED_ROOTS_ENV)
    added = [os.path.abspath(folder) for folder in folders]
    os.environ[ALLOWED_ROOTS_ENV] = os.pathsep.join([*added, *([before] if before else [])])

    def restore() -> None:
        # For callers of main() in-process: the next command must not inherit it.
        if before is None:
            os.environ.pop(ALLOWED_ROOTS_ENV, None)
        else:
            os.environ[ALLOWED_ROOTS_ENV] = before

    ctx.call_on_close(restore)


def spec_inputs(func: F) -> F:
    """--var, --var-file and --allow-path, shared by every command that reads a spec."""
    func = click.option(
        "--allow-path",
        "allow_paths",
        multiple=True,
        type=click.Path(path_type=Path, exists=True, file_okay=False),
        metavar="DIR",
        expose_value=False,
        callback=_allow_paths,
        help="Let the spec's local paths lead into DIR, outside the project (repeatable; "
        "also DEPLOYSPEC_ALLOWED_ROOTS).",
    )(func)
    func = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="YAML file of template variables (repeatable; later files win).",
    )(func)
    func = click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Template variable, overriding vars: and --var-file (repeatable).",
    )(func)
    return func


def changed_since_option(func: F) -> F:
    """--changed-since REF, shared by the commands that take many specs."""
    return click.option(
        "--changed-since",
        "changed_since",
        metavar="REF",
        default=None,
        help="Only the specs a git change touches since the merge base of REF and HEAD, in "
        "the repository holding FILES (uncommitted and untracked files too): the spec, its "
        "artifacts, source_dir or entry_point, or a --var-file. FILES defaults to '.'.",
    )(func)


# How many specs are planned (and applied) at once: a thread each, all on one boto3 session.
DEFAULT_PARALLELISM = 8
MAX_PARALLELISM = 64


def parallelism_option(func: F) -> F:
    """--parallelism N, shared by the commands that plan many specs against AWS."""
    return click.option(
        "--parallelism",
        type=click.IntRange(1, MAX_PARALLELISM),
        default=DEFAULT_PARALLELISM,
        show_default=True,
        metavar="N",
        help="With many specs: how many are planned (and applied) at once.",
    )(func)


@dataclasses.dataclass(frozen=True)
class _Selection:
    """The specs a command's FILES and --changed-since name."""

    single: bool  # exactly one spec file named: the one-spec command, output as ever
    file: Path  # that file (single), else unused
    found: list[Any]  # multi.Found, in find_specs' order (not single)
    changes: Any  # multi.Changes, or None without --changed-since


def _select(files: tuple[Path, ...], changed_since: str | None) -> _Selection:
    if changed_since is None and len(files) == 1 and files[0].is_file():
        # The one-spec command as ever, without loading multi (validate's start-up).
        return _Selection(True, files[0], [], None)
    from .multi import changes_for, find_specs, is_single_file

    if not files:
        if changed_since is None:
            raise click.UsageError("Missing argument 'FILES...'.")
        files = (Path("."),)
    if is_single_file(files):
        one = changes_for(changed_since, files, files[:1]) if changed_since is not None else None
        return _Selection(True, files[0], [], one)
    found = find_specs(files)
    specs = [entry.path for entry in found if entry.error is None]
    changes = changes_for(changed_since, files, specs) if changed_since is not None else None
    return _Selection(False, Path("."), found, changes)


def _touched(
    path: Path, variables: tuple[str, ...], var_files: tuple[Path, ...], changes: Any
) -> bool:
    """Whether --changed-since's changes touch the one spec named."""
    from .multi import spec_inputs, touches, touches_unloaded

    try:
        loaded = _load(path, variables, var_files)
    except DeployspecError:
        return touches_unloaded(changes, path, var_files)
    return touches(changes, spec_inputs(loaded, var_files))


def _nothing_changed(ref: str, fmt: str = "text") -> None:
    """--changed-since touched no spec: success, said in the command's format."""
    from .render import render_markdown_unchanged

    if fmt == "json":
        from .render import render_json_many

        click.echo(render_json_many([]), nl=False)
        click.echo(f"No spec changed since {ref}.", err=True)
    elif fmt == "markdown":
        click.echo(render_markdown_unchanged(ref), nl=False)
    else:
        click.echo(f"No spec changed since {ref}.")


def _many_errors(items: list[Any]) -> None:
    """With --debug, the traceback of each spec's error (the blocks show the errors)."""
    if not _debug_enabled():
        return
    import traceback

    for item in items:
        if item.error is not None:
            traceback.print_exception(item.error, file=sys.stderr, chain=False)


def _show_many(items: list[Any], fmt: str) -> None:
    from .render import render_json_many, render_markdown_many, render_text_many

    if fmt == "json":
        click.echo(render_json_many(items), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown_many(items), nl=False)
    else:
        click.echo(render_text_many(items, color=_use_color(sys.stdout)), nl=False)
    _many_errors(items)


def _load(path: Path, variables: tuple[str, ...], var_files: tuple[Path, ...]) -> Any:
    from .spec import load_spec, parse_var_assignments

    return load_spec(path, parse_var_assignments(variables), var_files)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="deployspec")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (also DEPLOYSPEC_DEBUG=1).")
def cli(debug: bool) -> None:
    """Declarative deployments of pre-trained models to Amazon SageMaker endpoints.

    Write a deployment.yaml, check it with `validate`, see what would change with `plan`,
    and make it so with `apply`.
    """
    if debug:
        os.environ["DEPLOYSPEC_DEBUG"] = "1"


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=True))
@spec_inputs
@changed_since_option
def validate(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    changed_since: str | None,
) -> None:
    """Check spec FILES against the schema, SageMaker's limits and the image tables.

    FILES are spec files, folders (every deployment.yaml and *.deploy.yaml beneath them) or
    quoted glob patterns. Prints one line per valid file; every problem of an invalid file is
    reported at once as file:line:col: field: message; two specs naming one endpoint are both
    invalid. With several specs, a summary line ends the output. Exit code 0 only when all
    files are valid.
    """
    selection = _select(files, changed_since)
    if selection.single:
        path = selection.file
        if selection.changes is not None and not _touched(
            path, variables, var_files, selection.changes
        ):
            click.echo(f"No spec changed since {changed_since}.")
            return
        try:
            loaded = _load(path, variables, var_files)
        except DeployspecError as exc:
            _report(exc)
            raise SystemExit(1) from None
        click.echo(f"{path}: valid ({_validated(loaded)})")
        return
    from .operations import Target, check_endpoint_collisions, load_selected

    selected = load_selected(selection.found, variables, var_files, changes=selection.changes)
    runs: list[Any] = selected.runs
    if not runs and changed_since is not None:
        click.echo(f"No spec changed since {changed_since}.")
        return
    # No session here: a spec without region: meets the same name in any region.
    check_endpoint_collisions(runs, Target(), others=selected.unchanged)
    failed = 0
    for run in runs:
        if run.error is not None:
            failed += 1
            _report(run.error)
        elif run.loaded is not None:
            click.echo(f"{run.file}: valid ({_validated(run.loaded)})")
    if len(runs) > 1:
        click.echo(f"{len(runs)} specs checked: {len(runs) - failed} valid, {failed} invalid.")
    if failed:
        raise SystemExit(1)


def _validated(loaded: Any) -> str:
    """What `validate` says of a valid spec: its name, and each variant's model and serving."""
    spec = loaded.spec
    variants = spec.endpoint_variants
    if spec.components:
        realtime = spec.realtime
        managed = realtime.managed_scaling
        instances = f" (managed scaling {managed.min}-{managed.max})" if managed is not None else ""
        listed = "; ".join(
            f"{c.name}: adapter on {c.base}"
            if c.base is not None
            else f"{c.name}: {_model_summary(c.model)} x{c.copies}"
            for c in spec.components
        )
        return (
            f"{spec.name}: realtime {realtime.instance_type} x{realtime.instance_count}"
            f"{instances}, {len(spec.components)} "
            f"component{'' if len(spec.components) == 1 else 's'}: {listed}"
        )
    if len(variants) == 1:
        return f"{spec.name}: {_variant_summary(variants[0])}"
    listed = "; ".join(
        f"{v.name}{' (shadow)' if v.shadow else f' weight {v.weight:g}'}: {_variant_summary(v)}"
        for v in variants
    )
    return f"{spec.name}: {len(variants)} variants: {listed}"


def _variant_summary(variant: Any) -> str:
    model, realtime, serverless = variant.model, variant.realtime, variant.serverless
    kind = (
        f"realtime {realtime.instance_type} x{realtime.instance_count}"
        if realtime
        else f"serverless {serverless.memory_mb} MB"
    )
    return f"{_model_summary(model)}, {kind}"


def _model_summary(model: Any) -> str:
    version = f" {model.version}" if model.version else ""
    return f"{model.framework.value}{version}"


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 unless every FILE holds exactly this schema (for CI and pre-commit).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    metavar="FILE",
    default=None,
    help="Write the schema to FILE instead of stdout.",
)
def schema(files: tuple[Path, ...], check: bool, out: Path | None) -> None:
    """Print the JSON Schema of deployment.yaml (committed as schemas/deployment.schema.json).

    With --check FILE..., print nothing of it: check that each FILE is current instead.
    """
    from .schema import check_schema_file, schema_text, write_schema

    if check and out is not None:
        raise click.UsageError("--check and --out do not go together")
    if check and not files:
        raise click.UsageError("--check needs the schema FILE(s) to check")
    if files and not check:
        raise click.UsageError(
            f"unexpected FILE {files[0]}: pass --check to check files, --out FILE to write one"
        )
    if out is not None:
        write_schema(out)
        click.echo(f"wrote {out}")
        return
    if not check:
        click.echo(schema_text(), nl=False)
        return
    failed = 0
    for path in files:
        try:
            check_schema_file(path)
        except DeployspecError as exc:
            failed += 1
            _report(exc)
            continue
        click.echo(f"{path}: current")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.argument("directory", default=".", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--framework",
    type=click.Choice(["sklearn", "pytorch", "tensorflow", "xgboost", "huggingface-llm"]),
    default="sklearn",
    show_default=True,
    help="Framework of the starter spec (huggingface-llm: TGI with a tiny local model).",
)
@click.option("--name", default=None, help="Endpoint name (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: Path, framework: str, name: str | None, force: bool) -> None:
    """Write a commented starter deployment.yaml and inference.py into DIRECTORY (for
    huggingface-llm: the spec and ./weights, a tiny model the sandbox serves offline)."""
    from .starter import LLM_FRAMEWORK, write_starter

    for written in write_starter(directory, framework, name=name, force=force):
        click.echo(f"wrote {written}")
    spec_file = directory / "deployment.yaml"
    if framework == LLM_FRAMEWORK:
        click.echo(
            f"next: `deployspec validate {spec_file}`, then `deployspec plan {spec_file} "
            "--sandbox` and apply it (`deployspec sandbox start` first); for a real model, "
            "set model.hub as the spec's comments say"
        )
        return
    click.echo(
        f"next: put your model files in {directory / 'model'} and run "
        f"`deployspec validate {spec_file}`"
    )


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(deployspec completion bash)"`."""
    from click.shell_completion import get_completion_class

    completer_class = get_completion_class(shell)
    if completer_class is None:  # click knows these three; keep mypy and users honest
        raise DeployspecError(f"no completion support for {shell}")
    completer = completer_class(cli, {}, "deployspec", "_DEPLOYSPEC_COMPLETE")
    click.echo(completer.source())


def aws_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--region, --profile, --sandbox and --role, shared by every command that talks to AWS;
    the command receives them as one `target`."""

    @functools.wraps(func)
    def with_target(
        *args: Any,
        region: str | None,
        profile: str | None,
        sandbox: bool,
        role: str | None,
        **kwargs: Any,
    ) -> Any:
        from .operations import Target

        target = Target(region=region, profile=profile, sandbox=sandbox, role=role)
        return func(*args, target=target, **kwargs)

    command: Callable[..., Any] = with_target
    command = click.option(
        "--role",
        default=None,
        metavar="ARN",
        help="Execution role (else spec role: or DEPLOYSPEC_ROLE).",
    )(command)
    command = click.option(
        "--sandbox",
        is_flag=True,
        help="Use the running local sandbox (also DEPLOYSPEC_SANDBOX=1); never reaches AWS.",
    )(command)
    command = click.option("--profile", default=None, help="AWS profile from ~/.aws/config.")(
        command
    )
    command = click.option(
        "--region", default=None, help="AWS region (else spec region: or AWS config)."
    )(command)
    return command


def _use_color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _show_plan(plan: Any, fmt: str) -> None:
    from .render import render_json, render_markdown, render_text

    if fmt == "json":
        click.echo(render_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(plan), nl=False)
    else:
        click.echo(render_text(plan, color=_use_color(sys.stdout)), nl=False)


def _sandbox_home() -> str:
    from .sandbox.control import sandbox_home

    return str(sandbox_home().resolve())


def _check_out_path(out: Path, loaded: Any, var_files: tuple[Path, ...]) -> None:
    """`--out` must not overwrite an input (the spec, a var file, the model's files), nor any
    file that is not a saved plan, nor write through a symlink."""
    from .saved import is_saved_plan

    if out.is_symlink():
        raise DeployspecError(
            f"--out {out} is a symbolic link: deployspec does not write a plan through one",
            hint="name a regular file, e.g. --out plan.json",
        )
    target = out.resolve()
    paths = loaded.paths
    files = [loaded.file, *var_files, paths.entry_point]
    folders = [paths.artifacts, paths.source_dir]
    for item in files:
        if item is not None and item.resolve() == target:
            raise DeployspecError(
                f"--out {out} would overwrite {item}, an input of the plan",
                hint="save the plan under another name, e.g. --out plan.json",
            )
    for folder in folders:
        root = folder.resolve() if folder is not None else None
        if root is not None and (target == root or root in target.parents):
            raise DeployspecError(
                f"--out {out} is inside {folder}, which is packaged into the model",
                hint="save the plan outside the model's files, e.g. --out plan.json",
            )
    if target.is_dir():
        raise DeployspecError(f"--out {out} is a folder", hint="name a file, e.g. plan.json")
    if not target.parent.is_dir():
        raise DeployspecError(
            f"--out {out}: the folder {out.parent} does not exist",
            hint="create it first, or save the plan elsewhere",
        )
    if target.exists() and not is_saved_plan(target):
        raise DeployspecError(
            f"--out {out} exists and is not a saved plan: deployspec does not overwrite it",
            hint="remove it first, or save the plan under another name",
        )


FORMATS = click.Choice(["text", "json", "markdown"])


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply PLAN.json` (one spec only).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option("--adopt", is_flag=True, help="Take over an endpoint deployspec did not create.")
@changed_since_option
@parallelism_option
def plan(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    adopt: bool,
    changed_since: str | None,
    parallelism: int,
) -> None:
    """Show what apply would change in SageMaker for FILES, and why. Changes nothing.

    FILES are spec files, folders (every deployment.yaml and *.deploy.yaml beneath them) or
    quoted glob patterns. For one file, its plan. For several, planned in parallel: a block per
    spec (its plan or its error) in a stable order, then one summary line; markdown is one
    pull-request comment, JSON one document. Exit codes hold over the whole set.
    """
    selection = _select(files, changed_since)
    if not selection.single:
        if out is not None:
            raise DeployspecError(
                "--out saves the plan of one spec, and these FILES name several",
                hint="plan each spec to save with its own --out, e.g. "
                "`deployspec plan specs/a/deployment.yaml --out a.plan.json`",
            )
        _plan_many(
            selection,
            variables,
            var_files,
            target,
            fmt,
            detailed_exitcode,
            adopt,
            changed_since,
            parallelism,
        )
        return
    file = selection.file
    if selection.changes is not None and not _touched(
        file, variables, var_files, selection.changes
    ):
        _nothing_changed(selection.changes.ref, fmt)
        return
    from .operations import prepare

    prepared = prepare(file, variables, var_files, target, adopt=adopt)
    if out is not None:
        _check_out_path(out, prepared.loaded, var_files)
    _show_plan(prepared.plan, fmt)
    if out is not None:
        from .saved import make_inputs, new_salt, sealed_variables, write

        salt = new_salt()
        inputs = make_inputs(
            file,
            variables,
            var_files,
            adopt=adopt,
            role=target.role,
            sandbox=target.use_sandbox,
            salt=salt,
            sandbox_home=_sandbox_home() if target.use_sandbox else None,
            packages={p.model_key: p.arn for p in prepared.desired.packages},
        )
        write(out, prepared.plan, inputs, salt)
        # The command to apply it: what the saved plan cannot hold must be given again.
        again = "".join(f" --var {name}=..." for name in sealed_variables(inputs))
        roots = os.environ.get("DEPLOYSPEC_ALLOWED_ROOTS")
        if roots:
            again += "".join(f" --allow-path {r}" for r in roots.split(os.pathsep) if r)
        # No --sandbox: the saved plan records where it was made against.
        click.echo(
            f"Saved the plan to {out}; apply it with `deployspec apply {out}{again}`.", err=True
        )
    if detailed_exitcode and prepared.plan.has_changes:
        raise SystemExit(2)


def _plan_many(
    selection: _Selection,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    fmt: str,
    detailed_exitcode: bool,
    adopt: bool,
    changed_since: str | None,
    parallelism: int,
) -> None:
    from .multi import summarize
    from .operations import plan_many

    runs = plan_many(
        selection.found,
        variables,
        var_files,
        target,
        adopt=adopt,
        parallelism=parallelism,
        changes=selection.changes,
    )
    if not runs and changed_since is not None:
        _nothing_changed(changed_since, fmt)
        return
    items = [run.spec_plan() for run in runs]
    _show_many(items, fmt)
    summary = summarize(items)
    if summary.errors:
        raise SystemExit(1)
    if detailed_exitcode and summary.with_changes:
        raise SystemExit(2)


def _confirm(auto_approve: bool, what: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise DeployspecError(
            f"{what} needs confirmation, and there is no terminal to ask on",
            hint="review the plan, then pass --auto-approve",
        )
    answer = click.prompt(
        f"Do you want to {what}? Only 'yes' will be accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise DeployspecError(f"{what} cancelled")


def _progress_text(event: Any, percent: int) -> str:
    """A progress line without a bar: "uploading 40%", or a weights tree's counts."""
    if event.message == "uploading":
        return f"uploading {percent}%"
    return f"{percent}% ({event.message})"


class _Progress:
    """Prints apply events on stderr: a progress bar on a terminal, lines otherwise. Called
    from s3transfer's worker threads too (upload progress, retries): a lock keeps lines whole."""

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None
        self.last_percent = -1
        # NO_COLOR asks for no colour, not for no progress bar: the bar is plain text.
        self.tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.bar_open = False  # a progress bar is drawn on the current line
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            if event.kind == "progress":
                self._progress(event)
                return
            key = (event.address, event.message)
            if key != self.last:
                self.last = key
                self._line(f"{event.address}: {event.message}")

    def retry(self, retry: Any) -> None:
        """Gateway.on_retry: botocore waits before it retries, which would look like a hang."""
        with self.lock:
            self.last = None
            self._line(retry.message)

    def _progress(self, event: Any) -> None:
        percent = int((event.fraction or 0) * 100)
        if self.tty:
            bar = "#" * (percent // 4)
            done = percent >= 100
            end = "\n" if done else ""
            # A weights tree's message counts its files and bytes; an archive's says uploading.
            # Padded: a shorter line must cover the longer one it overwrites.
            detail = f" {event.message:<60}" if event.message != "uploading" else ""
            click.echo(
                f"\r{event.address}: [{bar:<25}] {percent:3d}%{detail}{end}",
                nl=False,
                err=True,
            )
            self.bar_open = not done
        elif percent >= self.last_percent + 10 or percent == 100:
            self.last_percent = percent
            click.echo(f"{event.address}: {_progress_text(event, percent)}", err=True)

    def _line(self, text: str) -> None:
        if self.bar_open:
            click.echo("", err=True)  # end the bar's line, not overwrite it
            self.bar_open = False
        click.echo(text, err=True)


POLL_SECONDS_ENV = "DEPLOYSPEC_POLL_SECONDS"


def _poll_seconds() -> float | None:
    """$DEPLOYSPEC_POLL_SECONDS: the applier's first wait between two reads of an endpoint that
    is changing (unset: the applier's 1 s, growing by half up to 20 s). A sandbox's transitions
    last a fraction of a second, where AWS's last minutes: its users (the tests) need not wait
    a whole second for each."""
    raw = os.environ.get(POLL_SECONDS_ENV, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 20:  # NaN and infinity fail too
        raise DeployspecError(
            f"{POLL_SECONDS_ENV} must be a number of seconds above 0 and at most 20, not {raw!r}",
            hint=f"unset {POLL_SECONDS_ENV} to wait 1 s first, as by default",
        )
    return seconds


def _applier(gateway: Any, poll: float | None) -> Any:
    from .applier import Applier

    return Applier(gateway) if poll is None else Applier(gateway, poll_initial=poll)


def _run_plan(gateway: Any, plan: Any) -> None:
    """Apply `plan`, its events and botocore's retries shown as progress on stderr."""
    applier = _applier(gateway, _poll_seconds())
    progress = _Progress()
    gateway.on_retry = progress.retry
    # `kill`, a cancelled CI job, `timeout`: SIGTERM stops apply as Ctrl-C does, so that the
    # applier still puts back the scaling it took off. One that was ignored stays ignored.
    main = threading.current_thread() is threading.main_thread()  # signals go to it alone
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        applier.apply(plan, progress)
    finally:
        gateway.on_retry = None
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--adopt", is_flag=True, help="Take over an endpoint deployspec did not create.")
@changed_since_option
@parallelism_option
def apply(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    auto_approve: bool,
    adopt: bool,
    changed_since: str | None,
    parallelism: int,
) -> None:
    """Make SageMaker match FILES (specs, or one plan saved with `plan --out`).

    Idempotent: an unchanged spec changes nothing. A changed spec updates the live endpoint
    in place, without downtime; an interrupted apply is completed by running it again.
    Several specs are all planned first: if any fails to plan, nothing is applied; otherwise,
    after one confirmation, the specs with changes are applied, --parallelism at a time.
    """
    from .operations import prepare, prepare_saved
    from .render import render_text
    from .saved import looks_like_plan

    selection = _select(files, changed_since)
    if not selection.single:
        _apply_many(
            selection, variables, var_files, target, auto_approve, adopt, changed_since, parallelism
        )
        return
    file = selection.file
    if selection.changes is not None:
        if looks_like_plan(file):
            raise DeployspecError(
                "--changed-since chooses specs to apply; a saved plan is chosen already",
                hint=f"run `deployspec apply {file}` without --changed-since",
            )
        if not _touched(file, variables, var_files, selection.changes):
            click.echo(f"No spec changed since {changed_since}.")
            return
    if looks_like_plan(file):
        if var_files or adopt:
            raise DeployspecError(
                "--var-file and --adopt cannot be given with a saved plan: it records those it "
                "was made with",
                hint=f"run `deployspec apply {file}` alone (with --var only for the values it "
                "sealed), or make a new plan",
            )
        prepared = prepare_saved(file, target, variables)
        the_plan, gateway = prepared.plan, prepared.gateway
        click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
        auto_approve = True  # reviewing the saved plan was the approval
    else:
        prepared = prepare(file, variables, var_files, target, adopt=adopt)
        the_plan, gateway = prepared.plan, prepared.gateway
        click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
    if not the_plan.has_changes:
        return
    _confirm(auto_approve, "apply these changes")
    _long_running()
    _run_plan(gateway, the_plan)
    add, change, destroy = the_plan.counts()
    click.echo(
        f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed. "
        f"Endpoint {the_plan.endpoint_name} is InService."
    )


class _SpecProgress(_Progress):
    """_Progress for one of several applies at once: every line on stderr begins with the
    spec's endpoint name, and one lock for all keeps lines whole. Never a progress bar: bars
    of several uploads would overwrite each other."""

    def __init__(self, name: str, lock: threading.Lock) -> None:
        super().__init__()
        self.name = name
        self.tty = False
        self.lock = lock

    def _line(self, text: str) -> None:
        click.echo(f"{self.name}: {text}", err=True)

    def _progress(self, event: Any) -> None:
        percent = int((event.fraction or 0) * 100)
        if percent >= self.last_percent + 10 or percent == 100:
            self.last_percent = percent
            self._line(f"{event.address}: {_progress_text(event, percent)}")

    def say(self, text: str) -> None:
        with self.lock:
            self._line(text)


def _run_many(
    runs: list[Any], plan_of: Callable[[Any], Any], parallelism: int, done: Callable[[Any], str]
) -> None:
    """Apply each run's plan, `parallelism` at a time, each on a gateway of its own (same
    session) so that its retries are told with its name; one failure stops no other."""
    from .operations import run_parallel

    poll = _poll_seconds()  # before the first spec: a bad value stops all, none half-applied
    lock = threading.Lock()

    def work(run: Any) -> None:
        the_plan = plan_of(run)
        progress = _SpecProgress(the_plan.endpoint_name, lock)
        gateway = run.gateway.sibling()
        gateway.on_retry = progress.retry
        try:
            _applier(gateway, poll).apply(the_plan, progress)
        except DeployspecError as exc:
            progress.say(f"failed: {exc}")
            raise
        progress.say(done(the_plan))

    run_parallel(runs, work, parallelism)


def _apply_done(the_plan: Any) -> str:
    add, change, destroy = the_plan.counts()
    return (
        f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed. "
        f"Endpoint {the_plan.endpoint_name} is InService."
    )


def _finished_many(runs: list[Any], verb: str, done: Callable[[Any], str]) -> None:
    """After a many-spec apply or destroy: each spec's outcome in order, one summary line,
    exit 1 when any failed."""
    failed = 0
    for run in runs:
        name = run.spec_name or run.file
        if run.error is None:
            click.echo(f"{run.file}: {done(run)}")
        else:
            failed += 1
            click.echo(f"{run.file}: {verb} failed for {name}:")
            click.echo(_indent(run.error.format()))
    _many_errors([run for run in runs if run.error is not None])
    click.echo(f"{verb.capitalize()} finished: {len(runs) - failed} succeeded, {failed} failed.")
    if failed:
        raise SystemExit(1)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _apply_many(
    selection: _Selection,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    auto_approve: bool,
    adopt: bool,
    changed_since: str | None,
    parallelism: int,
) -> None:
    from .multi import summarize
    from .operations import plan_many
    from .render import render_text_many
    from .saved import looks_like_plan

    for entry in selection.found:
        if entry.error is None and looks_like_plan(entry.path):
            raise DeployspecError(
                f"{entry.path} is a saved plan: a saved plan is applied on its own",
                hint=f"run `deployspec apply {entry.path}` alone",
            )
    runs: list[Any] = plan_many(
        selection.found,
        variables,
        var_files,
        target,
        adopt=adopt,
        parallelism=parallelism,
        changes=selection.changes,
    )
    if not runs and changed_since is not None:
        click.echo(f"No spec changed since {changed_since}.")
        return
    items = [run.spec_plan() for run in runs]
    click.echo(render_text_many(items, color=_use_color(sys.stdout)), nl=False)
    _many_errors(items)
    summary = summarize(items)
    if summary.errors:
        raise DeployspecError(
            f"nothing applied: {summary.errors} of {len(items)} specs could not be planned, "
            "and applying the others would deploy only part of the change",
            hint="fix the specs shown with errors above (or leave them out), then apply again",
        )
    changing = [run for run in runs if run.prepared.plan.has_changes]
    if not changing:
        return
    _confirm(
        auto_approve,
        f"apply these changes to {len(changing)} endpoint{'s' if len(changing) != 1 else ''}",
    )
    _long_running()
    _run_many(changing, lambda run: run.prepared.plan, parallelism, _apply_done)
    _finished_many(changing, "apply", lambda run: _apply_done(run.prepared.plan))


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking.")
@click.option(
    "--purge-artifacts", is_flag=True, help="Also delete the uploaded model.tar.gz files."
)
@changed_since_option
@parallelism_option
def destroy(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    auto_approve: bool,
    purge_artifacts: bool,
    changed_since: str | None,
    parallelism: int,
) -> None:
    """Remove the endpoint, its scaling, and every config and model each spec of FILES owns.

    The model archives deployspec uploaded stay in S3 (named when destroy runs) unless
    --purge-artifacts is given; archives another model still serves are always kept. Several
    specs are all read first, shown, and destroyed after one confirmation (nothing is
    destroyed when any of them cannot be read).
    """
    from .operations import connect_spec, prepare_destroy
    from .render import render_text

    selection = _select(files, changed_since)
    if not selection.single:
        _destroy_many(
            selection, variables, var_files, target, auto_approve, purge_artifacts, parallelism
        )
        return
    file = selection.file
    if selection.changes is not None and not _touched(
        file, variables, var_files, selection.changes
    ):
        click.echo(f"No spec changed since {changed_since}.")
        return
    loaded, gateway, account = connect_spec(file, variables, var_files, target)
    destroying = prepare_destroy(loaded, gateway, account, purge_artifacts=purge_artifacts)
    the_plan = destroying.plan
    if not the_plan.has_changes:
        for note in the_plan.notes:
            click.echo(f"Note: {note}")
        click.echo(f"Nothing to destroy: spec {loaded.spec.name} owns nothing in {gateway.region}.")
        return
    click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
    _confirm(auto_approve, "destroy these resources")
    _long_running()
    _run_plan(gateway, the_plan)
    click.echo(f"Destroy complete! {len(the_plan.changes)} resources removed.")
    for line in _kept_lines(destroying):
        click.echo(line)


def _kept_lines(destroying: Any) -> list[str]:
    why = (
        "another model still serves it" if destroying.purge_artifacts else "uploaded for this spec"
    )
    return [
        f"Kept in S3: {uri} ({why}); delete it with `aws s3 rm {uri}`." for uri in destroying.left
    ]


def _destroy_many(
    selection: _Selection,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    auto_approve: bool,
    purge_artifacts: bool,
    parallelism: int,
) -> None:
    from .desired import account_of_role
    from .operations import (
        connect_selected,
        load_selected,
        prepare_destroy,
        resolve_roles,
        run_parallel,
    )
    from .render import render_text, spec_header

    selected = load_selected(selection.found, variables, var_files, changes=selection.changes)
    runs: list[Any] = selected.runs
    if not runs and selection.changes is not None:
        click.echo(f"No spec changed since {selection.changes.ref}.")
        return
    resolve_roles(runs, target)
    connect_selected(selected, target)

    def read(run: Any) -> None:
        run.result = prepare_destroy(
            run.loaded, run.gateway, account_of_role(run.role), purge_artifacts=purge_artifacts
        )

    run_parallel(runs, read, parallelism)
    color = _use_color(sys.stdout)
    errors = owning = 0
    for run in runs:
        click.echo(spec_header(run.spec_plan()))
        if run.error is not None:
            errors += 1
            click.echo(run.error.format())
        elif not run.result.plan.has_changes:
            for note in run.result.plan.notes:
                click.echo(f"Note: {note}")
            click.echo(
                f"Nothing to destroy: spec {run.spec_name} owns nothing in {run.gateway.region}."
            )
        else:
            owning += 1
            click.echo(render_text(run.result.plan, color=color), nl=False)
        click.echo("")
    click.echo(
        f"{owning} spec{'s' if owning != 1 else ''} to destroy, "
        f"{len(runs) - owning - errors} owning nothing, "
        f"{errors} error{'s' if errors != 1 else ''}"
    )
    _many_errors([run for run in runs if run.error is not None])
    if errors:
        raise DeployspecError(
            f"nothing destroyed: {errors} of {len(runs)} specs could not be read",
            hint="fix the specs shown with errors above (or leave them out), then destroy again",
        )
    doomed = [run for run in runs if run.result.plan.has_changes]
    if not doomed:
        return
    count = f"{len(doomed)} endpoint{'s' if len(doomed) != 1 else ''}"
    _confirm(auto_approve, f"destroy these resources of {count}")
    _long_running()

    def done(the_plan: Any) -> str:
        return f"Destroy complete! {len(the_plan.changes)} resources removed."

    _run_many(doomed, lambda run: run.result.plan, parallelism, done)

    def finished(run: Any) -> str:
        return "\n  ".join([done(run.result.plan), *_kept_lines(run.result)])

    _finished_many(doomed, "destroy", finished)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--auto-approve", is_flag=True, help="Roll back without asking.")
def rollback(
    file: Path,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    auto_approve: bool,
) -> None:
    """Point the endpoint back at its previous kept config, verified like apply."""
    from .operations import connect_spec
    from .planner import make_rollback_plan, rollback_target
    from .render import render_text
    from .state import read_owned

    loaded, gateway, account = connect_spec(file, variables, var_files, target)
    owned = read_owned(gateway, loaded.spec.name)
    target_name = rollback_target(loaded.spec.name, owned)
    target_config = gateway.describe_endpoint_config(target_name)
    if target_config is None:
        raise DeployspecError(f"endpoint config {target_name} disappeared", hint="run plan")
    current = (
        gateway.describe_endpoint_config(owned.endpoint.config_name) if owned.endpoint else None
    )
    the_plan = make_rollback_plan(
        loaded.spec.name, gateway.region, account, owned, current, target_config
    )
    click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
    _confirm(auto_approve, "roll back")
    _long_running()
    _run_plan(gateway, the_plan)
    click.echo(f"Rollback complete! Endpoint {loaded.spec.name} serves {target_name}.")


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@changed_since_option
@parallelism_option
def status(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    fmt: str,
    changed_since: str | None,
    parallelism: int,
) -> None:
    """The endpoint's state, config, variants, scaling, and whether it matches each of FILES.

    On an endpoint of inference components: each component's status, copies (asked and
    placed), compute and copy autoscaling, and the instances SageMaker scales.

    Read-only and cheap: it never packages the model (when the model files changed since the
    last plan, whether the endpoint matches is reported as unknown). Several specs: a block
    each (JSON: a list), read in parallel.
    """
    from .errors import NotPackagedError
    from .operations import connect, load, prepare

    selection = _select(files, changed_since)
    if not selection.single:
        _status_many(selection, variables, var_files, target, fmt, parallelism)
        return
    file = selection.file
    if selection.changes is not None and not _touched(
        file, variables, var_files, selection.changes
    ):
        if fmt == "json":
            click.echo("[]")
        click.echo(f"No spec changed since {changed_since}.", err=fmt == "json")
        return
    try:
        # adopt=True: an endpoint deployspec does not manage is still reported (as not
        # managed) instead of refused; status changes nothing either way.
        prepared = prepare(file, variables, var_files, target, adopt=True, build_artifact=False)
    except NotPackagedError as exc:
        loaded = load(file, variables, var_files)
        gateway = connect(target, loaded.spec.region)
        view = _status_live(loaded, gateway, exc)
    else:
        view = _status_planned(prepared)
    if fmt == "json":
        click.echo(json.dumps(view.report, indent=2))
        return
    _print_status(view)


@dataclasses.dataclass(frozen=True)
class _StatusView:
    report: dict[str, Any]  # what --format json prints
    endpoint: Any  # resources.Endpoint | None
    scaling: list[Any]  # resources.Scaling, one per autoscaled variant (and component)


def _status_live(loaded: Any, gateway: Any, exc: DeployspecError) -> _StatusView:
    """Status without the model's archive (not in the cache): the endpoint as it is, and
    whether it matches unknown unless there is none."""
    from .state import has_components, read_components

    endpoint = gateway.describe_endpoint(loaded.spec.name)
    tags = gateway.list_tags(endpoint.arn) if endpoint is not None and endpoint.arn else {}
    config = gateway.describe_endpoint_config(endpoint.config_name) if endpoint else None
    scaling: list[Any] = []
    components: dict[str, Any] = {}
    component_tags: dict[str, dict[str, str]] = {}
    if endpoint is not None:
        from .resources import component_resource_id, scaling_resource_id

        if has_components(config):
            components, component_tags = read_components(gateway, endpoint.name)
        scaling = gateway.describe_scalings(
            [
                *(
                    scaling_resource_id(endpoint.name, v.variant_name)
                    for v in (*endpoint.variants, *endpoint.shadow_variants)
                ),
                *(component_resource_id(name) for name in components),
            ]
        )
    # With no endpoint at all, the answer is known without the model's archive.
    return _status_view(
        loaded.spec.name,
        gateway.region,
        endpoint,
        tags,
        config,
        scaling,
        matches=False if endpoint is None else None,
        changes=[],
        unknown=str(exc) if endpoint is not None else None,
        components=list(components.values()),
        foreign=_foreign(components, component_tags, loaded.spec.name),
    )


def _status_planned(prepared: Any) -> _StatusView:
    endpoint = prepared.actual.endpoint
    desired = prepared.desired
    actual = prepared.actual
    # An endpoint serving a config that stands for the spec's (adopted, or weights and counts
    # set in place) serves what the spec's config says.
    config = actual.current_config or (
        desired.config
        if endpoint is not None
        and (
            endpoint.config_name == desired.config.name
            or actual.stand_in is not None
            or actual.serves_for is not None
        )
        else None
    )
    return _status_view(
        desired.spec_name,
        prepared.gateway.region,
        endpoint,
        prepared.actual.endpoint_tags,
        config,
        list(prepared.actual.scalings),
        matches=not prepared.plan.has_changes,
        changes=[
            {"address": c.address, "action": c.action.value, "reasons": list(c.reasons)}
            for c in prepared.plan.changes
        ],
        unknown=None,
        components=list(actual.components.values()),
        foreign=_foreign(actual.components, actual.component_tags, desired.spec_name),
    )


def _foreign(
    components: dict[str, Any], tags: dict[str, dict[str, str]], spec_name: str
) -> set[str]:
    """The components whose tags were read and are not this spec's (only those a change would
    touch are read: one the spec holds as it is is the spec's)."""
    from .resources import is_owned

    return {name for name in components if name in tags and not is_owned(tags[name], spec_name)}


def _status_view(
    spec_name: str,
    region: str,
    endpoint: Any,
    tags: dict[str, str],
    config: Any,
    scaling: list[Any],
    *,
    matches: bool | None,
    changes: list[dict[str, Any]],
    unknown: str | None,
    components: list[Any] | None = None,
    foreign: set[str] | None = None,
) -> _StatusView:
    from .resources import is_owned, to_json

    scaled = {s.resource_id: s for s in scaling}

    report = {
        "endpoint": spec_name,
        "region": region,
        "exists": endpoint is not None,
        "status": endpoint.status if endpoint else None,
        "failure_reason": endpoint.failure_reason if endpoint else None,
        "config": endpoint.config_name if endpoint else None,
        "serving": _serving(config) if config is not None else None,
        "async_inference": to_json(config.async_inference)
        if config is not None and config.async_inference is not None
        else None,
        "last_modified": endpoint.last_modified if endpoint else None,
        "variants": to_json(endpoint.variants) if endpoint else [],
        "shadow_variants": to_json(endpoint.shadow_variants) if endpoint else [],
        "scaling": [to_json(s) for s in scaling],
        "managed_scaling": _managed_scaling(config),
        "instance_usage": _instance_usage(config, endpoint, components or []),
        "components": [
            _component_report(c, spec_name, scaled, c.name not in (foreign or set()))
            for c in components or []
        ],
        "managed_by_deployspec": is_owned(tags, spec_name),
        "matches_spec": matches,
        "pending_changes": len(changes),
        "changes": changes,
        **({"matches_spec_unknown_because": unknown} if unknown else {}),
    }
    return _StatusView(report, endpoint, scaling)


def _print_status(view: _StatusView) -> None:
    report, endpoint, scaling = view.report, view.endpoint, view.scaling
    spec_name, region = report["endpoint"], report["region"]
    matches, changes = report["matches_spec"], report["changes"]
    unknown = report.get("matches_spec_unknown_because")
    if endpoint is None:
        click.echo(f"endpoint {spec_name}: does not exist in {region}")
    else:
        click.echo(f"endpoint {endpoint.name} ({region}): {endpoint.status}")
        if endpoint.failure_reason:
            click.echo(f"  failure reason: {endpoint.failure_reason}")
        click.echo(f"  config:         {endpoint.config_name}")
        if report["serving"] is not None:
            click.echo(f"  serving:        {report['serving']}")
        queued = report.get("async_inference")
        if queued is not None:
            failures = f", failures to {queued['failure_path']}" if queued["failure_path"] else ""
            click.echo(f"  asynchronous:   answers to {queued['output_path']}{failures}")
        click.echo(f"  last modified:  {endpoint.last_modified}")
        scaled = {s.resource_id.rsplit("/", 1)[-1]: s for s in scaling}
        shadows = {v.variant_name for v in endpoint.shadow_variants}
        for variant in (*endpoint.variants, *endpoint.shadow_variants):
            count = (
                f"{variant.current_instance_count} instance(s)"
                if variant.current_instance_count is not None
                else "serverless"
            )
            role = (
                "shadow (a copy of live traffic)"
                if variant.variant_name in shadows
                else f"weight {variant.current_weight}"
            )
            click.echo(f"  variant {variant.variant_name}: {count}, {role}")
            found = scaled.get(variant.variant_name)
            if found is not None:
                click.echo(f"    autoscaling:  {_scaling_summary(found)}")
        managed = report.get("managed_scaling")
        if managed is not None:
            zero = " (scales to zero)" if managed["min_instance_count"] == 0 else ""
            click.echo(
                f"    instances:    {managed['min_instance_count']}-"
                f"{managed['max_instance_count']}, managed by SageMaker{zero}"
            )
        usage = report.get("instance_usage")
        if usage is not None:
            accelerators = usage["accelerators"]
            gpus = (
                f"{accelerators['reserved']:g} of {accelerators['available']} accelerators"
                if accelerators["available"] is not None
                else f"{accelerators['reserved']:g} accelerators"
            )
            click.echo(
                f"    in use:       {usage['instances']} {usage['instance_type']} "
                f"instance{'' if usage['instances'] == 1 else 's'}, {usage['copies']} "
                f"cop{'y' if usage['copies'] == 1 else 'ies'} placed reserving {gpus}, "
                f"{usage['cpu_cores']:g} CPU cores, {usage['memory_mb']} MB memory"
            )
        for item in report.get("components") or []:
            _print_component(item)
        if not report["managed_by_deployspec"]:
            click.echo("  managed:        no (not created by deployspec; see plan --adopt)")
    if matches is None:
        click.echo(f"  matches spec:   unknown ({unknown})")
    elif matches:
        click.echo("  matches spec:   yes")
    elif not changes:
        click.echo("  matches spec:   no (`deployspec plan` shows what apply would create)")
    else:
        pending = len(changes)
        click.echo(
            f"  matches spec:   no: {pending} resource{'s' if pending != 1 else ''} to change "
            "(`deployspec plan` shows how)"
        )
        for change in changes:
            why = "; ".join(change["reasons"]) or change["action"]
            click.echo(f"    {change['address']}: {why}")


def _status_many(
    selection: _Selection,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    fmt: str,
    parallelism: int,
) -> None:
    from .errors import NotPackagedError
    from .multi import error_fields
    from .operations import (
        connect_selected,
        load_selected,
        prepare_loaded,
        run_parallel,
    )
    from .render import spec_header

    selected = load_selected(selection.found, variables, var_files, changes=selection.changes)
    runs: list[Any] = selected.runs
    if not runs and selection.changes is not None:
        if fmt == "json":
            click.echo("[]")
        click.echo(f"No spec changed since {selection.changes.ref}.", err=fmt == "json")
        return
    connect_selected(selected, target)

    def read(run: Any) -> None:
        try:
            prepared = prepare_loaded(
                run.loaded, target, gateway=run.gateway, adopt=True, build_artifact=False
            )
        except NotPackagedError as exc:
            run.result = _status_live(run.loaded, run.gateway, exc)
        else:
            run.result = _status_planned(prepared)

    run_parallel(runs, read, parallelism)
    failed = [run for run in runs if run.error is not None]
    if fmt == "json":
        entries: list[dict[str, Any]] = []
        for run in runs:
            if run.error is not None:
                message, hint = error_fields(run.error)
                entries.append({"file": str(run.file), "error": {"message": message, "hint": hint}})
            else:
                entries.append({"file": str(run.file), **run.result.report})
        click.echo(json.dumps(entries, indent=2))
    else:
        matching = 0
        for run in runs:
            click.echo(spec_header(run.spec_plan()))
            if run.error is not None:
                click.echo(run.error.format())
            else:
                matching += run.result.report["matches_spec"] is True
                _print_status(run.result)
            click.echo("")
        click.echo(
            f"{matching} of {len(runs)} specs match their endpoint, "
            f"{len(runs) - matching - len(failed)} do not or are unknown, "
            f"{len(failed)} error{'s' if len(failed) != 1 else ''}"
        )
    _many_errors(failed)
    if failed:
        raise SystemExit(1)


def _instance_usage(config: Any, endpoint: Any, components: list[Any]) -> dict[str, Any] | None:
    """What an inference-component endpoint's instances hold: how many run, and what the
    copies placed on them reserve in all, against the accelerators the instances have (from
    deployspec's accelerator table; None where it does not know the type)."""
    from .gpus import UnknownGpuCount, accelerator_count

    if config is None or endpoint is None or not components:
        return None
    variant = next((v for v in config.variants if v.managed_scaling is not None), None)
    if variant is None or variant.instance_type is None:
        return None
    running = sum(v.current_instance_count or 0 for v in endpoint.variants)
    try:
        available: int | None = accelerator_count(variant.instance_type) * running
    except UnknownGpuCount:
        available = None
    placed = [(c.compute, c.current_copy_count or 0) for c in components if c.compute is not None]
    return {
        "instance_type": variant.instance_type,
        "instances": running,
        "copies": sum(n for _, n in placed),
        "accelerators": {
            "reserved": sum((c.accelerators or 0) * n for c, n in placed),
            "available": available,
        },
        "cpu_cores": sum((c.cpu_cores or 0) * n for c, n in placed),
        "memory_mb": sum(c.min_memory_mb * n for c, n in placed),
    }


def _managed_scaling(config: Any) -> dict[str, int] | None:
    """The instances SageMaker scales an inference-component endpoint between."""
    from .resources import to_json

    variants = config.variants if config is not None else ()
    found = next((v.managed_scaling for v in variants if v.managed_scaling is not None), None)
    return to_json(found) if found is not None else None


def _component_report(
    component: Any, spec_name: str, scaled: dict[str, Any], ours: bool
) -> dict[str, Any]:
    """One inference component as `status --format json` shows it."""
    from .resources import component_resource_id, to_json

    scaling = scaled.get(component_resource_id(component.name))
    prefix = f"{spec_name}-"
    return {
        "name": component.name.removeprefix(prefix),
        "inference_component": component.name,
        "status": component.status,
        "failure_reason": component.failure_reason,
        "model": component.model_name,
        "base": component.base_component.removeprefix(prefix) if component.base_component else None,
        "artifact_url": component.artifact_url,
        "copies": {"desired": component.copy_count, "current": component.current_copy_count},
        "compute": to_json(component.compute) if component.compute is not None else None,
        "scaling": to_json(scaling) if scaling is not None else None,
        "managed_by_deployspec": ours,
    }


def _print_component(item: dict[str, Any]) -> None:
    from .aws import compute_text
    from .resources import ComputeRequirements, Scaling, from_json

    line = f"  component {item['name']} ({item['inference_component']}): {item['status']}"
    if item["base"] is not None:
        line += f", adapter on {item['base']}"
    else:
        copies = item["copies"]
        line += f", {copies['current']} of {copies['desired']} copies"
    if item["compute"] is not None:
        line += f", each {compute_text(from_json(ComputeRequirements, item['compute']))}"
    click.echo(line)
    if item["failure_reason"]:
        click.echo(f"    failure reason: {item['failure_reason']}")
    if item["model"] is not None:
        click.echo(f"    model:        {item['model']}")
    if item["scaling"] is not None:
        click.echo(f"    autoscaling:  {_scaling_summary(from_json(Scaling, item['scaling']))}")
    if not item["managed_by_deployspec"]:
        click.echo("    managed:      no (not this spec's: never changed or deleted)")


def _scaling_summary(scaling: Any) -> str:
    """A variant's (or component's) autoscaling in a few words, in the units of what it
    scales."""
    from .resources import BACKLOG, CONCURRENT_REQUESTS_PER_COPY, PROVISIONED_CONCURRENCY

    span = f"{scaling.min_capacity}-{scaling.max_capacity}"
    if scaling.metric == CONCURRENT_REQUESTS_PER_COPY:
        zero = " (scales to zero)" if scaling.min_capacity == 0 else ""
        return f"{span} copies{zero}, target {scaling.target_value} concurrent requests/copy"
    if scaling.metric == PROVISIONED_CONCURRENCY:
        return f"{span} provisioned concurrency, target utilisation {scaling.target_value}"
    if scaling.metric == BACKLOG:
        zero = " (scales to zero)" if scaling.min_capacity == 0 else ""
        return f"{span} instances{zero}, target {scaling.target_value} queued requests/instance"
    return f"{span} instances, target {scaling.target_value} invocations/instance"


def _serving(config: Any) -> str:
    """What the endpoint runs, in a few words: each variant's model, and its instance type and
    count or serverless memory."""
    parts = []
    several = len(config.all_variants) > 1
    for variant in config.all_variants:
        if variant.serverless is not None:
            sizing = (
                f"serverless, {variant.serverless.memory_mb} MB, "
                f"up to {variant.serverless.max_concurrency} concurrent requests"
            )
        else:
            sizing = f"{variant.instance_type} x{variant.initial_instance_count}"
        named = f"{variant.variant_name}: " if several else ""
        served = (
            "inference components" if variant.model_name is None else f"model {variant.model_name}"
        )
        parts.append(f"{named}{served}: {sizing}")
    return "; ".join(parts)


@cli.command("import")
@click.argument("endpoint")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the spec to FILE instead of stdout (never over an existing file without --force).",
)
@click.option("--force", is_flag=True, help="With --out: replace an existing file.")
@click.option("--region", default=None, help="AWS region (else AWS config).")
@click.option("--profile", default=None, help="AWS profile from ~/.aws/config.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Use the running local sandbox (also DEPLOYSPEC_SANDBOX=1); never reaches AWS.",
)
def import_(
    endpoint: str,
    out: Path | None,
    force: bool,
    region: str | None,
    profile: str | None,
    sandbox: bool,
) -> None:
    """Write a spec (deployment.yaml) from the live endpoint ENDPOINT, on stdout or to --out.

    Made for `deployspec plan --adopt` and `apply --adopt`: when nothing the spec cannot express
    was dropped, adopting only adds deployspec's tags to the endpoint, and its config and model
    stay as they are. Read-only. What to review is said on stderr and in the file's header; an
    endpoint of several variants is written as `variants:` (and `shadow:`), and one a spec cannot
    express (inference components, several containers, ...) is refused, named.
    """
    from .importer import import_endpoint
    from .operations import Target, connect

    if out is not None:
        _check_import_out(out, force)
    gateway = connect(Target(region=region, profile=profile, sandbox=sandbox))
    imported = import_endpoint(gateway, endpoint)
    if out is None:
        click.echo(imported.text, nl=False)
    else:
        _write_import(out, imported.text, force)
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    shown = out if out is not None else "deployment.yaml"
    written = f"Wrote {out}" if out is not None else "Printed the spec"
    if imported.managed:
        outcome = "deployspec manages the endpoint already"
    elif imported.in_place:
        outcome = "adopting it only adds deployspec's tags to the endpoint"
    else:
        outcome = "adopting it creates deployspec's own model and config (see the notes)"
    adopt = "" if imported.managed else " --adopt"
    click.echo(
        f"{written} from endpoint {endpoint} (config {imported.config_name}, "
        f"{'models' if len(imported.model_names) > 1 else 'model'} "
        f"{', '.join(imported.model_names)}): {outcome}. Review it, then "
        f"`deployspec validate {shown}` and "
        f"`deployspec plan{adopt} {shown}`.",
        err=True,
    )


def _check_import_out(out: Path, force: bool) -> None:
    """import --out: a new regular file, or with --force an existing one; never through a
    symbolic link (it could point anywhere)."""
    if out.is_symlink():
        raise DeployspecError(
            f"--out {out} is a symbolic link: deployspec does not write a spec through one",
            hint="name a regular file, e.g. --out deployment.yaml",
        )
    if out.is_dir():
        raise DeployspecError(f"--out {out} is a folder", hint="name a file in it")
    if not out.parent.is_dir():
        raise DeployspecError(
            f"--out {out}: the folder {out.parent} does not exist", hint="create it first"
        )
    if out.exists() and not force:
        raise DeployspecError(
            f"--out {out} exists: deployspec does not overwrite it",
            hint="pass --force to replace it, or name another file",
        )
    if out.exists() and not out.is_file():
        raise DeployspecError(f"--out {out} is not a regular file")


def _write_import(out: Path, text: str, force: bool) -> None:
    # O_NOFOLLOW and O_EXCL close the gap between the checks above and the write: a link or a
    # file put there meanwhile is refused, not followed or overwritten.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o644)
    except FileExistsError:
        raise DeployspecError(
            f"--out {out} exists: deployspec does not overwrite it", hint="pass --force"
        ) from None
    except OSError as exc:
        raise DeployspecError(f"--out {out}: cannot write it: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@parallelism_option
def drift(
    files: tuple[Path, ...],
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    fmt: str,
    parallelism: int,
) -> None:
    """Whether anything changed the endpoints of FILES outside deployspec (default: every spec
    under this folder). Read-only and cheap, for scheduled jobs: it never packages a model.

    Compares each live endpoint with what deployspec last applied for the spec (recorded on
    the endpoint), not with the spec: spec edits not applied yet are shown as pending, and are
    not drift. Exit 0 when nothing drifted, 2 when some endpoint did, 1 when a spec could not
    be checked. `--format json` is documented in docs/plan-format.md.
    """
    from .drift import check_specs, exit_code, render_json, render_text
    from .multi import find_specs

    found = find_specs(files or (Path("."),))
    reports = check_specs(found, variables, var_files, target, parallelism=parallelism)
    click.echo(render_json(reports) if fmt == "json" else render_text(reports), nl=False)
    code = exit_code(reports)
    if code:
        raise SystemExit(code)


@cli.group()
def sandbox() -> None:
    """A local SageMaker (moto plus what moto lacks) for trying deployspec without AWS.

    Its state lives in $DEPLOYSPEC_HOME/sandbox (default ~/.deployspec/sandbox). A sandbox
    belongs to the home and the deployspec installation that started it: another checkout
    never uses or stops it. Give each checkout or CI job its own DEPLOYSPEC_HOME (and
    `start --port 0`) to run several side by side.
    """


@sandbox.command("start")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port on 127.0.0.1 (default 5577; 0 picks a free one).",
)
@click.option(
    "--transition-seconds",
    type=click.FloatRange(0, 3600),
    default=1.0,
    show_default=True,
    help="How long Creating/Updating/Deleting last.",
)
def sandbox_start(port: int | None, transition_seconds: float) -> None:
    """Start the sandbox in the background and print the environment to use it."""
    from .sandbox import control

    info, started = control.start(port, transition_seconds=transition_seconds)
    verb = "started" if started else "already running"
    click.echo(f"sandbox {verb} at {info.endpoint_url} (pid {info.pid})", err=True)
    click.echo(f"# state in {info.state_dir} (DEPLOYSPEC_HOME selects another sandbox)", err=True)
    click.echo("# use it with --sandbox, or export these:", err=True)
    for key, value in control.environment(info).items():
        click.echo(f"export {key}={value}")


@sandbox.command("status")
def sandbox_status() -> None:
    """Whether the sandbox runs, and where."""
    from .sandbox import control

    info = control.status()
    if info is None:
        click.echo("sandbox: not running (start it with `deployspec sandbox start`)")
        raise SystemExit(1)
    click.echo(f"sandbox: running at {info.endpoint_url} (pid {info.pid})")
    click.echo(f"  state: {info.state_dir} (DEPLOYSPEC_HOME selects another sandbox)")


@sandbox.command("stop")
def sandbox_stop() -> None:
    """Stop this home's sandbox and every model process it started (never another's)."""
    from .sandbox import control

    click.echo("sandbox: stopped" if control.stop() else "sandbox: was not running")


@sandbox.command("fault")
@click.argument(
    "kind",
    required=False,
    type=click.Choice(["fail-create", "fail-update", "refuse-update", "throttle", "clear"]),
)
@click.option("--endpoint", default=None, help="Endpoint the fault applies to.")
@click.option("--reason", default="Injected by deployspec sandbox", show_default=True)
@click.option(
    "--no-rollback",
    is_flag=True,
    help="fail-update: end Failed instead of rolling back to the old config.",
)
@click.option(
    "--fraction", type=float, default=0.5, show_default=True, help="throttle: share of calls."
)
@click.option("--service", default=None, help="throttle: only this service (e.g. sagemaker).")
@click.option(
    "--alarm",
    default=None,
    metavar="NAME",
    help="Instead of KIND: CloudWatch alarm NAME goes into ALARM during the next update of any "
    "endpoint whose deployment's rollback alarms list it, which is then rolled back. The alarm "
    "need not exist in the sandbox's CloudWatch (if it does, its state follows).",
)
def sandbox_fault(
    kind: str | None,
    endpoint: str | None,
    reason: str,
    no_rollback: bool,
    fraction: float,
    service: str | None,
    alarm: str | None,
) -> None:
    """Inject a fault: make the next create or update of ENDPOINT fail (or UpdateEndpoint be
    refused at once, as for an exceeded quota), trip a rollback alarm (--alarm), or throttle
    calls."""
    from .sandbox import control

    if (kind is None) == (alarm is None):
        raise DeployspecError(
            "give one fault: a KIND or --alarm NAME",
            hint="e.g. `deployspec sandbox fault fail-update --endpoint NAME` or "
            "`deployspec sandbox fault --alarm NAME`",
        )

    info = control.status()
    if info is None:
        raise DeployspecError(
            "the sandbox is not running", hint="start it with `deployspec sandbox start`"
        )
    faults = control.FaultClient(info)
    if alarm is not None:
        faults.alarm_during_next_update(alarm)
        click.echo(f"sandbox: alarm {alarm} will trip during the next update that lists it")
        return
    if kind in ("fail-create", "fail-update", "refuse-update") and not endpoint:
        raise DeployspecError(f"{kind} needs --endpoint NAME")
    if kind == "fail-create" and endpoint:
        faults.fail_next_create(endpoint, reason)
    elif kind == "fail-update" and endpoint:
        faults.fail_next_update(endpoint, reason, rollback=not no_rollback)
    elif kind == "refuse-update" and endpoint:
        faults.refuse_next_update(endpoint, reason)
    elif kind == "throttle":
        faults.throttle(fraction, service)
    else:
        faults.clear()
    click.echo(f"sandbox: fault {kind} set" if kind != "clear" else "sandbox: faults cleared")


@sandbox.group("hub")
def sandbox_hub() -> None:
    """The sandbox's offline copies of Hugging Face Hub models (it has no network)."""


@sandbox_hub.command("add")
@click.argument("model_id", metavar="ID")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
def sandbox_hub_add(model_id: str, folder: Path) -> None:
    """Serve FOLDER (a model saved with save_pretrained) wherever a spec names hub id ID."""
    from .sandbox import hub

    click.echo(f"sandbox: {model_id} is served from {hub.add(model_id, folder)}")


# InvokeEndpoint's Body limit in botocore's sagemaker-runtime service model (what the sandbox's
# realtime_max_payload() reads; not imported here, as it would load moto). Serverless endpoints
# take 4 MB, but which kind FILE deploys is not known before the spec is read.
MAX_INVOKE_BODY = 6 * 1024 * 1024
ASYNC_MAX_BODY = 1024 * 1024 * 1024  # InvokeEndpointAsync reads up to 1 GB from S3


def _read_body(body: str, limit: int = 0) -> bytes:
    """The request body; larger than SageMaker accepts is an error, read no further than that.
    `limit`: another limit than InvokeEndpoint's (InvokeEndpointAsync takes up to 1 GB)."""
    limit = limit or MAX_INVOKE_BODY
    if body.startswith("@"):
        path = Path(body[1:])
        shown = f"in {path}"
        try:
            # Not read_bytes(): @/dev/zero or a pipe would be read until memory runs out.
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            raise DeployspecError(
                f"cannot read the body file {path}: {exc.strerror or exc}"
            ) from None
    else:
        shown = "given"
        data = body.encode()
    if len(data) > limit and limit != MAX_INVOKE_BODY:
        raise DeployspecError(
            f"the request body {shown} is larger than InvokeEndpointAsync's limit of 1 GB",
            hint="split the input into several requests",
        )
    if len(data) > limit:
        raise DeployspecError(
            f"the request body {shown} is larger than SageMaker's limit of "
            f"{MAX_INVOKE_BODY // (1024 * 1024)} MB ({MAX_INVOKE_BODY:,} bytes; serverless "
            f"endpoints take 4 MB)",
            hint="put larger inputs in S3 and send their URI for the inference script to read, "
            "or use asynchronous inference (InvokeEndpointAsync reads its input from S3)",
        )
    return data


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option(
    "--body",
    default=None,
    help="Request body, or @file to read it from a file (this or --prompt).",
)
@click.option(
    "--prompt",
    default=None,
    metavar="TEXT",
    help="Instead of --body: the request for the spec's LLM container (huggingface-llm, "
    "huggingface-vllm, huggingface-sglang, huggingface-tei, djl-lmi) asking this.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="With --prompt: the most tokens to generate.",
)
@click.option(
    "--stream",
    is_flag=True,
    help="Print the answer as it is generated (InvokeEndpointWithResponseStream, or with "
    "--local the server's own stream; the container must stream, as TGI, vLLM, SGLang and "
    "LMI do).",
)
@click.option("--content-type", default="application/json", show_default=True)
@click.option("--accept", default="application/json", show_default=True)
@click.option("--local", is_flag=True, help="Call a running `deployspec serve` instead.")
@click.option(
    "--local-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Where `deployspec serve` listens, with --local.",
)
@click.option(
    "--async",
    "queued",
    is_flag=True,
    help="For an endpoint with async: upload the body to S3, queue it (InvokeEndpointAsync) "
    "and print where the answer will be written.",
)
@click.option("--wait", is_flag=True, help="With --async: wait for the answer and print it.")
@click.option(
    "--wait-timeout",
    type=click.IntRange(1, 86400),
    default=900,
    show_default=True,
    help="With --async --wait: seconds to wait for the answer (SageMaker's own default "
    "invocation timeout is 900).",
)
@click.option(
    "--variant",
    default=None,
    metavar="NAME",
    help="Send the request to this production variant (TargetVariant) instead of one picked "
    "by weight.",
)
@click.option(
    "--target-model",
    default=None,
    metavar="NAME",
    help="For a multi-model endpoint: the model (a name in the spec's model.models) to run.",
)
@click.option(
    "--component",
    default=None,
    metavar="NAME",
    help="For an endpoint of inference components: the component (a name in the spec's "
    "components) to run (InferenceComponentName <spec name>-NAME).",
)
def invoke(
    file: Path,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    target: Target,
    body: str | None,
    prompt: str | None,
    max_tokens: int,
    stream: bool,
    content_type: str,
    accept: str,
    local: bool,
    local_url: str,
    queued: bool,
    wait: bool,
    wait_timeout: int,
    variant: str | None,
    target_model: str | None,
    component: str | None,
) -> None:
    """Call the endpoint FILE deploys and print the response (with --stream, its text as it
    is generated).

    With several variants, which one answered is printed on stderr."""
    from .operations import connect, load

    if (body is None) == (prompt is None):
        raise click.UsageError(
            "give the request with --body or build it with --prompt"
            if body is None
            else "--body and --prompt do not go together: --prompt builds the body"
        )
    if stream and queued:
        raise click.UsageError(
            "InvokeEndpointAsync writes its answer to S3: --stream cannot go with --async"
        )
    if stream and target_model is not None:
        raise click.UsageError(
            "multi-model endpoints do not stream (InvokeEndpointWithResponseStream has no "
            "TargetModel): --stream cannot go with --target-model"
        )
    if wait and not queued:
        raise click.UsageError("--wait needs --async")
    if queued and local:
        raise click.UsageError("--async calls the deployed endpoint: it cannot go with --local")
    if variant is not None and local:
        raise click.UsageError(
            "--variant picks a variant of the deployed endpoint; locally, serve that variant's "
            "model with `deployspec serve FILE --variant NAME`"
        )
    if target_model is not None and (local or queued):
        raise click.UsageError("--target-model calls the deployed multi-model endpoint directly")
    if variant is not None and queued:
        raise click.UsageError(
            "SageMaker's InvokeEndpointAsync has no TargetVariant: --variant cannot go with --async"
        )
    if component is not None and (local or queued or variant is not None):
        raise click.UsageError(
            "--component calls a component of the deployed endpoint directly: it cannot go "
            "with --local, --async or --variant"
        )
    if body is not None:
        payload = _read_body(body, limit=ASYNC_MAX_BODY if queued else 0)
    else:
        from .operations import component_target, prompt_request

        loaded = load(file, variables, var_files)
        if variant is not None:
            _check_variant(loaded, variant)
        if not local:
            component_target(loaded, component)
        payload = prompt_request(
            loaded,
            prompt or "",
            variant=variant,
            stream=stream,
            max_tokens=max_tokens,
            component=component,
        )
    if local and stream:
        from .local_serve import invoke_local_stream
        from .prompts import GenerationError

        _, chunks = invoke_local_stream(local_url, payload, content_type, accept)
        try:
            _print_stream(chunks, None)
        except GenerationError as exc:
            # TokenStream's hint names the endpoint's CloudWatch logs; here the log is serve's.
            raise GenerationError(
                str(exc), hint="the output of `deployspec serve` says more"
            ) from None
        return
    if local:
        from .local_serve import invoke_local

        response, _ = invoke_local(local_url, payload, content_type, accept)
    else:
        if body is not None:
            loaded = load(file, variables, var_files)
        gateway = connect(target, loaded.spec.region)
        if queued:
            from .operations import invoke_async

            def progress(message: str) -> None:
                click.echo(message, err=True)

            result = invoke_async(
                gateway,
                loaded,
                payload,
                content_type,
                accept,
                wait_seconds=wait_timeout if wait else None,
                progress=progress,
            )
            if result.answer is None:
                click.echo(result.output_location)
                return
            response = result.answer
        else:
            from .operations import component_target

            variants = loaded.spec.endpoint_variants
            if variant is not None:
                _check_variant(loaded, variant)
            named = component_target(loaded, component)
            key = None
            if target_model is not None:
                from .desired import account_of_role, resolve_role
                from .operations import target_model as resolve_target

                account = account_of_role(resolve_role(loaded, target.role))
                key = resolve_target(gateway, loaded, account, target_model)
            if stream:
                streamed = gateway.invoke_endpoint_stream(
                    loaded.spec.name,
                    payload,
                    content_type,
                    accept,
                    variant=variant,
                    component=named,
                )
                if streamed.variant is not None and len(variants) > 1:
                    click.echo(f"answered by variant {streamed.variant}", err=True)
                _print_stream(streamed.chunks, loaded.spec.name)
                return
            answer = gateway.invoke_endpoint(
                loaded.spec.name,
                payload,
                content_type,
                accept,
                variant=variant,
                target_model=key,
                component=named,
            )
            response = answer.body
            if answer.variant is not None and len(variants) > 1:
                click.echo(f"answered by variant {answer.variant}", err=True)
    click.echo(response.decode("utf-8", errors="replace"))


def _print_stream(chunks: Iterable[bytes], endpoint: str | None) -> None:
    """`invoke --stream`: the answer's text as it arrives (click.echo flushes each piece), and
    a line end at the end, also when the stream breaks off. The chunks are the container's
    bytes, from the endpoint's PayloadParts or (`endpoint` None) a local `serve`."""
    from .prompts import TokenStream

    reader = TokenStream(endpoint)
    shown = ""
    try:
        for chunk in chunks:
            text = reader.feed(chunk)
            if text:
                click.echo(text, nl=False)
                shown = text
        text = reader.close()
        if text:
            click.echo(text, nl=False)
            shown = text
    finally:
        if not shown.endswith("\n"):
            click.echo()


def _check_variant(loaded: Any, name: str) -> None:
    """`invoke --variant`: one of the spec's production variants (a shadow answers no client)."""
    from .errors import DeployspecError

    variants = loaded.spec.endpoint_variants
    production = [v.name for v in variants if not v.shadow]
    if name in production:
        return
    if name in (v.name for v in variants):
        raise DeployspecError(
            f"{loaded.file}: {name} is the shadow variant: it gets copies of live traffic and "
            "its answers are discarded, so it cannot be invoked",
            hint=f"invoke a production variant: {', '.join(production)}; or promote the shadow "
            "to a production variant in the spec",
        )
    raise DeployspecError(
        f"{loaded.file}: the spec has no variant {name!r}",
        hint=f"its production variants: {', '.join(production)}",
    )


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@spec_inputs
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback lets others run your model.",
)
@click.option(
    "--variant",
    default=None,
    metavar="NAME",
    help="With several variants: serve this one's model (default: the first).",
)
def serve(
    file: Path,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    port: int,
    host: str,
    variant: str | None,
) -> None:
    """Serve FILE's model locally with the container contract (GET /ping, POST /invocations).

    The model is packaged exactly as apply would deploy it, then unpacked and served, without
    Docker or AWS: the quickest way to test an inference script.
    """
    from .local_serve import prepare_local_model
    from .operations import load
    from .runtime import ModelWorker
    from .runtime.server import MAX_PAYLOAD_BYTES, SERVERLESS_MAX_PAYLOAD_BYTES, make_server

    loaded = load(file, variables, var_files)
    _check_bindable(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: listening on {host}: anyone who reaches it can run your model", err=True
        )
    model_dir, framework, program, env = prepare_local_model(loaded, variant)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill` (SIGTERM) must stop the model worker too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, stop)
    _long_running()
    from .local_serve import pick_variant

    serverless = pick_variant(loaded.spec, variant).serverless is not None
    limit = SERVERLESS_MAX_PAYLOAD_BYTES if serverless else MAX_PAYLOAD_BYTES
    with ModelWorker(model_dir, framework=framework, program=program, env=env) as worker:
        server = make_server(worker, host, port, max_payload=limit)
        click.echo(
            f"serving {loaded.spec.name} on http://{host}:{server.server_address[1]} "
            "(GET /ping, POST /invocations); Ctrl-C stops",
            err=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            server.server_close()


def _check_bindable(host: str, port: int) -> None:
    """Fail before packaging and loading the model when the address cannot be used."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise DeployspecError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port, or stop what uses this one",
        ) from None


def _report(exc: DeployspecError) -> None:
    click.echo(exc.format(), err=True)
    if _debug_enabled():
        # Not the chained botocore error: its text can quote request parameters, secret
        # environment values among them. Its type is named in the message already.
        import traceback

        traceback.print_exception(exc, file=sys.stderr, chain=False)


# True while run() keeps the cyclic garbage collector paused (see run()).
_collector_paused = False


def run() -> None:
    """Process entry point (the `deployspec` script, `python -m deployspec`)."""
    # A run creates most of its objects while loading code (pydantic's model classes, boto3's
    # service models), and they live until exit: cyclic collections over them are wasted
    # work, about a tenth of `validate`. Commands that run long call _long_running().
    global _collector_paused
    gc.disable()
    _collector_paused = True
    try:
        main()
    finally:
        # Exit is next: the interpreter's teardown would run a full collection over every
        # object still alive, which frozen objects skip.
        gc.freeze()
        _collector_paused = False
        gc.enable()


def _long_running() -> None:
    """Collect garbage again from here on: what follows runs for minutes or until stopped."""
    global _collector_paused
    if _collector_paused:
        gc.collect()  # what loading left behind, before the survivors are set aside for good
        gc.freeze()
        _collector_paused = False
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    """Runs one command; maps errors to exit codes (0 ok, 1 error, 2 changes present or drift)."""
    try:
        cli.main(args=argv, prog_name="deployspec", standalone_mode=False)
    except DeployspecError as exc:
        _report(exc)
        raise SystemExit(1) from None
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        raise SystemExit(1) from None
    except click.ClickException as exc:
        exc.show()
        # click uses 2 for usage errors; 2 means "changes present" here.
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None
    except BrokenPipeError:
        # `deployspec plan | head` closes the pipe early; that is not an error of ours.
        sys.stderr.close()
        raise SystemExit(0) from None
    except OSError as exc:
        # A file system or network problem outside the tool's own checks (a cache folder that
        # is a file, a read-only home): still an error to report, not a traceback.
        if _debug_enabled():
            raise
        _report(DeployspecError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
        raise SystemExit(1) from None
    except SystemExit:
        raise
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
