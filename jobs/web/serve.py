"""`report-export serve`: the page under waitress, and with --schedule the catch-up beside it.

waitress is a production WSGI server in pure Python: no compiler, no second process to manage.
SIGTERM or Ctrl-C (jobs.signals) stops taking requests, asks running exports to stop after their
current ledger date, and waits for them, as the scheduler does for its own run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from waitress.server import create_server

from jobs.signals import stop_on_signals
from jobs.web.app import create_app, server_options
from jobs.web.site import Web

log = logging.getLogger("jobs")


def serve(web: Web, host: str, port: int, *, schedule: Callable[[threading.Event], int] | None = None) -> int:
    serving = Serving(create_app(web), host=host, port=port, **server_options(web.settings.web))
    log.warning("report-export serve: http://%s:%s/ (Ctrl-C or SIGTERM stops it)", host, serving.port)
    serving.start()
    try:
        if schedule is not None:
            schedule(web.context.stop)  # returns on SIGTERM/SIGINT, after its own run
        else:
            with stop_on_signals(web.context.stop, "stopping the page and the exports it started"):
                web.context.stop.wait()
    finally:
        web.context.stop.set()
        serving.stop()
        web.exports.stop()  # running exports stop after the ledger date in progress
    log.warning("report-export serve: stopped")
    return 0


class Serving:
    """waitress's loop in a thread of its own, stopped from another. The loop runs while its socket map holds
    a socket; waitress has no public way to stop it, so the server is made over a map of our own (create_server's
    `map`), and stopping closes every socket in it, listening and connected. They are closed inside the loop,
    through the server's trigger (closing them from here while it polls them fails with EBADF); whatever is left
    once the loop has ended, or if it never ran, is closed from here."""

    def __init__(self, app: Callable[..., Any], **options: Any) -> None:
        self.sockets: dict[int, Any] = {}  # file number -> waitress's dispatcher (the server, its trigger, channels)
        # Any: types-waitress lacks the server's effective_port and types its trigger as an int.
        self.server: Any = cast(Any, create_server(app, map=self.sockets, **options))
        self.port: int = self.server.effective_port
        self.stopping = threading.Event()
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
        for dispatcher in list(self.sockets.values()):
            with contextlib.suppress(OSError):
                dispatcher.close()
        self.sockets.clear()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):  # a trigger already closed: the loop is ending anyway
            self.server.trigger.pull_trigger(self._close_all)
        if self.thread.is_alive():
            self.thread.join(10)
        self._close_all()
        self.server.task_dispatcher.shutdown()
