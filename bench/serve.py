"""The sandbox in a process of its own, so its CPU never counts against what is measured.

    python -m bench.serve --ledgers 40 --latency-ms 50 --page-size 1000 --today 2026-11-20 \\
        [--token-ttl S] [--big LEDGER:TOPIC:DATE:N ...]

Serves `--ledgers` ledgers, all made like 302321 (activity every day) under ids
bench-001, bench-002, ... Prints one line, `ready <base_url>`, on stdout. Then, for
each line read on stdin (any text), prints one line of JSON: the requests served so
far by kind (token, ledgers, date, feed, other) and by status, the CPU time it used, the most
requests it handled at once since the last line, and the time spent handling them. Exits when stdin closes,
so it never outlives the benchmark that started it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import threading
import time
from collections import Counter

from jobs.sandbox import Sandbox
from jobs.sandbox.messages import Reply, Request

LIKE = "302321"  # active every day: each ledger date has entries


def ledger_ids(n: int) -> list[str]:
    return [f"bench-{i:03d}" for i in range(1, n + 1)]


def big_date(spec: str) -> tuple[tuple[str, str, str], int]:
    ledger, topic, date, count = spec.split(":")
    return (ledger, topic, date), int(count)


def kind(path: str) -> str:
    if path.endswith("/token") or path == "/accesstoken/get":
        return "token"
    if path.startswith("/settlement/v1/ledgers"):
        return "ledgers"
    if "/dates/" in path:
        return "date"
    if path.endswith("/feed"):
        return "feed"
    return "other"


def make_sandbox(n_ledgers: int, big: list[tuple[tuple[str, str, str], int]], **options: object) -> Sandbox:
    """The benchmark's sandbox, not started; bench.bare builds the same one to read the big date's rows."""
    sandbox = Sandbox(ledger_ids=[], **options)  # type: ignore[arg-type]
    for ledger_id in ledger_ids(n_ledgers):  # in order: a clone's data depends on when it was added
        sandbox.add_ledger(ledger_id, like=LIKE)
    for (ledger_id, topic, date), n in big:
        sandbox.set_volume(ledger_id, topic, date, n)
    return sandbox


class InFlight:
    """Requests being handled, seen from the API's side: the most at once since the last look, and
    the time spent on them (latency included), which over a run's time is the mean in flight."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._handle, self._lock = sandbox.handle, threading.Lock()
        self.now = self.peak = 0
        self.busy_s = 0.0
        sandbox.handle = self.handle  # type: ignore[method-assign]

    def handle(self, req: Request) -> Reply:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        started = time.monotonic()
        try:
            return self._handle(req)
        finally:
            with self._lock:
                self.now -= 1
                self.busy_s += time.monotonic() - started

    def look(self) -> dict:
        with self._lock:
            peak, self.peak = self.peak, self.now
            return {"peak_in_flight": peak, "busy_s": self.busy_s}


def counts(sandbox: Sandbox, in_flight: InFlight) -> dict:
    records = list(sandbox.requests)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        **in_flight.look(),
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the sandbox's own CPU: it shares the machine's cores
        "total": len(records),
        "by_kind": dict(Counter(kind(r.path) for r in records)),
        "by_status": {str(k): v for k, v in Counter(r.status for r in records).items()},
        "tokens_issued": len(sandbox.tokens_issued),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--ledgers", type=int, default=40)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--today", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--token-ttl", type=int, default=None, metavar="SECONDS")
    parser.add_argument("--big", type=big_date, action="append", default=[], metavar="LEDGER:TOPIC:DATE:N")
    args = parser.parse_args(argv)
    sandbox = make_sandbox(
        args.ledgers,
        args.big,
        today=args.today,
        token_ttl=args.token_ttl,
        latency_ms=args.latency_ms,
        page_size=args.page_size,
        ledger_page_size=args.page_size,
    )
    in_flight = InFlight(sandbox)
    with sandbox:
        print(f"ready {sandbox.base_url}", flush=True)
        for _ in sys.stdin:
            print(json.dumps(counts(sandbox, in_flight)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
