"""The container HTTP contract end to end: a real worker behind make_server, spoken to by urllib
(and raw sockets where the framing matters); streamed answers from the tiny language model, and
from a scripted worker where timing and failures must be exact."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deployspec.runtime import ModelError, ModelWorker, make_server

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


# --- Streamed answers (LLM containers) ----------------------------------------------------


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers with lower-case names, body as sent) of one raw HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def chunks_of(body: bytes) -> list[bytes]:
    """The chunks of a chunked body, which must end with its zero-size chunk."""
    chunks: list[bytes] = []
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", "the terminating chunk ends the body"
            return chunks
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]


def post_raw(address: tuple[str, int], body: dict[str, Any], version: str = "HTTP/1.1") -> bytes:
    data = json.dumps(body).encode()
    return raw_exchange(
        address,
        f"POST /invocations {version}\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data,
        wait=60,
    )


def streamed_text(parts: list[bytes]) -> str:
    """What `invoke --stream` prints for these parts (its own decoder)."""
    from deployspec.prompts import TokenStream

    reader = TokenStream()
    return "".join(reader.feed(part) for part in parts) + reader.close()


@pytest.fixture(scope="module")
def tgi_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The tiny language model behind TGI's contract (needs the llm extra)."""
    pytest.importorskip("transformers", reason="the llm extra serves the tiny model")
    from deployspec.runtime.tiny_llm import make_tiny_model

    folder = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    with (
        ModelWorker(folder, framework="huggingface-llm", program=None) as llm_worker,
        serving(llm_worker) as address,
    ):
        yield address


def test_a_streamed_tgi_answer_is_sent_event_by_event(tgi_address: tuple[str, int]) -> None:
    request = {"inputs": "Hello, ", "parameters": {"max_new_tokens": 12}}
    status, headers, body = split_response(post_raw(tgi_address, {**request, "stream": True}))
    assert status.startswith("HTTP/1.1 200 ")
    assert headers["content-type"] == "text/event-stream"
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    chunks = chunks_of(body)
    # One chunk per token event, as TGI writes them: a client sees each token on its own.
    events = [json.loads(chunk.removeprefix(b"data:")) for chunk in chunks]
    assert all(chunk.startswith(b"data:") and chunk.endswith(b"\n\n") for chunk in chunks)
    assert [event["index"] for event in events] == list(range(1, len(events) + 1))
    assert 1 <= len(events) <= 12 and events[-1]["generated_text"] is not None

    _, whole_headers, whole = split_response(post_raw(tgi_address, request))
    assert whole_headers["content-length"] == str(len(whole))
    (answer,) = json.loads(whole)
    # Greedy decoding: the streamed tokens, decoded as invoke --stream does, are the answer.
    assert streamed_text(chunks) == answer["generated_text"] == events[-1]["generated_text"]


def test_a_refused_streaming_request_is_the_json_error(tgi_address: tuple[str, int]) -> None:
    raw = post_raw(
        tgi_address, {"inputs": "Hi", "parameters": {"max_new_tokens": 100000}, "stream": True}
    )
    status, headers, body = split_response(raw)
    assert status.startswith("HTTP/1.1 422 ")
    assert headers["content-length"] == str(len(body))
    answer = json.loads(body)
    assert (answer["error"], answer["status"]) == ("ModelError", 422)
    assert json.loads(answer["message"])["error_type"] == "validation"


class FakeStreamingWorker:
    """A worker whose answer the test scripts part by part (timing, failures), with the
    methods the server uses."""

    def __init__(self, framework: str, content_type: str, parts: Iterator[bytes]) -> None:
        self.framework = framework
        self._content_type = content_type
        self._parts = parts

    def ping(self) -> bool:
        return True

    def invoke_stream(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[str, Iterator[bytes]]:
        return self._content_type, self._parts


@contextlib.contextmanager
def serving_fake(
    parts: Iterator[bytes],
    framework: str = "huggingface-llm",
    content_type: str = "text/event-stream",
) -> Iterator[tuple[str, int]]:
    fake = FakeStreamingWorker(framework, content_type, parts)
    with serving(cast(ModelWorker, fake)) as address:
        yield address


def tgi_token(text: str) -> bytes:
    event = {"index": 1, "token": {"id": 1, "text": text, "special": False}}
    return b"data:" + json.dumps(event).encode() + b"\n\n"


def test_the_first_part_is_sent_before_the_next_is_made() -> None:
    release = threading.Event()
    made_second = threading.Event()

    def parts() -> Iterator[bytes]:
        yield tgi_token("first")
        release.wait(30)
        made_second.set()
        yield tgi_token("second")

    with serving_fake(parts()) as address:
        conn = http.client.HTTPConnection(*address, timeout=30)
        conn.request("POST", "/invocations", b"{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        first = response.read1(65536)
        # The model has not made its second part: the first reached the client on its own.
        assert not made_second.is_set()
        assert first == tgi_token("first")
        release.set()
        assert response.read() == tgi_token("second")
        conn.close()


@pytest.mark.parametrize(
    "framework", ["huggingface-llm", "huggingface-vllm", "huggingface-sglang", "djl-lmi"]
)
def test_a_failure_mid_stream_ends_with_the_containers_error_event(framework: str) -> None:
    from deployspec.prompts import GenerationError, TokenStream

    def parts() -> Iterator[bytes]:
        yield tgi_token("Hi")
        raise ModelError("CUDA out of memory", 500)

    with serving_fake(parts(), framework=framework) as address:
        status, _, body = split_response(post_raw(address, {}))
    assert status.startswith("HTTP/1.1 200 ")
    first, *rest = chunks_of(body)  # complete: the zero-size chunk ends it
    reader = TokenStream()
    assert reader.feed(first) == "Hi"
    # invoke --stream's decoder knows each container's error event for what it is.
    with pytest.raises(GenerationError, match="CUDA out of memory"):
        for chunk in rest:
            reader.feed(chunk)
        reader.close()


def test_a_failure_before_the_first_part_is_the_json_error() -> None:
    def parts() -> Iterator[bytes]:
        raise ModelError("the model worker process was killed by SIGKILL", 500)
        yield b""  # a generator that fails on its first part

    with serving_fake(parts()) as address:
        status, _, body = split_response(post_raw(address, {}))
    assert status.startswith("HTTP/1.1 500 ")
    assert json.loads(body)["message"] == "the model worker process was killed by SIGKILL"


def test_a_client_that_leaves_mid_stream_closes_the_models_stream() -> None:
    closed = threading.Event()

    def parts() -> Iterator[bytes]:
        try:
            while True:
                yield tgi_token("x")
                time.sleep(0.01)
        finally:
            closed.set()

    with serving_fake(parts()) as address:
        conn = http.client.HTTPConnection(*address, timeout=30)
        conn.request("POST", "/invocations", b"{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.read1(65536).startswith(b"data:")
        conn.close()
        # The server's next writes fail; it closes the stream, which releases the worker.
        assert closed.wait(30)
        assert request(f"http://{address[0]}:{address[1]}/ping")[0] == 200


def test_an_http_10_client_gets_the_stream_close_delimited() -> None:
    with serving_fake(iter([tgi_token("a"), tgi_token("b")])) as address:
        status, headers, body = split_response(post_raw(address, {}, version="HTTP/1.0"))
    assert status.split()[1] == "200"
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert body == tgi_token("a") + tgi_token("b")  # ended by the server closing


def test_only_llm_containers_stream() -> None:
    # A script that answers text/event-stream still answers whole, within the payload limit.
    with serving_fake(iter([b"data: 1\n\n", b"data: 2\n\n"]), framework="sklearn") as address:
        status, headers, body = split_response(post_raw(address, {}))
    assert status.startswith("HTTP/1.1 200 ")
    assert headers["content-length"] == str(len(body)) and body == b"data: 1\n\ndata: 2\n\n"
    assert "transfer-encoding" not in headers
