"""CSV presets, written through open_report and read back the way each promises to be read."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from jobs.entries import COLUMNS, GDPR_COLUMNS, TEXT_COLUMNS, Row
from jobs.formats.open import open_report
from jobs.money import major_units
from jobs.presets import PRESETS, STANDARD, csv_format

OSLO, COPENHAGEN, HELSINKI = (ZoneInfo(name) for name in ("Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki"))
# What each preset promises: delimiter, decimal mark, BOM, 2026-03-05 as a date.
PROMISES = {
    "standard": (",", ".", False, "2026-03-05"),
    "no": (";", ",", True, "05.03.2026"),
    "dk": (";", ",", True, "05-03-2026"),
    "fi": (";", ",", True, "5.3.2026"),
}
AWKWARD = [
    '=HYPERLINK("http://x","y")',
    "+4712345678",
    "-42",
    "@SUM(A1)",
    "\ttab",
    "\rcr",
    "a;b",
    "a,b",
    '"q"',
    "line\nbreak",
    "æøå ÆØÅ",
    "😀 emoji",
    " =spaced",  # Excel runs only what starts with the sign
    "'already",
    "",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_TEXT = [name for name in COLUMNS if name in TEXT_COLUMNS]


def make_row(text: str = "x", time: str = "2026-03-05T10:00:00Z", amount: int = -5) -> Row:
    return Row(
        ledgerId="00123",
        ledgerDate=dt.date(2026, 3, 5),
        time=time,
        entryType="capture",
        pspReference="0000000001",
        reference=text,
        recipientHandle="",
        currency="NOK",
        amount=major_units(amount),
        balanceBefore=major_units(3_000_000_000_000),
        balanceAfter=major_units(0),
    )


def awkward_rows() -> list[Row]:
    """Every awkward string in every text column, `time` included (it cannot be read as a time)."""
    return [make_row()._replace(**dict.fromkeys(CSV_TEXT, text)) for text in AWKWARD]


def write(path: Path, rows: list[Row], preset: str = "standard", zone: ZoneInfo = OSLO, **options: Any) -> bytes:
    with open_report("csv", path, csv_format=csv_format(preset, **options), timezone=zone) as report:
        report.write(rows)
        report.commit()
    return path.read_bytes()


def read(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file, delimiter=delimiter))


def expected_text(preset: str, text: str) -> str:
    return "'" + text if preset != "standard" and text.startswith(FORMULA_START) else text


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_reads_back_as_promised(tmp_path: Path, preset: str) -> None:
    delimiter, decimal, bom, date = PROMISES[preset]
    path = tmp_path / "entries.csv"

    data = write(path, [make_row(amount=-5), make_row(amount=3_000_000_000_000)], preset)

    assert data.startswith(codecs.BOM_UTF8) == bom
    assert data.count(codecs.BOM_UTF8) == int(bom)
    assert b"sep=" not in data
    header, *lines = read(path, delimiter)
    assert header == list(COLUMNS)
    assert [line[COLUMNS.index("ledgerDate")] for line in lines] == [date, date]
    assert [line[COLUMNS.index("amount")] for line in lines] == [f"-0{decimal}05", f"30000000000{decimal}00"]
    assert [line[COLUMNS.index("balanceAfter")] for line in lines] == [f"0{decimal}00"] * 2


@pytest.mark.parametrize("preset", ["no", "dk", "fi"])
def test_nordic_preset_through_pandas(tmp_path: Path, preset: str) -> None:
    path = tmp_path / "entries.csv"
    write(path, [make_row(amount=-5), make_row(amount=49900)], preset)

    text = pd.read_csv(path, sep=";", decimal=",", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    numbers = pd.read_csv(path, sep=";", decimal=",", encoding="utf-8-sig", dtype={"ledgerId": str})

    assert list(text.columns) == list(COLUMNS)  # no BOM left on the first header
    assert text["ledgerId"].tolist() == ["00123", "00123"]
    assert text["ledgerDate"].tolist() == [PROMISES[preset][3]] * 2
    assert numbers["amount"].tolist() == [-0.05, 499.0]
    assert numbers["balanceBefore"].tolist() == [30000000000.0] * 2


def test_standard_through_pandas(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    write(path, [make_row(amount=-5)])

    frame = pd.read_csv(path, encoding="utf-8", dtype={"ledgerId": str, "pspReference": str})

    assert frame["amount"].tolist() == [-0.05]
    assert frame["ledgerDate"].tolist() == ["2026-03-05"]
    assert frame["time"].tolist() == ["2026-03-05T10:00:00Z"]  # exactly as served


@pytest.mark.parametrize(
    ("preset", "zone", "served", "shown"),
    [
        ("no", OSLO, "2026-11-20T07:19:26.528092Z", "20.11.2026 08:19:26"),  # winter: UTC+1
        ("no", OSLO, "2026-07-01T22:30:00Z", "02.07.2026 00:30:00"),  # summer: UTC+2, the next day
        ("no", OSLO, "2026-03-29T00:59:59Z", "29.03.2026 01:59:59"),  # the last second of winter time
        ("no", OSLO, "2026-03-29T01:00:00Z", "29.03.2026 03:00:00"),  # and the first of summer time
        ("dk", COPENHAGEN, "2026-01-31T23:00:00.5Z", "01-02-2026 00:00:00"),
        ("dk", COPENHAGEN, "2026-08-15T09:05:03+0200", "15-08-2026 09:05:03"),
        ("fi", HELSINKI, "2026-03-05T10:00:00+02:00", "5.3.2026 10:00:00"),  # winter: UTC+2
        ("fi", HELSINKI, "2026-06-15T12:00:00Z", "15.6.2026 15:00:00"),  # summer: UTC+3
        ("fi", HELSINKI, "2026-06-15T12:00:00.123456789Z", "15.6.2026 15:00:00"),
        ("standard", OSLO, "2026-11-20T07:19:26.528092Z", "2026-11-20T07:19:26.528092Z"),
        ("no", OSLO, "2026-11-20T07:19:26", "2026-11-20T07:19:26"),  # no offset: which zone is a guess
        ("no", OSLO, "soon", "soon"),
        ("no", OSLO, "", ""),
        ("dk", COPENHAGEN, "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),  # unreadable, and neutralised
    ],
)
def test_local_time(tmp_path: Path, preset: str, zone: ZoneInfo, served: str, shown: str) -> None:
    path = tmp_path / "entries.csv"
    write(path, [make_row(time=served)], preset, zone)

    [_, line] = read(path, PROMISES[preset][0])

    assert line[COLUMNS.index("time")] == shown


@pytest.mark.parametrize("preset", PRESETS)
def test_awkward_text(tmp_path: Path, preset: str) -> None:
    path = tmp_path / "entries.csv"
    rows = awkward_rows()
    write(path, rows, preset)

    [header, *lines] = read(path, PROMISES[preset][0])

    assert len(lines) == len(rows)
    for line, text in zip(lines, AWKWARD, strict=True):
        fields = dict(zip(header, line, strict=True))
        assert {name: fields[name] for name in CSV_TEXT} == dict.fromkeys(CSV_TEXT, expected_text(preset, text))
        assert fields["amount"] == ("-0.05" if preset == "standard" else "-0,05")  # never prefixed
        assert fields["ledgerDate"] == PROMISES[preset][3]


@pytest.mark.parametrize("preset", PRESETS)
def test_awkward_text_through_pandas(tmp_path: Path, preset: str) -> None:
    path = tmp_path / "entries.csv"
    rows = awkward_rows()
    write(path, rows, preset)

    frame = pd.read_csv(path, sep=PROMISES[preset][0], encoding="utf-8-sig", dtype=str, keep_default_na=False)

    for name in CSV_TEXT:
        assert frame[name].tolist() == [expected_text(preset, text) for text in AWKWARD]


def test_nordic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    row = make_row('a;b "q"', time="2026-11-20T07:19:26.528092Z")._replace(recipientHandle="-42")

    data = write(path, [row], "no", columns=["ledgerDate", "time", "reference", "recipientHandle", "amount"])

    assert data == (
        b"\xef\xbb\xbfledgerDate;time;reference;recipientHandle;amount\r\n"
        b'05.03.2026;20.11.2026 08:19:26;"a;b ""q""";\'-42;-0,05\r\n'
    )


def test_columns_chosen_renamed_and_reordered(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    fmt = csv_format("dk", columns=["amount", "ledgerDate", "pspReference"], rename={"amount": "Beløb", "time": "Tid"})

    assert fmt.columns == ("amount", "ledgerDate", "pspReference")
    assert fmt.headers == ("Beløb", "ledgerDate", "pspReference")  # renaming a column not chosen is harmless
    write(path, [make_row()], "dk", columns=fmt.columns, rename={"amount": "Beløb"})
    assert read(path, ";") == [["Beløb", "ledgerDate", "pspReference"], ["-0,05", "05-03-2026", "0000000001"]]


def test_gdpr_columns(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    row = make_row()._replace(name="Kari Nordmann", maskedPhoneNo="+47 xxx xx 123", message="takk")

    assert csv_format("fi", gdpr=True).columns == (*COLUMNS, *GDPR_COLUMNS)
    write(path, [row], "fi", gdpr=True, columns=["message", "maskedPhoneNo", "amount"], rename={"message": "Viesti"})
    assert read(path, ";") == [["Viesti", "maskedPhoneNo", "amount"], ["takk", "'+47 xxx xx 123", "-0,05"]]


def test_preset_fields() -> None:
    assert csv_format("standard") == STANDARD
    formats = {name: csv_format(name) for name in PRESETS}
    assert {name: (fmt.delimiter, fmt.decimal, fmt.bom) for name, fmt in formats.items()} == {
        name: promise[:3] for name, promise in PROMISES.items()
    }
    assert {name: fmt.date_format(dt.date(2026, 3, 5)) for name, fmt in formats.items()} == {
        name: promise[3] for name, promise in PROMISES.items()
    }
    assert {name: (fmt.local_time, fmt.neutralise) for name, fmt in formats.items()} == {
        "standard": (False, False),
        "no": (True, True),
        "dk": (True, True),
        "fi": (True, True),
    }
    assert formats["no"].headers == formats["no"].columns == COLUMNS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "se"}, "csv preset 'se' is not known; choose from standard, no, dk, fi"),
        ({"columns": ["amunt"]}, "csv columns: 'amunt' is not a column; choose from ledgerId, ledgerDate, "),
        ({"columns": []}, "csv columns: none chosen; choose from ledgerId, "),
        ({"columns": "amount"}, "csv columns: give a list of column names, not the string 'amount'"),
        ({"columns": ["amount", "time", "amount"]}, "csv columns: 'amount' is chosen twice; list each column once"),
        ({"columns": ["amount", "name"]}, "csv columns: 'name' is personal data (GDPR); turn gdpr on to export it"),
        ({"rename": {"amunt": "Beløp"}}, "csv rename: 'amunt' is not a column; choose from ledgerId, "),
        ({"rename": {"amount": ""}}, "csv rename: the header for 'amount' is empty; give it some text"),
        ({"rename": {"amount": "  "}}, "csv rename: the header for 'amount' is empty; give it some text"),
        (
            {"rename": {"amount": "Beløp", "balanceAfter": "Beløp"}},
            "csv rename: 'amount' and 'balanceAfter' both have the header 'Beløp'; give each its own",
        ),
        (
            {"rename": {"amount": "currency"}},
            "csv rename: 'currency' and 'amount' both have the header 'currency'; give each its own",
        ),
    ],
)
def test_format_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        csv_format(**options)

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_amounts_are_exact_beyond_float_precision(tmp_path: Path) -> None:
    path = tmp_path / "entries.csv"
    amount = 123_456_789_012_345_678  # more digits than a float holds
    write(path, [make_row(amount=amount)], "no")

    [_, line] = read(path, ";")

    assert line[COLUMNS.index("amount")] == "1234567890123456,78"
    assert Decimal(line[COLUMNS.index("amount")].replace(",", ".")) == major_units(amount)


# What a spreadsheet opening the CSV turns into numbers or dates (0302399 -> 302399, a 20-digit
# reference -> 1.23456789012346E+19, 1/2 -> a date in Norwegian settings). The file keeps them.
IDENTIFIERS = ["0302399", "00123", "12345678901234567890", "1/2", "1E5", "1.5", "1,5", "2026-11-20", "0", "TRUE"]


@pytest.mark.parametrize("preset", PRESETS)
def test_identifiers_are_kept_exactly_as_served(tmp_path: Path, preset: str) -> None:
    path = tmp_path / "entries.csv"
    rows = [make_row(text)._replace(ledgerId=text, pspReference=text, recipientHandle=text) for text in IDENTIFIERS]
    write(path, rows, preset)

    delimiter = PROMISES[preset][0]
    [header, *lines] = read(path, delimiter)
    frame = pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for name in ("ledgerId", "pspReference", "reference", "recipientHandle"):
        assert [line[header.index(name)] for line in lines] == IDENTIFIERS, name
        assert frame[name].tolist() == IDENTIFIERS, name
