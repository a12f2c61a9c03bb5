"""`report-export serve`: the page under waitress, and with --schedule the catch-up beside it.

waitress is a production WSGI server in pure Python: no compiler, no second process to manage.
SIGTERM or Ctrl-C stops taking requests, asks running exports to stop after their current ledger
date, and waits for them, as the scheduler does for its own run.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable

import waitress

from jobs.web.app import Web, create_app, server_options

log = logging.getLogger("jobs")


def serve(web: Web, host: str, port: int, *, schedule: Callable[[threading.Event], int] | None = None) -> int:
    app = create_app(web)
    server = waitress.create_server(app, host=host, port=port, **server_options(web.settings.web))
    log.warning("report-export serve: http://%s:%s/ (Ctrl-C or SIGTERM stops it)", host, server.effective_port)
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    try:
        if schedule is not None:
            schedule(web.context.stop)  # returns on SIGTERM/SIGINT, after its own run
        else:
            wait_for_signal(web.context.stop)
    finally:
        web.context.stop.set()  # running exports stop after the ledger date in progress
        stop_server(server, thread)
        web.exports.join()
    log.warning("report-export serve: stopped")
    return 0


def wait_for_signal(stop: threading.Event) -> None:
    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(1):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_server(server, thread: threading.Thread) -> None:
    """Stop waitress from its own loop: closing its sockets from another thread while the loop polls
    them fails with EBADF. Each socket is closed in the loop thread, which then ends, having none."""

    def close_all() -> None:
        for dispatcher in list(server._map.values()):  # waitress's socket map: no public way to end its loop
            with contextlib.suppress(OSError):
                dispatcher.close()
        server._map.clear()

    server.trigger.pull_trigger(close_all)
    thread.join(10)
    server.task_dispatcher.shutdown()
