"""Static checks of the inference script that a framework container will import.

Contract: `check_script(script, framework, python)` reads the entry point without running it and
returns what would make the endpoint fail only after its long start: a syntax error under the
container's Python (`python`, e.g. (3, 9); None when the image table names no minor version,
and this interpreter's grammar is used; the check is skipped when the container's Python is
newer than this one, whose parser cannot judge newer syntax), and a missing `model_fn` where
the framework's container has no default in script mode (scikit-learn and XGBoost). Each
problem is a `ScriptProblem` located in the script (syntax) or at the spec's entry_point
(model_fn); the caller turns them into diagnostics.
"""

from __future__ import annotations

import ast
import sys
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
    script: Path, framework: str, python: tuple[int, int] | None
) -> list[ScriptProblem]:
    try:
        with script.open("rb") as handle:
            source = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        return [ScriptProblem(f"cannot read {script}: {exc.strerror}", "check its permissions")]
    if len(source) > MAX_SCRIPT_BYTES:
        return []
    tree = _parse(source, script, python)
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


def _parse(
    source: bytes, script: Path, python: tuple[int, int] | None
) -> ast.Module | ScriptProblem | None:
    """The script's tree; a ScriptProblem for a syntax error the container would hit; None when
    it cannot be judged here (the container's Python is newer than this one).
    """
    if python is not None and python[0] != 3:
        return None  # no Python 2 grammar here; the image tables stopped listing it long ago
    newer = python is not None and python > sys.version_info[:2]
    try:
        tree = ast.parse(source, str(script), feature_version=None if newer else python)
        # The compiler finds what the parser lets through (`return` outside a function...).
        compile(tree, str(script), "exec", dont_inherit=True)
        return tree
    except SyntaxError as exc:
        if newer:
            return None
        major, minor = python or sys.version_info[:2]
        return ScriptProblem(
            f"{exc.msg} (as Python {major}.{minor} reads it)",
            "the container imports this script to serve the model; with this error the "
            "endpoint would fail its health check after a long start",
            line=exc.lineno,
            column=exc.offset,
        )
    except ValueError as exc:  # NUL bytes, an encoding that does not decode
        return ScriptProblem(f"{script.name} is not a Python source file: {exc}", "check the file")


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
