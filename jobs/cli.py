"""Command line: argparse only. Known errors become one line and an exit code."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs import __version__, config
from jobs.errors import EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_OK, ApiError, OutputError, ReportExportError, UsageError

log = logging.getLogger("jobs")


@dataclass(frozen=True)
class Runtime:
    """What tests replace: the clocks and the pause between retries."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    today: dt.date | None = None  # None: today in the configured time zone


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--config", type=Path, help="config file (default: ./config.toml)")
    common.add_argument("-v", "--verbose", action="store_true", help="log every ledger date")
    common.add_argument("-q", "--quiet", action="store_true", help="log errors only")

    # The shared options go on each command only: argparse lets a subcommand's
    # defaults overwrite the same options given before it.
    parser = Parser(prog="report-export", description="Export Vipps MobilePay settlement reports.")
    parser.add_argument("--version", action="version", version=f"report-export {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="export ledger dates to CSV and XLSX")
    run.add_argument("--from", dest="first", type=iso_date, metavar="YYYY-MM-DD", help="first ledger date")
    run.add_argument("--to", dest="last", type=iso_date, metavar="YYYY-MM-DD", help="last ledger date")
    run.add_argument("--ledger", action="append", metavar="ID", help="only this ledger (repeatable)")
    run.add_argument("--topic", action="append", choices=config.TOPICS, help="funds or fees (repeatable)")
    run.add_argument("--format", action="append", choices=config.FORMATS, help="csv or xlsx (repeatable)")
    run.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports)")

    ledgers = commands.add_parser("ledgers", parents=[common], help="list the ledgers the keys can read")
    ledgers.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser("check", parents=[common], help="check config, keys and one API call")
    commands.add_parser("sandbox", help="serve a local Report API stand-in (see report-export sandbox --help)")
    return parser


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None, runtime: Runtime = Runtime()) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        from jobs.sandbox.__main__ import main as sandbox_main  # only this command loads the stand-in

        return sandbox_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    setup_logging(args.verbose, args.quiet)
    commands = {"run": cmd_run, "ledgers": cmd_ledgers, "check": cmd_check}
    with reported_errors() as outcome:
        settings = config.load(args.config)
        outcome.code = commands[args.command](args, settings, runtime)
    return outcome.code


@dataclass
class Outcome:
    code: int = EXIT_INTERNAL


@contextmanager
def reported_errors() -> Iterator[Outcome]:
    outcome = Outcome()
    try:
        yield outcome
    except ReportExportError as exc:
        print(f"report-export: error: {exc}", file=sys.stderr)
        outcome.code = exc.exit_code
    except KeyboardInterrupt:
        print("report-export: interrupted; finished files are complete, nothing partial was left", file=sys.stderr)
        outcome.code = 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --verbose
        log.info("internal error", exc_info=True)
        name = type(exc).__name__
        print(f"report-export: internal error: {name}: {exc} (a bug: rerun with -v and report it)", file=sys.stderr)
        outcome.code = EXIT_INTERNAL


def setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def date_range(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date]:
    yesterday = today - dt.timedelta(days=1)
    first = args.first or args.last or yesterday
    last = args.last or (max(first, yesterday) if args.first else first)
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}: swap them")
    if last > today:
        raise UsageError(f"--to {last} is in the future (today is {today}): the API has no report for it yet")
    return first, last


def cmd_run(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export  # keeps `--help` and config errors fast

    started = runtime.clock()
    today = runtime.today or dt.datetime.now(settings.timezone).date()
    first, last = date_range(args, today)
    topics = tuple(dict.fromkeys(args.topic or settings.topics))
    formats = tuple(dict.fromkeys(args.format or settings.formats))
    out = args.out or settings.out
    settings.require_credentials()  # before anything is created on disk
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror}; choose another --out") from None
    with export.connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, auth):
        readable, refused = [], []
        for ledger in api.ledgers():
            try:
                readable.append(export.check_identifier(ledger["ledgerId"]))
            except ApiError as exc:
                log.error("%s", exc)
                refused.append(ledger["ledgerId"])
        if args.ledger:
            missing = [lid for lid in args.ledger if lid not in readable]
            if missing:
                raise ApiError(
                    f"ledger {', '.join(missing)} is not readable with these keys ({len(readable)} are): "
                    "check --ledger (see report-export ledgers), or ask the merchant to grant access"
                )
            readable = list(dict.fromkeys(args.ledger))
        units = export.plan(readable, topics, export.dates(first, last))
        result = export.export(api, units, settings, formats, out)
        rows = sum(n for _, n in result.written)
        print(
            f"report-export: {plural(len(readable), 'ledger')}, {first}..{last}: "
            f"{plural(len(result.written), 'ledger date')} written ({plural(rows, 'row')}, "
            f"{plural(len(result.files), 'file')} under {out}), {len(result.open)} open, "
            f"{len(result.unavailable)} unavailable, {plural(auth.tokens_fetched, 'token')}, "
            f"{plural(api.retrier.retries, 'retry', 'retries')}, {runtime.clock() - started:.1f} s"
        )
    for unit in result.open:
        print(f"  open: {unit} (tryLater: not closed yet, run again later)")
    for _, why in result.unavailable:
        print(f"  unavailable: {why}")
    if refused:
        return ApiError.exit_code
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def cmd_ledgers(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export

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


def describe_ledger(ledger: dict) -> dict:
    owner = ledger.get("owner") or {}
    account = ledger.get("payoutBankAccount") or {}
    units = ledger.get("salesUnits") or [{"recipientHandle": h} for h in ledger.get("settlesForRecipientHandles", [])]
    return {
        "ledgerId": ledger["ledgerId"],
        "currency": ledger.get("currency", ""),
        "owner": f"{owner.get('scheme', '')} {owner.get('id', '')}".strip(),
        "salesUnits": ", ".join(
            f"{u.get('name')} ({u.get('recipientHandle')})" if u.get("name") else str(u.get("recipientHandle"))
            for u in units
        ),
        "payoutAccount": f"{account.get('scheme', '')} {mask(str(account.get('id', '')))}".strip(),
    }


def mask(account: str) -> str:
    """All but the last four characters hidden; short values hidden entirely."""
    if len(account) <= 4:
        return "*" * len(account)
    return "*" * (len(account) - 4) + account[-4:]


def cmd_check(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs import export

    with export.connect(settings, clock=runtime.clock, sleep=runtime.sleep) as (api, _):
        count = sum(1 for _ in api.ledgers())
    key_type = settings.require_credentials().key_type
    print(f"report-export: ok: {key_type} keys accepted by {settings.base_url}; {count} ledgers readable")
    return EXIT_OK


def entrypoint() -> None:
    sys.exit(main())
