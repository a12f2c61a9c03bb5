"""`report-export run --format gbat10 / camt053` against the sandbox over loopback HTTP: every ledger,
every entry type, awkward text, unbalanced dates, periods, and the mistakes a user can make.

Files are read with the independent readers (tests/gbat10_reader.py, tests/camt053_reader.py), and
what they must hold is added up here from the sandbox's entries, in minor units.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tomllib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from camt053_reader import read_camt053
from conftest import TODAY
from expected import report
from gbat10_reader import read_gbat10
from test_errors import assert_one_line

ROOT = Path(__file__).parent.parent
DAY = dt.timedelta(days=1)
WEEK = [TODAY - n * DAY for n in range(7, 0, -1)]
MAIN, RESERVE, MERCHANT, DANISH, EURO = "302321", "0302399", "412345", "5551234", "7778881"
PAYOUTS = ("payout-scheduled", "scheduled-for-payout")
BOTH = ("--format", "gbat10", "--format", "camt053")
PROOFS = ("voucher balances", "voucher clearing", "voucher payout", "statement balances", "statement movement",
          "statement payout")  # fmt: skip


def cents(minor: int) -> Decimal:
    return Decimal(minor) / 100


def committed_config(workdir: Path) -> dict:
    """The committed config.toml, copied beside the run (so no .env of the checkout is read)."""
    shutil.copy(ROOT / "config.toml", workdir / "config.toml")
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["accounts"]


def voucher(out: Path, ledger: str, label: str) -> Path:
    return out / ledger / "funds" / f"{ledger}_vouchers_{label}.csv"


def statement(out: Path, ledger: str, label: str) -> Path:
    return out / ledger / "funds" / f"{ledger}_camt053_{label}.xml"


def by_type(entries: list[dict]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for entry in entries:
        sums[entry["entryType"]] += entry["amount"]
    return dict(sums)


def check_voucher(path: Path, entries: list[dict], chart: dict, ledger: str, day: dt.date) -> None:
    """Lines per type as the chart maps them, against the served entries."""
    lines = read_gbat10(path)
    series = chart["series"][ledger]
    assert {line.number for line in lines} == {series * 1000 + day.timetuple().tm_yday}
    assert {line.voucher_type for line in lines} == {chart["voucher_type"]} and {line.date for line in lines} == {day}
    clearing = chart["clearing"][entries[0]["currency"]]
    mapped = {t: chart["types"][t]["account"] for t in by_type(entries)}
    expected = []
    for entry_type, amount in by_type(entries).items():  # dicts keep the order types first appear in
        expected += [(mapped[entry_type], cents(-amount)), (clearing, cents(amount))]
    assert [(line.account, line.amount) for line in lines] == expected
    change = entries[-1]["balanceAfter"] - entries[0]["balanceBefore"]
    assert sum(line.amount for line in lines if line.account == clearing) == cents(change)


def check_statement(path: Path, entries: list[dict], ledger: str) -> None:
    found = read_camt053(path)
    assert found.account == ledger and found.currency == entries[0]["currency"]
    assert found.opening == cents(entries[0]["balanceBefore"]) and found.closing == cents(entries[-1]["balanceAfter"])
    assert [(e.amount, e.code, e.servicer_ref, e.end_to_end or "") for e in found.entries] == [
        (cents(e["amount"]), e["entryType"], e["pspReference"], e["reference"] or "") for e in entries
    ]
    assert {e.booked for e in found.entries} == {e.value for e in found.entries} == {found.opening_date}


def test_the_committed_example_works_out_of_the_box_for_every_ledger(sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), *BOTH, "--format", "csv", "--strict")
    assert result.code == 0, result.err
    assert "gbat10 and camt053: written for topic funds only; fees dates get csv" in result.err
    out, seen, quiet = workdir / "reports", set(), 0
    for ledger in (MAIN, RESERVE, MERCHANT, DANISH, EURO):
        for day in WEEK:
            entries = sandbox.entries(ledger, "funds", day)
            if not entries:  # a quiet Sunday: nothing moved, so no voucher and no statement
                quiet += 1
                assert not voucher(out, ledger, str(day)).exists() and not statement(out, ledger, str(day)).exists()
                continue
            seen.update(e["entryType"] for e in entries)
            check_voucher(voucher(out, ledger, str(day)), entries, chart, ledger, day)
            check_statement(statement(out, ledger, str(day)), entries, ledger)
            manifest = json.loads(report(out, ledger, "funds", day, "manifest.json").read_text())
            assert {f["name"] for f in manifest["files"]} == {f"{ledger}_funds_{day}.csv",
                                                                f"{ledger}_vouchers_{day}.csv",
                                                                f"{ledger}_camt053_{day}.xml"}  # fmt: skip
            proofs = {c["name"]: c["ok"] for c in manifest["checks"] if c["name"].startswith(("voucher", "statement"))}
            assert proofs == dict.fromkeys(PROOFS, True)
        assert not list((out / ledger / "fees").glob("*_vouchers_*")) and not list(out.rglob(f"{ledger}_fees*.xml"))
    assert quiet and set(PAYOUTS) <= seen and {"instant-payout-fee", "top-up", "payout-aborted"} <= seen
    assert run_cli("verify", "reports").code == 0
    (out / MAIN / "funds" / "stray.xml").write_text("<x/>")  # a statement no manifest lists is named too
    stray = run_cli("verify", "reports")
    assert stray.code == 10 and f"{MAIN}/funds/stray.xml: not in any manifest" in stray.out


def test_negative_balances_and_the_top_up_that_ends_them(make_sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    use_sandbox(make_sandbox())
    first, last = dt.date(2026, 9, 14), dt.date(2026, 9, 16)  # below zero until the top-up on the 16th
    result = run_cli("run", "--from", str(first), "--to", str(last), "--ledger", MERCHANT, *BOTH, "--strict")
    assert result.code == 0, result.err
    out, sandbox = workdir / "reports", make_sandbox()
    for day in (first, first + DAY, last):
        entries = sandbox.entries(MERCHANT, "funds", day)
        found = read_camt053(statement(out, MERCHANT, str(day)))
        check_statement(statement(out, MERCHANT, str(day)), entries, MERCHANT)
        check_voucher(voucher(out, MERCHANT, str(day)), entries, chart, MERCHANT, day)
        assert found.opening < 0
        assert (found.closing < 0) == (day != last)
    assert "top-up" in {e.code for e in read_camt053(statement(out, MERCHANT, str(last))).entries}


def test_a_month_with_combine_is_the_dates_one_after_another(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    result = run_cli("run", "--from", str(first), "--to", str(last), "--ledger", RESERVE, *BOTH, "--combine")
    assert result.code == 0, result.err
    out, label = workdir / "reports", f"{first}_{last}"
    days = [first + n * DAY for n in range(31) if sandbox.entries(RESERVE, "funds", first + n * DAY)]
    assert 20 < len(days) < 31  # quiet Sundays have no voucher and no statement
    daily = b"".join(voucher(out, RESERVE, str(day)).read_bytes() for day in days)
    assert voucher(out, RESERVE, label).read_bytes() == daily
    numbers = [line.number for line in read_gbat10(voucher(out, RESERVE, label))]
    assert sorted(set(numbers)) == [2000 + day.timetuple().tm_yday for day in days]
    month = read_camt053(statement(out, RESERVE, label))
    served = [e for day in days for e in sandbox.entries(RESERVE, "funds", day)]
    assert [(e.amount, e.servicer_ref, e.booked) for e in month.entries] == [
        (cents(e["amount"]), e["pspReference"], dt.date.fromisoformat(e["ledgerDate"])) for e in served
    ]
    assert (month.opening, month.opening_date) == (cents(served[0]["balanceBefore"]), days[0])
    assert (month.closing, month.closing_date) == (cents(served[-1]["balanceAfter"]), days[-1])
    assert month.message_id == f"{RESERVE}-{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}"
    manifest = json.loads((out / RESERVE / "funds" / f"{RESERVE}_vouchers_{label}.manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == [
        f"{RESERVE}_vouchers_{label}.csv",
        f"{RESERVE}_camt053_{label}.xml",
    ]
    period_checks = [c for c in manifest["checks"] if c["date"] == f"{first}..{last}"]
    assert {c["name"] for c in period_checks} >= {"voucher balances", "statement balances"}
    assert all(c["ok"] for c in manifest["checks"])
    assert run_cli("verify", "reports").code == 0


def test_the_same_date_always_gets_the_same_voucher_and_statement(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    args = ("run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), *BOTH)
    assert run_cli(*args).code == 0
    files = sorted((workdir / "reports").rglob("*_vouchers_*.csv")) + sorted((workdir / "reports").rglob("*.xml"))
    before = {path: path.read_bytes() for path in files}
    assert run_cli("run", "--to", str(WEEK[3]), *BOTH).code == 0  # again, alone
    assert run_cli(*args).code == 0
    assert {path: path.read_bytes() for path in files} == before and before
    numbers = [(line.number, line.date) for path in files if path.suffix == ".csv" for line in read_gbat10(path)]
    assert len({n for n, _ in numbers}) == len(set(numbers))  # no two ledger dates share a number


def test_a_date_that_does_not_add_up_is_flagged_and_under_strict_not_written(sandbox, use_sandbox, run_cli,
                                                                              workdir):  # fmt: skip
    committed_config(workdir)
    use_sandbox(sandbox)
    day = WEEK[-1]
    sandbox.corrupt(MAIN, "funds", day, "amount")  # one amount 1.00 off its balances
    args = ("run", "--to", str(day), "--ledger", MAIN, "--topic", "funds", *BOTH, "--format", "xlsx")
    flagged = run_cli(*args)
    assert flagged.code == 0, flagged.err
    assert f"ledger {MAIN} funds {day} does not reconcile" in flagged.err
    for name in ("voucher clearing", "statement balances", "statement movement"):
        assert name in flagged.err
    out, entries = workdir / "reports", sandbox.entries(MAIN, "funds", day)
    lines = read_gbat10(voucher(out, MAIN, str(day)))  # written, and still balanced
    moved = sum(line.amount for line in lines if line.account == 1940)
    assert moved == cents(sum(e["amount"] for e in entries)) == cents(entries[-1]["balanceAfter"]
                                                                      - entries[0]["balanceBefore"]) + 1  # fmt: skip
    found = read_camt053(statement(out, MAIN, str(day)))
    assert found.opening + sum(e.amount for e in found.entries) == found.closing + 1
    manifest = json.loads(report(out, MAIN, "funds", day, "manifest.json").read_text())
    failed = {c["name"] for c in manifest["checks"] if not c["ok"]}
    assert failed == {"balance", "sums", "voucher clearing", "statement balances", "statement movement"}
    book = openpyxl.load_workbook(report(out, MAIN, "funds", day, "xlsx"))
    try:
        rows = {row[0]: row[1] for row in book["summary"].iter_rows(values_only=True) if row and row[0]}
    finally:
        book.close()
    assert rows["voucher clearing"] == "FAILED" and rows["voucher balances"] == "ok"
    for path in out.rglob("*.*"):
        path.unlink()
    strict = run_cli(*args, "--strict")
    assert strict.code == 5 and "does not reconcile" in strict.err and "--strict" in strict.err
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_a_voucher_that_does_not_balance_is_never_written(sandbox, use_sandbox, run_cli, workdir, monkeypatch):
    """Should a bug ever unbalance a voucher, the date is refused even without --strict."""
    from jobs.gbat10 import VoucherFile

    line = VoucherFile._line

    def off_by_one(self, voucher, account, vat_code, amount, text):
        line(self, voucher, account, vat_code, amount + (account == voucher.clearing), text)

    monkeypatch.setattr(VoucherFile, "_line", off_by_one)
    committed_config(workdir)
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--topic", "funds", *BOTH)
    assert result.code == 5
    assert "voucher balances" in result.err and "a voucher that does not balance is never written" in result.err
    assert not list((workdir / "reports").rglob("*.*"))


def without_type(chart: str, entry_type: str) -> str:
    head, rest = chart.split(f"[accounts.types.{entry_type}]\n", 1)
    return head + (rest.split("\n\n", 1) + [""])[1]


def test_an_entry_type_without_an_account_stops_its_date_with_one_line(sandbox, use_sandbox, run_cli, workdir):
    chart = (ROOT / "config.toml").read_text(encoding="utf-8")
    (workdir / "config.toml").write_text(without_type(chart, "instant-payout-fee"))
    use_sandbox(sandbox)
    day = next(d for d in reversed(WEEK) if "instant-payout-fee" in by_type(sandbox.entries(MAIN, "funds", d)))
    args = ("run", "--ledger", MAIN, "--topic", "funds", *BOTH, "--format", "csv")
    result = run_cli(*args, today=day + DAY)  # a catch-up: yesterday is the date with the unmapped type
    assert_one_line(
        result,
        3,
        f"ledger {MAIN} funds {day}: entry type 'instant-payout-fee' has no account: add "
        "[accounts.types.instant-payout-fee] with account = <number> to config.toml",
        "no voucher written",
    )
    assert not list((workdir / "reports").rglob("*.*"))  # no voucher, and none of the date's other files
    (workdir / "config.toml").write_text(chart)  # the fix: the next catch-up exports the date
    assert run_cli(*args, today=day + DAY).code == 0
    lines = read_gbat10(voucher(workdir / "reports", MAIN, str(day)))
    assert [line.account for line in lines if "instant-payout-fee" in line.text] == [7770, 1940]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.replace('"302321" = 1\n', ""), ['no voucher series: add "302321" = <series> to '
                                                     "[accounts.series]", "e.g. 0"]),
        (lambda c: c.replace("NOK = 1940\n", ""), ['no clearing account for NOK: add NOK = <number> (or "302321" = '
                                                   "<number>) to [accounts.clearing]"]),
        (lambda c: c.split("[accounts]")[0], ["--format gbat10 needs an [accounts] table in config.toml"]),
    ],
)  # fmt: skip
def test_a_missing_series_clearing_account_or_chart_is_a_configuration_error(change, message, sandbox, use_sandbox,
                                                                               run_cli, workdir):  # fmt: skip
    (workdir / "config.toml").write_text(change((ROOT / "config.toml").read_text(encoding="utf-8")))
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--format", "gbat10")
    assert_one_line(result, 3, *message)
    assert not list((workdir / "reports").rglob("*.*"))


def test_fees_get_no_voucher_or_statement(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    alone = run_cli("run", "--to", str(WEEK[-1]), "--topic", "fees", *BOTH)
    assert alone.code == 2 and "is written for topic funds only: add --topic funds" in alone.err
    both = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--format", "camt053")
    assert both.code == 0, both.err
    assert "camt053: written for topic funds only; fees dates get no file this run" in both.err
    assert [p.name for p in (workdir / "reports").rglob("*.*") if p.suffix != ".json"] == [
        f"{MAIN}_camt053_{WEEK[-1]}.xml"
    ]
    later = run_cli("run", "--ledger", MAIN, "--format", "csv")  # fees were left for a run that writes them
    assert later.code == 0 and report(workdir / "reports", MAIN, "fees", WEEK[-1], "csv").exists()


def test_the_feed_writes_no_vouchers_or_statements(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    assert run_cli("feed", "--ledger", MERCHANT, "--topic", "funds", *BOTH).code == 2
    mixed = run_cli("feed", "--ledger", MERCHANT, "--topic", "funds", "--format", "csv", "--format", "gbat10")
    assert mixed.code == 0 and "feed: batches are written as csv only" in mixed.err
    assert {p.suffix for p in (workdir / "reports").rglob("*.*")} == {".csv", ".json"}
    assert not list((workdir / "reports").rglob("*_vouchers_*"))


AWKWARD = [
    "semi;colon", 'quote "q"', "line\nbreak", "crlf\r\nline", "tab\tstop", "\u202eevil\u202c", "\u200fשלום\u200e",
    "=HYPERLINK(\"http://x\";\"y\")", "+4712345678", "-42", "@SUM(A1)", "emoji 🧾💸", "bell\x07", "x" * 600,
    "  spaces  ", "\u2028sep",
]  # fmt: skip


def test_awkward_text_never_shifts_a_column_and_validates(sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    per_entry = (ROOT / "config.toml").read_text().replace('lines = "per-type"', 'lines = "per-entry"')
    (workdir / "config.toml").write_text(per_entry)
    day, balance, entries = WEEK[-2], 0, []
    for n, text in enumerate(AWKWARD):
        entries.append({"pspReference": f"psp-{n}-" + "9" * (40 if n % 2 else 1), "time": f"{day}T10:{n:02d}:00Z",
                        "ledgerDate": str(day), "entryType": "capture", "reference": text, "currency": "NOK",
                        "amount": 100 + n, "balanceBefore": balance, "balanceAfter": balance + 100 + n,
                        "recipientHandle": None})  # fmt: skip
        balance += 100 + n
    sandbox.serve_entries(MAIN, "funds", day, entries)
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(day), "--to", str(day + DAY), "--ledger", MAIN, *BOTH, "--strict")
    assert result.code == 0, result.err
    out = workdir / "reports"
    for served in (entries, sandbox.entries(MAIN, "funds", day + DAY)):  # and the sandbox's own awkward date
        when = dt.date.fromisoformat(served[0]["ledgerDate"])
        lines = read_gbat10(voucher(out, MAIN, str(when)))  # 30 columns, each within its length
        assert len(lines) == 2 * len(served) and {line.account for line in lines[1::2]} == {chart["clearing"]["NOK"]}
        found = read_camt053(statement(out, MAIN, str(when)))
        for entry, got in zip(served, found.entries, strict=True):
            text = (entry["reference"] or "").replace("\x07", "\ufffd")  # XML 1.0 cannot hold a bell
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            assert got.unstructured == (f"{text[:131]}~{digest}" if len(text) > 140 else text or None)
            assert got.end_to_end is None or len(got.end_to_end) <= 35
            assert len(got.servicer_ref) <= 35 and (got.servicer_ref == entry["pspReference"]) == (
                len(entry["pspReference"]) <= 35
            )
            assert entry["pspReference"] in got.info or len(got.info) == 500
    texts = [line.text for line in read_gbat10(voucher(out, MAIN, str(day)))][0::2]
    assert texts[:6] == [f"Vipps MobilePay salg {day:%d.%m.%Y} (1 stk) ledger {MAIN} {shown}" for shown in
                         ("semi,colon", "quote 'q'", "line break", "crlf line", "tab stop", "evil")]  # fmt: skip
    assert texts[7].endswith("=HYPERLINK('http://x','y')") and texts[13].endswith("…") and len(texts[13]) == 100


def test_the_payouts_two_names_share_one_mapping(sandbox, use_sandbox, run_cli, workdir):
    """A chart that names only payout-scheduled books the Danish ledger's scheduled-for-payout there too."""
    (workdir / "config.toml").write_text(without_type((ROOT / "config.toml").read_text(), "scheduled-for-payout"))
    use_sandbox(sandbox)
    day = WEEK[-1]
    assert run_cli("run", "--to", str(day), "--ledger", DANISH, "--format", "gbat10", "--strict").code == 0
    entries = sandbox.entries(DANISH, "funds", day)
    assert entries[-1]["entryType"] == "scheduled-for-payout"
    lines = read_gbat10(voucher(workdir / "reports", DANISH, str(day)))
    assert (lines[-2].account, lines[-2].amount) == (1920, cents(-entries[-1]["amount"]))  # to the bank
    assert (lines[-1].account, lines[-1].amount) == (1941, cents(entries[-1]["amount"]))  # from the DKK clearing
