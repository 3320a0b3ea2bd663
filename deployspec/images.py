"""Container image URIs from the SageMaker SDK's own tables.

Contract: `image_uri(...)` returns what `sagemaker.core.image_uris.retrieve` returns for the
spec's framework, version, py_version, region and instance type (GPU instance types give GPU
images; serverless gives the CPU image). For Hugging Face the base framework is made full
first (`catalog.resolve_base`: pytorch2.6 -> pytorch2.6.0, and a version's only base when none
is named), because the SDK builds the tag from the name it is given. The SDK is slow to import
(seconds), so it is imported only here, only on a cache miss; answers are cached per
sagemaker-core version, which makes re-planning an unchanged spec fast. Nothing here calls AWS.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from importlib import metadata

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


def _retrieve(
    framework: str,
    region: str,
    version: str,
    py_version: str | None,
    instance_type: str | None,
    base_framework_version: str | None,
) -> str:
    with warnings.catch_warnings():
        # The SDK warns about its own defaults on import; they are not the user's concern.
        warnings.simplefilter("ignore")
        from sagemaker.core import image_uris
        from sagemaker.core.serverless_inference_config import ServerlessInferenceConfig

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
