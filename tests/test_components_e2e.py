"""End to end, examples/components: two models and a LoRA adapter as inference components on one
GPU instance type, scaled to zero. The CLI as a separate process against a private sandbox
serving ../llm-tgi's tiny model for real: validate -> plan -> apply -> a no-op plan -> invoke
each component (the adapter included) -> status -> a copy-count change of one component that
leaves the others as they were -> its copies scaled to zero by hand, as its autoscaler would ->
destroy, nothing owned left. AWS calls are counted on the sandbox's side."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, run_cli
from tests.conftest import sandbox_client as client

pytest.importorskip("transformers", reason="the llm extra serves the tiny model")

EXAMPLES = REPO / "examples"
EXAMPLE = EXAMPLES / "components"
READ_PREFIXES = ("Describe", "List", "Get", "Head", "GET ", "HEAD ")
ENDPOINT = "assistants"
CHAT, EMBED, SUPPORT = (f"{ENDPOINT}-{name}" for name in ("chat", "embed", "support"))


@pytest.fixture(scope="module")
def building(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """examples/components and examples/llm-tgi copied into one project, and llm-tgi's own
    script writing the tiny model there (some 10 s, most of it importing transformers): started
    before the sandbox, which comes up meanwhile."""
    root = tmp_path_factory.mktemp("examples")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in ("components", "llm-tgi"):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("weights"))
    script = root / "llm-tgi" / "make_model.py"
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield root, process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def sandbox(
    building: tuple[Path, subprocess.Popen[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The module's sandbox, started once the model is being written (`building`)."""
    home = tmp_path_factory.mktemp("sandbox-home")
    cache = tmp_path_factory.mktemp("cache")
    info, _ = control.start(0, transition_seconds=0.2, home=home)
    env = {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)}
    try:
        yield {"info": info, "env": env, "faults": control.FaultClient(info)}
    finally:
        control.stop(home)


@pytest.fixture(scope="module")
def example(building: tuple[Path, subprocess.Popen[str]]) -> Path:
    """The copied example, once the tiny model is written, with the adapter that
    make_adapter.py shapes from it."""
    root, process = building
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    made = subprocess.run(
        [sys.executable, str(root / "components" / "make_adapter.py")],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    return root / "components"


def cli(sandbox: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=sandbox["env"], timeout=300)


def calls(sandbox: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The (reads, writes) the sandbox received since its calls were last cleared."""
    found = [str(c["operation"]) for c in sandbox["faults"].calls()]
    reads = [op for op in found if op.startswith(READ_PREFIXES)]
    return reads, [op for op in found if not op.startswith(READ_PREFIXES)]


def described(sm: Any, name: str) -> dict[str, Any]:
    """What SageMaker says of a component, without the request's metadata."""
    found = dict(sm.describe_inference_component(InferenceComponentName=name))
    found.pop("ResponseMetadata")
    return found


def settled(sm: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """A component once SageMaker has finished changing it (Creating and Updating end)."""
    deadline = time.monotonic() + timeout
    while (found := described(sm, name))["InferenceComponentStatus"] in ("Creating", "Updating"):
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def invoke(sandbox: dict[str, Any], spec: Path, component: str, *args: str) -> Any:
    answered = cli(sandbox, "invoke", str(spec), "--component", component, *args)
    assert answered.returncode == 0, answered.stderr
    return json.loads(answered.stdout)


def test_components_are_planned_applied_invoked_updated_one_by_one_and_destroyed(
    sandbox: dict[str, Any], example: Path
) -> None:
    spec = example / "deployment.yaml"
    validated = run_cli("validate", str(spec), env=sandbox["env"])
    assert validated.returncode == 0, validated.stderr
    assert (
        "3 components: chat: huggingface-llm 3.3.6 x1; embed: huggingface-tei 1.8.2 x1; "
        "support: adapter on chat" in validated.stdout
    ), validated.stdout

    planned = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    shown = planned.stdout
    for created in (
        f'+ endpoint "{ENDPOINT}"',
        f'+ inference_component "{CHAT}"',
        f'+ inference_component "{EMBED}"',
        f'+ inference_component "{SUPPORT}"',
        f'+ scaling "inference-component/{CHAT}"',
        '+ artifact "',  # the adapter's files, packaged as one model.tar.gz
    ):
        assert created in shown, created + "\n" + shown
    assert f'component.base_component = "{CHAT}"' in shown
    assert "scale_from_zero    = true" in shown
    assert (
        "a step-scaling policy on a CloudWatch alarm (AWS/SageMaker NoCapacityInvocationFailures,"
        f" InferenceComponentName={CHAT}) adds the first copy back" in shown
    )
    # The order SageMaker needs: the endpoint, then the base, its adapter after it.
    positions = [
        shown.index(f'+ {kind} "{name}"')
        for kind, name in (
            ("endpoint", ENDPOINT),
            ("inference_component", CHAT),
            ("inference_component", SUPPORT),
        )
    ]
    assert positions == sorted(positions)
    # The bucket, the weights, two models, the config, the endpoint, the adapter's archive,
    # three components and chat's copy scaling.
    assert "Plan: 11 to add, 0 to change, 0 to destroy." in shown

    applied = cli(sandbox, "apply", str(spec), "--auto-approve")
    assert applied.returncode == 0, applied.stderr + applied.stdout
    assert "Apply complete!" in applied.stdout

    sandbox["faults"].clear_calls()
    unchanged = cli(sandbox, "plan", str(spec), "--detailed-exitcode")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    reads, writes = calls(sandbox)
    assert writes == []
    # 3 reads plus 1 per component; the weights' manifest (both models share one tree), whose
    # HeadObject names the account as the bucket's expected owner; chat's copy scaling.
    assert sorted(reads) == sorted(
        ["DescribeEndpoint", "ListTags", "ListInferenceComponents"]
        + ["DescribeInferenceComponent"] * 3
        + ["GetCallerIdentity", "HeadObject"]
        + ["DescribeScalableTargets", "DescribeScalingPolicies"]
    ), reads

    # Behind deployspec's back: what SageMaker, Application Auto Scaling and CloudWatch hold.
    sm = client(sandbox, "sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    )
    assert config["ExecutionRoleArn"].endswith(":role/SageMakerExecution")
    (variant,) = config["ProductionVariants"]
    assert "ModelName" not in variant
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": 0,
        "MaxInstanceCount": 2,
    }
    # Both models serve the one weights tree, uploaded once.
    sources = {
        sm.describe_model(ModelName=described(sm, name)["Specification"]["ModelName"])[
            "PrimaryContainer"
        ]["ModelDataSource"]["S3DataSource"]["S3Uri"]
        for name in (CHAT, EMBED)
    }
    assert len(sources) == 1 and sources.pop().endswith("/")
    # The adapter: PEFT's two files at the root of one archive, at its content address.
    adapter = described(sm, SUPPORT)["Specification"]
    assert adapter["BaseInferenceComponentName"] == CHAT
    url = adapter["Container"]["ArtifactUrl"]
    found = re.fullmatch(r"s3://([^/]+)/(.+/([0-9a-f]{64})/model\.tar\.gz)", url)
    assert found is not None, url
    archive = client(sandbox, "s3").get_object(Bucket=found[1], Key=found[2])["Body"].read()
    # Its folder is the sha256 of the uncompressed tar stream (artifacts.py's digest).
    assert hashlib.sha256(gzip.decompress(archive)).hexdigest() == found[3]
    with tarfile.open(fileobj=io.BytesIO(archive)) as unpacked:
        assert sorted(unpacked.getnames()) == ["adapter_config.json", "adapter_model.safetensors"]
    scaling = client(sandbox, "application-autoscaling")
    (target,) = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{CHAT}"]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"inference-component/{CHAT}"
    )["ScalingPolicies"]
    assert sorted(p["PolicyType"] for p in policies) == ["StepScaling", "TargetTrackingScaling"]
    alarms = client(sandbox, "cloudwatch").describe_alarms(AlarmNamePrefix=f"deployspec-{CHAT}")
    (alarm,) = alarms["MetricAlarms"]
    assert alarm["MetricName"] == "NoCapacityInvocationFailures"
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": CHAT}]

    # A real prediction from each component: the tiny model's text (greedy, so the same for
    # the same request), and its embedding of a text.
    body = f"@{example / 'input.json'}"
    chat = invoke(sandbox, spec, "chat", "--body", body)[0]["generated_text"]
    assert isinstance(chat, str) and chat
    # The sandbox runs no LoRA weights: the adapter answers with its base's model, here to the
    # TGI request --prompt builds for its base's container (input.json's, streaming off).
    prompted = invoke(sandbox, spec, "support", "--prompt", "Hello, ", "--max-tokens", "16")
    assert prompted[0]["generated_text"] == chat
    (vector,) = invoke(sandbox, spec, "embed", "--prompt", "a declarative deployment")
    hidden = json.loads((example.parent / "llm-tgi" / "weights" / "config.json").read_text())
    assert len(vector) == hidden["hidden_size"]
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)  # normalised

    status = cli(sandbox, "status", str(spec))
    assert status.returncode == 0, status.stderr
    for line in (
        "serving:        inference components: ml.g5.12xlarge x1",
        "instances:    0-2, managed by SageMaker (scales to zero)",
        "in use:       1 ml.g5.12xlarge instance, 2 copies placed reserving 2 of 4 "
        "accelerators, 6 CPU cores, 12288 MB memory",
        f"component chat ({CHAT}): InService, 1 of 1 copies, each 1 accelerator, 4 CPU cores, "
        "8192 MB memory",
        f"component embed ({EMBED}): InService, 1 of 1 copies, each 1 accelerator, 2 CPU cores, "
        "4096 MB memory",
        f"component support ({SUPPORT}): InService, adapter on chat",
        "matches spec:   yes",
    ):
        assert line in status.stdout, line + "\n" + status.stdout

    # One component changed: embed's copies, one UpdateInferenceComponentRuntimeConfig; chat
    # and its adapter keep their specification, ARN and times.
    text = spec.read_text()
    embed_block = text.index("- name: embed")
    more = spec.with_name("more-embeddings.yaml")
    more.write_text(text[:embed_block] + text[embed_block:].replace("copies: 1", "copies: 2", 1))
    others = {name: described(sm, name) for name in (CHAT, SUPPORT)}
    sandbox["faults"].clear_calls()
    updated = cli(sandbox, "apply", str(more), "--auto-approve")
    assert updated.returncode == 0, updated.stderr + updated.stdout
    assert calls(sandbox)[1] == ["UpdateInferenceComponentRuntimeConfig"]
    assert f'~ inference_component "{EMBED}"' in updated.stdout
    assert "copy count alone (UpdateInferenceComponentRuntimeConfig)" in updated.stdout
    assert "component.copy_count = 1 -> 2" in updated.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in updated.stdout
    embed = described(sm, EMBED)
    assert (embed["InferenceComponentStatus"], embed["RuntimeConfig"]) == (
        "InService",
        {"DesiredCopyCount": 2, "CurrentCopyCount": 2},
    )
    assert {name: described(sm, name) for name in (CHAT, SUPPORT)} == others

    # Scale to zero: chat's autoscaler takes its copies to none (done here by hand, as it
    # would). That is the autoscaler's choice: the next plan, the update above done, has
    # nothing to change. A request finds no copy, as on AWS, where that failure's alarm brings
    # one back.
    sm.update_inference_component_runtime_config(
        InferenceComponentName=CHAT, DesiredRuntimeConfig={"CopyCount": 0}
    )
    # The scale-in itself takes a moment, as on AWS; a plan meanwhile would wait it out.
    assert settled(sm, CHAT)["RuntimeConfig"]["DesiredCopyCount"] == 0
    assert cli(sandbox, "plan", str(more), "--detailed-exitcode").returncode == 0
    refused = cli(sandbox, "invoke", str(more), "--component", "chat", "--body", body)
    assert refused.returncode == 1
    assert "Inference Component has no capacity to process this request" in refused.stderr

    destroyed = cli(sandbox, "destroy", str(more), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr + destroyed.stdout
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_inference_components()["InferenceComponents"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    left = client(sandbox, "cloudwatch").describe_alarms(AlarmNamePrefix=f"deployspec-{CHAT}")
    assert left["MetricAlarms"] == []


def test_the_adapter_is_a_lora_of_the_base_models_projections(example: Path) -> None:
    """make_adapter.py writes PEFT's two files, each matrix shaped for the tiny model's layer
    it adapts, the same bytes on every run."""
    from safetensors.numpy import load_file

    folder = example / "weights" / "support"
    config = json.loads((folder / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["target_modules"]) == (
        "LORA",
        4,
        ["q_proj", "v_proj"],
    )
    base = load_file(str(example.parent / "llm-tgi" / "weights" / "model.safetensors"))
    lora = load_file(str(folder / "adapter_model.safetensors"))
    assert len(lora) == 2 * 2 * 2  # two layers, two projections, A and B
    for name, a in lora.items():
        if ".lora_A." not in name:
            continue
        b = lora[name.replace(".lora_A.", ".lora_B.")]
        weight = base[name.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")]
        # W + B @ A must be W's shape: the adapter fits the layer it names.
        assert (b @ a).shape == weight.shape, name

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = subprocess.run(
        [sys.executable, str(example / "make_adapter.py")], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_adapter_script_without_its_base_model_says_what_to_run(tmp_path: Path) -> None:
    made = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "make_adapter.py"),
            "--base",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "adapter"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert made.returncode == 1
    assert made.stderr == (
        f"error: {tmp_path / 'none' / 'config.json'} not found: the adapter is shaped from its "
        "base model (run ../llm-tgi/make_model.py first, or pass --base FOLDER)\n"
    )
    assert not (tmp_path / "adapter").exists()
