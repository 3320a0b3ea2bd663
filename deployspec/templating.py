"""Jinja2 rendering of a spec's text before it is parsed as YAML.

Contract: `render(text, file, variables)` returns the rendered text, or raises `SpecError`
located at the template line for syntax errors and undefined variables. The environment is
sandboxed (no attribute access to internals, no file loading) and strict (an undefined variable
is an error, never an empty string). Variables come, lowest precedence first, from the spec's
own `vars:` block (`file_defaults`), `--var-file` files, and `--var k=v`; `referenced_names`
says which variables a template reads, so that a value for any other is refused. A text whose only
template constructs are `{{ name }}` of defined variables is substituted without loading Jinja,
with the output Jinja would give (the tests compare the two).

The `vars:` block is read before rendering, so it must itself be plain YAML. Errors found
after rendering are located in the rendered text; `source_lines` maps its lines back to the
template's, so that they still point into the file the user wrote when block tags, loops or
comments add or remove lines.

Rendering is bounded: a template is code, and a spec's template could otherwise loop or pad its
way to hours of CPU or gigabytes of memory. The sandbox refuses the usual culprits at once
(huge `**`, repetitions, paddings, format widths, `lipsum` counts, output size), and Jinja runs
in a forked child under a CPU budget (`RENDER_SECONDS`) and an address-space limit
(`RENDER_MEMORY_BYTES`) for whatever those miss; either way the result is a located `SpecError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import signal
import sys
import time
import traceback
import types
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

from .errors import Diagnostic, SpecError
from .secrets import redact, secret_values
from .yamlsource import parse_yaml

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

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


def referenced_names(text: str) -> frozenset[str] | None:
    """The variables the template reads (those it does not set itself); None when that cannot
    be told because the template does not parse (rendering then reports why)."""
    if not has_template(text):
        return frozenset()
    plain = {m.group(1) for m in _PLAIN_REFERENCE.finditer(text)}
    if not has_template(_PLAIN_REFERENCE.sub("", text)):
        return frozenset(plain - _JINJA_NAMES)
    _environment_class()  # imported before forking, as in render
    try:
        found = _isolated(lambda: _undeclared(text), "<names>")
    except SpecError:
        return None
    return None if found is None else frozenset(found)


def _undeclared(text: str) -> list[str] | None:
    from jinja2 import meta

    try:
        return sorted(meta.find_undeclared_variables(_environment().parse(text)))
    except (Exception, RecursionError):
        return None


def render(text: str, file: str, variables: Mapping[str, object]) -> str:
    if not has_template(text):
        return text
    substituted = _substitute_plain(text, variables)
    if substituted is not None:
        return substituted
    # Jinja is imported here, not at the top, so that specs that need no more than `{{ name }}`
    # never pay for it; and before forking, so that no child has to import it again.
    _environment_class()
    return _isolated(lambda: _render_jinja(text, file, dict(variables)), file)


def _render_jinja(text: str, file: str, variables: dict[str, object]) -> str:
    """Jinja's rendering of `text`; every error it reports passes through `_redacted` here, the
    one way out for them, before anything cuts it short (a secret cut in half would show)."""
    try:
        return _render_jinja_unredacted(text, file, variables)
    except SpecError as exc:
        raise SpecError(_redacted(exc.diagnostics, variables)) from None


def _redacted(diagnostics: list[Diagnostic], variables: Mapping[str, object]) -> list[Diagnostic]:
    """The diagnostics without the secret variables' values (those `spec.py` hides in its own
    errors: named like a credential or shaped like one), with other long variable values cut to
    a preview, then bounded. Jinja's messages quote values freely: `{{ {}[api_token] }}` says
    "'dict object' has no attribute '<the token>'"."""
    secrets = secret_values(variables)
    others = [str(v) for v in variables.values() if not isinstance(v, bool)]

    def clean(text: str, limit: int) -> str:
        return _shorten(redact(text, secrets, cut=others), limit)

    return [
        dataclasses.replace(
            d, message=clean(d.message, 200), hint=clean(d.hint, 500) if d.hint else d.hint
        )
        for d in diagnostics
    ]


def _render_jinja_unredacted(text: str, file: str, variables: dict[str, object]) -> str:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    def failure(line: int | None, message: str, hint: str, name: str | None = None) -> SpecError:
        """One located diagnostic; the column is `name`'s on the line, else its first text."""
        return SpecError([Diagnostic(file, line, _column_of(text, line, name), "", message, hint)])

    try:
        return _render_bounded(_environment().from_string(text), variables, file)
    except SpecError:
        raise
    except TemplateSyntaxError as exc:
        raise failure(
            exc.lineno,
            f"template error: {exc.message or ''}",
            "Jinja2 syntax: {{ variable }} for values",
        ) from None
    except UndefinedError as exc:
        name = _undefined_name(str(exc))
        known = ", ".join(sorted(variables)) or "none"
        raise failure(
            _template_line(exc),
            f"undefined template variable: {exc.message or ''}",
            f"define it under `vars:` or pass --var {_shorten(name or 'NAME')}=VALUE "
            f"(defined: {_shorten(known)})",
            name,
        ) from None
    except SecurityError as exc:
        raise failure(
            _template_line(exc),
            f"template not allowed: {exc}",
            "templates may only use variables and filters",
        ) from None
    except _TooLarge as exc:
        raise failure(_template_line(exc), f"template failed: {exc}", _LIMIT_HINT) from None
    except (_OutOfTime, MemoryError) as exc:
        where = _template_line(exc)
        kind = "time" if isinstance(exc, _OutOfTime) else "memory"
        raise SpecError(
            [_limit_diagnostic(file, kind, where, _column_of(text, where, None))]
        ) from None
    # Anything else is the user's template failing at run time (1/0, 'a' + 1, recursion...).
    except (Exception, RecursionError) as exc:
        raise failure(
            _template_line(exc),
            f"template failed: {type(exc).__name__}: {exc}",
            "templates may only substitute variables and use filters; "
            "include, import and extends are not available",
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
    _environment_class()  # imported before forking, as in render
    try:
        marked = _isolated(lambda: _render_marked(text, dict(variables)), "<lines>")
    except SpecError:
        return None
    if marked is None or _MARK.sub("", marked) != rendered:
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


def _render_marked(text: str, variables: dict[str, object]) -> str | None:
    try:
        return _render_bounded(
            _environment().from_string(_mark_literal_lines(text)), variables, "<lines>"
        )
    except (Exception, RecursionError):
        return None


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


# ---- bounds ------------------------------------------------------------------------------

# A rendered spec is a few KiB; a mebibyte is far past any real one and what the YAML parser
# after rendering is sized for. It also caps any single width, padding or repetition.
MAX_RENDERED_CHARS = 1024 * 1024
# No spec holds a number near 2**4096 (1234 digits); below that, arithmetic is instant (and
# Python refuses to print an integer past 4300 digits anyway).
MAX_INT_BITS = 4096
# Jinja's own sandbox bound for `range()`; the counts of `batch` and `slice` get the same.
MAX_ITEMS = 100_000
# `lipsum(n, max=m)` writes up to n*m words: ten thousand is already pages of placeholder text.
MAX_LIPSUM_WORDS = 10_000
# CPU seconds one render may use. Real templates render in milliseconds: two seconds is a
# thousand times that, yet short enough that a runaway loop reads as an error, not a hang.
# CPU time rather than wall time, so that a busy machine does not fail a good template.
RENDER_SECONDS = 2.0
# Address space one render may add. Its output is at most MAX_RENDERED_CHARS (4 MiB even as
# UCS-4) and Jinja's working set a few MiB: 256 MiB is fifty times that, and small enough for
# any laptop or CI runner.
RENDER_MEMORY_BYTES = 256 * 1024 * 1024
# How long past RENDER_SECONDS the parent waits, by the wall clock, before killing the child.
# The child's own CPU alarm stops it first and says where; this only ends a child that stopped
# running (blocked on a lock another thread held when it was forked), with room for a loaded
# machine, where CPU seconds take longer than seconds.
_WALL_SLACK_SECONDS = 3.0

_LIMIT_HINT = "a deployment spec is small: keep loops, repetitions and widths in templates small"
_T = TypeVar("_T")


class _TooLarge(Exception):
    """A template asked for more than the bounds allow. Raised inside the sandbox, so that
    Jinja locates it at the template's line like any other error."""


class _OutOfTime(Exception):
    """The child's CPU alarm. An Exception rather than a BaseException so that Jinja rewrites
    its traceback too, and the error names the template line the loop had reached."""


def _environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined

    return _environment_class()(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


@functools.cache
def _environment_class() -> type[SandboxedEnvironment]:
    """The sandbox, plus checks that make the usual ways to ask for too much (`10**10**9`,
    `'a' * 10**9`, `'a'|center(10**9)`, `lipsum(10**6)`...) fail at once with what was asked."""
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            for name, check in _FILTER_CHECKS.items():
                self.filters[name] = _checked(self.filters[name], check)
            lipsum = cast("Callable[..., Any]", self.globals["lipsum"])
            self.globals["lipsum"] = _checked(lipsum, _check_lipsum)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _check_call(obj, args, kwargs)
            return super().call(context, obj, *args, **kwargs)

    return Bounded


def _checked(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """`original` (a filter or global), running `check` on the user's arguments first. The
    wrapper keeps Jinja's markers, so Jinja still passes the environment or context a filter
    asks for, and the check skips it."""
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    @functools.wraps(original)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(*args[skip:], **kwargs)
        return original(*args, **kwargs)

    return checked


# The checks take the filters' own parameters, all with defaults: a call the filter itself
# would refuse is left for it to refuse, with its own message.


def _check_center(value: object = "", width: object = 80, *_: object, **__: object) -> None:
    _check_width("center", width)


def _check_indent(s: object = "", width: object = 4, *_: object, **__: object) -> None:
    pad = len(width) if isinstance(width, str) else width
    if isinstance(pad, int):
        text = str(s)
        _check_size("indent", len(text) + pad * (text.count("\n") + 1))


def _check_wordwrap(
    s: object = "",
    width: object = 79,
    break_long_words: object = True,
    wrapstring: object = None,
    *_: object,
    **__: object,
) -> None:
    _check_width("wordwrap", width)
    if isinstance(wrapstring, str) and isinstance(width, int) and width > 0:
        text = str(s)
        breaks = len(text) // width + text.count("\n") + 1
        _check_size("wordwrap", len(text) + breaks * len(wrapstring))


def _check_format(value: object = "", *args: object, **kwargs: object) -> None:
    # The filter is `value % (kwargs or args)`.
    _check_percent(str(value), kwargs or args)


def _check_batch(
    value: object = None, linecount: object = None, fill_with: object = None, *_: object
) -> None:
    if fill_with is not None:  # only the fill pads a batch beyond the items it was given
        _check_count("batch", linecount)


def _check_slice(value: object = None, slices: object = None, *_: object, **__: object) -> None:
    _check_count("slice", slices)


def _check_lipsum(*args: object, **kwargs: object) -> None:
    # lipsum(n=5, html=True, min=20, max=100): n paragraphs of fewer than `max` words.
    n = args[0] if args else kwargs.get("n", 5)
    most = args[3] if len(args) > 3 else kwargs.get("max", 100)
    if isinstance(n, int) and isinstance(most, int) and n * most > MAX_LIPSUM_WORDS:
        raise _TooLarge(
            f"lipsum too large: {_number(n)} paragraphs of up to {_number(most)} words "
            f"(at most {MAX_LIPSUM_WORDS} words in all)"
        )


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
    "batch": _check_batch,
    "slice": _check_slice,
}


def _check_binop(operator: str, left: object, right: object) -> None:
    sized = (str, list, tuple)
    if operator == "**":
        # |left| >= 2, so an exponent past MAX_INT_BITS alone is too large.
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and (right > MAX_INT_BITS or right * math.log2(abs(left)) > MAX_INT_BITS)
        ):
            raise _TooLarge(
                f"number too large: `{_number(left)} ** {_number(right)}` would have "
                f"more than {MAX_INT_BITS} bits"
            )
    elif operator == "*":
        for value, times in ((left, right), (right, left)):
            if (
                isinstance(value, sized)
                and isinstance(times, int)
                and len(value) * times > MAX_RENDERED_CHARS
            ):
                raise _TooLarge(
                    f"result too large: `*` would repeat {len(value)} items {_number(times)} "
                    f"times (at most {MAX_RENDERED_CHARS} in all)"
                )
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise _TooLarge(
                f"number too large: `{_number(left)} * {_number(right)}` would have more "
                f"than {MAX_INT_BITS} bits"
            )
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized):
            _check_size("`+`", len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


# `str` methods whose one number sets the size of what they make.
_PADDING_METHODS = {"center": "width", "ljust": "width", "rjust": "width", "zfill": "width"}


def _check_call(obj: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(obj, types.FunctionType):
        # The sandbox hands templates a wrapper around `str.format`; look at what it wraps.
        obj = obj.__dict__.get("__wrapped__", obj)
    if not isinstance(obj, types.BuiltinMethodType) or not isinstance(obj.__self__, str):
        return
    name, text = obj.__name__, obj.__self__
    if name in ("format", "format_map"):
        values = [*args, *kwargs.values()]
        if name == "format_map" and args and isinstance(args[0], Mapping):
            values.extend(args[0].values())
        _check_str_format(text, values)
    elif name in _PADDING_METHODS:
        _check_width(f"str.{name}", args[0] if args else kwargs.get(_PADDING_METHODS[name]))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _check_size("str.expandtabs", len(text) + text.count("\t") * size)


# A printf-style conversion: `%%`, or `%`, an optional `(key)`, flags, width, `.precision`.
_PERCENT_FIELD = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+)?)?")


def _check_percent(fmt: str, values: object) -> None:
    """Refuse `fmt % values` when its widths and precisions add up to more than the output
    bound; a `*` takes its number from the values."""
    if "%" not in fmt:
        return
    total, starred = 0, False
    for match in _PERCENT_FIELD.finditer(fmt):
        for number in match.groups():
            if number == "*":
                starred = True
            elif number:
                total += _digits(number)
    if starred:
        items = values if isinstance(values, tuple) else (values,)
        total += sum(item for item in items if isinstance(item, int))
    _check_size("`%` formatting", total)


def _check_str_format(fmt: str, values: list[object]) -> None:
    """As `_check_percent`, for `str.format`: the numbers in every field's format spec, and
    the values when a spec takes one from them (`{:>{width}}`)."""
    from string import Formatter

    total, nested = 0, False
    try:
        for _, _, spec, _ in Formatter().parse(fmt):
            if spec:
                nested = nested or "{" in spec
                total += sum(_digits(number) for number in re.findall(r"\d+", spec))
    except ValueError:
        return  # a malformed format: str.format says so itself
    if nested:
        total += sum(value for value in values if isinstance(value, int))
    _check_size("str.format", total)


def _digits(number: str) -> int:
    # Longer than nine digits is past any bound here; int() of a huge digit string is slow.
    return int(number) if len(number) <= 9 else 10**9


def _check_width(what: str, width: object) -> None:
    if isinstance(width, int) and width > MAX_RENDERED_CHARS:
        raise _TooLarge(
            f"width too large: {what} was given {_number(width)} (at most {MAX_RENDERED_CHARS})"
        )


def _check_count(what: str, count: object) -> None:
    if isinstance(count, int) and count > MAX_ITEMS:
        raise _TooLarge(f"count too large: {what} was given {_number(count)} (at most {MAX_ITEMS})")


def _check_size(what: str, size: int) -> None:
    if size > MAX_RENDERED_CHARS:
        raise _TooLarge(
            f"result too large: {what} would make about {_number(size)} characters "
            f"(at most {MAX_RENDERED_CHARS})"
        )


def _number(value: int) -> str:
    # Shown in messages: a huge number is summarised, never printed in full.
    if abs(value) < 10**12:
        return str(value)
    return f"~1e{int(abs(value).bit_length() * math.log10(2))}"


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _isolated(work: Callable[[], _T], file: str) -> _T:
    """`work()` run in a forked child with RENDER_SECONDS of CPU and RENDER_MEMORY_BYTES more
    address space; its value, or its SpecError, comes back as JSON over a pipe. A child that
    runs out of either becomes a SpecError in `file`. Where there is no fork (Windows), or it
    fails, `work()` runs here, bounded only by the sandbox's checks.

    Forking costs about 3 ms and keeps the imported modules and the variables, so nothing is
    loaded twice. `work` must not need anything that only the parent has (threads, locks).
    """
    if not hasattr(os, "fork"):
        return work()
    # Loaded before forking, so that the child imports nothing.
    import resource  # noqa: F401
    import select

    seconds, memory = RENDER_SECONDS, RENDER_MEMORY_BYTES
    reader, writer = os.pipe()
    try:
        # Python 3.12+ warns when a process with threads (a test runner's, a server's) forks.
        # The child only renders what is already in memory and exits; were it ever blocked on
        # a lock another thread held at the fork, the parent's deadline below still ends it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        return work()
    if pid == 0:
        os.close(reader)
        _child(work, writer, seconds, memory)
    os.close(writer)

    chunks: list[bytes] = []
    finished = False
    deadline = time.monotonic() + seconds + _WALL_SLACK_SECONDS
    poller = select.poll()
    poller.register(reader, select.POLLIN)
    try:
        while not finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(math.ceil(remaining * 1000)):
                break
            chunk = os.read(reader, 1 << 16)
            finished = not chunk
            chunks.append(chunk)
    finally:
        os.close(reader)
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    output = b"".join(chunks)
    if finished and output:
        payload = json.loads(output)
        if "value" in payload:
            return cast(_T, payload["value"])
        if "error" in payload:
            raise SpecError([Diagnostic(**fields) for fields in payload["error"]])
        kind = str(payload["limit"])
    elif not finished or code in (-signal.SIGKILL, -signal.SIGXCPU):
        kind = "time"  # killed by the parent's deadline or by the kernel's CPU limit
    else:
        kind = f"exit status {code}"
    raise SpecError([_limit_diagnostic(file, kind, None, None)])


def _child(work: Callable[[], object], writer: int, seconds: float, memory: int) -> NoReturn:
    """The forked side of `_isolated`: never returns into the caller's stack (a copy of the
    CLI or of the test runner), whatever happens."""
    # Made before the limits, so that even a child out of memory can say so.
    payload = b'{"limit": "crash"}'
    out_of_memory, out_of_time = b'{"limit": "memory"}', b'{"limit": "time"}'
    try:
        _limit_child(seconds, memory)
        try:
            result: dict[str, object] = {"value": work()}
        except SpecError as exc:
            result = {"error": [dataclasses.asdict(d) for d in exc.diagnostics]}
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        payload = json.dumps(result).encode()
    except MemoryError:
        payload = out_of_memory
    except _OutOfTime:
        payload = out_of_time
    finally:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(writer, view) :]
        finally:
            os._exit(0)


def _limit_child(seconds: float, memory: int) -> None:
    import gc
    import resource

    # The CLI pauses the collector while it loads; here memory must measure what the template
    # keeps, not cycles nobody collected. What was there before the fork is set aside first:
    # a collection over all of it would cost more than the render.
    gc.freeze()
    gc.enable()
    # A backstop for an alarm some code swallowed: the kernel ends the child soon after.
    _lower_limit(resource.RLIMIT_CPU, math.ceil(seconds) + 1)
    size = _address_space()
    if size is not None:
        _lower_limit(resource.RLIMIT_AS, size + memory)
    try:
        signal.signal(signal.SIGPROF, _out_of_time)
        signal.setitimer(signal.ITIMER_PROF, seconds)
    except ValueError:
        pass  # no signals here: the CPU limit and the parent's deadline still hold


def _out_of_time(signum: int, frame: types.FrameType | None) -> None:
    raise _OutOfTime


def _address_space() -> int | None:
    """This process's virtual size in bytes, where the system tells it (Linux's /proc; where
    it does not, as on macOS, RLIMIT_AS is not enforced anyway and only the time bound holds)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _lower_limit(which: int, value: int) -> None:
    import resource

    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    if soft != resource.RLIM_INFINITY and soft <= value:
        return  # already at least as tight
    # A limit the system refuses is skipped: the others still hold.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (value, hard))


def _limit_diagnostic(file: str, kind: str, line: int | None, column: int | None) -> Diagnostic:
    if kind == "time":
        message = f"the template took more than {RENDER_SECONDS:g} s to render"
    elif kind == "memory":
        message = f"the template needed more than {RENDER_MEMORY_BYTES >> 20} MiB to render"
    else:
        message = f"the template's renderer stopped ({kind})"
    return Diagnostic(
        file, line, column, "", f"{message}; a loop or a filter is too large", _LIMIT_HINT
    )


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
