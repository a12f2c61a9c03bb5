"""SpreadsheetML cells: the rules every cell of our workbooks follows, and the row that holds them.

- Text is always an inline string cell, never a number or a formula. An empty
  text is no cell at all (Excel shows the same thing; pandas reads "").
- Excel keeps at most 32,767 characters (UTF-16 code units) of a cell: the rest is cut.
- Characters XML 1.0 cannot hold become U+FFFD (jobs.formats.xmltext). Their escape
  ``_xHHHH_`` would be decoded by Excel but shown as is by openpyxl, pandas and
  others; a replacement character reads the same everywhere, and the CSV keeps the original.
- CR is written as ``&#13;``: raw, any XML parser would read it back as LF.
- Text with a line break (LF or CR) gets a wrapping style: without it a cell
  shows one line of it. Its row is made as many lines high as the text has.
- Excel decodes a literal ``_xHHHH_`` in text (``_x0041_`` would show "A"), so
  its underscore is escaped as ``_x005F_``, as Excel itself saves it. openpyxl
  and pandas show that escape as is.
- Numbers are written as given (amounts: the exact decimal text); a date is its
  Excel serial number with a date format, a date and time its serial number to
  the second with a date-time format. Excel has no time zones: the cell holds the
  wall-clock time the caller chose.

The styles a cell names are those of jobs.formats.workbook's styles.xml.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from jobs.formats.xmltext import escape, xml_chars

# Cell styles: indexes into cellXfs in styles.xml.
BOLD, DATE, AMOUNT, DATETIME, WRAP = 1, 2, 3, 4, 5
MAX_CELL_TEXT = 32_767
LINE_HEIGHT = 15  # points: one line of 11-point Calibri, the sheets' default row height
_MAX_ROW_HEIGHT = 409  # points: the most Excel allows
_DAY_ZERO = dt.date(1899, 12, 30).toordinal()  # Excel's serial 0, so 1900-03-01 onwards is exact
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
# Anything that text needs changed for: cheap to search for, rarely found.
NEEDS_CARE = re.compile(r"[&<>\r\n\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


def column_letter(number: int) -> str:
    """1 -> 'A', 27 -> 'AA'."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_text(text: str) -> str:
    """The text as an Excel cell can hold it (see the module docstring), before XML escaping."""
    if len(text) > MAX_CELL_TEXT // 2 and len(text.encode("utf-16-le", "surrogatepass")) > 2 * MAX_CELL_TEXT:
        text = _cut(text)
    return _LOOKS_ESCAPED.sub("_x005F_", xml_chars(text))


def xml_text(text: str) -> str:
    """cell_text, escaped for an XML element or attribute."""
    return escape(cell_text(text), quote=True)


def date_serial(date: dt.date) -> int:
    return date.toordinal() - _DAY_ZERO


def text_cell(text: str, style: int = 0) -> str | None:
    """A cell for `row`; None (no cell) for empty text. Plain text with a line break wraps."""
    if not text:
        return None
    return filled_text_cell(text, style)


def filled_text_cell(text: str, style: int = 0) -> str:
    """text_cell for a text that is not empty."""
    if not style and ("\n" in text or "\r" in text):
        style = WRAP
    styled = f' s="{style}"' if style else ""
    return f'{styled} t="inlineStr"><is><t xml:space="preserve">{xml_text(text)}</t></is></c>'


def number_cell(number: str, style: int = 0) -> str:
    styled = f' s="{style}"' if style else ""
    return f"{styled}><v>{number}</v></c>"


def date_cell(date: dt.date) -> str:
    return number_cell(str(date_serial(date)), DATE)


def row_start(number: int, lines: int = 1) -> str:
    """A row's start tag; a row whose text runs to several `lines` is made tall enough to show them all
    (LibreOffice keeps a row one line high when it opens a file, wrapping or not)."""
    if lines > 1:
        return f'<row r="{number}" ht="{min(lines * LINE_HEIGHT, _MAX_ROW_HEIGHT)}">'
    return f'<row r="{number}">'


def row(number: int, cells: Iterable[str | None]) -> str:
    """A row of cells from text_cell, number_cell, date_cell, in column order; None leaves a column empty."""
    parts, lines = [""], 1
    for column, cell in enumerate(cells, 1):
        if cell is not None:
            parts.append(f'<c r="{column_letter(column)}{number}"{cell}')
            lines = max(lines, cell.count("\n") + 1)  # only text holds a line feed
    parts[0] = row_start(number, lines)
    parts.append("</row>")
    return "".join(parts)


def _cut(text: str) -> str:
    """The longest start of `text` that fits in MAX_CELL_TEXT UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if char > "\uffff" else 1
        if units > MAX_CELL_TEXT:
            return text[:index]
    return text
