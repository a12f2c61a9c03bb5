"""`report-export sandbox` / `python -m jobs.sandbox`: serve the stand-in until Ctrl-C."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time

from .faults import parse_fault
from .server import Sandbox
from .tokens import ACCOUNTING_CLIENT, MERCHANT_CLIENT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="report-export sandbox",
        description="Run a local stand-in for the Vipps MobilePay Report API.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free one)")
    parser.add_argument("--token-ttl", type=int, default=None, metavar="SECONDS",
                        help="token lifetime (default 900 accounting, 86400 merchant)")  # fmt: skip
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="delay on every request")
    parser.add_argument("--page-size", type=int, default=50, metavar="N", help="items per page")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="inject a fault, e.g. 429:path=/dates/,nth=2 (repeatable)")  # fmt: skip
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="the sandbox's today (default: today in Europe/Oslo)")  # fmt: skip
    return parser


def banner(base_url: str) -> str:
    cid, secret = ACCOUNTING_CLIENT
    mid, msecret, key, msn = MERCHANT_CLIENT
    return "\n".join([
        f"Report API sandbox listening on {base_url}",
        f"  accounting keys: client_id={cid} client_secret={secret}",
        f"  merchant keys:   client_id={mid} client_secret={msecret} "
        f"Ocp-Apim-Subscription-Key={key} Merchant-Serial-Number={msn}",
        "Try:",
        f"  VIPPS_BASE_URL={base_url} VIPPS_CLIENT_ID={cid} VIPPS_CLIENT_SECRET={secret} report-export run",
        "Stop with Ctrl-C.",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = [parse_fault(spec) for spec in args.fault]
    except ValueError as exc:
        return _usage_error(str(exc))
    if args.page_size < 1:
        return _usage_error("--page-size must be at least 1")
    sandbox = Sandbox(today=args.today, token_ttl=args.token_ttl, latency_ms=args.latency_ms,
                      page_size=args.page_size, faults=faults, port=args.port, quiet=False)  # fmt: skip
    try:
        sandbox.start()
    except OSError as exc:
        print(f"report-export sandbox: error: cannot listen on port {args.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(banner(sandbox.base_url), flush=True)
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
