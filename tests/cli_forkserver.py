"""A fork server for the tests' CLI runs: each run is still its own process, started fresh.

`python -m deployspec` spends most of a short command's CPU time importing (pydantic's model
classes, boto3, the planner): about 0.4 CPU-seconds a run, over a thousand runs a suite. Here
one process per test worker imports the CLI's modules once, then forks a child per run. The
child is what a user's shell would start, minus the imports: its own pid, the run's
environment (replaced whole), working directory and argv, stdin from /dev/null, stdout and
stderr to the files the test gave it, its exit status the test's `returncode`. Nothing runs in
the server but imports: no command, no AWS session, no cache is shared between runs.

What the interpreter reads from the environment at its own start (PYTHONPATH, PYTHONHASHSEED,
…) is the server's; a test that sets such a variable runs the CLI as a plain subprocess
(`conftest.run_cli` decides). `DEPLOYSPEC_TEST_SPAWN=1` runs every CLI call that way.

Protocol, one connection a run, over a Unix socket: the client sends one JSON line
(`args`, `cwd`, `env`) with the stdout and stderr file descriptors attached (SCM_RIGHTS); the
server forks a monitor, which forks the CLI, sends `{"pid": N}`, waits for it and sends
`{"status": waitstatus}`. The monitor exists so that the status is the kernel's, crashes and
signals included, while the server itself never waits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any

# What a CLI run imports anyway; with them loaded here, a child starts at the command.
PRELOAD = (
    "deployspec.cli",
    "deployspec.operations",
    "deployspec.desired",
    "deployspec.planner",
    "deployspec.render",
    "deployspec.applier",
    "deployspec.state",
    "deployspec.aws",
    "boto3",
    "botocore.session",
    "botocore.client",
)
MAX_MESSAGE = 1 << 20


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 2)
    while not data.endswith(b"\n"):
        more = conn.recv(MAX_MESSAGE)
        if not more:
            raise EOFError("the client went away")
        data += more
    return json.loads(data), fds


def _send(conn: socket.socket, message: dict[str, int]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _run_cli(request: dict[str, Any], fds: list[int]) -> None:
    """In the CLI's process: become the run the client asked for, run it, exit."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in (devnull, *fds):
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # As `python -m` starts: the working directory first on the path, not this file's folder.
    sys.path[0] = os.getcwd()
    sys.argv = [sys.argv[0], *request["args"]]
    code = 0
    try:
        from deployspec.cli import run

        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _monitor(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the monitor: start the CLI, report its pid, then its wait status."""
    # The server ignores SIGCHLD so that monitors reap themselves; the CLI, which may start
    # and wait for processes of its own, and this monitor need the default back.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_cli(request, fds)
    for fd in fds:
        os.close(fd)
    try:
        _send(conn, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(conn, {"status": status})
    finally:
        os._exit(0)


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(1.0)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test worker gone: nothing more will come
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        try:
            request, fds = _receive(conn)
        except (OSError, EOFError, ValueError):
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            _monitor(conn, request, fds)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1])
