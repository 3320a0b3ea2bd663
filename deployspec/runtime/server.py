"""The SageMaker container's HTTP contract in front of a ModelWorker.

Contract: `make_server(worker, host, port, max_payload=, read_timeout=)` returns a bound, not yet
serving ThreadingHTTPServer (port 0 picks a free port; read it from `server.server_address`).
The caller runs `serve_forever()` and `shutdown()`; closing the worker stays the caller's job.
- `GET /ping` -> 200 while the worker is up, 503 when it is not.
- `POST /invocations` -> the worker's body and Content-Type; `Content-Type` (or `ContentType`)
  and `Accept` are passed through. A ModelError answers with its status code and a JSON body
  `{"error": "ModelError", "status": ..., "message": ..., "hint": ...}`.
- Streams: an LLM container (llm.FRAMEWORKS) whose answer is `text/event-stream` (a request
  with `"stream": true`, as TGI, vLLM, SGLang and LMI take it) is sent as the worker produces
  it, each part of `worker.invoke_stream` written as it arrives: chunked (HTTP/1.1; an HTTP/1.0
  client gets it close-delimited). These are the container's own bytes, which SageMaker's
  InvokeEndpointWithResponseStream passes through as PayloadParts. A ModelError before the
  first part is the JSON error above; one after it ends the stream with the container's own
  error event (TGI `{"error", "error_type": "generation"}`, vLLM's and SGLang's OpenAI-style
  `{"error": {"message", ...}}` then `[DONE]`, LMI `{"error", "code"}`), carrying the message
  as the sandbox's ModelStreamError does, and a complete chunked ending. A client that goes
  away mid-stream closes the worker's stream (which the worker finishes and drops).
  Every other answer is whole, with a Content-Length.
- SageMaker's payload limit (`max_payload`: 6 MiB real-time, 4 MiB serverless) holds both ways:
  a larger request gets 413, read and discarded first (up to 64 MiB) so that the client, still
  sending, can read the answer instead of a reset connection; a larger whole response becomes a
  500 ModelError, as the endpoint would not deliver it (a stream has no total limit, as the
  sandbox's InvokeEndpointWithResponseStream has none). No Content-Length is 411, one that is
  not a decimal number 400; anything else 404/405.
- A client that sends nothing for `read_timeout` seconds is disconnected (408 when it stalls
  inside a request body), so idle connections cannot hold the server's threads forever.
Access logs go to the `deployspec.runtime.server` logger, never to stdout.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import socket
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from deployspec.runtime import llm
from deployspec.runtime.errors import ModelError
from deployspec.runtime.worker import ModelWorker

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
SERVERLESS_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
READ_TIMEOUT_SECONDS = 60.0
# A request over the limit is read to its end (and discarded) up to this size, so that the
# client gets the 413; beyond it the connection is closed unread.
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024

logger = logging.getLogger(__name__)


class ModelHTTPServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its worker."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        worker: ModelWorker,
        *,
        max_payload: int = MAX_PAYLOAD_BYTES,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self.worker = worker
        self.max_payload = max_payload
        self.read_timeout = read_timeout
        super().__init__(address, _ContainerHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints unexpected handler errors to stderr; they belong in the log.
        logger.exception("error while handling a request from %s", client_address)


class _ContainerHandler(http.server.BaseHTTPRequestHandler):
    server: ModelHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Reads through rfile time out with the socket; handle_one_request then closes.
        self.connection.settimeout(self.server.read_timeout)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/ping":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "NotFound", "path": self.path})
            return
        status = HTTPStatus.OK if self.server.worker.ping() else HTTPStatus.SERVICE_UNAVAILABLE
        self._send(status, b"", "application/json")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations":
            self._drain()
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "NotFound", "path": self.path})
            return
        length = self._content_length()
        if length is None:
            return
        limit = self.server.max_payload
        if length > limit:
            self._refuse_oversize(length, limit)
            return
        body = self._read_body(length)
        if body is None:
            return
        content_type = self.headers.get("Content-Type") or self.headers.get("ContentType") or ""
        accept = self.headers.get("Accept") or ""
        worker = self.server.worker
        try:
            # Every answer through invoke_stream: the model, not this server, decides whether
            # it streams (an LLM request with "stream": true); any other answer is one part.
            result_type, parts = worker.invoke_stream(body, content_type, accept)
        except ModelError as exc:
            self._send_model_error(exc)
            return
        try:
            if worker.framework in llm.FRAMEWORKS and _is_event_stream(result_type):
                self._send_stream(result_type, parts)
                return
            try:
                # A whole answer is one part; joining keeps any other shape whole too.
                result = b"".join(parts)
            except ModelError as exc:
                self._send_model_error(exc)
                return
        finally:
            _close(parts)
        if len(result) > limit:
            self._send_model_error(
                ModelError(
                    f"the model's response of {len(result):,} bytes is over SageMaker's "
                    f"{limit:,}-byte payload limit: the endpoint would not deliver it",
                    hint="return less, or write large results to S3 and return their location",
                )
            )
            return
        self._send(HTTPStatus.OK, result, result_type)

    def _send_stream(self, content_type: str, parts: Iterator[bytes]) -> None:
        """The answer as the model produces it; see the module docstring."""
        try:
            first = next(parts, None)
        except ModelError as exc:
            self._send_model_error(exc)  # nothing is sent yet: the error can be the answer
            return
        chunked = self.request_version != "HTTP/1.0"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        # Each token is a small write: Nagle's algorithm would hold it until the client's
        # delayed ACK (up to 40 ms), batching the tokens the client should see one by one.
        with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            try:
                if first is not None:
                    self._write_part(first, chunked)
                    for part in parts:
                        self._write_part(part, chunked)
            except ModelError as exc:
                logger.warning("the model failed while streaming its answer: %s", exc.message)
                self._write_part(llm.stream_error_event(self.server.worker.framework, exc), chunked)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            # The client went away (or stopped reading for read_timeout): nothing to answer.
            self.close_connection = True

    def _write_part(self, part: bytes, chunked: bool) -> None:
        if not part:
            return  # an empty chunk would end a chunked body
        # One write per part: the chunk's size line and data leave in one segment.
        self.wfile.write(b"%x\r\n%b\r\n" % (len(part), part) if chunked else part)

    def _content_length(self) -> int | None:
        """The request's Content-Length, or None once the error has been answered."""
        header = self.headers.get("Content-Length")
        if header is None:
            self.close_connection = True
            self._send_json(
                HTTPStatus.LENGTH_REQUIRED,
                {"error": "LengthRequired", "message": "the request has no Content-Length"},
            )
            return None
        value = header.strip()
        # Only ASCII digits: str.isdigit() also accepts "²", which int() refuses.
        if not (value.isascii() and value.isdigit()):
            self.close_connection = True
            self._send_json(
                HTTPStatus.BAD_REQUEST,
                {
                    "error": "BadRequest",
                    "message": f"Content-Length {header[:40]!r} is not a number",
                },
            )
            return None
        return int(value)

    def _refuse_oversize(self, length: int, limit: int) -> None:
        self.close_connection = True
        if length <= _DRAIN_LIMIT:
            # Unread request bytes make the kernel reset the connection when it closes, and a
            # client still sending would see that reset instead of this answer.
            try:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(_CHUNK, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            except OSError:
                return
        self._send_json(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {
                "error": "PayloadTooLarge",
                "message": f"the request body of {length:,} bytes is over SageMaker's "
                f"{limit:,}-byte payload limit",
            },
        )

    def _read_body(self, length: int) -> bytes | None:
        chunks: list[bytes] = []
        received = 0
        try:
            while received < length:
                # read1, unlike read, keeps what arrived before a timeout.
                chunk = self.rfile.read1(min(_CHUNK, length - received))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            pass
        body = b"".join(chunks)
        if len(body) == length:
            return body
        self.close_connection = True
        self._send_json(
            HTTPStatus.REQUEST_TIMEOUT,
            {
                "error": "RequestTimeout",
                "message": f"the request body ended after {len(body):,} of {length:,} bytes",
            },
        )
        return None

    def _send_model_error(self, exc: ModelError) -> None:
        self._send_json(
            exc.status_code,
            {
                "error": "ModelError",
                "status": exc.status_code,
                "message": exc.message,
                "hint": exc.hint,
            },
        )

    def do_PUT(self) -> None:
        self._method_not_allowed()

    def do_DELETE(self) -> None:
        self._method_not_allowed()

    def _method_not_allowed(self) -> None:
        self._drain()
        self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "MethodNotAllowed"})

    def _drain(self) -> None:
        length = (self.headers.get("Content-Length") or "").strip()
        if length.isascii() and length.isdigit() and int(length) <= self.server.max_payload:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def _is_event_stream(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == llm.SSE_TYPE


def _close(parts: Iterator[bytes]) -> None:
    # The worker's stream holds the worker until it is read to its end or closed.
    close = getattr(parts, "close", None)
    if close is not None:
        close()


def make_server(
    worker: ModelWorker,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_payload: int = MAX_PAYLOAD_BYTES,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> http.server.ThreadingHTTPServer:
    """Bind the container contract on host:port; the caller serves and shuts it down."""
    return ModelHTTPServer((host, port), worker, max_payload=max_payload, read_timeout=read_timeout)
