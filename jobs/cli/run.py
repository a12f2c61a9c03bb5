"""`report-export run`, `feed` and `schedule`: each builds the run's request (jobs.request) and hands it to
runner.execute; the summary line goes to stdout and the --log-file."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from jobs.cli.runtime import Runtime, reported_errors, today
from jobs.config import keys_outside_dotenv
from jobs.errors import EXIT_OK, UsageError
from jobs.request import OPTIONS, RunRequest, request_for, scheduled
from jobs.settings import Settings

log = logging.getLogger("jobs")


def request_from_args(args: argparse.Namespace, settings: Settings, day: dt.date) -> RunRequest:
    """The request of `run` or `feed`: their options (argparse's dest is the field's name) over config.toml."""
    first, last = date_range(args, day)
    given = {f.name: getattr(args, f.name, None) for f in OPTIONS}
    request = request_for(settings, args.command, **{**given, "first": first, "last": last}, user=getpass.getuser())
    if request.combine and request.first is None:
        raise UsageError("--combine needs a period: add --from and --to")
    return request


def date_range(args: argparse.Namespace, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The period asked for; (None, None) means catch-up."""
    first: dt.date | None = getattr(args, "first", None)  # `feed` has neither
    last: dt.date | None = getattr(args, "last", None)
    if last is not None:
        first = first or last  # --to alone: that one date
    elif first is not None:
        last = max(first, today - dt.timedelta(days=1))  # --from alone: through yesterday
    else:
        return None, None
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}: swap them")
    if last > today:
        flag = "--to" if args.last is not None else "--from"
        raise UsageError(f"{flag} {last} is in the future (today is {today}): the API has no report for it yet")
    return first, last


def cmd_run(args: argparse.Namespace, settings: Settings, runtime: Runtime) -> int:
    """`run` and `feed` alike: the request says which work it is."""
    return run_and_report(request_from_args(args, settings, today(settings, runtime)), settings, runtime, args.quiet)


def run_and_report(request: RunRequest, settings: Settings, runtime: Runtime, quiet: bool) -> int:
    """The run; then its summary line on stdout and in the --log-file."""
    from jobs.runner import execute  # keeps `--help` and config errors fast
    from jobs.signals import stop_on_signals

    context = dataclasses.replace(runtime.context, progress_bar=sys.stderr.isatty() and not quiet)
    with stop_on_signals(runtime.stop, "stopping after the ledger date or feed batch in progress"):
        finished = execute(request, settings, context)
    if not quiet:
        print("\n".join([finished.summary, *finished.notes]))
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, finished.summary, (), None)
    for handler in log.handlers[1:]:  # the --log-file always gets it; stderr already has stdout's copy
        handler.handle(record)
    return finished.code


def scheduled_job(settings: Settings, runtime: Runtime, quiet: bool) -> Callable[[], None]:
    """What `schedule` and `serve --schedule` run on [schedule] cron: the catch-up, as config.toml says."""
    request = scheduled(settings, getpass.getuser())

    def job() -> None:
        with reported_errors():
            run_and_report(request, settings, runtime, quiet)

    return job


def cmd_schedule(args: argparse.Namespace, settings: Settings, runtime: Runtime) -> int:
    from jobs.schedule import crontab_line, run_scheduler

    if args.print_cron:
        print(crontab_line(settings, args.state))
        if missing := keys_outside_dotenv(settings):
            where = settings.config_file.parent if settings.config_file else Path(".")
            names, them = (f"{missing[0]} is", "it") if len(missing) == 1 else (f"{' and '.join(missing)} are", "them")
            print(
                f"report-export: note: {names} not in {(where / '.env').absolute()}, and cron starts the line "
                f"without this shell's environment: put {them} there",
                file=sys.stderr,
            )
        return EXIT_OK
    settings.require_credentials()
    job = scheduled_job(settings, runtime, args.quiet)
    return run_scheduler(settings.schedule, job, runtime.stop, first_run_now=args.now)


def with_state(settings: Settings, state: Path | None) -> Settings:
    """--state over [state] path."""
    return dataclasses.replace(settings, state_path=state, state_given=True) if state is not None else settings
