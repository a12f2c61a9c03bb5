"""The one place that wires plan -> pages -> rows -> files -> state.

A ledger date gets its files only when the API calls it closed; open (tryLater)
and unavailable (404) dates leave no file, are recorded as pending and retried
by later runs until they close, however long that takes: one pending longer than
[state] warn_after_days is named by every catch-up and retried once a day. A
voucher or statement that waits (jobs.output) leaves its date exported but queued
for that file: every catch-up tries it again, whatever run found it, and every run
names what still waits (exit 13). State is written only after the files it
describes are durably in place.

What to ask for is planned in jobs.plan, of the ledgers jobs.ledgers chooses; what the run found is its
Result (jobs.result).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

from jobs import settlements
from jobs.api import ReportApi
from jobs.errors import NotAvailable, Unreconciled
from jobs.ledgers import ledgers_for, readable_ledgers, select
from jobs.output import SETTLEMENTS, Output, PeriodFiles, Written, usable_topics, write_date
from jobs.plan import Unit, catch_up, dates, first_date, plan
from jobs.progress import Progress
from jobs.rebuild import check_known
from jobs.request import RunRequest, by_hand
from jobs.result import Result
from jobs.settings import Settings
from jobs.settlement_dates import TOPIC
from jobs.state import State
from jobs.state.dates import Waiting
from jobs.state.db import now_utc

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


def run(
    api: ReportApi,
    state: State,
    run_id: int,
    settings: Settings,
    request: RunRequest,
    output: Output,
    today: dt.date,
    *,
    stop: threading.Event,
    progress_bar: bool,
    watch: Callable[[int, int, str], None] | None = None,
) -> Result:
    """The request's ledger dates, into files as `output` says."""
    result = Result()
    request = dataclasses.replace(request, topics=usable_topics(output, request.topics))
    if request.records_dates:  # a page export writes a folder of its own, and records no dates
        check_known(state, output.out, run_id)
    readable = readable_ledgers(api, state, first_date(settings, today), result, records=request.records_dates)
    selected = select(readable, request.ledgers)
    result.ledgers = len(selected)
    span = (request.first, request.last) if request.first is not None and request.last is not None else None
    if span is None:
        units, result.overdue = catch_up(state, selected, request, today, settings.warn_after_days)
    else:
        units = plan(selected, request.topics, dates(*span))
    result.planned = len(units)
    ledgers = ledgers_for(readable, selected, settings, output, state)
    recorded = state if request.records_dates else None
    settle = any(fmt in SETTLEMENTS for fmt in output.formats)
    settle_into = output.out if settle else None
    progress = Progress(len(units), bar=progress_bar, watch=watch)
    if watch is not None:
        watch(0, len(units), units[0].ledger_id if units else "")
    # Workers fetch and write files; this thread alone records results in plan order, so state,
    # summary and exit code are the same at any concurrency. There are half as many workers again
    # as requests allowed on the wire (ReportApi holds that limit): while some write their files,
    # the others keep every request slot busy; more would only fight over the GIL. Period files
    # take rows date by date, in order, so --combine works one ledger date at a time.
    workers = 1 if request.combine else settings.concurrency + max(1, settings.concurrency // 2)
    queued = 1 if request.combine else 2 * workers  # enough to keep every worker busy, no more
    window: deque[tuple[Unit, PeriodFiles | None, Future[Written | None | Skipped]]] = deque()
    periods: dict[tuple[str, str], PeriodFiles] = {}
    with ExitStack() as cleanup:  # on the way out, last registered first:
        tick = cleanup.enter_context(state.batched())  # 4. commit what was recorded
        cleanup.callback(abort_periods, periods)  # 3. no-op once committed
        pool = cleanup.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="export"))  # 2. wait for workers
        cleanup.callback(lambda: [future.cancel() for _, _, future in window])  # 1. on failure: start no more
        for unit in units:
            if stop.is_set():
                result.stopped = True
                log.warning("stopped on request before %s; the next run goes on from there", unit)
                break
            period = None
            if request.combine and span is not None:  # --combine comes with a period (jobs.cli.run, the page)
                key = (unit.ledger_id, unit.topic)
                if key not in periods:
                    commit_periods(periods, unit.ledger_id, run_id, result)
                    periods[key] = PeriodFiles(output, ledgers[unit.ledger_id], unit.topic, *span)
                period = periods[key]
            also = period.reports if period is not None and period.missing is None else ()
            future = pool.submit(
                unless_stopped,
                stop,
                write_date,
                api,
                output,
                ledgers[unit.ledger_id],
                unit.topic,
                unit.date,
                run_id,
                also,
                unit.retry,
            )
            window.append((unit, period, future))
            while len(window) >= queued:
                record_unit(recorded, run_id, today, *window.popleft(), result, progress, settle_into=settle_into)
                tick()
        while window:
            record_unit(recorded, run_id, today, *window.popleft(), result, progress, settle_into=settle_into)
            tick()
        if not result.stopped:
            commit_periods(periods, None, run_id, result)
    progress.close()
    if settle and not result.stopped:  # after the dates: a payout's settlement may span several of them
        missing = [*result.open, *(unit for unit, _ in result.unavailable), *result.unreconciled]
        settled = settlements.settle(
            api,
            state,
            output,
            readable,
            selected,
            result.payouts,
            span,
            combine=request.combine,
            record=request.records_dates,
            run_id=run_id,
            today=today,
            stop=stop,
            workers=settings.concurrency,
            missing={u.ledger_id: str(u) for u in missing if u.topic == "funds"},
        )
        result.files += settled.files
        result.unsettled = [(Unit(lid, "funds", day), f"vipps-xml: {why}") for lid, day, why in settled.waiting]
        result.unfit = [(Unit(lid, "funds", day), f"vipps-xml: {why}") for lid, day, why in settled.refused]
    name_overdue(result, today, settings)
    if request.records_dates:  # a page export names what waits of its own files only (record_unit)
        name_waiting(result, state, selected, request.topics)
    return result


def name_waiting(result: Result, state: State, ledger_ids: list[str], topics: tuple[str, ...]) -> None:
    """Every run names what still waits of its ledgers and topics, found by whichever run, and why."""
    for (ledger_id, topic), items in state.dates.waiting().items():
        if ledger_id in ledger_ids and topic in topics:
            for item in (item for item in items if item.format not in SETTLEMENTS):  # settle() names those
                result.waiting.append((Unit(ledger_id, topic, item.date), item))
                log.error(
                    "waiting: ledger %s %s %s: no %s yet: %s", ledger_id, topic, item.date, item.format, item.reason
                )


def name_overdue(result: Result, today: dt.date, settings: Settings) -> None:
    """The alarm for dates pending too long: every run names each one still pending, with the command
    that fetches it by hand; none is ever dropped from the queue."""
    written = {unit for unit, _ in result.written}
    result.overdue = [(unit, waiting) for unit, waiting in result.overdue if unit not in written]
    for unit, waiting in result.overdue:
        log.error(
            "overdue: %s has been %s since %s (%d days; [state] warn_after_days is %d) and is retried once a day; "
            "fetch it by hand with: %s",
            unit,
            waiting.status,
            waiting.since,
            (today - unit.date).days,
            settings.warn_after_days,
            by_hand(settings, unit.ledger_id, unit.topic, unit.date),
        )


class Skipped(enum.Enum):
    """What a queued ledger date returns when a stop came before a worker took it."""

    SKIPPED = "skipped"


SKIPPED: Final = Skipped.SKIPPED


def unless_stopped(stop: threading.Event, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | Skipped:
    return SKIPPED if stop.is_set() else work(*args, **kwargs)


def abort_periods(periods: dict[tuple[str, str], PeriodFiles]) -> None:
    for period in periods.values():
        period.abort()


def commit_periods(periods: dict[tuple[str, str], PeriodFiles], keep: str | None, run_id: int, result: Result) -> None:
    """Commit the period files of every ledger but `keep` (the one still being exported)."""
    for key in [key for key in periods if key[0] != keep]:
        period = periods.pop(key)
        result.files.extend(path for path in period.commit(run_id) if path.suffix != ".json")
        if period.failed:
            result.periods_failed.append(period.failed)


def record_unit(
    state: State | None,
    run_id: int,
    today: dt.date,
    unit: Unit,
    period: PeriodFiles | None,
    future: Future[Written | None | Skipped],
    result: Result,
    progress: Progress,
    *,
    settle_into: Path | None = None,
) -> None:
    """One ledger date's outcome: an 'exported' row, or a 'pending' row and no file, and what of it waits; in
    `result`, and in the state's dates and queue of waiting files unless `state` is None (a page export). With
    `settle_into` (the folder of this run's settlements), a funds date's payout is noted, and queued in the
    state with its 'exported' row (jobs.settlements)."""
    try:
        written = future.result()
        if written is SKIPPED:
            if not result.stopped:
                log.warning("stopped on request before %s; the next run goes on from there", unit)
            result.stopped = True
            if period is not None:
                period.skip("the run was stopped")
            return
    except NotAvailable as exc:
        log.warning("unavailable: %s", exc)
        if state is not None:
            state.dates.record_pending(unit.key, "unavailable", str(exc), run_id, today)
        result.unavailable.append((unit, str(exc)))
        written = None
    except Unreconciled as exc:
        log.error("%s", exc)
        result.unreconciled.append(unit)
        result.reasons[unit] = str(exc)
        written = None
    else:
        if written is None:
            log.warning("open: %s is not closed yet (tryLater); no file written, a later run retries it", unit)
            if state is not None:
                state.dates.record_pending(unit.key, "open", "tryLater", run_id, today)
            result.open.append(unit)
    progress.unit_done(unit.ledger_id, None if written is None else written.summary.entries)
    if written is None:
        if period is not None:
            period.skip(f"{unit} is not exported")
        return
    summary, digests = written.summary, written.digests
    paths = list(digests)
    failed = sum(1 for check in summary.checks if not check.ok)
    if state is None:  # a page export: what waits is named on its run only, never queued for the catch-up
        result.waiting.extend(
            (unit, Waiting(unit.date, fmt, why, written.planned, str(written.out), now_utc(), 1))
            for fmt, why in written.waiting.items()
        )
    else:
        if unit.retry is None:  # a retry's date is exported already: its row stays as the run that wrote it left it
            state.dates.record_exported(unit.key, summary.entries, dict(summary.sums), digests, run_id, failed)
        state.dates.record_waiting(
            unit.key, written.waiting, written.formats, written.planned, str(written.out), run_id, today
        )
    if settle_into is not None and unit.retry is None and unit.topic == TOPIC and summary.payout is not None:
        result.payouts.append(unit)
        if state is not None:
            settlements.owed(state, unit.key, settle_into, run_id, today)
    log.debug("written: %s, %d rows", unit, summary.entries)
    result.written.append((unit, summary.entries))
    result.files.extend(path for path in paths if path.suffix != ".json")
    if period is not None:
        period.summaries.append(summary)
