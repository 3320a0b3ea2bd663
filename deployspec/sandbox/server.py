"""The sandbox server process: `python -m deployspec.sandbox.server --port N --state-dir DIR`.

Contract: serves moto (S3, SageMaker, SageMaker runtime, application-autoscaling, STS, IAM and
the rest, routed by service) with the deployspec extensions, throttling and control API, on
127.0.0.1 only, threaded, keeping HTTP/1.1 connections open (keepalive.py). Once listening it
writes `<state-dir>/sandbox.json` (pid, port, endpoint_url, region, started_at, and whose it is:
state_dir, package_root) atomically; `deployspec.sandbox.control` waits for that file, and
GET /_sandbox/health answers the same.
Model artifacts are unpacked under `<state-dir>/models/`. SIGTERM or SIGINT stop it cleanly:
model workers are closed, then the state file is removed. Port 0 picks a free port.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

import deployspec
from deployspec.sandbox import sagemaker_ext
from deployspec.sandbox.app import build_app
from deployspec.sandbox.hosting import MAX_IDLE_WORKERS, ModelHost
from deployspec.sandbox.keepalive import KeepAliveHandler

HOST = "127.0.0.1"
STATE_FILE = "sandbox.json"
MODELS_DIR = "models"

log = logging.getLogger("deployspec.sandbox")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deployspec.sandbox.server")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--transition-seconds", type=_transition_seconds, default=1.0)
    parser.add_argument("--region", default="us-east-1")
    return parser.parse_args(argv)


def _transition_seconds(text: str) -> float:
    seconds = float(text)
    if not math.isfinite(seconds) or not 0 <= seconds <= sagemaker_ext.MAX_TRANSITION_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {sagemaker_ext.MAX_TRANSITION_SECONDS:g}, not {text}"
        )
    return seconds


def write_state(path: Path, info: dict[str, object]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)


def _max_idle_workers() -> int:
    value = os.environ.get("DEPLOYSPEC_SANDBOX_MAX_WORKERS", "")
    return int(value) if value.isdigit() and int(value) > 0 else MAX_IDLE_WORKERS


def serve(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    models = state_dir / MODELS_DIR
    shutil.rmtree(models, ignore_errors=True)  # moto's state is in memory: old unpacks are stale

    host = ModelHost(models, max_idle_workers=_max_idle_workers())
    info: dict[str, object] = {
        "pid": os.getpid(),
        "region": args.region,
        # Whose sandbox this is: control.status() uses only its own home's and installation's.
        "state_dir": str(state_dir),
        "package_root": str(Path(deployspec.__file__).resolve().parents[1]),
    }
    app = build_app(info, host)
    sagemaker_ext.set_transition_seconds(args.transition_seconds)
    server = make_server(HOST, args.port, app, threaded=True, request_handler=KeepAliveHandler)
    port = server.server_port
    info.update(port=port, endpoint_url=f"http://{HOST}:{port}", started_at=time.time())

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it cannot run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    state_file = state_dir / STATE_FILE
    write_state(state_file, info)
    log.info("sandbox listening on %s (pid %s)", info["endpoint_url"], info["pid"])
    try:
        server.serve_forever()
    finally:
        server.server_close()
        host.close()
        try:
            current = json.loads(state_file.read_text())
        except (OSError, ValueError):
            current = None
        if isinstance(current, dict) and current.get("pid") == os.getpid():
            state_file.unlink(missing_ok=True)
        log.info("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(serve())
