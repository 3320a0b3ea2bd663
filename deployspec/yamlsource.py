"""Safe YAML loading that remembers where every value came from.

Contract: `parse_yaml(text, file)` returns a `Document` holding plain Python data (dicts, lists,
str, int, float, bool, None) and a `Marks` index from field paths to 1-based (line, column).
It raises `SpecError` with located diagnostics for anything that is not a single YAML mapping
document of bounded size: syntax errors, tabs, duplicate keys, non-string keys, unsafe tags
(`!!python/...`), and alias bombs. It never executes or constructs arbitrary objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, SpecError
from .secrets import preview

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


class _TooBig(Exception):
    def __init__(self, mark: yaml.Mark | None, what: str) -> None:
        super().__init__(what)
        self.mark = mark
        self.what = what


class _Loader(yaml.SafeLoader):
    """SafeLoader: only standard YAML tags; `!!python/...` fails to construct. It also counts
    nodes and depth while composing, so a huge or deeply nested file stops early instead of
    eating time, memory or the stack."""

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
        if node.style is None and isinstance(value, (int, float, bool)):
            self.raw[path] = node.value
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
            raise SpecError([_syntax_diagnostic(exc, file)]) from None
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
        return Document(data, builder.marks, builder.raw)
    finally:
        loader.dispose()


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


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    hint = None
    if "'\\t'" in problem or "\\t" in problem:
        problem = "a tab character where YAML expects spaces"
        hint = "YAML indentation must use spaces, never tabs"
    elif "could not determine a constructor" in problem:
        hint = "deployspec reads plain YAML only: remove the tag"
    elif exc.context:
        problem = f"{problem} ({exc.context}"
        if exc.context_mark and exc.context_mark is not mark:
            problem += f" at line {exc.context_mark.line + 1}"
        problem += ")"
    if "mapping values are not allowed" in problem:
        hint = "a value containing ': ' must be quoted, or a key is indented wrongly"
    elif "found undefined alias" in problem:
        hint = "define the anchor (&name) before using it (*name)"
    return Diagnostic(file, line, column, "", f"invalid YAML: {problem}", hint)
