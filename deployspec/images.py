"""Container image URIs from the SageMaker SDK's own tables.

Contract: `image_uri(...)` returns what `sagemaker.core.image_uris.retrieve` returns for the
spec's framework, version, py_version, region and instance type (GPU instance types give GPU
images; serverless gives the CPU image). The large-model containers (huggingface-llm, -vllm,
-sglang, -tei, djl-lmi) are looked up the same way, each in its own table; TEI's CPU images
(`huggingface-tei-cpu`) serve CPU instance types and serverless (`catalog.sdk_framework`). For
Hugging Face the base framework is made full first (`catalog.resolve_base`: pytorch2.6 ->
pytorch2.6.0, and a version's only base when none is named), because the SDK builds the tag
from the name it is given. The SDK is slow to import (seconds), so it is imported only here,
only on a cache miss; answers are cached per sagemaker-core version, which makes re-planning an
unchanged spec fast. Nothing here calls AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from . import catalog
from .cache import optional_cache_file, read_json, write_json
from .errors import DeployspecError


class ImageError(DeployspecError):
    """The SDK's tables have no image for this combination."""


def image_uri(
    framework: str,
    region: str,
    version: str,
    *,
    py_version: str | None,
    instance_type: str | None,
    base_framework_version: str | None = None,
) -> str:
    # TEI's CPU images are a table of their own, chosen by the instance type.
    framework = catalog.sdk_framework(framework, instance_type)
    if framework == "huggingface":
        base_framework_version = _huggingface_base(version, base_framework_version, region)
    request = {
        "framework": framework,
        "region": region,
        "version": version,
        "py_version": py_version,
        "instance_type": instance_type,
        "base_framework_version": base_framework_version,
        "sdk": metadata.version("sagemaker-core"),
    }
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32]
    cached_file = optional_cache_file("images", f"{key}.json")
    cached = read_json(cached_file) if cached_file else None
    if isinstance(cached, dict) and cached.get("request") == request:
        return str(cached["uri"])
    uri = _retrieve(framework, region, version, py_version, instance_type, base_framework_version)
    if cached_file:
        write_json(cached_file, {"request": request, "uri": uri})
    return uri


def _huggingface_base(version: str, base: str | None, region: str) -> str:
    full = catalog.resolve_base(version, base)
    resolved = catalog.resolve_version("huggingface", version)
    if resolved is None:
        return base or ""  # the SDK names the versions it has
    bases = catalog.base_frameworks(catalog.framework_table("huggingface")["versions"][resolved])
    if full in bases:
        return full
    # Said here rather than by the SDK, whose listing includes its table's own keys.
    why = f"none for {base}" if base else "several base frameworks, and none was named"
    raise ImageError(
        f"no SageMaker huggingface {version} inference image in {region}: it has {why} "
        f"(available: {', '.join(bases)})",
        hint="set model.base_framework_version to one of them",
    )


# warnings.catch_warnings() saves the process-wide filter list on entry and puts it back on
# exit: two threads inside it at once (many specs planned in parallel) can leave "ignore" in
# place for good, or bring back filters of the other's. One lock, and the SDK imported once.
_SDK_LOCK = threading.Lock()
_SDK: tuple[Any, Any] | None = None


def _sdk() -> tuple[Any, Any]:
    """The SDK's image_uris module and ServerlessInferenceConfig, imported once."""
    global _SDK
    with _SDK_LOCK:
        if _SDK is None:
            with warnings.catch_warnings():
                # The SDK warns about its own defaults on import; not the user's concern.
                warnings.simplefilter("ignore")
                from sagemaker.core import image_uris
                from sagemaker.core.serverless_inference_config import (
                    ServerlessInferenceConfig,
                )
            _SDK = (image_uris, ServerlessInferenceConfig)
        return _SDK


def _retrieve(
    framework: str,
    region: str,
    version: str,
    py_version: str | None,
    instance_type: str | None,
    base_framework_version: str | None,
) -> str:
    image_uris, ServerlessInferenceConfig = _sdk()
    kwargs: dict[str, object] = {
        "version": version,
        "py_version": py_version,
        "image_scope": "inference",
    }
    if base_framework_version:
        kwargs["base_framework_version"] = base_framework_version
    if instance_type:
        kwargs["instance_type"] = instance_type
    else:
        kwargs["serverless_inference_config"] = ServerlessInferenceConfig()
    try:
        uri = image_uris.retrieve(framework, region, **kwargs)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        where = instance_type or "serverless"
        raise ImageError(
            f"no SageMaker {framework} {version} inference image for {where} in {region}: {exc}",
            hint="check model.version / py_version, or set model.image explicitly",
        ) from None
    return str(uri)


# ---- from an image URI back to the spec's fields ------------------------------------------

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>, as the SDK builds them.
_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[^:@]+):(?P<tag>[A-Za-z0-9_.-]+)"
)


@dataclass(frozen=True)
class ImageMatch:
    """The spec fields that give an image URI back: `image_uri` of these, for the instance
    type, is the URI (None fields are left to the tables' defaults)."""

    framework: str
    version: str
    py_version: str | None = None
    base_framework_version: str | None = None


def spec_image(
    framework: str,
    region: str,
    version: str,
    *,
    py_version: str | None,
    instance_type: str | None,
    base_framework_version: str | None = None,
) -> str:
    """The image a spec with these model fields gets, as build_desired looks it up."""
    return image_uri(
        framework,
        region,
        version,
        py_version=catalog.image_py_version(
            framework,
            version,
            py_version,
            base_framework_version,
            catalog.image_scope(framework, instance_type),
        ),
        instance_type=instance_type,
        base_framework_version=base_framework_version,
    )


def framework_of_image(uri: str, region: str, instance_type: str | None) -> ImageMatch | None:
    """The framework, version (and py_version or Hugging Face base, only when the defaults
    would give another image) whose image a spec for `instance_type` (None: serverless) in
    `region` gets, exactly `uri`; None when no table of the SDK's gives it (another registry,
    account or region, a tag the tables do not build, an image of the user's own).

    The tables are searched for the repository, registry and a version the tag starts with;
    each candidate is then looked up forwards, as `build_desired` would, and kept only if it
    gives `uri` back: a reverse reading of tag formats could be wrong, the forward one is what
    plan will do."""
    found = _ECR_IMAGE.fullmatch(uri)
    if found is None or found["region"] != region:
        return None
    for candidate in _candidates(found["account"], region, found["repository"], found["tag"]):
        try:
            produced = spec_image(
                candidate.framework,
                region,
                candidate.version,
                py_version=candidate.py_version,
                instance_type=instance_type,
                base_framework_version=candidate.base_framework_version,
            )
        except DeployspecError:
            continue
        if produced == uri:
            return candidate
    return None


def _candidates(account: str, region: str, repository: str, tag: str) -> list[ImageMatch]:
    """Table entries of this repository and registry whose version (or alias) the tag starts
    with: the most specific version first, the tables' default Python before named ones."""
    found: list[tuple[int, int, ImageMatch]] = []
    for table_name in catalog.SPEC_FRAMEWORK_OF:
        framework = catalog.SPEC_FRAMEWORK_OF[table_name]
        for scope in (catalog.INFERENCE, catalog.GRAVITON):
            if scope != catalog.INFERENCE and not catalog.has_scope(table_name, scope):
                continue
            table = catalog.framework_table(table_name, scope)
            aliases: dict[str, str] = dict(table.get("version_aliases", {}))
            for version, entry in table.get("versions", {}).items():
                names = [version, *(a for a, target in aliases.items() if target == version)]
                for base, nested in _image_entries(framework, entry):
                    if nested.get("repository") != repository:
                        continue
                    if nested.get("registries", {}).get(region) != account:
                        continue
                    for name in names:
                        # Hugging Face tags start with the base's version:
                        # 2.6.0-transformers4.51.3-cpu-py312-ubuntu22.04.
                        if base is not None and f"-transformers{name}-" not in tag:
                            continue
                        # The large-model tables build tags from a prefix of their own
                        # (2.7.0-tgi3.3.6-gpu-py311-...), the others from the version.
                        start = nested.get("tag_prefix", name) if base is None else name
                        if base is None and not (tag == start or tag.startswith(f"{start}-")):
                            continue
                        # The tables' defaults first (the spec leaves them out), then each
                        # Python and base named.
                        pythons = [None, *nested.get("py_versions", [])]
                        bases = [None, base] if base is not None else [None]
                        for order, (python, named) in enumerate(
                            (p, b) for b in bases for p in pythons
                        ):
                            found.append(
                                (-len(name), order, ImageMatch(framework, name, python, named))
                            )
    found.sort(key=lambda item: (item[0], item[1]))
    unique: list[ImageMatch] = []
    for _, _, match in found:
        if match not in unique:
            unique.append(match)
    return unique


def _image_entries(
    framework: str, entry: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any]]]:
    """(Hugging Face base framework or None, the entry naming repository and registries)."""
    if framework == "huggingface":
        return [(base, entry[base]) for base in catalog.base_frameworks(entry)]
    return [(None, entry)]
