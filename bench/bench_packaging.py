"""Packaging benchmark: the SageMaker SDK's way against deployspec, and first packaging of
uncompressed weights against hashing them, side by side in one run on one generated folder.

    python bench/bench_packaging.py [--size-gib 1] [--repeats 3] [--evict-page-cache]
                                    [--out bench/results/packaging.json]

Generates a model-like folder of the given size in a temp dir (float32 weight shards drawn from
a normal distribution, which compress about 1.08:1 as trained weights do, plus small
compressible config and vocabulary files, and a code folder), then times:
  - sha256 over the files (hashlib, one file after another, 1 MiB reads): the floor;
  - weights.tree_of(), what `compression: none` does first (an empty digest cache), with its
    default hashing threads and with one;
  - the SDK's way: tarfile.open(mode="w:gz"), compresslevel 9, one tar.add per top-level item;
  - artifacts.package(), first run (empty cache), with ISA-L (the default) and with zlib
    (the fallback, and the compressor before ISA-L), all cores; ISA-L with one worker; and a
    re-package served by the digest cache.
The hashing runs are interleaved `--repeats` times and their medians kept; the rest run once.
Files stay in the page cache unless `--evict-page-cache` drops them before every run
(posix_fadvise on these files only, so nothing else on the machine is touched).
Bars (issue 13): tree_of ≤ 1.2 × sha256 (with one thread too: no cost per byte beyond the
hash), and package() ≥ 10 × faster than the SDK. Prints a table and the bars with PASS/FAIL,
writes JSON, and exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import numpy as np

from deployspec import artifacts_gzip, weights
from deployspec.artifacts import (
    DEFAULT_LEVEL,
    ArtifactSource,
    Layout,
    list_entries,
    package,
    verify_archive,
)

MB = 1_000_000
BLOCK_FLOATS = 16 << 20  # 64 MiB of float32 per generated block
HASH_READ = 1 << 20
HASH_BAR = 1.2
SPEEDUP_BAR = 10.0
T = TypeVar("T")


@dataclass
class Run:
    name: str
    seconds: float
    mb_per_s: float
    output_bytes: int | None
    times_sha256: float  # this run's time over sha256's
    speedup_vs_sdk: float | None


@dataclass
class Bar:
    what: str
    measured: float
    limit: float
    passed: bool


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


def sha256_files(paths: list[Path]) -> list[str]:
    """The floor: each file hashed once, in turn, with no bookkeeping at all."""
    digests = []
    buffer = bytearray(HASH_READ)
    view = memoryview(buffer)
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as handle:
            while count := handle.readinto(view):
                digest.update(view[:count])
        digests.append(digest.hexdigest())
    return digests


def sdk_way(model: Path, code: Path, out: Path) -> int:
    """What the SageMaker Python SDK does: tarfile "w:gz" at its default level 9."""
    with tarfile.open(out, mode="w:gz") as tar:
        for item in sorted(model.iterdir()):
            tar.add(item, arcname=item.name)
        tar.add(code, arcname="code")
    return out.stat().st_size


def evict(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache, so the next run reads the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(paths: list[Path]) -> None:
    sha256_files(paths)


@contextmanager
def patched(module: object, name: str, value: object) -> Iterator[None]:
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def isal_version() -> str | None:
    try:
        return metadata.version("isal")
    except metadata.PackageNotFoundError:
        return None


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3, help="of the hashing runs (medians)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/packaging.json"))
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where to generate the data")
    parser.add_argument("--level", type=int, default=DEFAULT_LEVEL)
    parser.add_argument("--evict-page-cache", action="store_true", help="read from disk")
    parser.add_argument("--no-verify", action="store_true", help="skip reading the output back")
    args = parser.parse_args()
    if not artifacts_gzip.ISAL_AVAILABLE:
        print("python-isal is not installed: package() runs on zlib", file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="deployspec-bench-", dir=args.tmp_dir))
    try:
        print(f"generating {args.size_gib:g} GiB of model-like data in {work} ...", flush=True)
        model, code, total = generate(work / "data", int(args.size_gib * (1 << 30)))
        source = ArtifactSource(Layout.FLAT, model, code / "inference.py", code)
        files = [path for name, path in list_entries(source) if not name.endswith("/")]
        load_before = os.getloadavg()[0]
        caches = itertools.count()

        def before_run() -> None:
            (evict if args.evict_page_cache else warm)(files)

        def tree_of(threads: int | None = None) -> weights.WeightsTree:
            count = weights._HASH_WORKERS if threads is None else threads
            with patched(weights, "_HASH_WORKERS", count):
                return weights.tree_of(source, work / f"weights-cache-{next(caches)}")

        print("timing hashing (interleaved) ...", flush=True)
        hashing: dict[str, list[float]] = {}
        hash_runs: list[tuple[str, Callable[[], object]]] = [
            ("sha256 over the files (1 thread)", lambda: sha256_files(files)),
            (f"tree_of, first run ({weights._HASH_WORKERS} threads)", tree_of),
            ("tree_of, first run (1 thread)", lambda: tree_of(1)),
        ]
        expected = sorted(sha256_files(files))
        for _ in range(args.repeats):
            for name, action in hash_runs:
                before_run()
                seconds, value = timed(action)
                # Same bytes read, same digests: the comparison is of like with like.
                if isinstance(value, weights.WeightsTree) and expected != sorted(
                    f.sha256 for f in value.files
                ):
                    raise SystemExit(f"{name}: digests differ from sha256's")
                hashing.setdefault(name, []).append(seconds)
        sha_seconds = statistics.median(hashing[hash_runs[0][0]])

        print("timing packaging ...", flush=True)
        packing: list[tuple[str, float, int | None]] = []
        before_run()
        seconds, sdk_size = timed(lambda: sdk_way(model, code, work / "sdk.tar.gz"))
        (work / "sdk.tar.gz").unlink()
        packing.append(("SDK tarfile w:gz level 9", seconds, sdk_size))
        print(f"  SDK: {seconds:.2f} s", flush=True)

        def pack(
            compressor: artifacts_gzip.Compressor, cache: str, workers: int | None = None
        ) -> tuple[float, str, Path]:
            before_run()
            with patched(artifacts_gzip, "DEFAULT_COMPRESSOR", compressor):
                seconds, result = timed(
                    lambda: package(source, work / cache, level=args.level, workers=workers)
                )
            label = "all cores" if workers is None else f"{workers} worker"
            packing.append(
                (f"package() {compressor}, level {args.level}, {label}", seconds, result.size)
            )
            print(f"  {packing[-1][0]}: {seconds:.2f} s", flush=True)
            return seconds, result.sha256, result.path

        if artifacts_gzip.ISAL_AVAILABLE:
            fast_seconds, fast_sha, fast_path = pack("isal", "cache-isal")
            single_sha, single_path = pack("isal", "cache-isal-1", workers=1)[1:]
            # The digest names the uncompressed stream: the bytes are compared on their own.
            if single_sha != fast_sha or not filecmp.cmp(single_path, fast_path, shallow=False):
                raise SystemExit("1-worker output differs from the all-cores output")
        zlib_seconds, zlib_sha, zlib_path = pack("zlib", "cache-zlib")
        if not artifacts_gzip.ISAL_AVAILABLE:
            fast_seconds, fast_sha, fast_path = zlib_seconds, zlib_sha, zlib_path
        if zlib_sha != fast_sha:
            raise SystemExit("ISA-L and zlib archives have different digests")
        hit_seconds, again = timed(lambda: package(source, work / "cache-isal", level=args.level))
        if not again.cached or again.sha256 != fast_sha:
            raise SystemExit("re-package missed the cache")
        if not args.no_verify:
            verify(fast_path, model, code)
            # Each compressor's archive decompresses to the stream its digest names.
            verify_archive(fast_path, fast_sha)
            verify_archive(zlib_path, fast_sha)

        sdk_seconds = packing[0][1]
        runs = [
            Run(
                name,
                statistics.median(times),
                total / MB / statistics.median(times),
                None,
                statistics.median(times) / sha_seconds,
                None,
            )
            for name, times in hashing.items()
        ]
        runs += [
            Run(
                name,
                seconds,
                total / MB / seconds,
                size,
                seconds / sha_seconds,
                sdk_seconds / seconds,
            )
            for name, seconds, size in packing
        ]
        bars = [
            Bar(f"{run.name}: × sha256", run.times_sha256, HASH_BAR, run.times_sha256 <= HASH_BAR)
            for run in runs[1:3]
        ]
        speedup = sdk_seconds / fast_seconds
        bars.append(
            Bar(
                f"package() vs the SDK ({'isal' if artifacts_gzip.ISAL_AVAILABLE else 'zlib'}"
                ", all cores): speed-up",
                speedup,
                SPEEDUP_BAR,
                speedup >= SPEEDUP_BAR,
            )
        )

        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print()
        print(
            f"input: {total / MB:,.0f} MB in {len(files)} files; {cpus} CPUs; page cache "
            f"{'evicted before each run' if args.evict_page_cache else 'warm'}; hashing: median "
            f"of {args.repeats}"
        )
        print(
            f"{'run':<44} {'seconds':>8} {'MB/s':>6} {'output MB':>10} {'× sha256':>9} "
            f"{'vs SDK':>7}"
        )
        for run in runs:
            output = "" if run.output_bytes is None else f"{run.output_bytes / MB:.1f}"
            versus = "" if run.speedup_vs_sdk is None else f"{run.speedup_vs_sdk:.1f}x"
            print(
                f"{run.name:<44} {run.seconds:>8.3f} {run.mb_per_s:>6.0f} {output:>10} "
                f"{run.times_sha256:>9.2f} {versus:>7}"
            )
        print(f"{'package() again (cache hit: stat calls only)':<44} {hit_seconds:>8.4f}")
        print()
        for bar in bars:
            sign = "≤" if bar.limit == HASH_BAR else "≥"
            verdict = "PASS" if bar.passed else "FAIL"
            print(f"{verdict}  {bar.what} {bar.measured:.2f} (bar {sign} {bar.limit:g})")
        result = {
            "input_bytes": total,
            "size_gib": args.size_gib,
            "cpus": cpus,
            "page_cache": "evicted" if args.evict_page_cache else "warm",
            "repeats": args.repeats,
            # Other work on the machine slows every run; the ratios are the comparable part.
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "python": sys.version.split()[0],
            "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "isal": isal_version(),
            "platform": platform.platform(),
            "sha256": fast_sha,  # of the uncompressed tar stream
            "hashing_seconds": hashing,
            "cache_hit_seconds": hit_seconds,
            "runs": [asdict(run) for run in runs],
            "bars": [asdict(bar) for bar in bars],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(bar.passed for bar in bars) else 1


if __name__ == "__main__":
    raise SystemExit(main())
