"""The large-model containers' own settings: which environment variable each reads for what.

Contract: `settings(framework)` is the table of one container kind (TGI `huggingface-llm`, the
Hugging Face vLLM and SGLang DLCs, TEI, DJL LMI): the variable naming the model, its revision,
the tensor-parallel degree, the token limits, quantisation, TEI's batch budget, and the
quantisation values the container documents (None: not checked here). `environment(...)` is
the environment deployspec generates for a model block of such a framework: the Hub id (or
/opt/ml/model for weights deployed from S3, with the Hub switched off), the revision, the
GPU count (llm.num_gpus, else the instance type's, `gpus.gpu_count`), the llm: settings and,
for a gated model, the token under both names the Hugging Face libraries read. The caller
merges it under the spec's own env (the user's value wins; validate refuses a clash between
llm:/hub: and env: of one setting). Pure: the token arrives already read.

Where the names come from (December 2026): TGI's sagemaker-entrypoint.sh (HF_MODEL_ID,
HF_MODEL_REVISION, SM_NUM_GPUS, HF_MODEL_QUANTIZE) and its launcher's clap `env` arguments
(MAX_INPUT_TOKENS, which replaced MAX_INPUT_LENGTH; MAX_TOTAL_TOKENS; the Quantization enum);
the DLCs' sagemaker_entrypoint.sh in aws/deep-learning-containers (huggingface/vllm and
huggingface/sglang: every SM_VLLM_* / SM_SGLANG_* variable becomes the server's --flag; vLLM
has no default model, SGLang defaults to /opt/ml/model); TEI's sagemaker-entrypoint.sh
(HF_MODEL_ID, HF_MODEL_REVISION) and its router's MAX_BATCH_TOKENS; DJL LMI's docs (HF_MODEL_ID,
OPTION_<name> for option.<name>: tensor_parallel_degree, max_model_len, quantize, revision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import gpus
from .spec import HUB_TOKEN_REFERENCE, Framework, ModelSpec

# Where SageMaker mounts the model data (ModelDataUrl or ModelDataSource) in the container.
MODEL_DIR = "/opt/ml/model"
# The names the Hugging Face libraries read a Hub token under: huggingface_hub's current one
# and the older one the SDK's TGI path sets.
TOKEN_KEYS = ("HF_TOKEN", HUB_TOKEN_REFERENCE)

# TGI 3.x's `--quantize` values (launcher/src/main.rs, enum Quantization, kebab-case).
TGI_QUANTIZE = frozenset(
    {
        "awq",
        "compressed-tensors",
        "eetq",
        "exl2",
        "gptq",
        "marlin",
        "bitsandbytes",
        "bitsandbytes-nf4",
        "bitsandbytes-fp4",
        "fp8",
    }
)


@dataclass(frozen=True)
class Settings:
    """One container kind's variable for each setting (None: the container has no such
    setting, and the spec's is refused)."""

    model: str
    revision: str
    num_gpus: str | None
    max_input_tokens: str | None
    max_total_tokens: str | None
    quantize: str | None
    max_batch_tokens: str | None
    # The documented values of quantize; None: passed on unchecked (vLLM, SGLang and LMI
    # add methods with nearly every release).
    quantize_values: frozenset[str] | None = None
    # The weights need a GPU (SM_NUM_GPUS and its kin defaulted from the instance type).
    gpu: bool = True


_SETTINGS: dict[Framework, Settings] = {
    Framework.HUGGINGFACE_LLM: Settings(
        model="HF_MODEL_ID",
        revision="HF_MODEL_REVISION",
        num_gpus="SM_NUM_GPUS",
        max_input_tokens="MAX_INPUT_TOKENS",
        max_total_tokens="MAX_TOTAL_TOKENS",
        quantize="HF_MODEL_QUANTIZE",
        max_batch_tokens=None,
        quantize_values=TGI_QUANTIZE,
    ),
    Framework.HUGGINGFACE_VLLM: Settings(
        model="SM_VLLM_MODEL",
        revision="SM_VLLM_REVISION",
        num_gpus="SM_VLLM_TENSOR_PARALLEL_SIZE",
        max_input_tokens=None,
        max_total_tokens="SM_VLLM_MAX_MODEL_LEN",
        quantize="SM_VLLM_QUANTIZATION",
        max_batch_tokens=None,
    ),
    Framework.HUGGINGFACE_SGLANG: Settings(
        model="SM_SGLANG_MODEL_PATH",
        revision="SM_SGLANG_REVISION",
        num_gpus="SM_SGLANG_TP_SIZE",
        max_input_tokens=None,
        max_total_tokens="SM_SGLANG_CONTEXT_LENGTH",
        quantize="SM_SGLANG_QUANTIZATION",
        max_batch_tokens=None,
    ),
    Framework.HUGGINGFACE_TEI: Settings(
        model="HF_MODEL_ID",
        revision="HF_MODEL_REVISION",
        num_gpus=None,
        max_input_tokens=None,
        max_total_tokens=None,
        quantize=None,
        max_batch_tokens="MAX_BATCH_TOKENS",
        gpu=False,
    ),
    Framework.DJL_LMI: Settings(
        model="HF_MODEL_ID",
        revision="OPTION_REVISION",
        num_gpus="OPTION_TENSOR_PARALLEL_DEGREE",
        max_input_tokens=None,
        max_total_tokens="OPTION_MAX_MODEL_LEN",
        quantize="OPTION_QUANTIZE",
        max_batch_tokens=None,
    ),
}

# llm: field -> Settings attribute naming its variable.
LLM_FIELDS = ("num_gpus", "max_input_tokens", "max_total_tokens", "quantize", "max_batch_tokens")


def settings(framework: Framework) -> Settings | None:
    """The container kind's variables; None for a framework that is no large-model container."""
    return _SETTINGS.get(framework)


def setting_keys(model_spec: ModelSpec) -> dict[str, str]:
    """spec field (hub.id, hub.revision, llm.<name>) -> the variable it sets, for the fields
    the block gives: what an env: key of the same name would clash with."""
    found = settings(model_spec.framework)
    if found is None:
        return {}
    keys: dict[str, str] = {}
    if model_spec.hub is not None:
        keys["hub.id"] = found.model
        if model_spec.hub.revision is not None:
            keys["hub.revision"] = found.revision
    if model_spec.llm is not None:
        for name in LLM_FIELDS:
            variable = getattr(found, name)
            if variable is not None and getattr(model_spec.llm, name) is not None:
                keys[f"llm.{name}"] = variable
    return keys


def environment(
    model_spec: ModelSpec, instance_type: str | None, token: str | None
) -> dict[str, str]:
    """The variables deployspec sets for a large-model container (empty for other frameworks
    and for a registry package, whose container brings its own)."""
    found = settings(model_spec.framework)
    if found is None or model_spec.package is not None:
        return {}
    env: dict[str, str] = {}
    if model_spec.hub is not None:
        env[found.model] = model_spec.hub.id
        if model_spec.hub.revision is not None:
            env[found.revision] = model_spec.hub.revision
    else:
        # Weights deployed from S3: SageMaker mounts them here; the Hub is never asked.
        env[found.model] = MODEL_DIR
        env["HF_HUB_OFFLINE"] = "1"
    llm = model_spec.llm
    num_gpus = llm.num_gpus if llm is not None else None
    if num_gpus is None and found.gpu and found.num_gpus and instance_type is not None:
        num_gpus = gpus.gpu_count(instance_type) or None
    if found.num_gpus is not None and num_gpus is not None:
        env[found.num_gpus] = str(num_gpus)
    if llm is not None:
        for name in ("max_input_tokens", "max_total_tokens", "quantize", "max_batch_tokens"):
            variable, value = getattr(found, name), getattr(llm, name)
            if variable is not None and value is not None:
                env[variable] = str(value)
    if token is not None:
        for key in TOKEN_KEYS:
            env[key] = token
    return env


def hub_token(model_spec: ModelSpec, process_env: Mapping[str, str], where: str) -> str | None:
    """The gated model's token named by hub.token_env, read from `process_env` (the caller's
    environment, injected); None when the block names no token_env."""
    from .errors import DeployspecError

    hub = model_spec.hub
    if hub is None or hub.token_env is None:
        return None
    value = process_env.get(hub.token_env)
    if not value:
        raise DeployspecError(
            f"{where}.hub.token_env: the environment variable {hub.token_env} is not set",
            hint=f"export {hub.token_env}=<your Hugging Face token> before planning, or name "
            "the token in AWS Secrets Manager with hub.token: {secretsmanager: ...}",
        )
    return value
