"""`report-export feed`: follow each ledger's feed from the stored cursor into batch files.

Batch files are numbered per ledger and topic (`..._feed_000001.csv`), so they sort
by time, and the number is stored with the cursor. A run killed after writing a
batch but before storing its cursor rewrites the same batch number from the same
cursor next time, replacing the orphan: no entry is ever in two files, and none is
skipped, because the cursor only moves once the files are in place. Each batch's
manifest records the cursor after it, so a lost state can be rebuilt (jobs.rebuild);
a feed folder with batches beyond the state's position is never written into.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from jobs.api import ReportApi
from jobs.entries import replace_lone_surrogates, to_row
from jobs.errors import NotAvailable, UsageError
from jobs.manifest import describe, write_manifest
from jobs.outcome import OUTCOMES, exit_code
from jobs.output import BOOKKEEPING, SETTLEMENTS, Ledger, Output, file_errors, report_path, warn_replaced
from jobs.rebuild import check_feed
from jobs.reconcile import DateSummary
from jobs.state import State
from jobs.state.runs import Left

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
        return exit_code(
            stopped=self.stopped,
            failed=bool(self.refused or self.withdrawn),
            pending=bool(self.unavailable),
            did_work=bool(self.entries),
        )

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, "failed")

    def left(self) -> list[Left]:
        return []  # the feed has no dates to leave open: its cursor waits where it is

    def counts(self) -> dict[str, int]:
        return {
            "ledgers": self.ledgers,
            "entries": self.entries,
            "files": len(self.files),
            "unavailable": len(self.unavailable),
            "withdrawn": len(self.withdrawn),
        }


def follow(
    api: ReportApi,
    state: State,
    ledgers: dict[str, ZoneInfo],
    topics: tuple[str, ...],
    output: Output,
    *,
    start: str,
    run_id: int,
    stop: threading.Event,
    batch_limit: int,
) -> FeedResult:
    """Follow each ledger's feed (ledger id -> its time zone) from the stored cursor to the end."""
    output = entry_formats(output)
    result = FeedResult(ledgers=len(ledgers))
    for ledger_id, zone in ledgers.items():
        for topic in topics:
            if stop.is_set():
                result.stopped = True
                log.warning("stopped on request before the feed of ledger %s %s", ledger_id, topic)
                return result
            try:
                follow_one(api, state, output, ledger_id, topic, zone, start, run_id, batch_limit, stop, result)
            except NotAvailable as exc:
                log.warning("unavailable: %s", exc)
                result.unavailable.append(str(exc))
    return result


def entry_formats(output: Output) -> Output:
    """Feed batches are not ledger dates, so they get no voucher, statement or settlement: those need closed dates."""
    kept = tuple(fmt for fmt in output.formats if fmt not in BOOKKEEPING + SETTLEMENTS)
    if kept == output.formats:
        return output
    if not kept:
        raise UsageError(
            "feed batches are written as csv or xlsx: vouchers, statements and settlements are made of closed "
            "ledger dates; use report-export run --format gbat10, camt053 or vipps-xml for those"
        )
    log.info(
        "feed: batches are written as %s only; vouchers, statements and settlements come from report-export run",
        " and ".join(kept),
    )
    return dataclasses.replace(output, formats=kept)


def follow_one(
    api: ReportApi,
    state: State,
    output: Output,
    ledger_id: str,
    topic: str,
    zone: ZoneInfo,
    start: str,
    run_id: int,
    batch_limit: int,
    stop: threading.Event,
    result: FeedResult,
) -> None:
    what = f"the feed of ledger {ledger_id} {topic}"
    known = state.feeds.position(ledger_id, topic)
    folder = report_path(output.out, ledger_id, topic, "feed", output.formats[0]).parent / "feed"
    check_feed(state, output.out, folder, known, start, what)
    stored, batch = known.cursor, known.next_batch
    pages = api.feed_pages(ledger_id, topic, stored, gdpr=output.gdpr)
    if stored is None and start == "now":
        position = stored
        for page in pages:  # walk to the end without writing: only what comes later is wanted
            position = page.cursor
        state.feeds.record(ledger_id, topic, position, batch, 0)
        log.info("%s: starting from now", what)
        return
    position, ended = stored, False
    while not ended:
        label = f"feed_{batch:06d}"
        paths = [report_path(output.out, ledger_id, topic, label, fmt) for fmt in output.formats]
        paths = [folder / path.name for path in paths]
        summary: DateSummary | None = None
        replaced = 0
        heading = f"Ledger {ledger_id} {topic} feed batch {batch:06d}"
        with file_errors(what, output.out), ExitStack() as stack:
            reports = [
                stack.enter_context(output.open(f, p, Ledger(ledger_id, zone), heading))
                for f, p in zip(output.formats, paths, strict=True)
            ]
            ended = True
            for page in pages:
                replaced += replace_lone_surrogates(page.items)
                rows = [to_row(entry, ledger_id) for entry in page.items]
                for entry, row in zip(page.items, rows, strict=True):
                    summary = summary or DateSummary(ledger_id, topic, row.ledgerDate)
                    summary.add(entry)
                    last_date = row.ledgerDate
                for report in reports:
                    report.write(rows)
                position = page.cursor
                if page.try_later:
                    break
                if summary and summary.entries >= batch_limit:
                    ended = False
                    break
            if summary:
                summary.replaced = replaced
                warn_replaced(f"{what}, batch {batch:06d}", summary)
                for report in reports:
                    report.commit(sync_folder=False)
                # The cursor after this batch: where a state rebuilt from the manifests goes on (jobs.rebuild).
                content = {**describe([summary], closed=False), "dates": [str(summary.date), str(last_date)]}
                content["cursor"] = position
                write_manifest(reports, content, api_base_url=output.api_base_url, run_id=run_id, mode=output.mode)
        count = summary.entries if summary else 0
        if count:
            batch += 1
            result.files.extend(paths)
            result.entries += count
        if position != stored or count:
            state.feeds.record(ledger_id, topic, position, batch, count)
            stored = position
        if stop.is_set() and not ended:
            result.stopped = True
            log.warning("stopped on request in %s; the next run goes on from here", what)
            return
    log.info("%s: up to date", what)
