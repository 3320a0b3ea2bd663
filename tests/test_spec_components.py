"""`components:` (inference components) and `realtime.managed_scaling`: what valid specs load
as, every per-model rule applied to a component's model, and every rule of theirs refused at
validate with the field path, the line and what to do."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deployspec.errors import Diagnostic, SpecError
from deployspec.schema import json_schema
from deployspec.spec import (
    DEFAULT_VARIANT_NAME,
    HUB_TOKEN_REFERENCE,
    ComponentSpec,
    RollingUpdateSpec,
    SecretsManagerRef,
    load_spec,
)

WriteSpec = Callable[..., Path]

HEAD = """\
name: assistants
role: arn:aws:iam::123456789012:role/SageMakerExecution
"""
SKLEARN = '{framework: sklearn, version: "1.2-1", artifacts: ./model, entry_point: inference.py}'
TGI = (
    '{framework: huggingface-llm, version: "3.3.6", hub: {id: HuggingFaceTB/SmolLM2-135M-Instruct}}'
)
TEI = '{framework: huggingface-tei, version: "1.8.2", hub: {id: BAAI/bge-small-en-v1.5}}'
CPU = "{cpu_cores: 1, memory_mb: 1024}"
GPU = "{accelerators: 1, memory_mb: 4096}"


def realtime(instance_type: str = "ml.m5.xlarge", *lines: str) -> str:
    return (
        "realtime:\n" + f"  instance_type: {instance_type}\n" + "".join(f"  {x}\n" for x in lines)
    )


CPU_RT = realtime("ml.m5.xlarge", "managed_scaling: {min: 1, max: 2}")
G5_RT = realtime("ml.g5.12xlarge", "managed_scaling: {min: 1, max: 2}")


def component(
    name: str,
    *lines: str,
    model: str | None = SKLEARN,
    compute: str | None = CPU,
) -> str:
    """One entry of components:, one key a line (so that a key's line can be found by its text)."""
    out = [f"  - name: {name}"]
    if model is not None:
        out.append(f"    model: {model}")
    if compute is not None:
        out.append(f"    compute: {compute}")
    out.extend(f"    {line}" for line in lines)
    return "\n".join(out) + "\n"


def adapter(name: str, base: str, *lines: str, artifacts: str | None = "./adapter") -> str:
    extra = (f"artifacts: {artifacts}",) if artifacts is not None else ()
    return component(name, f"base: {base}", *extra, *lines, model=None, compute=None)


def components(*entries: str) -> str:
    return "components:\n" + "".join(entries)


@pytest.fixture
def files(project: Path) -> Path:
    """Beside the `project` fixture's model/ and inference.py: a second model and an adapter."""
    (project / "model-b").mkdir()
    (project / "model-b" / "model.joblib").write_bytes(b"another model")
    (project / "adapter").mkdir()
    (project / "adapter" / "adapter_model.safetensors").write_bytes(b"lora weights")
    return project


def refused(path: Path) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return list(caught.value.diagnostics)


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding `needle` (after the line holding `after`)."""
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, t in enumerate(lines) if after in t) + 1
    return next(i for i, t in enumerate(lines) if i >= start and needle in t) + 1


# ---- what valid specs load as ----------------------------------------------------------------


def test_two_models_and_an_adapter_on_one_gpu_instance_type(
    write_spec: WriteSpec, files: Path
) -> None:
    text = (
        HEAD
        + realtime(
            "ml.g5.12xlarge",
            "instance_count: 1",
            "managed_scaling: {min: 0, max: 2}",
            "routing_strategy: least_outstanding_requests",
        )
        + components(
            component(
                "chat",
                "copies: 1",
                "autoscaling: {min: 0, max: 4, target_concurrent_requests_per_copy: 4, "
                "scale_in_cooldown: 5m, scale_out_cooldown: 1m}",
                "rolling_update: {batch: 1, wait: 0s, timeout: 20m, rollback_batch: null}",
                "startup_health_check_timeout: 10m",
                "model_data_download_timeout: 15m",
                model=TGI,
                compute="{accelerators: 2, cpu_cores: 4, memory_mb: 16384, max_memory_mb: 32768}",
            ),
            component("embed", "copies: 2", model=TEI, compute=GPU),
            adapter("chat-lora", "chat"),
        )
    )
    loaded = load_spec(write_spec(text))
    spec = loaded.spec
    # One variant, AllTraffic, naming no model: the components do.
    [variant] = spec.endpoint_variants
    assert (variant.name, variant.model_key, variant.model) == (DEFAULT_VARIANT_NAME, "", None)
    assert variant.realtime is not None and variant.serverless is None
    assert variant.realtime.managed_scaling is not None
    assert (variant.realtime.managed_scaling.min, variant.realtime.managed_scaling.max) == (0, 2)
    assert spec.effective_serverless is None and spec.realtime_variants
    # Every component's model, by its key, in order; adapters have none.
    assert list(spec.models) == ["components[0].model", "components[1].model"]
    assert spec.models["components[1].model"].framework == "huggingface-tei"
    assert {name: key for name, (_, key) in spec.component_models.items()} == {
        "chat": "components[0].model",
        "embed": "components[1].model",
        "chat-lora": "",
    }
    chat, embed, lora = (spec.component_models[n][0] for n in ("chat", "embed", "chat-lora"))
    assert chat.compute is not None
    assert (chat.compute.accelerators, chat.compute.cpu_cores) == (2, 4)
    assert (chat.compute.memory_mb, chat.compute.max_memory_mb) == (16384, 32768)
    assert chat.autoscaling is not None
    assert (chat.autoscaling.min, chat.autoscaling.max) == (0, 4)
    assert chat.autoscaling.target_concurrent_requests_per_copy == 4
    assert (chat.autoscaling.scale_in_cooldown, chat.autoscaling.scale_out_cooldown) == (300, 60)
    assert chat.rolling_update == RollingUpdateSpec(batch=1, wait=0, timeout=1200)
    assert chat.rolling_update.batch_type_value() == ("COPY_COUNT", 1)
    assert chat.rolling_update.rollback_batch_type_value() is None
    assert (chat.startup_health_check_timeout, chat.model_data_download_timeout) == (600, 900)
    assert embed.copies == 2 and embed.autoscaling is None and embed.rolling_update is None
    assert (lora.base, lora.artifacts, lora.model, lora.compute) == (
        "chat",
        "./adapter",
        None,
        None,
    )
    assert lora.is_adapter() and not chat.is_adapter() and not lora.is_s3()
    assert loaded.adapter_path("chat-lora") == files / "adapter"
    # Hub models: nothing local to resolve.
    assert loaded.paths_of("components[0].model").artifacts is None
    with pytest.raises(KeyError, match="no adapter component 'chat'"):
        loaded.adapter_path("chat")


def test_cpu_instances_with_cpu_cores_only(write_spec: WriteSpec, files: Path) -> None:
    model_b = SKLEARN.replace("./model", "./model-b")
    text = (
        HEAD
        + realtime("ml.m5.xlarge")
        + components(
            component("a", "copies: 2"),
            component("b", model=model_b, compute="{cpu_cores: 0.5, memory_mb: 512}"),
        )
    )
    loaded = load_spec(write_spec(text))
    spec = loaded.spec
    assert spec.realtime is not None and spec.realtime.managed_scaling is None
    assert loaded.paths_of("components[0].model").artifacts == files / "model"
    assert loaded.paths_of("components[1].model").artifacts == files / "model-b"
    assert loaded.paths_of("components[1].model").entry_point == files / "inference.py"
    a, b = spec.components or []
    assert a.compute is not None and a.compute.accelerators is None and a.copies == 2
    assert b.compute is not None and b.compute.cpu_cores == 0.5 and b.copies == 1


def test_scale_to_zero_and_rolling_shares(write_spec: WriteSpec, files: Path) -> None:
    text = (
        HEAD
        + realtime("ml.g5.xlarge", "managed_scaling: {min: 0, max: 3}")
        + components(
            component(
                "chat",
                "copies: 2",
                "autoscaling: {min: 0, max: 6, target_concurrent_requests_per_copy: 2.5}",
                'rolling_update: {batch: 25%, wait: 2m, rollback_batch: "50 %"}',
                model=TGI,
                compute=GPU,
            ),
            adapter("support", "chat", artifacts="s3://my-bucket/adapters/support.tar.gz"),
        )
    )
    loaded = load_spec(write_spec(text))
    chat, support = loaded.spec.components or []
    assert chat.rolling_update is not None
    assert chat.rolling_update.batch == "25%" and chat.rolling_update.wait == 120
    assert chat.rolling_update.batch_type_value() == ("CAPACITY_PERCENT", 25)
    assert chat.rolling_update.rollback_batch_type_value() == ("CAPACITY_PERCENT", 50)
    assert chat.rolling_update.timeout is None
    assert support.is_s3() and loaded.adapter_path("support") is None


def test_an_accelerated_type_whose_count_is_unknown_takes_accelerators(
    write_spec: WriteSpec, files: Path
) -> None:
    # deployspec's table has no counts for g7: accelerators says what a copy takes.
    text = HEAD + realtime("ml.g7.2xlarge") + components(component("chat", model=TGI, compute=GPU))
    [chat] = load_spec(write_spec(text)).spec.components or []
    assert chat.compute is not None and chat.compute.accelerators == 1


def test_the_other_forms_have_no_components(write_spec: WriteSpec, files: Path) -> None:
    spec = load_spec(write_spec(HEAD + f"model: {SKLEARN}\n" + realtime())).spec
    assert spec.components is None and spec.component_models == {}
    assert list(spec.models) == ["model"]
    [variant] = spec.endpoint_variants
    assert variant.model is not None and variant.model_key == "model"


# ---- every rule of a model block, on a component's model ---------------------------------------


def test_string_fields_of_a_components_model_keep_their_text(
    write_spec: WriteSpec, files: Path
) -> None:
    tf = "{framework: tensorflow, version: 2.10, artifacts: ./model-b, env: {PORT: 8080}}"
    text = HEAD + realtime() + components(component("tf", model=tf))
    [tf_component] = load_spec(write_spec(text)).spec.components or []
    assert tf_component.model is not None
    assert tf_component.model.version == "2.10"
    assert tf_component.model.env == {"PORT": "8080"}


def test_a_hub_token_of_a_components_model_is_a_reference(
    write_spec: WriteSpec, files: Path
) -> None:
    gated = TGI.replace("}}", ", token: {secretsmanager: prod/hf-token}}}")
    text = HEAD + G5_RT + components(component("chat", model=gated, compute=GPU))
    model = load_spec(write_spec(text)).spec.models["components[0].model"]
    assert model.references() == {
        HUB_TOKEN_REFERENCE: SecretsManagerRef(secretsmanager="prod/hf-token")
    }


def test_a_script_problem_in_a_components_model_is_located_in_the_script(
    write_spec: WriteSpec, files: Path
) -> None:
    (files / "other.py").write_text("def predict_fn(data, model):\n    return model\n")
    text = (
        HEAD
        + realtime()
        + components(component("a", model=SKLEARN.replace("inference.py", "other.py")))
    )
    path = write_spec(text)
    [error] = refused(path)
    assert (error.path, error.line) == (
        "components[0].model.entry_point",
        line_of(text, "other.py"),
    )
    assert "other.py defines no model_fn" in error.message


def test_the_environment_values_of_a_components_model_are_never_shown(
    write_spec: WriteSpec, files: Path
) -> None:
    token = "s3cr3t-t0ken-value-9f8e7d6c5b4a"
    secret_model = SKLEARN.replace("}", f", env: {{API_TOKEN: {token}}}}}")
    text = HEAD + realtime(token) + components(component("a", model=secret_model))
    errors = [d.format() for d in refused(write_spec(text))]
    assert any("realtime.instance_type" in e for e in errors), errors
    assert not any(token in e for e in errors), errors
    hidden = (
        HEAD
        + realtime()
        + components(component("a", model=SKLEARN.replace("}", ", env: {K: [1]}}")))
    )
    [error] = refused(write_spec(hidden))
    assert error.path == "components[0].model.env.K"
    assert "environment values are never shown" in (error.hint or "")


def test_a_local_path_outside_the_project_is_refused_for_models_and_adapters(
    write_spec: WriteSpec, files: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "weights.bin").write_bytes(b"x")
    text = (
        HEAD
        + realtime()
        + components(
            component("a", model=SKLEARN.replace("./model", str(outside))),
            adapter("b", "a", artifacts=str(outside)),
        )
    )
    diagnostics = refused(write_spec(text))
    assert {d.path for d in diagnostics} == {
        "components[0].model.artifacts",
        "components[1].artifacts",
    }, [d.format() for d in diagnostics]
    assert all("leads outside the project root" in d.message for d in diagnostics)


# ---- refusals: (text, field path, (line needle, after), phrase) -------------------------------

ONE = components(component("a"))
REFUSED: dict[str, tuple[str, str, tuple[str, str | None], str]] = {
    # The forms components: excludes.
    "components with a top-level model": (
        HEAD + f"model: {SKLEARN}\n" + CPU_RT + ONE,
        "model",
        ("model:", None),
        "a spec with components: serves each component's own model",
    ),
    "components with variants": (
        HEAD
        + CPU_RT
        + ONE
        + "variants:\n  - name: a\n    realtime: {instance_type: ml.m5.large}\n",
        "variants",
        ("variants:", None),
        "variants: and components: are exclusive",
    ),
    "components with a shadow": (
        HEAD
        + CPU_RT
        + ONE
        + f"shadow:\n  name: s\n  model: {SKLEARN}\n  realtime: {{instance_type: ml.m5.large}}\n",
        "shadow",
        ("shadow:", None),
        "shadow variants do not work with inference components",
    ),
    "components with serverless": (
        HEAD + CPU_RT + ONE + "serverless: {memory_mb: 2048}\n",
        "serverless",
        ("serverless:", None),
        "serverless endpoints cannot host them",
    ),
    "components with async": (
        HEAD + CPU_RT + ONE + "async: {output: s3://my-bucket/out/}\n",
        "async",
        ("async:", None),
        "asynchronous inference does not work with inference components",
    ),
    "components with instance autoscaling": (
        HEAD
        + realtime(
            "ml.m5.xlarge", "autoscaling: {min: 1, max: 2, target_invocations_per_instance: 5}"
        )
        + ONE,
        "realtime.autoscaling",
        ("autoscaling:", None),
        "replace it with realtime.managed_scaling",
    ),
    "components without realtime": (
        HEAD + ONE,
        "",
        ("name: assistants", None),
        "a spec with components: needs realtime:",
    ),
    "the endpoint's startup timeout with components": (
        HEAD + realtime("ml.m5.xlarge", "startup_health_check_timeout: 10m") + ONE,
        "realtime.startup_health_check_timeout",
        ("startup_health_check_timeout", None),
        "move it into the components that need it",
    ),
    "no components": (
        HEAD + CPU_RT + "components: []\n",
        "components",
        ("components:", None),
        "0 components given",
    ),
    # Managed instance scaling.
    "managed scaling min above max": (
        HEAD + realtime("ml.m5.xlarge", "managed_scaling: {min: 3, max: 2}") + ONE,
        "realtime.managed_scaling.min",
        ("managed_scaling", None),
        "managed_scaling min 3 is greater than max 2",
    ),
    "an instance count outside managed scaling": (
        HEAD
        + realtime("ml.m5.xlarge", "instance_count: 3", "managed_scaling: {min: 0, max: 2}")
        + ONE,
        "realtime.instance_count",
        ("instance_count", None),
        "instance_count 3 is outside managed_scaling 1-2",
    ),
    "the default instance count below managed scaling's min": (
        HEAD + realtime("ml.m5.xlarge", "managed_scaling: {min: 2, max: 4}") + ONE,
        "realtime.managed_scaling",
        ("managed_scaling", None),
        "instance_count 1 (the default) is outside managed_scaling 2-4",
    ),
    "managed scaling max 0": (
        HEAD + realtime("ml.m5.xlarge", "managed_scaling: {min: 0, max: 0}") + ONE,
        "realtime.managed_scaling.max",
        ("managed_scaling", None),
        "greater than or equal to 1",
    ),
    "managed scaling without components": (
        HEAD
        + f"model: {SKLEARN}\n"
        + realtime("ml.m5.xlarge", "managed_scaling: {min: 0, max: 2}"),
        "realtime.managed_scaling",
        ("managed_scaling", None),
        "managed instance scaling is for endpoints of inference components",
    ),
    "managed scaling on a variant": (
        HEAD
        + f"model: {SKLEARN}\n"
        + "variants:\n  - name: a\n    realtime:\n      instance_type: ml.m5.large\n"
        + "      managed_scaling: {min: 1, max: 2}\n",
        "variants[0].realtime.managed_scaling",
        ("managed_scaling", None),
        "SageMaker accepts it nowhere else",
    ),
    # Names.
    "two components of one name": (
        HEAD + CPU_RT + components(component("a"), component("b"), component("a")),
        "components[2].name",
        ("- name: a", "- name: b"),
        "component name 'a' is already used by components[0]",
    ),
    "a component name SageMaker refuses": (
        HEAD + CPU_RT + components(component("not_allowed")),
        "components[0].name",
        ("not_allowed", None),
        "SageMaker's inference component names",
    ),
    "an inference component name over 63 characters": (
        HEAD + CPU_RT + components(component("c" * 60)),
        "components[0].name",
        ("c" * 60, None),
        "is 71 characters; SageMaker takes at most 63",
    ),
    # Model or base.
    "a component with a model and a base": (
        HEAD + CPU_RT + components(component("a"), component("b", "base: a")),
        "components[1].base",
        ("base: a", None),
        "not both",
    ),
    "a component with neither model nor base": (
        HEAD + CPU_RT + components(component("a", model=None, compute=None)),
        "components[0]",
        ("- name: a", None),
        "this component has no model: and no base:",
    ),
    "an adapter on an unknown component": (
        HEAD + CPU_RT + components(component("chat"), adapter("lora", "caht")),
        "components[1].base",
        ("base: caht", None),
        "did you mean 'chat'?",
    ),
    "an adapter on itself": (
        HEAD + CPU_RT + components(component("chat"), adapter("lora", "lora")),
        "components[1].base",
        ("base: lora", None),
        "cannot be its own base",
    ),
    "an adapter on an adapter": (
        HEAD + CPU_RT + components(component("chat"), adapter("l1", "chat"), adapter("l2", "l1")),
        "components[2].base",
        ("base: l1", None),
        "set base: chat (the base of l1)",
    ),
    "an adapter without artifacts": (
        HEAD + CPU_RT + components(component("chat"), adapter("lora", "chat", artifacts=None)),
        "components[1]",
        ("name: lora", None),
        "an adapter needs artifacts:",
    ),
    "an adapter with compute": (
        HEAD + CPU_RT + components(component("chat"), adapter("lora", "chat", f"compute: {CPU}")),
        "components[1].compute",
        ("compute:", "name: lora"),
        "an adapter has no compute: it runs inside its base's copies",
    ),
    "an adapter with copies": (
        HEAD + CPU_RT + components(component("chat"), adapter("lora", "chat", "copies: 2")),
        "components[1].copies",
        ("copies:", None),
        "an adapter has no copies",
    ),
    "an adapter with autoscaling": (
        HEAD
        + CPU_RT
        + components(
            component("chat"),
            adapter(
                "lora",
                "chat",
                "autoscaling: {min: 1, max: 2, target_concurrent_requests_per_copy: 1}",
            ),
        ),
        "components[1].autoscaling",
        ("autoscaling:", None),
        "it scales with its base's copies",
    ),
    "an adapter with a rolling update": (
        HEAD
        + CPU_RT
        + components(component("chat"), adapter("lora", "chat", "rolling_update: {batch: 1}")),
        "components[1].rolling_update",
        ("rolling_update:", None),
        "it has no copies of its own to replace",
    ),
    "an adapter with a startup timeout": (
        HEAD
        + CPU_RT
        + components(
            component("chat"), adapter("lora", "chat", "startup_health_check_timeout: 5m")
        ),
        "components[1].startup_health_check_timeout",
        ("startup_health_check_timeout", None),
        "its base's container starts up",
    ),
    "an adapter archive in S3 that is no .tar.gz": (
        HEAD
        + CPU_RT
        + components(component("chat"), adapter("lora", "chat", artifacts="s3://my-bucket/lora/")),
        "components[1].artifacts",
        ("artifacts: s3://", None),
        "must end in .tar.gz",
    ),
    "an adapter folder that does not exist": (
        HEAD
        + CPU_RT
        + components(component("chat"), adapter("lora", "chat", artifacts="./nowhere")),
        "components[1].artifacts",
        ("artifacts: ./nowhere", None),
        "file or folder not found",
    ),
    "a component with a model and artifacts": (
        HEAD + CPU_RT + components(component("a", "artifacts: ./adapter")),
        "components[0].artifacts",
        ("artifacts: ./adapter", None),
        "artifacts: is an adapter's archive",
    ),
    # Compute.
    "a component with a model and no compute": (
        HEAD + CPU_RT + components(component("a", compute=None)),
        "components[0]",
        ("- name: a", None),
        "a component with a model needs compute:",
    ),
    "compute without memory": (
        HEAD + CPU_RT + components(component("a", compute="{cpu_cores: 1}")),
        "components[0].compute",
        ("compute:", None),
        "required key 'memory_mb' is missing under components[0].compute",
    ),
    "memory below SageMaker's least": (
        HEAD + CPU_RT + components(component("a", compute="{memory_mb: 64}")),
        "components[0].compute.memory_mb",
        ("compute:", None),
        "greater than or equal to 128",
    ),
    "max memory below memory": (
        HEAD
        + CPU_RT
        + components(component("a", compute="{memory_mb: 2048, max_memory_mb: 1024}")),
        "components[0].compute.max_memory_mb",
        ("compute:", None),
        "max_memory_mb 1024 is below memory_mb 2048",
    ),
    "a GPU type without accelerators": (
        HEAD + G5_RT + components(component("chat", model=TGI, compute="{memory_mb: 4096}")),
        "components[0].compute",
        ("compute:", None),
        "ml.g5.12xlarge has 4 GPUs: a component on it needs compute.accelerators",
    ),
    "an unknown-count GPU type without accelerators": (
        HEAD
        + realtime("ml.g7.2xlarge")
        + components(component("chat", model=TGI, compute="{memory_mb: 4096}")),
        "components[0].compute",
        ("compute:", None),
        "ml.g7.2xlarge has GPUs: a component on it needs compute.accelerators",
    ),
    "more accelerators than the type has": (
        HEAD
        + G5_RT
        + components(component("chat", model=TGI, compute="{accelerators: 8, memory_mb: 4096}")),
        "components[0].compute.accelerators",
        ("compute:", None),
        "accelerators 8 is more than ml.g5.12xlarge has (4 GPUs)",
    ),
    "accelerators on a CPU type": (
        HEAD + CPU_RT + components(component("a", compute="{accelerators: 1, memory_mb: 1024}")),
        "components[0].compute.accelerators",
        ("compute:", None),
        "ml.m5.xlarge has no accelerators",
    ),
    "a tensor-parallel degree above the component's accelerators": (
        HEAD
        + G5_RT
        + components(
            component(
                "chat",
                model=TGI.replace("}}", "}, llm: {num_gpus: 4}}"),
                compute="{accelerators: 2, memory_mb: 4096}",
            )
        ),
        "components[0].model.llm.num_gpus",
        ("model:", None),
        "llm.num_gpus is 4, and each copy of this component gets 2",
    ),
    # Copies and their autoscaling.
    "no copies": (
        HEAD + CPU_RT + components(component("a", "copies: 0")),
        "components[0].copies",
        ("copies:", None),
        "greater than or equal to 1",
    ),
    "autoscaling min above max": (
        HEAD
        + CPU_RT
        + components(
            component("a", "autoscaling: {min: 3, max: 2, target_concurrent_requests_per_copy: 1}")
        ),
        "components[0].autoscaling.min",
        ("autoscaling:", None),
        "autoscaling min 3 is greater than max 2",
    ),
    "copies outside autoscaling": (
        HEAD
        + CPU_RT
        + components(
            component(
                "a",
                "copies: 5",
                "autoscaling: {min: 1, max: 2, target_concurrent_requests_per_copy: 1}",
            )
        ),
        "components[0].copies",
        ("copies:", None),
        "copies 5 is outside autoscaling 1-2",
    ),
    "the default copies below autoscaling's min": (
        HEAD
        + CPU_RT
        + components(
            component("a", "autoscaling: {min: 2, max: 4, target_concurrent_requests_per_copy: 1}")
        ),
        "components[0].autoscaling",
        ("autoscaling:", None),
        "copies 1 (the default) is outside autoscaling 2-4",
    ),
    "copies to zero on instances that cannot go to zero": (
        HEAD
        + CPU_RT
        + components(
            component("a", "autoscaling: {min: 0, max: 2, target_concurrent_requests_per_copy: 1}")
        ),
        "components[0].autoscaling.min",
        ("autoscaling:", None),
        "needs realtime.managed_scaling with min 0",
    ),
    "autoscaling without a target": (
        HEAD + CPU_RT + components(component("a", "autoscaling: {min: 1, max: 2}")),
        "components[0].autoscaling",
        ("autoscaling:", None),
        "required key 'target_concurrent_requests_per_copy' is missing",
    ),
    # Rolling updates.
    "a rolling batch above 50 percent": (
        HEAD + CPU_RT + components(component("a", "rolling_update: {batch: 60%}")),
        "components[0].rolling_update.batch",
        ("rolling_update:", None),
        "'60%' is outside 5%-50%",
    ),
    "a rolling batch of no copies": (
        HEAD + CPU_RT + components(component("a", "rolling_update: {batch: 0}")),
        "components[0].rolling_update.batch",
        ("rolling_update:", None),
        "a batch of 0 copies moves nothing",
    ),
    "a rolling batch given as text": (
        HEAD + CPU_RT + components(component("a", "rolling_update: {batch: half}")),
        "components[0].rolling_update.batch",
        ("rolling_update:", None),
        "a share of the copy count such as 25%",
    ),
    "a rolling timeout below ten minutes": (
        HEAD + CPU_RT + components(component("a", "rolling_update: {timeout: 5m}")),
        "components[0].rolling_update.timeout",
        ("rolling_update:", None),
        "greater than or equal to 600",
    ),
    # A component's model.
    "a multi-model block in a component": (
        HEAD
        + CPU_RT
        + components(
            component(
                "a",
                model='{framework: sklearn, version: "1.2-1", mode: multi-model, '
                "models: {x: ./model}, entry_point: inference.py}",
            )
        ),
        "components[0].model.mode",
        ("model:", None),
        "an inference component serves one model",
    ),
    "a component's framework version with no image": (
        HEAD + CPU_RT + components(component("a", model=SKLEARN.replace("1.2-1", "9.9-9"))),
        "components[0].model.version",
        ("model:", None),
        "sklearn '9.9-9' has no SageMaker inference image",
    ),
    "a component's sklearn model without an entry point": (
        HEAD
        + CPU_RT
        + components(
            component("a", model='{framework: sklearn, version: "1.2-1", artifacts: ./model}')
        ),
        "components[0].model",
        ("model:", None),
        "sklearn needs components[0].model.entry_point",
    ),
    "a component's artifacts that do not exist": (
        HEAD + CPU_RT + components(component("a", model=SKLEARN.replace("./model", "./nowhere"))),
        "components[0].model.artifacts",
        ("model:", None),
        "file or folder not found",
    ),
    "a CPU container of a component on a GPU type": (
        HEAD + G5_RT + components(component("a", compute=GPU)),
        "realtime.instance_type",
        ("instance_type", None),
        "ml.g5.12xlarge",
    ),
    "an LLM container of a component on a CPU type": (
        HEAD + CPU_RT + components(component("chat", model=TGI)),
        "realtime.instance_type",
        ("instance_type", None),
        "ml.m5.xlarge",
    ),
    "a component's model on Inferentia without a Neuron image": (
        HEAD
        + realtime("ml.inf2.xlarge")
        + components(component("chat", model=TGI, compute="{accelerators: 1, memory_mb: 4096}")),
        "realtime.instance_type",
        ("instance_type", None),
        "set components[0].model.image to a Neuron inference image",
    ),
    "llm settings on a component's sklearn model": (
        HEAD
        + CPU_RT
        + components(component("a", model=SKLEARN.replace("}", ", llm: {num_gpus: 1}}"))),
        "components[0].model.llm",
        ("model:", None),
        "llm: holds the settings of a large-model container",
    ),
    "an entry point on a component's LLM container": (
        HEAD
        + G5_RT
        + components(
            component("chat", model=TGI.replace("}}", "}, entry_point: inference.py}"), compute=GPU)
        ),
        "components[0].model.entry_point",
        ("model:", None),
        "the huggingface-llm container runs no inference script",
    ),
    "a component's llm token limits the wrong way round": (
        HEAD
        + G5_RT
        + components(
            component(
                "chat",
                model=TGI.replace(
                    "}}", "}, llm: {max_input_tokens: 4096, max_total_tokens: 4096}}"
                ),
                compute=GPU,
            )
        ),
        "components[0].model.llm.max_input_tokens",
        ("model:", None),
        "max_input_tokens (4096) must be below max_total_tokens (4096)",
    ),
    "both Hub token forms on a component's model": (
        HEAD
        + G5_RT
        + components(
            component(
                "chat",
                model=TGI.replace("}}", ", token_env: HF_TOKEN, token: {secretsmanager: hf}}}"),
                compute=GPU,
            )
        ),
        "components[0].model.hub.token",
        ("model:", None),
        "hub.token_env and hub.token both name the Hub token",
    ),
    "a secret_env key missing from a component's env": (
        HEAD
        + CPU_RT
        + components(component("a", model=SKLEARN.replace("}", ", env: {A: b}, secret_env: [B]}"))),
        "components[0].model.secret_env[0]",
        ("model:", None),
        "'B' is not a key of components[0].model.env",
    ),
    "an unknown key in a component": (
        HEAD + CPU_RT + components(component("a", "copy: 2")),
        "components[0].copy",
        ("copy:", None),
        "did you mean 'copies'?",
    ),
    "an unknown key in a component's model": (
        HEAD
        + CPU_RT
        + components(component("a", model=SKLEARN.replace("}", ", entrypoint: x.py}"))),
        "components[0].model.entrypoint",
        ("model:", None),
        "did you mean 'entry_point'?",
    ),
}

# The cases whose spec has more than the one mistake named (each reported once).
SEVERAL = {
    # Without an image for the instance type, the GPU rules still judge the compute.
    "a CPU container of a component on a GPU type",
    "an LLM container of a component on a CPU type",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused(write_spec: WriteSpec, files: Path, case: str) -> None:
    text, field, (needle, after), phrase = REFUSED[case]
    path = write_spec(text)
    diagnostics = refused(path)
    # One mistake, one error: nothing that merely follows from it.
    assert case in SEVERAL or len(diagnostics) == 1, [d.format() for d in diagnostics]
    found = [d for d in diagnostics if d.path == field]
    assert found, [d.format() for d in diagnostics]
    line = line_of(text, needle, after)
    matching = [d for d in found if phrase in f"{d.message} {d.hint}"]
    assert matching, [d.format() for d in found]
    assert all(d.file == str(path) and d.line == line for d in matching), (
        line,
        [d.format() for d in matching],
    )


def test_a_misspelt_component_model_is_named_as_the_cause_of_the_missing_one(
    write_spec: WriteSpec, files: Path
) -> None:
    text = HEAD + CPU_RT + components(component("a", f"modle: {SKLEARN}", model=None))
    errors = [d.format() for d in refused(write_spec(text))]
    assert "components[0].modle: unknown key 'modle'" in errors[0], errors
    assert "did you mean 'model'?" in errors[0]
    assert "components[0]: this component has no model: and no base:" in errors[1], errors
    assert "is 'modle', reported above, a misspelling of it?" in errors[1]


def test_rolling_batches_read_as_aws_takes_them() -> None:
    assert RollingUpdateSpec().batch_type_value() == ("COPY_COUNT", 1)
    assert RollingUpdateSpec(batch=" 5 %").batch_type_value() == ("CAPACITY_PERCENT", 5)
    assert RollingUpdateSpec(batch=3, rollback_batch=2).rollback_batch_type_value() == (
        "COPY_COUNT",
        2,
    )
    assert ComponentSpec(name="x", base="y", artifacts="./a").copies == 1


# ---- the schema editors read -------------------------------------------------------------------


def test_the_schema_takes_components_and_refuses_their_forbidden_shapes() -> None:
    # jsonschema (a dependency of sagemaker-core) has no type stubs here.
    validator = importlib.import_module("jsonschema").Draft202012Validator(json_schema())
    chat = {
        "name": "chat",
        "model": {"framework": "huggingface-llm", "version": "3.3.6", "hub": {"id": "a/b"}},
        "compute": {"accelerators": 1, "memory_mb": 4096},
        "copies": 1,
        "autoscaling": {"min": 0, "max": 2, "target_concurrent_requests_per_copy": 4},
        "rolling_update": {"batch": "25%", "wait": "1m", "timeout": "20m"},
    }
    lora = {"name": "lora", "base": "chat", "artifacts": "./adapters/support"}
    spec: dict[str, Any] = {
        "name": "assistants",
        "realtime": {"instance_type": "ml.g5.xlarge", "managed_scaling": {"min": 0, "max": 2}},
        "components": [chat, lora],
    }
    assert list(validator.iter_errors(spec)) == []
    wrong: list[dict[str, Any]] = [
        {**spec, "model": chat["model"]},
        {**spec, "serverless": {}},
        {k: v for k, v in spec.items() if k != "realtime"},
        {**spec, "realtime": {**spec["realtime"], "autoscaling": {"min": 1, "max": 2}}},
        {**spec, "components": [chat, {**lora, "compute": {"memory_mb": 1024}}]},
        {**spec, "components": [chat, {k: v for k, v in lora.items() if k != "artifacts"}]},
        {**spec, "components": [{k: v for k, v in chat.items() if k != "compute"}]},
        {**spec, "components": [{**chat, "base": "x"}]},
        {**spec, "components": [{**chat, "rolling_update": {"batch": "60%"}}]},
    ]
    for shape in wrong:
        assert list(validator.iter_errors(shape)), shape
    defs = json_schema()["$defs"]
    assert "managed_scaling" in defs["Realtime"]["properties"]
    for name in ("ComponentSpec", "ComponentCompute", "ComponentAutoscaling", "RollingUpdateSpec"):
        described = defs[name]["properties"]
        assert all("description" in field for field in described.values()), name
