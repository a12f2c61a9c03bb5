"""Benchmark of the export page: a month exported from the page against `run`, and the pages with 2,000 ledgers.

    .venv/bin/python -m bench.web [--repeat N] [--latency-ms MS] [--ledgers N] [--json PATH]

(or `make bench`, after bench.run). Two figures with targets (bench/README.md):

- export pressed to zip downloaded, for one ledger-month (31 dates x funds and fees, CSV and XLSX: 186
  files), at most 1.2x `report-export run --from --to --ledger` for the same month, both against one
  sandbox with 30 ms latency, measured alternately. The page is driven over HTTP as its script drives
  it: POST the form, follow the progress (each request waits on the server for news), open the run's
  page, download the zip of everything. `run` is a child process, as cron starts it.
- the overview and the export form with 2,000 ledgers and a state holding a year of their dates (1.46
  million ledger dates), served in under 1 s (median of --repeat requests each).

`report-export serve` runs as a child process in a temporary folder, as the README starts it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.procs import PYTHON, SandboxProcess, measure
from bench.report import at_most, info, machine, table
from bench.run import exporter_env, progress
from jobs.state import State

TODAY = "2026-11-20"
MONTH = ("2026-10-01", "2026-10-31")
LEDGER = "bench-001"
USER, PASSWORD = "bench", "only for the benchmark 1"


class Serve:
    """`report-export serve` as a child process in `folder`, with one user; its URL."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder, self.env = folder, exporter_env(base_url)

    def __enter__(self) -> Serve:
        subprocess.run(
            [PYTHON, "-m", "jobs", "users", "add", USER, "--password-stdin"],
            cwd=self.folder,
            env=self.env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        self.log = (self.folder / "serve.log").open("w+")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "jobs", "serve", "--port", "0"],
            cwd=self.folder,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not (found := re.search(r"serve: (http://\S+)/ ", (self.folder / "serve.log").read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{(self.folder / 'serve.log').read_text()}")
            time.sleep(0.05)
        self.url = found[1]
        return self

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """A signed-in client, as her browser is."""
        with httpx.Client(base_url=self.url, timeout=120, headers={"Accept-Language": "nb"}) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text)[1]
            signed = client.post("/signin", data={"csrf_token": token, "user": USER, "password": PASSWORD})
            if signed.status_code != 302:
                raise RuntimeError(f"sign-in failed: {signed.status_code}")
            yield client

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def page_export(client: httpx.Client, target: Path) -> tuple[float, int]:
    """Press Export, follow the progress as progress.js does, open the run page, download the zip: seconds, bytes."""
    started = time.perf_counter()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/export").text)[1]
    answer = client.post(
        "/export",
        data={
            "csrf_token": token,
            "period": "range",
            "from": MONTH[0],
            "to": MONTH[1],
            "scope": "chosen",
            "ledger": LEDGER,
            "topic": ["funds", "fees"],
            "format": ["csv", "xlsx"],
            "preset": "standard",
        },
    )
    if answer.status_code != 303:
        raise RuntimeError(f"the export did not start: {answer.status_code}")
    job = answer.headers["location"]
    seen = re.search(r'data-version="(\d+)"', client.get(job).text)[1]
    while True:
        state = client.get(job + "/progress", params={"seen": seen}).json()
        seen = str(state["version"])
        if state["status"] in ("finished", "failed"):
            break
    if state["status"] != "finished":
        raise RuntimeError(f"the export failed: {state}")
    client.get(state["runUrl"]).raise_for_status()
    size = 0
    with client.stream("GET", f"/runs/{state['runId']}/zip") as zipped, target.open("wb") as out:
        zipped.raise_for_status()
        for chunk in zipped.iter_bytes():
            size += out.write(chunk)
    return time.perf_counter() - started, size


def cli_export(folder: Path, base_url: str, n: int) -> float:
    argv = [
        PYTHON,
        "-m",
        "jobs",
        "run",
        "--from",
        MONTH[0],
        "--to",
        MONTH[1],
        "--ledger",
        LEDGER,
        "--out",
        str(folder / f"cli-{n}"),
        "--state",
        str(folder / f"cli-state-{n}" / "state.sqlite3"),
    ]
    return measure(argv, cwd=folder, env=exporter_env(base_url)).check("report-export run").wall_s


def month_figures(tmp: Path, repeat: int, latency_ms: int) -> tuple[list, dict]:
    raw: dict = {"page_s": [], "run_s": [], "zip_bytes": 0}
    with SandboxProcess(tmp / "sandbox", ledgers=1, today=TODAY, latency_ms=latency_ms, token_ttl=None) as api:
        folder = tmp / "month"
        folder.mkdir()
        with Serve(folder, api.base_url) as serve, serve.client() as client:
            page_export(client, folder / "warm-up.zip")  # the first request of a server imports and compiles
            for n in range(repeat):
                progress(f"month {n + 1}/{repeat}: run, then the page")
                raw["run_s"].append(cli_export(folder, api.base_url, n))
                seconds, raw["zip_bytes"] = page_export(client, folder / f"page-{n}.zip")
                raw["page_s"].append(seconds)
    page, run = statistics.median(raw["page_s"]), statistics.median(raw["run_s"])
    detail = (
        f"page {page:.2f} s (zip {raw['zip_bytes'] / 1e6:.1f} MB) vs run {run:.2f} s, medians of {repeat} "
        f"alternating, {latency_ms} ms latency"
    )
    return [
        at_most("export pressed to zip downloaded / run, one ledger-month", page / run, 1.2, "x", detail),
        info("  page export, median", page, "s"),
        info("  run, median", run, "s"),
    ], raw


def filled_state(path: Path, ledgers: int, days: int) -> None:
    """A state as a year of nightly runs leaves it for `ledgers` ledgers, written straight into SQLite."""
    State(path).close()  # the schema
    rng = random.Random(7)
    last = dt.date.fromisoformat(TODAY) - dt.timedelta(days=1)
    ids = [f"bench-{n:04d}" for n in range(1, ledgers + 1)]
    with sqlite3.connect(path) as db:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        first = (last - dt.timedelta(days=days - 1)).isoformat()
        db.executemany("INSERT INTO ledgers VALUES (?, ?, ?, ?, NULL)", [(i, first, now, now) for i in ids])
        db.executemany(
            "INSERT INTO ledger_names VALUES (?, ?, ?)",
            [
                (
                    i,
                    json.dumps(
                        {
                            "ledgerId": i,
                            "owner": f"business:NO:ORG 9{int(i[-4:]) % 300:08d}",
                            "currency": "NOK",
                            "salesUnits": f"Butikk {i[-4:]} (NO:{i[-4:]})",
                            "payoutAccount": "BBAN:NO *******1234",
                        }
                    ),
                    now,
                )
                for i in ids
            ],
        )
        for ledger_id in ids:
            rows = []
            for back in range(days):
                day = (last - dt.timedelta(days=back)).isoformat()
                captures = rng.randrange(10_000, 5_000_000)
                funds = {
                    "capture": captures,
                    "refund": -rng.randrange(0, 50_000),
                    "fees-retained": -captures // 50,
                    "payout-scheduled": -captures + captures // 50,
                }
                for topic, sums in (
                    ("funds", funds),
                    ("fees", {"capture-fee": -captures // 50, "fees-retained": captures // 50}),
                ):
                    rows.append((ledger_id, topic, day, "exported", json.dumps(sums), now, 1, 40))
            db.executemany(
                "INSERT INTO dates (ledger_id, topic, ledger_date, status, sums, updated_at, run_id, rows)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )


def pages_figures(tmp: Path, repeat: int, ledgers: int) -> tuple[list, dict]:
    folder = tmp / "pages"
    (folder / "state").mkdir(parents=True)
    progress(f"pages: a state of {ledgers} ledgers x 365 days x 2 topics")
    filled_state(folder / "state" / "report-export.sqlite3", ledgers, 365)
    raw: dict = {}
    sandbox = SandboxProcess(tmp / "sandbox-pages", ledgers=ledgers, today=TODAY, latency_ms=30, token_ttl=None)
    with sandbox as api, Serve(folder, api.base_url) as serve, serve.client() as client:
        for path in ("/", "/export"):
            client.get(path).raise_for_status()  # warm
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append(time.perf_counter() - started)
            raw[path] = times
    figures = [
        at_most(
            f"{name} with {ledgers} ledgers and a year of dates",
            statistics.median(raw[path]),
            1.0,
            "s",
            f"median of {repeat}, slowest {max(raw[path]):.2f} s",
        )
        for name, path in (("overview", "/"), ("export form", "/export"))
    ]
    return figures, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measurements of each (default %(default)s)")
    parser.add_argument("--latency-ms", type=int, default=30, help="the sandbox's latency (default %(default)s)")
    parser.add_argument("--ledgers", type=int, default=2000, help="ledgers for the pages (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report-export-bench-web-") as tmp:
        month, month_raw = month_figures(Path(tmp), args.repeat, args.latency_ms)
        pages, pages_raw = pages_figures(Path(tmp), args.repeat, args.ledgers)
    figures = month + pages
    print(f"python -m bench.web {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(json.dumps(machine()))
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps({"month": month_raw, "pages": pages_raw, "machine": machine()}, indent=2))
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
