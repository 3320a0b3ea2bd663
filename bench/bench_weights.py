"""Uncompressed weights benchmark: a model folder holding GiBs of weights (compression: none)
deployed to a private sandbox, then the spec changed (an env value) and applied again, then one
weights file changed and applied again.

    python bench/bench_weights.py [--size-gib 10] [--files 5] [--out bench/results/weights.json]

Bytes are counted on the gateway's S3 calls (`Gateway.sent_bytes`: every PutObject and
UploadPart body of a weights file; `copied_bytes`: what S3 copied server-side). Bars (issue
13): the changed spec whose weights did not change uploads 0 bytes of them; the version with
one changed file uploads exactly that file. Exits 1 when a bar is missed. The weights are
random bytes (weights barely compress; sparse files would flatter nothing here, but random
ones keep any compression out of the picture), written once per run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import free_port

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = 64 << 20


def write_weights(folder: Path, size: int, count: int) -> list[Path]:
    files = []
    each = size // count
    for index in range(count):
        path = folder / f"weights-{index:05d}-of-{count:05d}.bin"
        with path.open("wb") as handle:
            left = each
            while left:
                block = os.urandom(min(_BLOCK, left))
                handle.write(block)
                left -= len(block)
        files.append(path)
    return files


def deploy(spec: Path, variables: list[str]) -> dict[str, float]:
    """plan + apply in this process (the CLI's own stages), the gateway's bytes counted."""
    from deployspec import operations
    from deployspec.applier import Applier

    started = time.perf_counter()
    prepared = operations.prepare(spec, variables, [], operations.Target(sandbox=True))
    planned = time.perf_counter()
    Applier(prepared.gateway, poll_initial=0.1).apply(prepared.plan)
    return {
        "plan_seconds": round(planned - started, 2),
        "apply_seconds": round(time.perf_counter() - planned, 2),
        "uploaded_bytes": prepared.gateway.sent_bytes,
        "copied_bytes": prepared.gateway.copied_bytes,
        "changes": len(prepared.plan.changes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=10.0)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "weights.json")
    args = parser.parse_args()

    from deployspec.sandbox import control

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-weights-"))
    os.environ.update(
        {
            "DEPLOYSPEC_HOME": str(work / "home"),
            "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
            "NO_COLOR": "1",
        }
    )
    project = work / "sklearn-iris"
    shutil.copytree(
        ROOT / "examples" / "sklearn-iris", project, ignore=shutil.ignore_patterns("model")
    )
    subprocess.run(
        [sys.executable, str(project / "train.py")], check=True, capture_output=True, cwd=project
    )
    size = int(args.size_gib * (1 << 30))
    files = write_weights(project / "model", size, args.files)
    spec = project / "deployment.yaml"
    text = spec.read_text().replace("name: iris\n", "name: iris-weights\n")
    text = text.replace(
        "  entry_point: inference.py\n",
        "  entry_point: inference.py\n  compression: none\n  env: {VERSION: '{{ version }}'}\n",
    )
    spec.write_text(text.replace("vars:\n", "vars:\n  version: '1'\n"))

    results: dict[str, dict[str, float]] = {}
    control.start(free_port(), transition_seconds=0.2, home=work / "home")
    try:
        results["first deploy"] = deploy(spec, [])
        results["env changed, weights not"] = deploy(spec, ["version=2"])
        with files[0].open("r+b") as handle:
            handle.write(os.urandom(4096))
        results["one weights file changed"] = deploy(spec, ["version=2"])
    finally:
        control.stop(work / "home")
        shutil.rmtree(work, ignore_errors=True)

    for name, row in results.items():
        print(f"{name:<28} {json.dumps(row)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size_bytes": size, "files": args.files, **results}, indent=2))
    missed = []
    if results["env changed, weights not"]["uploaded_bytes"] != 0:
        missed.append("a changed spec with unchanged weights uploaded weights bytes")
    if results["one weights file changed"]["uploaded_bytes"] != size // args.files:
        missed.append("one changed file: the upload was not exactly that file")
    for problem in missed:
        print(f"bar missed: {problem}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
