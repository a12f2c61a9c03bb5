"""What a file must hold, computed from the sandbox's own data without the exporter's code."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

HEADER = [
    "ledgerId",
    "ledgerDate",
    "time",
    "entryType",
    "pspReference",
    "reference",
    "recipientHandle",
    "currency",
    "amount",
    "balanceBefore",
    "balanceAfter",
]


# The sandbox's ledgers are Norwegian (NOK), Danish (DKK) and Finnish (EUR): the zone of each.
ZONES = {"NOK": "Europe/Oslo", "DKK": "Europe/Copenhagen", "EUR": "Europe/Helsinki"}


def wall_time(served: str, currency: str) -> dt.datetime:
    """The served UTC time as the XLSX shows it: wall time in the ledger's zone, to the second."""
    moment = dt.datetime.fromisoformat(served.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONES[currency]))
    return moment.replace(tzinfo=None, microsecond=0)


def major(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def csv_rows(entries: list[dict], ledger_id: str) -> list[list[str]]:
    return [
        [
            ledger_id,
            e["ledgerDate"],
            e["time"],
            e["entryType"],
            e["pspReference"],
            e.get("reference") or "",  # Norwegian payouts: "", null or none at all
            e["recipientHandle"] or "",
            e["currency"],
            major(e["amount"]),
            major(e["balanceBefore"]),
            major(e["balanceAfter"]),
        ]
        for e in entries
    ]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def report(out: Path, ledger_id: str, topic: str, date: dt.date, fmt: str) -> Path:
    return out / ledger_id / topic / f"{ledger_id}_{topic}_{date.isoformat()}.{fmt}"


def check_xlsx(path: Path, entries: list[dict], ledger_id: str) -> None:
    """Every cell typed as promised: text as text, dates and times as dates, amounts as exact numbers."""
    wb = openpyxl.load_workbook(path)
    try:
        ws = wb["entries"]
        rows = list(ws.iter_rows())
        assert [c.value for c in rows[0]] == HEADER
        assert ws.freeze_panes == "A2"
        assert len(rows) - 1 == len(entries)
        for row, e in zip(rows[1:], entries, strict=True):
            cells = dict(zip(HEADER, row, strict=True))
            served = {
                **e,
                "ledgerId": ledger_id,
                "reference": e.get("reference") or "",
                "recipientHandle": e["recipientHandle"] or "",
            }
            for name in ("ledgerId", "entryType", "pspReference", "reference", "recipientHandle", "currency"):
                if served[name] == "":  # openpyxl cannot write an empty string cell: no value at all
                    assert cells[name].value is None, (name, cells[name].value)
                else:
                    assert cells[name].data_type == "s", (name, cells[name].value)
                    assert cells[name].value == served[name]
            assert cells["ledgerDate"].is_date
            assert cells["time"].is_date and cells["time"].number_format == "yyyy-mm-dd hh:mm:ss"
            assert cells["time"].value == wall_time(e["time"], e["currency"]), (e["time"], cells["time"].value)
            assert cells["ledgerDate"].value.date() == dt.date.fromisoformat(e["ledgerDate"])
            for name in ("amount", "balanceBefore", "balanceAfter"):
                assert cells[name].data_type == "n"
                assert Decimal(str(cells[name].value)) == Decimal(e[name]) / 100, (name, cells[name].value)
                assert cells[name].number_format in ("0.00", "#,##0.00")
    finally:
        wb.close()
