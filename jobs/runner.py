"""One run of the exporter, the same whoever starts it: the command line, the scheduler or the web page.

execute(request, settings, context) holds the lock, opens the state and one API client, records the
run, and does the work the request asks for: its ledger dates (export.run) or the feed (feed.follow).
It returns what the run did and its summary line; the caller decides where that line goes. A run that
fails raises, after its row and its notice say so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_PENDING
from jobs.request import RunRequest
from jobs.settings import Settings

if TYPE_CHECKING:
    import httpx

    from jobs.api import ReportApi
    from jobs.feed import FeedResult
    from jobs.output import Output
    from jobs.result import Result
    from jobs.state import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What tests replace, how a run is asked to stop (SIGTERM, the scheduler, the page's Stop button), and
    what its caller is told while it goes on."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event = field(default_factory=threading.Event)
    today: dt.date | None = None  # the run's date; None: today in the configured time zone
    progress_bar: bool = False  # on a terminal
    watch: Callable[[int, int, str], None] | None = None  # ledger dates done, planned, and the ledger now
    on_wait: Callable[[str], None] | None = None  # another run holds the lock: who
    on_start: Callable[[int], None] | None = None  # the run's id, once it holds the lock
    on_connect: Callable[[ReportApi], None] | None = None  # its API client (the page shows the retries)
    transport: httpx.BaseTransport | None = None  # None: the network; tests give an httpx.MockTransport


@dataclass(frozen=True)
class Work:
    """What a run's work did: its result, the middle of its summary line, and the lines under it."""

    result: Result | FeedResult
    done: str
    notes: list[str]


@dataclass(frozen=True)
class Finished:
    run_id: int
    code: int  # the exit code: pending and nothing to do are 0 unless detailed codes were asked for
    outcome: str
    summary: str  # the line every finished run ends with
    notes: list[str]
    files: list[Path]  # report files written (their manifests lie beside them)


def execute(request: RunRequest, settings: Settings, context: Context | None = None) -> Finished:
    """Lock, state, one API client and a run row around the request's work; then the run's notice."""
    from jobs.client import connect
    from jobs.formats.spill import remove_stale_temp_files
    from jobs.lock import lock_for, run_lock
    from jobs.notify import Notifier, Run
    from jobs.outbox import Outbox
    from jobs.state import State

    context = context or Context()
    started = context.clock()
    settings = dataclasses.replace(settings, concurrency=request.concurrency)
    settings.require_credentials()  # before anything is created on disk
    day = context.today or settings.today()
    context = dataclasses.replace(context, today=day)
    work = export_dates if request.command == "run" else follow_feeds
    # The feed's row keeps no request, as before: the history shows the periods of date runs.
    record = request.record() if request.command == "run" else None
    with (
        run_lock(lock_for(settings.state_path), wait=request.wait, on_wait=context.on_wait),
        State(settings.state_path) as state,
    ):
        run_id = state.runs.start(request.command, request.trigger, user=request.user, request=record)
        if context.on_start is not None:
            context.on_start(run_id)
        # Only under the lock: another run's temporary files would look the same.
        if removed := remove_stale_temp_files(request.out):
            log.info("removed %d temporary files an interrupted run left under %s", removed, request.out)
        outbox = Outbox(settings, state, clock=context.clock, sleep=context.sleep, stop=context.stop)
        notifier = Notifier(settings, state, day, outbox)
        try:
            # First what earlier runs could not deliver; under the lock, so no two runs send the same notice.
            outbox.deliver()
            with connect(settings, clock=context.clock, sleep=context.sleep, transport=context.transport) as (
                api,
                auth,
            ):
                if context.on_connect is not None:
                    context.on_connect(api)
                done = work(api, state, run_id, request, settings, context)
        except BaseException as exc:
            code = getattr(exc, "exit_code", EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_INTERNAL)
            error = str(exc) or type(exc).__name__
            outcome = "failed" if code != EXIT_INTERRUPTED else "interrupted"
            state.runs.end(run_id, outcome, code, {}, error)
            notifier.after_run(
                Run(run_id, request.command, request.trigger, outcome, code, error=error, request=request)
            )
            raise
        result = done.result
        counts = {**result.counts(), "tokens": auth.tokens_fetched, "retries": api.retrier.retries}
        code = result.exit_code
        if code in (EXIT_PENDING, EXIT_NOTHING_TO_DO) and not request.detailed_exit_codes:
            code = EXIT_OK  # normal every hour: a scheduler must not page anyone for it
        state.runs.end(run_id, result.outcome, code, counts, files=result.files, left=result.left())
        summary = (
            f"report-export {request.command}: {plural(result.ledgers, 'ledger')}, {done.done}, "
            f"{plural(auth.tokens_fetched, 'token')}, {plural(api.retrier.retries, 'retry', 'retries')}, "
            f"{context.clock() - started:.1f} s: {result.outcome}"
        )
        notifier.after_run(
            Run(run_id, request.command, request.trigger, result.outcome, code, summary, request=request), result
        )
    return Finished(run_id, code, result.outcome, summary, done.notes, list(result.files))


def output_for(settings: Settings, request: RunRequest) -> Output:
    """How to write the request's files (config.load checked that config.toml's [csv] can be written)."""
    from jobs.output import Output
    from jobs.presets import csv_format

    return Output(
        out=request.out,
        formats=request.formats,
        mode=settings.file_mode,
        csv_format=csv_format(
            request.csv_preset, columns=settings.csv_columns, rename=settings.csv_rename, gdpr=settings.gdpr
        ),
        gdpr=settings.gdpr,
        sheet_row_limit=settings.sheet_row_limit,
        strict=request.strict,
        api_base_url=settings.base_url,
        charts=settings.charts,
        merchants=settings.merchants,
    )


def export_dates(
    api: ReportApi, state: State, run_id: int, request: RunRequest, settings: Settings, context: Context
) -> Work:
    """The request's ledger dates (first and last None: the catch-up), on the context's day."""
    from jobs import export

    output = output_for(settings, request)
    assert context.today is not None  # execute gives the run's date
    result = export.run(
        api,
        state,
        run_id,
        settings,
        request,
        output,
        context.today,
        stop=context.stop,
        progress_bar=context.progress_bar,
        watch=context.watch,
    )
    period = f"{request.first}..{request.last}" if request.first else "catch-up"
    done = (
        f"{period}: {plural(len(result.written), 'ledger date')} written "
        f"({plural(sum(n for _, n in result.written), 'row')}, {plural(len(result.files), 'file')} "
        f"under {output.out}), {len(result.open)} open, {len(result.unavailable)} unavailable"
    )
    notes = [f"  open: {unit} (tryLater: not closed yet, a later run retries it)" for unit in result.open]
    notes += [f"  unavailable: {why}" for _, why in result.unavailable]
    notes += [f"  waiting: {unit} {why}" for unit, why in result.unsettled]
    notes += [f"  not written: {unit} {why}" for unit, why in result.unfit]
    return Work(result, done, notes)


def follow_feeds(
    api: ReportApi, state: State, run_id: int, request: RunRequest, settings: Settings, context: Context
) -> Work:
    """The request's ledgers' feeds, from their stored cursors."""
    from jobs import feed
    from jobs.ledgers import readable_ledgers, select
    from jobs.output import ledger_zone
    from jobs.plan import first_date
    from jobs.rebuild import check_known
    from jobs.result import Result

    output = output_for(settings, request)
    assert context.today is not None  # execute gives the run's date
    check_known(state, output.out, run_id)  # a lost state stops the feed before any ledger is recorded
    seen = Result()  # collects new, withdrawn and refused ledgers
    readable = readable_ledgers(api, state, first_date(settings, context.today), seen)
    zones = {lid: ledger_zone(readable[lid], settings.timezone) for lid in select(readable, request.ledgers)}
    result = feed.follow(
        api,
        state,
        zones,
        request.topics,
        output,
        start=settings.feed_start,
        run_id=run_id,
        stop=context.stop,
        batch_limit=settings.feed_batch_entries,
    )
    result.withdrawn, result.refused = seen.withdrawn, seen.refused
    done = f"feed: {plural(result.entries, 'new entry', 'new entries')} in {plural(len(result.files), 'file')}"
    return Work(result, f"{done} under {output.out}", [f"  unavailable: {why}" for why in result.unavailable])


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
