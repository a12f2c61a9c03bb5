"""Report files are written for real and read back with csv, pandas and openpyxl."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.metadata
import re
import stat
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from jobs.entries import AMOUNT_COLUMNS, COLUMNS, GDPR_COLUMNS, TEXT_COLUMNS, Row
from jobs.formats.open import FORMATS, open_report
from jobs.formats.spill import remove_stale_temp_files
from jobs.money import major_units
from jobs.presets import csv_format
from jobs.reconcile import DateSummary

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

# Strings that spreadsheets, CSV readers or XML like to change.
AWKWARD = [
    '=HYPERLINK("http://x","y")',
    "=",
    "+4712345678",
    "-42",
    "@SUM(A1)",
    "00123",
    "1E5",
    "TRUE",
    "#N/A",
    "a,b",
    'say "hi"',
    "line\nbreak",
    "tab\there",
    "  spaced  ",
    "\n",
    "æøå ÆØÅ 😀",
    "",
]
# What XML 1.0 cannot hold, and what openpyxl reads back from the XLSX instead.
NOT_XML = {
    "bell\x07": "bell\ufffd",
    "\x00nul": "\ufffdnul",
    "\x1f\x0b\x0c": "\ufffd\ufffd\ufffd",
    "\ufffe\uffff": "\ufffd\ufffd",
    "lone \ud800": "lone \ufffd",
    "_x0041_": "_x005F_x0041_",  # Excel would decode "_x0041_" as "A"
    "_x00_ and _xZZZZ_": "_x00_ and _xZZZZ_",  # not an escape: left alone
}
# Written as "&#13;": raw, an XML parser would read CR back as LF.
CR = {"cr\r": "cr\r", "crlf\r\nline": "crlf\r\nline", "\r": "\r"}
SHEET_TEXT = [name for name in COLUMNS if name in TEXT_COLUMNS]  # the text columns XLSX shows by default
AMOUNTS = [
    (major_units(49900), "499.00"),
    (major_units(-5), "-0.05"),
    (major_units(3_000_000_000_000), "30000000000.00"),
    (major_units(0), "0.00"),
    (major_units(-123_456_789_012), "-1234567890.12"),
]


def make_row(text: str = "x", number: int = 0, amount: Decimal = Decimal("499.00")) -> Row:
    return Row(
        ledgerId="00123",
        ledgerDate=dt.date(2024, 1, 2) + dt.timedelta(days=number),
        time="2024-01-02T10:00:00.123Z",
        entryType="capture",
        pspReference=f"{number:010d}",
        reference=text,
        recipientHandle="",
        currency="NOK",
        amount=amount,
        balanceBefore=Decimal("-0.05"),
        balanceAfter=Decimal("30000000000.00"),
    )


def awkward_rows() -> list[Row]:
    """Every awkward string in every text column, and every awkward amount."""
    rows = []
    for number, text in enumerate(AWKWARD):
        amount = AMOUNTS[number % len(AMOUNTS)][0]
        values = make_row(text, number, amount)._asdict()
        values.update({name: text for name in TEXT_COLUMNS})
        rows.append(Row(**values))
    return rows


def csv_fields(row: Row) -> list[str]:
    return [
        row.ledgerDate.isoformat()
        if name == "ledgerDate"
        else f"{getattr(row, name):.2f}"
        if name in AMOUNT_COLUMNS
        else getattr(row, name)
        for name in COLUMNS
    ]


def write(fmt: str, path: Path, *pages: list[Row], **options: Any) -> int:
    with open_report(fmt, path, **options) as report:
        for page in pages:
            report.write(page)
        return report.commit()


def failing_rows(good: int) -> Iterator[Row]:
    for number in range(good):
        yield make_row(number=number)
    raise RuntimeError("API page failed")


def sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/worksheets/")}


def sheet_part(path: Path, title: str) -> str:
    """The XML of the sheet called `title`, found the way Excel finds it: workbook, then relationships."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        [sheet] = [sheet for sheet in workbook.iter(f"{{{MAIN}}}sheet") if sheet.get("name") == title]
        [target] = [rel.get("Target") for rel in relations if rel.get("Id") == sheet.get(f"{{{RELS}}}id")]
        return archive.read(f"xl/{target}").decode()


def decode_xstring(text: str) -> str:
    """ECMA-376 ST_Xstring decoding, as Excel does (openpyxl does not)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), text)


# CSV


def test_csv_round_trips_through_csv_reader(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    rows = awkward_rows()

    assert write("csv", path, rows[:5], rows[5:]) == len(rows)

    with path.open(encoding="utf-8", newline="") as file:
        read = list(csv.reader(file))
    assert read == [list(COLUMNS), *map(csv_fields, rows)]


def test_csv_round_trips_through_pandas(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    rows = awkward_rows()
    write("csv", path, rows)

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")

    assert list(frame.columns) == list(COLUMNS)
    assert frame.to_numpy().tolist() == [csv_fields(row) for row in rows]


def test_csv_bytes(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    write("csv", path, [make_row("a,b"), make_row('say "hi"\r\n', amount=major_units(-5))])

    assert path.read_bytes() == (
        b"ledgerId,ledgerDate,time,entryType,pspReference,reference,recipientHandle,"
        b"currency,amount,balanceBefore,balanceAfter\r\n"
        b'00123,2024-01-02,2024-01-02T10:00:00.123Z,capture,0000000000,"a,b",,NOK,'
        b"499.00,-0.05,30000000000.00\r\n"
        b'00123,2024-01-02,2024-01-02T10:00:00.123Z,capture,0000000000,"say ""hi""\r\n",,NOK,'
        b"-0.05,-0.05,30000000000.00\r\n"
    )


def test_csv_amounts_have_two_decimals(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    write("csv", path, [make_row(amount=amount) for amount, _ in AMOUNTS])

    with path.open(encoding="utf-8", newline="") as file:
        read = list(csv.DictReader(file))
    assert [line["amount"] for line in read] == [text for _, text in AMOUNTS]


def test_csv_is_byte_identical_on_rewrite(tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write("csv", first, awkward_rows())
    write("csv", second, awkward_rows())

    assert first.read_bytes() == second.read_bytes()


def test_csv_without_rows_is_the_header_only(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"

    assert write("csv", path) == 0
    assert path.read_bytes() == ",".join(COLUMNS).encode() + b"\r\n"


# XLSX


def test_xlsx_layout(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row(), make_row()])

    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == ["entries"]
        sheet = book["entries"]
        assert [cell.value for cell in sheet[1]] == list(COLUMNS)
        assert all(cell.font.b for cell in sheet[1])
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == "A1:K3"
        assert sheet.column_dimensions["F"].width == 30
        assert book.properties.created == book.properties.modified == dt.datetime(1980, 1, 1)
    finally:
        book.close()


def test_xlsx_dates_and_amounts(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row(amount=amount) for amount, _ in AMOUNTS])

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        data = list(book["entries"].iter_rows(min_row=2))
        for cells, (amount, _) in zip(data, AMOUNTS, strict=True):
            date = cells[COLUMNS.index("ledgerDate")]
            assert date.is_date
            assert date.value == dt.datetime(2024, 1, 2)
            assert date.number_format == "yyyy-mm-dd"
            for name, expected in zip(
                AMOUNT_COLUMNS, (amount, Decimal("-0.05"), Decimal("30000000000.00")), strict=True
            ):
                cell = cells[COLUMNS.index(name)]
                assert cell.data_type == "n"
                assert cell.number_format == "0.00"
                assert Decimal(str(cell.value)).quantize(Decimal("0.01")) == expected
    finally:
        book.close()
    xml = sheet_part(path, "entries")
    for _, text in AMOUNTS:
        assert f"<v>{text}</v>" in xml


def test_xlsx_text_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    rows = awkward_rows()
    write("xlsx", path, rows)

    book = openpyxl.load_workbook(path)
    try:
        data = list(book["entries"].iter_rows(min_row=2))
        assert len(data) == len(rows)
        for cells, row in zip(data, rows, strict=True):
            for name in SHEET_TEXT:
                cell = cells[COLUMNS.index(name)]
                if getattr(row, name) == "":
                    assert cell.value is None  # empty text is no cell at all
                else:
                    assert (cell.value, cell.data_type) == (getattr(row, name), "s")
    finally:
        book.close()
    assert not any("<f>" in xml or "<f " in xml for xml in sheet_xml(path).values())


def test_xlsx_text_through_pandas(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    rows = awkward_rows()
    write("xlsx", path, rows)

    frame = pd.read_excel(path, dtype=str, keep_default_na=False)

    assert list(frame.columns) == list(COLUMNS)
    for name in SHEET_TEXT:
        assert frame[name].tolist() == [getattr(row, name) for row in rows]


def test_xlsx_replaces_what_xml_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    expected = NOT_XML | CR
    write("xlsx", path, [make_row(text) for text in expected])

    book = openpyxl.load_workbook(path)
    try:
        cells = [row[COLUMNS.index("reference")] for row in book["entries"].iter_rows(min_row=2)]
    finally:
        book.close()
    assert [(cell.value, cell.data_type) for cell in cells] == [(text, "s") for text in expected.values()]
    assert decode_xstring(NOT_XML["_x0041_"]) == "_x0041_"  # what Excel shows


def test_csv_keeps_what_xml_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    texts = [text for text in NOT_XML | CR if "\ud800" not in text]  # UTF-8 cannot hold a lone surrogate
    write("csv", path, [make_row(text) for text in texts])

    with path.open(encoding="utf-8", newline="") as file:
        read = list(csv.DictReader(file))
    assert [line["reference"] for line in read] == texts


@pytest.mark.parametrize("preset", ["standard", "no"])
def test_csv_writes_a_lone_surrogate_as_the_replacement_character(tmp_path: Path, preset: str) -> None:
    # UTF-8 cannot hold one. The exporter replaces and counts them before rows are made
    # (entries.replace_lone_surrogates); the writer, given one anyway, does as the XLSX does.
    path = tmp_path / "entries.csv"
    rows = [make_row("lone \ud800 and \udfff"), make_row("a pair: 😀")]
    write("csv", path, rows, csv_format=csv_format(preset), timezone=ZoneInfo("Europe/Oslo"))

    separator = "," if preset == "standard" else ";"
    with path.open(encoding="utf-8-sig", newline="") as file:
        read = [line["reference"] for line in csv.DictReader(file, delimiter=separator)]
    frame = pd.read_csv(path, sep=separator, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert read == frame["reference"].tolist() == ["lone \ufffd and \ufffd", "a pair: 😀"]


def test_xlsx_splits_sheets_at_the_row_limit(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    rows = [make_row(number=number) for number in range(10)]

    assert write("xlsx", path, rows[:3], rows[3:], sheet_row_limit=5) == 10

    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == ["entries", "entries (2)", "entries (3)"]
        references = []
        for sheet, size in zip(book.worksheets, (4, 4, 2), strict=True):
            assert [cell.value for cell in sheet[1]] == list(COLUMNS)
            assert sheet.max_row == size + 1
            assert sheet.freeze_panes == "A2"
            assert sheet.auto_filter.ref == f"A1:K{size + 1}"
            references += [cells[4].value for cells in sheet.iter_rows(min_row=2)]
    finally:
        book.close()
    assert references == [row.pspReference for row in rows]


def test_xlsx_full_sheet_does_not_start_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()] * 4, sheet_row_limit=5)

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        assert book.sheetnames == ["entries"]
    finally:
        book.close()


@pytest.mark.parametrize("limit", [1, 1_048_577])
def test_xlsx_refuses_an_impossible_row_limit(tmp_path: Path, limit: int) -> None:
    with pytest.raises(ValueError, match="sheet_row_limit"):
        open_report("xlsx", tmp_path / "entries.xlsx", sheet_row_limit=limit)
    assert list(tmp_path.iterdir()) == []


def test_xlsx_without_rows_is_the_header_only(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"

    assert write("xlsx", path) == 0

    book = openpyxl.load_workbook(path)
    try:
        assert [[cell.value for cell in row] for row in book["entries"].iter_rows()] == [list(COLUMNS)]
    finally:
        book.close()


def test_xlsx_is_byte_identical_on_rewrite(tmp_path: Path) -> None:
    first, second = tmp_path / "first.xlsx", tmp_path / "second.xlsx"
    summary = DateSummary("00123", "funds", dt.date(2024, 1, 2))
    for path in (first, second):
        with open_report("xlsx", path, sheet_row_limit=7) as report:
            report.write(awkward_rows())
            report.commit([summary])

    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def test_xlsx_gdpr_columns_follow_the_standard_ones(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    gdpr = {"name": "Kari =Nordmann", "maskedPhoneNo": "+47 xxx xx 123", "message": ""}
    rows = [make_row("=1+1")._replace(**gdpr), make_row()._replace(message="00123")]
    write("xlsx", path, rows, gdpr=True)

    book = openpyxl.load_workbook(path)
    try:
        sheet = book["entries"]
        assert [cell.value for cell in sheet[1]] == [*COLUMNS, *GDPR_COLUMNS]
        assert sheet.auto_filter.ref == "A1:N3"
        assert sheet.column_dimensions["N"].width == 40  # message
        read = [[(cell.value, cell.data_type) for cell in cells[-4:]] for cells in sheet.iter_rows(min_row=2)]
    finally:
        book.close()
    assert read == [
        [(30000000000, "n"), ("Kari =Nordmann", "s"), ("+47 xxx xx 123", "s"), (None, "n")],
        [(30000000000, "n"), (None, "n"), (None, "n"), ("00123", "s")],
    ]


def test_xlsx_leaves_gdpr_columns_out_by_default(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()._replace(name="Kari Nordmann")])

    frame = pd.read_excel(path, dtype=str, keep_default_na=False)

    assert list(frame.columns) == list(COLUMNS)
    assert "Kari Nordmann" not in frame.to_numpy().tolist()[0]


def test_xlsx_ignores_the_csv_format(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    fmt = csv_format("no", columns=["amount", "time"], rename={"amount": "Beløp"})
    with open_report("xlsx", path, csv_format=fmt, timezone=ZoneInfo("Europe/Oslo")) as report:
        report.write([make_row()])
        report.commit()

    frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["ledgerDate"].tolist() == ["2024-01-02 00:00:00"]  # a date cell, not the preset's 02.01.2024


OSLO, COPENHAGEN, HELSINKI = (ZoneInfo(name) for name in ("Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki"))


@pytest.mark.parametrize(
    ("served", "zone", "shown"),
    [
        ("2026-11-20T07:19:26.528092Z", OSLO, dt.datetime(2026, 11, 20, 8, 19, 26)),  # winter: UTC+1; to the second
        ("2026-07-01T22:30:00Z", OSLO, dt.datetime(2026, 7, 2, 0, 30)),  # summer: UTC+2, the next day
        ("2026-03-29T00:59:59Z", OSLO, dt.datetime(2026, 3, 29, 1, 59, 59)),  # the last second of winter time
        ("2026-03-29T01:00:00Z", OSLO, dt.datetime(2026, 3, 29, 3, 0, 0)),  # and the first of summer time
        ("2026-10-25T00:30:00Z", OSLO, dt.datetime(2026, 10, 25, 2, 30)),  # the hour that happens twice:
        ("2026-10-25T01:30:00Z", OSLO, dt.datetime(2026, 10, 25, 2, 30)),  # both show 02:30
        ("2026-01-31T23:00:00.5Z", COPENHAGEN, dt.datetime(2026, 2, 1, 0, 0, 0)),
        ("2026-08-15T09:05:03+0200", COPENHAGEN, dt.datetime(2026, 8, 15, 9, 5, 3)),
        ("2026-06-15T12:00:00Z", HELSINKI, dt.datetime(2026, 6, 15, 15, 0, 0)),  # summer: UTC+3
        ("2026-06-15T23:59:59.999999Z", None, dt.datetime(2026, 6, 15, 23, 59, 59)),  # no zone given: UTC
    ],
)
def test_xlsx_time_is_a_date_time_in_the_ledgers_zone(
    tmp_path: Path, served: str, zone: ZoneInfo | None, shown: dt.datetime
) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()._replace(time=served)], timezone=zone)

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        [cell] = [row[COLUMNS.index("time")] for row in book["entries"].iter_rows(min_row=2)]
        assert (cell.is_date, cell.number_format, cell.value) == (True, "yyyy-mm-dd hh:mm:ss", shown)
    finally:
        book.close()
    frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    assert frame["time"].tolist() == [f"{shown:%Y-%m-%d %H:%M:%S}"]


def test_xlsx_time_that_cannot_be_read_stays_text_as_served(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    texts = ["2026-11-20T07:19:26", "soon", "=1+1", "00123", "line\nbreak"]  # the first: no offset, so no zone
    write("xlsx", path, [make_row()._replace(time=text) for text in [*texts, ""]], timezone=OSLO)

    frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    assert frame["time"].tolist() == [*texts, ""]
    book = openpyxl.load_workbook(path)
    try:
        cells = [row[COLUMNS.index("time")] for row in book["entries"].iter_rows(min_row=2)]
        assert [cell.data_type for cell in cells] == ["s"] * len(texts) + ["n"]  # "n": no cell at all
    finally:
        book.close()


def test_xlsx_text_with_line_breaks_wraps_on_rows_tall_enough(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    # text: wraps, and the height its row needs in points (None: the default, one line of 15)
    texts = {
        "line\nbreak": (True, 30),
        "crlf\r\nline": (True, 30),
        "a\nb\nc": (True, 45),
        "cr\r": (True, None),
        "one line": (False, None),
        "a & b": (False, None),
    }
    write("xlsx", path, [make_row(text) for text in texts])

    book = openpyxl.load_workbook(path)
    try:
        sheet = book["entries"]
        rows = list(sheet.iter_rows(min_row=2))
        cells = [row[COLUMNS.index("reference")] for row in rows]
        read = [(cell.value, bool(cell.alignment.wrap_text), sheet.row_dimensions[cell.row].height) for cell in cells]
        assert read == [(text, *shown) for text, shown in texts.items()]
        assert not any(cell.alignment.wrap_text for row in rows for cell in row if cell not in cells)
    finally:
        book.close()


def test_xlsx_sheets_say_what_range_they_use(tmp_path: Path) -> None:
    # openpyxl in read-only mode sizes a sheet by its <dimension> alone.
    path = tmp_path / "entries.xlsx"
    summary = DateSummary("00123", "funds", dt.date(2024, 1, 2))
    with open_report("xlsx", path, sheet_row_limit=4, gdpr=True) as report:
        report.write([make_row()] * 4)
        report.commit([summary])

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        sized = {sheet.title: sheet.calculate_dimension() for sheet in book.worksheets}
        counted = {sheet.title: len(list(sheet.iter_rows())) for sheet in book.worksheets}
    finally:
        book.close()
    assert sized == {"summary": f"A1:D{counted['summary']}", "entries": "A1:N4", "entries (2)": "A1:N2"}
    assert counted["entries"] == 4 and counted["summary"] > 20


def test_xlsx_text_that_looks_like_a_number_is_not_flagged(tmp_path: Path) -> None:
    # Excel marks "00123" in a text cell with a green triangle unless told the range holds such text on purpose.
    path = tmp_path / "entries.xlsx"
    with open_report("xlsx", path) as report:
        report.write([make_row("00123"), make_row("12345678901234567890")])
        report.commit([DateSummary("00123", "funds", dt.date(2024, 1, 2))])

    for title, used in (("entries", "A1:K3"), ("summary", "A1:D23")):
        sheet = ElementTree.fromstring(sheet_part(path, title))
        errors = sheet.iter(f"{{{MAIN}}}ignoredError")
        ignored = [(error.get("sqref"), error.get("numberStoredAsText")) for error in errors]
        assert ignored == [(used, "1")], title
        assert sheet.find(f"{{{MAIN}}}dimension").get("ref") == used, title


def test_xlsx_prints_landscape_one_page_wide_with_header_row_and_heading(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    with open_report("xlsx", path, sheet_row_limit=3, timezone=OSLO, heading="Ledger 00123 funds 2024-01-02") as report:
        report.write([make_row()] * 3)
        report.commit([DateSummary("00123", "funds", dt.date(2024, 1, 2))])

    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == ["summary", "entries", "entries (2)"]
        for sheet in book.worksheets:
            setup = sheet.page_setup
            assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == ("landscape", 9, 1, 0)
            assert sheet.sheet_properties.pageSetUpPr.fitToPage
            assert (sheet.oddHeader.left.text, sheet.oddHeader.right.text) == ("Ledger 00123 funds 2024-01-02", "&A")
            assert (sheet.oddFooter.left.text, sheet.oddFooter.right.text) == ("Times in Europe/Oslo", "Page &P of &N")
        assert [sheet.print_title_rows for sheet in book.worksheets] == [None, "$1:$1", "$1:$1"]
    finally:
        book.close()


def test_xlsx_heading_keeps_an_ampersand(tmp_path: Path) -> None:
    # In a page header "&" starts a code ("&P" is the page number): a literal one is written "&&".
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()], heading="Ledger A&P funds")

    assert "<oddHeader>&amp;LLedger A&amp;&amp;P funds&amp;R&amp;A</oddHeader>" in sheet_part(path, "entries")


def test_xlsx_has_a_theme(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()])

    book = openpyxl.load_workbook(path)
    try:
        theme = ElementTree.fromstring(book.loaded_theme)
    finally:
        book.close()
    drawing = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    assert theme.tag == f"{drawing}theme"
    latin = theme.find(f"{drawing}themeElements/{drawing}fontScheme/{drawing}minorFont/{drawing}latin")
    assert latin.get("typeface") == "Calibri"  # the font the styles name


def test_xlsx_names_this_tool_and_its_version(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, [make_row()])

    with zipfile.ZipFile(path) as archive:
        properties = ElementTree.fromstring(archive.read("docProps/app.xml"))
    extended = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
    assert [element.text for element in properties.iter(f"{extended}Application")] == [
        f"report-export {importlib.metadata.version('report-export')}"
    ]


def test_xlsx_markup_characters_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    texts = [
        "a & b",
        "<b>bold</b>",
        "x > y",
        "1 < 2 && 3 > 2",
        "cr\r",
        "\r\n",
        "&amp; &#13; <![CDATA[x]]>",
        "</t></is>",
    ]
    write("xlsx", path, [make_row(text) for text in texts])

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        read = [row[COLUMNS.index("reference")] for row in book["entries"].iter_rows(min_row=2, values_only=True)]
    finally:
        book.close()
    assert read == texts
    frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    assert frame["reference"].tolist() == texts
    xml = sheet_part(path, "entries")
    assert ">cr&#13;</t>" in xml and ">a &amp; b</t>" in xml and "&lt;b&gt;bold&lt;/b&gt;" in xml


def test_xlsx_cuts_text_at_excels_cell_limit(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    long_text = "x" * 40_000
    emoji = "😀" * 20_000  # two UTF-16 code units each, as Excel counts
    write("xlsx", path, [make_row(long_text), make_row(emoji), make_row("y" * 32_767)])

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        read = [row[COLUMNS.index("reference")] for row in book["entries"].iter_rows(min_row=2, values_only=True)]
    finally:
        book.close()
    assert read == ["x" * 32_767, "😀" * 16_383, "y" * 32_767]


def test_xlsx_package_parts_and_content_types(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    with open_report("xlsx", path, sheet_row_limit=3) as report:
        report.write([make_row()] * 3)
        report.commit([DateSummary("00123", "funds", dt.date(2024, 1, 2))])

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
        package_rels = ElementTree.fromstring(archive.read("_rels/.rels"))
        workbook_rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    sheets = {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml"}
    fixed = {"[Content_Types].xml", "_rels/.rels", "docProps/core.xml", "docProps/app.xml"}
    workbook = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/theme/theme1.xml"}
    assert names == sheets | fixed | workbook
    kinds = "application/vnd.openxmlformats-officedocument"
    overrides = {item.get("PartName"): item.get("ContentType") for item in types if item.tag.endswith("Override")}
    defaults = {item.get("Extension"): item.get("ContentType") for item in types if item.tag.endswith("Default")}
    assert overrides == {
        "/xl/workbook.xml": f"{kinds}.spreadsheetml.sheet.main+xml",
        "/xl/styles.xml": f"{kinds}.spreadsheetml.styles+xml",
        "/xl/theme/theme1.xml": f"{kinds}.theme+xml",
        "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        "/docProps/app.xml": f"{kinds}.extended-properties+xml",
        **{f"/{name}": f"{kinds}.spreadsheetml.worksheet+xml" for name in sheets},
    }
    assert defaults == {"rels": "application/vnd.openxmlformats-package.relationships+xml", "xml": "application/xml"}
    assert {rel.get("Target") for rel in package_rels} == {"xl/workbook.xml", "docProps/core.xml", "docProps/app.xml"}
    assert {f"xl/{rel.get('Target')}" for rel in workbook_rels} == sheets | {"xl/styles.xml", "xl/theme/theme1.xml"}
    theme = [rel for rel in workbook_rels if rel.get("Target") == "theme/theme1.xml"]
    assert [rel.get("Type") for rel in theme] == [f"{RELS}/theme"]


def test_xlsx_zip_members_need_no_zip64(tmp_path: Path) -> None:
    # Excel is known to reject ZIP64 headers on parts that do not need them.
    path = tmp_path / "entries.xlsx"
    write("xlsx", path, awkward_rows())

    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            signature, version, _, _, _, _, _, packed, size, _, extra = struct.unpack_from(
                "<IHHHHHIIIHH", data, info.header_offset
            )
            assert (signature, version, extra) == (0x04034B50, 20, 0), info.filename
            assert (packed, size) == (info.compress_size, info.file_size), info.filename
            assert info.extra == b"", info.filename


def test_xlsx_filter_and_print_titles_have_their_defined_names(tmp_path: Path) -> None:
    path = tmp_path / "entries.xlsx"
    with open_report("xlsx", path, sheet_row_limit=4) as report:
        report.write([make_row()] * 5)
        report.commit([DateSummary("00123", "funds", dt.date(2024, 1, 2))])

    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    titles = [sheet.get("name") for sheet in workbook.iter(f"{{{MAIN}}}sheet")]
    names = [
        (name.get("name"), name.get("localSheetId"), name.get("hidden"), name.text)
        for name in workbook.iter(f"{{{MAIN}}}definedName")
    ]
    assert titles == ["summary", "entries", "entries (2)"]
    assert names == [
        ("_xlnm._FilterDatabase", "1", "1", "'entries'!$A$1:$K$4"),
        ("_xlnm.Print_Titles", "1", None, "'entries'!$1:$1"),
        ("_xlnm._FilterDatabase", "2", "1", "'entries (2)'!$A$1:$K$3"),
        ("_xlnm.Print_Titles", "2", None, "'entries (2)'!$1:$1"),
    ]  # none for a one-date summary: a block of labels and values has no header row
    assert '<autoFilter ref="A1:K4"/>' in sheet_part(path, "entries")
    assert '<autoFilter ref="A1:K3"/>' in sheet_part(path, "entries (2)")
    assert "autoFilter" not in sheet_part(path, "summary")


def test_xlsx_sheet_part_stays_under_4_gib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As if rows were so long that 4 GiB came before the row limit: the rows go on to the next sheet.
    monkeypatch.setattr("jobs.formats.workbook.PART_LIMIT", 20_000)
    path = tmp_path / "entries.xlsx"
    rows = [make_row(number=number) for number in range(40)]

    assert write("xlsx", path, rows) == 40

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        sheets = [list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
    finally:
        book.close()
    assert len(sheets) > 2
    assert all(sheet[0] == tuple(COLUMNS) for sheet in sheets)
    assert [row[4] for sheet in sheets for row in sheet[1:]] == [row.pspReference for row in rows]
    assert all(len(xml.encode()) <= 20_000 for xml in sheet_xml(path).values())


def test_xlsx_memory_stays_flat(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            write("xlsx", tmp_path / f"{rows}.xlsx", (make_row(number=number) for number in range(rows)))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(40_000)

    assert large < small + 256 * 1024, (small, large)
    assert large < 2 * 1024 * 1024


def test_writing_does_not_import_openpyxl(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib; from jobs.formats.open import open_report\n"
        f"with open_report('xlsx', pathlib.Path({str(tmp_path / 'e.xlsx')!r})) as r: r.commit()\n"
        "print('openpyxl' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# CSV through a preset (the presets themselves: test_presets.py)


def test_csv_preset_through_open_report(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    fmt = csv_format("dk", columns=["ledgerDate", "time", "reference", "amount"], rename={"amount": "Beløb"})
    with open_report("csv", path, csv_format=fmt, timezone=ZoneInfo("Europe/Copenhagen")) as report:
        report.write([make_row("=1+1", amount=major_units(-5))])
        assert report.commit() == 1

    assert path.read_bytes() == (
        "\ufeffledgerDate;time;reference;Beløb\r\n02-01-2024;02-01-2024 11:00:00;'=1+1;-0,05\r\n".encode()
    )


def test_csv_local_time_needs_a_time_zone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preset 'fi' shows local time: give the ledger's time zone"):
        open_report("csv", tmp_path / "entries.csv", csv_format=csv_format("fi"))
    assert list(tmp_path.iterdir()) == []


def test_csv_gdpr_columns_come_from_the_csv_format(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    write("csv", path, [make_row()._replace(name="Kari", message="takk")], csv_format=csv_format(gdpr=True))

    with path.open(encoding="utf-8", newline="") as file:
        header, line = list(csv.reader(file))
    assert header == [*COLUMNS, *GDPR_COLUMNS]
    assert line[-3:] == ["Kari", "", "takk"]


def test_csv_ignores_summaries(tmp_path: Path) -> None:
    plain, summarised = tmp_path / "plain.csv", tmp_path / "summarised.csv"
    summary = DateSummary("00123", "funds", dt.date(2024, 1, 2))
    write("csv", plain, [make_row()])
    with open_report("csv", summarised) as report:
        report.write([make_row()])
        report.commit([summary])

    assert summarised.read_bytes() == plain.read_bytes()


# Atomicity and files


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_mid_write_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"entries.{fmt}"

    with pytest.raises(RuntimeError, match="API page failed"), open_report(fmt, path) as report:
        report.write([make_row()])
        report.write(failing_rows(3))
        report.commit()

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_leaving_without_commit_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    with open_report(fmt, tmp_path / f"entries.{fmt}") as report:
        report.write([make_row()])

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_replacement_keeps_the_old_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"entries.{fmt}"
    path.write_bytes(b"previous report")

    with pytest.raises(RuntimeError):
        write(fmt, path, failing_rows(5))

    assert path.read_bytes() == b"previous report"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fmt", FORMATS)
def test_commit_replaces_the_old_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"entries.{fmt}"
    path.write_bytes(b"previous report")

    write(fmt, path, [make_row()])

    assert path.read_bytes().startswith(b"ledgerId," if fmt == "csv" else b"PK")
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fmt", FORMATS)
def test_temp_file_is_hidden_private_and_beside_the_report(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobs.formats.spill.IN_MEMORY", 0)  # as for a large report: on disk from the first bytes
    folder = tmp_path / "a" / "b"
    path = folder / f"entries.{fmt}"

    # XLSX: a sheet goes into the file once complete (its rows wait in an unnamed scratch file, which
    # no folder listing shows), so the second row, on a sheet of its own, puts the first sheet there.
    with open_report(fmt, path, sheet_row_limit=2) as report:
        report.write([make_row(), make_row()])
        [temp] = folder.iterdir()
        assert re.fullmatch(rf"\.entries\.{fmt}\.[a-z0-9_]{{8}}\.tmp", temp.name)
        assert stat.S_IMODE(temp.stat().st_mode) == 0o600
        assert not path.exists()
        report.commit()

    assert [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "a", folder)] == [0o700, 0o700]
    assert list(folder.iterdir()) == [path]


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_report_touches_the_disk_only_on_commit(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "a" / "b"
    path = folder / f"entries.{fmt}"

    with open_report(fmt, path) as report:
        report.write([make_row(number=n) for n in range(20)])
        assert not tmp_path.joinpath("a").exists()
        report.commit()

    assert list(folder.iterdir()) == [path]
    assert report.size == path.stat().st_size
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_large_report_goes_on_in_its_temp_file(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"entries.{fmt}"
    rows = [make_row(number=n) for n in range(300)]
    small = tmp_path / "small" / f"entries.{fmt}"
    write(fmt, small, rows, sheet_row_limit=100)  # in memory throughout, for comparison
    monkeypatch.setattr("jobs.formats.spill.IN_MEMORY", 4096)

    with open_report(fmt, path, sheet_row_limit=100) as report:
        report.write(rows[:150])
        [temp] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert temp.stat().st_size > 4096  # rows went to disk before the report was complete
        report.write(rows[150:])
        report.commit()

    assert path.read_bytes() == small.read_bytes()
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.size == path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, "small"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_file_mode(tmp_path: Path, fmt: str, mode: int) -> None:
    path = tmp_path / f"entries.{fmt}"
    options = {} if mode == 0o600 else {"mode": mode}  # 0o600 is the default

    write(fmt, path, [make_row()], **options)

    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.parametrize("fmt", FORMATS)
def test_abort_is_idempotent_and_harmless_after_commit(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"entries.{fmt}"
    report = open_report(fmt, path)
    report.write([make_row(), make_row()])

    assert report.rows == 2
    assert report.commit() == 2
    report.abort()
    report.abort()

    assert path.exists()
    with pytest.raises(RuntimeError, match="already committed"):
        report.commit()


def test_xlsx_writes_nothing_outside_the_report_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.setattr("jobs.formats.spill.IN_MEMORY", 0)  # on disk from the first bytes, as a large report
    reports = tmp_path / "reports"

    with open_report("xlsx", reports / "entries.xlsx", sheet_row_limit=2) as report:
        report.write([make_row()] * 3)  # three sheets
        assert len(list(reports.iterdir())) == 1  # the temp file, and nothing anywhere else

    assert list(system_temp.iterdir()) == []
    assert list(reports.iterdir()) == []


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown report format 'json'"):
        open_report("json", tmp_path / "entries.json")


def test_remove_stale_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobs.formats.spill.IN_MEMORY", 0)  # the abandoned report is on disk at once
    nested = tmp_path / "ledger" / "2024"
    abandoned = open_report("csv", nested / "entries.csv")  # as if killed before abort()
    abandoned.write([make_row()])
    (tmp_path / ".entries.xlsx.abc_1234.tmp").write_text("left by a killed run")
    keep = [
        tmp_path / "entries.csv",
        tmp_path / "notes.tmp",
        tmp_path / ".entries.csv.short.tmp",
        tmp_path / ".entries.csv.abcdefgh.tmp.bak",
    ]
    for path in keep:
        path.write_text("not ours")

    assert remove_stale_temp_files(tmp_path) == 2

    remaining = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    assert remaining == sorted(keep)
    abandoned.abort()  # the temp file is already gone; abort still succeeds
