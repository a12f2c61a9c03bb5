"""Command line: argparse only. Known errors become one line and an exit code.

main(argv) is the one door; the export page's commands (serve, users) are in web.py and notify in
notify.py, each imported when the command table is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jobs import __version__, config
from jobs.cli import notify, web
from jobs.cli import state as state_command
from jobs.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_VERIFY_FAILED,
    OutputError,
    ReportExportError,
    UsageError,
)
from jobs.presets import PRESETS
from jobs.runner import plural

log = logging.getLogger("jobs")


@dataclass(frozen=True)
class Runtime:
    """What tests replace: the clocks, the pause between retries, the way to stop a run."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    today: dt.date | None = None  # None: today in the configured time zone
    stop: threading.Event = field(default_factory=threading.Event)  # set by SIGTERM or the scheduler

    @property
    def context(self):
        from jobs.runner import Context

        return Context(self.clock, self.sleep, self.stop)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(settings: config.Settings) -> Parser:
    """The commands and their options; the defaults shown by --help are those of the config in use."""
    common = Parser(add_help=False)
    common.add_argument("--config", type=Path, help="config file (default: ./config.toml)")
    common.add_argument("-v", "--verbose", action="store_true", help="log every ledger date and retry")
    common.add_argument("-q", "--quiet", action="store_true", help="print errors only (for cron)")
    common.add_argument("--log-file", type=Path, metavar="PATH", help="also append the full log to this file")
    state = Parser(add_help=False)
    state.add_argument("--state", type=Path, metavar="PATH", help=f"state database (default: {settings.state_path})")
    locked = Parser(add_help=False)
    locked.add_argument("--wait", action="store_true", help="wait for a running export instead of exiting")
    locked.add_argument(
        "--detailed-exit-codes",
        action="store_true",
        help="exit 8 when dates are still open, 9 when there was nothing to do (default: 0)",
    )
    selection = Parser(add_help=False)
    selection.add_argument("--ledger", action="append", metavar="ID", help="only this ledger (repeatable)")
    selection.add_argument(
        "--topic",
        action="append",
        choices=config.TOPICS,
        help=f"funds or fees (repeatable; default: {' and '.join(settings.topics)})",
    )
    selection.add_argument(
        "--format",
        action="append",
        choices=config.FORMATS,
        help=f"{', '.join(config.FORMATS)} (repeatable; default: {' and '.join(settings.formats)})",
    )
    selection.add_argument("--out", type=Path, metavar="DIR", help=f"output folder (default: {settings.out})")
    selection.add_argument("--csv-preset", choices=PRESETS, help=f"CSV flavour (default: {settings.csv_preset})")

    # The shared options go on each command only: argparse lets a subcommand's
    # defaults overwrite the same options given before it.
    parser = Parser(prog="report-export", description="Export Vipps MobilePay settlement reports.")
    parser.add_argument("--version", action="version", version=f"report-export {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", parents=[common, state, locked, selection],
        help="export ledger dates (default: catch up through yesterday)",
    )  # fmt: skip
    run.add_argument("--from", dest="first", type=iso_date, metavar="YYYY-MM-DD", help="first ledger date")
    run.add_argument("--to", dest="last", type=iso_date, metavar="YYYY-MM-DD", help="last ledger date")
    run.add_argument("--combine", action="store_true", help="also one file per ledger and topic for the period")
    run.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help=f"a date whose balances do not add up gets no file (default: {on_off(settings.strict)})",
    )
    run.add_argument(
        "--concurrency",
        type=concurrency,
        metavar="N",
        help=f"requests to the API at once (default: {settings.concurrency})",
    )
    commands.add_parser(
        "feed", parents=[common, state, locked, selection], help="follow the feeds from the stored cursor"
    )
    status = commands.add_parser("status", parents=[common, state], help="what is exported, open, and last runs")
    status.add_argument("--json", action="store_true", help="print JSON for monitoring")
    schedule = commands.add_parser(
        "schedule", parents=[common, state],
        help=f"run the catch-up on [schedule] cron (now: {settings.schedule.cron}, {settings.schedule.timezone})",
    )  # fmt: skip
    schedule.add_argument("--now", action="store_true", help="also run once right away")
    schedule.add_argument(
        "--print-cron", action="store_true", help="print a crontab line at this installation's minute instead, and exit"
    )
    ledgers = commands.add_parser("ledgers", parents=[common], help="list the ledgers the keys can read")
    ledgers.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser("check", parents=[common], help="check config, keys and one API call")
    verify = commands.add_parser("verify", parents=[common], help="check report files against their manifests")
    verify.add_argument("folder", type=Path, metavar="DIR", help="a folder of reports, e.g. reports")
    serve = commands.add_parser("serve", parents=[common, state], help="the accountants' export page")
    serve.add_argument("--host", help=f"address to listen on (default: {settings.web.host})")
    serve.add_argument("--port", type=int, help=f"port (default: {settings.web.port})")
    serve.add_argument("--schedule", action="store_true", help="also run the catch-up on [schedule] cron")
    users = commands.add_parser("users", parents=[common, state], help="who may sign in to the export page")
    users.add_argument("action", choices=web.USER_ACTIONS, help="what to do")
    users.add_argument("name", nargs="?", help="the user's name (for add, remove, password, sign-out)")
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_argument("--all", action="store_true", help="sign-out: end every user's sessions")
    users.add_argument("--limit", type=int, default=50, metavar="N", help="log: the last N sign-ins (default: 50)")
    rebuild = commands.add_parser("state", parents=[common, state], help="rebuild a lost state from the manifests")
    rebuild.add_argument("action", choices=state_command.STATE_ACTIONS, help="rebuild: from the manifests under --out")
    rebuild.add_argument("--out", type=Path, metavar="DIR", help=f"output folder (default: {settings.out})")
    notify = commands.add_parser("notify", parents=[common], help="notifications of failed runs ([notify])")
    notify.add_argument("--test", action="store_true", help="send a test message through every configured channel")
    commands.add_parser("sandbox", help="serve a local Report API stand-in (see report-export sandbox --help)")
    return parser


def on_off(flag: bool) -> str:
    return "on" if flag else "off"


def concurrency(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= config.MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to {config.MAX_CONCURRENCY}")
    return int(text)


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from jobs.sandbox.__main__ import main as sandbox_main  # only this command loads the stand-in

        return sandbox_main(argv[1:])
    settings, problem = settings_for(argv)
    try:
        args = build_parser(settings or config.built_in()).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    runtime = runtime or Runtime()
    with reported_errors() as outcome:
        setup_logging(args.verbose, args.quiet, args.log_file)
        if problem is not None:
            raise problem
        outcome.code = COMMANDS[args.command](args, settings, runtime)
    return outcome.code


def settings_for(argv: list[str]) -> tuple[config.Settings | None, Exception | None]:
    """The settings of the --config on the command line, read before parsing so that --help can show
    them; a broken config is reported once the command runs (its --help still works)."""
    early = Parser(add_help=False)
    early.add_argument("--config", type=Path)
    try:
        known, _ = early.parse_known_args(argv)
    except SystemExit:  # e.g. --config without a value: the real parser says so
        return None, None
    try:
        return config.load(known.config), None
    except Exception as exc:  # raised again inside reported_errors, which says what it is
        return None, exc


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
        outcome.code = 130
    except BrokenPipeError:  # `report-export status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        outcome.code = EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: say so in one line, keep the traceback for the log
        log.debug("internal error", exc_info=True)
        name = type(exc).__name__
        print(f"report-export: internal error: {name}: {exc} (a bug: rerun with -v and report it)", file=sys.stderr)
        outcome.code = EXIT_INTERNAL


def setup_logging(verbose: bool, quiet: bool, log_file: Path | None) -> None:
    """stderr: errors only with --quiet, every detail with -v; else warnings, and on a terminal
    a progress bar, elsewhere (cron, a log) a line per ledger and per retry."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    default = logging.WARNING if sys.stderr.isatty() else logging.INFO
    console.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else default)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot open --log-file {log_file}: {exc.strerror}") from None
        file.setLevel(logging.DEBUG if verbose else logging.INFO)
        handlers.append(file)
    for handler in handlers:
        handler.setFormatter(formatter)
    for handler in log.handlers:
        handler.close()
    log.handlers[:] = handlers
    log.setLevel(logging.DEBUG)
    log.propagate = False


def date_range(args: argparse.Namespace, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The period asked for; (None, None) means catch-up."""
    if args.first is None and args.last is None:
        return None, None
    yesterday = today - dt.timedelta(days=1)
    first = args.first or args.last
    last = args.last or max(first, yesterday)
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}: swap them")
    if last > today:
        flag = "--to" if args.last is not None else "--from"
        raise UsageError(f"{flag} {last} is in the future (today is {today}): the API has no report for it yet")
    return first, last


def cmd_run(args: argparse.Namespace, settings: config.Settings, runtime: Runtime, trigger: str = "cli") -> int:
    from jobs import export, runner  # keeps `--help` and config errors fast

    if getattr(args, "concurrency", None):
        settings = dataclasses.replace(settings, concurrency=args.concurrency)
    day = today(settings, runtime)
    first, last = date_range(args, day)
    if args.combine and first is None:
        raise UsageError("--combine needs a period: add --from and --to")
    output = runner.output_for(settings, out=args.out, formats=tuple(args.format or ()), csv_preset=args.csv_preset,
                               strict=args.strict)  # fmt: skip
    ledgers, topics = tuple(dict.fromkeys(args.ledger or ())), tuple(dict.fromkeys(args.topic or settings.topics))
    request = export.Request(first, last, ledgers, topics, output, combine=args.combine)
    body = runner.export_period(settings, request, day, runtime.context,
                                progress_bar=sys.stderr.isatty() and not args.quiet)  # fmt: skip
    return run_and_report("run", trigger, args, settings, runtime, body, output.out, runner.describe_request(request))


def cmd_feed(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export, feed, runner
    from jobs.output import ledger_zone
    from jobs.rebuild import check_known

    output = runner.output_for(settings, out=args.out, formats=tuple(args.format or ()), csv_preset=args.csv_preset)
    ledgers, topics = tuple(dict.fromkeys(args.ledger or ())), tuple(dict.fromkeys(args.topic or settings.topics))

    def body(api, state, run_id):
        check_known(state, output.out, run_id)  # before any ledger is recorded
        seen = export.Result()  # collects new, withdrawn and refused ledgers
        readable = export.readable_ledgers(api, state, export.first_date(settings, today(settings, runtime)), seen)
        zones = {lid: ledger_zone(readable[lid], settings.timezone) for lid in export.select(readable, ledgers)}
        result = feed.follow(api, state, zones, topics, output, start=settings.feed_start, run_id=run_id,
                             stop=runtime.stop, batch_limit=settings.feed_batch_entries)  # fmt: skip
        result.withdrawn, result.refused = seen.withdrawn, seen.refused
        done = f"feed: {plural(result.entries, 'new entry', 'new entries')} in {plural(len(result.files), 'file')}"
        notes = [f"  unavailable: {why}" for why in result.unavailable]
        return result, result.ledgers, f"{done} under {output.out}", notes

    return run_and_report("feed", "cli", args, settings, runtime, body, output.out)


def today(settings: config.Settings, runtime: Runtime) -> dt.date:
    return runtime.today or dt.datetime.now(settings.timezone).date()


def run_and_report(command, trigger, args, settings, runtime, body, out, request=None) -> int:
    """The run, under the lock every run takes; then its summary line on stdout and in the --log-file."""
    from jobs import runner

    with sigterm_stops(runtime):
        finished = runner.execute(
            command, trigger, settings, body, out=out, context=runtime.context, state_path=args.state,
            wait=args.wait, detailed=args.detailed_exit_codes, user=getpass.getuser(), request=request,
            today=today(settings, runtime),
        )  # fmt: skip
    if not args.quiet:
        print("\n".join([finished.summary, *finished.notes]))
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, finished.summary, (), None)
    for handler in log.handlers[1:]:  # the --log-file always gets it; stderr already has stdout's copy
        handler.handle(record)
    return finished.code


@contextmanager
def sigterm_stops(runtime: Runtime) -> Iterator[None]:
    """SIGTERM asks the run to stop after the ledger date in progress (the scheduler has its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: runtime.stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_status(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import outbox
    from jobs.cli.status import ledgers_json, runs_json
    from jobs.state import State

    day = today(settings, runtime)
    with State.snapshot(args.state or settings.state_path) as state:  # reads only: writes nothing anywhere
        ledgers = ledgers_json(state.views.standings(), day, settings.warn_after_days)
        runs = runs_json(state.runs.recent())
        notifications = outbox.overview(settings, state)
    schedule = {"cron": settings.schedule.cron, "timezone": str(settings.schedule.timezone),
                "from": settings.schedule.source}  # fmt: skip
    if args.json:
        print(json.dumps({"ledgers": ledgers, "runs": runs, "schedule": schedule, "notifications": notifications},
                         indent=2, ensure_ascii=False))  # fmt: skip
        return EXIT_OK
    for row in ledgers:
        pending = ", ".join(
            f"{p['date']} {p['status']} since {p['since']} ({p['tries']} tries"
            + (f", OVERDUE: {p['ageDays']} days, retried once a day)" if p["overdue"] else ")")
            for p in row["pending"]
        )
        feed = row["feed"]
        waiting = ", ".join(f"{w['date']} {w['format']} ({w['reason']})" for w in row["waiting"])
        print(
            f"ledger {row['ledgerId']} {row['topic']}: last exported {row['lastExported'] or '-'}"
            + (f"; pending: {pending}" if pending else "")
            + (f"; waiting: {waiting}" if waiting else "")
            + (f"; not readable since {row['withdrawnAt']}" if row["withdrawnAt"] else "")
            + (f"; feed: {feed['entries']} entries in {feed['batches']} batches, {feed['updatedAt']}" if feed else "")
        )
    if not ledgers:
        print("no ledger dates recorded yet")
    print(f"schedule: {schedule['cron']} ({schedule['timezone']}; from {schedule['from']})")
    print("\n".join(outbox.status_lines(notifications)))
    print("last runs:" if runs else "no runs recorded yet")
    for run in runs:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run["counts"].items()) if v)
        error = f": {run['error']}" if run["error"] else ""
        code = "" if run["exitCode"] is None else f" (exit {run['exitCode']})"
        print(f"  #{run['id']} {run['command']} ({run['trigger']}) {run['startedAt']}: {run['outcome']}{code}{error}"
              + (f" [{counts}]" if counts else ""))  # fmt: skip
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.schedule import crontab_line, run_scheduler

    if args.print_cron:
        print(crontab_line(settings.schedule, args.config))
        return EXIT_OK
    settings.require_credentials()
    catch_up = argparse.Namespace(**{**vars(args), **SCHEDULED_RUN})

    def job() -> None:
        with reported_errors():
            cmd_run(catch_up, settings, runtime, trigger="schedule")

    return run_scheduler(settings.schedule, job, runtime.stop, first_run_now=args.now)


def cmd_ledgers(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export
    from jobs.api import describe_ledger

    with export.connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, _):
        ledgers = [describe_ledger(ledger) for ledger in api.ledgers()]
    if args.json:
        print(json.dumps(ledgers, indent=2, ensure_ascii=False))
        return EXIT_OK
    columns = ("ledgerId", "currency", "owner", "salesUnits", "payoutAccount")
    table = [columns] + [tuple(str(row[c]) for c in columns) for row in ledgers]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export

    with export.connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, _):
        count = sum(1 for _ in api.ledgers())
    key_type = settings.require_credentials().key_type
    print(
        f"report-export: ok: {key_type} keys accepted by {settings.base_url}; {count} ledgers readable; "
        f"schedule {settings.schedule.cron} ({settings.schedule.timezone}, from {settings.schedule.source})"
    )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.manifest import verify

    if not args.folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder: give the folder the reports were written to")
    manifests, files, findings = verify(args.folder)
    for finding in findings:
        print(f"  {finding}")
    if not manifests:
        print(f"report-export verify: no manifest under {args.folder}, so nothing can be checked: give the folder "
              "the reports were written to (its files have .manifest.json files beside them)")  # fmt: skip
        return EXIT_VERIFY_FAILED
    verdict = "every file matches its manifest" if not findings else plural(len(findings), "problem")
    print(f"report-export verify: {plural(manifests, 'manifest')}, {plural(files, 'file')} checked: {verdict}")
    return EXIT_OK if not findings else EXIT_VERIFY_FAILED


SCHEDULED_RUN = {"first": None, "last": None, "ledger": None, "topic": None, "format": None, "out": None,
                 "wait": False, "csv_preset": None, "strict": None, "combine": False, "detailed_exit_codes": False,
                 "concurrency": None}  # fmt: skip
COMMANDS = {
    "run": cmd_run, "feed": cmd_feed, "status": cmd_status, "schedule": cmd_schedule,
    "ledgers": cmd_ledgers, "check": cmd_check, "verify": cmd_verify, "serve": web.cmd_serve,
    "users": web.cmd_users, "notify": notify.cmd_notify, "state": state_command.cmd_state,
}  # fmt: skip


def entrypoint() -> None:
    sys.exit(main())
