"""Inference components benchmark: the AWS calls of a no-op plan and apply of an endpoint with
five inference components, of a change of one component's copy count alone, and of the same
endpoint with copy autoscaling on every component.

    python bench/bench_components.py [--components 5] [--out bench/results/components.json]

Against a private local sandbox, calls counted on the sandbox's side. Bars (issue 14): a no-op
plan of the endpoint makes at most 3 read calls plus 1 per component; a copy-count-only change
makes exactly one write (UpdateInferenceComponentRuntimeConfig); a no-op apply makes none.
With copy autoscaling on every component the plan also reads the scalable targets and their
policies: deployspec's own bar there is 2 reads more whatever the number of components
(one DescribeScalableTargets, one DescribeScalingPolicies for all of them). Exits 1 when a bar
is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_cli import READS, free_port

ROOT = Path(__file__).resolve().parent.parent
SCALING_READS = 2

# Each copy answers with a constant: what is measured is deployspec's calls, not a model.
HANDLER = """\
import json


def model_fn(model_dir):
    return "ok"


def transform_fn(model, body, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""


def spec_text(name: str, components: int, *, autoscaled: bool) -> str:
    """Components c0..c<n-1> on one ml.m5.xlarge (managed scaling 1-2); c0's copies are the
    var `copies`."""
    lines = [
        f"name: {name}",
        "region: us-east-1",
        "role: arn:aws:iam::123456789012:role/SageMakerExecution",
        "realtime:",
        "  instance_type: ml.m5.xlarge",
        "  managed_scaling: {min: 1, max: 2}",
        "components:",
    ]
    for index in range(components):
        copies = "{{ copies }}" if index == 0 else "1"
        lines += [
            f"  - name: c{index}",
            '    model: {framework: sklearn, version: "1.9-0", artifacts: ./model, '
            "entry_point: inference.py}",
            "    compute: {cpu_cores: 0.25, memory_mb: 256}",
            f"    copies: {copies}",
        ]
        if autoscaled:
            lines.append(
                "    autoscaling: {min: 1, max: 2, target_concurrent_requests_per_copy: 4}"
            )
    lines += ["vars:", "  copies: 1"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "components.json")
    args = parser.parse_args()
    count: int = args.components

    from deployspec.sandbox import control

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-components-"))
    env = {
        **os.environ,
        "DEPLOYSPEC_HOME": str(work / "home"),
        "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
        "DEPLOYSPEC_POLL_SECONDS": "0.2",
        "NO_COLOR": "1",
    }
    project = work / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.txt").write_text("constant\n")
    (project / "inference.py").write_text(HANDLER)
    plain = project / "components.yaml"
    plain.write_text(spec_text("five", count, autoscaled=False))
    scaled = project / "autoscaled.yaml"
    scaled.write_text(spec_text("five", count, autoscaled=True))

    results: dict[str, dict[str, object]] = {}
    info, _ = control.start(free_port(), transition_seconds=0.2, home=work / "home")
    faults = control.FaultClient(info)

    def measured(label: str, command: str, spec: Path, *extra: str) -> None:
        faults.clear_calls()
        approve = ["--auto-approve"] if command in ("apply", "destroy") else []
        done = subprocess.run(
            [sys.executable, "-m", "deployspec", command, str(spec), "--sandbox", *approve, *extra],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"{label}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        found = [c["operation"] for c in faults.calls()]
        results[label] = {
            "aws_reads": sum(op.startswith(READS) for op in found),
            "aws_writes": sum(not op.startswith(READS) for op in found),
            "writes": [op for op in found if not op.startswith(READS)],
            "calls": found,
        }

    try:
        measured("apply: new endpoint", "apply", plain)
        measured("plan: no-op", "plan", plain)
        measured("apply: no-op", "apply", plain)
        measured("apply: copy count alone", "apply", plain, "--var", "copies=2")
        measured("apply: autoscaling added", "apply", scaled, "--var", "copies=2")
        measured("plan: no-op, every component autoscaled", "plan", scaled, "--var", "copies=2")
        measured("apply: no-op, every component autoscaled", "apply", scaled, "--var", "copies=2")
        measured("destroy", "destroy", scaled, "--var", "copies=2")
    finally:
        control.stop(work / "home")
        shutil.rmtree(work, ignore_errors=True)

    for name, row in results.items():
        print(f"{name:<42} {row['aws_reads']:>3} reads, {row['aws_writes']:>3} writes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    missed: list[str] = []
    bars = (
        ("plan: no-op", 3 + count),
        ("plan: no-op, every component autoscaled", 3 + count + SCALING_READS),
    )
    for label, bar in bars:
        reads = results[label]["aws_reads"]
        if not isinstance(reads, int) or reads > bar:
            missed.append(f"{label}: {reads} reads (bar {bar}): {results[label]['calls']}")
    for label in ("apply: no-op", "apply: no-op, every component autoscaled"):
        if results[label]["aws_writes"]:
            missed.append(f"{label}: writes {results[label]['writes']} (bar 0)")
    if results["apply: copy count alone"]["writes"] != ["UpdateInferenceComponentRuntimeConfig"]:
        missed.append(
            f"copy count alone: writes {results['apply: copy count alone']['writes']} "
            "(bar: exactly one, UpdateInferenceComponentRuntimeConfig)"
        )
    for problem in missed:
        print(f"bar missed: {problem}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
