"""The yardsticks, each run as a process of its own so its peak RSS is its own.

    python -m bench.bare writers  --ledgers N --ledger ID --topic T --date D --entries N --out DIR
    python -m bench.bare transfer --base-url URL --ledger ID --topic T --date D
    python -m bench.bare naive    --base-url URL --ledger ID --topic T --date D --out DIR
    python -m bench.bare stream   --format F [--lines per-type|per-entry] --ledgers N --ledger ID --topic T
                                  --date D --entries N --out DIR

Each prints one line of JSON with the seconds of its phases.

- writers: the big date's rows (sandbox entries through jobs.entries.to_row, built in
  memory first, not timed), then written with the csv module as the standard preset
  formats them, and with openpyxl write-only (plain append of the values, no styling).
- transfer: the big date's pages with plain httpx: one client, one token, follow the
  cursors, parse the JSON, keep nothing.
- naive: what a first script would do: every page one at a time into a list of dicts,
  one pandas DataFrame, then to_csv and to_excel (openpyxl engine).
- stream: one of our writers alone (jobs.formats.open.open_report: csv, gbat10, camt053;
  or jobs.formats.settlement_xml for vipps-xml), fed the big date's rows a page of 1000 at a
  time as they are made from the sandbox's generator, never all at once; only the
  writer's calls are timed, so the formats compare at equal footing, and the
  process's peak RSS is the writer's plus a page. The settlement writer is given each
  payment's fee with it (the sandbox's fee for its amount): the fees topic's join is
  the exporter's work, measured in its export run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from jobs.sandbox import ACCOUNTING_CLIENT


def writers(args: argparse.Namespace) -> dict:
    from openpyxl import Workbook

    from bench.serve import make_sandbox
    from jobs.entries import COLUMNS, to_row
    from jobs.money import format_amount

    started = time.perf_counter()
    sandbox = make_sandbox(args.ledgers, [((args.ledger, args.topic, args.date), args.entries)])
    rows = [
        to_row(entry, args.ledger)[: len(COLUMNS)] for entry in sandbox.iter_entries(args.ledger, args.topic, args.date)
    ]
    build = time.perf_counter() - started

    started = time.perf_counter()
    with open(args.out / "bare.csv", "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            # ledgerId, ledgerDate, time ... currency, amount, balanceBefore, balanceAfter
            writer.writerow((*row[:1], row[1].isoformat(), *row[2:8], *map(format_amount, row[8:11])))
        _sync(file)
    csv_seconds = time.perf_counter() - started

    started = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("entries")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(row)
    with open(args.out / "bare.xlsx", "wb") as file:
        book.save(file)
        _sync(file)
    xlsx_seconds = time.perf_counter() - started
    return {"rows": len(rows), "build_s": build, "csv_s": csv_seconds, "xlsx_s": xlsx_seconds}


def chart() -> dict:
    """The big date's chart of accounts (config.toml's [accounts] table, model "sales-elsewhere" as committed) for
    the GBAT10 and camt.053 writers. Fees retained need no account: they move money to fees_payable."""
    types = {"capture": 1560, "refund": 1560, "payout-scheduled": 1960}
    fee_types = {"capture-fee": 7770, "service-fee": 7790, "credit-note": 7770, "correction": 7770}
    return {
        "book_currency": "NOK",
        "clearing": 1940,
        "fees_payable": 2960,
        "series": 1,
        "types": {name: {"account": account} for name, account in types.items()},
        "fee_types": {name: {"account": account} for name, account in fee_types.items()},
    }


def stream(args: argparse.Namespace) -> dict:
    from itertools import islice
    from zoneinfo import ZoneInfo

    from bench.serve import make_sandbox
    from jobs.accounts import parse
    from jobs.entries import to_row
    from jobs.formats.open import open_report

    started = time.perf_counter()
    sandbox = make_sandbox(args.ledgers, [((args.ledger, args.topic, args.date), args.entries)])
    ledger_chart = parse({"accounts": {**chart(), "lines": args.lines}}).chart(args.ledger, "")
    assert not ledger_chart.gap, ledger_chart.gap
    entries = sandbox.iter_entries(args.ledger, args.topic, args.date)
    writing = cpu = 0.0  # wall and CPU seconds in the writer's calls: CPU is what a busy machine leaves alone
    path = args.out / f"stream.{args.format}"
    if args.format == "vipps-xml":
        ledger = next(x for x in sandbox.ledgers() if x["ledgerId"] == args.ledger)
        opened = _Settlement(path, ledger, dt.date.fromisoformat(args.date))
    else:
        opened = open_report(args.format, path, chart=ledger_chart, timezone=ZoneInfo("Europe/Oslo"))
    with opened as report:
        while page := [to_row(entry, args.ledger) for entry in islice(entries, 1000)]:
            page = report.prepare(page) if isinstance(report, _Settlement) else page  # untimed, as the rows are
            mark, cpu_mark = time.perf_counter(), time.process_time()
            report.write(page)
            writing, cpu = writing + time.perf_counter() - mark, cpu + time.process_time() - cpu_mark
        mark, cpu_mark = time.perf_counter(), time.process_time()
        report.commit()  # includes the fsync, as the exporter's
        writing, cpu = writing + time.perf_counter() - mark, cpu + time.process_time() - cpu_mark
    if getattr(report, "waiting", None):  # a voucher that waits is written incomplete: no figure to report
        raise SystemExit(f"bench.bare stream: the {args.format} file waits: {report.waiting}")
    return {
        "rows": report.rows,
        "write_s": writing,
        "write_cpu_s": cpu,
        "total_s": time.perf_counter() - started,
        "bytes": report.size,
    }


class _Settlement:
    """The Vipps settlement XML writer behind the other writers' calls: the big date as one settlement."""

    def __init__(self, path: Path, ledger: dict, date: dt.date) -> None:
        from jobs.formats.settlement_xml import Details, SettlementFile

        self.file = SettlementFile(path, 0o600, Details.of(ledger, {}), date, date)
        self.file.begin(date, net=False)
        self.paid = 0

    @staticmethod
    def prepare(rows: list) -> list:
        """The page's payments, each with its fee: the sandbox's fee for its amount."""
        from jobs.sandbox.events import capture_fee

        return [(row, capture_fee(abs(int(row.amount.scaleb(2))))) for row in rows if row.entryType in PAYMENTS]

    def write(self, payments: list) -> None:
        for row, fee in payments:
            self.file.add(row, fee)
            self.paid += int(row.amount.scaleb(2))

    def commit(self) -> None:
        self.file.end(1, self.paid)
        self.file.commit()

    @property
    def rows(self) -> int:
        return self.file.rows

    @property
    def size(self) -> int:
        return self.file.size

    def __enter__(self) -> _Settlement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.abort()


PAYMENTS = ("capture", "refund")


def _sync(file) -> None:  # the exporter syncs its files too
    file.flush()
    os.fsync(file.fileno())


def pages(client: httpx.Client, path: str) -> Iterator[dict]:
    """Every page of a ledger date, one request at a time, following the cursors."""
    cursor = None
    while True:
        response = client.get(path, params={"cursor": cursor} if cursor else {})
        response.raise_for_status()
        page = response.json()
        yield page
        if not page.get("hasMore"):
            return
        cursor = page["cursor"]


def log_in(client: httpx.Client) -> httpx.Client:
    """One token for the whole fetch: the large date's sandbox gives it 15 minutes."""
    answer = client.post("/miami/v1/token", data={"grant_type": "client_credentials"}, auth=ACCOUNTING_CLIENT)
    answer.raise_for_status()
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return client


def transfer(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    n_pages = n_items = 0
    with httpx.Client(base_url=args.base_url, timeout=60) as http:
        log_in(http)
        for page in pages(http, f"/report/v2/ledgers/{args.ledger}/{args.topic}/dates/{args.date}"):
            n_pages += 1
            n_items += len(page["items"])
    return {"pages": n_pages, "items": n_items, "transfer_s": time.perf_counter() - started}


def naive(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    import pandas as pd  # as a script would; its import is part of the run

    times = {"import_s": time.perf_counter() - started}
    started = time.perf_counter()
    items: list[dict] = []
    with httpx.Client(base_url=args.base_url, timeout=60) as http:
        log_in(http)
        for page in pages(http, f"/report/v2/ledgers/{args.ledger}/{args.topic}/dates/{args.date}"):
            items.extend(page["items"])
    times["fetch_s"] = time.perf_counter() - started
    started = time.perf_counter()
    frame = pd.DataFrame(items)
    times["frame_s"] = time.perf_counter() - started
    started = time.perf_counter()
    frame.to_csv(args.out / "naive.csv", index=False)
    times["csv_s"] = time.perf_counter() - started
    started = time.perf_counter()
    frame.to_excel(args.out / "naive.xlsx", index=False, engine="openpyxl")
    times["xlsx_s"] = time.perf_counter() - started
    return {"rows": len(frame), **times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("writers", "transfer", "naive", "stream"))
    parser.add_argument("--format", default="csv", help="stream: the writer (csv, gbat10, camt053, vipps-xml)")
    parser.add_argument("--lines", default="per-type", help="stream: GBAT10 lines per-type or per-entry")
    parser.add_argument("--base-url")
    parser.add_argument("--ledgers", type=int, default=1, help="ledgers the sandbox serves (writers)")
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--entries", type=int, help="entries of the big date (writers)")
    parser.add_argument("--out", type=Path, help="folder for the files written")
    args = parser.parse_args(argv)
    result = {"writers": writers, "transfer": transfer, "naive": naive, "stream": stream}[args.what](args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
