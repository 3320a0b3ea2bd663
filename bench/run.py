"""`make bench`: every benchmark in one run (CLI start-up and no-op cycles, 100 specs at once,
endpoint shapes, inference components, uncompressed weights deployed, then packaging and
hashing).

    python bench/run.py [--size-gib 1]

Results go to bench/results/*.json; bench/README.md records the figures of a reference run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=1.0)
    args = parser.parse_args()
    subprocess.run([sys.executable, str(HERE / "bench_cli.py")], check=True)
    subprocess.run([sys.executable, str(HERE / "bench_many.py")], check=True)
    subprocess.run([sys.executable, str(HERE / "bench_shapes.py")], check=True)
    subprocess.run([sys.executable, str(HERE / "bench_components.py")], check=True)
    subprocess.run(
        [sys.executable, str(HERE / "bench_weights.py"), "--size-gib", str(args.size_gib)],
        check=True,
    )
    subprocess.run(
        [sys.executable, str(HERE / "bench_packaging.py"), "--size-gib", str(args.size_gib)],
        check=True,
    )


if __name__ == "__main__":
    main()
