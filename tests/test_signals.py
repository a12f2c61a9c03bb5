"""jobs.signals, the one way run, feed, schedule and serve stop on SIGTERM and SIGINT: real signals sent to this
process. The commands themselves are stopped for real in test_processes.py, test_schedule.py, test_web.py and
test_notify.py."""

from __future__ import annotations

import logging
import os
import signal
import threading

import pytest

from jobs.signals import SIGNALS, stop_on_signals


def watchers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "stop-on-signal"]


@pytest.fixture
def handlers():
    """Handlers of the test's own in place of pytest's, to check that stop_on_signals puts them back."""

    def handler(signum, frame):  # pragma: no cover - only called if a signal leaks past stop_on_signals
        raise AssertionError(f"{signal.Signals(signum).name} reached the handler stop_on_signals replaces")

    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    yield handler
    for signum, old in previous.items():
        signal.signal(signum, old)


@pytest.mark.parametrize("signum", SIGNALS)
def test_the_first_signal_sets_the_event_says_so_and_calls_then(signum, handlers, caplog):
    caplog.set_level(logging.INFO, logger="jobs")
    stop, called = threading.Event(), threading.Event()
    with stop_on_signals(stop, "stopping after the step in progress", then=called.set):
        [watcher] = watchers()
        os.kill(os.getpid(), signum)
        watcher.join(5)
        assert stop.is_set() and called.is_set()
    assert [signal.getsignal(s) for s in SIGNALS] == [handlers, handlers]
    assert [r.getMessage() for r in caplog.records if r.name == "jobs"] == [
        f"{signal.Signals(signum).name} received: stopping after the step in progress"
    ]


def test_a_second_signal_stops_at_once(handlers):
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(stop, "stopping"):
        os.kill(os.getpid(), signal.SIGTERM)  # asks: the work goes on to the end of its step
        os.kill(os.getpid(), signal.SIGINT)  # insists: KeyboardInterrupt, as Ctrl-C always did
    assert stop.is_set() and signal.getsignal(signal.SIGINT) is handlers and not watchers()


def test_leaving_without_a_signal_ends_the_watcher_and_sets_nothing(handlers):
    stop, called = threading.Event(), threading.Event()
    with stop_on_signals(stop, "stopping", then=called.set):
        assert signal.getsignal(signal.SIGTERM) is not handlers
    assert not watchers() and not stop.is_set() and not called.is_set()
    assert signal.getsignal(signal.SIGTERM) is handlers


def test_outside_the_main_thread_it_leaves_the_handlers_alone(handlers):
    """Python runs handlers on the main thread only: a run in the scheduler's or the page's thread is stopped
    through the event its caller passes on."""
    seen = []

    def worker() -> None:
        with stop_on_signals(threading.Event(), "stopping"):
            seen.append((signal.getsignal(signal.SIGTERM), watchers()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert seen == [(handlers, [])]
