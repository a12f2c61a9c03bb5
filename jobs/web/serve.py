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
    serving = Serving(server).start()
    try:
        if schedule is not None:
            schedule(web.context.stop)  # returns on SIGTERM/SIGINT, after its own run
        else:
            wait_for_signal(web.context.stop)
    finally:
        web.context.stop.set()
        serving.stop()
        web.exports.stop()  # running exports stop after the ledger date in progress
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


class Serving:
    """waitress's loop in a thread of its own, stopped from another. Its sockets are closed inside the
    loop (closing them from here while it polls them fails with EBADF); whatever is left once the
    loop has ended is closed from here."""

    def __init__(self, server) -> None:
        self.server, self.stopping = server, threading.Event()
        self.thread = threading.Thread(target=self._run, name="web", daemon=True)

    def start(self) -> Serving:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self.stopping.is_set():
                raise

    def _close_all(self) -> None:
        for dispatcher in list(self.server._map.values()):  # waitress's socket map: no public way to end its loop
            with contextlib.suppress(OSError):
                dispatcher.close()
        self.server._map.clear()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):  # a trigger already closed: the loop is ending anyway
            self.server.trigger.pull_trigger(self._close_all)
        self.thread.join(10)
        self._close_all()
        self.server.task_dispatcher.shutdown()
