"""CLI benchmark: start-up of `--help` and `validate`, re-planning an unchanged spec, and a
no-op apply.

    python bench/bench_cli.py [--runs 20] [--out bench/results/cli.json]

Runs the real CLI as separate processes, as users do. `validate` is timed on the scikit-learn
and ResNet50 examples (budget: 0.5 s wall). Plan and apply run against a private local sandbox
after a first apply of the scikit-learn example; the AWS calls of each are counted on the
sandbox's side, so the figures include every request the tool makes. Reports the median, the
best and the worst of N runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READS = ("Describe", "List", "Get", "Head", "GET ", "HEAD ")


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "deployspec", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def summary(samples: list[float]) -> dict[str, float]:
    # The worst run matters as much as the median: a budget has to hold on a busy machine too.
    return {
        "median_s": round(statistics.median(samples), 3),
        "best_s": round(min(samples), 3),
        "worst_s": round(max(samples), 3),
        "runs": len(samples),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli.json")
    args = parser.parse_args()

    from deployspec.sandbox import control

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-"))
    env = {
        **os.environ,
        "DEPLOYSPEC_HOME": str(work / "home"),
        "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
        "NO_COLOR": "1",
    }
    results: dict[str, object] = {}
    results["--help"] = summary([timed(["--help"], env) for _ in range(args.runs)])
    for name in ("sklearn-iris", "tensorflow-resnet50"):
        path = str(ROOT / "examples" / name / "deployment.yaml")
        if name == "sklearn-iris" and not (ROOT / "examples" / name / "model").exists():
            continue  # its model is trained by `make demo`; validate names it missing until then
        timed(["validate", path], env)  # warm the instance-type cache, as any second run has
        results[f"validate {name}"] = summary(
            [timed(["validate", path], env) for _ in range(args.runs)]
        )

    example = work / "sklearn-iris"
    shutil.copytree(
        ROOT / "examples" / "sklearn-iris", example, ignore=shutil.ignore_patterns("model")
    )
    subprocess.run([sys.executable, str(example / "train.py")], check=True, capture_output=True)
    spec = str(example / "deployment.yaml")

    info, _ = control.start(free_port(), transition_seconds=0.2, home=work / "home")
    faults = control.FaultClient(info)
    try:
        timed(["apply", spec, "--sandbox", "--auto-approve"], env)
        for command in ("plan", "apply"):
            extra = ["--auto-approve"] if command == "apply" else []
            samples = []
            for _ in range(args.runs):
                faults.clear_calls()
                samples.append(timed([command, spec, "--sandbox", *extra], env))
            found = [c["operation"] for c in faults.calls()]
            results[f"{command}_unchanged"] = {
                **summary(samples),
                "aws_reads": sum(op.startswith(READS) for op in found),
                "aws_writes": sum(not op.startswith(READS) for op in found),
                "calls": found,
            }
    finally:
        control.stop(work / "home")
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'measure':<32} {'median':>8} {'best':>8} {'worst':>8}  AWS calls")
    for name, row in results.items():
        assert isinstance(row, dict)
        calls = (
            f"{row['aws_reads']} reads, {row['aws_writes']} writes" if "aws_reads" in row else ""
        )
        print(
            f"{name:<32} {row['median_s']:>7.3f}s {row['best_s']:>7.3f}s "
            f"{row['worst_s']:>7.3f}s  {calls}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
