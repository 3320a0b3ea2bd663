"""Packaging benchmark: the SageMaker SDK's way against deployspec.artifacts.package.

    python bench/bench_packaging.py [--size-gib 1] [--out bench/results/packaging.json]

Generates a model-like folder of the given size in a temp dir (float32 weight shards drawn from
a normal distribution, which compress about as poorly as trained weights, plus small compressible
config and vocabulary files, and a code folder), then times in one run:
  1. the SDK's way: tarfile.open(mode="w:gz"), compresslevel 9, one tar.add per top-level item;
  2. deployspec package(), first run (empty cache), all available cores;
  3. deployspec package() again (cache hit: stat calls only);
  4. deployspec package(), first run with a single worker (how much comes from threads).
Prints a table (seconds, MB/s of input, output size, speed-up over the SDK) and writes JSON.
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from deployspec.artifacts import DEFAULT_LEVEL, ArtifactSource, Layout, package

MB = 1_000_000
BLOCK_FLOATS = 16 << 20  # 64 MiB of float32 per generated block
T = TypeVar("T")


@dataclass
class Run:
    name: str
    seconds: float
    mb_per_s: float
    output_bytes: int
    speedup_vs_sdk: float


def generate(root: Path, size: int) -> tuple[Path, Path, int]:
    """A model folder and a code folder; returns them and the total input bytes."""
    model, code = root / "model", root / "code"
    model.mkdir(parents=True)
    code.mkdir()
    rng = np.random.default_rng(2026)
    words = [f"tok{i}_{rng.integers(1 << 30):x}" for i in range(60_000)]
    vocab = json.dumps({w: i for i, w in enumerate(words)}, indent=1).encode()
    merges = "\n".join(f"{a} {b}" for a, b in itertools.pairwise(words)).encode()
    (model / "tokenizer.json").write_bytes(
        json.dumps({"model": {"vocab": vocab.decode(), "merges": merges.decode()}}).encode()
    )
    (model / "vocab.txt").write_bytes("\n".join(words).encode())
    (model / "config.json").write_text(
        json.dumps({"hidden_size": 1024, "num_layers": 24, "vocab_size": len(words)}, indent=2)
    )
    small = sum(p.stat().st_size for p in model.iterdir())
    shards = 4
    per_shard = max(0, size - small) // shards
    for index in range(shards):
        path = model / f"model-{index + 1:05d}-of-{shards:05d}.bin"
        with path.open("wb") as out:
            left = per_shard
            while left > 0:
                count = min(BLOCK_FLOATS, (left + 3) // 4)
                block = (rng.standard_normal(count, dtype=np.float32) * 0.02).tobytes()
                out.write(block[:left])
                left -= len(block[:left])
    (code / "inference.py").write_text("def model_fn(model_dir):\n    return model_dir\n")
    (code / "requirements.txt").write_text("transformers\n")
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return model, code, total


def sdk_way(model: Path, code: Path, out: Path) -> int:
    """What the SageMaker Python SDK does: tarfile "w:gz" at its default level 9."""
    with tarfile.open(out, mode="w:gz") as tar:
        for item in sorted(model.iterdir()):
            tar.add(item, arcname=item.name)
        tar.add(code, arcname="code")
    return out.stat().st_size


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def verify(archive: Path, model: Path, code: Path) -> None:
    """The deployspec archive holds every input file with its size."""
    expected = {p.name: p.stat().st_size for p in model.iterdir()}
    expected |= {f"code/{p.name}": p.stat().st_size for p in code.iterdir()}
    with tarfile.open(archive, "r|gz") as tar:
        found = {m.name: m.size for m in tar if m.isreg()}
    if found != expected:
        raise SystemExit(f"verification failed: {found} != {expected}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/packaging.json"))
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where to generate the data")
    parser.add_argument("--level", type=int, default=DEFAULT_LEVEL)
    parser.add_argument("--no-verify", action="store_true", help="skip reading the output back")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-", dir=args.tmp_dir))
    try:
        print(f"generating {args.size_gib:g} GiB of model-like data in {work} ...", flush=True)
        model, code, total = generate(work / "data", int(args.size_gib * (1 << 30)))
        source = ArtifactSource(Layout.FLAT, model, code / "inference.py", code)
        load_before = os.getloadavg()[0]

        runs: list[Run] = []

        def record(name: str, seconds: float, size: int) -> None:
            base = runs[0].seconds if runs else seconds
            runs.append(Run(name, seconds, total / MB / seconds, size, base / seconds))
            print(f"  {name}: {seconds:.3f} s", flush=True)

        print("timing ...", flush=True)
        seconds, sdk_size = timed(lambda: sdk_way(model, code, work / "sdk.tar.gz"))
        record("SDK tarfile w:gz level 9", seconds, sdk_size)
        (work / "sdk.tar.gz").unlink()

        cache = work / "cache"
        seconds, first = timed(lambda: package(source, cache, level=args.level))
        record(f"deployspec first run (level {args.level}, all cores)", seconds, first.size)
        seconds, again = timed(lambda: package(source, cache, level=args.level))
        if not again.cached or again.sha256 != first.sha256:
            raise SystemExit("re-package missed the cache")
        record("deployspec re-package (cache hit)", seconds, again.size)
        seconds, single = timed(
            lambda: package(source, work / "cache-1", level=args.level, workers=1)
        )
        # The digest names the uncompressed stream: the bytes are compared on their own.
        if single.sha256 != first.sha256 or not filecmp.cmp(single.path, first.path, shallow=False):
            raise SystemExit("1-worker output differs from the all-cores output")
        record(f"deployspec first run (level {args.level}, 1 worker)", seconds, single.size)
        if not args.no_verify:
            verify(first.path, model, code)

        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print()
        print(f"input: {total / MB:,.0f} MB in {sum(1 for _ in model.iterdir()) + 2} files")
        print(f"{'run':<44} {'seconds':>8} {'MB/s':>8} {'output MB':>10} {'vs SDK':>7}")
        for run in runs:
            print(
                f"{run.name:<44} {run.seconds:>8.3f} {run.mb_per_s:>8.0f} "
                f"{run.output_bytes / MB:>10.1f} {run.speedup_vs_sdk:>6.1f}x"
            )
        result = {
            "input_bytes": total,
            "size_gib": args.size_gib,
            "cpus": cpus,
            # Other work on the machine slows every run; the ratios are the comparable part.
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "python": sys.version.split()[0],
            "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "platform": platform.platform(),
            "sha256": first.sha256,  # of the uncompressed tar stream
            "runs": [asdict(run) for run in runs],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
