"""Benchmark of `report-export run`: latency efficiency, one large date, a naive baseline, tokens.

    .venv/bin/python -m bench.run [--quick] [--entries N] [--latency-ms MS] [--json PATH]

(or `make bench`). See bench/README.md for what each figure means. Every measured
command is a child process (the sandbox is one more), so each one's peak RSS and CPU
are its own and the sandbox's work never counts against the exporter. Progress goes
to stderr, the results table to stdout. Exit 0: every target met; 1: a target missed;
2: a measured command failed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import shlex
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.figures import BIG_TOKEN_TTL, format_figures, large_figures, latency_figures
from bench.procs import PYTHON, Measured, SandboxProcess, child_env, delta, measure
from bench.report import Figure, as_json, machine, table
from jobs.sandbox import ACCOUNTING_CLIENT

TODAY = "2026-11-20"  # the sandbox's today: every date below is closed
FIRST_DATE = dt.date(2026, 11, 1)  # latency runs: FIRST_DATE and the days after it
BIG = ("bench-001", "funds", "2026-11-10")  # the large date
SUMMARY = re.compile(r"^report-export run: .*?(\d+) rows?, .*?, (\d+) tokens?, .*?([\d.]+) s: \w", re.MULTILINE)


@dataclass(frozen=True)
class Sizes:
    ledgers: int
    dates: int
    entries: int


DEFAULT = Sizes(ledgers=40, dates=7, entries=500_000)
QUICK = Sizes(ledgers=10, dates=3, entries=100_000)


def progress(message: str) -> None:
    print(f"bench: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def exporter_env(base_url: str) -> dict[str, str]:
    client_id, secret = ACCOUNTING_CLIENT
    return child_env(
        VIPPS_BASE_URL=base_url, VIPPS_CLIENT_ID=client_id, VIPPS_CLIENT_SECRET=secret, VIPPS_KEY_TYPE="accounting"
    )


def supports_concurrency() -> bool:
    helped = measure([PYTHON, "-m", "jobs", "run", "--help"], cwd=Path(tempfile.mkdtemp()), env=child_env())
    return "--concurrency" in helped.stdout


def export(folder: Path, base_url: str, first: str, last: str, extra: list[str]) -> tuple[Measured, dict]:
    """One `report-export run` in a fresh folder and state (in a folder of its own: the exporter refuses a
    state beside other files in a folder others can read): the measurement, and from its summary line
    the rows written, the tokens used and the run's own time (from after its imports)."""
    argv = [
        PYTHON,
        "-m",
        "jobs",
        "run",
        "--from",
        first,
        "--to",
        last,
        "--out",
        str(folder / "out"),
        "--state",
        str(folder / "state" / "report-export.sqlite3"),
        *extra,
    ]
    run = measure(argv, cwd=folder, env=exporter_env(base_url)).check("report-export run")
    found = SUMMARY.search(run.stdout)
    if found is None:
        raise RuntimeError(f"no summary line in the exporter's output:\n{run.stdout[-2000:]}")
    return run, {"rows": int(found[1]), "tokens": int(found[2]), "own_s": float(found[3])}


def latency_runs(
    tmp: Path, sizes: Sizes, latency_ms: int, levels: list[int | None], token_ttl: int, formats: list[str]
) -> dict:
    last = FIRST_DATE + dt.timedelta(days=sizes.dates - 1)
    results = {}
    with SandboxProcess(
        tmp / "latency", ledgers=sizes.ledgers, today=TODAY, latency_ms=latency_ms, token_ttl=token_ttl
    ) as sandbox:
        for level in levels:
            progress(
                f"latency: {sizes.ledgers} ledgers x {sizes.dates} dates x 2 topics, {latency_ms} ms, "
                f"concurrency {level or 'default (no --concurrency)'}"
            )
            before = sandbox.counts()
            extra = (["--concurrency", str(level)] if level else []) + [a for f in formats for a in ("--format", f)]
            run, said = export(
                tmp / f"latency-c{level}", sandbox.base_url, FIRST_DATE.isoformat(), last.isoformat(), extra
            )
            requests = delta(sandbox.counts(), before)
            ideal = requests["total"] * latency_ms / 1000 / (level or 1)
            results[str(level or "default")] = {"run": run.summary(), **said, "requests": requests, "ideal_s": ideal}
            progress(
                f"  {run.wall_s:.1f} s, ideal {ideal:.1f} s ({requests['total']} requests), "
                f"{run.cpu_s:.1f} s CPU, {said['tokens']} token(s)"
            )
    return results


def check_files(out: Path, unit: tuple[str, str, str]) -> dict:
    """What the large export wrote, read back (untimed): a fast run must also be a complete one."""
    ledger, topic, date = unit
    stem = out / ledger / topic / f"{ledger}_{topic}_{date}"
    with open(stem.with_suffix(".csv"), encoding="utf-8", newline="") as file:
        csv_rows = sum(1 for _ in csv.reader(file)) - 1
    with zipfile.ZipFile(stem.with_suffix(".xlsx")) as book:  # reading checks each member's CRC
        sheets = [sheet_rows(book, name) for name in book.namelist() if name.startswith("xl/worksheets/")]
    return {"csv_rows": csv_rows, "xlsx_rows": max(sheets, default=0) - 1}  # the entries sheet is the longest


def sheet_rows(book: zipfile.ZipFile, name: str) -> int:
    """<row> elements in a worksheet's XML, read a chunk at a time."""
    count, tail = 0, b""
    with book.open(name) as member:
        while chunk := member.read(1 << 20):
            data = tail + chunk
            count += data.count(b"<row ") + data.count(b"<row>")
            tail = data[-4:]  # shorter than the tags: nothing is counted twice
    return count


# The writers alone on the big date's rows (bench.bare stream): name -> (format, GBAT10 lines).
STREAMS = {
    "csv": ("csv", "per-type"),
    "gbat10 per type": ("gbat10", "per-type"),
    "gbat10 per entry": ("gbat10", "per-entry"),
    "camt053": ("camt053", "per-type"),
    "vipps-xml": ("vipps-xml", "per-type"),
}
SUFFIXES = {"csv": "csv", "gbat10": "csv", "camt053": "xml", "vipps-xml": "xml"}
NAMES = {"csv": "funds", "gbat10": "vouchers", "camt053": "camt053", "vipps-xml": "settlement"}
# What each format's file holds per record: counted in it afterwards, untimed.
RECORDS = {
    "csv": lambda p: count_in(p, b"\r\n") - 1,
    "gbat10": lambda p: count_in(p, b"\r\n"),
    "camt053": lambda p: count_in(p, b"<Ntry>"),
    "vipps-xml": lambda p: count_in(p, b"<TransactionInfo>"),
}


def chart_toml(lines_per: str) -> str:
    """config.toml for the bookkeeping runs: the chart bench.bare's stream uses, as TOML."""
    from bench.bare import chart

    table = chart()
    lines = [
        "[accounts]",
        f'lines = "{lines_per}"',
        f'book_currency = "{table["book_currency"]}"',
        *(f"{key} = {table[key]}" for key in ("clearing", "fees_payable", "series")),
    ]
    for kind in ("types", "fee_types"):
        for name, values in table[kind].items():
            lines += [f"[accounts.{kind}.{name}]", f"account = {values['account']}"]
    return "\n".join(lines) + "\n"


def count_in(path: Path, needle: bytes) -> int:
    """Occurrences of `needle` in a file, read a chunk at a time (no needle spans more than a chunk's tail)."""
    count, tail = 0, b""
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            data = tail + chunk
            count += data.count(needle)
            tail = data[-(len(needle) - 1) :]
    return count


def big_dates(entries: int) -> tuple[str, ...]:
    """What the large date's sandbox serves in bulk (bench.serve --big): the funds of the big date, and its fees
    topic too, a capture fee per payment with the payment's pspReference, which the Vipps settlement XML joins
    and a voucher books."""
    ledger, topic, date = BIG
    return (f"{ledger}:{topic}:{date}:{entries}", f"{ledger}:fees:{date}:{entries}")


def voucher_lines(entries: int) -> dict[str, int]:
    """The lines a voucher of the big date must hold, from the sandbox's own entries: a pair per entry type and
    direction (per type) or per entry, of the funds entries and of the fees entries a voucher books (the fees topic
    of that date too; not those of jobs.reconcile.UNBOOKED_FEES)."""
    from bench.serve import big_date, make_sandbox
    from jobs.reconcile import UNBOOKED_FEES

    ledger, _, date = BIG
    sandbox = make_sandbox(1, [big_date(spec) for spec in big_dates(entries)])  # the one bench.serve runs
    groups, pairs = set(), 0
    for each in ("funds", "fees"):
        for entry in sandbox.iter_entries(ledger, each, date):
            if each == "fees" and entry["entryType"] in UNBOOKED_FEES:
                continue
            groups.add((each, entry["entryType"], entry["amount"] < 0))
            pairs += 1
    return {"gbat10 per type": 2 * len(groups), "gbat10 per entry": 2 * pairs}


def large_formats(tmp: Path, base_url: str, entries: int, where: list[str], env: dict) -> dict:
    """Each writer alone on the big date, then `report-export run --format F` for each format: every one in a
    process of its own, so its peak RSS is its own."""
    ledger, topic, date = BIG
    results: dict = {"streams": {}, "exports": {}, "voucher_lines": voucher_lines(entries)}
    for name, (fmt, lines) in STREAMS.items():
        progress(f"large date: the {name} writer alone (rows made as they are written, only the writer timed)")
        folder = tmp / f"stream-{name.replace(' ', '-')}"
        run = measure(
            [
                PYTHON,
                "-m",
                "bench.bare",
                "stream",
                "--format",
                fmt,
                "--lines",
                lines,
                "--ledgers",
                "1",
                "--entries",
                str(entries),
                *where,
                "--out",
                str(folder),
            ],
            cwd=folder,
            env=env,
        )
        results["streams"][name] = {"run": run.check(f"{name} writer").summary(), **run.json()}
        found = results["streams"][name]
        progress(f"  {found['rows'] / found['write_s']:,.0f} rows/s, peak RSS {run.peak_rss_mb:.0f} MB")
    for name, (fmt, lines) in STREAMS.items():
        progress(f"large date: report-export run --format {fmt}" + (f" ({name})" if name != fmt else ""))
        folder = tmp / f"large-{name.replace(' ', '-')}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(chart_toml(lines))  # only the chart: built-in defaults otherwise
        run, said = export(folder, base_url, date, date, ["--ledger", ledger, "--topic", topic, "--format", fmt])
        label = f"{date}_{date}" if fmt == "vipps-xml" else date  # a settlement's file names its first and last date
        path = folder / "out" / ledger / topic / f"{ledger}_{NAMES[fmt]}_{label}.{SUFFIXES[fmt]}"
        written = RECORDS[fmt](path)
        results["exports"][name] = {"run": run.summary(), **said, "written": written, "bytes": path.stat().st_size}
        progress(f"  {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB, {written} records in {path.name}")
    return results


def large_date(tmp: Path, entries: int, formats: bool = True) -> dict:
    ledger, topic, date = BIG
    where = ["--ledger", ledger, "--topic", topic, "--date", date]
    results: dict = {}
    with SandboxProcess(
        tmp / "large", ledgers=1, today=TODAY, latency_ms=0, token_ttl=BIG_TOKEN_TTL, big=big_dates(entries)
    ) as sandbox:
        bare = [PYTHON, "-m", "bench.bare"]
        env = child_env()
        progress(f"large date: bare transfer of {entries} entries (plain httpx)")
        run = measure([*bare, "transfer", "--base-url", sandbox.base_url, *where], cwd=tmp / "transfer", env=env)
        results["transfer"] = {"run": run.check("bare transfer").summary(), **run.json()}
        progress(f"  {results['transfer']['transfer_s']:.1f} s")

        progress("large date: report-export run (fetch, CSV, XLSX)")
        run, said = export(tmp / "large-export", sandbox.base_url, date, date, ["--ledger", ledger, "--topic", topic])
        results["export"] = {"run": run.summary(), **said, **check_files(tmp / "large-export" / "out", BIG)}
        progress(f"  {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB, {said['rows']} rows")

        progress("large date: bare writers (csv module, openpyxl write-only; rows built first, untimed)")
        folder = tmp / "writers"
        run = measure(
            [*bare, "writers", "--ledgers", "1", "--entries", str(entries), *where, "--out", str(folder)],
            cwd=folder,
            env=env,
        )
        results["writers"] = {"run": run.check("bare writers").summary(), **run.json()}
        progress(f"  CSV {results['writers']['csv_s']:.1f} s, XLSX {results['writers']['xlsx_s']:.1f} s")

        if formats:
            results.update(large_formats(tmp, sandbox.base_url, entries, where, env))

        progress("large date: naive baseline (pages one at a time, DataFrame, to_csv, to_excel)")
        folder = tmp / "naive"
        run = measure(
            [*bare, "naive", "--base-url", sandbox.base_url, *where, "--out", str(folder)], cwd=folder, env=env
        )
        results["naive"] = {"run": run.check("naive baseline").summary(), **run.json()}
        progress(f"  {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes for a smoke run ({QUICK})")
    parser.add_argument("--entries", type=int, help="entries of the large date (default 500000; quick 100000)")
    parser.add_argument("--latency-ms", type=int, default=50, help="sandbox delay per request in the latency runs")
    parser.add_argument("--ledgers", type=int, help="ledgers in the latency runs (default 40; quick 10)")
    parser.add_argument("--dates", type=int, help="dates per ledger in the latency runs (default 7; quick 3)")
    parser.add_argument("--token-ttl", type=int, default=5, help="token lifetime (s) in the latency runs")
    parser.add_argument(
        "--latency-format",
        action="append",
        choices=("csv", "xlsx"),
        default=[],
        help="--format for the latency runs (default: the exporter's, both)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=("latency", "large", "formats"),
        default=[],
        help="leave a part out (formats: the per-format runs of the large date)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also save every measurement as JSON")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    sizes = Sizes(args.ledgers or base.ledgers, args.dates or base.dates, args.entries or base.entries)
    facts = machine()
    command = shlex.join([Path(PYTHON).name, "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])
    progress(f"{command}: {sizes}; nproc {facts['nproc']}, Python {facts['python']}")
    levels: list[int | None] = [1, 8, 32]
    if "latency" not in args.skip and not supports_concurrency():
        progress("WARNING: `report-export run` has no --concurrency yet: one latency run at its default")
        levels = [None]
    figures: list[Figure] = []
    raw: dict = {}
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="report-export-bench-") as folder:
            if "latency" not in args.skip:
                raw["latency"] = latency_runs(
                    Path(folder), sizes, args.latency_ms, levels, args.token_ttl, args.latency_format
                )
                figures += latency_figures(raw["latency"], args.latency_ms, args.token_ttl)
            if "large" not in args.skip:
                raw["large"] = large_date(Path(folder), sizes.entries, formats="formats" not in args.skip)
                figures += large_figures(raw["large"], sizes.entries)
                if "streams" in raw["large"]:
                    figures += format_figures(raw["large"], sizes.entries)
    except RuntimeError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"command: {command}")
    print(
        f"machine: nproc {facts['nproc']} ({facts['cpu']}), {facts['memory_gb']} GB, Python {facts['python']}, "
        f"{facts['platform']}, lxml {'installed' if facts['lxml'] else 'missing'}"
    )
    print(
        f"sizes:   latency {sizes.ledgers} ledgers x {sizes.dates} dates x 2 topics at {args.latency_ms} ms "
        f"(token lifetime {args.token_ttl} s); large date {sizes.entries} entries at 0 ms; page size 1000; "
        f"took {time.perf_counter() - started:.0f} s"
    )
    print()
    print(table(figures))
    if args.json:
        document = {
            "command": command,
            "machine": facts,
            "sizes": vars(sizes),
            "latency_ms": args.latency_ms,
            "token_ttl": args.token_ttl,
            "figures": as_json(figures),
            "raw": raw,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(f.ok is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
