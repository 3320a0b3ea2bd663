"""Start, find, stop and steer the local sandbox server from another process.

Contract: the sandbox lives in `<home>/sandbox/` (home: $DEPLOYSPEC_HOME or ~/.deployspec):
`sandbox.json` describes the running server, `sandbox.log` holds its output, `models/` its
unpacked artifacts. `start` spawns `python -m deployspec.sandbox.server` detached (own session,
so it outlives the caller and its model workers share its process group), waits until it
answers, and returns `(info, started_now)`; a second start returns the running one. `status`
returns None when nothing runs (a stale state file is removed). `stop` asks the server to stop,
waits, then kills whatever is left of its process group. `FaultClient` drives the control API:
faults (failed creates and updates, refused updates, rollback alarms, throttling, S3 writes
failing after a count), the transition delay, the calls received (with the bytes each sent),
the shadow variants' answers, and reset.

A sandbox is private to what started it: the server records the state folder it serves and
the deployspec installation it runs (`state_dir`, `package_root`), and start, status and stop
use a sandbox only when both are this home's and this installation's. One started from another
checkout or virtualenv into the same home is `ForeignSandboxError`, never used, stopped or
replaced; one that answers for another home (a stale state file whose port was reused) is not
this home's sandbox at all. Give each checkout, CI job or script its own DEPLOYSPEC_HOME (and
port) to run sandboxes side by side.
Errors are `SandboxError`s. This module imports neither moto nor boto3.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployspec.errors import SandboxError

DEFAULT_PORT = 5577
# Real transitions take minutes; a delay beyond an hour would leave endpoints stuck (the
# server refuses more too).
MAX_TRANSITION_SECONDS = 3600.0
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
    state_dir: str = ""
    """The state folder the server was started for (resolved)."""
    package_root: str = ""
    """The folder holding the deployspec package the server runs (a checkout, site-packages)."""


class ForeignSandboxError(SandboxError):
    """The home's sandbox was started by another deployspec installation: not ours to use."""


def sandbox_home() -> Path:
    return Path(os.environ.get("DEPLOYSPEC_HOME") or Path.home() / ".deployspec")


def _state_dir(home: Path | None) -> Path:
    return (home or sandbox_home()) / "sandbox"


def package_root() -> Path:
    """The folder that holds this deployspec package; a sandbox records the one it runs."""
    return Path(__file__).resolve().parents[2]


def start(
    port: int | None = None,
    *,
    transition_seconds: float = 1.0,
    home: Path | None = None,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[SandboxInfo, bool]:
    """Start this home's sandbox, or return the one running; `port` 0 picks a free port."""
    if not math.isfinite(transition_seconds) or not (
        0 <= transition_seconds <= MAX_TRANSITION_SECONDS
    ):
        raise SandboxError(
            f"transition seconds must be from 0 to {MAX_TRANSITION_SECONDS:g}, "
            f"not {transition_seconds!r}"
        )
    state = _state_dir(home)
    state.mkdir(parents=True, exist_ok=True)
    with _exclusive(state / "start.lock"):
        running = status(home)
        if running is not None:
            return running, False
        (state / STATE_FILE).unlink(missing_ok=True)
        port = DEFAULT_PORT if port is None else port
        _check_port(port)
        command = [
            sys.executable,
            "-m",
            _SERVER_MODULE,
            "--port",
            str(port),
            "--state-dir",
            str(state.resolve()),
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
            if info is not None and info.pid == process.pid and _answers_for(info, state):
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
    """This home's running sandbox; None when none runs. Raises ForeignSandboxError when the
    one running there was started by another deployspec installation."""
    state = _state_dir(home)
    info = _read_state(state)
    if info is None:
        return None
    if not _alive(info.pid):
        (state / STATE_FILE).unlink(missing_ok=True)
        return None
    if not (_answers_for(info, state) or _is_sandbox_process(info.pid, state)):
        # The pid or the port now belongs to something else: what the file describes is gone.
        (state / STATE_FILE).unlink(missing_ok=True)
        return None
    # It is this home's server (answering, or alive but not answering: reported all the same,
    # so that stop() can still end it); whether it is this installation's is the last question.
    if info.package_root != str(package_root()):
        started_by = info.package_root or "an older deployspec"
        raise ForeignSandboxError(
            f"the sandbox in {state} (pid {info.pid}, {info.endpoint_url}) was started by "
            f"another deployspec installation ({started_by}); this one ({package_root()}) "
            "does not use, stop or replace it",
            hint="give this checkout its own sandbox: export DEPLOYSPEC_HOME=<a folder of its "
            "own> and `deployspec sandbox start --port 0`; or stop that one with "
            f"`deployspec sandbox stop` from {started_by}",
        )
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
    while (_alive(pid) or _group_alive(pid)) and clock() < deadline:
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

    def refuse_next_update(self, endpoint: str, reason: str) -> None:
        """The next UpdateEndpoint of `endpoint` is refused at once (ResourceLimitExceeded)."""
        body = {"type": "refuse_next_update", "endpoint": endpoint, "reason": reason}
        self._call("POST", "/faults", body)

    def alarm_during_next_update(self, alarm: str) -> None:
        """CloudWatch alarm `alarm` trips during the next update of any endpoint whose
        DeploymentConfig's AutoRollbackConfiguration lists it: the update is rolled back. The
        alarm need not exist in the sandbox's CloudWatch (when it does, its state follows)."""
        self._call("POST", "/faults", {"type": "alarm", "alarm": alarm})

    def shadow_records(self, endpoint: str) -> list[dict[str, Any]]:
        """The shadow variants' latest answers to copies of `endpoint`'s invocations, oldest
        first: {"variant", "production_variant", "status", "content_type", "body" (capped)}."""
        query = urllib.parse.urlencode({"endpoint": endpoint})
        found = self._call("GET", f"/shadow?{query}").get("records", [])
        return [dict(r) for r in found if isinstance(r, dict)]

    def throttle(self, fraction: float, service: str | None = None) -> None:
        self._call(
            "POST", "/faults", {"type": "throttle", "fraction": fraction, "service": service}
        )

    def fail_s3_after(self, count: int, code: str = "InternalError") -> None:
        """After the next `count` S3 writes, every S3 write fails with `code` (ExpiredToken,
        AccessDenied, InternalError or SlowDown, answered as S3 does) until `clear()`: an
        upload cut off after `count` requests. botocore retries InternalError and SlowDown
        (each failed write is then several calls); ExpiredToken and AccessDenied it does not."""
        self._call("POST", "/faults", {"type": "fail_s3_after", "count": count, "code": code})

    def set_transition_seconds(self, seconds: float) -> None:
        self._call("POST", "/config", {"transition_seconds": seconds})

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def clear(self) -> None:
        self._call("DELETE", "/faults")

    def calls(self) -> list[dict[str, Any]]:
        """The AWS calls the sandbox received, oldest first: {"service", "operation" (S3's
        by their API names too: PutObject, UploadPart, CopyObject, ...), "path", "bytes" (the
        request's payload)}."""
        found = self._call("GET", "/calls").get("calls", [])
        return [dict(c) for c in found if isinstance(c, dict)]

    def sent_bytes(self, service: str, *operations: str) -> int:
        """The payload bytes of the calls received to `service`'s `operations` (all of them
        when none is named): what a command sent, counted from the server's side."""
        return sum(
            int(c.get("bytes") or 0)
            for c in self.calls()
            if c.get("service") == service and (not operations or c.get("operation") in operations)
        )

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


def _answers_for(info: SandboxInfo, state: Path) -> bool:
    """Whether the server at info's address is the one info describes, serving `state`."""
    health = _health(info)
    return (
        health is not None
        and health.get("pid") == info.pid
        and health.get("state_dir") == str(state.resolve())
    )


def _check_port(port: int) -> None:
    if port == 0:
        return
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise SandboxError(
                f"cannot start the sandbox on port {port}: {error.strerror or error} "
                "(another sandbox, or another program, listens there)",
                hint="pick another with --port, or --port 0 for any free one",
            ) from None


def _read_state(state: Path) -> SandboxInfo | None:
    try:
        raw = json.loads((state / STATE_FILE).read_text())
        return SandboxInfo(
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            endpoint_url=str(raw["endpoint_url"]),
            region=str(raw["region"]),
            started_at=float(raw["started_at"]),
            state_dir=str(raw.get("state_dir", "")),
            package_root=str(raw.get("package_root", "")),
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


def _is_sandbox_process(pid: int, state: Path) -> bool:
    """Whether `pid` is a sandbox server started for `state` (its command line says so)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc to tell: assume it is ours rather than orphan a server
    if _SERVER_MODULE.encode() not in arguments:
        return False
    try:
        given = arguments[arguments.index(b"--state-dir") + 1].decode()
    except (ValueError, IndexError, UnicodeDecodeError):
        return False
    return Path(given).resolve() == state.resolve()


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies, dead but unreaped, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


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
