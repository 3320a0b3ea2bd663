"""The SageMaker container's HTTP contract in front of a ModelWorker.

Contract: `make_server(worker, host, port)` returns a bound, not yet serving ThreadingHTTPServer
(port 0 picks a free port; read it from `server.server_address`). The caller runs
`serve_forever()` and `shutdown()`; closing the worker stays the caller's job.
- `GET /ping` -> 200 while the worker is up, 503 when it is not.
- `POST /invocations` -> the worker's body and Content-Type; `Content-Type` (or `ContentType`)
  and `Accept` are passed through. A ModelError answers with its status code and a JSON body
  `{"error": "ModelError", "status": ..., "message": ..., "hint": ...}`.
- Bodies over 6 MiB (SageMaker's real-time payload limit) get 413; anything else 404/405.
Access logs go to the `deployspec.runtime.server` logger, never to stdout.
"""

from __future__ import annotations

import http.server
import json
import logging
from http import HTTPStatus
from typing import Any

from deployspec.runtime.errors import ModelError
from deployspec.runtime.worker import ModelWorker

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

logger = logging.getLogger(__name__)


class ModelHTTPServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its worker."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], worker: ModelWorker) -> None:
        self.worker = worker
        super().__init__(address, _ContainerHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints unexpected handler errors to stderr; they belong in the log.
        logger.exception("error while handling a request from %s", client_address)


class _ContainerHandler(http.server.BaseHTTPRequestHandler):
    server: ModelHTTPServer
    protocol_version = "HTTP/1.1"

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
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            self._send_json(
                HTTPStatus.LENGTH_REQUIRED, {"error": "LengthRequired", "message": "no length"}
            )
            return
        length = int(length_header)
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {
                    "error": "PayloadTooLarge",
                    "message": f"{length} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit",
                },
            )
            return
        body = self.rfile.read(length)
        content_type = self.headers.get("Content-Type") or self.headers.get("ContentType") or ""
        accept = self.headers.get("Accept") or ""
        try:
            result, result_type = self.server.worker.invoke(body, content_type, accept)
        except ModelError as exc:
            self._send_json(
                exc.status_code,
                {
                    "error": "ModelError",
                    "status": exc.status_code,
                    "message": exc.message,
                    "hint": exc.hint,
                },
            )
            return
        self._send(HTTPStatus.OK, result, result_type)

    def do_PUT(self) -> None:
        self._method_not_allowed()

    def do_DELETE(self) -> None:
        self._method_not_allowed()

    def _method_not_allowed(self) -> None:
        self._drain()
        self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "MethodNotAllowed"})

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) <= MAX_PAYLOAD_BYTES:
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


def make_server(
    worker: ModelWorker, host: str = "127.0.0.1", port: int = 8080
) -> http.server.ThreadingHTTPServer:
    """Bind the container contract on host:port; the caller serves and shuts it down."""
    return ModelHTTPServer((host, port), worker)
