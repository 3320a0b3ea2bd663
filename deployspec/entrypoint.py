"""Static checks of the inference script that a framework container will import.

Contract: `check_script(script, framework, python)` reads the entry point without running it and
returns what would make the endpoint fail only after its long start:
- a syntax error under the container's Python (`python`, e.g. (3, 9)). Where that Python is
  known and between 3.7 and this interpreter's own version: what this interpreter cannot parse,
  and the uses of newer syntax it knows (`:=`, `/` parameters, `match`, `except*`). Elsewhere
  (a `py3` image, a Python newer than this one, an image of the user's own) only what every
  Python 3 rejects: an error on a line that uses no syntax added after this interpreter;
- a missing `model_fn` where the framework's container has no default in script mode
  (scikit-learn and XGBoost).
It errs towards silence: what it cannot judge for certain, it does not report. Each problem is a
`ScriptProblem`, located in the script (syntax) or, with no line, at the spec's entry_point.
"""

from __future__ import annotations

import ast
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Containers without a default model_fn when a script is given (runtime/handlers.py serves
# the same contract locally; a test keeps the two in step).
NEEDS_MODEL_FN = {"sklearn": "scikit-learn", "xgboost": "XGBoost"}

# An inference script is a few kilobytes; anything far larger is not worth parsing here.
MAX_SCRIPT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ScriptProblem:
    message: str
    hint: str
    # Where in the script, for syntax errors; None: the problem belongs to the spec's field.
    line: int | None = None
    column: int | None = None


def check_script(
    script: Path, framework: str, python: tuple[int, int] | None, *, python2: bool = False
) -> list[ScriptProblem]:
    """`python2`: the container runs Python 2 (a `py2` image), whose grammar is not judged."""
    try:
        with script.open("rb") as handle:
            source = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        return [ScriptProblem(f"cannot read {script}: {exc.strerror}", "check its permissions")]
    if len(source) > MAX_SCRIPT_BYTES:
        return []
    tree = _parse(source, script, python, python2=python2)
    if isinstance(tree, ScriptProblem):
        return [tree]
    display = NEEDS_MODEL_FN.get(framework)
    if display and tree is not None and not _may_define(tree, "model_fn"):
        return [
            ScriptProblem(
                f"{script.name} defines no model_fn, and the SageMaker {display} container has "
                "no default one: the endpoint would never load the model",
                "add `def model_fn(model_dir):` returning the model loaded from model_dir",
            )
        ]
    return []


# Pythons older than this read some of today's names differently (3.6 allowed `async` as one).
_OLDEST_JUDGED = (3, 7)
# Syntax this interpreter reads and older containers do not: (what, first Python, test).
_NEWER_SYNTAX: tuple[tuple[str, tuple[int, int], Callable[[ast.AST], bool]], ...] = (
    ("assignment expressions (:=) need", (3, 8), lambda node: isinstance(node, ast.NamedExpr)),
    (
        "positional-only parameters (/) need",
        (3, 8),
        lambda node: (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            and bool(node.args.posonlyargs)
        ),
    ),
    ("a match statement needs", (3, 10), lambda node: isinstance(node, ast.Match)),
    ("except* needs", (3, 11), lambda node: isinstance(node, ast.TryStar)),
)


def _parse(
    source: bytes, script: Path, python: tuple[int, int] | None, *, python2: bool = False
) -> ast.Module | ScriptProblem | None:
    """The script's tree; a ScriptProblem for a syntax error the container would hit; None when
    this interpreter cannot read it and cannot tell whether the container can.

    `python` None means the container's Python is not known (no minor version in the image
    table, or an image of the user's own): then only the tree is wanted, for the model_fn check.
    """
    judged = python is not None and _OLDEST_JUDGED <= python <= sys.version_info[:2]
    try:
        with warnings.catch_warnings():
            # SyntaxWarnings (`x is 1`) are the container's to print, not validate's to fail on.
            warnings.simplefilter("ignore")
            tree = ast.parse(source, str(script))
            if not judged:
                return tree
            newer = _newer_syntax(tree, python) if python is not None else None
            if newer is not None:
                return newer
            # The compiler finds what the parser lets through (`return` outside a function...).
            compile(tree, str(script), "exec", dont_inherit=True)
            return tree
    except SyntaxError as exc:
        if judged:
            return _syntax_problem(exc.msg, exc.lineno, exc.offset, python)
        if python2 or _may_be_later_syntax(source, exc):
            return None
        return _syntax_problem(exc.msg, exc.lineno, exc.offset, None)
    except ValueError as exc:  # NUL bytes: no Python reads them
        return ScriptProblem(f"{script.name} is not a Python source file: {exc}", "check the file")
    except (RecursionError, MemoryError):
        return None  # an expression nested too deep for this parser; the container may cope


def _newer_syntax(tree: ast.Module, python: tuple[int, int]) -> ScriptProblem | None:
    """The first use of syntax the container's older Python cannot read."""
    found = [
        (node.lineno, node.col_offset, what, needs)
        for node in ast.walk(tree)
        if isinstance(node, (ast.stmt, ast.expr))
        for what, needs, used in _NEWER_SYNTAX
        if needs > python and used(node)
    ]
    if not found:
        return None
    line, offset, what, needs = min(found)
    return ScriptProblem(
        f"{what} Python {needs[0]}.{needs[1]}, and the container runs "
        f"Python {python[0]}.{python[1]}",
        "rewrite it for the older Python, or choose a framework version whose image runs a "
        "newer one (model.version, model.py_version)",
        line=line,
        column=offset + 1,
    )


# Syntax that Pythons after 3.11 added, by the first Python that reads it, recognised on the
# line a parser stops at: a script using it may be fine in a container newer than this one.
_LATER_GRAMMAR: tuple[tuple[tuple[int, int], re.Pattern[str]], ...] = (
    # PEP 695 type aliases and type parameters; PEP 701 f-strings (quotes, nesting, comments).
    (
        (3, 12),
        re.compile(r"^\s*type\s+\w|\b(def|class)\s+\w+\s*\[|(?<![\w.])[rRbB]?[fF][rRbB]?['\"]"),
    ),
    # PEP 758 `except A, B:` without parentheses; PEP 750 template strings.
    ((3, 14), re.compile(r"^\s*except\s+[^(:\s][^:]*,|(?<![\w.])[rR]?[tT][rR]?['\"]")),
)


def _may_be_later_syntax(source: bytes, error: SyntaxError) -> bool:
    """Whether a newer Python might read what this one stops at (then it is not judged)."""
    later = [pattern for since, pattern in _LATER_GRAMMAR if since > sys.version_info[:2]]
    if not later:
        return False
    lines = source.decode("utf-8", errors="replace").splitlines()
    first = max((error.lineno or 1) - 1, 0)
    last = max(first, (getattr(error, "end_lineno", None) or first + 1) - 1)
    # The construct may open on the line before the one the parser stops at.
    window = lines[max(first - 1, 0) : last + 1] or lines[-1:]
    return "f-string" in (error.msg or "") or any(
        pattern.search(line) for pattern in later for line in window
    )


def _syntax_problem(
    message: str, line: int | None, column: int | None, python: tuple[int, int] | None
) -> ScriptProblem:
    """`python` None: the container's Python 3 is not known, and no Python 3 reads this."""
    where = f"as Python {python[0]}.{python[1]} reads it" if python else "no Python 3 reads it"
    located = line is not None and line >= 1
    return ScriptProblem(
        f"{message} ({where})",
        "the container imports this script to serve the model; with this error the "
        "endpoint would fail its health check after a long start",
        line=line if located else None,
        column=column if located and column is not None and column >= 1 else None,
    )


def _may_define(tree: ast.Module, name: str) -> bool:
    """Whether the module's top level binds `name`, or might: inside an if/try/with, or through
    a star import. Lenient on purpose: a false alarm would block a working script."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
            continue
        for child in ast.walk(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if child.name == name:
                    return True
            elif isinstance(child, ast.Name):
                if child.id == name and isinstance(child.ctx, ast.Store):
                    return True
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for alias in child.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    if alias.name == "*" or bound == name:
                        return True
    return False
