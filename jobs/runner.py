"""One run of the exporter, the same whoever starts it: the command line, the scheduler or the web page.

execute() holds the lock, opens the state and one API client, records the run, and hands the
work to a body (export_period, or the feed); it returns what the run did and the one summary line
every run ends with. The caller decides where that line goes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobs import config
from jobs.errors import EXIT_INTERNAL, EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_PENDING, ConfigError
from jobs.output import Output

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What tests replace, and how a run is asked to stop (SIGTERM, the scheduler, the web server)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Finished:
    run_id: int
    code: int  # the exit code: pending and nothing to do are 0 unless detailed codes were asked for
    outcome: str
    summary: str  # the line every run ends with
    notes: list[str]
    files: list[Path]  # report files written (their manifests lie beside them)


def output_for(
    settings: config.Settings, *, out: Path | None = None, formats: tuple[str, ...] = (), csv_preset: str | None = None,
    strict: bool | None = None,
) -> Output:  # fmt: skip
    """How to write the files: the given choices over config.toml."""
    from jobs.presets import csv_format

    try:
        csv = csv_format(csv_preset or settings.csv_preset, columns=settings.csv_columns,
                         rename=settings.csv_rename, gdpr=settings.gdpr)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"[csv] in config.toml: {exc}") from None
    return Output(
        out=(out or settings.out).absolute(),  # the state records where files are, whatever the cwd
        formats=tuple(dict.fromkeys(formats or settings.formats)),
        mode=settings.file_mode,
        csv_format=csv,
        gdpr=settings.gdpr,
        sheet_row_limit=settings.sheet_row_limit,
        strict=settings.strict if strict is None else strict,
        api_base_url=settings.base_url,
        charts=settings.charts,
        merchants=settings.merchants,
    )


def describe_request(request) -> dict:
    """What an export covers, for the run's row: shown in the history."""
    return {
        "from": request.first and request.first.isoformat(), "to": request.last and request.last.isoformat(),
        "ledgers": list(request.ledgers), "topics": list(request.topics), "formats": list(request.output.formats),
        "csvPreset": request.output.csv_format.name, "combine": request.combine, "out": str(request.output.out),
    }  # fmt: skip


def export_period(
    settings: config.Settings, request, day: dt.date, context: Context, *, progress_bar: bool = False,
    watch: Callable[[int, int, str], None] | None = None,
):  # fmt: skip
    """The body of an export run: the dates of `request` (None, None: the catch-up)."""
    from jobs import export

    def body(api, state, run_id):
        result = export.run(api, state, run_id, settings, request, day, stop=context.stop,
                            progress_bar=progress_bar, watch=watch)  # fmt: skip
        period = f"{request.first}..{request.last}" if request.first else "catch-up"
        done = (
            f"{period}: {plural(len(result.written), 'ledger date')} written "
            f"({plural(sum(n for _, n in result.written), 'row')}, {plural(len(result.files), 'file')} "
            f"under {request.output.out}), {len(result.open)} open, {len(result.unavailable)} unavailable"
        )
        notes = [f"  open: {unit} (tryLater: not closed yet, a later run retries it)" for unit in result.open]
        notes += [f"  unavailable: {why}" for _, why in result.unavailable]
        notes += [f"  waiting: {unit} {why}" for unit, why in result.unsettled]
        notes += [f"  not written: {unit} {why}" for unit, why in result.unfit]
        return result, result.ledgers, done, notes

    return body


def execute(
    command: str, trigger: str, settings: config.Settings, body, *, out: Path, context: Context,
    state_path: Path | None = None, wait: bool = False, detailed: bool = False, user: str = "",
    request: dict | None = None, on_wait: Callable[[str], None] | None = None,
    on_start: Callable[[int], None] | None = None, today: dt.date | None = None,
) -> Finished:  # fmt: skip
    """Lock, state, one API client and a run row around `body`; then the run's notifications.

    `today` is the run's date (tests inject it): notifications count "once a day" by it."""
    from jobs.export import connect
    from jobs.lock import lock_for, run_lock
    from jobs.notify import Notifier, Run
    from jobs.outbox import Outbox
    from jobs.state import State
    from jobs.writers import remove_stale_temp_files

    started = context.clock()
    settings.require_credentials()  # before anything is created on disk
    state_path = state_path or settings.state_path
    day = today or dt.datetime.now(settings.timezone).date()
    with run_lock(lock_for(state_path), wait=wait, on_wait=on_wait), State(state_path) as state:
        run_id = state.runs.start(command, trigger, user=user, request=request)
        if on_start is not None:
            on_start(run_id)
        # Only under the lock: another run's temporary files would look the same.
        if removed := remove_stale_temp_files(out):
            log.info("removed %d temporary files an interrupted run left under %s", removed, out)
        outbox = Outbox(settings, state, clock=context.clock, sleep=context.sleep, stop=context.stop)
        notifier = Notifier(settings, state, day, outbox)
        try:
            # First what earlier runs could not deliver; under the lock, so no two runs send the same notice.
            outbox.deliver()
            with connect(settings, clock=context.clock, sleep=context.sleep) as (api, auth):
                result, ledgers, done, notes = body(api, state, run_id)
        except BaseException as exc:
            code = getattr(exc, "exit_code", 130 if isinstance(exc, KeyboardInterrupt) else EXIT_INTERNAL)
            error = str(exc) or type(exc).__name__
            state.runs.end(run_id, "failed" if code != 130 else "interrupted", code, {}, error)
            if code != 130:  # a stop asked for is no failure
                notifier.after_run(Run(run_id, command, trigger, "failed", code, error=error, request=request))
            raise
        counts = {**result.counts(), "tokens": auth.tokens_fetched, "retries": api.retrier.retries}
        code = result.exit_code
        if code in (EXIT_PENDING, EXIT_NOTHING_TO_DO) and not detailed:
            code = EXIT_OK  # normal every hour: a scheduler must not page anyone for it
        state.runs.end(run_id, result.outcome, code, counts, files=result.files, left=result.left())
        summary = (
            f"report-export {command}: {plural(ledgers, 'ledger')}, {done}, {plural(auth.tokens_fetched, 'token')}, "
            f"{plural(api.retrier.retries, 'retry', 'retries')}, {context.clock() - started:.1f} s: {result.outcome}"
        )
        if not result.stopped:
            notifier.after_run(Run(run_id, command, trigger, result.outcome, code, summary, request=request), result)
    return Finished(run_id, code, result.outcome, summary, notes, list(result.files))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
