"""End to end, a language model behind the huggingface-llm (TGI) container: the CLI as a separate
process against a private sandbox serving the tiny, locally made model of examples/llm-tgi,
its weights deployed uncompressed. plan -> apply -> invoke (TGI body, --prompt, --stream) ->
an update that uploads no weights -> destroy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.conftest import sandbox_client as client

pytest.importorskip("transformers", reason="the llm extra serves the tiny model")

EXAMPLE = REPO / "examples" / "llm-tgi"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {
            "info": info,
            "env": {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)},
        }
    finally:
        control.stop(home)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/llm-tgi copied, with its tiny model written by its own script."""
    root = tmp_path_factory.mktemp("examples")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    folder = root / "llm-tgi"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("weights"))
    subprocess.run([sys.executable, str(folder / "make_model.py")], check=True, capture_output=True)
    return folder


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=300)


def test_a_tiny_llm_is_planned_applied_streamed_updated_and_destroyed(
    sandbox: dict[str, Any], example: Path
) -> None:
    spec = example / "deployment.yaml"
    validated = run_cli("validate", str(spec), env=sandbox["env"])
    assert validated.returncode == 0, validated.stderr

    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "weights" in planned.stdout, planned.stdout
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr + applied.stdout

    sm = client(sandbox, "sagemaker")
    model = sm.describe_model(ModelName=sm.list_models()["Models"][0]["ModelName"])
    container = model["PrimaryContainer"]
    assert "ModelDataUrl" not in container
    source = container["ModelDataSource"]["S3DataSource"]
    assert (source["S3DataType"], source["CompressionType"]) == ("S3Prefix", "None")
    assert source["S3Uri"].endswith("/")
    environment = container["Environment"]
    assert environment["HF_MODEL_ID"] == "/opt/ml/model"
    assert environment["SM_NUM_GPUS"] == "1"  # ml.g5.xlarge: one A10G
    assert (environment["MAX_INPUT_TOKENS"], environment["MAX_TOTAL_TOKENS"]) == ("256", "512")
    variant = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="tiny-chat")["EndpointConfigName"]
    )["ProductionVariants"][0]
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 600

    # TGI's own request body: the tiny model's (random, but deterministic) text.
    body = cli(sandbox, "invoke", str(spec), "--body", f"@{example / 'input.json'}")
    assert body.returncode == 0, body.stderr
    generated = json.loads(body.stdout)[0]["generated_text"]
    assert isinstance(generated, str) and generated

    prompted = cli(sandbox, "invoke", str(spec), "--prompt", "Hello, ", "--max-tokens", "16")
    assert prompted.returncode == 0, prompted.stderr
    streamed = cli(
        sandbox, "invoke", str(spec), "--prompt", "Hello, ", "--max-tokens", "16", "--stream"
    )
    assert streamed.returncode == 0, streamed.stderr
    # Greedy decoding: the streamed tokens are the generated text of the same request.
    assert streamed.stdout.rstrip("\n") == generated
    assert json.loads(prompted.stdout)[0]["generated_text"] == generated

    # A longer limit is a new model; the weights did not change, so nothing is uploaded.
    longer = example / "longer.yaml"
    longer.write_text(spec.read_text().replace("max_total_tokens: 512", "max_total_tokens: 400"))
    replanned = cli(sandbox, "plan", str(longer))
    assert replanned.returncode == 0, replanned.stderr
    assert "weights" not in replanned.stdout.split("Plan:")[0].replace("weights/", ""), (
        replanned.stdout
    )
    updated = cli(sandbox, "apply", str(longer), "--auto-approve")
    assert updated.returncode == 0, updated.stderr + updated.stdout
    again = cli(sandbox, "invoke", str(longer), "--body", f"@{example / 'input.json'}")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["generated_text"] == generated

    destroyed = cli(sandbox, "destroy", str(longer), "--auto-approve", "--purge-artifacts")
    assert destroyed.returncode == 0, destroyed.stderr
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    s3 = client(sandbox, "s3")
    for bucket in s3.list_buckets()["Buckets"]:
        assert s3.list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0, bucket


def test_a_hub_model_is_served_offline_once_the_sandbox_holds_a_copy(
    sandbox: dict[str, Any], example: Path
) -> None:
    spec = example / "hub.yaml"
    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    # The SDK's TGI image for a GPU instance type; no weights: the container downloads them.
    assert "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04" in (
        planned.stdout
    )
    assert "weights." not in planned.stdout

    # No network in the sandbox: the endpoint fails as a container that cannot download would,
    # saying what to do.
    failed = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert failed.returncode == 1
    assert "sandbox hub add HuggingFaceTB/SmolLM2-135M-Instruct" in failed.stderr, failed.stderr

    added = run_cli(
        "sandbox",
        "hub",
        "add",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        str(example / "weights"),
        env=sandbox["env"],
    )
    assert added.returncode == 0, added.stderr
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")  # replaces the failed endpoint
    assert applied.returncode == 0, applied.stderr + applied.stdout
    container = client(sandbox, "sagemaker").describe_model(
        ModelName=client(sandbox, "sagemaker").describe_endpoint_config(
            EndpointConfigName=client(sandbox, "sagemaker").describe_endpoint(
                EndpointName="smollm2-chat"
            )["EndpointConfigName"]
        )["ProductionVariants"][0]["ModelName"]
    )["PrimaryContainer"]
    assert "ModelDataSource" not in container and "ModelDataUrl" not in container
    assert container["Environment"]["HF_MODEL_ID"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert container["Environment"]["HF_MODEL_REVISION"] == "main"

    streamed = cli(sandbox, "invoke", str(spec), "--prompt", "Hi", "--max-tokens", "8", "--stream")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.strip()
    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr


def test_an_embedding_model_answers_one_vector_per_input(
    sandbox: dict[str, Any], example: Path
) -> None:
    folder = example.parent / "tei-embeddings"
    shutil.copytree(REPO / "examples" / "tei-embeddings", folder)
    spec = folder / "deployment.yaml"
    planned = cli(sandbox, "plan", str(spec))
    assert planned.returncode == 0, planned.stderr
    assert "/tei-cpu:" in planned.stdout  # the CPU image, for a CPU instance type
    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr + applied.stdout
    answered = cli(sandbox, "invoke", str(spec), "--body", f"@{folder / 'input.json'}")
    assert answered.returncode == 0, answered.stderr
    vectors = json.loads(answered.stdout)
    assert len(vectors) == 2 and all(len(v) == len(vectors[0]) > 0 for v in vectors)
    assert vectors[0] != vectors[1]
    refused = cli(sandbox, "invoke", str(spec), "--prompt", "hello", "--stream")
    assert refused.returncode == 1 and "stream" in refused.stderr
    destroyed = cli(sandbox, "destroy", str(spec), "--auto-approve", "--purge-artifacts")
    assert destroyed.returncode == 0, destroyed.stderr
