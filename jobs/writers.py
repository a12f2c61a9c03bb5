"""Report files (CSV and XLSX), streamed and written atomically.

Rows go to a hidden temp file beside the final path; commit() fsyncs it and
renames it onto the path, so a reader or a re-run only ever sees a complete
file, and a run that fails (or is killed) leaves the previous file untouched.

CSV is the exact record: text as served, amounts as ``format_amount`` gives them.
XLSX is for people in Excel, which sets limits of its own:

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
- A sheet holds at most ``sheet_row_limit`` rows with its header; later rows
  go on to ``entries (2)``, ``entries (3)``...
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from jobs.entries import AMOUNT_COLUMNS, COLUMNS, TEXT_COLUMNS, Row, format_amount

FORMATS = ("csv", "xlsx")
EXCEL_ROW_LIMIT = 1_048_576

# mkstemp(prefix=".<name>.", suffix=".tmp") adds 8 characters from this set.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_DATE = COLUMNS.index("ledgerDate")
_AMOUNTS = tuple(COLUMNS.index(name) for name in AMOUNT_COLUMNS)
_TEXT = tuple(index for index, name in enumerate(COLUMNS) if name in TEXT_COLUMNS)
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_WIDTHS = {"time": 30, "reference": 30, "pspReference": 24, "entryType": 22, "recipientHandle": 18}
_FIXED_TIME = dt.datetime(1980, 1, 1)  # so properties do not change between re-runs


def open_report(fmt: str, path: Path, *, mode: int = 0o600, sheet_row_limit: int = EXCEL_ROW_LIMIT) -> ReportFile:
    """Start a report at `path` (created only on commit) in format `fmt`."""
    if fmt == "csv":
        return _CsvReport(path, mode)
    if fmt == "xlsx":
        return _XlsxReport(path, mode, sheet_row_limit)
    raise ValueError(f"unknown report format {fmt!r}, expected one of {FORMATS}")


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a killed run left under `folder`; call it before writers start."""
    removed = 0
    for candidate in Path(folder).rglob(".*.tmp"):
        if _TEMP_NAME.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed += 1
    return removed


class ReportFile:
    """The temp file's life: created on open, renamed on commit, removed on abort."""

    def __init__(self, path: Path, mode: int, open_mode: str, **open_args: str) -> None:
        self.rows = 0  # data rows written so far
        self._path = Path(path)
        self._mode = mode
        _make_folders(self._path.parent)
        fd, name = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.", suffix=".tmp")
        self._temp: Path | None = Path(name)
        self._file = os.fdopen(fd, open_mode, **open_args)

    def write(self, rows: Iterable[Row]) -> None:
        raise NotImplementedError

    def commit(self) -> int:
        """Make the file appear complete at its path; return the number of data rows."""
        if self._temp is None:
            raise RuntimeError(f"{self._path}: report already committed or aborted")
        self._finish()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.chmod(self._temp, self._mode)
        os.replace(self._temp, self._path)
        self._temp = None
        _fsync_folder(self._path.parent)  # makes the rename itself survive a power cut
        return self.rows

    def abort(self) -> None:
        if self._temp is None:
            return
        with contextlib.suppress(OSError):  # a full disk fails the last flush too; the file goes anyway
            self._file.close()
        self._temp.unlink(missing_ok=True)
        self._temp = None
        self._discard()

    def _finish(self) -> None:
        """Write whatever must follow the last row."""

    def _discard(self) -> None:
        """Release what an uncommitted report holds besides its temp file."""

    def __enter__(self) -> ReportFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class _CsvReport(ReportFile):
    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(path, mode, "w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._csv.writerow(COLUMNS)

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            fields = list(row)
            fields[_DATE] = row[_DATE].isoformat()
            for index in _AMOUNTS:
                fields[index] = format_amount(row[index])
            self._csv.writerow(fields)
            self.rows += 1


class _XlsxReport(ReportFile):
    def __init__(self, path: Path, mode: int, sheet_row_limit: int) -> None:
        if not 2 <= sheet_row_limit <= EXCEL_ROW_LIMIT:
            raise ValueError(f"sheet_row_limit must be 2..{EXCEL_ROW_LIMIT}, got {sheet_row_limit}")
        super().__init__(path, mode, "wb")
        self._limit = sheet_row_limit
        self._book = Workbook(write_only=True)
        self._book.properties.created = self._book.properties.modified = _FIXED_TIME
        self._new_sheet()

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if self._sheet_rows == self._limit:
                self._end_sheet()
                self._new_sheet()
            cells = self._cells
            values: list[Cell | None] = list(cells)
            cells[_DATE].value = row[_DATE]
            for index in _TEXT:
                if row[index]:
                    cells[index].value = _cell_text(row[index])
                    # openpyxl makes "=..." a formula and "#N/A" an error; text stays text.
                    cells[index].data_type = "s"
                else:
                    values[index] = None
            for index in _AMOUNTS:
                # The exact decimal text, not openpyxl's rendering of a float ("%.16g").
                cells[index].value = format_amount(row[index])
                cells[index].data_type = "n"
            self._sheet.append(values)
            self._sheet_rows += 1
            self.rows += 1

    def _new_sheet(self) -> None:
        number = len(self._book.worksheets) + 1
        sheet = self._book.create_sheet("entries" if number == 1 else f"entries ({number})")
        # A write-only sheet writes its head with the first row, so views and widths go first.
        sheet.freeze_panes = "A2"
        for index, name in enumerate(COLUMNS, 1):
            sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(name, 14)
        header = [WriteOnlyCell(sheet, name) for name in COLUMNS]
        for cell in header:
            cell.font = Font(bold=True)
        sheet.append(header)
        # One cell per column, refilled for each row: openpyxl writes a row as it is appended,
        # and styling a new cell for every value would cost more than the rest of the row.
        self._cells = [WriteOnlyCell(sheet) for _ in COLUMNS]
        self._cells[_DATE].number_format = "yyyy-mm-dd"
        for index in _AMOUNTS:
            self._cells[index].number_format = "0.00"
        self._sheet = sheet
        self._sheet_rows = 1

    def _end_sheet(self) -> None:
        # The filter is written after the rows, so it can span all of them.
        self._sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{self._sheet_rows}"
        self._sheet.close()

    def _finish(self) -> None:
        self._end_sheet()
        # ExcelWriter rather than Workbook.save, which stamps the wall-clock time as "modified".
        with ZipFile(self._file, "w", ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(self._book, archive).write_data()

    def _discard(self) -> None:
        # Write-only sheets stream to openpyxl's own temp files, removed only on save or at exit:
        # a long-lived scheduler would collect one per failed export.
        for sheet in self._book.worksheets:
            if not sheet.closed:
                sheet.close()
            if os.path.exists(sheet._writer.out):  # not yet moved into a failed commit's archive
                sheet._writer.cleanup()


def _cell_text(text: str) -> str:
    """The text as an Excel cell can hold it (see the module docstring)."""
    return _LOOKS_ESCAPED.sub("_x005F_", _NOT_XML.sub("\ufffd", text))


def _make_folders(folder: Path) -> None:
    # Path.mkdir(parents=True) and os.makedirs give intermediate folders the default mode.
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)  # exist_ok: another run may have made it meanwhile


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
