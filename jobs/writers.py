"""Report files (CSV and XLSX), streamed and written atomically.

A report's bytes stay in memory while it is small and go on in a hidden temp file
beside the final path once it is not (``SpillFile``); commit() writes and fsyncs
the temp file and renames it onto the path, so a reader or a re-run only ever
sees a complete file, and a run that fails (or is killed) leaves the previous
file untouched. commit() also gives the file's size and SHA-256 for its manifest.

CSV is for import tools and templates: its preset (``jobs.presets``) chooses the
columns, headers, delimiter, decimal mark and dates; the ``standard`` preset is
the exact record (text as served, amounts as jobs.money writes them).
XLSX is for people in Excel: always every column (the GDPR ones on request),
``time`` as a date-time in the ledger's time zone, and a ``summary`` sheet first
when commit() is given the dates' summaries. What the sheets hold is in
``jobs.sheets``; how the XLSX is written (directly, streamed, without openpyxl) in
``jobs.xlsx``. Both write a lone surrogate, which UTF-8 cannot hold, as U+FFFD;
the exporter has already replaced and counted them (``entries.replace_lone_surrogates``).
A sheet holds at most ``sheet_row_limit`` rows with its header; later rows go
on to ``entries (2)``, ``entries (3)``... (sooner only if a sheet's XML would
pass 4 GiB, which takes rows of about 4 KB each).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO
from zoneinfo import ZoneInfo

from jobs.accounts import Chart
from jobs.entries import COLUMNS, GDPR_COLUMNS, Row
from jobs.presets import STANDARD, CsvFormat, row_formatter
from jobs.reconcile import DateSummary
from jobs.sheets import entries_header, entry_renderer, entry_widths, write_summary
from jobs.xlsx import Package

FORMATS = ("csv", "xlsx")  # entry lists, for every topic
BOOKKEEPING = ("gbat10", "camt053")  # vouchers and statements made of the entries (topic funds)
EXCEL_ROW_LIMIT = 1_048_576

# mkstemp(prefix=".<name>.", suffix=".tmp") adds 8 characters from this set.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_CHUNK = 1 << 16  # characters of rows gathered before they are encoded and passed on: few calls, flat memory
IN_MEMORY = 1 << 18  # bytes of a report kept in memory before it goes on in its temp file (see SpillFile)
# An encoding error handler: U+FFFD for each character UTF-8 cannot hold. As bytes: the UTF-8 encoder takes
# only ASCII from a handler that answers with text.
_UTF8_OR_FFFD = "report-export-fffd"
codecs.register_error(_UTF8_OR_FFFD, lambda error: ("\ufffd".encode() * (error.end - error.start), error.end))


def open_report(
    fmt: str,
    path: Path,
    *,
    mode: int = 0o600,
    sheet_row_limit: int = EXCEL_ROW_LIMIT,
    csv_format: CsvFormat = STANDARD,
    timezone: ZoneInfo | None = None,
    gdpr: bool = False,
    chart: Chart | None = None,
    iban: str | None = None,
    heading: str = "",
) -> ReportFile:
    """Start a report at `path` (created only on commit) in format `fmt`.

    `timezone` is the ledger's. CSV: `csv_format` says what the file shows (its columns, GDPR ones
    included, come from it); presets that show local time need `timezone`. XLSX: `gdpr` adds the
    GDPR columns after the standard ones; `time` is shown in `timezone` (UTC if None); `heading`
    (the ledger, topic and dates) tops every printed page. GBAT10 vouchers post to the ledger's
    `chart` (jobs.gbat10); a camt.053 statement (jobs.camt053) states its period in `timezone` from the
    chart's cutoff hour, and names the account by `iban` (the ledger's id without one).
    """
    if fmt == "csv":
        return _CsvReport(path, mode, csv_format, timezone)
    if fmt == "xlsx":
        columns = COLUMNS + GDPR_COLUMNS if gdpr else COLUMNS
        return _XlsxReport(path, mode, sheet_row_limit, columns, timezone or ZoneInfo("UTC"), heading)
    if fmt == "gbat10":
        from jobs.gbat10 import VoucherFile  # here: it builds on ReportFile below

        return VoucherFile(path, mode, chart)
    if fmt == "camt053":
        from jobs.camt053 import StatementFile

        return StatementFile(path, mode, timezone, chart, iban)
    raise ValueError(f"unknown report format {fmt!r}, expected one of {FORMATS + BOOKKEEPING}")


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a killed run left under `folder`; call it before writers start."""
    removed = 0
    for candidate in Path(folder).rglob(".*.tmp"):
        if _TEMP_NAME.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed += 1
    return removed


class ReportFile:
    """The report's bytes: in memory while small, then in a temp file; renamed onto the path on commit."""

    def __init__(self, path: Path, mode: int) -> None:
        self.rows = 0  # data rows written so far
        self.path = Path(path)
        self.size = 0  # bytes, once committed
        self.sha256 = ""  # hex digest, once committed
        self._mode = mode
        self._bytes: SpillFile | None = SpillFile(self.path)

    def write(self, rows: Iterable[Row]) -> None:
        raise NotImplementedError

    def commit(self, summaries: Sequence[DateSummary] = (), *, sync_folder: bool = True) -> int:
        """Make the file appear complete at its path; return the number of data rows.

        `summaries` (the file's dates, reconciled) become the XLSX summary sheet; CSV has none.
        `sync_folder=False` leaves the folder's fsync to the caller, who renames more files into
        the same folder and syncs it once after the last (see manifest.write_manifest).
        """
        if self._bytes is None:
            raise RuntimeError(f"{self.path}: report already committed or aborted")
        self._finish(summaries)
        self.size, self.sha256 = self._bytes.save(self._mode)
        self._bytes = None
        if sync_folder:
            fsync_folder(self.path.parent)  # makes the rename itself survive a power cut
        return self.rows

    def abort(self) -> None:
        if self._bytes is None:
            return
        self._discard()  # first: what it holds may still write to the file
        self._bytes.discard()
        self._bytes = None

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        """Write whatever must follow the last row."""

    def _discard(self) -> None:
        """Release what an uncommitted report holds besides its bytes; must not raise."""

    def __enter__(self) -> ReportFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class SpillFile:
    """A report's bytes, as a file object: in memory up to IN_MEMORY bytes, then in its temp file.

    Most ledger dates make files of a few KB. Kept in memory, such a file costs a handful of
    system calls when it is saved, instead of one for every write and seek (a zip seeks back to
    each member's header); with dozens of worker threads every system call also hands the GIL
    over. A larger file goes on in a hidden temp file beside the report, so memory stays flat.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] = io.BytesIO()
        self._temp: Path | None = None

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        if self._temp is None and self._file.tell() > IN_MEMORY:
            self._spill()
        return written

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def flush(self) -> None:
        self._file.flush()

    def save(self, mode: int) -> tuple[int, str]:
        """Sync the bytes to disk and rename them onto the path; returns their size and SHA-256."""
        if self._temp is None:  # still in memory: the whole file in one write
            data = self._file.getvalue()
            fd = self._create()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            size, digest = len(data), hashlib.sha256(data).hexdigest()
        else:
            self._file.flush()
            os.fsync(self._file.fileno())
            os.fchmod(self._file.fileno(), mode)
            size = self._file.seek(0, os.SEEK_END)
            self._file.seek(0)
            digest = hashlib.file_digest(self._file, "sha256").hexdigest()
        self._file.close()
        os.replace(self._temp, self._path)
        self._temp = None
        return size, digest

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the last flush too; the file goes anyway
            self._file.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def _spill(self) -> None:
        memory, self._file = self._file, os.fdopen(self._create(), "w+b")
        self._file.write(memory.getbuffer())
        self._file.seek(memory.tell())

    def _create(self) -> int:
        """The temp file, created 0600 beside the report (and the folders, 0700, if missing)."""
        folder, prefix = self._path.parent, f".{self._path.name}."
        try:
            fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        except FileNotFoundError:
            _make_folders(folder)
            fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        self._temp = Path(name)
        return fd


class ScratchFile:
    """Bytes written once, read back once, then thrown away: an XLSX sheet's rows until the sheet is closed.

    In memory up to IN_MEMORY bytes, then in an unnamed temp file in the report's folder (so memory
    stays flat, and nothing is written anywhere else). Unnamed, it takes no cleaning up: the system
    frees it with its last handle, also when the run is killed.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._file: IO[bytes] = io.BytesIO()
        self._in_memory = True

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        if self._in_memory and self._file.tell() > IN_MEMORY:
            memory, self._file = self._file, self._unnamed()
            self._file.write(memory.getbuffer())
            self._in_memory = False
        return written

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def close(self) -> None:
        self._file.close()

    def _unnamed(self) -> IO[bytes]:
        try:
            return tempfile.TemporaryFile(dir=self._folder)
        except FileNotFoundError:
            _make_folders(self._folder)
            return tempfile.TemporaryFile(dir=self._folder)


class _CsvReport(ReportFile):
    def __init__(self, path: Path, mode: int, fmt: CsvFormat, timezone: ZoneInfo | None) -> None:
        self._format_row = row_formatter(fmt, timezone)  # first: a missing time zone leaves nothing behind
        super().__init__(path, mode)
        self._text = io.StringIO(newline="")  # rows gathered as text, passed on as UTF-8 a chunk at a time
        self._csv = csv.writer(self._text, delimiter=fmt.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        if fmt.bom:
            self._bytes.write(codecs.BOM_UTF8)
        self._csv.writerow(fmt.headers)

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self._csv.writerow(self._format_row(row))
            self.rows += 1
            if self._text.tell() > _CHUNK:
                self._pass_on()
        self._pass_on()

    def _pass_on(self) -> None:
        self._bytes.write(self._text.getvalue().encode("utf-8", _UTF8_OR_FFFD))
        self._text.seek(0)
        self._text.truncate()

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._pass_on()


class _XlsxReport(ReportFile):
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
        self._package = Package(self._bytes, heading=heading, footer=f"Times in {zone.key}",
                                scratch=lambda: ScratchFile(folder))  # fmt: skip
        self._entry_sheets = 0
        self._pending: list[str] = []  # rows not yet handed to the zip
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
        self._flush_at = self._room - _CHUNK

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


def _make_folders(folder: Path) -> None:
    # Path.mkdir(parents=True) and os.makedirs give intermediate folders the default mode.
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)  # exist_ok: another run may have made it meanwhile


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
