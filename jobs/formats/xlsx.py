"""XLSX report files: for people in Excel.

Always every column (the GDPR ones on request), ``time`` as a date-time in the ledger's time zone,
and a ``summary`` sheet first when commit() is given the dates' summaries. What the sheets hold is in
jobs.formats.sheets; how the workbook is written (directly, streamed, without openpyxl) in
jobs.formats.workbook and jobs.formats.cells. A sheet holds at most ``sheet_row_limit`` rows with its
header; later rows go on to ``entries (2)``, ``entries (3)``... (sooner only if a sheet's XML would
pass 4 GiB, which takes rows of about 4 KB each).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, cast
from zoneinfo import ZoneInfo

from jobs.entries import Row
from jobs.formats.base import ReportFile
from jobs.formats.sheets import entries_header, entry_renderer, entry_widths, write_summary
from jobs.formats.spill import CHUNK, ScratchFile
from jobs.formats.workbook import Package
from jobs.reconcile import DateSummary

EXCEL_ROW_LIMIT = 1_048_576


class XlsxFile(ReportFile):
    def __init__(
        self, path: Path, mode: int, sheet_row_limit: int, columns: tuple[str, ...], zone: ZoneInfo, heading: str
    ) -> None:
        if not 2 <= sheet_row_limit <= EXCEL_ROW_LIMIT:
            raise ValueError(f"sheet_row_limit must be 2..{EXCEL_ROW_LIMIT}, got {sheet_row_limit}")
        super().__init__(path, mode)
        self._limit = sheet_row_limit
        self._columns = columns
        self._render = entry_renderer(columns, zone)
        folder = self.path.parent
        # A file object to ZipFile, which writes, seeks and tells, and never closes a file it was given.
        self._package = Package(
            cast("IO[bytes]", self._bytes),
            heading=heading,
            footer=f"Times in {zone.key}",
            scratch=lambda: ScratchFile(folder),
        )
        self._entry_sheets = 0
        # Rows not yet handed to the zip: every CHUNK characters, as a TextBuffer would, but counted here, for the
        # sheet part's room.
        self._pending: list[str] = []
        self._new_sheet()

    def write(self, rows: Iterable[Row]) -> None:
        render, pending = self._render, self._pending
        for row in rows:
            if self._sheet_rows == self._limit:
                self._next_sheet()
            xml = render(row, self._sheet_rows + 1)
            self._room -= len(xml)
            if self._room < 0:  # a sheet part nearing 4 GiB: next sheet (rows of ~4 KB each would get there)
                self._next_sheet()
                xml = render(row, 2)
                self._room -= len(xml)
            pending.append(xml)
            self._sheet_rows += 1
            self.rows += 1
            if self._room < self._flush_at:
                self._flush()

    def _flush(self) -> None:
        self._sheet.write("".join(self._pending))
        self._pending.clear()
        # Counted in characters, at the 4 bytes UTF-8 may take for one.
        self._room = self._sheet.room // 4
        self._flush_at = self._room - CHUNK

    def _new_sheet(self) -> None:
        self._entry_sheets += 1
        title = "entries" if self._entry_sheets == 1 else f"entries ({self._entry_sheets})"
        self._sheet = self._package.add_sheet(title, entry_widths(self._columns), header_row=True)
        self._pending.append(entries_header(self._columns))
        self._sheet_rows = 1
        self._flush()

    def _end_sheet(self) -> None:
        self._flush()
        self._sheet.close(rows=self._sheet_rows, autofilter=True)

    def _next_sheet(self) -> None:
        self._end_sheet()
        self._new_sheet()

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._end_sheet()
        if summaries:
            write_summary(self._package, summaries)
        self._package.close()

    def _discard(self) -> None:
        self._package.abandon()
