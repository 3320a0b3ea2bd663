"""Shared fixtures: spec files written into a temporary project folder."""

from __future__ import annotations

import atexit
import io
import json
import locale
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

REPO = Path(__file__).resolve().parent.parent
# $DEPLOYSPEC_POLL_SECONDS for every CLI the tests run: the applier's first wait between reads.
SANDBOX_POLL_SECONDS = "0.1"

VALID_SKLEARN = """\
name: iris
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: sklearn
  version: "1.2-1"
  artifacts: ./model
  entry_point: inference.py
serverless:
  memory_mb: 2048
  max_concurrency: 5
"""


# The slowest files (each a sandbox and many CLI runs), longest first. `make test` runs two
# xdist workers with --dist loadfile, which hands out files in collection order: starting the
# long ones first keeps one worker from being left with a long file at the end while the other
# idles (longest-first scheduling). Rough seconds per file on the 2-core CI machine; keep the
# order about right when a file grows.
SLOWEST_FIRST = (
    "test_e2e.py",  # ~210
    "test_ownership.py",  # ~105
    "test_llm_e2e.py",  # ~90
    "test_drift_e2e.py",  # ~80
    "test_ecosystem.py",  # ~70
    "test_tensorflow_serving.py",  # ~70
    "test_shapes_e2e.py",  # ~55
    "test_shapes_e2e_more.py",  # ~55
    "test_lifecycle.py",  # ~50
    "test_multi_e2e.py",
    "test_import_e2e.py",
    "test_sandbox_e2e.py",
    "test_weights_e2e.py",
    "test_weights_proofs_e2e.py",
    "test_components_e2e.py",
    "test_local_stream.py",
    "test_sandbox_components.py",
    "test_sandbox_server.py",
    "test_render.py",
    "test_registry_e2e.py",
    "test_unsupported_shapes.py",
    "test_import.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def private_home_and_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each pytest process (every xdist worker) gets its own DEPLOYSPEC_HOME and cache: a CLI
    run that its test does not point elsewhere never meets the user's ~/.deployspec or
    ~/.cache/deployspec, nor the sandbox or half-written cache entries of another worker."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPLOYSPEC_HOME", str(tmp_path_factory.mktemp("deployspec-home")))
        patch.setenv("DEPLOYSPEC_CACHE_DIR", str(tmp_path_factory.mktemp("deployspec-cache")))
        # The sandboxes' transitions take 0.2-0.3 s: an apply need not wait a second for each.
        patch.setenv("DEPLOYSPEC_POLL_SECONDS", SANDBOX_POLL_SECONDS)
        yield


@pytest.fixture(scope="session")
def trained_iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/sklearn-iris/train.py's model, trained once per process (a few seconds of
    CPU each time): tests copy it, never change it."""
    out = tmp_path_factory.mktemp("iris-model") / "model"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "sklearn-iris" / "train.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding what VALID_SKLEARN points at."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"not really a model")
    (tmp_path / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    return tmp_path


@pytest.fixture
def write_spec(project: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "deployment.yaml") -> Path:
        path = project / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: a separate process, its exit code and both streams. The
    process is forked from this worker's fork server (`cli_forkserver`: imports already done)
    unless the run sets a variable the interpreter reads at start, or DEPLOYSPEC_TEST_SPAWN=1
    asks for plain subprocesses throughout."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    command = [sys.executable, "-m", "deployspec", *args]
    startup = {k: v for k, v in (env or {}).items() if k.startswith("PYTHON")}
    if os.environ.get("DEPLOYSPEC_TEST_SPAWN") == "1" or startup:
        return subprocess.run(
            command,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return _forkserver().run(command, cwd or Path.cwd(), full_env, timeout)


class _ForkServer:
    """The client side of `cli_forkserver`: one server per test worker, started on first use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="deployspec-fork-"))
        self.path = str(self.folder / "socket")
        self.log = open(self.folder / "server.log", "wb")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_forkserver.py")), self.path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=Path(__file__).parent.parent,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the CLI fork server did not start: see {self.folder}")

    def run(
        self, command: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.connect(self.path)
            request = {"args": command[3:], "cwd": str(cwd), "env": env}
            socket.send_fds(
                conn, [json.dumps(request).encode() + b"\n"], [out.fileno(), err.fileno()]
            )
            replies = conn.makefile("rb")
            conn.settimeout(timeout)
            pid = json.loads(replies.readline())["pid"]
            try:
                line = replies.readline()
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(command, timeout, _text(out), _text(err)) from None
            if not line:
                raise RuntimeError(f"the CLI fork server lost run {pid}: see {self.folder}")
            status = json.loads(line)["status"]
            return subprocess.CompletedProcess(
                command, os.waitstatus_to_exitcode(status), _text(out), _text(err)
            )

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _text(file: IO[bytes]) -> str:
    """What `subprocess.run(text=True)` makes of a stream: decoded, universal newlines."""
    file.seek(0)
    data = file.read().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


_server: _ForkServer | None = None


def _forkserver() -> _ForkServer:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = _ForkServer()
        atexit.register(_server.close)
    return _server


def sandbox_client(sandbox: dict[str, Any], service: str = "sagemaker") -> Any:
    """A boto3 client of a test's private sandbox (`sandbox["info"]`), as an independent
    client of the same AWS side the CLI uses."""
    # Any service by name: boto3-stubs' overloads take only literal names.
    make: Callable[..., Any] = boto3.client
    return make(
        service,
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# Run by start_cli's interpreter before the CLI's own: SIGINT back to its default disposition,
# then exec, so that the CLI starts as a terminal's foreground command does. Started by a
# non-interactive shell in the background (`make test &` in a CI script), the tests inherit
# SIGINT ignored, and Python installs its KeyboardInterrupt handler only where SIGINT is not
# ignored at startup: a CLI the tests started would never see the Ctrl-C they send it.
_DEFAULT_SIGINT_THEN_EXEC = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The CLI as a user starts it at a terminal, for a test that signals it while it runs
    (Ctrl-C is SIGINT): a separate process, both streams piped, SIGINT at its default
    whatever this process inherited. Its pid is the CLI's (the launcher execs it)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", _DEFAULT_SIGINT_THEN_EXEC, "-m", "deployspec", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def catches_signal(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (Linux: SigCgt in /proc/PID/status),
    as a CLI must before a test sends it that signal and expects it handled."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, region: str) -> None:
    """No AWS setting of the machine reaches a test: fake static credentials, no config files."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A model.tar.gz in memory: files (name → bytes) and symbolic links (name → target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()
