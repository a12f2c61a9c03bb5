"""Stopping on a signal, the one way for run, feed, schedule and serve.

SIGTERM (systemd, docker stop, kill) and SIGINT (Ctrl-C) set a threading.Event: the work looks at it between
its steps (a ledger date, a feed batch, a scheduled run, the page's exports) and ends cleanly, and the command
exits as README.md says. A second signal raises KeyboardInterrupt in the main thread, as Ctrl-C always did: a run
abandons the date in progress at once (exit 130; no partial file is left).

The handler only writes the signal's number to a pipe, and a watcher thread does the rest (sets the event, logs,
calls `then`): a Python handler runs on the main thread between two bytecodes, maybe while that thread holds the
lock of the very event (inside Event.wait or Event.set) or one that `then` needs (the scheduler's), so doing
the work there could deadlock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_LEAVING = 0  # written by stop_on_signals itself when it ends: no signal has that number

log = logging.getLogger("jobs")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, doing: str, then: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside it, the first SIGTERM or SIGINT sets `stop`, logs "SIGTERM received: <doing>" and calls `then`
    (on the watcher thread); on leaving, the handlers that were there before are back.

    Outside the main thread it does nothing: Python delivers signals to the main thread only, and a run in a
    worker thread (the scheduler's, the page's) is stopped through the event its caller passes on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    asked: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)
        os.write(write_fd, bytes([signum]))

    def watch() -> None:
        signum = os.read(read_fd, 1)[0]
        if signum == _LEAVING:
            return
        stop.set()
        log.info("%s received: %s", signal.Signals(signum).name, doing)
        if then is not None:
            then()

    watcher = threading.Thread(target=watch, name="stop-on-signal", daemon=True)
    watcher.start()
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    try:
        for signum in SIGNALS:
            signal.signal(signum, on_signal)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        os.write(write_fd, bytes([_LEAVING]))  # wakes a watcher that saw no signal; one that did ends after `then`
        watcher.join()
        os.close(read_fd)
        os.close(write_fd)
