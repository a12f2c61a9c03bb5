"""The XLSX summary sheet, written through open_report and read back with openpyxl and pandas.

Expected numbers are worked out by hand from the entries below, not by jobs.reconcile.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from test_writers import sheet_part

from jobs.entries import to_row
from jobs.formats.open import open_report
from jobs.formats.sheets import wall_clock_serial
from jobs.reconcile import DateSummary

DAY = dt.date(2026, 11, 20)
# Opening 1000.00; the payout empties the balance. Amounts in øre, as the API serves them.
ENTRIES = [
    ("capture", 49900),  # 1499.00
    ("capture", 1),  # 1499.01
    ("refund", -20000),  # 1299.01
    ("fees-retained", -1245),  # 1286.56
    ("a-new-type", 5),  # 1286.61
    ("payout-scheduled", -128661),  # 0.00
]
ONE_DATE = [
    ("Ledger", "00123"),
    ("Topic", "funds"),
    ("Ledger date", dt.datetime(2026, 11, 20)),
    ("Currency", "NOK"),
    ("Opening balance", Decimal("1000.00")),
    ("Captures", Decimal("499.01")),
    ("Refunds", Decimal("-200.00")),
    ("Fees retained", Decimal("-12.45")),
    ("Payouts", Decimal("-1286.61")),
    ("Other", Decimal("0.05")),
    ("Closing balance", Decimal("0.00")),
    ("Entries", 6),
    ("Payout amount", Decimal("1286.61")),
    ("Payout number", "2000005"),  # from the payout's pspReference, 00123-2000005
    ("Payout reference", "=1+1"),
    (None, None),
    ("Entry type", "Sum"),
    ("a-new-type", Decimal("0.05")),
    ("capture", Decimal("499.01")),
    ("fees-retained", Decimal("-12.45")),
    ("payout-scheduled", Decimal("-1286.61")),
    ("refund", Decimal("-200.00")),
    (None, None),
]
PERIOD_HEADER = [
    "Ledger date",
    "Opening balance",
    "Captures",
    "Refunds",
    "Fees retained",
    "Payouts",
    "Other",
    "Closing balance",
    "Entries",
    "Payout amount",
    "Payout number",
    "Payout reference",
    "Checks",
]


def api_entries(date: dt.date, opening: int, entries: list[tuple[str, int]], reference: str = "=1+1") -> list[dict]:
    served, balance = [], opening
    for number, (entry_type, amount) in enumerate(entries):
        served.append(
            {
                "ledgerDate": date.isoformat(),
                "time": f"{date.isoformat()}T10:00:0{number}Z",
                "entryType": entry_type,
                "pspReference": f"00123-{2000000 + number}" if entry_type == "payout-scheduled" else f"{number:010d}",
                "reference": reference if entry_type == "payout-scheduled" else f"order-{number}",
                "currency": "NOK",
                "amount": amount,
                "balanceBefore": balance,
                "balanceAfter": balance + amount,
            }
        )
        balance += amount
    return served


def summarise(date: dt.date, served: list[dict], topic: str = "funds") -> DateSummary:
    summary = DateSummary("00123", topic, date)
    for entry in served:
        summary.add(entry)
    return summary


def write_xlsx(path: Path, served: list[dict], summaries: list[DateSummary]) -> None:
    with open_report("xlsx", path, sheet_row_limit=4) as report:
        report.write(to_row(entry, "00123") for entry in served)
        report.commit(summaries)


def values(path: Path) -> list[list[Any]]:
    """The summary sheet's values; numbers as exact two-decimal Decimals (openpyxl reads floats)."""
    book = openpyxl.load_workbook(path)
    try:
        rows = []
        for cells in book["summary"].iter_rows():
            row = []
            for cell in cells:
                if cell.data_type == "n" and cell.number_format == "0.00":
                    row.append(Decimal(str(cell.value)).quantize(Decimal("0.01")))
                else:
                    row.append(cell.value)
            rows.append(row)
        return rows
    finally:
        book.close()


def test_summary_is_the_first_sheet(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 100000, ENTRIES)
    write_xlsx(path, served, [summarise(DAY, served)])

    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == ["summary", "entries", "entries (2)"]  # 6 rows, 3 per entries sheet
        assert book.active.title == "summary"
        assert [cell.value for cell in book["entries"][1]][:2] == ["ledgerId", "ledgerDate"]
    finally:
        book.close()


def test_no_summaries_no_summary_sheet(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    write_xlsx(path, api_entries(DAY, 0, ENTRIES[:1]), [])

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        assert book.sheetnames == ["entries"]
    finally:
        book.close()


def test_one_date_layout(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 100000, ENTRIES)
    write_xlsx(path, served, [summarise(DAY, served)])

    read = values(path)

    assert [row[:2] for row in read[: len(ONE_DATE)]] == [list(pair) for pair in ONE_DATE]
    assert [row[:3] for row in read[len(ONE_DATE) :]] == [
        ["Check", "Result", "Detail"],
        ["balance", "ok", None],
        ["chain", "ok", None],
        ["sums", "ok", None],
        ["payout last", "ok", None],
    ]
    assert all(row[3] for row in read[len(ONE_DATE) + 1 :])  # every check is explained
    book = openpyxl.load_workbook(path)
    try:
        sheet = book["summary"]
        labels = [sheet.cell(row, 1) for row in (1, 15, 17, 24)]
        assert [cell.value for cell in labels] == ["Ledger", "Payout reference", "Entry type", "Check"]
        assert all(cell.font.b for cell in labels)
        assert sheet["B3"].is_date and sheet["B3"].number_format == "yyyy-mm-dd"
        assert (sheet["B12"].value, sheet["B12"].data_type) == (6, "n")  # entries: a plain integer
        assert sheet.column_dimensions["A"].width >= 16
    finally:
        book.close()


def test_amounts_are_exact_decimal_text(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 3_000_000_000_000, [("capture", 1), ("payout-scheduled", -3_000_000_000_001)])
    write_xlsx(path, served, [summarise(DAY, served)])

    xml = sheet_part(path, "summary")
    for text in ("30000000000.00", "0.01", "-30000000000.01", "30000000000.01"):
        assert f"<v>{text}</v>" in xml


def test_payout_reference_and_ledger_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 0, [("capture", 100), ("payout-scheduled", -100)], reference="=1+1")
    write_xlsx(path, served, [summarise(DAY, served)])

    book = openpyxl.load_workbook(path)
    try:
        sheet = book["summary"]
        assert (sheet["B1"].value, sheet["B1"].data_type) == ("00123", "s")
        assert (sheet["B14"].value, sheet["B14"].data_type) == ("2000001", "s")  # the payout number
        assert (sheet["B15"].value, sheet["B15"].data_type) == ("=1+1", "s")
    finally:
        book.close()
    xml = sheet_part(path, "summary")
    assert ">=1+1</t>" in xml and "<f>" not in xml and "<f " not in xml


def test_a_payout_reference_of_two_lines_shows_both(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 0, [("capture", 100), ("payout-scheduled", -100)], reference="Vipps utbet.\n2000001")
    write_xlsx(path, served, [summarise(DAY, served)])

    book = openpyxl.load_workbook(path)
    try:
        sheet = book["summary"]
        [cell] = [row[1] for row in sheet.iter_rows() if row[0].value == "Payout reference"]
        shown = (cell.value, cell.alignment.wrap_text, sheet.row_dimensions[cell.row].height)
        assert shown == ("Vipps utbet.\n2000001", True, 30)
    finally:
        book.close()


def test_failed_check_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, 0, [("capture", 100), ("capture", 50)])
    served[1]["balanceAfter"] = 999  # a typo in the API's data: 100 + 50 != 999 øre
    write_xlsx(path, served, [summarise(DAY, served)])

    checks = {row[0]: row[1:3] for row in values(path)[-4:]}

    # In kroner, as every amount of the sheet: 1.00 + 0.50 is not 9.99.
    assert checks["balance"] == ["FAILED", "entry 2: 1.00 + 0.50 != 9.99"]
    assert checks["chain"] == ["ok", None]
    assert checks["sums"] == ["FAILED", "closing 9.99 - opening 0.00 != sum of amounts 1.50"]


def test_a_broken_chain_is_reported_in_kroner(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, -100000, [("capture", 100), ("capture", 50)])  # opening -1000.00
    served[1]["balanceBefore"], served[1]["balanceAfter"] = -99880, -99830  # 20 øre appear between the two
    write_xlsx(path, served, [summarise(DAY, served)])

    read = {row[0]: row[1:3] for row in values(path)}

    assert read["Opening balance"][0] == Decimal("-1000.00") and read["Closing balance"][0] == Decimal("-998.30")
    assert read["chain"] == ["FAILED", "entry 2: balanceBefore -998.80 != previous balanceAfter -999.00"]
    assert read["sums"] == ["FAILED", "closing -998.30 - opening -1000.00 != sum of amounts 1.50"]


def test_one_empty_date(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    write_xlsx(path, [], [summarise(DAY, [])])

    read = {row[0]: row[1] for row in values(path)[:15]}

    assert read["Opening balance"] is None and read["Closing balance"] is None
    assert read["Currency"] is None
    assert [read[name] for name in ("Captures", "Refunds", "Fees retained", "Payouts", "Other")] == [Decimal(0)] * 5
    assert read["Entries"] == 0
    assert read["Payout amount"] is None and read["Payout number"] is None and read["Payout reference"] is None
    assert values(path)[16:18] == [["Entry type", "Sum", None, None], [None, None, None, None]]


def test_period_layout_with_total(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    first, empty, last = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    day_one = api_entries(first, 100000, ENTRIES)
    day_three = api_entries(last, 0, [("capture", 2500), ("refund", -500)], reference="")
    day_three[1]["balanceBefore"] = 2400  # chain broken: the previous entry ended at 2500
    day_three[1]["balanceAfter"] = 1900
    summaries = [summarise(last, day_three), summarise(first, day_one), summarise(empty, [])]  # any order
    write_xlsx(path, day_one + day_three, summaries)

    read = values(path)

    D = Decimal
    assert read == [
        PERIOD_HEADER,
        [
            dt.datetime(2026, 11, 20),
            D("1000.00"),
            D("499.01"),
            D("-200.00"),
            D("-12.45"),
            D("-1286.61"),
            D("0.05"),
            D("0.00"),
            6,
            D("1286.61"),
            "2000005",
            "=1+1",
            "ok",
        ],
        [
            dt.datetime(2026, 11, 21),
            None,
            D("0.00"),
            D("0.00"),
            D("0.00"),
            D("0.00"),
            D("0.00"),
            None,
            0,
            None,
            None,
            None,
            "ok",
        ],
        [
            dt.datetime(2026, 11, 22),
            D("0.00"),
            D("25.00"),
            D("-5.00"),
            D("0.00"),
            D("0.00"),
            D("0.00"),
            D("19.00"),
            2,
            None,
            None,
            None,
            "chain, sums",
        ],
        [
            "Total",
            D("1000.00"),
            D("524.01"),
            D("-205.00"),
            D("-12.45"),
            D("-1286.61"),
            D("0.05"),
            D("19.00"),
            8,
            D("1286.61"),
            None,
            None,
            None,
        ],
    ]


def test_period_through_pandas(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    day_one = api_entries(DAY, 0, [("capture", 100)])
    day_two = api_entries(DAY + dt.timedelta(days=1), 100, [("capture", 50)])
    write_xlsx(path, day_one + day_two, [summarise(DAY, day_one), summarise(DAY + dt.timedelta(days=1), day_two)])

    frame = pd.read_excel(path, sheet_name="summary")

    assert list(frame.columns) == PERIOD_HEADER
    assert frame["Ledger date"].tolist()[:2] == [pd.Timestamp(2026, 11, 20), pd.Timestamp(2026, 11, 21)]
    assert frame["Ledger date"].tolist()[2] == "Total"
    assert frame["Captures"].tolist() == [1.0, 0.5, 1.5]
    assert frame["Closing balance"].tolist() == [1.0, 1.5, 1.5]


def test_period_summary_repeats_its_header_row_on_every_printed_page(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    write_xlsx(path, [], [summarise(day, []) for day in days])

    book = openpyxl.load_workbook(path)
    try:
        sheet = book["summary"]
        assert (sheet.freeze_panes, sheet.print_title_rows) == ("A2", "$1:$1")
        assert (sheet.page_setup.orientation, sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (
            "landscape",
            1,
            0,
        )
    finally:
        book.close()
    read_only = openpyxl.load_workbook(path, read_only=True)
    try:
        assert read_only["summary"].calculate_dimension() == f"A1:{chr(64 + len(PERIOD_HEADER))}5"  # header, 3, total
    finally:
        read_only.close()


def test_period_of_empty_dates_has_empty_balances(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    write_xlsx(path, [], [summarise(DAY, []), summarise(DAY + dt.timedelta(days=1), [])])

    total = values(path)[-1]

    assert total[:2] == ["Total", None]
    assert total[7:10] == [None, 0, None]


# -- what the current docs add: fee-side types, payouts without a reference, negative balances --------

FEES = [  # a gross-settled month's last date: the fees balance is invoiced back to 0
    ("capture-fee", -925),  # -2000.00 -> -2009.25
    ("service-fee", -29900),  # -2308.25
    ("credit-note", 5000),  # -2258.25
    ("correction", -1),  # -2258.26
    ("fees-invoiced", 225826),  # 0.00
]
FEES_ONE_DATE = [
    ("Opening balance", Decimal("-2000.00")),
    ("Capture fees", Decimal("-9.25")),
    ("Service fees", Decimal("-299.00")),
    ("Fees retained", Decimal("0.00")),
    ("Fees invoiced", Decimal("2258.26")),
    ("Other", Decimal("49.99")),  # the credit note and the correction
    ("Closing balance", Decimal("0.00")),
    ("Entries", 5),
    (None, None),
    ("Entry type", "Sum"),
    ("capture-fee", Decimal("-9.25")),
    ("correction", Decimal("-0.01")),
    ("credit-note", Decimal("50.00")),
    ("fees-invoiced", Decimal("2258.26")),
    ("service-fee", Decimal("-299.00")),
    (None, None),
    ("Check", "Result"),
]


def test_fees_topic_has_fee_columns_and_no_payout_rows(tmp_path: Path) -> None:
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, -200000, FEES)
    write_xlsx(path, served, [summarise(DAY, served, "fees")])

    read = values(path)

    assert [row[:2] for row in read[4 : 4 + len(FEES_ONE_DATE)]] == [list(pair) for pair in FEES_ONE_DATE]
    assert [row[:2] for row in read[-4:]] == [["balance", "ok"], ["chain", "ok"], ["sums", "ok"], ["payout last", "ok"]]
    assert not [row for row in read if str(row[0]).startswith("Payout")]


def test_fees_period_has_fee_columns_and_no_payout_columns(tmp_path: Path) -> None:
    path = tmp_path / "period.xlsx"
    first, last = DAY, DAY + dt.timedelta(days=1)
    day_one = api_entries(first, 0, [("capture-fee", -50), ("capture-fee", -75), ("service-fee", -9900)])
    day_two = api_entries(last, -10025, FEES[:1] + [("fees-invoiced", 10950)])
    write_xlsx(path, day_one + day_two, [summarise(first, day_one, "fees"), summarise(last, day_two, "fees")])

    D = Decimal
    assert values(path) == [
        [
            "Ledger date",
            "Opening balance",
            "Capture fees",
            "Service fees",
            "Fees retained",
            "Fees invoiced",
            "Other",
            "Closing balance",
            "Entries",
            "Checks",
        ],
        [
            dt.datetime(2026, 11, 20),
            D("0.00"),
            D("-1.25"),
            D("-99.00"),
            D("0.00"),
            D("0.00"),
            D("0.00"),
            D("-100.25"),
            3,
            "ok",
        ],
        [
            dt.datetime(2026, 11, 21),
            D("-100.25"),
            D("-9.25"),
            D("0.00"),
            D("0.00"),
            D("109.50"),
            D("0.00"),
            D("0.00"),
            2,
            "ok",
        ],
        ["Total", D("0.00"), D("-10.50"), D("-99.00"), D("0.00"), D("109.50"), D("0.00"), D("0.00"), 5, None],
    ]


def test_a_payout_without_a_reference_still_shows_its_amount_and_number(tmp_path: Path) -> None:
    # Norwegian payouts now come with an empty reference, a null one or none at all.
    for variant, case in enumerate(({"reference": ""}, {"reference": None}, {})):
        path = tmp_path / f"day{variant}.xlsx"
        served = api_entries(DAY, 0, [("capture", 10000), ("fees-retained", -225), ("payout-scheduled", -9775)])
        payout = {key: value for key, value in served[-1].items() if key != "reference"}
        served[-1] = {**payout, **case}
        write_xlsx(path, served, [summarise(DAY, served)])

        read = {row[0]: row[1:3] for row in values(path)}

        assert read["Payout amount"][0] == Decimal("97.75")
        assert read["Payout number"][0] == "2000002"
        assert read["Payout reference"][0] is None
        assert [read[name][0] for name in ("balance", "chain", "sums", "payout last")] == ["ok"] * 4


def test_a_date_below_zero_without_a_payout_reconciles(tmp_path: Path) -> None:
    # A large refund took the balance below zero days ago: no payout, the date opens and closes negative.
    path = tmp_path / "day.xlsx"
    served = api_entries(DAY, -1_300_000_00, [("capture", 250000), ("refund", -1000), ("fees-retained", -4425)])
    write_xlsx(path, served, [summarise(DAY, served)])

    read = {row[0]: row[1:3] for row in values(path)}

    assert read["Opening balance"][0] == Decimal("-1300000.00")
    assert read["Closing balance"][0] == Decimal("-1297554.25")
    assert read["Payouts"][0] == Decimal("0.00") and read["Payout amount"][0] is None
    assert [read[name][0] for name in ("balance", "chain", "sums", "payout last")] == ["ok"] * 4


@pytest.mark.parametrize(
    "zone", ["Europe/Oslo", "Europe/Helsinki", "UTC", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns"]
)  # the ledgers' zones, and some whose offsets or changes are not whole hours
def test_wall_clock_serial_is_the_wall_time_of_each_instant(zone: str) -> None:
    # An instant every 17 min 13.5 s through 2026, both changes of summer time included.
    start, step = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.timedelta(minutes=17, seconds=13.5)
    served = [(start + n * step).isoformat().replace("+00:00", "Z") for n in range(30_600)]
    serial = wall_clock_serial(ZoneInfo(zone))

    shown = [dt.datetime(1899, 12, 30) + dt.timedelta(days=float(serial(text))) for text in served]

    expected = [dt.datetime.fromisoformat(text).astimezone(ZoneInfo(zone)).replace(tzinfo=None) for text in served]
    near = dt.timedelta(milliseconds=1)  # a double is near the second, not always on or past it
    assert [moment.replace(microsecond=0) for moment in expected] == [
        (moment + near).replace(microsecond=0) for moment in shown
    ]
    assert serial("2026-11-20T07:19:26") is None and serial("soon") is None  # no offset, or no time: no serial
