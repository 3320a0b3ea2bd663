"""Train the tiny PyTorch model this example deploys and save it as TorchScript `model/model.pth`.

A two-layer MLP that learns whether a 2-D point lies inside the unit circle, from synthetic
points generated here (seeded, so no download and the same data on every run). TorchScript
keeps the deployment free of model code: inference.py loads the file with `torch.jit.load` and
needs no class definition.

Needs PyTorch; without it, this explains how to install it and exits 1. Pin the CPU build
(`pip install torch==2.13.0`): an unpinned `torch` pulls a multi-gigabyte CUDA build.

Usage: python train.py [--out DIR] [--steps N]   (default: the model/ folder beside this file)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "model"
MODEL_FILE = "model.pth"
SEED = 0
N_POINTS = 2048
HIDDEN = 16
# Points in [-1.5, 1.5]^2: the unit circle covers about a third of the square, so both
# classes are well represented.
EXTENT = 1.5

MISSING_TORCH = """\
train.py needs PyTorch, which is not installed in this Python ({python}).
Install the CPU build and run this script again:
    pip install torch==2.13.0
(pin the version: an unpinned `torch` pulls a CUDA build of several gigabytes)"""


def make_data(torch: Any, n: int, generator: Any) -> tuple[Any, Any]:
    points = (torch.rand(n, 2, generator=generator) * 2 - 1) * EXTENT
    inside = (points.pow(2).sum(dim=1) < 1.0).long()
    return points, inside


def train(torch: Any, steps: int) -> tuple[Any, float]:
    """Fit the MLP; return it scripted, with its accuracy on fresh held-out points."""
    generator = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    x_train, y_train = make_data(torch, N_POINTS, generator)
    x_test, y_test = make_data(torch, N_POINTS // 4, generator)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 2),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x_train), y_train)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(dim=1) == y_test).float().mean())
    return torch.jit.script(model), accuracy


def save(torch: Any, scripted: Any, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / MODEL_FILE
    # Write then rename, so a crash never leaves a truncated model for the packager to ship.
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{MODEL_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.jit.save(scripted, tmp_name)
        # mkstemp makes the file private; the serving container may read it as another user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder to write {MODEL_FILE} into (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--steps", type=int, default=300, help="full-batch Adam steps")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(MISSING_TORCH.format(python=sys.executable), file=sys.stderr)
        return 1
    scripted, accuracy = train(torch, args.steps)
    target = save(torch, scripted, args.out)
    print(f"wrote {target} (held-out accuracy {accuracy:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
