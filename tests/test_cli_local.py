"""The sandbox and serve commands as users run them: processes started, used and stopped, with
no process left behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from deployspec.sandbox import control
from tests.conftest import REPO, catches_signal, run_cli, start_cli

EXAMPLE = REPO / "examples" / "sklearn-iris"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_sandbox_commands_start_report_fault_and_stop(tmp_path: Path) -> None:
    env = {"DEPLOYSPEC_HOME": str(tmp_path)}
    port = _free_port()
    started = run_cli("sandbox", "start", "--port", str(port), env=env)
    assert started.returncode == 0, started.stderr
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in started.stdout
    assert "AWS_ACCESS_KEY_ID=testing" in started.stdout
    try:
        again = run_cli("sandbox", "start", env=env)
        assert "already running" in again.stderr
        status = run_cli("sandbox", "status", env=env)
        assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout
        pid = int(status.stdout.split("pid ")[1].split(")")[0])
        assert f"state: {tmp_path.resolve() / 'sandbox'}" in status.stdout
        armed = run_cli("sandbox", "fault", "fail-update", "--endpoint", "iris", env=env)
        assert armed.returncode == 0, armed.stderr
        refusal = ("sandbox", "fault", "refuse-update", "--endpoint", "iris", "--reason", "quota")
        assert run_cli(*refusal, env=env).returncode == 0
        info = control.status(tmp_path)
        assert info is not None
        assert control.FaultClient(info).faults()["refuse_next_update"] == {"iris": "quota"}
        missing = run_cli("sandbox", "fault", "fail-create", env=env)
        assert missing.returncode == 1 and "--endpoint" in missing.stderr
        assert run_cli("sandbox", "fault", "clear", env=env).returncode == 0
    finally:
        stopped = run_cli("sandbox", "stop", env=env)
    assert "stopped" in stopped.stdout
    assert not _alive(pid)
    after = run_cli("sandbox", "status", env=env)
    assert after.returncode == 1 and "not running" in after.stdout


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    folder = tmp_path / "sklearn-iris"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("model"))
    subprocess.run([sys.executable, str(folder / "train.py")], check=True, capture_output=True)
    return folder / "deployment.yaml"


class _Lines:
    """A child's text stream read on a thread, line by line: a test waits for a line with a
    deadline (never on a pipe that may not end), and the pipe never fills up."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line containing `text`, once it is written."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    ending = "the stream ended" if self._ended else f"{timeout:g} s passed"
                    raise AssertionError(
                        f"{ending} before a line with {text!r}; it said:\n" + "\n".join(self.lines)
                    )
                self._changed.wait(left)

    def all(self, timeout: float) -> list[str]:
        """Every line, once the stream has ended (every process writing to it has exited)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream is still open"
        return self.lines


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_real_predictions_then_stops_cleanly(
    iris: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    # Port 0: the server's own free port, told in the line that says it is ready (a port
    # picked here could be taken by another process before the server binds it).
    server = start_cli(
        "serve", str(iris), "--port", "0", env={"DEPLOYSPEC_CACHE_DIR": str(tmp_path / "cache")}
    )
    assert server.stderr is not None
    log = _Lines(server.stderr)
    stop_with = signal.SIGKILL  # until serve is known to handle stop_signal
    try:
        # Written once the model is loaded and the socket listens: no polling, however slow
        # the machine.
        ready = log.wait_for("serving iris on http://127.0.0.1:", timeout=120)
        url = ready.split(" on ", 1)[1].split(" ", 1)[0]
        # What the stop below relies on; SIGINT is Python's own handler, SIGTERM serve's.
        assert catches_signal(server.pid, stop_signal), f"serve does not handle {stop_signal!r}"
        stop_with = stop_signal
        with urllib.request.urlopen(f"{url}/ping", timeout=30) as pinged:
            assert pinged.status == 200
        workers = _children(server.pid)
        assert workers, "the model runs in a worker process"
        answer = run_cli(
            "invoke",
            str(iris),
            "--local",
            "--local-url",
            url,
            "--body",
            '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}',
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == '{"predictions": ["setosa", "virginica"]}'
        bad = run_cli("invoke", str(iris), "--local", "--local-url", url, "--body", "not json")
        assert bad.returncode == 1
        assert "the local model answered 500" in bad.stderr
        assert "not valid JSON" in bad.stderr
    finally:
        server.send_signal(stop_with)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # no server left behind; its worker ends with the pipe to it
            server.wait()
            raise
    assert server.returncode == 0, "\n".join(log.lines)
    for worker in workers:
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    assert log.all(timeout=10)[-1] == "stopped"


def test_invoke_local_without_a_server_says_how_to_start_one(iris: Path) -> None:
    result = run_cli(
        "invoke",
        str(iris),
        "--local",
        "--local-url",
        f"http://127.0.0.1:{_free_port()}",
        "--body",
        "{}",
    )
    assert result.returncode == 1
    assert "deployspec serve" in result.stderr


def test_invoke_local_tells_a_dropped_connection_from_a_missing_server() -> None:
    from deployspec.errors import DeployspecError
    from deployspec.local_serve import invoke_local

    # A server that reads the request and hangs up without answering (a crash, a refusal).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def hang_up() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        with pytest.raises(DeployspecError) as dropped:
            invoke_local(f"http://127.0.0.1:{port}", b"{}", "application/json", "*/*")
    finally:
        listener.close()
        thread.join(timeout=10)
    assert "closed the connection without answering" in str(dropped.value)
    assert "deployspec serve FILE" not in (dropped.value.hint or "")

    with pytest.raises(DeployspecError) as refused:
        invoke_local(f"http://127.0.0.1:{_free_port()}", b"{}", "application/json", "*/*")
    assert "nothing answers" in str(refused.value)
    assert "start it with `deployspec serve FILE`" in (refused.value.hint or "")


def test_sandbox_start_refuses_a_delay_that_never_ends(tmp_path: Path) -> None:
    result = run_cli(
        "sandbox", "start", "--transition-seconds", "1e300", env={"DEPLOYSPEC_HOME": str(tmp_path)}
    )
    assert result.returncode == 1
    assert "1e+300 is not in the range 0<=x<=3600" in result.stderr
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()


def test_a_cli_the_tests_run_has_this_processs_own_home_and_cache(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The tests run in several processes at once (`make unit`: pytest -n 2): a CLI run that
    its test does not point elsewhere meets neither the user's sandbox and cache nor another
    process's."""
    base = tmp_path_factory.getbasetemp()
    for variable in ("DEPLOYSPEC_HOME", "DEPLOYSPEC_CACHE_DIR"):
        assert Path(os.environ[variable]).is_relative_to(base), variable
