"""The one place that wires plan -> pages -> rows -> files -> state.

A ledger date gets its files only when the API calls it closed; open (tryLater)
and unavailable (404) dates leave no file, are recorded as pending and retried
by later runs until they close, however long that takes: one pending longer than
[state] warn_after_days is named by every catch-up and retried once a day. A
voucher or statement that waits (jobs.output) leaves its date exported but queued
for that file: every catch-up tries it again, whatever run found it, and every run
names what still waits (exit 13). State is written only after the files it
describes are durably in place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jobs import settlements
from jobs.accounts import charts_for
from jobs.api import ReportApi, describe_ledger
from jobs.auth import TokenAuth
from jobs.config import Settings
from jobs.errors import (
    EXIT_NOTHING_TO_DO,
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PENDING,
    EXIT_UNFIT,
    EXIT_WAITING,
    ApiError,
    NotAvailable,
    ProtocolError,
    Unreconciled,
)
from jobs.iban import payout_iban
from jobs.output import SETTLEMENTS, Ledger, Output, PeriodFiles, Retry, ledger_zone, owner, usable_topics, write_date
from jobs.progress import Progress
from jobs.rebuild import check_known
from jobs.request import RunRequest
from jobs.retry import Retrier
from jobs.state import State
from jobs.state.dates import Pending, Waiting, overdue
from jobs.state.db import now_utc
from jobs.state.runs import Left

log = logging.getLogger(__name__)
PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Unit:
    ledger_id: str
    topic: str
    date: dt.date
    retry: Retry | None = field(default=None, compare=False)  # only the files that wait, of an exported date

    def __str__(self) -> str:
        return f"ledger {self.ledger_id} {self.topic} {self.date}"

    @property
    def key(self) -> tuple[str, str, dt.date]:
        return self.ledger_id, self.topic, self.date


OUTCOMES = {
    EXIT_OK: "ok",
    EXIT_PENDING: "pending",
    EXIT_NOTHING_TO_DO: "nothing to do",
    EXIT_OVERDUE: "overdue",
    EXIT_WAITING: "waiting",
    EXIT_INTERRUPTED: "stopped",
}


def exit_code(
    *,
    stopped: bool,
    failed: bool,
    pending: bool,
    did_work: bool,
    overdue: bool = False,
    waiting: bool = False,
    unfit: bool = False,
) -> int:
    """How a run ended, in detail: failures first, then settlements a format could not hold, files that wait,
    overdue dates, dates still pending, and whether anything was done. The command line turns pending and
    nothing to do into 0 unless asked."""
    if stopped:
        return EXIT_INTERRUPTED
    if failed:
        return ApiError.exit_code
    if unfit:
        return EXIT_UNFIT
    if waiting:
        return EXIT_WAITING
    if overdue:
        return EXIT_OVERDUE
    if pending:
        return EXIT_PENDING
    return EXIT_OK if did_work else EXIT_NOTHING_TO_DO


@dataclass
class Result:
    ledgers: int = 0
    planned: int = 0
    written: list[tuple[Unit, int]] = field(default_factory=list)  # (unit, rows)
    files: list[Path] = field(default_factory=list)
    open: list[Unit] = field(default_factory=list)
    unavailable: list[tuple[Unit, str]] = field(default_factory=list)
    overdue: list[tuple[Unit, Pending]] = field(default_factory=list)  # pending past [state] warn_after_days
    unreconciled: list[Unit] = field(default_factory=list)
    reasons: dict[Unit, str] = field(default_factory=dict)  # why each unreconciled date got no file
    waiting: list[tuple[Unit, Waiting]] = field(default_factory=list)  # files still waiting, after the run
    periods_failed: list[str] = field(default_factory=list)  # period files refused: their balances do not add up
    withdrawn: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Vipps settlement XML (jobs.settlements), per payout's date: found this run, waiting for a date to close
    # (so unsettled; issue 18's `waiting` are files waiting for their chart), or never written
    payouts: list[Unit] = field(default_factory=list)
    unsettled: list[tuple[Unit, str]] = field(default_factory=list)
    unfit: list[tuple[Unit, str]] = field(default_factory=list)
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        failed = self.refused or self.withdrawn or self.unreconciled or self.periods_failed
        return exit_code(
            stopped=self.stopped,
            failed=bool(failed),
            unfit=bool(self.unfit),
            pending=bool(self.open or self.unavailable or self.unsettled),
            did_work=bool(self.planned),
            overdue=bool(self.overdue),
            waiting=bool(self.waiting),
        )

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, "failed")

    def left(self) -> list[Left]:
        """The dates this run found open or unavailable, the files it names as waiting (with their format), and the
        settlements it could not write yet or ever, for its row in the state."""
        found: list[tuple[Unit, str, str, str | None]] = [(unit, "open", "tryLater", None) for unit in self.open]
        found += [(unit, "unavailable", why, None) for unit, why in self.unavailable]
        found += [(unit, "waiting", item.reason, item.format) for unit, item in self.waiting]
        found += [(unit, "unsettled", why, settlements.FORMAT) for unit, why in self.unsettled]
        found += [(unit, "refused", why, settlements.FORMAT) for unit, why in self.unfit]
        return [Left(unit.ledger_id, unit.topic, unit.date, status, detail, fmt) for unit, status, detail, fmt in found]

    def counts(self) -> dict[str, int]:
        return {
            "ledgers": self.ledgers,
            "dates": self.planned,
            "written": len(self.written),
            "rows": sum(rows for _, rows in self.written),
            "files": len(self.files),
            "open": len(self.open),
            "unavailable": len(self.unavailable),
            "overdue": len(self.overdue),
            "withdrawn": len(self.withdrawn),
            "unreconciled": len(self.unreconciled) + len(self.periods_failed),
            "waiting": len(self.waiting),
            "unsettled": len(self.unsettled),
            "unfit": len(self.unfit),
        }


@contextmanager
def connect(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[tuple[ReportApi, TokenAuth]]:
    """An API client with one token for the whole run; `transport` None: the network (tests give a fake)."""
    credentials = settings.require_credentials()
    headers = dict(settings.system_headers)
    auth = TokenAuth(credentials, settings.token_url, timeout=settings.timeout, headers=headers, clock=clock)
    pool = max(settings.concurrency, 4)  # a connection per request slot, kept alive between ledger dates
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    with httpx.Client(
        base_url=settings.base_url,
        auth=auth,
        headers=headers,
        timeout=settings.timeout,
        follow_redirects=False,
        limits=limits,
        transport=transport,
    ) as client:
        yield ReportApi(client, Retrier(settings.retry, clock=clock, sleep=sleep), settings.concurrency), auth


def check_identifier(ledger_id: str) -> str:
    """Ledger ids become folder and file names: refuse anything but a plain identifier."""
    if not PLAIN_ID.fullmatch(ledger_id):
        raise ProtocolError(f"the API sent ledger id {ledger_id[:40]!r}, which is not a plain identifier; refused")
    return ledger_id


def dates(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan(ledger_ids: list[str], topics: tuple[str, ...], days: list[dt.date]) -> list[Unit]:
    """Ledger by ledger, date by date, so a ledger's files are complete early in a long run."""
    return [Unit(ledger, topic, day) for ledger in ledger_ids for day in days for topic in topics]


def first_date(settings: Settings, today: dt.date) -> dt.date:
    """Where the catch-up of a ledger seen for the first time begins."""
    return settings.start_date or today - dt.timedelta(days=1)


def readable_ledgers(
    api: ReportApi, state: State, start: dt.date, result: Result, *, records: bool = True
) -> dict[str, dict]:
    """The ledgers the keys can read now, by id; with `records`, new and withdrawn ones are noted and reported."""
    readable = {}
    for ledger in api.ledgers():
        try:
            readable[check_identifier(ledger["ledgerId"])] = ledger
        except ApiError as exc:
            log.error("%s", exc)
            result.refused.append(ledger["ledgerId"])
    state.web.remember_ledgers([describe_ledger(ledger) for ledger in readable.values()])  # for the page
    if not records:
        return readable
    new, withdrawn, returned = state.ledgers.see(list(readable), start)
    for ledger_id in new:
        log.info("ledger %s is new: exporting from %s", ledger_id, state.ledgers.start_date(ledger_id))
    for ledger_id in returned:
        log.warning("ledger %s is readable again: catching up", ledger_id)
    for ledger_id in withdrawn:
        log.error(
            "ledger %s is no longer readable with these keys: ask the merchant whether access was withdrawn; "
            "its files so far are kept",
            ledger_id,
        )
    result.withdrawn = withdrawn
    return readable


def select(readable: dict[str, dict], requested: tuple[str, ...]) -> list[str]:
    """The ledgers asked for with --ledger (all readable ones if none); one the keys cannot read is an error."""
    missing = [lid for lid in requested if lid not in readable]
    if missing:
        raise ApiError(
            f"ledger {', '.join(missing)} is not readable with these keys ({len(readable)} are): "
            "check --ledger (see report-export ledgers), or ask the merchant to grant access"
        )
    return list(requested or readable)


def catch_up(
    state: State, ledger_ids: list[str], request: RunRequest, today: dt.date, warn_after_days: int, result: Result
) -> list[Unit]:
    """Every date from each ledger's start through yesterday not yet exported, and every pending one,
    also from before the start (an on-demand run may have left it). None is ever dropped: a date pending
    longer than warn_after_days is named as overdue by every run and still asked for, once a day."""
    yesterday = today - dt.timedelta(days=1)
    units = []
    for ledger_id in ledger_ids:
        for topic in request.topics:
            statuses = state.dates.statuses(ledger_id, topic)
            pending = {p.date: p for p in state.dates.pending(ledger_id, topic)}
            for day in sorted(set(dates(state.ledgers.start_date(ledger_id), yesterday)) | set(pending)):
                if statuses.get(day) == "exported":
                    continue
                unit, waiting = Unit(ledger_id, topic, day), pending.get(day)
                if waiting is not None and overdue(day, today, warn_after_days):
                    result.overdue.append((unit, waiting))  # named after the run, unless it closes now
                    if waiting.last_try == today:
                        continue  # an old queue costs a request per date a day, not one per run
                units.append(unit)
            for day, files in retries(state, ledger_id, topic).items():
                units.append(Unit(ledger_id, topic, day, retry=files))
    ledger_order = {ledger_id: n for n, ledger_id in enumerate(ledger_ids)}
    topic_order = {topic: n for n, topic in enumerate(request.topics)}
    return sorted(units, key=lambda u: (ledger_order[u.ledger_id], u.date, topic_order[u.topic]))


def retries(state: State, ledger_id: str, topic: str) -> dict[dt.date, Retry]:
    """What waits of a ledger's exported dates, by date: tried again by every catch-up, so a key added to the
    chart writes it at the next run, whatever run found it (a period too, before the ledger's start)."""
    found: dict[dt.date, Retry] = {}
    for item in state.dates.waiting(ledger_id, topic).get((ledger_id, topic), []):
        if item.format in SETTLEMENTS:
            continue  # a settlement waits for its payout's dates: jobs.settlements.settle writes it
        known = found.get(item.date)
        formats = (*known.formats, item.format) if known else (item.format,)
        found[item.date] = Retry(formats, item.planned, Path(item.out))
    return found


def ledgers_for(
    readable: dict[str, dict], selected: list[str], settings: Settings, output: Output, state: State
) -> dict[str, Ledger]:
    """What each selected ledger's files need: its zone, its chart (the ledger seen first keeps a series that
    two of a client's ledgers would share) and its payout IBAN. A ledger in another currency than its client's
    books gets no vouchers, said once a run: GBAT10 has no currency column, and nothing converts."""
    seen = state.ledgers.first_seen()
    oldest = sorted(readable, key=lambda lid: (seen.get(lid, "~"), lid))
    charts = charts_for(output.charts, [(lid, owner(readable[lid])) for lid in oldest]) if output.charts else {}
    ledgers = {}
    for lid in selected:
        chart, currency, skip = charts.get(lid), readable[lid].get("currency", ""), frozenset()
        if "gbat10" in output.formats and chart is not None and not chart.gap and chart.book_currency != currency:
            log.warning(
                "ledger %s: no vouchers: it is in %s, but the books of client %s are in %s (book_currency); "
                'GBAT10 has no currency column. If they are kept in %s, set book_currency = "%s" in '
                '[ledgers."%s"] (or the client\'s table) in %s',
                lid,
                currency or "?",
                chart.client or "(no owner)",
                chart.book_currency,
                currency,
                currency,
                lid,
                chart.source,
            )
            skip = frozenset({"gbat10"})
        zone = ledger_zone(readable[lid], settings.timezone)
        ledgers[lid] = Ledger(lid, zone, chart, payout_iban(readable[lid].get("payoutBankAccount")), skip)
    return ledgers


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
    if request.first is None:
        units = catch_up(state, selected, request, today, settings.warn_after_days, result)
    else:
        units = plan(selected, request.topics, dates(request.first, request.last))
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
    window: deque[tuple[Unit, PeriodFiles | None, Future]] = deque()
    periods: dict[tuple[str, str], PeriodFiles] = {}
    with ExitStack() as cleanup:  # on the way out, last registered first:
        tick = cleanup.enter_context(state.batched())  # 4. commit what was recorded
        cleanup.callback(lambda: [period.abort() for period in periods.values()])  # 3. no-op once committed
        pool = cleanup.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="export"))  # 2. wait for workers
        cleanup.callback(lambda: [future.cancel() for _, _, future in window])  # 1. on failure: start no more
        for unit in units:
            if stop.is_set():
                result.stopped = True
                log.warning("stopped on request before %s; the next run goes on from there", unit)
                break
            period = None
            if request.combine:
                key = (unit.ledger_id, unit.topic)
                if key not in periods:
                    commit_periods(periods, unit.ledger_id, run_id, result)
                    periods[key] = PeriodFiles(output, ledgers[unit.ledger_id], unit.topic, request.first, request.last)
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
        period = (request.first, request.last) if request.first else None
        missing = [*result.open, *(unit for unit, _ in result.unavailable), *result.unreconciled]
        settled = settlements.settle(
            api,
            state,
            output,
            readable,
            selected,
            result.payouts,
            period,
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
    name_overdue(result, today, settings.warn_after_days)
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


def name_overdue(result: Result, today: dt.date, warn_after_days: int) -> None:
    """The alarm for dates pending too long: every run names each one still pending, with the command
    that fetches it by hand; none is ever dropped from the queue."""
    written = {unit for unit, _ in result.written}
    result.overdue = [(unit, waiting) for unit, waiting in result.overdue if unit not in written]
    for unit, waiting in result.overdue:
        log.error(
            "overdue: %s has been %s since %s (%d days; [state] warn_after_days is %d) and is retried once a day; "
            "fetch it by hand with: report-export run --ledger %s --topic %s --from %s --to %s",
            unit,
            waiting.status,
            waiting.since,
            (today - unit.date).days,
            warn_after_days,
            unit.ledger_id,
            unit.topic,
            unit.date,
            unit.date,
        )


SKIPPED = object()  # what a queued ledger date returns when a stop came before a worker took it


def unless_stopped(stop: threading.Event, work: Callable, *args):
    return SKIPPED if stop.is_set() else work(*args)


def commit_periods(periods: dict, keep: str | None, run_id: int, result: Result) -> None:
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
    future: Future,
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
    if (
        settle_into is not None
        and unit.retry is None
        and unit.topic == settlements.TOPIC
        and summary.payout is not None
    ):
        result.payouts.append(unit)
        if state is not None:
            settlements.owed(state, unit.key, settle_into, run_id, today)
    log.debug("written: %s, %d rows", unit, summary.entries)
    result.written.append((unit, summary.entries))
    result.files.extend(path for path in paths if path.suffix != ".json")
    if period is not None:
        period.summaries.append(summary)
