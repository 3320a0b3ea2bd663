"""The seed article's deployment end to end, offline: export, deploy, classify, destroy.

On a temporary copy of this example (the committed stand-in in 00002/ stays as it is):
export ResNet50 with export_model.py (`--weights none` by default: an untrained network, no
download), deploy it with `deployspec apply` to a private local sandbox (its own
DEPLOYSPEC_HOME in a temporary folder and a free port, never a sandbox you run), classify
input.json and the same image sent raw as image/png with `deployspec invoke`, destroy the
endpoint and stop the sandbox. The sandbox serves the SavedModel with TensorFlow behind TF
Serving's REST API and runs inference.py's input_handler and output_handler, as the
SageMaker TensorFlow Serving container does.

Needs deployspec with its `tensorflow` extra in this Python (pip install 'deployspec[tensorflow]';
`make test` installs it into .venv). `--weights imagenet` downloads the trained weights (about
100 MB) and real ImageNet labels instead.

Usage: python examples/tensorflow-resnet50/run_offline.py [--weights none|imagenet]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

MISSING_TF = """\
run_offline.py needs TensorFlow in this Python ({python}) to export and serve the model.
Install deployspec's extra: pip install 'deployspec[tensorflow]' (or run `make test` once and use
.venv/bin/python)."""


def run(env: dict[str, str], *args: str, check: bool = True) -> int:
    print(f"\n$ {' '.join(args)}", flush=True)
    result = subprocess.run(list(args), env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"run_offline: `{' '.join(args)}` exited {result.returncode}")
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--weights", choices=["none", "imagenet"], default="none")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("tensorflow") is None:
        print(MISSING_TF.format(python=sys.executable), file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="deployspec-resnet50-"))
    example = work / "tensorflow-resnet50"
    shutil.copytree(HERE, example, ignore=shutil.ignore_patterns("__pycache__"))
    # The packaged model (about 100 MB, new with every export) is cached in the copy too.
    env = {
        **os.environ,
        "DEPLOYSPEC_HOME": str(work / "home"),
        "DEPLOYSPEC_CACHE_DIR": str(work / "cache"),
    }
    spec = str(example / "deployment.yaml")
    deployspec = [sys.executable, "-m", "deployspec"]
    image = example / "input.png"
    body = json.loads((example / "input.json").read_text())
    image.write_bytes(base64.b64decode(body["instances"][0]["b64"]))
    print(f"# A copy of the example in {example}; a private sandbox in {work / 'home'}")
    try:
        run(env, sys.executable, str(example / "export_model.py"), "--weights", args.weights)
        run(env, *deployspec, "sandbox", "start", "--port", "0")
        run(env, *deployspec, "apply", spec, "--sandbox", "--auto-approve")
        run(env, *deployspec, "invoke", spec, "--sandbox", "--body", f"@{example / 'input.json'}")
        run(
            env,
            *deployspec,
            "invoke",
            spec,
            "--sandbox",
            "--content-type",
            "image/png",
            "--body",
            f"@{image}",
        )
        run(env, *deployspec, "destroy", spec, "--sandbox", "--auto-approve")
    finally:
        run(env, *deployspec, "sandbox", "stop", check=False)
        shutil.rmtree(work, ignore_errors=True)
    print("\nDone: ResNet50 exported, deployed, asked for its top five classes, destroyed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
