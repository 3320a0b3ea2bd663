"""The JSON Schema of deployment.yaml, generated from the pydantic model.

Contract: `json_schema()` is deterministic; `schemas/deployment.schema.json` is its committed
output (a test fails when they differ), for editors running the YAML language server.
`schema_text()` is the file's text as `deployspec schema` prints it; `write_schema(path)` writes
that text; `check_schema_file(path)` raises a DeployspecError, saying where the file differs and
how to regenerate it, unless the file holds exactly this schema (compared as parsed JSON, so
indentation and key order do not matter). No printing here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import DeployspecError
from .spec import Spec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# A schema file is some tens of kilobytes; anything far larger is not one, and is not read
# whole into memory to find that out.
MAX_SCHEMA_FILE_BYTES = 16 * 1024 * 1024


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def _regenerate(path: Path) -> str:
    return f"regenerate it with `deployspec schema > {path}` (or `deployspec schema --out {path}`)"


def write_schema(path: Path) -> None:
    """Write the schema to `path`, whole or not at all (a temp file, then a rename)."""
    if path.is_dir():
        raise DeployspecError(f"--out {path} is a folder", hint="name a file, e.g. schema.json")
    text = schema_text()
    # Like `deployspec schema > FILE`, a symlink is written through, not replaced.
    target = path.resolve()
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise DeployspecError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check that its folder exists and is writable",
        ) from None


def check_schema_file(path: Path) -> None:
    """Raise unless `path` holds exactly the schema this deployspec prints."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SCHEMA_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DeployspecError(
            f"{path}: file not found", hint=f"create it with `deployspec schema > {path}`"
        ) from None
    except IsADirectoryError:
        raise DeployspecError(f"{path}: is a folder, not a schema file") from None
    except OSError as exc:
        raise DeployspecError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_SCHEMA_FILE_BYTES:
        raise DeployspecError(
            f"{path}: larger than {MAX_SCHEMA_FILE_BYTES // (1024 * 1024)} MiB, "
            "not deployspec's schema",
            hint=_regenerate(path),
        )
    try:
        committed: object = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise DeployspecError(f"{path}: not UTF-8 text", hint=_regenerate(path)) from None
    except json.JSONDecodeError as exc:
        raise DeployspecError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}", hint=_regenerate(path)
        ) from None
    difference = _first_difference(committed, json_schema(), "")
    if difference is not None:
        raise DeployspecError(
            f"{path}: not the schema of this deployspec: {difference}", hint=_regenerate(path)
        )


def _first_difference(found: object, expected: object, where: str) -> str | None:
    """Where `found` first departs from `expected`, as a JSON Pointer with what differs there;
    None when equal. Keys in the expected order, so the first one named is stable."""
    here = where or "/"
    if isinstance(expected, dict) and isinstance(found, dict):
        for key, value in expected.items():
            pointer = f"{where}/{_escape(key)}"
            if key not in found:
                return f"{pointer} is missing"
            inner = _first_difference(found[key], value, pointer)
            if inner is not None:
                return inner
        extra = [key for key in found if key not in expected]
        if extra:
            return f"{where}/{_escape(str(extra[0]))} is not in it"
        return None
    if isinstance(expected, list) and isinstance(found, list):
        for index, (item, wanted) in enumerate(zip(found, expected, strict=False)):
            inner = _first_difference(item, wanted, f"{where}/{index}")
            if inner is not None:
                return inner
        if len(found) != len(expected):
            return f"{here} has {len(found)} items, not {len(expected)}"
        return None
    # `==` alone would take true for 1 and 1.0 for 1; JSON's types must match too.
    if type(found) is not type(expected) or found != expected:
        return f"{here} is {_brief(found)}, not {_brief(expected)}"
    return None


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _brief(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
