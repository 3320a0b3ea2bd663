"""The container HTTP contract end to end: a real worker behind make_server, spoken to by urllib."""

from __future__ import annotations

import contextlib
import json
import socket
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deployspec.runtime import ModelWorker, make_server

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5]]

SCRIPT = """
    import os
    import joblib

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(features, labels)


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, iris_model: LogisticRegression
) -> Iterator[ModelWorker]:
    root = tmp_path_factory.mktemp("model")
    (root / "code").mkdir()
    joblib.dump(iris_model, root / "model.joblib")
    (root / "code" / "inference.py").write_text(textwrap.dedent(SCRIPT))
    with ModelWorker(root, framework="sklearn", program="inference.py") as running:
        yield running


@pytest.fixture(scope="module")
def base_url(worker: ModelWorker) -> Iterator[str]:
    server = make_server(worker, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers.get("Content-Type", "")


def test_ping(base_url: str) -> None:
    assert request(f"{base_url}/ping")[0] == 200


def test_json_invocation_returns_the_prediction(
    base_url: str, iris_model: LogisticRegression
) -> None:
    status, body, kind = request(
        f"{base_url}/invocations",
        json.dumps(ROWS).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == iris_model.predict(np.array(ROWS)).tolist()


def test_csv_invocation_returns_the_prediction(
    base_url: str, iris_model: LogisticRegression
) -> None:
    csv_rows = "\n".join(",".join(map(str, row)) for row in ROWS).encode()
    status, body, kind = request(
        f"{base_url}/invocations", csv_rows, {"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert (status, kind) == (200, "text/csv")
    assert body.decode().split() == [str(v) for v in iris_model.predict(np.array(ROWS))]


def test_missing_accept_is_json(base_url: str, iris_model: LogisticRegression) -> None:
    status, body, kind = request(
        f"{base_url}/invocations", json.dumps(ROWS).encode(), {"Content-Type": "application/json"}
    )
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == iris_model.predict(np.array(ROWS)).tolist()


def test_model_error_keeps_its_status_code(base_url: str) -> None:
    status, body, kind = request(
        f"{base_url}/invocations", b"<rows/>", {"Content-Type": "application/xml"}
    )
    answer = json.loads(body)
    assert (status, kind) == (415, "application/json")
    assert answer["error"] == "ModelError"
    assert answer["status"] == 415
    assert "application/xml" in answer["message"]


def test_script_failure_is_500(base_url: str) -> None:
    status, body, _ = request(
        f"{base_url}/invocations", b"[5.1, 3.5, 1.4, 0.2]", {"Content-Type": "application/json"}
    )
    assert status == 500
    assert "predict_fn raised ValueError" in json.loads(body)["message"]


def test_unknown_paths_are_404(base_url: str) -> None:
    assert request(f"{base_url}/predict", b"[]", {"Content-Type": "application/json"})[0] == 404
    assert request(f"{base_url}/")[0] == 404


def test_ping_is_503_once_the_worker_is_closed(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return 1\n")
    closed = ModelWorker(tmp_path, framework="sklearn", program="inference.py")
    server = make_server(closed, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        assert request(f"http://{host!s}:{port}/ping")[0] == 200
        closed.close()
        assert request(f"http://{host!s}:{port}/ping")[0] == 503
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def serving(worker: ModelWorker, **options: Any) -> Iterator[tuple[str, int]]:
    server = make_server(worker, port=0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def raw_exchange(address: tuple[str, int], data: bytes, wait: float = 10.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it (or `wait`)."""
    received = b""
    with socket.create_connection(address, timeout=wait) as conn:
        conn.sendall(data)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<still open>"
    return received


def test_a_body_over_the_limit_gets_a_readable_413(base_url: str) -> None:
    # Before: the server answered without reading the body and closed; the client, still
    # sending, saw a connection reset instead of the answer.
    status, body, _ = request(
        f"{base_url}/invocations",
        b"[" + b"1," * (3 * 1024 * 1024 + 10) + b"1]",
        {"Content-Type": "application/json"},
    )
    assert status == 413
    assert "over SageMaker's 6,291,456-byte payload limit" in json.loads(body)["message"]


@pytest.mark.parametrize(("length", "status"), [("\u00b2", 400), ("abc", 400), ("-1", 400)])
def test_a_content_length_that_is_not_a_number_is_400(
    worker: ModelWorker, length: str, status: int
) -> None:
    # "²".isdigit() is True and int("²") raises: the connection used to be dropped.
    with serving(worker) as address:
        answer = raw_exchange(
            address,
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + length.encode()
            + b"\r\n\r\n[]",
        )
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b"is not a number" in answer


def test_idle_and_stalled_clients_are_disconnected(worker: ModelWorker) -> None:
    with serving(worker, read_timeout=0.5) as address:
        started = time.monotonic()
        assert raw_exchange(address, b"", wait=10) == b""  # closed, not left open
        assert time.monotonic() - started < 5
        stalled = raw_exchange(
            address, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n[1,"
        )
    assert stalled.startswith(b"HTTP/1.1 408 "), stalled[:200]
    assert b"ended after 3 of 10 bytes" in stalled


def test_a_response_over_the_limit_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(
        "def model_fn(model_dir):\n    return None\n\n"
        "def transform_fn(model, body, content_type, accept):\n"
        "    return b'x' * 5000, 'text/plain'\n"
    )
    with (
        ModelWorker(tmp_path, framework="sklearn", program="inference.py") as big,
        serving(big, max_payload=4096) as (host, port),
    ):
        status, body, _ = request(f"http://{host}:{port}/invocations", b"[]")
    answer = json.loads(body)
    assert status == 500 and answer["error"] == "ModelError"
    assert (
        "response of 5,000 bytes is over SageMaker's 4,096-byte payload limit"
        in (answer["message"])
    )
