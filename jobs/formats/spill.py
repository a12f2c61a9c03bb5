"""A file's bytes on their way to disk: in memory while small, then in a temp file; and text, a chunk at a time.

Most ledger dates make files of a few KB. Kept in memory, such a file costs a handful of system
calls when it is saved, instead of one for every write and seek (a zip seeks back to each member's
header); with dozens of worker threads every system call also hands the GIL over. A larger one goes
on in a temp file beside the report, so memory stays flat however large it grows:

    SpillFile    a report's (or manifest's) bytes: saved by writing the temp file, syncing it and
                 renaming it onto the path, so a reader or a re-run only ever sees a complete file,
                 and a run that fails (or is killed) leaves the previous file untouched
    ScratchFile  bytes written once, read back once, then thrown away (an XLSX sheet's rows until
                 the sheet is closed, a camt.053 batch's payments until its date ends)
    TextBuffer   text a writer makes, passed on to its SpillFile as UTF-8 every CHUNK characters:
                 few calls, flat memory

Both files keep IN_MEMORY bytes in memory before they go on disk, in the report's folder only.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

IN_MEMORY = 1 << 18  # bytes of a file kept in memory before it goes on in its temp file
CHUNK = 1 << 16  # characters of text gathered before they are encoded and passed on: few calls, flat memory
# An encoding error handler: U+FFFD for each character UTF-8 cannot hold. As bytes: the UTF-8 encoder takes
# only ASCII from a handler that answers with text.
UTF8_OR_FFFD = "report-export-fffd"


def _fffd(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "\ufffd".encode() * (error.end - error.start), error.end


codecs.register_error(UTF8_OR_FFFD, _fffd)
# mkstemp(prefix=".<name>.", suffix=".tmp") adds 8 characters from this set.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _MemoryFirst:
    """The bytes in memory up to IN_MEMORY, then in the file `_on_disk` makes (the memory's bytes copied over)."""

    def __init__(self) -> None:
        self._memory: io.BytesIO | None = io.BytesIO()  # None once on disk
        self._file: io.BytesIO | io.BufferedRandom = self._memory

    def write(self, data: bytes, /) -> int:
        written = self._file.write(data)
        if self._memory is not None and self._memory.tell() > IN_MEMORY:
            memory, self._memory = self._memory, None
            self._file = self._on_disk()
            self._file.write(memory.getbuffer())
            self._file.seek(memory.tell())
        return written

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def flush(self) -> None:
        self._file.flush()

    def _on_disk(self) -> io.BufferedRandom:
        raise NotImplementedError


class SpillFile(_MemoryFirst):
    """A report's bytes, as a file object; save() puts them at their path, discard() drops them."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path
        self._temp: Path | None = None

    def save(self, mode: int) -> tuple[int, str]:
        """Sync the bytes to disk and rename them onto the path; returns their size and SHA-256."""
        if self._memory is not None:  # still in memory: the whole file in one write
            data = self._memory.getvalue()
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
        assert self._temp is not None  # made by _create, in both branches
        os.replace(self._temp, self._path)
        self._temp = None
        return size, digest

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the last flush too; the file goes anyway
            self._file.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def _on_disk(self) -> io.BufferedRandom:
        return os.fdopen(self._create(), "w+b")

    def _create(self) -> int:
        """The temp file, created 0600 beside the report (and the folders, 0700, if missing)."""
        folder, prefix = self._path.parent, f".{self._path.name}."
        try:
            fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        except FileNotFoundError:
            make_folders(folder)
            fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        self._temp = Path(name)
        return fd


class ScratchFile(_MemoryFirst):
    """Bytes written once, read back once, then thrown away.

    On disk it is an unnamed temp file in the report's folder (so nothing is written anywhere else). Unnamed,
    it takes no cleaning up: the system frees it with its last handle, also when the run is killed.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def close(self) -> None:
        self._file.close()

    def _on_disk(self) -> io.BufferedRandom:
        try:
            return tempfile.TemporaryFile(dir=self._folder)
        except FileNotFoundError:
            make_folders(self._folder)
            return tempfile.TemporaryFile(dir=self._folder)


class TextBuffer(io.StringIO):
    """Text for `sink`, passed on as UTF-8 (`errors`: the encoding's error handler) by pass_on().

    A text file object itself, so csv.writer writes into it at C speed; writers call pass_on_if_full()
    after each row, and pass_on() where the bytes must be in the sink (before seeking it, at the end).
    """

    def __init__(self, sink: Sink, errors: str = "strict") -> None:
        super().__init__(newline="")
        self._sink = sink
        self._errors = errors

    def pass_on_if_full(self) -> None:
        if self.tell() > CHUNK:
            self.pass_on()

    def pass_on(self) -> None:
        self._sink.write(self.getvalue().encode("utf-8", self._errors))
        self.clear()

    def clear(self) -> None:
        """Drop what is gathered, unwritten."""
        self.seek(0)
        self.truncate()


def write_atomically(path: Path, data: bytes, mode: int) -> str:
    """`data` as the file at `path`, complete or not at all (the folder is not synced); returns its SHA-256."""
    file = SpillFile(path)
    try:
        file.write(data)
        return file.save(mode)[1]
    except BaseException:
        file.discard()
        raise


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a killed run left under `folder`; call it before writers start."""
    removed = 0
    for candidate in Path(folder).rglob(".*.tmp"):
        if _TEMP_NAME.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed += 1
    return removed


def make_folders(folder: Path) -> None:
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
