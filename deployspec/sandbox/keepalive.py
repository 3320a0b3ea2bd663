"""HTTP/1.1 keep-alive for the sandbox's werkzeug server (offered upstream as is).

Contract: `KeepAliveHandler` is moto's request handler that keeps a client's connection open
between requests instead of closing it after each one, which werkzeug's development server
always does because http.server cannot skip a request body the application left unread (the
rest of it would be read as the next request). This handler reads that rest itself:
- a request with a Content-Length gets its body behind a stream limited to that length, and
  whatever the application did not read of it is read and dropped once it has answered, so the
  next request starts where it should;
- a chunked request, a request asking `Connection: close`, HTTP/1.0, an answer to HEAD or
  with a status that has no body (1xx, 204, 304: werkzeug writes whatever body the application
  returns), an answer cut short after its headers (an error mid-body, a dropped write) and a
  request whose body the client stopped sending close as before;
- a connection idle for IDLE_SECONDS is closed (its thread ends), without logging an error;
- its socket sends each write at once (TCP_NODELAY), as a server answering in several small
  writes on one connection must.
botocore keeps up to ten connections per client: without keep-alive every AWS call paid a new
TCP connection on both sides and a new server thread, a third of the sandbox's time per call
(bench/bench_many.py).
"""

from __future__ import annotations

import io
import socket
from typing import IO, Any, cast

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import LimitedStream

IDLE_SECONDS = 30
# Statuses and methods whose responses carry no body: werkzeug's server writes the body an
# application returns anyway, which a kept-open connection would read as the next answer.
_NO_BODY_STATUSES = frozenset({204, 304})


class _CountingWriter:
    """The connection's writer, counting the bytes written (to tell a whole response from one
    cut short by an error after its headers)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        written: int = self._raw.write(data)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)  # closed, close and the rest, as the writer has them


class KeepAliveHandler(MotoRequestHandler):
    timeout = IDLE_SECONDS  # socketserver applies it to the connection's socket

    def setup(self) -> None:
        super().setup()
        # http.server writes the status line, each header and the body separately: on a kept-
        # open connection, Nagle's algorithm holds each small write back until the client's
        # delayed ACK (40 ms) unless the socket sends at once.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer = _CountingWriter(self.wfile)
        self.wfile = cast("Any", self._writer)
        self._reset()

    def _reset(self) -> None:
        self._body: LimitedStream | None = None
        self._in_app = False
        self._status: int | None = None
        self._declared: int | None = None
        self._body_starts: int | None = None

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not environ.get("wsgi.input_terminated") and length.isascii() and length.isdigit():
            self._body = LimitedStream(cast("IO[bytes]", self.rfile), int(length))
            environ["wsgi.input"] = self._body
            # After answering, werkzeug reads whatever else the socket has, assuming the
            # connection closes; on a kept-open one that is the next request. It reads
            # nothing from here on: the body is ours to finish, below.
            self.rfile = io.BytesIO()
        return environ

    def run_wsgi(self) -> None:
        self._reset()
        self._in_app = True
        connection_file = self.rfile
        try:
            super().run_wsgi()
        finally:
            self.rfile = connection_file
            self._in_app = False
        body, cut_short = self._body, self._cut_short()
        self._reset()
        if body is None or cut_short:
            self.close_connection = True  # where this request or its answer ends is unknown
        elif not self.close_connection:
            try:
                while body.read(1 << 16):  # what the application left unread, in pieces
                    pass
            except (ClientDisconnected, OSError):
                self.close_connection = True

    def _cut_short(self) -> bool:
        """An answer whose body is shorter than its Content-Length (an error after the headers
        were sent)."""
        if self._declared is None or self._body_starts is None:
            return False
        return self._writer.count - self._body_starts < self._declared

    def _keeps_alive(self) -> bool:
        return (
            self._in_app
            and self._body is not None
            and not self.close_connection
            and self.request_version == "HTTP/1.1"
            and self.command != "HEAD"
            and self._status is not None
            and self._status >= 200
            and self._status not in _NO_BODY_STATUSES
        )

    def send_response(self, code: int, message: str | None = None) -> None:
        if self._in_app:
            self._status = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        name = keyword.lower()
        if name == "content-length" and self._in_app and value.strip().isdigit():
            self._declared = int(value)
        # werkzeug sends `Connection: close` with every response.
        if name == "connection" and value.lower() == "close" and self._keeps_alive():
            return
        super().send_header(keyword, value)

    def flush_headers(self) -> None:
        super().flush_headers()
        if self._in_app and self._body_starts is None:
            self._body_starts = self._writer.count

    def handle_expect_100(self) -> bool:
        # werkzeug's run_wsgi answers `Expect: 100-continue` itself; http.server answering too
        # puts a second interim response on the connection, which a kept-open connection reads
        # as the start of the next answer.
        return True

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True  # werkzeug leaves a half-written answer's connection open

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            return  # an idle kept-open connection closing, not an error
        super().log_error(format, *args)
