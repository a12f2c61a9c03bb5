"""ReportFile: what every report file is, whatever its format.

A report is started at its path, written, and then either committed (it appears there complete,
with its size and SHA-256 for the manifest) or aborted (nothing appears, and a file already at
the path is left untouched). Its bytes go to a SpillFile (jobs.formats.spill) until then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from jobs.entries import Row
from jobs.formats.spill import SpillFile, fsync_folder
from jobs.reconcile import DateSummary


class ReportFile:
    """The report's bytes: in memory while small, then in a temp file; renamed onto the path on commit."""

    def __init__(self, path: Path, mode: int) -> None:
        self.rows = 0  # data rows written so far
        self.path = Path(path)
        self.size = 0  # bytes, once committed
        self.sha256 = ""  # hex digest, once committed
        self._mode = mode
        self._bytes = SpillFile(self.path)
        self._ended = False  # committed or aborted

    def write(self, rows: Iterable[Row]) -> None:
        raise NotImplementedError

    def commit(self, summaries: Sequence[DateSummary] = (), *, sync_folder: bool = True) -> int:
        """Make the file appear complete at its path; return the number of data rows.

        `summaries` (the file's dates, reconciled) become the XLSX summary sheet; CSV has none.
        `sync_folder=False` leaves the folder's fsync to the caller, who renames more files into
        the same folder and syncs it once after the last (see manifest.write_manifest).
        """
        if self._ended:
            raise RuntimeError(f"{self.path}: report already committed or aborted")
        self._finish(summaries)
        self.size, self.sha256 = self._bytes.save(self._mode)
        self._ended = True
        if sync_folder:
            fsync_folder(self.path.parent)  # makes the rename itself survive a power cut
        return self.rows

    def abort(self) -> None:
        if self._ended:
            return
        self._discard()  # first: what it holds may still write to the file
        self._bytes.discard()
        self._ended = True

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        """Write whatever must follow the last row."""

    def _discard(self) -> None:
        """Release what an uncommitted report holds besides its bytes; must not raise."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()
