"""Safe YAML loading that remembers where every value came from.

Contract: `parse_yaml(text, file)` returns a `Document` holding plain Python data (dicts, lists,
str, int, float, bool, None) and a `Marks` index from field paths to 1-based (line, column).
It raises `SpecError` with located diagnostics for anything that is not a single YAML mapping
document of bounded size: syntax errors (in words, at the line whose indentation or colon went
wrong), tabs, duplicate keys, non-string keys, unsafe tags (`!!python/...`), numbers too long
to read, and alias bombs. It never executes or constructs arbitrary objects.

Plain scalars are typed as YAML 1.2's core schema types them, not as PyYAML's YAML 1.1 does:
booleans are true/false only, integers are decimal without a leading zero, floats may have an
exponent, and nothing becomes a date. What YAML 1.1 would have read otherwise (`yes`, `on`,
`010`, `0x1f`, `1_000`, `1:30`) stays text, and `Document.yaml11` says what another YAML tool
would make of it, so that an error for such a value can explain itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, SpecError
from .secrets import looks_secret, preview

Path_ = tuple[str | int, ...]

# Aliases share one node in the composed graph, so a billion-laughs file costs little to parse
# but explodes once anything walks it (pydantic, JSON, Jinja). Bound the *expanded* size.
MAX_EXPANDED_NODES = 20_000
MAX_DEPTH = 64
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


@dataclass(frozen=True)
class Mark:
    line: int
    column: int


@dataclass
class Marks:
    """Where each path's key and value start in the source (1-based)."""

    keys: dict[Path_, Mark] = field(default_factory=dict)
    values: dict[Path_, Mark] = field(default_factory=dict)

    def key(self, path: Path_) -> Mark | None:
        """The position of the key at `path`, or of the nearest ancestor that exists."""
        for i in range(len(path), 0, -1):
            found = self.keys.get(path[:i]) or self.values.get(path[:i])
            if found:
                return found
        return self.values.get(())

    def value(self, path: Path_) -> Mark | None:
        for i in range(len(path), 0, -1):
            found = self.values.get(path[:i]) or self.keys.get(path[:i])
            if found:
                return found
        return self.values.get(())


@dataclass
class Document:
    data: dict[str, object]
    marks: Marks
    # Plain scalars' source text by path: lets string fields such as `version: 2.10` keep
    # what the user typed instead of YAML's float 2.1.
    raw_scalars: dict[Path_, str]
    # Plain scalars read as text that YAML 1.1 reads as a number or a boolean, by path: what
    # YAML 1.1 makes of them, for errors ("with a leading 0, YAML 1.1 reads 010 as octal: 8").
    yaml11: dict[Path_, str] = field(default_factory=dict)


class _TooBig(Exception):
    def __init__(self, mark: yaml.Mark | None, what: str) -> None:
        super().__init__(what)
        self.mark = mark
        self.what = what


# YAML 1.2's core schema (https://yaml.org/spec/1.2.2/#103-core-schema), except that an integer
# with a leading zero is not read as a number at all: YAML 1.2 reads 010 as 10, YAML 1.1 (and
# so PyYAML, and many tools a spec passes through) as octal 8. Text is the one reading that
# cannot silently change a value; a numeric field then refuses it and says why.
_CORE_RESOLVERS: tuple[tuple[str, str, str], ...] = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    # Kept so that a merge key is recognised, and refused (_Builder._mapping).
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
)
_YAML11_TYPES = {
    "tag:yaml.org,2002:bool": "the boolean",
    "tag:yaml.org,2002:int": "the number",
    "tag:yaml.org,2002:float": "the number",
}
# A setting is a few digits; Python refuses to convert more than 4300 (sys.int_info).
MAX_NUMBER_DIGITS = 4300


def _core_resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    """_CORE_RESOLVERS as PyYAML's Resolver files them: under each first character a value
    they match may start with ("" for the empty value, which is null)."""
    table: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in _CORE_RESOLVERS:
        compiled = re.compile(pattern)
        for char in [*first, ""] if tag.endswith(":null") else first:
            table.setdefault(char, []).append((tag, compiled))
    return table


class _Loader(yaml.SafeLoader):
    """SafeLoader: only standard YAML tags; `!!python/...` fails to construct. Plain scalars
    are typed by YAML 1.2's core schema (_CORE_RESOLVERS). It also counts nodes and depth while
    composing, so a huge or deeply nested file stops early instead of eating time, memory or
    the stack."""

    # Its own table: PyYAML's class-level one is YAML 1.1's.
    yaml_implicit_resolvers = _core_resolvers()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._nodes += 1
        self._depth += 1
        try:
            if self._nodes > MAX_EXPANDED_NODES:
                raise _TooBig(self._next_mark(), f"more than {MAX_EXPANDED_NODES} values")
            if self._depth > MAX_DEPTH:
                raise _TooBig(self._next_mark(), f"nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: yaml.Mark | None = getattr(event, "start_mark", None)
        return mark


# PyYAML's own (YAML 1.1) typing, to tell what another tool would read.
_YAML11 = yaml.resolver.Resolver()


def _yaml11_reading(text: str) -> str | None:
    """What YAML 1.1 reads the plain scalar `text` as, when that is a number or a boolean
    that the core schema reads as text; None otherwise."""
    tag = _YAML11.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    kind = _YAML11_TYPES.get(tag)
    if kind is None:
        if re.fullmatch(r"[-+]?0[0-9]+", text):
            return (
                f"YAML 1.2 reads {text} as the number {int(text)} and YAML 1.1 as text; "
                "deployspec reads it as text"
            )
        return None
    try:
        value = yaml.SafeLoader("").construct_object(ScalarNode(tag, text))
    except ValueError:
        return None
    if isinstance(value, bool):
        value = str(value).lower()
    how = ""
    if kind == "the number":
        if re.match(r"[-+]?0[0-7_]+$", text):
            how = ", octal (base 8) because of the leading 0"
        elif re.match(r"[-+]?0x", text):
            how = ", hexadecimal"
        elif re.match(r"[-+]?0b", text):
            how = ", binary"
        elif ":" in text:
            how = ", base 60 because of the ':'"
        elif "_" in text:
            how = ", ignoring the '_'"
    return f"YAML 1.1 reads {text} as {kind} {value}{how}; deployspec reads it as text"


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _expanded_size(node: Node, memo: dict[int, int], depth: int = 0) -> int:
    if depth > MAX_DEPTH:
        return MAX_EXPANDED_NODES + 1
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_EXPANDED_NODES + 1  # a cycle counts as unbounded
    size = 1
    if isinstance(node, SequenceNode):
        children: Iterator[Node] = iter(node.value)
    elif isinstance(node, MappingNode):
        children = (n for pair in node.value for n in pair)
    else:
        children = iter(())
    for child in children:
        size += _expanded_size(child, memo, depth + 1)
        if size > MAX_EXPANDED_NODES:
            break
    memo[id(node)] = size
    return size


class _Builder:
    def __init__(self, file: str, loader: _Loader) -> None:
        self.file = file
        self.loader = loader
        self.marks = Marks()
        self.raw: dict[Path_, str] = {}
        self.yaml11: dict[Path_, str] = {}
        self.diagnostics: list[Diagnostic] = []

    def error(self, node: Node, path: Path_, message: str, hint: str | None = None) -> None:
        m = _mark(node)
        self.diagnostics.append(
            Diagnostic(self.file, m.line, m.column, format_path(path), message, hint)
        )

    def build(self, node: Node, path: Path_) -> object:
        self.marks.values.setdefault(path, _mark(node))
        if isinstance(node, (MappingNode, SequenceNode)) and node.tag not in _COLLECTION_TAGS:
            self.error(
                node,
                path,
                f"the tag {preview(node.tag)} is not allowed",
                "deployspec reads plain YAML only: remove the tag",
            )
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if not isinstance(node, ScalarNode):
            raise TypeError(f"unknown YAML node {type(node).__name__}")  # PyYAML has 3 kinds
        if node.tag == "tag:yaml.org,2002:int" and _digits(node.value) > MAX_NUMBER_DIGITS:
            self.error(
                node,
                path,
                f"a number of {_digits(node.value)} digits: longer than any setting takes",
                "is this the right value?",
            )
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.error(
                node,
                path,
                f"the tag {preview(node.tag)} is not allowed",
                "deployspec reads plain YAML only: remove the tag",
            )
            return None
        except ValueError as exc:  # an explicit !!int tag on text that is no integer
            self.error(node, path, f"cannot read this value: {preview(str(exc))}")
            return None
        if node.style is None and isinstance(value, (int, float, bool)):
            self.raw[path] = node.value
        elif node.style is None and isinstance(value, str):
            reading = _yaml11_reading(node.value)
            if reading:
                self.yaml11[path] = reading
        return value

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, object]:
        if node.tag == "tag:yaml.org,2002:merge" or any(
            k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value
        ):
            self.error(node, path, "YAML merge keys (<<) are not supported")
        out: dict[str, object] = {}
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.error(
                    key_node,
                    path,
                    f"keys must be strings, got {preview(shown)}",
                    "quote the key",
                )
                continue
            key = key_node.value
            child = (*path, key)
            if key in seen:
                first = seen[key]
                self.error(
                    key_node,
                    child,
                    f"duplicate key {preview(key)} (first given at line {first.line})",
                    "YAML would silently keep only the last one; remove one of them",
                )
                continue
            seen[key] = _mark(key_node)
            self.marks.keys[child] = _mark(key_node)
            self.marks.values[child] = _mark(value_node)
            out[key] = self.build(value_node, child)
        return out


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML mapping document; raise SpecError with every located problem."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise SpecError([_reader_diagnostic(exc, text, file)]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise SpecError([_syntax_diagnostic(exc, file, text)]) from None
        except yaml.reader.ReaderError as exc:
            raise SpecError([_reader_diagnostic(exc, text, file)]) from None
        except yaml.YAMLError as exc:
            raise SpecError([Diagnostic(file, None, None, "", f"invalid YAML: {exc}")]) from None
        except _TooBig as exc:
            line = exc.mark.line + 1 if exc.mark else None
            column = exc.mark.column + 1 if exc.mark else None
            raise SpecError(
                [
                    Diagnostic(
                        file,
                        line,
                        column,
                        "",
                        f"the document has {exc.what}",
                        "a deployment spec is small: is this the right file?",
                    )
                ]
            ) from None
        if root is None:
            raise SpecError(
                [
                    Diagnostic(
                        file,
                        1,
                        1,
                        "",
                        "the file is empty",
                        "start from `deployspec init`, which writes a commented example",
                    )
                ]
            )
        if _expanded_size(root, {}) > MAX_EXPANDED_NODES:
            m = _mark(root)
            raise SpecError(
                [
                    Diagnostic(
                        file,
                        m.line,
                        m.column,
                        "",
                        f"the document expands to more than {MAX_EXPANDED_NODES} values "
                        "through aliases or nesting",
                        "a deployment spec is small: remove the nested aliases (&a / *a)",
                    )
                ]
            )
        if not isinstance(root, MappingNode):
            m = _mark(root)
            # Not the value itself: a --var-file of the wrong file (/etc/passwd, a KEY=secret
            # .env file) is one scalar, and all of it would be printed.
            kind = (
                "a list"
                if isinstance(root, SequenceNode)
                else f"a single value ({len(str(root.value))} characters, not shown)"
            )
            raise SpecError(
                [
                    Diagnostic(
                        file,
                        m.line,
                        m.column,
                        "",
                        f"expected a mapping of settings (name:, model:, ...), got {kind}",
                        "see `deployspec init` for the expected shape",
                    )
                ]
            )
        builder = _Builder(file, loader)
        data = builder.build(root, ())
        if builder.diagnostics or not isinstance(data, dict):
            raise SpecError(builder.diagnostics)
        return Document(data, builder.marks, builder.raw, builder.yaml11)
    finally:
        loader.dispose()


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _reader_diagnostic(exc: yaml.reader.ReaderError, text: str, file: str) -> Diagnostic:
    """Characters YAML forbids (control characters): located from the offset PyYAML gives."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    shown = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
    return Diagnostic(
        file,
        line,
        column,
        "",
        f"a character YAML does not allow ({shown})",
        "remove control characters; is this a text file?",
    )


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    """PyYAML's error in words, pointing at the line where the indentation (or a colon, a
    quote, a bracket) went wrong, rather than where the parser noticed."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    hint = None
    explained = _explain(exc, text.split("\n"))
    if explained is not None:
        line, column, problem, hint = explained
    elif "'\\t'" in problem or "\\t" in problem:
        problem = "a tab character where YAML expects spaces"
        hint = "YAML indentation must use spaces, never tabs"
    elif "could not determine a constructor" in problem:
        hint = "deployspec reads plain YAML only: remove the tag"
    elif "found undefined alias" in problem:
        hint = "define the anchor (&name) before using it (*name)"
    elif exc.context:
        problem = f"{problem} ({exc.context}"
        if exc.context_mark and exc.context_mark is not mark:
            problem += f" at line {exc.context_mark.line + 1}"
        problem += ")"
    return Diagnostic(file, line, column, "", f"invalid YAML: {problem}", hint)


_Explained = tuple[int, int, str, str | None]
# A line that opens a block scalar (`key: |`, `- >-`): the lines under it are text.
_BLOCK_SCALAR = re.compile(r"(?:^|[:\s-])\s*[|>][-+0-9]*\s*(?:#.*)?$")
_BRACKETS = {"sequence": ("list", "[", "]"), "mapping": ("mapping", "{", "}")}


def _explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> _Explained | None:
    problem, context = exc.problem or "", exc.context or ""
    at, where = exc.problem_mark, exc.context_mark
    if at is None or not 0 <= at.line < len(lines):
        return None
    number = at.line + 1
    if "\t" in lines[at.line][: at.column + 1] and "\t" in problem:
        return None  # the tab message says it better
    if problem.startswith("expected <block end>") or "did not find expected key" in problem:
        return _misindented(lines, number, found_item="'-'" in problem)
    if "mapping values are not allowed" in problem:
        return _colon_in_value(lines, number)
    if "could not find expected ':'" in problem and where is not None:
        key = lines[where.line].strip()
        return (
            where.line + 1,
            where.column + 1,
            f"{_quoted(key)} is neither `key: value` nor a list item",
            "add ':' after the key, or indent the line under the key it belongs to",
        )
    if "found unexpected end of stream" in problem and "quoted scalar" in context and where:
        return (
            where.line + 1,
            where.column + 1,
            "this quote is never closed",
            'close the quote at the end of the value; inside "..." write \\" for a quote',
        )
    flow = re.match(r"while parsing a flow (sequence|mapping)", context)
    if flow and where is not None and problem.startswith("expected ','"):
        kind, opening, closing = _BRACKETS[flow.group(1)]
        found = re.search(r"but got '(.*)'$", problem)
        if found and found.group(1) == "<stream end>":
            # Where it opened: where it ends is the end of the file.
            number, column = where.line + 1, where.column + 1
            message = f"this {kind} ({opening} ... {closing}) is never closed"
        else:
            got = found.group(1) if found else "something else"
            column = at.column + 1
            message = (
                f"the {kind} opened with {opening!r} on "
                f"{_quoted(lines[where.line].strip())} expects ',' or {closing!r} here, "
                f"not {got!r}"
            )
        return (
            number,
            column,
            message,
            f"close it with {closing!r}; quote items that contain ':', ',' or brackets",
        )
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _open_lines(lines: list[str], before: int) -> list[tuple[int, int]]:
    """(indentation, line number) of the lines still open at line `before` (1-based): the
    last line of each indentation that no less-indented line has closed since. A list item
    (`- key: v`) also opens the indentation of its content."""
    stack: list[tuple[int, int]] = []
    text_under: int | None = None  # inside a block scalar opened at this indentation
    for number in range(1, before):
        line = lines[number - 1]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = _indent(line)
        if text_under is not None:
            if indent > text_under:
                continue
            text_under = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, number))
        item = re.match(r"(?:-\s+)+", stripped)
        if item and item.end() < len(stripped):
            stack.append((indent + item.end(), number))
        if _BLOCK_SCALAR.search(stripped):
            text_under = indent
    return stack


def _misindented(lines: list[str], number: int, *, found_item: bool) -> _Explained | None:
    line = lines[number - 1]
    indent = _indent(line)
    stack = _open_lines(lines, number)
    if not stack:
        return None
    levels = sorted({level for level, _ in stack})
    column = indent + 1
    shown = _quoted(line.strip())
    if indent in levels:
        sibling = next(n for level, n in reversed(stack) if level == indent)
        before = lines[sibling - 1].strip()
        if _indent(lines[sibling - 1]) != indent:  # the content of a `- key: v` item
            before = before.lstrip("- ")
        is_item, was_item = line.strip().startswith("- "), before.startswith("- ")
        if is_item == was_item and not found_item:
            return None
        what, others = ("a list item ('- ')", "keys") if is_item else ("a key", "list items")
        return (
            number,
            column,
            f"{_quoted(line.strip())} is {what}, but the lines before it at this indentation "
            f"are {others} ({_quoted(before)})",
            "one block holds either `key: value` lines or '- ' items, not both: indent the "
            "items under a key of their own",
        )
    if indent > levels[-1]:
        above = stack[-1][1]
        return (
            number,
            column,
            f"{shown} is indented more than {_quoted(lines[above - 1].strip())} above it, "
            "which already has a value, so nothing can be nested under it",
            f"{_start(lines[above - 1])} to make it a key of its own",
        )
    lower = max(level for level in levels if level < indent)
    upper = min(level for level in levels if level > indent)
    return (
        number,
        column,
        f"{shown} is indented by {_spaces(indent)}, which lines up with no line above it "
        f"(they are indented by {lower} and {upper})",
        f"indent it by {upper} spaces to {_belongs(lines, stack, upper)}, or by {lower} to "
        f"{_belongs(lines, stack, lower)}",
    )


def _colon_in_value(lines: list[str], number: int) -> _Explained | None:
    line = lines[number - 1]
    indent = _indent(line)
    stack = _open_lines(lines, number)
    column = indent + 1
    shown = _quoted(line.strip())
    if stack:
        above = stack[-1][1]
        previous = lines[above - 1].strip()
        has_value = re.search(r":\s+\S", previous) is not None and not _BLOCK_SCALAR.search(
            previous
        )
        if indent > stack[-1][0] and has_value:
            return (
                number,
                column,
                f"{shown} is indented more than {_quoted(previous)} above it, so YAML reads "
                "it as the rest of that line's value",
                f"{_start(lines[above - 1])} to make it a key of its own",
            )
        if ":" not in previous and not previous.startswith(("-", "#", "[", "{")):
            return (
                above,
                _indent(lines[above - 1]) + 1,
                f"{_quoted(previous)} has no ':' after its key, so YAML reads it and the "
                "next line as one text",
                "write it as `key: value`",
            )
    return (
        number,
        column,
        f"{shown} holds ': ' inside a value",
        "quote a value that contains ': ' (\"a: b\"), or check the indentation of this line",
    )


def _belongs(lines: list[str], stack: list[tuple[int, int]], level: int) -> str:
    """What a line indented by `level` continues: the block under the key that opened it,
    or the list item whose content starts at that column."""
    parents = [n for indent, n in stack if indent < level]
    if not parents:
        return "make it a top-level key"
    parent = lines[parents[-1] - 1]
    item = re.match(r"\s*(?:-\s+)+", parent)
    if item and item.end() == level:
        return f"continue the list item {_quoted(parent.strip())}"
    key = parent.strip().lstrip("- ").split(":", 1)[0].strip()
    return f"put it under {_quoted(key + ':')}"


def _start(like: str) -> str:
    return f"indent it like {_quoted(like.strip())} ({_spaces(_indent(like))})"


def _spaces(count: int) -> str:
    return f"{count} space" + ("" if count == 1 else "s")


def _quoted(text: str, limit: int = 40) -> str:
    """A line as a message names it: its key, or else its text when short and not shaped like
    a credential. Values are never shown: the file failed to parse, so which of them are
    secret cannot be told."""
    key = re.match(r"((?:-\s+)*)([^\s:#'\"][^:#]*?):(?:\s|$)", text)
    if key:
        text = f"{key.group(1)}{key.group(2)[:limit]}:"
    elif len(text) > limit or looks_secret(text):
        return "this line"
    return f"`{text}`"
