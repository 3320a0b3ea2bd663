"""Jinja2 rendering of a spec's text before it is parsed as YAML.

Contract: `render(text, file, variables)` returns the rendered text, or raises `SpecError`
located at the template line for syntax errors and undefined variables. The environment is
sandboxed (no attribute access to internals, no file loading) and strict (an undefined variable
is an error, never an empty string). Variables come, lowest precedence first, from the spec's
own `vars:` block (`file_defaults`), `--var-file` files, and `--var k=v`. A text whose only
template constructs are `{{ name }}` of defined variables is substituted without loading Jinja,
with the output Jinja would give (the tests compare the two).

The `vars:` block is read before rendering, so it must itself be plain YAML. Errors found
after rendering are located in the rendered text; `source_lines` maps its lines back to the
template's, so that they still point into the file the user wrote when block tags, loops or
comments add or remove lines.
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
    substituted = _substitute_plain(text, variables)
    if substituted is not None:
        return substituted
    # Imported here: specs that need no more than `{{ name }}` never pay for Jinja.
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        return _render_bounded(_environment().from_string(text), dict(variables), file)
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


# `{{ name }}`, the template most specs use and the only one rendered without Jinja.
_PLAIN_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Names Jinja reads as constants or as its own objects, not as variables.
_JINJA_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "self", "not"})


def _substitute_plain(text: str, variables: Mapping[str, object]) -> str | None:
    """`text` with every `{{ name }}` replaced by `str()` of a defined variable, which is what
    Jinja outputs for it; None when the text holds any other template construct, a name that
    is undefined or one Jinja reserves, or anything Jinja's lexer would read differently (a `{`
    right before `{{`, a carriage return). Loading Jinja is a tenth of `validate`'s start-up.
    """
    if "\r" in text:
        return None
    matches = list(_PLAIN_REFERENCE.finditer(text))
    for match in matches:
        name = match.group(1)
        if name in _JINJA_NAMES or name not in variables:
            return None
        if match.start() > 0 and text[match.start() - 1] == "{":
            return None
    if has_template(_PLAIN_REFERENCE.sub("", text)):
        return None
    substituted = _PLAIN_REFERENCE.sub(lambda match: str(variables[match.group(1)]), text)
    return substituted if len(substituted) <= MAX_RENDERED_CHARS else None


# A line-number marker: private-use characters, which no spec needs, around a line number.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
_TAG_OPEN = re.compile(r"\{[{%#]")
# Inside `{% raw %}`, `{{` is literal text, which the tag scanner below does not know.
_RAW_BLOCK = re.compile(r"\{%[-+]?\s*raw\b")
_TAG_CLOSE = {"{{": "}}", "{%": "%}", "{#": "#}"}


def source_lines(text: str, variables: Mapping[str, object], rendered: str) -> list[int] | None:
    """For each line of `rendered` (the output of `render(text, ...)`), the line of `text` it
    comes from; None when that cannot be told for certain.

    The template is rendered a second time with every line of its literal text tagged with its
    line number, right after the line's last non-blank character, and every `{{` tagged with
    its own, right before it: places where whitespace control (`{%-`, `-%}`) never strips.
    The tags must then come out exactly where the literal text and the values do: when the
    second output, tags removed, differs from the first in any way (a tag landed inside an
    expression, or a filter saw it), the answer is None. A rendered line with no tag of its
    own (the rest of a value spanning lines, a blank line) belongs to the line before.
    """
    if _MARK_OPEN in text or _MARK_CLOSE in text or _RAW_BLOCK.search(text):
        return None
    try:
        marked = _render_bounded(
            _environment().from_string(_mark_literal_lines(text)), dict(variables), "<lines>"
        )
    except (Exception, RecursionError):
        return None
    if _MARK.sub("", marked) != rendered:
        return None
    origin: list[int] = []
    for line in marked.split("\n"):
        found = _MARK.search(line)
        if found:
            origin.append(int(found.group(1)))
        elif origin:
            origin.append(origin[-1])
        else:
            origin.append(1)
    return origin


def _mark_literal_lines(text: str) -> str:
    """`text` with a line-number marker after the last non-blank character of every line of
    literal text (outside `{{ }}`, `{% %}` and `{# #}`) and before every `{{`."""
    out: list[str] = []
    position, line = 0, 1
    while position < len(text):
        opener = _TAG_OPEN.search(text, position)
        start = opener.start() if opener else len(text)
        out.append(_mark_lines(text[position:start], line))
        line += text.count("\n", position, start)
        if opener is None:
            break
        end = _tag_end(text, start, _TAG_CLOSE[opener.group()])
        if opener.group() == "{{" and text[start + 2 : start + 3] != "-":
            # A line that is only a value (`{{ extra }}`) has no literal text to tag.
            out.append(f"{_MARK_OPEN}{line}{_MARK_CLOSE}")
        out.append(text[start:end])
        line += text.count("\n", start, end)
        position = end
    return "".join(out)


def _mark_lines(literal: str, first_line: int) -> str:
    pieces = literal.split("\n")
    for offset, piece in enumerate(pieces):
        content = piece.rstrip()
        if content.strip():
            tail = piece[len(content) :]
            pieces[offset] = f"{content}{_MARK_OPEN}{first_line + offset}{_MARK_CLOSE}{tail}"
    return "\n".join(pieces)


def _tag_end(text: str, start: int, closer: str) -> int:
    """Index just past the tag opened at `start`, skipping quoted strings inside it."""
    position = start + 2
    quote: str | None = None
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = None
        elif char in "'\"" and closer != "#}":
            quote = char
        elif text.startswith(closer, position):
            return position + len(closer)
        position += 1
    return len(text)


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return _bounded_environment(SandboxedEnvironment)(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


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
