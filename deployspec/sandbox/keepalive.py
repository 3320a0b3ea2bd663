"""HTTP/1.1 keep-alive for the sandbox's werkzeug server (offered upstream as is).

Contract: `KeepAliveHandler` is moto's request handler that keeps a client's connection open
between requests instead of closing it after each one, which werkzeug's development server
always does because http.server cannot skip a request body the application left unread (the
rest of it would be read as the next request). This handler reads that rest itself:
- a request with a Content-Length gets its body behind a stream limited to that length, and
  whatever the application did not read of it is read and dropped once it has answered, so the
  next request starts where it should;
- a chunked request, a request asking `Connection: close`, and HTTP/1.0 close as before;
- a connection idle for IDLE_SECONDS is closed (its thread ends);
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
from werkzeug.wsgi import LimitedStream

IDLE_SECONDS = 30


class KeepAliveHandler(MotoRequestHandler):
    timeout = IDLE_SECONDS  # socketserver applies it to the connection's socket

    def setup(self) -> None:
        super().setup()
        # http.server writes the status line, each header and the body separately: on a kept-
        # open connection, Nagle's algorithm holds each small write back until the client's
        # delayed ACK (40 ms) unless the socket sends at once.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        self._body: LimitedStream | None = None
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
        self._body = None
        connection_file = self.rfile
        try:
            super().run_wsgi()
        finally:
            self.rfile = connection_file
        body = self._body
        if body is None:
            self.close_connection = True  # a body of unknown length: its end is unknown too
        elif not self.close_connection:
            body.exhaust()

    def handle_expect_100(self) -> bool:
        # werkzeug's run_wsgi answers `Expect: 100-continue` itself; http.server answering too
        # puts a second interim response on the connection, which a kept-open connection reads
        # as the start of the next answer.
        return True

    def send_header(self, keyword: str, value: str) -> None:
        # werkzeug sends `Connection: close` with every response; a client that asked for it
        # (or spoke HTTP/1.0) has close_connection set already by http.server.
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and not self.close_connection
            and getattr(self, "_body", None) is not None
        ):
            return
        super().send_header(keyword, value)
