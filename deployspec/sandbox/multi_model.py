"""Multi-model endpoints in the sandbox: one container, many model.tar.gz under an S3 prefix.

Contract (hooked in by sagemaker_ext: CreateModel, CreateEndpointConfig and InvokeEndpoint;
the loading itself is hosting.ModelHost's; nothing here knows about specs or plans):

- CreateModel with a container in `Mode: MultiModel` is refused, as AWS refuses it, when its
  image is one of SageMaker's own that lacks the `com.amazonaws.sagemaker.capabilities.
  multi-models=true` Docker label (ValidationException "Your Ecr Image ... does not contain
  required ... Docker label(s)."). The images that have it are those of AWS's list of
  containers supporting multi-model endpoints on CPU instances: scikit-learn
  (`sagemaker-scikit-learn`), XGBoost (`sagemaker-xgboost`, the built-in `xgboost`), PyTorch
  through TorchServe (`pytorch-inference`), TensorFlow Serving (`tensorflow-inference`), MXNet
  (`mxnet-inference`), the built-in k-NN, Linear Learner and Random Cut Forest, and Triton
  (`sagemaker-tritonserver`, AWS's way to multi-model endpoints on GPUs). The GPU builds of
  the PyTorch, TensorFlow and MXNet images lack the label, and so do the other SageMaker
  framework images the sandbox knows (Hugging Face, Neuron builds). An image the sandbox does
  not know is accepted: AWS reads the label from the image in ECR, which the sandbox cannot.
  Of the accepted images the sandbox runs scikit-learn, XGBoost, PyTorch and TensorFlow (the
  inference-toolkit handler contract of deployspec.runtime, each archive with its own `code/`);
  the others go InService and answer that they cannot run here.
- CreateEndpointConfig refuses a serverless production variant serving a multi-model model
  (AWS's serverless exclusions list multi-model endpoints; the wording is the sandbox's).
- InvokeEndpoint on a multi-model variant: `TargetModel` (header X-Amzn-SageMaker-Target-Model)
  names a key under the variant's ModelDataUrl, joined as SageMaker joins it (`prefix +
  TargetModel`, so the prefix should end with "/"). The archive is loaded on its first
  invocation (a worker of its own, unpacked under the deployment's cache) and kept, within the
  host's bound on idle workers (DEPLOYSPEC_SANDBOX_MAX_WORKERS: the least recently used is
  closed and loaded again on its next invocation, as SageMaker evicts models). The answer is
  the real prediction, with `x-Amzn-Invoked-Production-Variant` as usual.
  AWS's errors (ValidationError): no TargetModel ("Request <id> is missing a target model
  header.", as reported by users; the end of the sentence is not public), a TargetModel with no
  object under the prefix ("Failed to download model data(bucket: ..., key: ...). ..."), and a
  TargetModel on an endpoint that is not multi-model ("Endpoint <name> is not a multi-model
  endpoint and does not support target model header.").
- Not as AWS: an archive replaced under the same key is picked up by the next invocation (the
  host compares the object's ETag each time; an invocation still running on the old model may
  fail once), where SageMaker keeps serving its cached copy until it evicts it, which is why
  AWS's docs advise a new key per version. ModelNotReadyException (a model still loading after
  60 s), the 507 of a full GPU, memory-based eviction and the per-model CloudWatch metrics are
  not reproduced. Unpacked archives stay on disk until their deployment is released.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend

from deployspec.sandbox.hosting import model_url, parse_s3_url, stat_moto_object
from deployspec.sandbox.sagemaker_ext import (
    InvocationTarget,
    ModelInvocationError,
    RuntimeValidationError,
)

MULTI_MODEL = "MultiModel"
LABEL = "com.amazonaws.sagemaker.capabilities.multi-models=true"

# Repositories of SageMaker images with the multi-models label (AWS's list of containers that
# support multi-model endpoints on CPU instances, plus Triton).
_WITH_LABEL = frozenset(
    {
        "sagemaker-scikit-learn",
        "sagemaker-xgboost",
        "xgboost",
        "knn",
        "linear-learner",
        "randomcutforest",
        "pytorch-inference",
        "tensorflow-inference",
        "mxnet-inference",
        "sagemaker-tritonserver",
    }
)
# Of those, the ones whose GPU builds lack it (AWS: "only supports AWS CPU docker images").
_CPU_ONLY = frozenset({"pytorch-inference", "tensorflow-inference", "mxnet-inference"})
# SageMaker framework repositories the sandbox knows that never carry the label.
_WITHOUT_LABEL = re.compile(
    r"^(huggingface-[a-z0-9-]+|(pytorch|tensorflow|mxnet)-inference-[a-z0-9-]+|"
    r"sagemaker-(pytorch|tensorflow-serving|mxnet)(-[a-z0-9-]+)?|djl-[a-z0-9-]+|"
    r"tei(-[a-z0-9-]+)?)$"
)


def _repository_and_tag(image: str) -> tuple[str, str]:
    reference = image.strip().split("@", 1)[0]
    parts = reference.split("/")
    # A first component with a dot, a colon or "localhost" is a registry host, not a path.
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    name, _, tag = parts[-1].partition(":")
    return name.lower(), tag.lower()


def image_supports_multi_model(image: str) -> bool:
    """Whether SageMaker accepts `image` for a multi-model container (see the module
    docstring); True for images the sandbox does not know."""
    repository, tag = _repository_and_tag(image)
    if repository in _WITH_LABEL:
        return not (repository in _CPU_ONLY and "gpu" in tag)
    return _WITHOUT_LABEL.match(repository) is None


def check_model(
    primary_container: Mapping[str, Any] | None, containers: Iterable[Mapping[str, Any]] | None
) -> None:
    """CreateModel: AWS's refusal of a multi-model container whose image lacks the label."""
    for container in [primary_container or {}, *(containers or [])]:
        if container.get("Mode") != MULTI_MODEL:
            continue
        image = str(container.get("Image") or "")
        if not image_supports_multi_model(image):
            raise ValidationError(
                message=f"Your Ecr Image {image} does not contain required {LABEL} Docker label(s)."
            )


def check_config(
    backend: SageMakerModelBackend, production_variants: Iterable[Mapping[str, Any]]
) -> None:
    """CreateEndpointConfig: serverless endpoints cannot be multi-model."""
    for variant in production_variants:
        model = backend._models.get(str(variant.get("ModelName")))
        if model is None or not variant.get("ServerlessConfig"):
            continue
        containers = [model.primary_container or {}, *(model.containers or [])]
        if any(c.get("Mode") == MULTI_MODEL for c in containers):
            raise ValidationError(
                message=f"Production variant {variant.get('VariantName')} is serverless and "
                f"its model {model.model_name} is multi-model (Mode {MULTI_MODEL}): serverless "
                "endpoints do not support multi-model endpoints."
            )


def invocation_target(target: InvocationTarget, target_model: str | None) -> InvocationTarget:
    """What InvokeEndpoint runs given its TargetModel header, or AWS's ValidationError."""
    if not target.variant.multi_model:
        if target_model:
            raise RuntimeValidationError(
                f"Endpoint {target.endpoint_name} is not a multi-model endpoint and does not "
                "support target model header."
            )
        return target
    if not target_model:
        raise RuntimeValidationError(f"Request {uuid.uuid4()} is missing a target model header.")
    chosen = replace(target, target_model=target_model)
    url = model_url(chosen)
    try:
        found = url is not None and stat_moto_object(target.account_id, target.region, url)
    except ModelInvocationError:
        found = False  # a ModelDataUrl that is no s3://bucket/key prefix holds no model
    if not found:
        raise RuntimeValidationError(_download_failure(url or target_model))
    return chosen


def _download_failure(url: str) -> str:
    try:
        bucket, key = parse_s3_url(url)
    except ModelInvocationError:
        bucket, key = "", url
    return (
        f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that "
        "there is an object located at the URL and that the role passed to CreateModel has "
        "permissions to download the model."
    )
