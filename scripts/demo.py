"""`make demo`: the whole deployspec cycle against the local sandbox, no AWS account needed.

validate → plan → apply → plan (no changes) → a change through --var → plan → apply →
invoke (a real prediction) → destroy. The demo runs its own private sandbox (DEPLOYSPEC_HOME in
a temporary folder, a free port), so it never deploys into, or stops, a sandbox that you or
another checkout run; it stops it at the end, leaving no process behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sklearn-iris"
# Relative to ROOT, where every command runs: the output reads as a user would type it.
SPEC = "examples/sklearn-iris/deployment.yaml"
RESNET = "examples/tensorflow-resnet50/deployment.yaml"


# Set by main(): the private sandbox's home, for every command the demo runs.
_HOME: dict[str, str] = {}


def run(*args: str, check: bool = True, codes: tuple[int, ...] = (0,)) -> int:
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"\n$ deployspec {shown}", flush=True)
    env = {**os.environ, "NO_COLOR": os.environ.get("NO_COLOR", ""), **_HOME}
    result = subprocess.run(
        [sys.executable, "-m", "deployspec", *args], env=env, cwd=ROOT, check=False
    )
    if check and result.returncode not in codes:
        raise SystemExit(f"demo failed: `deployspec {shown}` exited {result.returncode}")
    return result.returncode


def main() -> None:
    print("# Training the example's tiny scikit-learn model (examples/sklearn-iris/train.py)")
    subprocess.run([sys.executable, str(EXAMPLE / "train.py")], check=True)
    for script in ("examples/pytorch-serverless/train.py",):
        # PyTorch is optional: the example validates once its model exists.
        subprocess.run(
            [sys.executable, str(ROOT / script)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    run("validate", SPEC, str(ROOT / "examples/tensorflow-resnet50/deployment.yaml"))
    run(
        "validate",
        str(ROOT / "examples/tensorflow-resnet50/deployment.yaml"),
        "--var",
        "stage=prod",
    )

    home = tempfile.mkdtemp(prefix="deployspec-demo-")
    _HOME["DEPLOYSPEC_HOME"] = home
    print(f"\n# A private sandbox for this demo: DEPLOYSPEC_HOME={home}, any free port")
    try:
        run("sandbox", "start", "--port", "0")
        run("plan", SPEC, "--sandbox", "--detailed-exitcode", codes=(2,))
        run("apply", SPEC, "--sandbox", "--auto-approve")
        run("plan", SPEC, "--sandbox", "--detailed-exitcode")
        run("plan", SPEC, "--sandbox", "--var", "memory_mb=3072")
        run("apply", SPEC, "--sandbox", "--var", "memory_mb=3072", "--auto-approve")
        run("status", SPEC, "--sandbox", "--var", "memory_mb=3072")
        run("invoke", SPEC, "--sandbox", "--body", "@examples/sklearn-iris/input.json")
        run("destroy", SPEC, "--sandbox", "--auto-approve")
    finally:
        run("sandbox", "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)
    print("\nDemo complete: deployed, updated in place, invoked for a real prediction, destroyed.")


if __name__ == "__main__":
    main()
