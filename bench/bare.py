"""The yardsticks, each run as a process of its own so its peak RSS is its own.

    python -m bench.bare writers  --ledgers N --ledger ID --topic T --date D --entries N --out DIR
    python -m bench.bare transfer --base-url URL --ledger ID --topic T --date D
    python -m bench.bare naive    --base-url URL --ledger ID --topic T --date D --out DIR

Each prints one line of JSON with the seconds of its phases.

- writers: the big date's rows (sandbox entries through jobs.entries.to_row, built in
  memory first, not timed), then written with the csv module as the standard preset
  formats them, and with openpyxl write-only (plain append of the values, no styling).
- transfer: the big date's pages with plain httpx: one client, one token, follow the
  cursors, parse the JSON, keep nothing.
- naive: what a first script would do: every page one at a time into a list of dicts,
  one pandas DataFrame, then to_csv and to_excel (openpyxl engine).
"""

from __future__ import annotations

import argparse
import csv
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
    from jobs.entries import COLUMNS, format_amount, to_row

    started = time.perf_counter()
    sandbox = make_sandbox(args.ledgers, [((args.ledger, args.topic, args.date), args.entries)])
    rows = [to_row(entry, args.ledger)[: len(COLUMNS)] for entry in sandbox.iter_entries(args.ledger, args.topic,
                                                                                          args.date)]  # fmt: skip
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
    parser.add_argument("what", choices=("writers", "transfer", "naive"))
    parser.add_argument("--base-url")
    parser.add_argument("--ledgers", type=int, default=1, help="ledgers the sandbox serves (writers)")
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--entries", type=int, help="entries of the big date (writers)")
    parser.add_argument("--out", type=Path, help="folder for the files written")
    args = parser.parse_args(argv)
    result = {"writers": writers, "transfer": transfer, "naive": naive}[args.what](args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
