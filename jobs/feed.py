"""`report-export feed`: follow each ledger's feed from the stored cursor into batch files.

Batch files are numbered per ledger and topic (`..._feed_000001.csv`), so they sort
by time, and the number is stored with the cursor. A run killed after writing a
batch but before storing its cursor rewrites the same batch number from the same
cursor next time, replacing the orphan: no entry is ever in two files, and none is
skipped, because the cursor only moves once the files are in place.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from jobs.api import ReportApi
from jobs.entries import EntryError, to_row
from jobs.errors import EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_PENDING, ApiError, NotAvailable, OutputError, ProtocolError
from jobs.export import EXIT_INTERRUPTED, sha256
from jobs.state import State
from jobs.writers import open_report

log = logging.getLogger(__name__)


@dataclass
class FeedResult:
    ledgers: int = 0
    entries: int = 0
    files: list[Path] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_INTERRUPTED
        if self.refused or self.withdrawn:
            return ApiError.exit_code
        if self.unavailable:
            return EXIT_PENDING
        return EXIT_OK if self.entries else EXIT_NOTHING_TO_DO

    @property
    def outcome(self) -> str:
        names = {0: "ok", EXIT_PENDING: "pending", EXIT_NOTHING_TO_DO: "nothing to do", EXIT_INTERRUPTED: "stopped"}
        return names.get(self.exit_code, "failed")

    def counts(self) -> dict[str, int]:
        return {"ledgers": self.ledgers, "entries": self.entries, "files": len(self.files),
                "unavailable": len(self.unavailable), "withdrawn": len(self.withdrawn)}  # fmt: skip


def feed_path(out: Path, ledger_id: str, topic: str, batch: int, fmt: str) -> Path:
    return out / ledger_id / topic / "feed" / f"{ledger_id}_{topic}_feed_{batch:06d}.{fmt}"


def follow(
    api: ReportApi, state: State, ledger_ids: list[str], topics: tuple[str, ...], formats: tuple[str, ...],
    out: Path, *, start: str, mode: int, stop: threading.Event, batch_limit: int,
) -> FeedResult:  # fmt: skip
    result = FeedResult(ledgers=len(ledger_ids))
    for ledger_id in ledger_ids:
        for topic in topics:
            if stop.is_set():
                result.stopped = True
                log.warning("stopped on request before the feed of ledger %s %s", ledger_id, topic)
                return result
            try:
                follow_one(api, state, ledger_id, topic, formats, out, start, mode, batch_limit, stop, result)
            except NotAvailable as exc:
                log.warning("unavailable: %s", exc)
                result.unavailable.append(str(exc))
    return result


def follow_one(
    api: ReportApi, state: State, ledger_id: str, topic: str, formats: tuple[str, ...], out: Path,
    start: str, mode: int, batch_limit: int, stop: threading.Event, result: FeedResult,
) -> None:  # fmt: skip
    stored, batch = state.feed_position(ledger_id, topic)
    pages = api.feed_pages(ledger_id, topic, stored)
    if stored is None and start == "now":
        position = stored
        for page in pages:  # walk to the end without writing: only what comes later is wanted
            position = page.cursor
        state.record_feed(ledger_id, topic, position, batch, 0)
        log.info("feed of ledger %s %s: starting from now", ledger_id, topic)
        return
    position, ended = stored, False
    while not ended:
        paths = [feed_path(out, ledger_id, topic, batch, fmt) for fmt in formats]
        count = 0
        try:
            with ExitStack() as stack:
                reports = [
                    stack.enter_context(open_report(f, p, mode=mode)) for f, p in zip(formats, paths, strict=True)
                ]
                ended = True
                for page in pages:
                    rows = [to_row(entry, ledger_id) for entry in page.items]
                    for report in reports:
                        report.write(rows)
                    count += len(rows)
                    position = page.cursor
                    if page.try_later:
                        break
                    if count >= batch_limit:
                        ended = False
                        break
                if count:
                    for report in reports:
                        report.commit()
        except EntryError as exc:
            raise ProtocolError(f"feed of ledger {ledger_id} {topic}: {exc}") from None
        except OSError as exc:
            raise OutputError(f"cannot write the feed of ledger {ledger_id} {topic} under {out}: "
                              f"{exc.strerror or exc}; check --out and free space") from None  # fmt: skip
        if count:
            batch += 1
            for path in paths:
                log.debug("written: %s (sha256 %s)", path, sha256(path))
            result.files.extend(paths)
            result.entries += count
        if position != stored or count:
            state.record_feed(ledger_id, topic, position, batch, count)
            stored = position
        if stop.is_set() and not ended:
            result.stopped = True
            log.warning(
                "stopped on request in the feed of ledger %s %s; the next run goes on from here", ledger_id, topic
            )
            return
    log.info("feed of ledger %s %s: up to date", ledger_id, topic)
