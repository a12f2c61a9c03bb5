"""Sockets only: parse HTTP into a Request, hand it to the sandbox, write the Reply back."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .messages import Reply, Request, problem

_Request = socket.socket | tuple[bytes, socket.socket]  # socketserver's: a TCP server only ever gets the socket


class Served(Protocol):
    """What the server asks of the Sandbox (server.py), which imports this module."""

    quiet: bool

    def handle(self, req: Request) -> Reply: ...

    def record(self, req: Request, status: int) -> None: ...


class Server(ThreadingHTTPServer):
    # Handler threads are joined on close, after their keep-alive sockets are shut,
    # so nothing outlives stop() and no socket is left for the garbage collector.
    daemon_threads = False
    block_on_close = True
    sandbox: Served

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[_Request] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: _Request, client_address: Any) -> None:  # Any: socketserver's own type
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                if isinstance(sock, socket.socket):  # always, over TCP
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: _Request, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a dropped connection means something
    server_version = "ReportApiSandbox/1.0"
    timeout = 30
    wbufsize = -1  # buffered: headers and body leave in one segment (no Nagle/delayed-ACK stall)
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        req = Request(
            method=self.command,
            path=urllib.parse.unquote(url.path),
            query=dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        try:
            reply = sandbox.handle(req)
        except Exception:  # a sandbox bug must still answer, or the client hangs
            self.server.handle_error(self.request, self.client_address)
            reply = problem(500, "Internal Server Error", "sandbox bug", req.path)
        sandbox.record(req, reply.status)  # before answering: the test reads it right after
        if reply.drop:
            self.close_connection = True
            return
        body = reply.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        if not self.server.sandbox.quiet:
            super().log_message(format, *args)
