"""Issue 14's performance bars on the sandbox, counted on its side: a no-op plan of an endpoint
of five inference components reads at most 3 calls plus 1 per component (with copy
autoscaling on every one, two more for all of them: their targets and their policies, and a
change to either made by hand is still seen); a copy-count-only change is exactly one write;
a change of the spec's tags reaches every component. `bench/bench_components.py` measures the
same; this guards it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.test_e2e import calls, sandbox, sandbox_client, sm

__all__ = ["sandbox", "sm"]  # fixtures, used by name

COMPONENTS = 5
BASE_READS = ["DescribeEndpoint", "ListTags", "ListInferenceComponents"]
SCALING_READS = ["DescribeScalableTargets", "DescribeScalingPolicies"]

HANDLER = """\
import json


def model_fn(model_dir):
    return "ok"


def transform_fn(model, body, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""


def spec_text(*, autoscaled: bool) -> str:
    lines = [
        "name: five",
        "region: us-east-1",
        "role: arn:aws:iam::123456789012:role/SageMakerExecution",
        'tags: {team: "{{ team }}"}',
        "realtime:",
        "  instance_type: ml.m5.xlarge",
        "  managed_scaling: {min: 1, max: 2}",
        "components:",
    ]
    for index in range(COMPONENTS):
        lines += [
            f"  - name: c{index}",
            '    model: {framework: sklearn, version: "1.9-0", artifacts: ./model, '
            "entry_point: inference.py}",
            "    compute: {cpu_cores: 0.25, memory_mb: 256}",
            f"    copies: {'{{ copies }}' if index == 0 else 1}",
        ]
        if autoscaled:
            lines.append(
                "    autoscaling: {min: 1, max: 2, target_concurrent_requests_per_copy: 4}"
            )
    return "\n".join([*lines, "vars:", "  copies: 1", "  team: ml"]) + "\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("constant\n")
    (tmp_path / "inference.py").write_text(HANDLER)
    (tmp_path / "plain.yaml").write_text(spec_text(autoscaled=False))
    (tmp_path / "autoscaled.yaml").write_text(spec_text(autoscaled=True))
    return tmp_path


def test_reads_and_writes_of_an_endpoint_of_five_components(
    sandbox: dict[str, Any], sm: Any, project: Path
) -> None:
    # Polled often: the components' Creating is most of what apply waits for.
    env = {**sandbox["env"], "DEPLOYSPEC_POLL_SECONDS": "0.2"}

    def cli(*args: str) -> str:
        done = run_cli(*args, "--sandbox", env=env, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def counted(*args: str) -> tuple[list[str], list[str], str]:
        sandbox["faults"].clear_calls()
        shown = cli(*args)
        reads, writes = calls(sandbox)
        return reads, writes, shown

    plain, scaled = str(project / "plain.yaml"), str(project / "autoscaled.yaml")
    cli("apply", plain, "--auto-approve")
    try:
        reads, writes, shown = counted("plan", plain)
        assert "No changes" in shown
        assert writes == []
        assert sorted(reads) == sorted(BASE_READS + ["DescribeInferenceComponent"] * COMPONENTS)
        assert len(reads) <= 3 + COMPONENTS  # the bar

        reads, writes, _ = counted("apply", plain, "--auto-approve", "--var", "copies=2")
        assert writes == ["UpdateInferenceComponentRuntimeConfig"]

        # The spec's tags reach every component (and the endpoint, last); then nothing to do.
        cli("apply", plain, "--auto-approve", "--var", "copies=2", "--var", "team=ai")
        for index in range(COMPONENTS):
            arn = sm.describe_inference_component(InferenceComponentName=f"five-c{index}")[
                "InferenceComponentArn"
            ]
            tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
            assert tags["team"] == "ai" and tags["deployspec:spec"] == "five", tags
        _, _, shown = counted("plan", plain, "--var", "copies=2", "--var", "team=ai")
        assert "No changes" in shown

        cli("apply", scaled, "--auto-approve", "--var", "copies=2", "--var", "team=ai")
        reads, writes, shown = counted("plan", scaled, "--var", "copies=2", "--var", "team=ai")
        assert "No changes" in shown and writes == []
        assert sorted(reads) == sorted(
            BASE_READS + ["DescribeInferenceComponent"] * COMPONENTS + SCALING_READS
        )

        # Two reads for every component's scaling, and a hand-made change of either is seen.
        scaling = sandbox_client(sandbox, "application-autoscaling")
        dimension = "sagemaker:inference-component:DesiredCopyCount"
        scaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId="inference-component/five-c1",
            ScalableDimension=dimension,
            MinCapacity=1,
            MaxCapacity=3,
        )
        scaling.put_scaling_policy(
            PolicyName="deployspec-five-c3-concurrency",
            ServiceNamespace="sagemaker",
            ResourceId="inference-component/five-c3",
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 9.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": (
                        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
                    )
                },
            },
        )
        _, _, shown = counted("plan", scaled, "--var", "copies=2", "--var", "team=ai")
        assert "scaling.inference-component/five-c1" in shown, shown
        assert re.search(r"max_capacity\s+= 3 -> 2", shown)
        assert "scaling.inference-component/five-c3" in shown
        assert re.search(r"target_value\s+= 9.0 -> 4.0", shown)
    finally:
        destroyed = run_cli("destroy", scaled, "--auto-approve", "--sandbox", env=env)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
