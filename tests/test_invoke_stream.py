"""`invoke --stream` and `--prompt`: the gateway's InvokeEndpointWithResponseStream against a
local HTTP server that answers with event-stream frames, and the CLI against the same server
(AWS_ENDPOINT_URL) for what it prints, and its usage errors."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deployspec.aws import Call, Gateway, StreamFailure
from deployspec.errors import AwsError
from deployspec.sandbox.eventstream import encode_event
from tests.conftest import VALID_SKLEARN, isolate_aws, run_cli, start_cli

REGION = "eu-west-1"
STREAM_PATH = "/endpoints/{}/invocations-response-stream"


def part(data: bytes) -> bytes:
    return encode_event(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def exception(kind: str, fields: dict[str, str]) -> bytes:
    return encode_event(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps(fields).encode(),
    )


def tgi(text: str) -> bytes:
    event = {"token": {"id": 1, "text": text, "logprob": -0.1, "special": False}}
    return f"data:{json.dumps(event)}\n\n".encode()


@dataclass
class Reply:
    """What the server answers for one endpoint: frames to send (an Event: wait for it first),
    or an error before any stream."""

    frames: list[bytes | threading.Event] = field(default_factory=list)
    variant: str = "AllTraffic"
    error: tuple[int, str, dict[str, str]] | None = None  # status, x-amzn-ErrorType, body
    cut: bool = False  # the connection ends in the middle of a chunk, after the frames


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a broken stream resets its pooled connection: expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class StreamingServer:
    """SageMaker Runtime's InvokeEndpointWithResponseStream, as far as botocore can tell."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.received: list[Received] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append(Received(self.path, dict(self.headers.items()), body))
                name = self.path.split("/")[2]
                reply = owner.replies.get(name)
                if reply is None:
                    reply = Reply(
                        error=(
                            400,
                            "ValidationError",
                            {"message": f"Endpoint {name} of account 123456789012 not found."},
                        )
                    )
                if reply.error is not None:
                    status, kind, fields = reply.error
                    data = json.dumps(fields).encode()
                    self.send_response(status)
                    self.send_header("x-amzn-ErrorType", kind)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("X-Amzn-SageMaker-Content-Type", "text/event-stream")
                self.send_header("X-Amzn-Invoked-Production-Variant", reply.variant)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for frame in reply.frames:
                    if isinstance(frame, threading.Event):
                        frame.wait(60)
                        continue
                    self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                    self.wfile.flush()
                if reply.cut:
                    self.wfile.write(b"100\r\nabc")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"0\r\n\r\n")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[StreamingServer]:
    running = StreamingServer()
    yield running
    running.stop()


@pytest.fixture
def gateway(server: StreamingServer) -> Gateway:
    return Gateway.local(
        endpoint_url=server.url, region=REGION, access_key="testing", secret_key="testing"
    )


# --- the gateway ---------------------------------------------------------------------------


def test_parts_arrive_as_they_are_sent(server: StreamingServer, gateway: Gateway) -> None:
    read_first = threading.Event()
    server.replies["llm"] = Reply(
        frames=[part(tgi("Hel")), read_first, part(tgi("lo")), part(b"")], variant="blue"
    )

    answer = gateway.invoke_endpoint_stream(
        "llm", b'{"inputs": "Hi"}', "application/json", "text/event-stream", variant="blue"
    )
    assert (answer.variant, answer.content_type) == ("blue", "text/event-stream")
    # The second part is only sent once the first was read: a reader that waited for the
    # whole answer would hang here.
    assert next(answer.chunks) == tgi("Hel")
    read_first.set()
    assert list(answer.chunks) == [tgi("lo")]  # an empty part carries nothing

    (request,) = server.received
    assert request.path == STREAM_PATH.format("llm")
    assert request.body == b'{"inputs": "Hi"}'
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-amzn-sagemaker-target-variant"] == "blue"
    assert headers["x-amzn-sagemaker-accept"] == "text/event-stream"
    assert "x-amzn-sagemaker-inference-component" not in headers
    # Invoking changes no resource: it does not count as a write.
    assert gateway.calls == [Call("sagemaker-runtime", "InvokeEndpointWithResponseStream", False)]


def test_an_inference_component_is_named(server: StreamingServer, gateway: Gateway) -> None:
    server.replies["llm"] = Reply(frames=[part(b"x")])
    answer = gateway.invoke_endpoint_stream(
        "llm", b"{}", "application/json", "*/*", component="llm-ic"
    )
    assert list(answer.chunks) == [b"x"]
    headers = {k.lower(): v for k, v in server.received[0].headers.items()}
    assert headers["x-amzn-sagemaker-inference-component"] == "llm-ic"
    assert "x-amzn-sagemaker-target-variant" not in headers


@pytest.mark.parametrize(
    ("event", "words", "hint"),
    [
        (
            exception("ModelStreamError", {"Message": "CUDA out of memory", "ErrorCode": "OOM"}),
            ["ModelStreamError: CUDA out of memory", "'llm'"],
            "/aws/sagemaker/Endpoints/llm",
        ),
        (
            exception("InternalStreamFailure", {"Message": "stream interrupted"}),
            ["InternalStreamFailure", "stream interrupted"],
            "send the request again",
        ),
    ],
)
def test_a_stream_that_breaks_off_is_an_error_after_its_parts(
    server: StreamingServer, gateway: Gateway, event: bytes, words: list[str], hint: str
) -> None:
    server.replies["llm"] = Reply(frames=[part(tgi("a")), event, part(tgi("never"))])
    answer = gateway.invoke_endpoint_stream("llm", b"{}", "application/json", "*/*")
    assert next(answer.chunks) == tgi("a")
    with pytest.raises(StreamFailure) as raised:
        next(answer.chunks)
    for word in words:
        assert word in str(raised.value)
    assert raised.value.hint is not None and hint in raised.value.hint


def test_a_connection_lost_mid_answer_is_an_error(
    server: StreamingServer, gateway: Gateway
) -> None:
    server.replies["llm"] = Reply(frames=[part(tgi("a"))], cut=True)
    answer = gateway.invoke_endpoint_stream("llm", b"{}", "application/json", "*/*")
    assert next(answer.chunks) == tgi("a")
    with pytest.raises(StreamFailure) as raised:
        next(answer.chunks)
    assert "broke off" in str(raised.value)
    assert raised.value.hint is not None and "send the request again" in raised.value.hint


@pytest.mark.parametrize(
    ("status", "kind", "message", "hint"),
    [
        (400, "ValidationError", "Endpoint llm of account 1 not found.", "`deployspec apply`"),
        (400, "ValidationError", "Model container does not support streaming", "drop --stream"),
        (424, "ModelError", "Received client error (400) from primary", "drop --stream"),
        (400, "ValidationError", "Endpoint llm is not InService.", "wait until"),
        (400, "ValidationException", "Update is in-progress", "wait until"),
    ],
)
def test_errors_before_the_stream_say_what_to_do(
    server: StreamingServer, gateway: Gateway, status: int, kind: str, message: str, hint: str
) -> None:
    server.replies["llm"] = Reply(error=(status, kind, {"message": message}))
    with pytest.raises(AwsError) as raised:
        gateway.invoke_endpoint_stream("llm", b"{}", "application/json", "*/*")
    assert not isinstance(raised.value, StreamFailure)
    assert kind in str(raised.value) and message in str(raised.value)
    assert raised.value.hint is not None and hint in raised.value.hint


# --- the CLI -------------------------------------------------------------------------------

LLM_SPEC = """\
name: llm
role: arn:aws:iam::123456789012:role/SageMakerExecution
model:
  framework: {framework}
  version: "{version}"
  artifacts: ./weights
realtime:
  instance_type: ml.g5.2xlarge
"""


def _spec(folder: Path, framework: str = "huggingface-llm", version: str = "3.3.6") -> Path:
    (folder / "weights").mkdir(exist_ok=True)
    (folder / "weights" / "config.json").write_text("{}")
    path = folder / "deployment.yaml"
    path.write_text(LLM_SPEC.format(framework=framework, version=version))
    return path


@pytest.fixture(autouse=True)
def no_aws_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path, REGION)
    monkeypatch.delenv("DEPLOYSPEC_SANDBOX", raising=False)


def _env(server: StreamingServer) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": server.url}


def test_cli_streams_the_prompts_answer(server: StreamingServer, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    server.replies["llm"] = Reply(
        frames=[part(tgi("Hello")[:9]), part(tgi("Hello")[9:] + tgi(" wörld"))]
    )

    result = run_cli(
        "invoke", str(spec), "--prompt", "Say hi", "--stream", "--max-tokens", "12",
        env=_env(server),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello wörld\n"
    assert "answered by variant" not in result.stderr  # one variant: nothing to tell
    (request,) = server.received
    assert request.path == STREAM_PATH.format("llm")
    assert json.loads(request.body) == {
        "inputs": "Say hi",
        "parameters": {"max_new_tokens": 12},
        "stream": True,
    }


def test_cli_prints_tokens_as_they_arrive(server: StreamingServer, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    shown = threading.Event()
    server.replies["llm"] = Reply(frames=[part(tgi("Hello")), shown, part(tgi(" again"))])

    cli = start_cli("invoke", str(spec), "--prompt", "Hi", "--stream", env=_env(server))
    first: list[str] = []
    try:
        assert cli.stdout is not None
        out = cli.stdout
        reader = threading.Thread(target=lambda: first.append(out.read(len("Hello"))))
        reader.start()
        # The rest is only sent once the first token was shown: a CLI that kept the answer
        # until its end would show nothing.
        reader.join(20)
        assert first == ["Hello"]
        shown.set()
        rest, errors = cli.communicate(timeout=60)
    finally:
        shown.set()
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, errors
    assert first[0] + rest == "Hello again\n"


def test_cli_shows_what_came_before_a_broken_stream(
    server: StreamingServer, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "huggingface-vllm", "0.21.0")
    chunk = {"choices": [{"index": 0, "delta": {"content": "Partial"}}]}
    server.replies["llm"] = Reply(
        frames=[
            part(f"data: {json.dumps(chunk)}\n\n".encode()),
            exception("ModelStreamError", {"Message": "worker died", "ErrorCode": "E1"}),
        ]
    )

    result = run_cli("invoke", str(spec), "--prompt", "Hi", "--stream", env=_env(server))

    assert result.returncode == 1
    assert result.stdout == "Partial\n"
    assert "worker died" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(server.received[0].body)["messages"] == [{"role": "user", "content": "Hi"}]


def test_cli_reports_a_container_error_event(server: StreamingServer, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    error = {"error": "Input validation error: max_new_tokens too big", "error_type": "validation"}
    server.replies["llm"] = Reply(frames=[part(f"data:{json.dumps(error)}\n\n".encode())])

    result = run_cli(
        "invoke", str(spec), "--body", '{"inputs": "x", "stream": true}', "--stream",
        env=_env(server),
    )  # fmt: skip

    assert result.returncode == 1
    assert "max_new_tokens too big" in result.stderr and "(validation)" in result.stderr
    assert "/aws/sagemaker/Endpoints/llm" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_prompt_without_stream_is_invoke_endpoint(
    server: StreamingServer, tmp_path: Path
) -> None:
    # This server answers no InvokeEndpoint (the request made is what matters here): the
    # failure is reported, not a traceback.
    spec = _spec(tmp_path, "djl-lmi", "0.33.0")
    result = run_cli("invoke", str(spec), "--prompt", "Hi", env=_env(server))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (request,) = server.received
    assert request.path == "/endpoints/llm/invocations"
    assert json.loads(request.body) == {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 256,
        "stream": False,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--body", "{}", "--prompt", "Hi"], "--body and --prompt do not go together"),
        ([], "give the request with --body or build it with --prompt"),
        (["--body", "{}", "--stream", "--async"], "--stream cannot go with --async"),
        (["--body", "{}", "--stream", "--target-model", "a"], "multi-model endpoints do not"),
        (["--prompt", "Hi", "--max-tokens", "0"], "--max-tokens"),
    ],
)
def test_cli_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    spec = _spec(tmp_path)
    result = run_cli("invoke", str(spec), *args)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_prompt_for_a_framework_without_one(project: Path) -> None:
    spec = project / "deployment.yaml"
    spec.write_text(VALID_SKLEARN)
    result = run_cli("invoke", str(spec), "--prompt", "Hi", "--stream")
    assert result.returncode == 1
    assert "not for framework sklearn" in result.stderr and "--body" in result.stderr
    assert "Traceback" not in result.stderr
