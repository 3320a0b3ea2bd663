"""Start, find, stop and steer the local sandbox server from another process.

Contract: the sandbox lives in `<home>/sandbox/` (home: $DEPLOYSPEC_HOME or ~/.deployspec):
`sandbox.json` describes the running server, `sandbox.log` holds its output, `models/` its
unpacked artifacts. `start` spawns `python -m deployspec.sandbox.server` detached (own session,
so it outlives the caller and its model workers share its process group), waits until it
answers, and returns `(info, started_now)`; a second start returns the running one. `status`
returns None when nothing runs (a stale state file is removed). `stop` asks the server to stop,
waits, then kills whatever is left of its process group. `FaultClient` drives the control API.
Errors are `SandboxError`s. This module imports neither moto nor boto3.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployspec.errors import SandboxError

DEFAULT_PORT = 5577
DEFAULT_REGION = "us-east-1"
STATE_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
_SERVER_MODULE = "deployspec.sandbox.server"
_LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    port: int
    endpoint_url: str
    region: str
    started_at: float


def sandbox_home() -> Path:
    return Path(os.environ.get("DEPLOYSPEC_HOME") or Path.home() / ".deployspec")


def _state_dir(home: Path | None) -> Path:
    return (home or sandbox_home()) / "sandbox"


def start(
    port: int | None = None,
    *,
    transition_seconds: float = 1.0,
    home: Path | None = None,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[SandboxInfo, bool]:
    state = _state_dir(home)
    state.mkdir(parents=True, exist_ok=True)
    with _exclusive(state / "start.lock"):
        running = status(home)
        if running is not None:
            return running, False
        (state / STATE_FILE).unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            _SERVER_MODULE,
            "--port",
            str(DEFAULT_PORT if port is None else port),
            "--state-dir",
            str(state),
            "--transition-seconds",
            repr(float(transition_seconds)),
            "--region",
            DEFAULT_REGION,
        ]
        with open(state / LOG_FILE, "wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=_child_env(),
            )
        deadline = clock() + timeout
        while True:
            code = process.poll()
            if code is not None:
                raise SandboxError(
                    f"the sandbox server exited with code {code} while starting",
                    hint=_log_tail(state),
                )
            info = _read_state(state)
            if info is not None and info.pid == process.pid and _health(info) is not None:
                return info, True
            if clock() > deadline:
                _kill_group(process.pid)
                process.wait()
                raise SandboxError(
                    f"the sandbox server did not answer within {timeout:g} s",
                    hint=_log_tail(state),
                )
            sleep(0.05)


def status(home: Path | None = None) -> SandboxInfo | None:
    state = _state_dir(home)
    info = _read_state(state)
    if info is None:
        return None
    if not _alive(info.pid):
        (state / STATE_FILE).unlink(missing_ok=True)
        return None
    health = _health(info)
    if health is not None and health.get("pid") == info.pid:
        return info
    if not _is_sandbox_process(info.pid):
        (state / STATE_FILE).unlink(missing_ok=True)
        return None
    # Our server, alive but not answering: report it so that stop() can still end it.
    return info


def stop(
    home: Path | None = None,
    timeout: float = 10.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    state = _state_dir(home)
    info = status(home)
    if info is None:
        return False
    pid = info.pid
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        raise SandboxError(f"not allowed to stop the sandbox server (pid {pid})") from error
    deadline = clock() + timeout
    while _alive(pid) and clock() < deadline:
        sleep(0.05)
    # Model workers share the server's process group; nothing of it may outlive the stop.
    _kill_group(pid)
    deadline = clock() + min(timeout, 5.0)
    while _alive(pid) and clock() < deadline:
        sleep(0.05)
    if _alive(pid):
        raise SandboxError(f"the sandbox server (pid {pid}) did not stop")
    (state / STATE_FILE).unlink(missing_ok=True)
    return True


def environment(info: SandboxInfo) -> dict[str, str]:
    """Variables that point boto3, the AWS CLI and deployspec at the sandbox."""
    return {
        "AWS_ENDPOINT_URL": info.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": info.region,
        "AWS_REGION": info.region,
    }


class FaultClient:
    """Arms failures in a running sandbox through its control API."""

    def __init__(self, info: SandboxInfo) -> None:
        self._base = info.endpoint_url.rstrip("/") + "/_sandbox"

    def fail_next_create(self, endpoint: str, reason: str) -> None:
        self._call(
            "POST",
            "/faults",
            {"type": "fail_next_create", "endpoint": endpoint, "reason": reason},
        )

    def fail_next_update(self, endpoint: str, reason: str, *, rollback: bool = True) -> None:
        body = {"type": "fail_next_update", "endpoint": endpoint, "reason": reason}
        self._call("POST", "/faults", {**body, "rollback": rollback})

    def throttle(self, fraction: float, service: str | None = None) -> None:
        self._call(
            "POST", "/faults", {"type": "throttle", "fraction": fraction, "service": service}
        )

    def set_transition_seconds(self, seconds: float) -> None:
        self._call("POST", "/config", {"transition_seconds": seconds})

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def clear(self) -> None:
        self._call("DELETE", "/faults")

    def calls(self) -> list[dict[str, str]]:
        """The AWS calls the sandbox received, oldest first: {"service", "operation"}."""
        found = self._call("GET", "/calls").get("calls", [])
        return [dict(c) for c in found if isinstance(c, dict)]

    def clear_calls(self) -> None:
        self._call("DELETE", "/calls")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return _request(self._base + path, method, body, timeout=30.0)


def _request(
    url: str, method: str, body: dict[str, Any] | None, *, timeout: float
) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail)["error"]
        raise SandboxError(f"sandbox control API {method} {url}: {detail}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise SandboxError(
            f"cannot reach the sandbox at {url}: {error}",
            hint="is it running? see `deployspec sandbox status`",
        ) from error
    if not isinstance(payload, dict):
        raise SandboxError(f"sandbox control API {method} {url} answered {payload!r}")
    return payload


def _health(info: SandboxInfo) -> dict[str, Any] | None:
    try:
        return _request(f"{info.endpoint_url}/_sandbox/health", "GET", None, timeout=2.0)
    except SandboxError:
        return None


def _read_state(state: Path) -> SandboxInfo | None:
    try:
        raw = json.loads((state / STATE_FILE).read_text())
        return SandboxInfo(
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            endpoint_url=str(raw["endpoint_url"]),
            region=str(raw["region"]),
            started_at=float(raw["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    # A child of this very process stays a zombie (and "alive" to kill(0)) until reaped.
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_sandbox_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to tell: assume it is ours rather than orphan a server
    return _SERVER_MODULE.encode() in cmdline


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _log_tail(state: Path) -> str:
    try:
        lines = (state / LOG_FILE).read_text(errors="replace").splitlines()
    except OSError:
        return f"no log at {state / LOG_FILE}"
    tail = "\n".join(lines[-_LOG_TAIL_LINES:])
    return f"last lines of {state / LOG_FILE}:\n{tail}"


def _child_env() -> dict[str, str]:
    # Model code runs inside the sandbox: it must never find the user's real AWS credentials,
    # and any boto3 it uses talks to the sandbox itself.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("BOTO_CONFIG", "BOTOCORE_CONFIG")
    }
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env["PYTHONUNBUFFERED"] = "1"
    # The server must import this very deployspec, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
