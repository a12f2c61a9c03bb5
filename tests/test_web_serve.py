"""jobs.web.serve.Serving: waitress in a thread of its own, stopped from another without its private parts, while
a browser still holds a connection open. `serve` itself is stopped by SIGTERM in test_web.py."""

from __future__ import annotations

import socket
import time

import pytest

from jobs.web.serve import Serving


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def test_stop_ends_the_loop_with_a_kept_alive_connection_open_and_frees_the_port():
    serving = Serving(hello, host="127.0.0.1", port=0, threads=2).start()
    browser = socket.create_connection(("127.0.0.1", serving.port), timeout=5)
    try:
        browser.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")  # HTTP/1.1: the connection stays open
        answer = b""
        while not answer.endswith(b"hello"):  # the head and the body may come in separate segments
            part = browser.recv(4096)
            assert part, answer
            answer += part
        assert answer.startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        serving.stop()
        assert time.monotonic() - started < 5 and not serving.thread.is_alive()
        assert serving.sockets == {}
        assert browser.recv(4096) == b""  # closed by the server
    finally:
        browser.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", serving.port), timeout=5)


def test_stop_before_the_loop_ever_ran_closes_the_listening_socket():
    serving = Serving(hello, host="127.0.0.1", port=0)
    serving.stop()
    assert serving.sockets == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", serving.port), timeout=5)
