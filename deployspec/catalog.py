"""What SageMaker accepts, read from the libraries that describe it, never hand-written.

Contract: `instance_types()` is the ProductionVariantInstanceType enum of botocore's own
SageMaker service model (`inference_ami_versions()`, `routing_strategies()` its
ProductionVariantInferenceAmiVersion and RoutingStrategy enums); `framework_table(name, scope)`
is a scope (inference, or inference_graviton for arm64) of the SageMaker SDK's image table for
a framework (sagemaker-core's bundled JSON); `graviton_families()` are the instance families
for which the SDK picks arm64 images. All are pure lookups of installed data files, found on
the Python path so that neither boto3 nor the heavy `sagemaker.core` package is imported
(validation must start fast).

`image_problem(...)` says, without the SDK, why `sagemaker.core.image_uris.retrieve` would
refuse a framework, version and instance type (the image has no build for that processor: a
CPU-only container on a GPU type), or would return an image other than the one asked for (an
x86 image for a Graviton family the SDK does not know; another version on Graviton): the same
decisions the SDK makes, read from the same tables (tests/test_validate_gate.py compares the
two over every version). `resolve_base(...)` is the Hugging Face base framework the SDK must
be given: an alias (pytorch2.6) made full (pytorch2.6.0), as the published tags are, and the
only base of a version when none is named.
"""

from __future__ import annotations

import hashlib
import json
import re
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
    return _enum("ProductionVariantInstanceType")


@cache
def inference_ami_versions() -> frozenset[str]:
    """The variants' AMIs (ProductionVariantInferenceAmiVersion) the installed botocore knows."""
    return _enum("ProductionVariantInferenceAmiVersion")


@cache
def routing_strategies() -> frozenset[str]:
    """RoutingConfig.RoutingStrategy values (LEAST_OUTSTANDING_REQUESTS, RANDOM, ...)."""
    return _enum("RoutingStrategy")


def _enum(shape: str) -> frozenset[str]:
    data_dir = _locate("botocore", "botocore/data/sagemaker")
    # Several API versions may be installed; botocore itself uses the newest.
    versions = sorted(p for p in data_dir.iterdir() if p.is_dir())
    if not versions:
        raise CatalogError(f"no SageMaker service model under {data_dir}")
    # Keyed by the model file's identity: a botocore upgrade replaces it.
    stamp = versions[-1].stat()
    key = hashlib.sha256(f"{versions[-1]}:{stamp.st_mtime_ns}:{stamp.st_ino}:{shape}".encode())
    cached = optional_cache_file(f"enum-{key.hexdigest()[:16]}.json")
    found = read_json(cached) if cached else None
    if isinstance(found, list) and found:
        return frozenset(str(x) for x in found)
    import gzip  # only on a cache miss

    model_file = versions[-1] / "service-2.json.gz"
    opener = gzip.open if model_file.exists() else open
    path = model_file if model_file.exists() else versions[-1] / "service-2.json"
    with opener(path, "rt", encoding="utf-8") as handle:
        model = json.load(handle)
    enum = model["shapes"].get(shape, {}).get("enum", [])
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
    # The large-model containers. TEI has a second table of CPU images (`sdk_framework`);
    # DJL's table has no scopes: its versions are at the top level.
    "huggingface-llm": "huggingface-llm",
    "huggingface-vllm": "huggingface-vllm",
    "huggingface-sglang": "huggingface-sglang",
    "huggingface-tei": "huggingface-tei",
    "djl-lmi": "djl-lmi",
}
# Tables the SDK is asked for by name though no spec framework is called so: TEI's CPU
# images, chosen by the instance type as the SDK's callers choose them.
TEI, TEI_CPU = "huggingface-tei", "huggingface-tei-cpu"
_ALL_TABLES = {**FRAMEWORK_TABLES, TEI_CPU: TEI_CPU}
# The spec framework each table serves.
SPEC_FRAMEWORK_OF = {table: TEI if table == TEI_CPU else table for table in _ALL_TABLES}


INFERENCE = "inference"
# The SDK's scope for arm64 (Graviton) images, chosen by the instance family.
GRAVITON = "inference_graviton"


@cache
def _config(framework: str) -> dict[str, Any]:
    table = _ALL_TABLES[framework]
    path = _locate("sagemaker-core", f"sagemaker/core/image_uri_config/{table}.json")
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = json.load(handle)
    except OSError as exc:
        raise CatalogError(
            f"cannot read the SageMaker SDK's image table {path}: {exc.strerror}",
            hint="reinstall sagemaker-core",
        ) from None
    return config


def framework_table(framework: str, scope: str = INFERENCE) -> dict[str, Any]:
    """A scope of the SDK's image table for `framework` (inference unless told)."""
    config = _config(framework)
    found: dict[str, Any] = config.get(scope, config if scope == INFERENCE else {})
    return found


def has_scope(framework: str, scope: str) -> bool:
    return scope in _config(framework)


def supported_versions(framework: str, scope: str = INFERENCE) -> tuple[list[str], dict[str, str]]:
    """(full versions, aliases such as '2.3' -> '2.3.2') for inference images."""
    table = framework_table(framework, scope)
    return list(table.get("versions", {})), dict(table.get("version_aliases", {}))


def newest_version(framework: str) -> str:
    """The newest full version of the framework's inference images (DJL lists newest first)."""
    return max(supported_versions(framework)[0], key=_release)


def resolve_version(framework: str, version: str, scope: str = INFERENCE) -> str | None:
    versions, aliases = supported_versions(framework, scope)
    if version in versions:
        return version
    target = aliases.get(version)
    return target if target in versions else None


def image_py_version(
    framework: str,
    version: str,
    given: str | None,
    base: str | None = None,
    scope: str = INFERENCE,
) -> str | None:
    """The image's Python tag: `given` (the spec's py_version), else the newest the SDK's table
    lists for the version (for Hugging Face, for its base framework); None when it lists none.
    The SDK picks by itself only when exactly one is listed, and refuses None otherwise."""
    if given is not None:
        return given
    resolved = resolve_version(framework, version, scope)
    if resolved is None:
        return None
    entry: dict[str, Any] = framework_table(framework, scope)["versions"][resolved]
    nested = entry.get(base_aliases(entry).get(base, base)) if base else None
    listed = nested.get("py_versions", []) if isinstance(nested, dict) else None
    if listed is None:
        listed = py_versions(framework, resolved, scope)
    return max(listed, key=_py_order) if listed else None


def base_frameworks(entry: dict[str, Any]) -> list[str]:
    """The base frameworks a Hugging Face version entry has images for (pytorch2.6.0, ...)."""
    return sorted(k for k, v in entry.items() if isinstance(v, dict) and k != "version_aliases")


def base_aliases(entry: dict[str, Any]) -> dict[str, str]:
    """Short base names the SDK resolves, as for versions (pytorch1.8 -> pytorch1.8.1)."""
    return dict(entry.get("version_aliases", {}))


def resolve_base(version: str, base: str | None) -> str | None:
    """The full Hugging Face base framework for `version`: `base` with its alias resolved
    (pytorch2.6 -> pytorch2.6.0), or the version's only base when `base` is None; None when
    neither tells (several bases, none named). An unknown `base` comes back as it is.

    The SDK resolves an alias to find the version's entry but builds the tag from the name it
    was given (`2.6-transformers4.49.0`, which is not published), and without a base it fails
    even where there is only one: it must be given the full name."""
    resolved = resolve_version("huggingface", version)
    if resolved is None:
        return base
    entry: dict[str, Any] = framework_table("huggingface")["versions"][resolved]
    if base is None:
        bases = base_frameworks(entry)
        return bases[0] if len(bases) == 1 else None
    return base_aliases(entry).get(base, base)


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


def py_versions(framework: str, version: str, scope: str = INFERENCE) -> list[str]:
    """Python versions the SDK's table lists for a resolved version ([] when unconstrained)."""
    entry: dict[str, Any] = framework_table(framework, scope)["versions"][version]
    found = entry.get("py_versions")
    if found is None:
        # Hugging Face nests one entry per base framework (e.g. pytorch2.6.0).
        nested = [v for k, v in entry.items() if isinstance(v, dict) and "py_versions" in v]
        return sorted({p for v in nested for p in v["py_versions"]})
    return list(found)


# ---- which image an instance type gets ---------------------------------------------------

# "ml.<family>.<size>", as the SDK reads it (common_utils.get_instance_type_family).
_FAMILY = re.compile(r"^ml[._]([a-z\d\-]+)\.?\w*$")
# AWS's Graviton families carry a `g` after the generation (c6g, c6gn, m7g, r7gd, c8g); GPU
# families start with one (g5, g6e), which this does not match.
_GRAVITON_NAME = re.compile(r"^[a-z]+\d+g[a-z]*$")


def instance_family(instance_type: str) -> str:
    found = _FAMILY.match(instance_type)
    return found.group(1) if found else ""


def is_graviton(instance_type: str) -> bool:
    """Whether the instance type runs on AWS Graviton (arm64) processors."""
    return _GRAVITON_NAME.match(instance_family(instance_type)) is not None


@cache
def graviton_families() -> frozenset[str]:
    """The instance families for which the SDK picks arm64 images: its own list
    (fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY), read from its source, not imported.
    Empty when that list is not found, so that no family is taken for one the SDK knows."""
    path = _locate("sagemaker-core", "sagemaker/core/fw_utils.py")
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"cannot read the SageMaker SDK's {path}: {exc.strerror}",
            hint="reinstall sagemaker-core",
        ) from None
    found = re.search(r"^GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY\s*=\s*\[([^\]]*)\]", source, re.M)
    if found is None:
        return frozenset()
    return frozenset(re.findall(r"[\"']([a-z0-9-]+)[\"']", found.group(1)))


def image_scope(framework: str, instance_type: str | None) -> str:
    """The table scope the SDK reads for this instance type: arm64 images for the Graviton
    families it knows, when the framework has any; the inference images otherwise."""
    if (
        instance_type
        and is_graviton(instance_type)  # before reading the SDK's list: most types are not
        and instance_family(instance_type) in graviton_families()
        and has_scope(framework, GRAVITON)
    ):
        return GRAVITON
    return INFERENCE


def processors(framework: str, version: str, scope: str = INFERENCE) -> list[str]:
    """The processors (cpu, gpu) the table has images for ([] when it does not say): listed
    for the whole scope, or for the version."""
    table = framework_table(framework, scope)
    listed = table.get("processors")
    if listed is None:
        listed = table.get("versions", {}).get(version, {}).get("processors")
    return list(listed or [])


def processor_of(instance_type: str | None, available: list[str]) -> str | None:
    """The processor the SDK picks for an instance type (None: serverless), as
    image_uris._processor does: a family named in the table, inf/trn, gpu for g* and p*
    families, cpu otherwise; serverless runs on CPU."""
    if not available:
        return None
    if instance_type is None:
        return available[0] if len(available) == 1 else "cpu"
    family = instance_family(instance_type)
    if family in available:
        return family
    for prefix in ("inf", "trn"):
        if family.startswith(prefix):
            return prefix
    return "gpu" if family[:1] in ("g", "p") else "cpu"


# (message, hint). A tuple, not a dataclass: building a class costs validate's start-up a
# millisecond.
ImageProblem = tuple[str, str]


def image_problem(framework: str, version: str, instance_type: str | None) -> ImageProblem | None:
    """Why the SDK's tables give no image of `framework` `version` (a version they list) for
    `instance_type` (None: serverless), or would give another image than asked; None when
    the image is the one asked for."""
    if instance_type is not None and is_graviton(instance_type):
        return _graviton_problem(framework, version, instance_type)
    name = _FRAMEWORK_NAMES.get(framework, framework)
    table = sdk_framework(framework, instance_type)
    if resolve_version(framework, version) is None:
        return None  # the version check reports it
    resolved = resolve_version(table, version)
    if resolved is None:
        return (
            f"{name} {version} has no CPU image (CPU images: "
            f"{', '.join(supported_versions(table)[0])})",
            f"use one of those versions, or a GPU instance type such as {_GPU_EXAMPLE}",
        )
    if gpu_only(table, resolved):
        gpu_types = f"a GPU instance type such as {_GPU_EXAMPLE}, ml.g6.xlarge or ml.g6e.xlarge"
        if instance_type is None:
            return (
                f"{name} {version} images run on NVIDIA GPUs only, and serverless endpoints "
                "have none",
                f"replace serverless: with realtime: {{instance_type: ...}} on {gpu_types}",
            )
        if processor_of(instance_type, ["cpu", "gpu"]) == "cpu":
            return (
                f"{name} {version} images run on NVIDIA GPUs only, and {instance_type} is a "
                "CPU instance type",
                f"use {gpu_types}, or set model.image to an image built for it",
            )
        return None  # Inferentia and Trainium need a Neuron image: refused where they are
    framework = table
    if instance_type is not None and instance_family(instance_type) == "p2":
        # The SDK refuses these in code, not in its tables (_validate_instance_deprecation).
        newest = _P2_NEWEST.get(framework)
        if newest is not None and _release(resolved) >= newest:
            since = ".".join(map(str, newest))
            return (
                f"P2 instances are deprecated for {name} {since} and newer: the SageMaker SDK "
                f"has no {name} {version} image for {instance_type}",
                f"use a newer GPU instance type such as {_GPU_EXAMPLE}",
            )
    available = processors(framework, resolved)
    processor = processor_of(instance_type, available)
    if processor is None or processor in available or processor in ("inf", "trn"):
        return None  # Inferentia and Trainium need a Neuron image: refused where they are
    runs_on = " and ".join(_PROCESSOR_NAMES.get(p, p) for p in available)
    where = instance_type or "serverless"
    example = _CPU_EXAMPLE if "cpu" in available else _GPU_EXAMPLE
    return (
        f"{name} {version} images run on {runs_on} only, and {where} is a "
        f"{_PROCESSOR_NAMES.get(processor, processor)} instance type",
        f"use a {runs_on} instance type such as {example}"
        + (" or a serverless endpoint" if "cpu" in available else "")
        + ", or set model.image to an image built for it",
    )


def sdk_framework(framework: str, instance_type: str | None) -> str:
    """The SDK table an instance type (None: serverless) takes the framework's image from:
    TEI's CPU images on CPU instance types and serverless (the SDK's callers pick the table
    so), the framework's own table otherwise."""
    if framework == TEI and (
        instance_type is None or processor_of(instance_type, ["cpu", "gpu"]) == "cpu"
    ):
        return TEI_CPU
    return framework


# A CUDA build named in a tag (djl-inference:0.33.0-lmi15.0.0-cu128): the DJL table lists no
# processors, its tags say which build they are.
_CUDA_TAG = re.compile(r"-cu\d+")


def gpu_only(framework: str, version: str) -> bool:
    """Whether the table's images of a resolved version are all NVIDIA GPU (CUDA) builds."""
    listed = processors(framework, version)
    if listed:
        return listed == ["gpu"]
    entry: dict[str, Any] = framework_table(framework).get("versions", {}).get(version, {})
    return _CUDA_TAG.search(str(entry.get("tag_prefix", ""))) is not None


def _graviton_problem(framework: str, version: str, instance_type: str) -> ImageProblem | None:
    family = instance_family(instance_type)
    known = graviton_families()
    name = _FRAMEWORK_NAMES.get(framework, framework)
    x86 = f"an x86 instance type such as {_CPU_EXAMPLE}"
    if not has_scope(framework, GRAVITON):
        return (
            f"{instance_type} is a Graviton (arm64) instance type, and the SageMaker SDK's "
            f"tables have no arm64 {name} inference image",
            f"use {x86}, or set model.image to an arm64 image",
        )
    if family not in known:
        return (
            f"{instance_type} is a Graviton (arm64) instance type, and the SageMaker SDK "
            f"picks arm64 images only for the {', '.join(sorted(known)) or '(no)'} "
            "families: it would give this one an x86 image, which cannot start on it",
            f"use a family it knows (such as ml.{min(known, default='c6g')}.xlarge) or {x86}, "
            "or set model.image to an arm64 image",
        )
    versions, aliases = supported_versions(framework, GRAVITON)
    if resolve_version(framework, version, GRAVITON) is not None:
        return None
    if len(versions) == 1 and version not in aliases:
        # The SDK does not refuse: with one arm64 version it returns that one, whatever the
        # version asked for (image_uris._validate_version_and_set_if_needed).
        only = versions[0]
        return (
            f"{name} {version} has no arm64 image for Graviton ({instance_type}): the "
            f"SageMaker SDK would silently deploy {name} {only} (its only arm64 image) "
            "instead",
            f'use version: "{only}" to deploy that image on Graviton, or {x86}',
        )
    return (
        f"{name} {version} has no arm64 image for Graviton ({instance_type}); arm64 images "
        f"exist for {', '.join(versions)}",
        f"use one of those versions on Graviton, or {x86}",
    )


def _release(version: str) -> tuple[int, ...]:
    parts = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(p) for p in parts.group().split(".")) if parts else ()


_CPU_EXAMPLE, _GPU_EXAMPLE = "ml.m5.xlarge", "ml.g5.xlarge"
_PROCESSOR_NAMES = {"cpu": "CPU", "gpu": "GPU", "inf": "Inferentia", "trn": "Trainium"}
_FRAMEWORK_NAMES = {
    "sklearn": "scikit-learn",
    "xgboost": "XGBoost",
    "pytorch": "PyTorch",
    "tensorflow": "TensorFlow",
    "huggingface": "Hugging Face",
    "huggingface-llm": "Hugging Face TGI",
    "huggingface-vllm": "Hugging Face vLLM",
    "huggingface-sglang": "Hugging Face SGLang",
    "huggingface-tei": "Hugging Face TEI",
    "huggingface-tei-cpu": "Hugging Face TEI",
    "djl-lmi": "DJL LMI",
}
# The first versions the SDK refuses on P2 instances.
_P2_NEWEST = {"pytorch": (1, 13), "tensorflow": (2, 12)}
