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
