"""Many specs at once: planning 100 unchanged specs against a private sandbox.

    python bench/bench_many.py [--specs 100] [--runs 5] [--out bench/results/many.json]

Applies N serverless scikit-learn specs (each its own endpoint, model folder and archive), then,
side by side in one run, times `deployspec plan` of one of them and of the whole folder, and
counts the AWS calls each spec costs on the sandbox's side. The bars (issue 11): at most 2 read
calls per unchanged spec, and the whole folder in no more than 3 x the wall time of one spec
(imports and the session are paid once). Then the same folder is planned again with 20 % of the
sandbox's calls throttled: it must complete with the same plans.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READS = ("Describe", "List", "Get", "Head", "GET ", "HEAD ")

SPEC = """\
name: {name}
region: us-east-1
role: arn:aws:iam::123456789012:role/deployspec-bench
model:
  framework: sklearn
  version: "1.9-0"
  artifacts: ./model
  entry_point: inference.py
serverless:
  memory_mb: 2048
"""


def run(args: list[str], env: dict[str, str], *, check: bool = True) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "deployspec", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if check and done.returncode not in (0, 2):
        raise SystemExit(f"deployspec {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def make_specs(folder: Path, count: int) -> None:
    """N specs, each with its own copy of the iris model, as separate projects in a monorepo."""
    template = folder / "_template"
    example = ROOT / "examples" / "sklearn-iris"
    shutil.copytree(example, template, ignore=shutil.ignore_patterns("model", "deployment.yaml"))
    subprocess.run(
        [sys.executable, str(template / "train.py")], check=True, capture_output=True, cwd=template
    )
    specs = folder / "specs"
    for index in range(count):
        project = specs / f"team-{index:03d}"
        shutil.copytree(template, project)
        (project / "deployment.yaml").write_text(SPEC.format(name=f"bench-many-{index:03d}"))
    shutil.rmtree(template)


def plans_of(document: str) -> dict[str, Any]:
    """Each spec's plan (or error) by file, from `plan --format json` over many specs."""
    data = json.loads(document)
    return {item["file"]: item.get("plan", item.get("error")) for item in data["specs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "many.json")
    args = parser.parse_args()

    from deployspec.sandbox import control

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-many-"))
    env = {
        **os.environ,
        "DEPLOYSPEC_HOME": str(work / "home"),
        "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
        "NO_COLOR": "1",
    }
    make_specs(work, args.specs)
    specs = work / "specs"
    one = str(specs / "team-000" / "deployment.yaml")
    info, _ = control.start(0, transition_seconds=0.0, home=work / "home")
    faults = control.FaultClient(info)
    results: dict[str, Any] = {"specs": args.specs}
    try:
        run(["apply", str(specs), "--sandbox", "--auto-approve"], env)
        single: list[float] = []
        many: list[float] = []
        reads: list[int] = []
        writes: list[int] = []
        for _ in range(args.runs):  # interleaved, so both see the same machine load
            single.append(run(["plan", one, "--sandbox", "--detailed-exitcode"], env)[0])
            faults.clear_calls()
            elapsed, baseline = run(
                ["plan", str(specs), "--sandbox", "--format", "json", "--detailed-exitcode"], env
            )
            many.append(elapsed)
            found = [c["operation"] for c in faults.calls()]
            reads.append(sum(op.startswith(READS) for op in found))
            writes.append(sum(not op.startswith(READS) for op in found))
        unchanged = all(
            isinstance(p, dict) and not p.get("changes") for p in plans_of(baseline).values()
        )
        results["one_spec_s"] = statistics.median(single)
        results["all_specs_s"] = statistics.median(many)
        results["ratio"] = round(results["all_specs_s"] / results["one_spec_s"], 2)
        results["reads_per_spec"] = max(reads) / args.specs
        results["writes"] = max(writes)
        results["all_unchanged"] = unchanged

        faults.throttle(0.2)
        faults.clear_calls()
        elapsed, throttled = run(
            ["plan", str(specs), "--sandbox", "--format", "json", "--detailed-exitcode"], env
        )
        faults.clear()
        found = [c["operation"] for c in faults.calls()]
        results["throttled_s"] = round(elapsed, 3)
        results["throttled_calls"] = len(found)
        results["throttled_same_plans"] = plans_of(throttled) == plans_of(baseline)
    finally:
        control.stop(work / "home")
        shutil.rmtree(work, ignore_errors=True)

    passed = (
        results["reads_per_spec"] <= 2
        and results["ratio"] <= 3
        and results["all_unchanged"]
        and results["throttled_same_plans"]
        and results["writes"] == 0
    )
    results["passed"] = passed
    print(
        f"plan 1 spec: {results['one_spec_s']:.2f} s; plan {args.specs} specs: "
        f"{results['all_specs_s']:.2f} s ({results['ratio']}x, bar 3x); "
        f"{results['reads_per_spec']:.2f} reads per spec (bar 2), {results['writes']} writes; "
        f"20% throttled: {results['throttled_s']:.2f} s, "
        f"same plans: {results['throttled_same_plans']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if not passed:
        raise SystemExit("a bar was missed (see above)")


if __name__ == "__main__":
    main()
