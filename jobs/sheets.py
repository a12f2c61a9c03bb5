"""XLSX cells as the reports write them, the entries sheet's head, and the ``summary`` sheet.

Excel sets limits of its own, hence these rules for every cell:

- Text is always a string cell, never a number or a formula. An empty text
  field is no cell at all (Excel shows the same thing; pandas reads ""). Excel
  keeps at most 32,767 characters of a cell (openpyxl cuts the rest).
- Characters XML 1.0 cannot hold (controls other than tab, LF and CR; U+FFFE,
  U+FFFF, lone surrogates) become U+FFFD. Their escape ``_xHHHH_`` would be
  decoded by Excel but shown as is by openpyxl, pandas and others; a
  replacement character reads the same everywhere, and the CSV keeps the
  original. CR is kept: lxml writes it as ``&#13;``, which every reader gets
  back; openpyxl's fallback writer (no lxml) leaves it raw, and XML parsers
  then read it as LF.
- Excel decodes a literal ``_xHHHH_`` in text (``_x0041_`` would show "A"), so
  its underscore is escaped as ``_x005F_``, as Excel itself saves it. openpyxl
  and pandas show that escape as is.
- Amounts are number cells holding the exact decimal text, format ``0.00``:
  without a thousands separator what Excel shows (and copies) is the plain
  number, in the user's locale (``499,00`` in Nordic Excel).

The summary sheet comes first in the workbook, so it is what Excel opens on.
A file of one ledger date gets a key/value block, the sums per entry type and
the reconciliation checks; a file of several dates gets one table row per date
and a total row, so a month can be followed down the page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from jobs.entries import AMOUNT_COLUMNS, format_amount, major_units
from jobs.reconcile import CATEGORY_ORDER, CHECKS, DateSummary

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_BOLD = Font(bold=True)
_ENTRY_WIDTHS = {"time": 30, "reference": 30, "pspReference": 24, "entryType": 22, "recipientHandle": 18}
_ENTRY_WIDTHS |= {"name": 24, "maskedPhoneNo": 16, "message": 40}  # the GDPR columns
_CATEGORY_LABELS = tuple(name.capitalize() for name in CATEGORY_ORDER)  # "fees retained" -> "Fees retained"
_PERIOD_HEADER = (
    "Ledger date",
    "Opening balance",
    *_CATEGORY_LABELS,
    "Closing balance",
    "Entries",
    "Payout amount",
    "Payout reference",
    "Checks",
)


def cell_text(text: str) -> str:
    """The text as an Excel cell can hold it (see the module docstring)."""
    return _LOOKS_ESCAPED.sub("_x005F_", _NOT_XML.sub("\ufffd", text))


def start_entries_sheet(
    book: Workbook, title: str, columns: Sequence[str]
) -> tuple[WriteOnlyWorksheet, list[WriteOnlyCell]]:
    """A new entries sheet with its header row, and one styled cell per column to fill for each row."""
    sheet = book.create_sheet(title)
    # A write-only sheet writes its head with the first row, so views and widths go first.
    sheet.freeze_panes = "A2"
    _widths(sheet, [_ENTRY_WIDTHS.get(name, 14) for name in columns])
    sheet.append(_labels(sheet, columns))
    # One cell per column, refilled for each row: openpyxl writes a row as it is appended,
    # and styling a new cell for every value would cost more than the rest of the row.
    cells = [WriteOnlyCell(sheet) for _ in columns]
    for cell, name in zip(cells, columns, strict=True):
        if name == "ledgerDate":
            cell.number_format = "yyyy-mm-dd"
        elif name in AMOUNT_COLUMNS:
            cell.number_format = "0.00"
    return sheet, cells


def add_summary_sheet(book: Workbook, summaries: Sequence[DateSummary]) -> None:
    """Put a `summary` sheet first in the write-only `book`; one summary or a period of them."""
    sheet = book.create_sheet("summary", 0)
    if len(summaries) == 1:
        _one_date(sheet, summaries[0])
    else:
        _period(sheet, sorted(summaries, key=lambda summary: summary.date))
    sheet.close()


def _one_date(sheet: WriteOnlyWorksheet, summary: DateSummary) -> None:
    _widths(sheet, (22, 20, 60, 60))
    payout = summary.payout
    block = [
        ("Ledger", _text(sheet, summary.ledger_id)),
        ("Topic", _text(sheet, summary.topic)),
        ("Ledger date", _date(sheet, summary.date)),
        ("Currency", _text(sheet, summary.currency)),
        ("Opening balance", _amount(sheet, summary.opening)),
        *zip(_CATEGORY_LABELS, _amounts(sheet, _categories(summary)), strict=True),
        ("Closing balance", _amount(sheet, summary.closing)),
        ("Entries", summary.entries),
        ("Payout amount", _amount(sheet, -payout.amount if payout else None)),
        ("Payout reference", _text(sheet, payout.reference if payout else "")),
    ]
    for label, value in block:
        sheet.append([_label(sheet, label), value])
    sheet.append([])
    sheet.append(_labels(sheet, ("Entry type", "Sum")))
    for entry_type in sorted(summary.sums):
        sheet.append([_text(sheet, entry_type), _amount(sheet, summary.sums[entry_type])])
    sheet.append([])
    sheet.append(_labels(sheet, ("Check", "Result", "Detail", "Description")))
    for check in summary.checks:
        result = "ok" if check.ok else "FAILED"
        description = CHECKS[check.name]
        sheet.append(
            [_text(sheet, check.name), _text(sheet, result), _text(sheet, check.detail), _text(sheet, description)]
        )


def _period(sheet: WriteOnlyWorksheet, summaries: list[DateSummary]) -> None:
    _widths(sheet, (12, *[16] * 7, 10, 16, 30, 24))
    sheet.freeze_panes = "A2"
    sheet.append(_labels(sheet, _PERIOD_HEADER))
    for summary in summaries:
        payout = summary.payout
        failed = [check.name for check in summary.checks if not check.ok]
        sheet.append(
            [
                _date(sheet, summary.date),
                _amount(sheet, summary.opening),
                *_amounts(sheet, _categories(summary)),
                _amount(sheet, summary.closing),
                summary.entries,
                _amount(sheet, -payout.amount if payout else None),
                _text(sheet, payout.reference if payout else ""),
                _text(sheet, ", ".join(failed) or "ok"),
            ]
        )
    # A date without entries has no balances: the period runs from the first known one to the last.
    openings = [summary.opening for summary in summaries if summary.opening is not None]
    closings = [summary.closing for summary in summaries if summary.closing is not None]
    category_totals = [sum(column) for column in zip(*map(_categories, summaries), strict=True)]
    payouts = [-summary.payout.amount for summary in summaries if summary.payout]
    sheet.append(
        [
            _label(sheet, "Total"),
            _amount(sheet, openings[0] if openings else None),
            *_amounts(sheet, category_totals),
            _amount(sheet, closings[-1] if closings else None),
            sum(summary.entries for summary in summaries),
            _amount(sheet, sum(payouts) if payouts else None),
        ]
    )


def _categories(summary: DateSummary) -> list[int]:
    totals = summary.categories
    return [totals[name] for name in CATEGORY_ORDER]


def _widths(sheet: WriteOnlyWorksheet, widths: Sequence[int]) -> None:
    # Before the first row: a write-only sheet writes its head with it.
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def _label(sheet: WriteOnlyWorksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, text)
    cell.font = _BOLD
    return cell


def _labels(sheet: WriteOnlyWorksheet, texts: Sequence[str]) -> list[WriteOnlyCell]:
    return [_label(sheet, text) for text in texts]


def _text(sheet: WriteOnlyWorksheet, text: str) -> WriteOnlyCell | None:
    if not text:
        return None
    cell = WriteOnlyCell(sheet, cell_text(text))
    cell.data_type = "s"  # a reference like "=1+1" stays text, as on the entries sheet
    return cell


def _amount(sheet: WriteOnlyWorksheet, minor: int | None) -> WriteOnlyCell | None:
    if minor is None:
        return None
    cell = WriteOnlyCell(sheet, format_amount(major_units(minor)))
    cell.data_type = "n"  # the exact decimal text, not a float's rendering
    cell.number_format = "0.00"
    return cell


def _amounts(sheet: WriteOnlyWorksheet, amounts: Sequence[int]) -> list[WriteOnlyCell | None]:
    return [_amount(sheet, minor) for minor in amounts]


def _date(sheet: WriteOnlyWorksheet, date: dt.date) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, date)
    cell.number_format = "yyyy-mm-dd"
    return cell
