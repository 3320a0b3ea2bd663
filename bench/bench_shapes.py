"""Endpoint shapes benchmark: the AWS calls of a no-op plan and a no-op apply of an endpoint of
two weighted variants with autoscaling (examples/sklearn-ab: the issue's shape, autoscaling on
one variant), and of the same endpoint with both variants autoscaled.

    python bench/bench_shapes.py [--out bench/results/shapes.json]

Against a private local sandbox, calls counted on the sandbox's side. Bars (issue 12): a no-op
plan of the example makes at most 4 read calls, a no-op apply 0 writes. Exits 1 when a bar is
missed. With both variants autoscaled the plan reads one more scaling policy (reported, no bar).
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
MAX_PLAN_READS = 4


def cli(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "deployspec", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "shapes.json")
    args = parser.parse_args()

    from deployspec.sandbox import control

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-shapes-"))
    env = {
        **os.environ,
        "DEPLOYSPEC_HOME": str(work / "home"),
        "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
        "NO_COLOR": "1",
    }
    examples = work / "examples"
    examples.mkdir()
    # One project, as in the repository: the example uses another's model and handler.
    subprocess.run(["git", "init", "-q", str(examples)], check=True)
    for name in ("sklearn-iris", "sklearn-ab"):
        shutil.copytree(
            ROOT / "examples" / name, examples / name, ignore=shutil.ignore_patterns("model")
        )
    train = examples / "sklearn-iris" / "train.py"
    subprocess.run([sys.executable, str(train)], check=True, capture_output=True)
    subprocess.run(
        [
            sys.executable,
            str(train),
            "--out",
            str(examples / "sklearn-ab" / "model"),
            "--c",
            "0.05",
        ],
        check=True,
        capture_output=True,
    )
    spec = examples / "sklearn-ab" / "deployment.yaml"
    both = spec.with_name("both.yaml")
    text = spec.read_text().replace("name: iris-ab", "name: iris-ab-both")
    both.write_text(
        text.rstrip("\n")
        + "\n      autoscaling: {min: 1, max: 2, target_invocations_per_instance: 50}\n"
    )

    results: dict[str, dict[str, object]] = {}
    info, _ = control.start(free_port(), transition_seconds=0.2, home=work / "home")
    faults = control.FaultClient(info)
    try:
        for label, path in (("two variants, one autoscaled", spec), ("both autoscaled", both)):
            cli(["apply", str(path), "--sandbox", "--auto-approve"], env)
            for command in ("plan", "apply"):
                extra = ["--auto-approve"] if command == "apply" else []
                faults.clear_calls()
                cli([command, str(path), "--sandbox", *extra], env)
                found = [c["operation"] for c in faults.calls()]
                results[f"{command}: {label}"] = {
                    "aws_reads": sum(op.startswith(READS) for op in found),
                    "aws_writes": sum(not op.startswith(READS) for op in found),
                    "calls": found,
                }
    finally:
        control.stop(work / "home")
        shutil.rmtree(work, ignore_errors=True)

    for name, row in results.items():
        print(f"{name:<40} {row['aws_reads']} reads, {row['aws_writes']} writes: {row['calls']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    example_plan = results["plan: two variants, one autoscaled"]
    missed = [
        f"{name}: {row['aws_writes']} writes" for name, row in results.items() if row["aws_writes"]
    ]
    reads = example_plan["aws_reads"]
    if not isinstance(reads, int) or reads > MAX_PLAN_READS:
        missed.append(f"no-op plan: {reads} reads (bar {MAX_PLAN_READS})")
    for problem in missed:
        print(f"bar missed: {problem}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
