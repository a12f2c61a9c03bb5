"""What every command runs with: the clocks tests replace, and the one place a known error becomes a line and a code."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from jobs.errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, ReportExportError
from jobs.runner import Context
from jobs.settings import Settings

log = logging.getLogger("jobs")


@dataclass(frozen=True)
class Runtime:
    """What tests replace: the clocks, the pause between retries, the way to stop a run."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    today: dt.date | None = None  # None: today in the configured time zone
    stop: threading.Event = field(default_factory=threading.Event)  # set by SIGTERM or the scheduler

    @property
    def context(self) -> Context:
        return Context(self.clock, self.sleep, self.stop, today=self.today)


def today(settings: Settings, runtime: Runtime) -> dt.date:
    return runtime.today or settings.today()


@dataclass
class Outcome:
    code: int = EXIT_INTERNAL


@contextmanager
def reported_errors() -> Iterator[Outcome]:
    outcome = Outcome()
    try:
        yield outcome
    except ReportExportError as exc:
        log.debug("error", exc_info=True)
        print(f"report-export: error: {exc}", file=sys.stderr)
        outcome.code = exc.exit_code
    except KeyboardInterrupt:
        print("report-export: interrupted; finished files are complete, nothing partial was left", file=sys.stderr)
        outcome.code = EXIT_INTERRUPTED
    except BrokenPipeError:  # `report-export status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        outcome.code = EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: say so in one line, keep the traceback for the log
        log.debug("internal error", exc_info=True)
        name = type(exc).__name__
        print(f"report-export: internal error: {name}: {exc} (a bug: rerun with -v and report it)", file=sys.stderr)
        outcome.code = EXIT_INTERNAL
