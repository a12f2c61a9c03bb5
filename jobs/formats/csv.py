"""CSV report files: for import tools and templates.

The preset (jobs.presets) chooses the columns, headers, delimiter, decimal mark and dates; the
``standard`` preset is the exact record (text as served, amounts as jobs.money writes them). A lone
surrogate, which UTF-8 cannot hold, is written as U+FFFD; the exporter has already replaced and counted
them (``entries.replace_lone_surrogates``).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from jobs.entries import Row
from jobs.formats.base import ReportFile
from jobs.formats.spill import CHUNK, UTF8_OR_FFFD, TextBuffer
from jobs.presets import CsvFormat, row_formatter
from jobs.reconcile import DateSummary


class CsvFile(ReportFile):
    def __init__(self, path: Path, mode: int, fmt: CsvFormat, timezone: ZoneInfo | None) -> None:
        self._format_row = row_formatter(fmt, timezone)  # first: a missing time zone leaves nothing behind
        super().__init__(path, mode)
        self._text = TextBuffer(self._bytes, UTF8_OR_FFFD)  # rows gathered as text, passed on a chunk at a time
        self._csv = csv.writer(self._text, delimiter=fmt.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        if fmt.bom:
            self._bytes.write(codecs.BOM_UTF8)
        self._csv.writerow(fmt.headers)

    def write(self, rows: Iterable[Row]) -> None:
        text, writerow, format_row = self._text, self._csv.writerow, self._format_row
        for row in rows:
            writerow(format_row(row))
            self.rows += 1
            if text.tell() > CHUNK:  # TextBuffer.pass_on_if_full, without a call per row
                text.pass_on()
        text.pass_on()

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._text.pass_on()
