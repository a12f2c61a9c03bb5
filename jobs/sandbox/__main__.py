"""`report-export sandbox` / `python -m jobs.sandbox`: serve the stand-in until Ctrl-C."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time

from .closing import DEFAULT_CLOSING_HOUR
from .faults import parse_fault
from .server import Sandbox
from .tokens import ACCOUNTING_CLIENT, MERCHANT_CLIENT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="report-export sandbox",
        description="Run a local stand-in for the Vipps MobilePay Report API.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free one)")
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=None,
        metavar="SECONDS",
        help="token lifetime (default 900 accounting, 86400 merchant)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="delay on every request")
    parser.add_argument("--page-size", type=int, default=50, metavar="N", help="items per page")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. 429:path=/dates/,nth=2 (repeatable)",
    )
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="stop the sandbox's clock at noon in Oslo on this day (default: the machine's clock)",
    )
    clock.add_argument(
        "--now",
        type=_moment,
        default=None,
        metavar="YYYY-MM-DDTHH:MM+HH:MM",
        help="stop the sandbox's clock at this moment (with its UTC offset), "
        "e.g. 2026-11-21T00:30+01:00: yesterday is still open",
    )
    parser.add_argument(
        "--closing-hour",
        type=int,
        default=DEFAULT_CLOSING_HOUR,
        metavar="H",
        help="local hour (0-23, in each ledger's zone) at which yesterday closes; until "
        f"then it answers tryLater (default {DEFAULT_CLOSING_HOUR})",
    )
    parser.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="LEDGER",
        help="also let the keys read this ledger the sandbox holds: 6001234, settled weekly (repeatable)",
    )
    parser.add_argument(
        "--authentication-v1",
        action="store_true",
        help="also serve POST /authentication/v1/token, announced but not live in the real "
        "API (default: 404, as there)",
    )
    return parser


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date and time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. {text}+01:00")
    return moment


def banner(base_url: str) -> str:
    cid, secret = ACCOUNTING_CLIENT
    mid, msecret, key, msn = MERCHANT_CLIENT
    return "\n".join(
        [
            f"Report API sandbox listening on {base_url}",
            f"  accounting keys: client_id={cid} client_secret={secret}",
            f"  merchant keys:   client_id={mid} client_secret={msecret} "
            f"Ocp-Apim-Subscription-Key={key} Merchant-Serial-Number={msn}",
            "Try:",
            f"  VIPPS_BASE_URL={base_url} VIPPS_CLIENT_ID={cid} VIPPS_CLIENT_SECRET={secret} report-export run",
            "Stop with Ctrl-C.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = [parse_fault(spec) for spec in args.fault]
    except ValueError as exc:
        return _usage_error(str(exc))
    if args.page_size < 1:
        return _usage_error("--page-size must be at least 1")
    if not 0 <= args.closing_hour <= 23:
        return _usage_error("--closing-hour must be 0 to 23")
    sandbox = Sandbox(
        today=args.today,
        now=args.now,
        closing_hour=args.closing_hour,
        authentication_v1=args.authentication_v1,
        token_ttl=args.token_ttl,
        latency_ms=args.latency_ms,
        page_size=args.page_size,
        faults=faults,
        port=args.port,
        quiet=False,
    )
    try:
        for ledger_id in args.grant:
            sandbox.grant(ledger_id)
    except KeyError as exc:
        return _usage_error(f"--grant: {exc.args[0]}")
    try:
        sandbox.start()
    except OSError as exc:
        print(f"report-export sandbox: error: cannot listen on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(banner(sandbox.base_url), flush=True)
    print(
        f"Clock: {sandbox.now.isoformat(timespec='minutes')}; yesterday closes at "
        f"{sandbox.closing_hour:02d}:00 local time"
        + (", and /authentication/v1/token is served" if sandbox.authentication_v1 else ""),
        flush=True,
    )
    # SIGTERM (docker stop, systemd) should end as quietly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:  # the server runs in its own thread; this one only waits for a signal
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
    return 0


def _usage_error(message: str) -> int:
    print(f"report-export sandbox: error: {message}", file=sys.stderr)
    return 2


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
