"""The state's one SQLite connection: opened private and up to date, read beside a writer, a full disk told as such.

A row is written only after the files it describes are on disk for good (the writers fsync and rename
before the stores are called), so a run killed at any moment leaves a state that under-reports, never
over-reports: the next run redoes at most the dates that were in flight, replacing their files atomically.

Each write commits at once (autocommit), unless a run groups them with batched() or a store needs several
at once (transaction()). A full file system, however SQLite meets it, is DiskFull (exit 6) with the words
"disk full", never SQLite's "cannot commit - no transaction is active" that followed it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError, DiskFull
from jobs.private import FILE, private_file, private_folder, private_path
from jobs.state.migrations import MIGRATIONS, SCHEMA_VERSION

# SQLite says "disk I/O error", not "database or disk is full", where it cannot grow its shared-memory file
# or sync: such an error on a file system with less than this left is a full disk too.
LOW_SPACE = 1 << 20
WHERE = "point [state] path or --state at another file"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Db:
    """The connection all stores of one State share, with a full disk told as such."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection, self.path = connection, path

    def execute(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self.connection.execute(sql, args)
        except sqlite3.OperationalError as exc:
            self.raise_if_full(exc)
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> sqlite3.Cursor:
        try:
            return self.connection.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            self.raise_if_full(exc)
            raise

    def value(self, sql: str, args: Sequence[object] = ()) -> Any:
        """The first column of the first row (None if there is none)."""
        row = self.execute(sql, args).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes as one: the write lock taken at once (BEGIN IMMEDIATE), all or nothing."""
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    @contextmanager
    def batched(
        self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> Iterator[Callable[[], None]]:
        """Group writes into one commit per `seconds`: one commit per ledger date would make the
        state the slowest part of a fast run. Yields `tick`, to call after each recorded date.
        Whatever was recorded is committed on the way out, also on failure; a SIGKILL loses at
        most the last `seconds` of rows, and the next run redoes those dates."""
        last = clock()
        self.execute("BEGIN")

        def tick() -> None:
            nonlocal last
            if clock() - last >= seconds:
                self.execute("COMMIT")
                self.execute("BEGIN")
                last = clock()

        try:
            yield tick
        finally:
            # SQLite ends the transaction itself on some errors (a full disk among them): a COMMIT then would
            # hide the error that ended it behind "cannot commit - no transaction is active".
            if self.connection.in_transaction:
                self.execute("COMMIT")

    def raise_if_full(self, exc: sqlite3.Error) -> None:
        code = exc.sqlite_errorcode & 0xFF
        if code == sqlite3.SQLITE_FULL or code == sqlite3.SQLITE_IOERR and low_space(self.path.parent):
            raise full(self.path, str(exc)) from exc

    def close(self) -> None:
        self.connection.close()


def full(path: Path, why: str) -> DiskFull:
    return DiskFull(
        f"disk full: the state {path} cannot be written ({why}): free space on its file system, then run again; "
        "what was recorded is kept, and the next run redoes any date whose files were written but not recorded"
    )


def low_space(folder: Path) -> bool:
    try:
        found = os.statvfs(folder)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < LOW_SPACE


def open_db(path: Path) -> Db:
    """The state at `path` for reading and writing, created private or brought up to date."""
    try:
        private(path)
        db = Db(sqlite3.connect(path, timeout=30, isolation_level=None), path)
        with contextlib.ExitStack() as undo:
            undo.callback(db.close)
            db.execute("PRAGMA journal_mode=WAL")  # `status` can read while a run writes
            # NORMAL, not FULL: a power cut may lose the last few rows, never corrupt the file, and a
            # lost row only makes the next run redo that date (its files are replaced atomically).
            # State may under-report, never over-report; FULL would fsync once per ledger date.
            db.execute("PRAGMA synchronous=NORMAL")
            migrate(db)
            # A state that cannot be written (read-only file or folder, an immutable file) fails here, before
            # any run starts: SQLite opens such a file read-only without a word and fails only at the first write.
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            undo.pop_all()
        return db
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise full(path, exc.strerror or str(exc)) from None
        raise cannot_open(path, exc) from None
    except sqlite3.OperationalError as exc:
        raise cannot_open(path, exc) from None
    except sqlite3.Error as exc:  # not a database, damaged, or of a newer release
        raise ConfigError(
            f"{path} is not a state this release can use ({exc}); it is left as it is: {WHERE}, or move it "
            "aside and rebuild one from the manifests with report-export state rebuild"
        ) from None


def cannot_open(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(f"cannot open state {path}: {exc}; make it and its folder writable for this user, or {WHERE}")


def private(path: Path) -> None:
    """Folder 0700, file 0600 (SQLite gives its -wal and -shm files the file's mode): see jobs.private."""
    private_folder(path.parent, path.name)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, FILE)
    try:
        private_file(fd, path)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        private_path(Path(f"{path}{suffix}"))


def reading(path: Path) -> Db:
    """A read-only connection to a state of this version, for many short reads while a run writes
    (WAL lets readers in beside the writer); any other state is opened as usual first."""
    uri = f"{path.absolute().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return Db(connection, path)
        connection.close()
    except sqlite3.Error:
        pass
    open_db(path).close()  # creates or upgrades it, or says what is wrong
    return Db(sqlite3.connect(uri, uri=True, timeout=30), path)


def snapshot(path: Path) -> Db:
    """The state as it is, for reading only: copied into memory and upgraded there, so that looking
    (`status`) never creates, upgrades or locks the file. Missing, empty or foreign files are errors."""
    where = "pass --state, or check [state] path"
    if not path.is_file():
        raise ConfigError(f"no state at {path}: no run has written one there yet; {where}")
    if path.stat().st_size == 0:
        raise ConfigError(f"the state {path} is an empty file: no run has written to it yet; {where}")
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        try:
            with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as source:
                source.backup(memory)
        except sqlite3.OperationalError:  # read-only folder: WAL cannot make its -shm file; nothing writes here
            with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?immutable=1", uri=True)) as source:
                source.backup(memory)
        tables = {name for (name,) in memory.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = memory.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 or not {"dates", "runs"} <= tables:
            raise sqlite3.DatabaseError("it holds none of the tables report-export writes")
        db = Db(memory, path)
        migrate(db)
    except sqlite3.Error as exc:
        memory.close()
        raise ConfigError(f"{path} is not a report-export state ({exc}); {where}") from None
    return db


def migrate(db: Db) -> None:
    version = int(db.value("PRAGMA user_version"))
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"schema version {version} is newer than this release knows")
    for step in range(version, SCHEMA_VERSION):
        try:
            db.connection.executescript(f"BEGIN; {MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; COMMIT;")
        except sqlite3.OperationalError as exc:
            db.raise_if_full(exc)
            raise
