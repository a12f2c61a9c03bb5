"""Command line: argparse only. Known errors become one line and an exit code (jobs.cli.runtime).

main(argv) is the one door; run, feed and schedule are in run.py, the export page's commands (serve,
users) in web.py and notify in notify.py, each imported when the command table is built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from jobs import __version__, config
from jobs.cli import notify, web
from jobs.cli import state as state_command
from jobs.cli.run import cmd_run, cmd_schedule, with_state
from jobs.cli.runtime import Runtime, reported_errors, today
from jobs.errors import EXIT_OK, EXIT_VERIFY_FAILED, OutputError, UsageError
from jobs.presets import PRESETS
from jobs.runner import plural

log = logging.getLogger("jobs")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of argparse's usage block
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
    selection.add_argument(
        "--ledger", dest="ledgers", action="append", metavar="ID", help="only this ledger (repeatable)"
    )
    selection.add_argument(
        "--topic",
        dest="topics",
        action="append",
        choices=config.TOPICS,
        help=f"funds or fees (repeatable; default: {' and '.join(settings.topics)})",
    )
    selection.add_argument(
        "--format",
        dest="formats",
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
        "run",
        parents=[common, state, locked, selection],
        help="export ledger dates (default: catch up through yesterday)",
    )
    run.add_argument("--from", dest="first", type=iso_date, metavar="YYYY-MM-DD", help="first ledger date")
    run.add_argument("--to", dest="last", type=iso_date, metavar="YYYY-MM-DD", help="last ledger date")
    run.add_argument("--combine", action="store_true", help="also one file per ledger and topic for the period")
    run.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
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
        "schedule",
        parents=[common, state],
        help=f"run the catch-up on [schedule] cron (now: {settings.schedule.cron}, {settings.schedule.timezone})",
    )
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
        assert settings is not None  # read, or else `problem` says why not
        outcome.code = COMMANDS[args.command](args, with_state(settings, getattr(args, "state", None)), runtime)
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


def cmd_status(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import outbox
    from jobs.cli.status import ledgers_json, runs_json
    from jobs.state import State

    day = today(settings, runtime)
    with State.snapshot(args.state or settings.state_path) as state:  # reads only: writes nothing anywhere
        ledgers = ledgers_json(state.views.standings(), day, settings.warn_after_days)
        runs = runs_json(state.runs.recent())
        notifications = outbox.overview(settings, state)
    schedule = {
        "cron": settings.schedule.cron,
        "timezone": str(settings.schedule.timezone),
        "from": settings.schedule.source,
    }
    if args.json:
        print(
            json.dumps(
                {"ledgers": ledgers, "runs": runs, "schedule": schedule, "notifications": notifications},
                indent=2,
                ensure_ascii=False,
            )
        )
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
        print(
            f"  #{run['id']} {run['command']} ({run['trigger']}) {run['startedAt']}: {run['outcome']}{code}{error}"
            + (f" [{counts}]" if counts else "")
        )
    return EXIT_OK


def cmd_ledgers(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.api import describe_ledger
    from jobs.client import connect

    with connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, _):
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
    from jobs.client import connect

    with connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, _):
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
        print(
            f"report-export verify: no manifest under {args.folder}, so nothing can be checked: give the folder "
            "the reports were written to (its files have .manifest.json files beside them)"
        )
        return EXIT_VERIFY_FAILED
    verdict = "every file matches its manifest" if not findings else plural(len(findings), "problem")
    print(f"report-export verify: {plural(manifests, 'manifest')}, {plural(files, 'file')} checked: {verdict}")
    return EXIT_OK if not findings else EXIT_VERIFY_FAILED


COMMANDS = {
    "run": cmd_run,
    "feed": cmd_run,
    "status": cmd_status,
    "schedule": cmd_schedule,
    "ledgers": cmd_ledgers,
    "check": cmd_check,
    "verify": cmd_verify,
    "serve": web.cmd_serve,
    "users": web.cmd_users,
    "notify": notify.cmd_notify,
    "state": state_command.cmd_state,
}


def entrypoint() -> None:
    sys.exit(main())
