"""Large-model containers in the spec: what a TGI, vLLM, SGLang, TEI or LMI block loads as,
the environment and readiness it plans, and every rule of theirs refused at validate with the
field path, the line and what to do."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deployspec import gpus, llm
from deployspec.catalog import instance_types
from deployspec.desired import LLM_READINESS_SECONDS, build_desired, container_environment
from deployspec.errors import DeployspecError, SpecError
from deployspec.spec import load_spec
from deployspec.wire import endpoint_config_request

WriteSpec = Callable[..., Path]
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"

HEAD = """\
name: chat
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
"""


def spec(
    *model_lines: str,
    framework: str = "huggingface-llm",
    version: str = "3.3.6",
    capacity: str = "realtime:\n  instance_type: ml.g5.2xlarge\n",
) -> str:
    lines = [f"  framework: {framework}", f'  version: "{version}"', *model_lines]
    return HEAD + "\n".join(lines) + "\n" + capacity


HUB = "  hub: {id: HuggingFaceTB/SmolLM2-135M-Instruct}"
G5 = "realtime:\n  instance_type: ml.g5.2xlarge\n"


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [d.format() for d in caught.value.diagnostics]


def line_of(text: str, snippet: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if snippet in line)


# (id, spec text, the line's snippet, field path, message part, hint part)
REFUSED = [
    (
        "tgi-on-cpu",
        spec(HUB, capacity="realtime:\n  instance_type: ml.m5.xlarge\n"),
        "instance_type",
        "realtime.instance_type",
        "Hugging Face TGI 3.3.6 images run on NVIDIA GPUs only, and ml.m5.xlarge is a CPU",
        "ml.g5.xlarge",
    ),
    (
        "vllm-serverless",
        spec(HUB, framework="huggingface-vllm", version="0.29.0", capacity="serverless: {}\n"),
        "framework",
        "model.framework",
        "images run on NVIDIA GPUs only, and serverless endpoints have none",
        "realtime:",
    ),
    (
        "lmi-on-cpu",
        spec(
            HUB,
            framework="djl-lmi",
            version="0.33.0",
            capacity="realtime: {instance_type: ml.c5.xlarge}\n",
        ),
        "instance_type",
        "realtime.instance_type",
        "DJL LMI 0.33.0 images run on NVIDIA GPUs only",
        "GPU instance type",
    ),
    (
        "too-many-gpus",
        spec(HUB, "  llm: {num_gpus: 4}"),
        "llm:",
        "model.llm.num_gpus",
        "llm.num_gpus is 4, and ml.g5.2xlarge has 1 GPU",
        "at most 1",
    ),
    (
        "input-not-below-total",
        spec(HUB, "  llm: {max_input_tokens: 4096, max_total_tokens: 4096}"),
        "llm:",
        "model.llm.max_input_tokens",
        "max_input_tokens (4096) must be below max_total_tokens (4096)",
        "lower max_input_tokens",
    ),
    (
        "llm-on-sklearn",
        spec(
            "  artifacts: ./model",
            "  entry_point: inference.py",
            "  llm: {max_total_tokens: 10}",
            framework="sklearn",
            version="1.2-1",
            capacity="realtime: {instance_type: ml.m5.xlarge}\n",
        ),
        "llm:",
        "model.llm",
        "llm: holds the settings of a large-model container, and sklearn is not one",
        "huggingface-llm",
    ),
    (
        "hub-with-artifacts",
        spec("  artifacts: ./model", HUB),
        "hub:",
        "model.hub",
        "model has 2 model sources (artifacts, hub); a model comes from exactly one",
        "not both",
    ),
    (
        "hub-with-package",
        spec(HUB, "  package: arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3"),
        "package:",
        "model.package",
        "model has 2 model sources (hub, package)",
        "not both",
    ),
    (
        "no-source",
        spec(),
        "model:",
        "model",
        "required key 'artifacts' is missing under model: it names no model source",
        "hub: {id: ...}",
    ),
    (
        "multi-model",
        spec("  mode: multi-model", "  models: {a: ./model}"),
        "mode:",
        "model.mode",
        "the huggingface-llm container does not serve multi-model endpoints",
        "serve one model",
    ),
    (
        "hub-on-pytorch",
        spec(HUB, framework="pytorch", version="2.6.0"),
        "hub:",
        "model.hub",
        "hub: models are served by the large-model containers, and pytorch is not one",
        "HF_MODEL_ID",
    ),
    (
        "script",
        spec(HUB, "  entry_point: inference.py"),
        "entry_point",
        "model.entry_point",
        "the huggingface-llm container runs no inference script",
        "no inference script",
    ),
    (
        "env-clash",
        spec(HUB, "  llm: {max_total_tokens: 8192}", "  env:", '    MAX_TOTAL_TOKENS: "4096"'),
        "MAX_TOTAL_TOKENS",
        "model.env.MAX_TOTAL_TOKENS",
        "env.MAX_TOTAL_TOKENS and model.llm.max_total_tokens set the same container setting",
        "remove env.MAX_TOTAL_TOKENS",
    ),
    (
        "env-clash-hub-id",
        spec(
            HUB,
            "  env:",
            "    SM_VLLM_MODEL: other/model",
            framework="huggingface-vllm",
            version="0.29.0",
        ),
        "SM_VLLM_MODEL",
        "model.env.SM_VLLM_MODEL",
        "env.SM_VLLM_MODEL and model.hub.id set the same container setting",
        "keep model.hub.id",
    ),
    (
        "tgi-quantize",
        spec(HUB, "  llm: {quantize: awk}"),
        "llm:",
        "model.llm.quantize",
        "the huggingface-llm container has no quantization 'awk'",
        "did you mean awq?",
    ),
    (
        "vllm-input-tokens",
        spec(HUB, "  llm: {max_input_tokens: 100}", framework="huggingface-vllm", version="0.29.0"),
        "llm:",
        "model.llm.max_input_tokens",
        "the huggingface-vllm container has no max input tokens setting",
        "set max_total_tokens instead",
    ),
    (
        "tei-num-gpus",
        spec(HUB, "  llm: {num_gpus: 1}", framework="huggingface-tei", version="1.8.2"),
        "llm:",
        "model.llm.num_gpus",
        "the huggingface-tei container has no num gpus setting",
        "remove it",
    ),
    (
        "two-tokens",
        spec(
            "  hub:",
            "    id: meta-llama/Llama-3.1-8B-Instruct",
            "    token_env: HF_TOKEN",
            "    token: {secretsmanager: hf-token}",
        ),
        "token: {",
        "model.hub.token",
        "hub.token_env and hub.token both name the Hub token",
        "keep one",
    ),
    (
        "unknown-gpu-count",
        spec(HUB, capacity="realtime: {instance_type: ml.g7e.2xlarge}\n"),
        "instance_type",
        "realtime.instance_type",
        "unknown GPU count for ml.g7e.2xlarge",
        "set model.llm.num_gpus",
    ),
    (
        "ami",
        spec(
            HUB,
            capacity=G5 + "  inference_ami_version: al2-gpu\n",
        ),
        "inference_ami_version",
        "realtime.inference_ami_version",
        "'al2-gpu' is not a SageMaker inference AMI version",
        "",
    ),
    (
        "routing",
        spec(
            HUB, capacity="realtime:\n  instance_type: ml.g5.2xlarge\n  routing_strategy: RANDOM\n"
        ),
        "routing_strategy",
        "realtime.routing_strategy",
        "'RANDOM' is not a routing strategy: use one of kv_aware, least_outstanding_requests",
        "",
    ),
    (
        "timeout-too-long",
        spec(
            HUB,
            capacity=G5 + "  startup_health_check_timeout: 2h\n",
        ),
        "startup_health_check_timeout",
        "realtime.startup_health_check_timeout",
        "",
        "",
    ),
]


@pytest.mark.parametrize(
    ("text", "snippet", "field", "message", "hint"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_where_it_is_set(
    write_spec: WriteSpec, text: str, snippet: str, field: str, message: str, hint: str
) -> None:
    path = write_spec(text)
    # A second source may bring its own refusals too (a version beside a package): the one
    # about this field is the one checked.
    [error] = [e for e in errors_of(path) if f": {field}: " in e.splitlines()[0]]
    assert error.startswith(f"{path}:{line_of(text, snippet)}:"), error
    assert f": {field}: " in error.splitlines()[0], error
    assert message in error, error
    if hint:
        assert "hint: " in error and hint in error.split("hint: ", 1)[1], error


def test_serverless_tei_and_cpu_tei_take_the_cpu_images(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    for capacity, tag in (
        ("serverless: {}\n", "/tei-cpu:"),
        ("realtime: {instance_type: ml.m5.xlarge}\n", "/tei-cpu:"),
        ("realtime: {instance_type: ml.g5.xlarge}\n", "/tei:"),
    ):
        text = spec(
            HUB,
            "  llm: {max_batch_tokens: 16384}",
            framework="huggingface-tei",
            version="1.8.2",
            capacity=capacity,
        )
        desired = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE)
        [model] = desired.models
        assert tag in model.image, model.image
        assert model.environment["HF_MODEL_ID"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
        assert model.environment["MAX_BATCH_TOKENS"] == "16384"
        assert "SM_NUM_GPUS" not in model.environment


# (framework, version, instance type, llm:, expected environment subset)
ENVIRONMENTS = [
    (
        "huggingface-llm",
        "3.3.6",
        "ml.g5.12xlarge",
        "{max_input_tokens: 4096, max_total_tokens: 8192, quantize: awq}",
        {
            "HF_MODEL_ID": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "HF_MODEL_REVISION": "main",
            "SM_NUM_GPUS": "4",
            "MAX_INPUT_TOKENS": "4096",
            "MAX_TOTAL_TOKENS": "8192",
            "HF_MODEL_QUANTIZE": "awq",
        },
    ),
    (
        "huggingface-vllm",
        "0.29.0",
        "ml.g6e.48xlarge",
        "{max_total_tokens: 8192, num_gpus: 4}",
        {
            "SM_VLLM_MODEL": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SM_VLLM_REVISION": "main",
            "SM_VLLM_TENSOR_PARALLEL_SIZE": "4",
            "SM_VLLM_MAX_MODEL_LEN": "8192",
        },
    ),
    (
        "huggingface-sglang",
        "0.5.8",
        "ml.p4d.24xlarge",
        "{max_total_tokens: 8192, quantize: fp8}",
        {
            "SM_SGLANG_MODEL_PATH": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SM_SGLANG_TP_SIZE": "8",
            "SM_SGLANG_CONTEXT_LENGTH": "8192",
            "SM_SGLANG_QUANTIZATION": "fp8",
        },
    ),
    (
        "djl-lmi",
        "latest",
        "ml.g5.48xlarge",
        "{max_total_tokens: 8192}",
        {
            "HF_MODEL_ID": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "OPTION_REVISION": "main",
            "OPTION_TENSOR_PARALLEL_DEGREE": "8",
            "OPTION_MAX_MODEL_LEN": "8192",
        },
    ),
]


@pytest.mark.parametrize(
    ("framework", "version", "instance_type", "settings", "wanted"), ENVIRONMENTS
)
def test_each_container_gets_its_own_names(
    write_spec: WriteSpec,
    framework: str,
    version: str,
    instance_type: str,
    settings: str,
    wanted: dict[str, str],
) -> None:
    text = spec(
        "  hub: {id: HuggingFaceTB/SmolLM2-135M-Instruct, revision: main}",
        f"  llm: {settings}",
        "  env: {LOG_LEVEL: info}",
        framework=framework,
        version=version,
        capacity=f"realtime: {{instance_type: {instance_type}}}\n",
    )
    desired = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE)
    [model] = desired.models
    assert {k: model.environment.get(k) for k in wanted} == wanted
    assert model.environment["LOG_LEVEL"] == "info"
    assert model.model_data_url is None  # the container downloads a Hub model
    assert "SAGEMAKER_PROGRAM" not in model.environment
    assert "HF_HUB_OFFLINE" not in model.environment
    [variant] = desired.config.variants
    body = endpoint_config_request(desired.config)["ProductionVariants"][0]
    assert variant.startup_health_check_timeout == LLM_READINESS_SECONDS
    assert body["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert body["ModelDataDownloadTimeoutInSeconds"] == 600


def test_weights_from_s3_are_read_from_the_model_folder_offline(write_spec: WriteSpec) -> None:
    text = spec("  artifacts: s3://bucket/weights/model.tar.gz")
    [model] = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE).models
    assert model.environment["HF_MODEL_ID"] == llm.MODEL_DIR
    assert model.environment["HF_HUB_OFFLINE"] == "1"
    assert model.environment["SM_NUM_GPUS"] == "1"
    assert model.image.endswith(
        "/huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04"
    )


def test_the_spec_s_own_readiness_wins_and_routing_is_sent_in_upper_case(
    write_spec: WriteSpec,
) -> None:
    text = spec(
        HUB,
        capacity="realtime:\n  instance_type: ml.g5.2xlarge\n  startup_health_check_timeout: 20m\n"
        "  model_data_download_timeout: 90s\n  volume_size_gb: 100\n"
        "  inference_ami_version: al2-ami-sagemaker-inference-gpu-3-1\n"
        "  routing_strategy: least_outstanding_requests\n",
    )
    desired = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE)
    body = endpoint_config_request(desired.config)["ProductionVariants"][0]
    assert body["ContainerStartupHealthCheckTimeoutInSeconds"] == 1200
    assert body["ModelDataDownloadTimeoutInSeconds"] == 90
    assert body["VolumeSizeInGB"] == 100
    assert body["InferenceAmiVersion"] == "al2-ami-sagemaker-inference-gpu-3-1"
    assert body["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}


def test_other_frameworks_send_nothing_new(write_spec: WriteSpec) -> None:
    text = spec(
        "  artifacts: ./model",
        "  entry_point: inference.py",
        framework="sklearn",
        version="1.2-1",
        capacity="realtime:\n  instance_type: ml.m5.xlarge\n  routing_strategy: random\n",
    )
    desired = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE)
    body = endpoint_config_request(desired.config)["ProductionVariants"][0]
    # RANDOM is AWS's default and reads back as not set: sending it would rename the config.
    assert set(body) == {
        "VariantName",
        "ModelName",
        "InitialVariantWeight",
        "InstanceType",
        "InitialInstanceCount",
    }


def test_the_user_s_env_wins_over_generated_keys(write_spec: WriteSpec) -> None:
    text = spec(
        HUB, '  env: {SM_NUM_GPUS: "2"}', capacity="realtime: {instance_type: ml.g5.12xlarge}\n"
    )
    [model] = build_desired(load_spec(write_spec(text)), region="us-east-1", role=ROLE).models
    assert model.environment["SM_NUM_GPUS"] == "2"


GATED = spec(
    "  hub:", "    id: meta-llama/Llama-3.1-8B-Instruct", "    token_env: DS_TEST_HF_TOKEN"
)
TOKEN = "hf_FakeTokenForTestsOnly0123456789abcdef"


def test_a_gated_model_s_token_is_read_from_the_injected_environment(write_spec: WriteSpec) -> None:
    loaded = load_spec(write_spec(GATED))
    [model] = build_desired(
        loaded, region="us-east-1", role=ROLE, process_env={"DS_TEST_HF_TOKEN": TOKEN}
    ).models
    assert model.environment["HF_TOKEN"] == TOKEN
    assert model.environment["HUGGING_FACE_HUB_TOKEN"] == TOKEN
    assert {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} <= set(model.sensitive_environment)
    assert "DS_TEST_HF_TOKEN" not in os.environ  # read from the mapping given, nowhere else
    with pytest.raises(DeployspecError) as caught:
        build_desired(loaded, region="us-east-1", role=ROLE, process_env={})
    assert "the environment variable DS_TEST_HF_TOKEN is not set" in str(caught.value)
    assert "export DS_TEST_HF_TOKEN=" in (caught.value.hint or "")


def test_a_secrets_manager_token_is_a_reference_resolved_as_env_ones_are(
    write_spec: WriteSpec,
) -> None:
    text = spec(
        "  hub:",
        "    id: meta-llama/Llama-3.1-8B-Instruct",
        "    token: {secretsmanager: hf-token}",
    )
    loaded = load_spec(write_spec(text))
    assert set(loaded.spec.models["model"].references()) == {"HUGGING_FACE_HUB_TOKEN"}
    env = container_environment(
        loaded, "us-east-1", {"HUGGING_FACE_HUB_TOKEN": TOKEN}, instance_type="ml.g5.2xlarge"
    )
    assert env["HF_TOKEN"] == env["HUGGING_FACE_HUB_TOKEN"] == TOKEN
    with pytest.raises(DeployspecError, match="were not read from AWS"):
        build_desired(loaded, region="us-east-1", role=ROLE)


def test_the_gpu_table_covers_every_accelerated_family_of_botocore() -> None:
    families = {t.split(".")[1] for t in instance_types()}
    accelerated = {f for f in families if f.startswith(gpus.ACCELERATED_PREFIXES)}
    known = set(gpus._TABLE) | gpus.UNKNOWN_FAMILIES
    assert accelerated <= known, accelerated - known
    # Kept in sync both ways: a row botocore no longer lists is stale.
    assert known <= accelerated, known - accelerated
    rows = {f"ml.{family}.{size}" for family, sizes in gpus._TABLE.items() for size in sizes}
    assert rows <= instance_types(), sorted(rows - instance_types())
    for instance_type in instance_types():
        family = instance_type.split(".")[1]
        if family in gpus.UNKNOWN_FAMILIES:
            with pytest.raises(gpus.UnknownGpuCount):
                gpus.gpu_count(instance_type)
        elif family in gpus._TABLE:
            assert instance_type.split(".", 2)[2] in gpus._TABLE[family], instance_type
            assert gpus.accelerator_count(instance_type) >= 1
        else:
            assert gpus.gpu_count(instance_type) == 0, instance_type
    for cpu in ("c5", "m5", "r7i", "c6g", "t2", "m8g"):
        assert cpu not in gpus._TABLE


@pytest.mark.parametrize(
    ("instance_type", "gpu", "accelerators"),
    [
        ("ml.g5.2xlarge", 1, 1),
        ("ml.g5.12xlarge", 4, 4),
        ("ml.g6e.48xlarge", 8, 8),
        ("ml.p4d.24xlarge", 8, 8),
        ("ml.p5.4xlarge", 1, 1),
        ("ml.inf2.48xlarge", 0, 12),
        ("ml.trn1.32xlarge", 0, 16),
        ("ml.m5.xlarge", 0, 0),
    ],
)
def test_gpu_counts(instance_type: str, gpu: int, accelerators: int) -> None:
    assert gpus.gpu_count(instance_type) == gpu
    assert gpus.accelerator_count(instance_type) == accelerators


def test_the_hub_token_is_never_in_a_plan_nor_in_a_saved_plan(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    from deployspec import saved
    from deployspec.planner import make_plan
    from deployspec.render import render_json, render_markdown, render_text
    from deployspec.state import Actual

    # A token no shape rule recognises: masked because it is the Hub token, not by luck.
    token = "plain-words-token"
    path = write_spec(GATED)
    desired = build_desired(
        load_spec(path), region="us-east-1", role=ROLE, process_env={"DS_TEST_HF_TOKEN": token}
    )
    assert desired.models[0].environment["HF_TOKEN"] == token
    plan = make_plan(desired, Actual(artifacts={}, owned=()))
    shown = render_text(plan) + render_json(plan) + render_markdown(plan)
    assert token not in shown
    assert "HF_TOKEN" in shown and "meta-llama/Llama-3.1-8B-Instruct" in shown
    salt = saved.new_salt()
    inputs = saved.make_inputs(path, [], [], adopt=False, role=None, sandbox=False, salt=salt)
    out = tmp_path / "plan.json"
    saved.write(out, plan, inputs, salt)
    assert token not in out.read_text()


@pytest.mark.parametrize(
    "key", ["MAX_INPUT_TOKENS", "MAX_TOTAL_TOKENS", "MAX_BATCH_TOKENS", "MAX_BATCH_PREFILL_TOKENS"]
)
def test_token_counts_are_shown_and_tokens_are_not(key: str) -> None:
    from deployspec.secrets import is_secret_key

    assert not is_secret_key(key)
    assert is_secret_key(key.replace("MAX_", "HF_").removesuffix("S"))  # HF_INPUT_TOKEN
    assert is_secret_key("MAX_AUTH_TOKENS") and is_secret_key("HF_TOKEN")


@pytest.mark.parametrize(
    ("framework", "instance_type"),
    [
        ("huggingface-llm", "ml.g5.2xlarge"),
        ("huggingface-vllm", "ml.g6.xlarge"),
        ("huggingface-sglang", "ml.g6e.xlarge"),
        ("huggingface-tei", "ml.g5.xlarge"),
        ("huggingface-tei", "ml.m5.xlarge"),
        ("djl-lmi", "ml.p4d.24xlarge"),
    ],
)
def test_import_finds_each_large_model_image_s_framework(
    framework: str, instance_type: str
) -> None:
    from deployspec import catalog, images

    for version in catalog.supported_versions(framework)[0]:
        uri = images.spec_image(
            framework, "us-east-1", version, py_version=None, instance_type=instance_type
        )
        found = images.framework_of_image(uri, "us-east-1", instance_type)
        assert found is not None and found.framework == framework, (uri, found)
        assert (
            images.spec_image(
                framework, "us-east-1", found.version, py_version=None, instance_type=instance_type
            )
            == uri
        )
