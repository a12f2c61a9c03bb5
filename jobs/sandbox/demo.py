"""`make demo`: export last week from a sandbox, as a real run would from the real API.

The exporter runs as a subprocess with only environment variables, exactly as
a user would start it, so the demo proves the command line works end to end.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .server import Sandbox
from .tokens import ACCOUNTING_CLIENT

OUT = "reports"


def exporter_command(today: dt.date, out: str = OUT) -> list[str]:
    first, last = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    return [sys.executable, "-m", "jobs", "run", "--from", first.isoformat(), "--to", last.isoformat(),
            "--out", out]  # fmt: skip


def exporter_env(base_url: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.update(
        VIPPS_BASE_URL=base_url,
        VIPPS_CLIENT_ID=ACCOUNTING_CLIENT[0],
        VIPPS_CLIENT_SECRET=ACCOUNTING_CLIENT[1],
        VIPPS_KEY_TYPE="accounting",
    )
    return env


def files_per_ledger(out: Path, ledger_ids: list[str]) -> Counter[str]:
    """Report files under out/<ledgerId>/, counted per ledger."""
    return Counter({i: sum(p.is_file() for p in (out / i).rglob("*")) for i in ledger_ids if (out / i).is_dir()})


def main() -> int:
    with Sandbox() as sandbox:
        command = exporter_command(sandbox.today)
        print(f"Demo: exporting {command[5]} .. {command[7]} from a local Report API sandbox at "
              f"{sandbox.base_url}", flush=True)  # fmt: skip
        # The child's output goes straight to our stdout/stderr: nothing to pass along by hand.
        code = subprocess.call(command, env=exporter_env(sandbox.base_url))
    out = Path(OUT).resolve()
    ids = [ledger["ledgerId"] for ledger in sandbox.ledgers()]
    counts = files_per_ledger(out, ids) if out.is_dir() else Counter()
    print(f"Reports are in {out}")
    for ledger_id, count in sorted(counts.items()):
        print(f"  {ledger_id}: {count} file{'s' if count != 1 else ''}")
    if not counts:
        print("  (no files written)")
    return code


if __name__ == "__main__":
    sys.exit(main())
