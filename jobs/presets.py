"""CSV presets: what a CSV file looks like for the import tool that reads it.

Every preset is for import tools, and keeps identifiers exactly as served: ``0302399``,
``00123``, a 20-digit reference and ``1/2`` are written as those characters (the
Nordic presets' formula guard, below, is the one change they make). A CSV
cannot tell a spreadsheet that a column is text (short of formulas or invisible
characters, which would corrupt it for import tools), so a spreadsheet that opens
one turns such identifiers into numbers or dates. The file for people is the XLSX.

``standard``: comma, decimal point, ISO dates, UTF-8 without BOM, ``time``
exactly as the API serves it (UTC), and every string exactly as served, so the
file is an exact record.

``no``, ``dk`` and ``fi`` are laid out as Nordic bookkeeping imports expect:
semicolon, decimal comma, the local date format, a UTF-8 BOM (without it Excel
and readers like it take the file for the ANSI code page and garble æøå), and
``time`` in the ledger's own time zone. For whoever opens one in a spreadsheet
anyway, they also neutralise text that it would run as a formula (OWASP "CSV
injection"): a text value starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets
a leading ``'``. That changes such values (a reference ``-42`` becomes ``'-42``),
which is why ``standard`` does not do it. Amounts and dates are never prefixed: a
negative amount stays ``-0,05``.

No preset writes a ``sep=`` line: Excel honours it, but it breaks every other
reader (pandas, import tools).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from jobs.entries import AMOUNT_COLUMNS, COLUMNS, GDPR_COLUMNS, Row, local_time
from jobs.money import amount_formatter

PRESETS = ("standard", "no", "dk", "fi")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvFormat:
    name: str
    delimiter: str
    decimal: str
    bom: bool  # UTF-8 with BOM, so Excel reads the file as UTF-8
    date_format: Callable[[dt.date], str]
    local_time: bool  # `time` in the ledger's time zone instead of the API's UTC string
    neutralise: bool  # prefix text Excel would run as a formula with "'"
    columns: tuple[str, ...]  # Row field names, in file order
    headers: tuple[str, ...]  # header text for each column


def iso_date(date: dt.date) -> str:
    return date.isoformat()


def norwegian_date(date: dt.date) -> str:
    return f"{date:%d.%m.%Y}"


def danish_date(date: dt.date) -> str:
    return f"{date:%d-%m-%Y}"


def finnish_date(date: dt.date) -> str:
    return f"{date.day}.{date.month}.{date.year}"  # Finnish usage has no zero padding


_PRESETS = {
    # name: delimiter, decimal mark, BOM, date format, local time, neutralise
    "standard": (",", ".", False, iso_date, False, False),
    "no": (";", ",", True, norwegian_date, True, True),
    "dk": (";", ",", True, danish_date, True, True),
    "fi": (";", ",", True, finnish_date, True, True),
}


def csv_format(
    preset: str = "standard",
    *,
    columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    gdpr: bool = False,
) -> CsvFormat:
    """The preset's format with the chosen columns (default: all, GDPR ones only if `gdpr`) and headers."""
    if preset not in _PRESETS:
        raise ValueError(f"csv preset {preset!r} is not known; choose from {', '.join(PRESETS)}")
    allowed = COLUMNS + GDPR_COLUMNS if gdpr else COLUMNS
    chosen = allowed if columns is None else _check_columns(columns, allowed)
    names = dict(rename or {})
    for field, header in names.items():
        if field not in Row._fields:
            raise ValueError(f"csv rename: {field!r} is not a column; choose from {', '.join(Row._fields)}")
        if not isinstance(header, str) or not header.strip():
            raise ValueError(f"csv rename: the header for {field!r} is empty; give it some text")
    headers = tuple(names.get(name, name) for name in chosen)
    for index, header in enumerate(headers):
        if header in headers[:index]:
            first = chosen[headers.index(header)]
            raise ValueError(
                f"csv rename: {first!r} and {chosen[index]!r} both have the header {header!r}; give each its own"
            )
    delimiter, decimal, bom, date_format, local_time, neutralise = _PRESETS[preset]
    return CsvFormat(preset, delimiter, decimal, bom, date_format, local_time, neutralise, chosen, headers)


def _check_columns(columns: Sequence[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise ValueError(f"csv columns: give a list of column names, not the string {columns!r}")
    if not columns:
        raise ValueError(f"csv columns: none chosen; choose from {', '.join(allowed)}")
    for index, name in enumerate(columns):
        if name in GDPR_COLUMNS and name not in allowed:
            raise ValueError(f"csv columns: {name!r} is personal data (GDPR); turn gdpr on to export it")
        if name not in allowed:
            raise ValueError(f"csv columns: {name!r} is not a column; choose from {', '.join(allowed)}")
        if name in columns[:index]:
            raise ValueError(f"csv columns: {name!r} is chosen twice; list each column once")
    return tuple(columns)


STANDARD = csv_format()


def row_formatter(fmt: CsvFormat, timezone: ZoneInfo | None = None) -> Callable[[Row], list[str]]:
    """A function from a row to the CSV fields `fmt` shows; `timezone` is the ledger's."""
    if fmt.local_time and timezone is None:
        raise ValueError(f"csv preset {fmt.name!r} shows local time: give the ledger's time zone")
    plan = [(Row._fields.index(name), _converter(fmt, name, timezone)) for name in fmt.columns]

    def format_row(row: Row) -> list[str]:
        return [convert(row[index]) for index, convert in plan]

    return format_row


def _converter(fmt: CsvFormat, name: str, timezone: ZoneInfo | None) -> Callable[[Any], str]:
    if name == "ledgerDate":
        return fmt.date_format
    if name in AMOUNT_COLUMNS:
        return amount_formatter(fmt.decimal)
    text = _neutralise if fmt.neutralise else str
    if name == "time" and fmt.local_time and timezone is not None:  # row_formatter refuses local time without one
        # An unreadable time is left as served, so it may start with anything: neutralise it too.
        return lambda served: text(_local_time(served, timezone, fmt.date_format))
    return text


def _neutralise(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _local_time(text: str, timezone: ZoneInfo, date_format: Callable[[dt.date], str]) -> str:
    """'2026-11-20T07:19:26.528092Z' -> '20.11.2026 08:19:26' (Oslo, NO dates); unreadable: as served."""
    local = local_time(text, timezone)
    if local is None:
        return text
    return f"{date_format(local.date())} {local:%H:%M:%S}"
