"""Jinja2 rendering of a spec's text before it is parsed as YAML.

Contract: `render(text, file, variables)` returns the rendered text, or raises `SpecError`
located at the template line for syntax errors and undefined variables. The environment is
sandboxed (no attribute access to internals, no file loading) and strict (an undefined variable
is an error, never an empty string). Variables come, lowest precedence first, from the spec's
own `vars:` block (`file_defaults`), `--var-file` files, and `--var k=v`.

The `vars:` block is read before rendering, so it must itself be plain YAML; rendering keeps
line numbers unchanged as long as templates are used inline (`{{ stage }}`), which is how every
located error after this stage stays accurate.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from .errors import Diagnostic, SpecError
from .yamlsource import parse_yaml

_VARS_START = re.compile(r"^vars\s*:")
_TEMPLATE_MARKERS = ("{{", "{%", "{#")
# The file name Jinja gives frames of templates compiled from a string.
_TEMPLATE_NAME = "<template>"


def has_template(text: str) -> bool:
    return any(marker in text for marker in _TEMPLATE_MARKERS)


def file_defaults(text: str, file: str) -> dict[str, object]:
    """The spec's own `vars:` block, parsed with every other line blanked to keep line numbers."""
    lines = text.splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        if _VARS_START.match(line):
            inside = True
        elif inside and line[:1] not in ("", " ", "#", "\t"):
            inside = False
        kept.append(line if inside else "")
    if not any(kept):
        return {}
    doc = parse_yaml("\n".join(kept) + "\n", file)
    block = doc.data.get("vars")
    if block is None:
        return {}
    if not isinstance(block, dict):
        mark = doc.marks.value(("vars",))
        raise SpecError(
            [
                Diagnostic(
                    file,
                    mark.line if mark else None,
                    mark.column if mark else None,
                    "vars",
                    f"expected a mapping of variable defaults, got {type(block).__name__}",
                    "write it as `vars: {stage: dev}`",
                )
            ]
        )
    # `v: 2.10` must stay "2.10", not YAML's float 2.1, or a version silently changes.
    return {
        str(k): doc.raw_scalars.get(("vars", k), v) if isinstance(v, (int, float)) else v
        for k, v in block.items()
    }


def render(text: str, file: str, variables: Mapping[str, object]) -> str:
    if not has_template(text):
        return text
    # Imported here: specs without templates (the common case) never pay for Jinja.
    from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    env = _bounded_environment(SandboxedEnvironment)(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    try:
        return _render_bounded(env.from_string(text), dict(variables), file)
    except SpecError:
        raise
    except TemplateSyntaxError as exc:
        raise SpecError(
            [
                Diagnostic(
                    file,
                    exc.lineno,
                    _column_of(text, exc.lineno, None),
                    "",
                    f"template error: {exc.message}",
                    "Jinja2 syntax: {{ variable }} for values",
                )
            ]
        ) from None
    except UndefinedError as exc:
        where = _template_line(exc)
        name = _undefined_name(str(exc))
        known = ", ".join(sorted(variables)) or "none"
        raise SpecError(
            [
                Diagnostic(
                    file,
                    where,
                    _column_of(text, where, name),
                    "",
                    f"undefined template variable: {exc.message}",
                    f"define it under `vars:` or pass --var {name or 'NAME'}=VALUE "
                    f"(defined: {known})",
                )
            ]
        ) from None
    except SecurityError as exc:
        where = _template_line(exc)
        raise SpecError(
            [
                Diagnostic(
                    file,
                    where,
                    _column_of(text, where, None),
                    "",
                    f"template not allowed: {exc}",
                    "templates may only use variables and filters",
                )
            ]
        ) from None
    # Anything else is the user's template failing at run time (1/0, 'a' + 1, recursion...).
    except (Exception, RecursionError) as exc:
        where = _template_line(exc)
        raise SpecError(
            [
                Diagnostic(
                    file,
                    where,
                    _column_of(text, where, None),
                    "",
                    f"template failed: {type(exc).__name__}: {exc}",
                    "templates may only substitute variables and use filters; "
                    "include, import and extends are not available",
                )
            ]
        ) from None


# Rendering is bounded like the YAML after it: a spec is small.
MAX_RENDERED_CHARS = 1024 * 1024
MAX_OPERAND = 100_000


def _bounded_environment(base: type[Any]) -> type[Any]:
    """The sandbox, plus limits on `*` and `**` so `'a' * 10**9` fails fast instead of eating
    memory."""

    class Bounded(base):  # type: ignore[misc]
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, (int, float)) and right > 64:
                raise OverflowError("exponent too large for a template")
            if operator == "*":
                for value, other in ((left, right), (right, left)):
                    if (
                        isinstance(value, (str, list, tuple))
                        and isinstance(other, int)
                        and len(value) * other > MAX_RENDERED_CHARS
                    ):
                        raise OverflowError("result too large for a template")
            return super().call_binop(context, operator, left, right)

    return Bounded


def _render_bounded(template: Any, variables: dict[str, object], file: str) -> str:
    out: list[str] = []
    size = 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise SpecError(
                [
                    Diagnostic(
                        file,
                        None,
                        None,
                        "",
                        f"the rendered template is larger than {MAX_RENDERED_CHARS} characters",
                        "a deployment spec is small: check loops in the template",
                    )
                ]
            )
        out.append(chunk)
    return "".join(out)


def _template_line(exc: BaseException) -> int | None:
    # Jinja rewrites tracebacks so frames of the compiled template carry the template's
    # own file name and line numbers; the innermost such frame is where rendering failed.
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__ or sys.exc_info()[2]):
        if frame.f_code.co_filename == _TEMPLATE_NAME:
            line = lineno
    return line


def _undefined_name(message: str) -> str | None:
    match = re.match(r"'([^']+)' is undefined", message)
    return match.group(1) if match else None


def _column_of(text: str, line: int | None, name: str | None) -> int | None:
    if line is None:
        return None
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return 1
    source = lines[line - 1]
    if name:
        found = re.search(r"\{\{[^}]*\b" + re.escape(name) + r"\b", source)
        if found:
            return found.start() + 1
    found_tag = re.search(r"\{[{%#]", source)
    return found_tag.start() + 1 if found_tag else 1
