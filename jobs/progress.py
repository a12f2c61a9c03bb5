"""Progress over ledger dates: a bar on a terminal, a log line per ledger elsewhere (cron)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)


class Progress:
    def __init__(
        self, total: int, *, bar: bool, stream: TextIO = sys.stderr, watch: Callable[..., None] | None = None
    ) -> None:
        self.total, self.bar, self.stream = total, bar, stream
        self.watch = watch  # told (done, total, ledger) after each ledger date, e.g. by the web page
        self.done = 0
        self._ledger: str | None = None
        self._counts = [0, 0, 0]  # written, rows, pending

    def unit_done(self, ledger_id: str, rows: int | None) -> None:
        """One ledger date finished: rows written, or None when it stays pending."""
        if ledger_id != self._ledger:
            self._ledger_line()
            self._ledger, self._counts = ledger_id, [0, 0, 0]
        if rows is None:
            self._counts[2] += 1
        else:
            self._counts[0] += 1
            self._counts[1] += rows
        self.done += 1
        if self.watch is not None:
            self.watch(self.done, self.total, ledger_id)
        if self.bar:
            width = 30
            filled = width * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {self.done}/{self.total} ledger dates")
            self.stream.flush()

    def close(self) -> None:
        self._ledger_line()
        if self.bar and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def _ledger_line(self) -> None:
        if self._ledger is not None and not self.bar:
            written, rows, pending = self._counts
            log.info("ledger %s: %d dates written (%d rows), %d pending", self._ledger, written, rows, pending)
