"""What the XLSX sheets hold: the ``entries`` rows and the ``summary`` sheet.

An entries sheet has a bold header, frozen, with a filter over the rows and
widths to read them by; ``ledgerDate`` is a date cell, amounts are number cells
holding the exact decimal text with format ``0.00`` (without a thousands
separator what Excel shows and copies is the plain number, in the user's locale:
``499,00`` in Nordic Excel), ``time`` is a date-time cell in the ledger's own time
zone, the one the CSV presets show (a time that cannot be read, or has no UTC
offset, stays text as served), and every other column is text. How a cell is
written, and why, is in ``jobs.formats.cells``.

The summary sheet comes first in the workbook, so it is what Excel opens on.
A file of one ledger date gets a key/value block, the sums per entry type and
the reconciliation checks; a file of several dates gets one table row per date
and a total row, so a month can be followed down the page. The sums are grouped
in columns that depend on the topic (jobs.reconcile.CATEGORIES): captures,
refunds, fees retained and payouts on funds; capture fees, service fees, fees
retained and fees invoiced on fees; every other type under "Other". Only funds
files have payout rows: the amount, the payout number the bank text shows, and
the payout's reference, which Norwegian payouts currently leave empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from jobs.entries import AMOUNT_COLUMNS, Row, instant
from jobs.formats.cells import (
    AMOUNT,
    BOLD,
    DATE,
    DATETIME,
    MAX_CELL_TEXT,
    NEEDS_CARE,
    column_letter,
    date_cell,
    date_serial,
    filled_text_cell,
    number_cell,
    row,
    row_start,
    text_cell,
)
from jobs.formats.workbook import Package
from jobs.money import format_amount, format_minor
from jobs.reconcile import CHECKS, DateSummary, category_names, has_payouts

_ENTRY_WIDTHS = {"time": 21, "reference": 30, "pspReference": 24, "entryType": 22, "recipientHandle": 18}
_ENTRY_WIDTHS |= {"name": 24, "maskedPhoneNo": 16, "message": 40}  # the GDPR columns
_PAYOUT_LABELS = ("Payout amount", "Payout number", "Payout reference")
_TEXT, _DATE, _AMOUNT, _TIME = "text", "date", "amount", "time"
_KINDS = {"ledgerDate": _DATE, "time": _TIME} | dict.fromkeys(AMOUNT_COLUMNS, _AMOUNT)
_SECOND = dt.timedelta(seconds=1)
_UNIX_EPOCH = 25569  # 1970-01-01 as an Excel serial number


def entry_widths(columns: Sequence[str]) -> list[int]:
    return [_ENTRY_WIDTHS.get(name, 14) for name in columns]


def entries_header(columns: Sequence[str]) -> str:
    return row(1, _labels(columns))


def entry_renderer(columns: Sequence[str], zone: ZoneInfo) -> Callable[[Row, int], str]:
    """A function from a row and its row number to the row's XML; `columns` are a prefix of Row's fields,
    `zone` the one `time` is shown in."""
    plan = [(index, _KINDS.get(name, _TEXT), column_letter(index + 1)) for index, name in enumerate(columns)]
    care, long_text = NEEDS_CARE.search, MAX_CELL_TEXT // 2
    wall_clock = wall_clock_serial(zone)

    # The one loop every cell goes through: plain strings, no objects, no calls it can do without.
    def render(entry: Row, number: int) -> str:
        n = str(number)
        cells = [f'<row r="{n}">']
        lines = 1
        for index, kind, letter in plan:
            value: Any = entry[index]  # the kind says which of Row's types; an annotation costs nothing here
            if kind is _TEXT:
                if not value:
                    continue
                if not (care(value) or len(value) > long_text):
                    cells.append(f'<c r="{letter}{n}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>')
                    continue
            elif kind is _AMOUNT:
                cells.append(f'<c r="{letter}{n}" s="{AMOUNT}"><v>{format_amount(value)}</v></c>')
                continue
            elif kind is _DATE:
                cells.append(f'<c r="{letter}{n}" s="{DATE}"><v>{date_serial(value)}</v></c>')
                continue
            elif not value:  # _TIME from here
                continue
            elif (serial := wall_clock(value)) is not None:
                cells.append(f'<c r="{letter}{n}" s="{DATETIME}"><v>{serial}</v></c>')
                continue
            # Rare: text to escape, cut or wrap, or a time that cannot be read (kept as served, as in the CSV).
            cell = filled_text_cell(value)
            cells.append(f'<c r="{letter}{n}"{cell}')
            lines = max(lines, cell.count("\n") + 1)
        if lines > 1:
            cells[0] = row_start(number, lines)
        cells.append("</row>")
        return "".join(cells)

    return render


def wall_clock_serial(zone: ZoneInfo) -> Callable[[str], str | None]:
    """A function from the API's `time` to Excel's serial number of its wall time in `zone`, to the second
    (as the CSV presets show it); None where entries.local_time gives None (unreadable, no UTC offset).

    The same instant and zone as local_time, found faster: the zone's offset is looked up once per UTC
    minute, not per entry. A large date has hundreds of entries a minute; no zone changes its offset
    within one.
    """
    offsets: dict[int, int] = {}  # UTC minute -> the zone's offset then, in seconds

    def serial(served: str) -> str | None:
        moment = instant(served)
        if moment is None:
            return None
        seconds = int(moment.timestamp())  # the fraction dropped, as the presets drop it
        offset = offsets.get(seconds // 60)
        if offset is None:
            offset = offsets[seconds // 60] = (moment.astimezone(zone).utcoffset() or dt.timedelta()) // _SECOND
        return repr((seconds + offset) / 86400 + _UNIX_EPOCH)

    return serial


def write_summary(package: Package, summaries: Sequence[DateSummary]) -> None:
    """Add a `summary` sheet, shown first; one summary or a period of them."""
    if len(summaries) == 1:  # a block of labels and values: no header row
        widths, header_row, lines = (22, 20, 60, 60), False, _one_date(summaries[0])
    else:
        topic = summaries[0].topic
        payout_widths = (16, 14, 30) if has_payouts(topic) else ()
        widths, header_row = (12, 16, *[16] * len(category_names(topic)), 16, 10, *payout_widths, 24), True
        lines = _period(sorted(summaries, key=lambda summary: summary.date))
    sheet = package.add_sheet("summary", widths, header_row=header_row, first=True)
    sheet.write("".join(row(number, cells) for number, cells in enumerate(lines, 1) if cells))
    sheet.close(rows=len(lines))


def _one_date(summary: DateSummary) -> list[list[str | None]]:
    block = [
        ("Ledger", text_cell(summary.ledger_id)),
        ("Topic", text_cell(summary.topic)),
        ("Ledger date", date_cell(summary.date)),
        ("Currency", text_cell(summary.currency)),
        ("Opening balance", _amount(summary.opening)),
        *zip(_category_labels(summary.topic), map(_amount, _categories(summary)), strict=True),
        ("Closing balance", _amount(summary.closing)),
        ("Entries", number_cell(str(summary.entries))),
    ]
    if has_payouts(summary.topic):
        block += zip(_PAYOUT_LABELS, _payout_cells(summary), strict=True)
    lines = [[text_cell(label, BOLD), value] for label, value in block]
    lines += [[], _labels(("Entry type", "Sum"))]
    lines += [[text_cell(entry_type), _amount(summary.sums[entry_type])] for entry_type in sorted(summary.sums)]
    lines += [[], _labels(("Check", "Result", "Detail", "Description"))]
    for check in summary.checks:
        result = "ok" if check.ok else "FAILED"
        lines.append([text_cell(check.name), text_cell(result), text_cell(check.detail), text_cell(CHECKS[check.name])])
    return lines


def _period(summaries: list[DateSummary]) -> list[list[str | None]]:
    topic = summaries[0].topic  # a period file holds one ledger and one topic
    payouts_shown = has_payouts(topic)
    header = (
        "Ledger date",
        "Opening balance",
        *_category_labels(topic),
        "Closing balance",
        "Entries",
        *(_PAYOUT_LABELS if payouts_shown else ()),
        "Checks",
    )
    lines = [_labels(header)]
    for summary in summaries:
        failed = [check.name for check in summary.checks if not check.ok]
        lines.append(
            [
                date_cell(summary.date),
                _amount(summary.opening),
                *map(_amount, _categories(summary)),
                _amount(summary.closing),
                number_cell(str(summary.entries)),
                *(_payout_cells(summary) if payouts_shown else ()),
                text_cell(", ".join(failed) or "ok"),
            ]
        )
    # A date without entries has no balances: the period runs from the first known one to the last.
    openings = [summary.opening for summary in summaries if summary.opening is not None]
    closings = [summary.closing for summary in summaries if summary.closing is not None]
    category_totals = [sum(column) for column in zip(*map(_categories, summaries), strict=True)]
    payouts = [-summary.payout.amount for summary in summaries if summary.payout]
    lines.append(
        [
            text_cell("Total", BOLD),
            _amount(openings[0] if openings else None),
            *map(_amount, category_totals),
            _amount(closings[-1] if closings else None),
            number_cell(str(sum(summary.entries for summary in summaries))),
            *([_amount(sum(payouts) if payouts else None)] if payouts_shown else []),
        ]
    )
    return lines


def _category_labels(topic: str) -> list[str]:
    return [name.capitalize() for name in category_names(topic)]  # "fees retained" -> "Fees retained"


def _categories(summary: DateSummary) -> list[int]:
    return list(summary.categories.values())


def _payout_cells(summary: DateSummary) -> list[str | None]:
    """Amount (what the bank receives), payout number and reference; empty cells for a date without a payout."""
    payout = summary.payout
    if payout is None:
        return [None, None, None]
    return [_amount(-payout.amount), text_cell(payout.number), text_cell(payout.reference)]


def _labels(texts: Sequence[str]) -> list[str | None]:
    return [text_cell(text, BOLD) for text in texts]


def _amount(minor: int | None) -> str | None:
    if minor is None:
        return None
    return number_cell(format_minor(minor), AMOUNT)
