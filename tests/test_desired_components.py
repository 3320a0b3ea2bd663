"""build_desired for a spec with components: the config, the components, their models, the
adapter's archive, copy autoscaling and rolling policies, from a real spec file."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployspec.desired import LLM_READINESS_SECONDS, Desired, build_desired
from deployspec.plan import Kind
from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    COPY_COUNT_DIMENSION,
    ComputeRequirements,
    ManagedInstanceScaling,
    RollingUpdate,
)
from deployspec.spec import load_spec
from deployspec.wire import endpoint_config_request

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SPEC = """\
name: assistants
role: arn:aws:iam::123456789012:role/SageMakerExecution
realtime:
  instance_type: ml.g5.12xlarge
  instance_count: 1
  managed_scaling: {min: 0, max: 2}
  routing_strategy: least_outstanding_requests
components:
  - name: chat-lora
    base: chat
    artifacts: ./adapter
  - name: chat
    model: {framework: huggingface-llm, version: "3.3.6", hub: {id: org/chat}}
    compute: {accelerators: 2, cpu_cores: 4, memory_mb: 16384, max_memory_mb: 32768}
    copies: 1
    autoscaling: {min: 0, max: 4, target_concurrent_requests_per_copy: 4}
    rolling_update: {batch: "25%", wait: 1m, timeout: 20m, rollback_batch: 1}
  - name: embed
    model:
      {framework: huggingface-llm, version: "3.3.6", hub: {id: org/embed}, llm: {num_gpus: 1}}
    compute: {accelerators: 1, memory_mb: 4096}
    copies: 2
    startup_health_check_timeout: 15m
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Desired:
    folder = tmp_path_factory.mktemp("components")
    (folder / "adapter").mkdir()
    (folder / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    spec = folder / "deployment.yaml"
    spec.write_text(SPEC)
    return build_desired(
        load_spec(spec), region="us-east-1", role=ROLE, artifact_cache=folder / "cache"
    )


def test_the_config_holds_the_instance_side_alone(built: Desired) -> None:
    (variant,) = built.config.variants
    assert variant.model_name is None
    assert variant.managed_scaling == ManagedInstanceScaling(0, 2)
    assert variant.routing_strategy == "LEAST_OUTSTANDING_REQUESTS"
    # Start-up timeouts are each component's: none on the variant.
    assert variant.startup_health_check_timeout is None
    assert built.config.execution_role_arn == ROLE
    assert built.config.model_names == ()
    assert "ModelName" not in endpoint_config_request(built.config)["ProductionVariants"][0]


def test_components_bases_first_with_their_models_and_the_adapters_archive(built: Desired) -> None:
    assert [c.name for c in built.components] == [
        "assistants-chat",
        "assistants-embed",
        "assistants-chat-lora",
    ]
    chat, embed, lora = built.components
    assert chat.compute == ComputeRequirements(16384, 4.0, 2.0, 32768)
    assert chat.copy_count == 1 and embed.copy_count == 2
    # LLM containers default both start-up timeouts, as their variants do; the spec's wins.
    assert chat.startup_health_check_timeout == LLM_READINESS_SECONDS
    assert embed.startup_health_check_timeout == 900
    # A copy shards over the GPUs it reserves, not the instance's 4; llm.num_gpus wins.
    chat_model = built.model_named(chat.model_name or "")
    embed_model = built.model_named(embed.model_name or "")
    assert chat_model is not None and chat_model.environment["SM_NUM_GPUS"] == "2"
    assert embed_model is not None and embed_model.environment["SM_NUM_GPUS"] == "1"
    assert lora.base_component == "assistants-chat" and lora.copy_count is None
    assert lora.compute is None and lora.model_name is None
    (archive,) = built.artifacts
    assert lora.artifact_url == archive.s3_uri
    assert archive.s3_uri.startswith("s3://sagemaker-us-east-1-123456789012/")
    assert (Kind.INFERENCE_COMPONENT, "assistants-chat-lora") in built.addresses


def test_copy_autoscaling_and_rolling_policies(built: Desired) -> None:
    (scaling,) = built.scalings
    assert scaling.resource_id == "inference-component/assistants-chat"
    assert scaling.metric == CONCURRENT_REQUESTS_PER_COPY
    assert scaling.dimension == COPY_COUNT_DIMENSION
    assert (scaling.min_capacity, scaling.max_capacity, scaling.target_value) == (0, 4, 4.0)
    assert scaling.scale_from_zero
    assert built.component_scaling("assistants-chat") == scaling
    assert built.component_scaling("assistants-embed") is None
    assert built.rolling_updates == {
        "assistants-chat": RollingUpdate("CAPACITY_PERCENT", 25, 60, 1200, "COPY_COUNT", 1)
    }


def test_a_model_change_keeps_the_config_name(tmp_path: Path, built: Desired) -> None:
    """The config is the instance side alone: another model for a component is the same
    config, and a new prune mark (its old model is pruned)."""
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    spec = tmp_path / "deployment.yaml"
    spec.write_text(SPEC.replace("{id: org/chat}", "{id: org/other}"))
    other = build_desired(
        load_spec(spec), region="us-east-1", role=ROLE, artifact_cache=tmp_path / "cache"
    )
    assert other.config.name == built.config.name
    assert other.components[0].model_name != built.components[0].model_name
    assert other.prune_mark != built.prune_mark
