"""What SageMaker accepts, read from the libraries that describe it, never hand-written.

Contract: `instance_types()` is the ProductionVariantInstanceType enum of botocore's own
SageMaker service model; `framework_table(name)` is the inference section of the SageMaker
SDK's image table for a framework (sagemaker-core's bundled JSON). Both are pure lookups of
installed data files, found on the Python path so that neither boto3 nor the heavy
`sagemaker.core` package is imported (validation must start fast).
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from .cache import optional_cache_file, read_json, write_json
from .errors import DeployspecError


class CatalogError(DeployspecError):
    """A package that describes SageMaker is missing or unreadable."""


def _locate(distribution: str, relative: str) -> Path:
    # A walk of sys.path instead of importlib.metadata, whose import alone costs more than
    # the whole lookup: validation has a start-up budget.
    for entry in sys.path:
        candidate = Path(entry or ".") / relative
        if candidate.exists():
            return candidate
    raise CatalogError(
        f"the package {distribution!r} is not installed (no {relative} on the Python path)",
        hint=f"pip install {distribution}",
    )


@cache
def instance_types() -> frozenset[str]:
    """Real-time instance types known to the installed botocore."""
    data_dir = _locate("botocore", "botocore/data/sagemaker")
    # Several API versions may be installed; botocore itself uses the newest.
    versions = sorted(p for p in data_dir.iterdir() if p.is_dir())
    if not versions:
        raise CatalogError(f"no SageMaker service model under {data_dir}")
    # Keyed by the model file's identity: a botocore upgrade replaces it.
    stamp = versions[-1].stat()
    key = hashlib.sha256(f"{versions[-1]}:{stamp.st_mtime_ns}:{stamp.st_ino}".encode())
    cached = optional_cache_file(f"instance-types-{key.hexdigest()[:16]}.json")
    found = read_json(cached) if cached else None
    if isinstance(found, list) and found:
        return frozenset(str(x) for x in found)
    import gzip  # only on a cache miss

    model_file = versions[-1] / "service-2.json.gz"
    opener = gzip.open if model_file.exists() else open
    path = model_file if model_file.exists() else versions[-1] / "service-2.json"
    with opener(path, "rt", encoding="utf-8") as handle:
        model = json.load(handle)
    enum = model["shapes"]["ProductionVariantInstanceType"]["enum"]
    if cached:
        write_json(cached, enum)
    return frozenset(enum)


# deployspec framework name -> the SDK's image table name.
FRAMEWORK_TABLES = {
    "tensorflow": "tensorflow",
    "pytorch": "pytorch",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "huggingface": "huggingface",
}


@cache
def framework_table(framework: str) -> dict[str, Any]:
    """The `inference` scope of the SDK's image table for `framework`."""
    table = FRAMEWORK_TABLES[framework]
    path = _locate("sagemaker-core", f"sagemaker/core/image_uri_config/{table}.json")
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = json.load(handle)
    except OSError as exc:
        raise CatalogError(
            f"cannot read the SageMaker SDK's image table {path}: {exc.strerror}",
            hint="reinstall sagemaker-core",
        ) from None
    scope: dict[str, Any] = config.get("inference", config)
    return scope


def supported_versions(framework: str) -> tuple[list[str], dict[str, str]]:
    """(full versions, aliases such as '2.3' -> '2.3.2') for inference images."""
    scope = framework_table(framework)
    return list(scope.get("versions", {})), dict(scope.get("version_aliases", {}))


def resolve_version(framework: str, version: str) -> str | None:
    versions, aliases = supported_versions(framework)
    if version in versions:
        return version
    target = aliases.get(version)
    return target if target in versions else None


def image_py_version(
    framework: str, version: str, given: str | None, base: str | None = None
) -> str | None:
    """The image's Python tag: `given` (the spec's py_version), else the newest the SDK's table
    lists for the version (for Hugging Face, for its base framework); None when it lists none.
    The SDK picks by itself only when exactly one is listed, and refuses None otherwise."""
    if given is not None:
        return given
    resolved = resolve_version(framework, version)
    if resolved is None:
        return None
    entry: dict[str, Any] = framework_table(framework)["versions"][resolved]
    nested = entry.get(base_aliases(entry).get(base, base)) if base else None
    listed = nested.get("py_versions", []) if isinstance(nested, dict) else None
    if listed is None:
        listed = py_versions(framework, resolved)
    return max(listed, key=_py_order) if listed else None


def base_frameworks(entry: dict[str, Any]) -> list[str]:
    """The base frameworks a Hugging Face version entry has images for (pytorch2.6.0, ...)."""
    return sorted(k for k, v in entry.items() if isinstance(v, dict) and k != "version_aliases")


def base_aliases(entry: dict[str, Any]) -> dict[str, str]:
    """Short base names the SDK resolves, as for versions (pytorch1.8 -> pytorch1.8.1)."""
    return dict(entry.get("version_aliases", {}))


def python_of(py_version: str) -> tuple[int, int] | None:
    """(3, 10) for py310; None for a tag naming no minor version (py3)."""
    digits = py_version.removeprefix("py")
    if len(digits) < 2 or not digits.isdigit():
        return None
    return int(digits[0]), int(digits[1:])


def _py_order(tag: str) -> tuple[int, int]:
    # py3 (any 3.x) ranks above py2 and below every py3N.
    digits = tag.removeprefix("py")
    if not digits.isdigit():
        return (0, -1)
    return python_of(tag) or (int(digits[0]), -1)


def py_versions(framework: str, version: str) -> list[str]:
    """Python versions the SDK's table lists for a resolved version ([] when unconstrained)."""
    entry: dict[str, Any] = framework_table(framework)["versions"][version]
    found = entry.get("py_versions")
    if found is None:
        # Hugging Face nests one entry per base framework (e.g. pytorch2.6.0).
        nested = [v for k, v in entry.items() if isinstance(v, dict) and "py_versions" in v]
        return sorted({p for v in nested for p in v["py_versions"]})
    return list(found)
