"""An independent GBAT10 reader: every column's type and length as the format defines it.

Written from the format's description (the project's bookkeeping notes), not from
jobs.formats.gbat10: it shares no code with the writer. Lengths are counted in UTF-16 code
units, as the Java and .NET systems that import GBAT10 count them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

AMOUNT = re.compile(r"-?\d+\.\d\d")
DIGITS = re.compile(r"\d+")
# Column -> (name, maximum length); the rest must be empty.
COLUMNS = {
    0: ("identification", 6),
    1: ("voucher number", 8),
    2: ("voucher date", 8),
    3: ("voucher type", 3),
    4: ("period", 2),
    5: ("year", 4),
    6: ("account", 7),
    7: ("VAT code", 5),
    8: ("amount", 15),
    9: ("customer number", 9),
    10: ("supplier number", 9),
    20: ("text", 100),
    26: ("gross flag", 1),
    27: ("gross amount", 20),
}


class Line(NamedTuple):
    number: int
    date: dt.date
    voucher_type: int
    account: int
    vat_code: int
    amount: Decimal
    text: str
    gross: Decimal = Decimal(0)
    flag: str = "T"
    customer: str = ""
    supplier: str = ""


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_line(line: str) -> Line:
    fields = line.split(";")
    assert len(fields) == 30, (len(fields), line)
    for index, value in enumerate(fields):
        if index not in COLUMNS:
            assert value == "", (index, line)
        else:
            name, most = COLUMNS[index]
            assert utf16(value) <= most, (name, value)
    assert fields[0] == "GBAT10"
    for index in (1, 3, 6, 7):
        assert DIGITS.fullmatch(fields[index]), (COLUMNS[index][0], fields[index])
    date = dt.datetime.strptime(fields[2], "%Y%m%d").date()
    assert len(fields[2]) == 8
    assert fields[4] == str(date.month) and fields[5] == f"{date.year:04d}", line
    assert AMOUNT.fullmatch(fields[8]) and AMOUNT.fullmatch(fields[27]), line
    # Without VAT the gross is the net; a line whose VAT code splits it has its gross, and the VAT line (F, which
    # the mode that makes VAT postings leaves out) has none.
    assert fields[26] in ("T", "F") and (fields[27] == fields[8] or fields[7] != "0" or fields[26] == "F"), line
    assert fields[26] == "T" or fields[27] == "0.00", line
    text = fields[20]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in '\u2028\u2029"' for c in text), text
    assert text == text.strip() and "  " not in text, text
    assert fields[9] == "" or DIGITS.fullmatch(fields[9]) and fields[10] == "" or DIGITS.fullmatch(fields[10]), line
    return Line(
        int(fields[1]),
        date,
        int(fields[3]),
        int(fields[6]),
        int(fields[7]),
        Decimal(fields[8]),
        text,
        Decimal(fields[27]),
        fields[26],
        fields[9],
        fields[10],
    )


def read_gbat10(path: Path) -> list[Line]:
    """Every line of a file, checked; and every voucher on one date, with lines summing to zero."""
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\r\n\r\n" not in text
    body = text[:-2]
    assert "\n" not in body.replace("\r\n", "") and "\r" not in body.replace("\r\n", "")
    lines = [parse_line(line) for line in body.split("\r\n")]
    vouchers: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        vouchers[line.number].append(line)
    for number, voucher in vouchers.items():
        assert len({line.date for line in voucher}) == 1, number
        assert sum(line.amount for line in voucher) == 0, (number, sum(line.amount for line in voucher))
        # Tripletex's two import modes: the net amounts balance, and so do the gross ones of the T lines.
        assert sum(line.gross for line in voucher if line.flag == "T") == 0, number
    return lines
