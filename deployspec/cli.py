"""The command line: the only module that prints, prompts and exits.

Every expected failure is a DeployspecError, printed once on stderr without a traceback and
mapped to exit code 1 (`--debug` shows the traceback). Exit code 2 is reserved for "changes
present" with `--detailed-exitcode`, so usage errors exit 1 too. Heavy modules (boto3, the
SageMaker SDK, rich) are imported inside the commands that need them, keeping `--help` and
`validate` fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import DeployspecError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _debug_enabled() -> bool:
    return os.environ.get("DEPLOYSPEC_DEBUG", "") not in ("", "0")


def spec_inputs(func: F) -> F:
    """--var and --var-file, shared by every command that reads a spec."""
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
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=True))
@spec_inputs
def validate(
    files: tuple[Path, ...], variables: tuple[str, ...], var_files: tuple[Path, ...]
) -> None:
    """Check spec FILES against the schema, SageMaker's limits and the image tables.

    Prints one line per valid file; every problem of an invalid file is reported at once as
    file:line:col: field: message. Exit code 0 only when all files are valid.
    """
    failed = 0
    for path in files:
        try:
            loaded = _load(path, variables, var_files)
        except DeployspecError as exc:
            failed += 1
            _report(exc)
            continue
        spec = loaded.spec
        kind = (
            f"realtime {spec.realtime.instance_type} x{spec.realtime.instance_count}"
            if spec.realtime
            else f"serverless {spec.effective_serverless.memory_mb} MB"
        )
        version = f" {spec.model.version}" if spec.model.version else ""
        click.echo(f"{path}: valid ({spec.name}: {spec.model.framework.value}{version}, {kind})")
    if failed:
        raise SystemExit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of deployment.yaml (committed as schemas/deployment.schema.json)."""
    from .schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=False))


@cli.command()
@click.argument("directory", default=".", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--framework",
    type=click.Choice(["sklearn", "pytorch", "tensorflow", "xgboost"]),
    default="sklearn",
    show_default=True,
    help="Framework of the starter spec.",
)
@click.option("--name", default=None, help="Endpoint name (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: Path, framework: str, name: str | None, force: bool) -> None:
    """Write a commented starter deployment.yaml and inference.py into DIRECTORY."""
    from .starter import write_starter

    for written in write_starter(directory, framework, name=name, force=force):
        click.echo(f"wrote {written}")
    click.echo(
        f"next: put your model files in {directory / 'model'} and run "
        f"`deployspec validate {directory / 'deployment.yaml'}`"
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


def aws_options(func: F) -> F:
    """--region, --profile, --sandbox and --role, shared by every command that talks to AWS."""
    func = click.option(
        "--role",
        default=None,
        metavar="ARN",
        help="Execution role (else spec role: or DEPLOYSPEC_ROLE).",
    )(func)
    func = click.option(
        "--sandbox",
        is_flag=True,
        help="Use the running local sandbox (also DEPLOYSPEC_SANDBOX=1); never reaches AWS.",
    )(func)
    func = click.option("--profile", default=None, help="AWS profile from ~/.aws/config.")(func)
    func = click.option(
        "--region", default=None, help="AWS region (else spec region: or AWS config)."
    )(func)
    return func


def _target(region: str | None, profile: str | None, sandbox: bool, role: str | None) -> Any:
    from .operations import Target

    return Target(region=region, profile=profile, sandbox=sandbox, role=role)


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


def _save_plan(plan: Any, out: Path) -> None:
    # The saved plan holds everything apply needs, secret environment values included (as a
    # Terraform plan file does): keep it private to its owner.
    data = json.dumps(plan.to_json(), indent=2) + "\n"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)


FORMATS = click.Choice(["text", "json", "markdown"])


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply PLAN.json`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option("--adopt", is_flag=True, help="Take over an endpoint deployspec did not create.")
def plan(
    file: Path,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    region: str | None,
    profile: str | None,
    sandbox: bool,
    role: str | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    adopt: bool,
) -> None:
    """Show what apply would change in SageMaker for FILE, and why. Changes nothing."""
    from .operations import prepare

    prepared = prepare(
        file, variables, var_files, _target(region, profile, sandbox, role), adopt=adopt
    )
    _show_plan(prepared.plan, fmt)
    if out is not None:
        _save_plan(prepared.plan, out)
        click.echo(f"Saved the plan to {out}; apply it with `deployspec apply {out}`.", err=True)
    if detailed_exitcode and prepared.plan.has_changes:
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


class _Progress:
    """Prints apply events on stderr, once per new message."""

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None
        self.last_percent = -1

    def __call__(self, event: Any) -> None:
        if event.kind == "progress":
            percent = int((event.fraction or 0) * 100)
            if percent >= self.last_percent + 10 or percent == 100:
                self.last_percent = percent
                click.echo(f"{event.address}: uploading {percent}%", err=True)
            return
        key = (event.address, event.message)
        if key != self.last:
            self.last = key
            click.echo(f"{event.address}: {event.message}", err=True)


def _is_saved_plan(path: Path) -> bool:
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        return "format_version" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@spec_inputs
@aws_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--adopt", is_flag=True, help="Take over an endpoint deployspec did not create.")
def apply(
    file: Path,
    variables: tuple[str, ...],
    var_files: tuple[Path, ...],
    region: str | None,
    profile: str | None,
    sandbox: bool,
    role: str | None,
    auto_approve: bool,
    adopt: bool,
) -> None:
    """Make SageMaker match FILE (a spec, or a plan saved with `plan --out`).

    Idempotent: an unchanged spec changes nothing. A changed spec updates the live endpoint
    in place, without downtime; an interrupted apply is completed by running it again.
    """
    from .applier import Applier
    from .operations import check_fresh, connect, prepare
    from .plan import Plan
    from .render import render_text

    target = _target(region, profile, sandbox, role)
    if _is_saved_plan(file):
        the_plan = Plan.from_json(json.loads(file.read_text()))
        gateway = connect(target, the_plan.region)
        if gateway.region != the_plan.region:
            raise DeployspecError(
                f"the plan is for {the_plan.region}, but the session is in {gateway.region}",
                hint=f"pass --region {the_plan.region}",
            )
        check_fresh(gateway, the_plan)
        click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
        auto_approve = True  # reviewing the saved plan was the approval
    else:
        prepared = prepare(file, variables, var_files, target, adopt=adopt)
        the_plan, gateway = prepared.plan, prepared.gateway
        click.echo(render_text(the_plan, color=_use_color(sys.stdout)), nl=False)
    if not the_plan.has_changes:
        return
    _confirm(auto_approve, "apply these changes")
    Applier(gateway).apply(the_plan, _Progress())
    add, change, destroy = the_plan.counts()
    click.echo(
        f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed. "
        f"Endpoint {the_plan.endpoint_name} is InService."
    )


def _report(exc: DeployspecError) -> None:
    click.echo(exc.format(), err=True)
    if _debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes (0 ok, 1 error, 2 changes present)."""
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
    except SystemExit:
        raise
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
