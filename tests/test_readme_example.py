"""The README's worked example (Vouchers and bank statements) is what the exporter writes for that day."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).parent.parent
SECTION = "### A worked example: one day of ledger 302321"


def blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```\n(.*?)```", section, re.S)


def test_the_worked_example_is_the_export_of_that_day(make_sandbox, use_sandbox, run_cli, workdir):
    shutil.copy(ROOT / "config.toml", workdir / "config.toml")
    use_sandbox(make_sandbox(today=dt.date(2026, 11, 20)))
    result = run_cli(
        "run",
        "--from",
        "2026-11-19",
        "--to",
        "2026-11-19",
        "--ledger",
        "302321",
        "--format",
        "gbat10",
        "--format",
        "camt053",
        today=dt.date(2026, 11, 20),
    )
    assert result.code == 0, result.err
    voucher, statement, bank = blocks()
    folder = workdir / "reports" / "302321" / "funds"
    assert (folder / "302321_vouchers_2026-11-19.csv").read_bytes() == voucher.replace("\n", "\r\n").encode()
    written = (folder / "302321_camt053_2026-11-19.xml").read_text(encoding="utf-8")
    head, payout = statement.splitlines()
    assert head in written and payout + "\n</Stmt>" in written  # the payout is the statement's last entry
    payout_number, amount = re.search(r"Utb\. (\d+) .* \+([\d ]+,\d\d)$", bank.strip()).groups()
    assert f"<AcctSvcrRef>302321-{payout_number}</AcctSvcrRef>" in payout
    assert f">{amount.replace(' ', '').replace(',', '.')}</Amt><CdtDbtInd>DBIT" in payout
