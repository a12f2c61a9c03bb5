"""`make demo`: export last week from a sandbox into demo/, as a real run would from the real API.

The exporter runs as a subprocess with only environment variables, exactly as
a user would start it, so the demo proves the command line works end to end.

Everything the demo writes stays in its own folder, demo/ (git-ignored; `make clean`
removes it). The exporter runs inside that folder, so it finds no .env to redirect it,
and only the demo's own config.toml, which holds the sandbox's chart of accounts for
the GBAT10 vouchers and nothing else; it keeps its state and report files there. A real installation's state
never learns the sandbox's ledgers: if it did, the first real run would report every one
of them as withdrawn and fail. Each demo starts from an empty folder, so the files it
lists are the files this run wrote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .closing import OSLO
from .server import Sandbox
from .tokens import ACCOUNTING_CLIENT

FOLDER = Path("demo")  # relative to where the demo is started: the project root under make
OUT = "reports"  # this and STATE relative to FOLDER, where the exporter runs
STATE = "state/report-export.sqlite3"
# Marks a folder as the demo's own, so a later demo may empty it; any other folder is left alone.
NOTE = "README.txt"
NOTE_TEXT = (
    "Written by `make demo` (python -m jobs.sandbox.demo): the state and report files of an export\n"
    "from a local sandbox, kept apart from a real installation's. Each demo empties this folder first;\n"
    "`make clean` removes it.\n"
)
ROOT = Path(__file__).resolve().parents[2]  # holds the jobs package
FORMATS = ("csv", "xlsx", "gbat10", "camt053")
# The sandbox's ledgers on a Norwegian chart (NS 4102), like config.toml's example; a real installation's
# config.toml is never read, so an installation whose chart is its own still gets a demo that works.
CHART = """# Written by the demo: how the sandbox's ledgers are booked. See ../config.toml and the README.
[accounts]
model = "sales-elsewhere"
book_currency = "NOK"
voucher_type = 50
series = 1
clearing = 1940
fees_payable = 2960
[accounts.types]
capture = { account = 1560 }
refund = { account = 1560 }
payout-scheduled = { account = 1960 }
payout-aborted = { account = 1960 }
top-up = { account = 1960 }
retained-disputed-capture = { account = 1570 }
returned-disputed-capture = { account = 1570 }
correction = { account = 1579 }
credit-note = { account = 1579 }
instant-payout-fee = { account = 7770 }
[accounts.fee_types]
capture-fee = { account = 7770 }
service-fee = { account = 7790 }
credit-note = { account = 7770 }
correction = { account = 7770 }
[clients."12345678"]
book_currency = "DKK"
[clients."1234567-8"]
book_currency = "EUR"
[ledgers."5551234"]
cutoff_hour = 4
"""


def exporter_command(today: dt.date, out: str = OUT, state: str = STATE) -> list[str]:
    first, last = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    formats = [arg for fmt in FORMATS for arg in ("--format", fmt)]
    return [
        sys.executable,
        "-m",
        "jobs",
        "run",
        "--from",
        first.isoformat(),
        "--to",
        last.isoformat(),
        "--out",
        out,
        "--state",
        state,
        *formats,
    ]


def exporter_env(base_url: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its VIPPS_* settings (real keys, a token path), plus the sandbox's."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if not k.startswith("VIPPS_")}
    env.update(
        VIPPS_BASE_URL=base_url,
        VIPPS_CLIENT_ID=ACCOUNTING_CLIENT[0],
        VIPPS_CLIENT_SECRET=ACCOUNTING_CLIENT[1],
        VIPPS_KEY_TYPE="accounting",
    )
    # The exporter starts inside the demo folder: it must still import this checkout's jobs package.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def fresh_folder(folder: Path) -> None:
    """Empty folder, the demo's own; refuse one that holds anything the demo did not make."""
    if folder.is_file() or folder.is_dir() and any(folder.iterdir()) and not (folder / NOTE).is_file():
        raise FileExistsError(f"{folder.resolve()} exists and is not the demo's: move it, or start the demo elsewhere")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / NOTE).write_text(NOTE_TEXT, encoding="utf-8")
    (folder / "config.toml").write_text(CHART, encoding="utf-8")


def kind(path: Path) -> str:
    if path.name.endswith(".manifest.json"):
        return "manifest"
    if "_vouchers_" in path.name:
        return "GBAT10"
    return "camt.053" if path.suffix == ".xml" else path.suffix.lstrip(".").upper() or "other"


def files_per_ledger(out: Path) -> dict[str, Counter[str]]:
    """Every file under out/, counted by kind (CSV, XLSX, manifest) per first folder: the ledger's id."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            parts = path.relative_to(out).parts
            counts[parts[0] if len(parts) > 1 else "."][kind(path)] += 1
    return dict(counts)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(kinds: Counter[str]) -> str:
    """'40 report files (14 CSV, 14 XLSX, 6 GBAT10, 6 camt.053), 14 manifests': report files as the exporter's
    summary counts them."""
    shown = ("CSV", "XLSX", "GBAT10", "camt.053")  # the formats the demo asks for, even where one has no file
    reports = [(k, kinds[k]) for k in shown] + sorted((k, n) for k, n in kinds.items() if k not in (*shown, "manifest"))
    detail = f" ({', '.join(f'{n} {k}' for k, n in reports)})" if reports else ""
    return f"{plural(sum(n for _, n in reports), 'report file')}{detail}, {plural(kinds['manifest'], 'manifest')}"


def listing(out: Path) -> list[str]:
    counts = files_per_ledger(out) if out.is_dir() else {}
    if not counts:
        return [f"No files in {out}"]
    width = max(len(name) for name in [*counts, "total"])
    lines = [f"Files in {out}, per ledger:"]
    lines += [f"  {name:<{width}}  {describe(kinds)}" for name, kinds in sorted(counts.items())]
    lines.append(f"  {'total':<{width}}  {describe(sum(counts.values(), Counter()))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.sandbox.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the sandbox's today; the seven days before it are exported (default: today)",
    )
    args = parser.parse_args(argv)
    try:
        fresh_folder(FOLDER)
    except FileExistsError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    folder = FOLDER.resolve()
    # A sandbox at noon of today, not on the machine's clock: before the closing hour (06:00) yesterday
    # would still be open, and the demo would show six closed days instead of seven.
    with Sandbox(today=args.today or dt.datetime.now(OSLO).date()) as sandbox:
        command = exporter_command(sandbox.today)
        print(
            f"Demo: exporting {command[5]} .. {command[7]} from a local Report API sandbox at {sandbox.base_url}",
            flush=True,
        )
        print(
            f"Demo folder: {folder}, apart from a real installation's state and reports (`make clean` removes it)",
            flush=True,
        )
        # The child's output goes straight to our stdout/stderr: nothing to pass along by hand.
        code = subprocess.call(command, cwd=folder, env=exporter_env(sandbox.base_url))
    print("\n".join(listing(folder / OUT)))
    print(f"State: {folder / STATE}")
    return code


if __name__ == "__main__":
    sys.exit(main())
