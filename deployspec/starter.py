"""`deployspec init`: a commented starter spec and inference script that validate as written.

Contract: `write_starter(directory, framework)` writes deployment.yaml, inference.py, the JSON
Schema its modeline names, and an empty model/ folder (the artifacts the spec points at),
refusing to overwrite files unless `force`.
The framework version is the newest the SageMaker SDK's image table lists, so the starter never
names an image that does not exist.
`huggingface-llm` (TGI) writes, instead of inference.py and model/, a GPU real-time spec whose
`artifacts: ./weights` (compression: none) is the tiny causal language model of
runtime/tiny_llm.py, written there: validate, plan and apply on the sandbox work offline at
once. It needs the `llm` extra (torch, transformers); without it, a DeployspecError names the
pip command, and nothing is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import catalog
from .errors import DeployspecError
from .spec import NAME_PATTERN

SPEC_TEMPLATE = """\
# yaml-language-server: $schema=deployment.schema.json
# A deployspec deployment: `deployspec validate`, `deployspec plan`, `deployspec apply`.
name: {name}                      # the endpoint name, stable across updates

# region: us-east-1               # else --region or your AWS config
# The IAM role SageMaker assumes; replace it with yours (or --role / DEPLOYSPEC_ROLE).
role: arn:aws:iam::123456789012:role/SageMakerExecution
tags: {{owner: "{name}"}}
keep: 2                           # previous configs and models kept for `deployspec rollback`

model:
  framework: {framework}
  version: "{version}"           # checked against the SageMaker SDK's image tables
  artifacts: ./model{artifacts_suffix}             # your model files; packaged as model.tar.gz
  entry_point: inference.py       # model_fn / input_fn / predict_fn / output_fn
  env: {{LOG_LEVEL: info}}

# Serverless is the default: pay per request, scale to zero.
serverless:
  memory_mb: 2048                 # 1024-6144 in steps of 1024
  max_concurrency: 5

# Or dedicated instances instead of serverless:
# realtime:
#   instance_type: ml.m5.xlarge
#   instance_count: 1
#   autoscaling: {{min: 1, max: 4, target_invocations_per_instance: 100}}
"""

LLM_FRAMEWORK = "huggingface-llm"

LLM_SPEC_TEMPLATE = """\
# yaml-language-server: $schema=deployment.schema.json
# A language model behind Text Generation Inference (TGI, the huggingface-llm container):
# `deployspec validate`, `deployspec plan`, `deployspec apply`, then
# `deployspec invoke --prompt "Hello" --stream`.
name: {name}                      # the endpoint name, stable across updates

# region: us-east-1               # else --region or your AWS config
# The IAM role SageMaker assumes; replace it with yours (or --role / DEPLOYSPEC_ROLE).
role: arn:aws:iam::123456789012:role/SageMakerExecution
tags: {{owner: "{name}"}}
keep: 2                           # previous configs and models kept for `deployspec rollback`

model:
  framework: {framework}
  version: "{version}"           # checked against the SageMaker SDK's image tables
  # ./weights holds a tiny, randomly initialised model (it writes gibberish) that the local
  # sandbox serves offline. Uploaded file by file, uncompressed; a new version uploads only
  # the files that changed.
  artifacts: ./weights
  compression: none
  # For a real model, replace the two lines above with a Hugging Face Hub id, which the
  # container downloads (pin a revision; a gated model's token is named, never written):
  # hub: {{id: HuggingFaceTB/SmolLM2-135M-Instruct, revision: main}}
  # hub: {{id: meta-llama/Llama-3.1-8B-Instruct, revision: <commit>, token_env: HF_TOKEN}}
  llm:
    # The tiny model holds {positions} tokens in all; raise both for a real model.
    max_input_tokens: {max_input}          # the prompt
    max_total_tokens: {max_total}          # the prompt plus the tokens generated

realtime:
  instance_type: ml.g5.xlarge     # one NVIDIA A10G (24 GB); SM_NUM_GPUS follows the type
  instance_count: 1
  startup_health_check_timeout: 10m
  model_data_download_timeout: 10m
"""

INFERENCE = {
    "sklearn": '''\
"""Inference handlers for the SageMaker scikit-learn container."""

import json
import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return json.loads(body)["instances"]


def predict_fn(data, model):
    return model.predict(data).tolist()


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction}), "application/json"
''',
    "xgboost": '''\
"""Inference handlers for the SageMaker XGBoost container (script mode needs model_fn)."""

import json
import os

import numpy as np
import xgboost as xgb


def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    return booster


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return xgb.DMatrix(np.asarray(json.loads(body)["instances"], dtype=float))


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction.tolist()}), "application/json"
''',
    "pytorch": '''\
"""Inference handlers for the SageMaker PyTorch container."""

import json
import os

import torch


def model_fn(model_dir):
    model = torch.jit.load(os.path.join(model_dir, "model.pth"), map_location="cpu")
    return model.eval()


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return torch.tensor(json.loads(body)["instances"], dtype=torch.float32)


def predict_fn(data, model):
    with torch.no_grad():
        return model(data)


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction.tolist()}), "application/json"
''',
    "tensorflow": '''\
"""Pre- and post-processing for the SageMaker TensorFlow Serving container."""

import json


def input_handler(data, context):
    if context.request_content_type != "application/json":
        raise ValueError(f"unsupported content type {context.request_content_type}")
    return json.dumps({"instances": json.loads(data.read().decode("utf-8"))["instances"]})


def output_handler(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    return response.content, "application/json"
''',
}


def _newest_version(framework: str) -> str:
    versions, _ = catalog.supported_versions(framework)

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", version))

    plain = [v for v in versions if re.fullmatch(r"[\d.\-]+", v)]
    return max(plain or versions, key=key)


def _check_llm_extra() -> None:
    """The tiny model is made with torch and transformers: refused, with the command, without."""
    import importlib.util

    from .runtime.tiny_llm import INSTALL_HINT

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise DeployspecError(
            f"init --framework {LLM_FRAMEWORK} writes a tiny model with "
            f"{' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            "installed",
            hint=INSTALL_HINT,
        )


def write_starter(
    directory: Path, framework: str, *, name: str | None = None, force: bool = False
) -> list[Path]:
    directory = directory.resolve()
    endpoint = name or re.sub(r"[^a-zA-Z0-9]+", "-", directory.name).strip("-") or "my-model"
    endpoint = endpoint[:63].strip("-")
    if not re.fullmatch(NAME_PATTERN, endpoint) or len(endpoint) > 63:
        raise DeployspecError(
            f"{endpoint!r} cannot name a SageMaker endpoint",
            hint="1-63 letters, digits and hyphens, starting and ending with a letter or digit",
        )
    spec_file = directory / "deployment.yaml"
    script = directory / "inference.py"
    schema_file = directory / "deployment.schema.json"
    if framework == LLM_FRAMEWORK:
        return _write_llm_starter(directory, endpoint, spec_file, schema_file, force)
    existing = [p for p in (spec_file, script, schema_file) if p.exists()]
    if existing and not force:
        raise DeployspecError(f"{existing[0]} already exists", hint="pass --force to overwrite it")
    # TensorFlow Serving wants a numeric version folder inside the artifacts.
    artifacts_suffix = "/1" if framework == "tensorflow" else ""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"model{artifacts_suffix}").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeployspecError(f"cannot create {exc.filename}: {exc.strerror}") from None
    spec_file.write_text(
        SPEC_TEMPLATE.format(
            name=endpoint,
            framework=framework,
            version=_newest_version(framework),
            artifacts_suffix=artifacts_suffix,
        )
    )
    script.write_text(INFERENCE[framework])
    # The modeline above points editors running the YAML language server at this file.
    from .schema import json_schema

    schema_file.write_text(json.dumps(json_schema(), indent=2) + "\n")
    return [spec_file, script, schema_file, directory / "model"]


def _write_llm_starter(
    directory: Path, endpoint: str, spec_file: Path, schema_file: Path, force: bool
) -> list[Path]:
    from .runtime.tiny_llm import MAX_POSITIONS, make_tiny_model

    _check_llm_extra()
    weights = directory / "weights"
    existing = [p for p in (spec_file, schema_file, weights) if p.exists()]
    if existing and not force:
        raise DeployspecError(f"{existing[0]} already exists", hint="pass --force to overwrite it")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        make_tiny_model(weights)
    except OSError as exc:
        raise DeployspecError(f"cannot write {exc.filename}: {exc.strerror}") from None
    spec_file.write_text(
        LLM_SPEC_TEMPLATE.format(
            name=endpoint,
            framework=LLM_FRAMEWORK,
            version=_newest_version(LLM_FRAMEWORK),
            # Half for the prompt: the tiny model's positions hold prompt and answer.
            max_input=MAX_POSITIONS // 2,
            max_total=MAX_POSITIONS,
            positions=MAX_POSITIONS,
        )
    )
    from .schema import json_schema

    schema_file.write_text(json.dumps(json_schema(), indent=2) + "\n")
    return [spec_file, schema_file, weights]
