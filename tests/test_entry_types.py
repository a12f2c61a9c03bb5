"""Entry types of the current docs through the exporter: fees-invoiced, credit-note, service-fee, fee-side
corrections, and Norwegian payouts without a usable reference, into CSV, XLSX and the summary sheet.

Every expected figure is added up here from the sandbox's entries, in minor units, never by jobs.reconcile.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import openpyxl
from conftest import TODAY
from expected import HEADER, check_xlsx, csv_rows, read_csv, report

MAIN, RESERVE, EURO = "302321", "0302399", "7778881"
DAY = dt.timedelta(days=1)
WEEK = [TODAY - n * DAY for n in range(7, 0, -1)]
FEE_COLUMNS = {
    "Capture fees": {"capture-fee"},
    "Service fees": {"service-fee"},
    "Fees retained": {"fees-retained"},
    "Fees invoiced": {"fees-invoiced"},
}
FUNDS_COLUMNS = {
    "Captures": {"capture"},
    "Refunds": {"refund"},
    "Fees retained": {"fees-retained"},
    "Payouts": {"payout-scheduled", "scheduled-for-payout"},
}


def sums(entries: list[dict]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for e in entries:
        total[e["entryType"]] += e["amount"]
    return dict(total)


def columns(entries: list[dict], named: dict[str, set[str]]) -> dict[str, Decimal]:
    """What each summary column must show: the sums of its types, and of every other type under Other."""
    by_type = sums(entries)
    shown = {label: sum(by_type.get(t, 0) for t in types) for label, types in named.items()}
    shown["Other"] = sum(amount for t, amount in by_type.items() if not any(t in types for types in named.values()))
    return {label: Decimal(amount) / 100 for label, amount in shown.items()}


def sheet_rows(path) -> list[tuple]:
    book = openpyxl.load_workbook(path)
    try:
        return [row for row in book["summary"].iter_rows(values_only=True)]
    finally:
        book.close()


def one_date(path) -> dict:
    return {row[0]: row[1] for row in sheet_rows(path) if row and row[0]}


def money(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def test_fee_side_types_reach_files_summaries_and_manifests(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), "--ledger", MAIN, "--combine", "--strict")
    assert result.code == 0, result.err
    out = workdir / "reports"
    seen: dict[str, set[str]] = {"funds": set(), "fees": set()}
    for topic, named in (("funds", FUNDS_COLUMNS), ("fees", FEE_COLUMNS)):
        for day in WEEK:
            entries = sandbox.entries(MAIN, topic, day)
            rows = read_csv(report(out, MAIN, topic, day, "csv"))
            assert rows == [HEADER] + csv_rows(entries, MAIN)
            seen[topic].update(row[3] for row in rows[1:])
            xlsx = report(out, MAIN, topic, day, "xlsx")
            check_xlsx(xlsx, entries, MAIN)
            summary = one_date(xlsx)
            assert {label: money(summary[label]) for label in [*named, "Other"]} == columns(entries, named)
            by_type = sums(entries)
            assert {t: money(summary[t]) for t in by_type} == {t: Decimal(a) / 100 for t, a in by_type.items()}
            assert ("Payout amount" in summary) == (topic == "funds")
            manifest = json.loads(report(out, MAIN, topic, day, "manifest.json").read_text())
            assert manifest["sums"] == sums(entries) and all(check["ok"] for check in manifest["checks"])
    assert {"service-fee", "credit-note", "correction", "capture-fee", "fees-retained"} <= seen["fees"]
    assert "credit-note" in seen["funds"]

    # The week's fees file: a column per kind of fee, a row per date, a total that adds them up.
    period = out / MAIN / "fees" / f"{MAIN}_fees_{WEEK[0]}_{WEEK[-1]}.xlsx"
    header, *dates, total = [row for row in sheet_rows(period) if row and row[0] is not None]
    labels = ["Capture fees", "Service fees", "Fees retained", "Fees invoiced", "Other"]
    assert list(header) == ["Ledger date", "Opening balance", *labels, "Closing balance", "Entries", "Checks"]
    week = [e for day in WEEK for e in sandbox.entries(MAIN, "fees", day)]
    for row, day in zip(dates, WEEK, strict=True):
        entries = sandbox.entries(MAIN, "fees", day)
        assert row[0].date() == day and row[-1] == "ok" and row[8] == len(entries)
        assert [money(value) for value in row[2:7]] == [columns(entries, FEE_COLUMNS)[label] for label in labels]
    assert total[0] == "Total" and total[8] == len(week)
    assert [money(value) for value in total[2:7]] == [columns(week, FEE_COLUMNS)[label] for label in labels]


def test_gross_settlement_invoices_the_month_on_its_last_date(make_sandbox, use_sandbox, run_cli, workdir):
    first, last = dt.date(2026, 10, 30), dt.date(2026, 11, 1)
    sandbox = make_sandbox(today=last + DAY)
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(first), "--to", str(last), "--ledger", EURO, "--strict", today=last + DAY)
    assert result.code == 0, result.err
    out = workdir / "reports"
    month_end = dt.date(2026, 10, 31)
    fees = sandbox.entries(EURO, "fees", month_end)
    invoice = read_csv(report(out, EURO, "fees", month_end, "csv"))[-1]
    assert invoice[3] == "fees-invoiced" and invoice == csv_rows(fees, EURO)[-1]
    summary = one_date(report(out, EURO, "fees", month_end, "xlsx"))
    owed = fees[0]["balanceBefore"] + sum(e["amount"] for e in fees if e["entryType"] != "fees-invoiced")
    assert owed < 0 and money(summary["Fees invoiced"]) == Decimal(-owed) / 100
    assert money(summary["Opening balance"]) == Decimal(fees[0]["balanceBefore"]) / 100 < 0  # the month so far
    assert money(summary["Closing balance"]) == Decimal(0)
    assert money(one_date(report(out, EURO, "fees", last, "xlsx"))["Opening balance"]) == Decimal(0)
    for day in (first, month_end, last):  # gross: the funds are paid out without fees deducted
        funds = sandbox.entries(EURO, "funds", day)
        sheet = one_date(report(out, EURO, "funds", day, "xlsx"))
        assert money(sheet["Fees retained"]) == Decimal(0) and "fees-retained" not in sheet
        assert money(sheet["Payout amount"]) == Decimal(sum(e["amount"] for e in funds[:-1])) / 100


def test_payouts_without_a_reference_reconcile_and_are_named_by_their_number(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    result = run_cli(
        "run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), "--ledger", RESERVE, "--topic", "funds", "--strict"
    )
    assert result.code == 0, result.err
    assert "does not reconcile" not in result.err
    out, references = workdir / "reports", []
    for day in WEEK:
        entries = sandbox.entries(RESERVE, "funds", day)
        if not entries:  # a quiet Sunday
            continue
        payout = entries[-1]
        references.append(payout["reference"])
        rows = read_csv(report(out, RESERVE, "funds", day, "csv"))
        assert rows[-1][3:6] == ["payout-scheduled", payout["pspReference"], ""]
        summary = one_date(report(out, RESERVE, "funds", day, "xlsx"))
        assert money(summary["Payout amount"]) == Decimal(-payout["amount"]) / 100
        assert summary["Payout number"] == payout["pspReference"].removeprefix(f"{RESERVE}-")
        assert summary["Payout reference"] is None
        assert [summary[name] for name in ("balance", "chain", "sums", "payout last")] == ["ok"] * 4
    assert set(references) == {"", None}  # both kinds were served
