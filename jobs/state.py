"""What has been done, in SQLite: exported dates, open dates, feed positions, runs.

A row is written only after the files it describes are on disk for good (the
writers fsync and rename before we are called), so a run killed at any moment
leaves a state that under-reports, never over-reports: the next run redoes at
most the one date that was in flight, replacing its files atomically.

Each write commits at once (autocommit), unless a run groups them with batched().
The schema version is SQLite's user_version; `_MIGRATIONS[n]` brings version n
to n+1, so a later release adds a step instead of rewriting this file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs import users
from jobs.errors import ConfigError
from jobs.private import FILE, private_file, private_folder, private_path

_MIGRATIONS = [
    """
    CREATE TABLE ledgers (
        ledger_id TEXT PRIMARY KEY,
        start_date TEXT NOT NULL,      -- first ledger date catch-up exports
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        withdrawn_at TEXT              -- set while the keys cannot read it
    );
    CREATE TABLE dates (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('exported', 'open', 'unavailable', 'abandoned')),
        pending_since TEXT,            -- when a run first found it open or unavailable
        tries INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        rows INTEGER,
        sums TEXT,                     -- JSON {entryType: sum of amounts in minor units}
        files TEXT,                    -- JSON [{"path": ..., "sha256": ...}]
        updated_at TEXT NOT NULL,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date)
    );
    CREATE TABLE feeds (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        cursor TEXT,
        next_batch INTEGER NOT NULL DEFAULT 1,
        entries INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (ledger_id, topic)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,                  -- ok, nothing to do, pending, failed, interrupted; NULL: killed
        exit_code INTEGER,
        counts TEXT,                   -- JSON
        error TEXT
    );
    """,
    # 2: no date is given up any more. An 'abandoned' date goes back to the queue as what it was
    # (the detail says "still open after ..." or "still unavailable after ..."), and each pending
    # date remembers the day it was last tried, so an overdue one is retried once a day.
    """
    CREATE TABLE dates_v2 (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('exported', 'open', 'unavailable')),
        pending_since TEXT,            -- when a run first found it open or unavailable
        last_try TEXT,                 -- the run's own date (YYYY-MM-DD) when it last asked the API
        tries INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        rows INTEGER,
        sums TEXT,                     -- JSON {entryType: sum of amounts in minor units}
        files TEXT,                    -- JSON [{"path": ..., "sha256": ...}]
        updated_at TEXT NOT NULL,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date)
    );
    INSERT INTO dates_v2 (ledger_id, topic, ledger_date, status, pending_since, last_try, tries, detail, rows,
                          sums, files, updated_at, run_id)
        SELECT ledger_id, topic, ledger_date,
               CASE WHEN status != 'abandoned' THEN status
                    WHEN detail LIKE 'still unavailable%' THEN 'unavailable' ELSE 'open' END,
               pending_since, NULL, tries, detail, rows, sums, files, updated_at, run_id
        FROM dates;
    DROP TABLE dates;
    ALTER TABLE dates_v2 RENAME TO dates;
    """,
    # 3: the web page. Who started a run and what it covered and wrote; a date's failed checks; the
    # page's users (scrypt/argon2 hashes only), failed sign-ins for throttling, and what each user did.
    """
    ALTER TABLE runs ADD COLUMN user TEXT;          -- the web user, or the account a command ran as
    ALTER TABLE runs ADD COLUMN request TEXT;       -- JSON: period, ledgers, topics, formats, ...
    ALTER TABLE runs ADD COLUMN files TEXT;         -- JSON: the report files the run wrote
    ALTER TABLE dates ADD COLUMN checks_failed INTEGER;
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        changed_at TEXT NOT NULL
    );
    CREATE TABLE signin_failures (
        at REAL NOT NULL,                          -- seconds on the web server's clock
        user TEXT NOT NULL,
        address TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,                      -- export, download, sign-in, sign-out
        run_id INTEGER,
        detail TEXT
    );
    CREATE TABLE web (
        key TEXT PRIMARY KEY,                      -- session_secret: signs the page's cookies
        value TEXT NOT NULL
    );
    """,
    # 4: notifications (jobs/notify.py). What has been told and on which day, so that a lasting condition
    # is told once a day and not every hour; and the outbox, where a notice waits until its channel took it.
    """
    CREATE TABLE notify_conditions (
        key TEXT PRIMARY KEY,                      -- e.g. overdue 302321 funds 2026-10-02, withdrawn 5551234
        since TEXT NOT NULL,                       -- the run's date (YYYY-MM-DD) when it was first seen
        told TEXT NOT NULL                         -- the run's date of the last notice that named it
    );
    CREATE TABLE notify_outbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,                     -- email or webhook
        run_id INTEGER,
        created_at TEXT NOT NULL,
        notice TEXT NOT NULL,                      -- JSON, as the webhook posts it; the mail is made from it
        tries INTEGER NOT NULL DEFAULT 0,
        tried_at TEXT,
        error TEXT                                 -- why the last try failed; never a secret
    );
    """,
    # 5: the page's sessions are kept here, so the server can end them (sign-out, a new password, a removed
    # user, a new signing key); every sign-in, failed or not, for whoever administers the page and for
    # throttling; each ledger's description as last seen, for the page while the API cannot be reached;
    # and the dates each run left open or unavailable (a page export records no dates in the catch-up).
    """
    CREATE TABLE web_sessions (
        id TEXT PRIMARY KEY,                       -- SHA-256 of the cookie's session id, never the id itself
        user TEXT NOT NULL,
        created_at REAL NOT NULL,                  -- seconds on the web server's clock
        seen_at REAL NOT NULL,
        address TEXT NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions (user);
    DROP TABLE signin_failures;
    CREATE TABLE signins (
        at REAL NOT NULL,                          -- seconds on the web server's clock
        user TEXT NOT NULL,                        -- the name as compared: normalised and case-folded
        address TEXT NOT NULL,
        ok INTEGER NOT NULL,
        counted INTEGER NOT NULL DEFAULT 1         -- a failure still counted for throttling
    );
    CREATE INDEX signins_at ON signins (at);
    CREATE TABLE ledger_names (
        ledger_id TEXT PRIMARY KEY,
        description TEXT NOT NULL,                 -- JSON: owner, currency, salesUnits, payoutAccount
        seen_at TEXT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN left_pending TEXT; -- JSON: [{ledgerId, topic, date, status, detail}]
    """,
    # 6: files that wait (jobs/output.py): a voucher whose chart lacks a key, a statement whose balances do not add
    # up. The date's other files are written and it is 'exported'; every catch-up tries what waits again. (A run's
    # left_pending names what waits too: status 'waiting', with its format; a page export's waiting files only there.)
    # A Vipps settlement XML waits here too, for its payout's dates (jobs/settlements.py).
    """
    CREATE TABLE waiting (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        format TEXT NOT NULL,                      -- gbat10, camt053 or vipps-xml
        reason TEXT NOT NULL,                      -- why it is not written, and what to do
        planned TEXT NOT NULL,                     -- JSON: the formats of the run that found it (the first names
                                                   -- the date's manifest, which it joins when written)
        out TEXT NOT NULL,                         -- the output folder it belongs in
        since TEXT NOT NULL,
        last_try TEXT NOT NULL,                    -- the run's date when it was last tried
        tries INTEGER NOT NULL DEFAULT 1,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date, format)
    );
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)


@dataclass(frozen=True)
class Exported:
    """What the state knows of an exported ledger date without asking the API again."""

    rows: int
    sums: dict[str, int]  # entry type -> sum of amounts, minor units
    checks_failed: int


@dataclass(frozen=True)
class Waiting:
    """A file of an exported date that is not written yet, and why."""

    date: dt.date
    format: str
    reason: str
    planned: tuple[str, ...]
    out: str
    since: str
    tries: int


@dataclass(frozen=True)
class Pending:
    date: dt.date
    status: str
    since: str
    tries: int
    last_try: dt.date | None  # None: not tried since the state was upgraded


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class State:
    def __init__(self, path: Path, db: sqlite3.Connection | None = None) -> None:
        self.path = Path(path)
        if db is not None:  # see snapshot()
            self.db = db
            return
        try:
            self._private()
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")  # `status` can read while a run writes
            # NORMAL, not FULL: a power cut may lose the last few rows, never corrupt the file, and a
            # lost row only makes the next run redo that date (its files are replaced atomically).
            # State may under-report, never over-report; FULL would fsync once per ledger date.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            # A state that cannot be written (read-only file or folder, an immutable file) fails here, before
            # any run starts: SQLite opens such a file read-only without a word and fails only at the first write.
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.OperationalError) as exc:
            raise ConfigError(
                f"cannot open state {self.path}: {exc}; make it and its folder writable for this user, "
                "or point [state] path or --state at another file"
            ) from None
        except sqlite3.Error as exc:  # not a database, damaged, or of a newer release
            raise ConfigError(
                f"{self.path} is not a state this release can use ({exc}); it is left as it is: point "
                "[state] path or --state at another file, or move it aside to start afresh"
            ) from None

    def _private(self) -> None:
        """Folder 0700, file 0600 (SQLite gives its -wal and -shm files the file's mode): see jobs.private."""
        private_folder(self.path.parent, self.path.name)
        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, FILE)
        try:
            private_file(fd, self.path)
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            private_path(Path(f"{self.path}{suffix}"))

    @classmethod
    def reading(cls, path: Path) -> State:
        """A read-only connection to a state of this version, for many short reads while a run writes
        (WAL lets readers in beside the writer); any other state is opened as usual first."""
        path = Path(path)
        try:
            db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None)
            if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return cls(path, db)
            db.close()
        except sqlite3.Error:
            pass
        cls(path).close()  # creates or upgrades it, or says what is wrong
        return cls(path, sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30))

    @classmethod
    def snapshot(cls, path: Path) -> State:
        """The state as it is, for reading only: copied into memory and upgraded there, so that looking
        (`status`) never creates, upgrades or locks the file. Missing, empty or foreign files are errors."""
        path = Path(path)
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
            state = cls(path, memory)
            state._migrate()
        except sqlite3.Error as exc:
            memory.close()
            raise ConfigError(f"{path} is not a report-export state ({exc}); {where}") from None
        return state

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def batched(
        self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> Iterator[Callable[[], None]]:
        """Group writes into one commit per `seconds`: one commit per ledger date would make the
        state the slowest part of a fast run. Yields `tick`, to call after each recorded date.
        Whatever was recorded is committed on the way out, also on failure; a SIGKILL loses at
        most the last `seconds` of rows, and the next run redoes those dates."""
        last = clock()
        self.db.execute("BEGIN")

        def tick() -> None:
            nonlocal last
            if clock() - last >= seconds:
                self.db.execute("COMMIT")
                self.db.execute("BEGIN")
                last = clock()

        try:
            yield tick
        finally:
            self.db.execute("COMMIT")

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version} is newer than this release knows")
        for step in range(version, SCHEMA_VERSION):
            self.db.executescript(f"BEGIN; {_MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; COMMIT;")

    # -- ledgers -------------------------------------------------------------

    def see_ledgers(self, readable: Iterable[str], start: dt.date) -> tuple[list[str], list[str], list[str]]:
        """Record what the keys can read now; return (new, withdrawn, returned) ledger ids."""
        readable, now = list(readable), now_utc()
        known = {row[0]: row[1] for row in self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers")}
        new = [lid for lid in readable if lid not in known]
        returned = [lid for lid in readable if known.get(lid)]
        withdrawn = [lid for lid, gone in known.items() if lid not in set(readable) and not gone]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO ledgers VALUES (?, ?, ?, ?, NULL)", [(lid, start.isoformat(), now, now) for lid in new]
            )
            self.db.executemany(
                "UPDATE ledgers SET last_seen = ?, withdrawn_at = NULL WHERE ledger_id = ?",
                [(now, lid) for lid in readable],
            )
            self.db.executemany(
                "UPDATE ledgers SET withdrawn_at = ? WHERE ledger_id = ?", [(now, lid) for lid in withdrawn]
            )
        return new, withdrawn, returned

    def start_date(self, ledger_id: str) -> dt.date:
        row = self.db.execute("SELECT start_date FROM ledgers WHERE ledger_id = ?", (ledger_id,)).fetchone()
        return dt.date.fromisoformat(row[0])

    # -- ledger dates ----------------------------------------------------------

    def statuses(self, ledger_id: str, topic: str) -> dict[dt.date, str]:
        rows = self.db.execute(
            "SELECT ledger_date, status FROM dates WHERE ledger_id = ? AND topic = ?", (ledger_id, topic)
        )
        return {dt.date.fromisoformat(day): status for day, status in rows}

    def pending(self, ledger_id: str, topic: str) -> list[Pending]:
        rows = self.db.execute(
            "SELECT ledger_date, status, pending_since, tries, last_try FROM dates WHERE ledger_id = ?"
            " AND topic = ? AND status IN ('open', 'unavailable') ORDER BY ledger_date",
            (ledger_id, topic),
        )
        return [
            Pending(dt.date.fromisoformat(d), s, since, tries, dt.date.fromisoformat(last) if last else None)
            for d, s, since, tries, last in rows
        ]

    def record_exported(
        self, key: tuple[str, str, dt.date], rows: int, sums: dict, files: list, run_id: int, checks_failed: int = 0
    ) -> None:
        ledger_id, topic, day = key
        self.db.execute(
            "INSERT OR REPLACE INTO dates (ledger_id, topic, ledger_date, status, pending_since, tries, rows,"
            " sums, files, updated_at, run_id, checks_failed) VALUES (?, ?, ?, 'exported', NULL,"
            " coalesce((SELECT tries FROM dates WHERE ledger_id = ? AND topic = ? AND ledger_date = ?), 0) + 1,"
            " ?, ?, ?, ?, ?, ?)",
            (ledger_id, topic, day.isoformat(), ledger_id, topic, day.isoformat(), rows,
             json.dumps(sums, sort_keys=True), json.dumps(files), now_utc(), run_id, checks_failed),
        )  # fmt: skip

    def record_pending(
        self, key: tuple[str, str, dt.date], status: str, detail: str, run_id: int, tried_on: dt.date
    ) -> None:
        """An open or unavailable date: remember it, since when, and the day it was last asked for,
        so later runs retry it until it closes, however long that takes."""
        ledger_id, topic, day = key
        now = now_utc()
        self.db.execute(
            "INSERT INTO dates (ledger_id, topic, ledger_date, status, pending_since, last_try, tries, detail,"
            " updated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (ledger_id, topic, ledger_date) DO UPDATE SET status = excluded.status,"
            " pending_since = coalesce(dates.pending_since, excluded.pending_since), last_try = excluded.last_try,"
            " tries = dates.tries + 1, detail = excluded.detail, updated_at = excluded.updated_at,"
            " run_id = excluded.run_id WHERE dates.status != 'exported'",
            (ledger_id, topic, day.isoformat(), status, now, tried_on.isoformat(), detail, now, run_id),
        )

    def exported(self, ledger_id: str, topic: str) -> dict[dt.date, Exported]:
        rows = self.db.execute(
            "SELECT ledger_date, rows, sums, coalesce(checks_failed, 0) FROM dates WHERE ledger_id = ? AND topic = ?"
            " AND status = 'exported'",
            (ledger_id, topic),
        )
        return {dt.date.fromisoformat(day): Exported(n or 0, json.loads(sums or "{}"), failed)
                for day, n, sums, failed in rows}  # fmt: skip

    def record_waiting(self, key: tuple[str, str, dt.date], waiting: dict[str, str], tried: Iterable[str],
                       planned: Iterable[str], out: str, run_id: int, tried_on: dt.date) -> None:  # fmt: skip
        """What of an exported date waits, and why; what was tried and no longer waits is cleared."""
        ledger_id, topic, day = key
        now, written = now_utc(), [fmt for fmt in tried if fmt not in waiting]
        self.db.executemany(
            "DELETE FROM waiting WHERE ledger_id = ? AND topic = ? AND ledger_date = ? AND format = ?",
            [(ledger_id, topic, day.isoformat(), fmt) for fmt in written],
        )
        self.db.executemany(
            "INSERT INTO waiting VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (ledger_id, topic, ledger_date,"
            " format) DO UPDATE SET reason = excluded.reason, planned = excluded.planned, out = excluded.out,"
            " last_try = excluded.last_try, tries = waiting.tries + 1, run_id = excluded.run_id",
            [(ledger_id, topic, day.isoformat(), fmt, reason, json.dumps(list(planned)), out, now, tried_on.isoformat(),
              run_id) for fmt, reason in waiting.items()],
        )  # fmt: skip

    def waiting(self, ledger_id: str | None = None, topic: str | None = None) -> dict[tuple[str, str], list[Waiting]]:
        """(ledger, topic) -> what waits, by date (all ledgers and topics unless given)."""
        rows = self.db.execute(
            "SELECT ledger_id, topic, ledger_date, format, reason, planned, out, since, tries FROM waiting"
            " WHERE (? IS NULL OR ledger_id = ?) AND (? IS NULL OR topic = ?) ORDER BY 1, 2, 3, 4",
            (ledger_id, ledger_id, topic, topic),
        )
        found: dict[tuple[str, str], list[Waiting]] = {}
        for lid, top, day, fmt, reason, planned, out, since, tries in rows:
            found.setdefault((lid, top), []).append(
                Waiting(dt.date.fromisoformat(day), fmt, reason, tuple(json.loads(planned)), out, since, tries)
            )
        return found

    def first_seen(self) -> dict[str, str]:
        """Ledger id -> when a run first saw it: the ledger seen first keeps a voucher series two would share."""
        return dict(self.db.execute("SELECT ledger_id, first_seen FROM ledgers"))

    # -- feed ----------------------------------------------------------------

    def feed_position(self, ledger_id: str, topic: str) -> tuple[str | None, int]:
        row = self.db.execute(
            "SELECT cursor, next_batch FROM feeds WHERE ledger_id = ? AND topic = ?", (ledger_id, topic)
        ).fetchone()
        return (row[0], row[1]) if row else (None, 1)

    def record_feed(self, ledger_id: str, topic: str, cursor: str, next_batch: int, entries: int) -> None:
        self.db.execute(
            "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ledger_id, topic) DO UPDATE SET"
            " cursor = excluded.cursor, next_batch = excluded.next_batch,"
            " entries = feeds.entries + excluded.entries, updated_at = excluded.updated_at",
            (ledger_id, topic, cursor, next_batch, entries, now_utc()),
        )

    # -- runs ----------------------------------------------------------------

    def start_run(self, command: str, trigger: str, *, user: str = "", request: str | None = None) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (command, trigger, started_at, user, request) VALUES (?, ?, ?, ?, ?)",
            (command, trigger, now_utc(), user, request),
        )
        return cursor.lastrowid

    def end_run(
        self, run_id: int, outcome: str, exit_code: int, counts: dict, error: str | None = None,
        files: list[str] | None = None, left: list[dict] | None = None,
    ) -> None:  # fmt: skip
        self.db.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ?, counts = ?, error = ?, files = ?,"
            " left_pending = ? WHERE id = ?",
            (now_utc(), outcome, exit_code, json.dumps(counts, sort_keys=True), error,
             json.dumps(files) if files is not None else None, json.dumps(left) if left is not None else None,
             run_id),
        )  # fmt: skip

    # -- the web page: users, their sessions and sign-ins, what each user did --------------------

    def users(self) -> list[dict]:
        rows = self.db.execute("SELECT name, created_at, changed_at FROM users ORDER BY name")
        return [{"name": name, "createdAt": created, "passwordChangedAt": changed} for name, created, changed in rows]

    def password_hash(self, name: str) -> str | None:
        row = self.db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def find_user(self, name: str) -> tuple[str, str] | None:
        """(stored name, password hash) of the user `name` means, compared as users.canonical says."""
        key = users.canonical(name)
        for stored, hashed in self.db.execute("SELECT name, password_hash FROM users"):
            if users.canonical(stored) == key:
                return stored, hashed
        return None

    def add_user(self, name: str, password_hash: str) -> None:
        now = now_utc()
        self.db.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (name, password_hash, now, now))

    def change_password(self, name: str, password_hash: str) -> int:
        """A new password ends every session of the user and forgives its failed sign-ins; returns the
        number of sessions ended."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE users SET password_hash = ?, changed_at = ? WHERE name = ?",
                            (password_hash, now_utc(), name))  # fmt: skip
            self.db.execute("UPDATE signins SET counted = 0 WHERE user = ?", (users.canonical(name),))
            return self.db.execute("DELETE FROM web_sessions WHERE user = ?", (name,)).rowcount

    def remove_user(self, name: str) -> bool:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM web_sessions WHERE user = ?", (name,))
            return self.db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    def start_session(self, key: str, user: str, at: float, address: str) -> None:
        self.db.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)", (key, user, at, at, address))

    def session(self, key: str) -> tuple[str, float, float] | None:
        """(user, created at, last seen at) of a live session record."""
        return self.db.execute("SELECT user, created_at, seen_at FROM web_sessions WHERE id = ?", (key,)).fetchone()

    def touch_session(self, key: str, at: float) -> None:
        self.db.execute("UPDATE web_sessions SET seen_at = ? WHERE id = ?", (at, key))

    def end_session(self, key: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE id = ?", (key,))

    def end_sessions(self, user: str | None = None) -> int:
        """End every session of `user`, or of everyone; returns how many."""
        return self.db.execute("DELETE FROM web_sessions WHERE ? IS NULL OR user = ?", (user, user)).rowcount

    def record_signin(self, at: float, user: str, address: str, ok: bool, forget_before: float) -> None:
        """A sign-in: a success forgives the failures of its name from its address; the log keeps what is
        newer than `forget_before`."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM signins WHERE at < ?", (forget_before,))
            if ok:
                self.db.execute("UPDATE signins SET counted = 0 WHERE user = ? AND address = ?", (user, address))
            self.db.execute("INSERT INTO signins (at, user, address, ok) VALUES (?, ?, ?, ?)",
                            (at, user, address, int(ok)))  # fmt: skip

    def signin_failures(self, user: str, address: str, since: float) -> tuple[int, float, int]:
        """Failed sign-ins still counted: (for this name from this address, the last one's time, from this
        address since `since`)."""
        pair = self.db.execute(
            "SELECT count(*), coalesce(max(at), 0) FROM signins WHERE NOT ok AND counted AND user = ? AND address = ?",
            (user, address),
        ).fetchone()
        (by_address,) = self.db.execute(
            "SELECT count(*) FROM signins WHERE NOT ok AND counted AND address = ? AND at >= ?", (address, since)
        ).fetchone()
        return pair[0], pair[1], by_address

    def signin_log(self, limit: int) -> list[tuple[float, str, str, bool]]:
        """The last sign-ins, newest first: (at, name, address, ok)."""
        rows = self.db.execute("SELECT at, user, address, ok FROM signins ORDER BY at DESC, rowid DESC LIMIT ?",
                               (limit,))  # fmt: skip
        return [(at, user, address, bool(ok)) for at, user, address, ok in rows]

    def audit(self, user: str, action: str, run_id: int | None = None, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO audit (at, user, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now_utc(), user, action, run_id, detail),
        )

    def audit_of_run(self, run_id: int) -> list[dict]:
        rows = self.db.execute(
            "SELECT at, user, action, detail FROM audit WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return [{"at": at, "user": user, "action": action, "detail": detail} for at, user, action, detail in rows]

    def web_secret(self, make: Callable[[], str]) -> str:
        """The key that signs the page's cookies, made once and kept, so sessions outlive a restart."""
        self.db.execute("INSERT OR IGNORE INTO web VALUES ('session_secret', ?)", (make(),))
        return self.db.execute("SELECT value FROM web WHERE key = 'session_secret'").fetchone()[0]

    def rotate_web_secret(self, secret: str) -> int:
        """A new signing key; every session ends with the old one. Returns how many sessions ended."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO web VALUES ('session_secret', ?)", (secret,))
            return self.db.execute("DELETE FROM web_sessions").rowcount

    def remember_ledgers(self, descriptions: list[dict]) -> None:
        """What the API said of each readable ledger (jobs.api.describe_ledger), for pages shown while it
        cannot be reached."""
        now = now_utc()
        self.db.executemany(
            "INSERT INTO ledger_names VALUES (?, ?, ?) ON CONFLICT (ledger_id) DO UPDATE SET"
            " description = excluded.description, seen_at = excluded.seen_at",
            [(d["ledgerId"], json.dumps(d, sort_keys=True), now) for d in descriptions],
        )

    def ledger_names(self) -> list[tuple[dict, str]]:
        """Each ledger's description as last seen, with when, by ledger id."""
        rows = self.db.execute("SELECT description, seen_at FROM ledger_names ORDER BY ledger_id")
        return [(json.loads(description), seen) for description, seen in rows]

    def left_pending(self, run_id: int) -> list[dict]:
        """The dates a run found open or unavailable and that are still pending."""
        rows = self.db.execute(
            "SELECT ledger_id, topic, ledger_date, status, detail FROM dates WHERE run_id = ?"
            " AND status IN ('open', 'unavailable') ORDER BY ledger_id, ledger_date, topic",
            (run_id,),
        )
        names = ("ledgerId", "topic", "date", "status", "detail")
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- notifications: conditions told, and the outbox (jobs/notify.py) --------

    def notify_conditions(self) -> dict[str, tuple[str, str]]:
        """key -> (since, told), both run dates."""
        rows = self.db.execute("SELECT key, since, told FROM notify_conditions")
        return {key: (since, told) for key, since, told in rows}

    def set_notify_conditions(self, conditions: dict[str, tuple[str, str]]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM notify_conditions")
            self.db.executemany("INSERT INTO notify_conditions VALUES (?, ?, ?)",
                                [(key, since, told) for key, (since, told) in conditions.items()])  # fmt: skip

    def failed_runs(self, command: str, since_run: int) -> int:
        """How many runs of `command` failed, from run `since_run` on."""
        query = "SELECT count(*) FROM runs WHERE command = ? AND id >= ? AND outcome = 'failed'"
        return int(self.db.execute(query, (command, since_run)).fetchone()[0])

    def withdrawn_ledgers(self) -> dict[str, str]:
        """Ledger id -> since when the keys cannot read it."""
        return dict(self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers WHERE withdrawn_at IS NOT NULL"))

    def queue_notice(self, channel: str, run_id: int | None, notice: str) -> int:
        return self.db.execute(
            "INSERT INTO notify_outbox (channel, run_id, created_at, notice) VALUES (?, ?, ?, ?)",
            (channel, run_id, now_utc(), notice),
        ).lastrowid

    def outbox(self) -> list[dict]:
        """Notices not delivered yet, oldest first."""
        rows = self.db.execute(
            "SELECT id, channel, run_id, created_at, notice, tries, tried_at, error FROM notify_outbox ORDER BY id"
        )
        names = ("id", "channel", "runId", "createdAt", "notice", "tries", "triedAt", "error")
        return [{**dict(zip(names, row, strict=True)), "notice": json.loads(row[4])} for row in rows]

    def notice_sent(self, notice_id: int) -> None:
        self.db.execute("DELETE FROM notify_outbox WHERE id = ?", (notice_id,))

    def notice_failed(self, notice_id: int, error: str) -> None:
        self.db.execute("UPDATE notify_outbox SET tries = tries + 1, tried_at = ?, error = ? WHERE id = ?",
                        (now_utc(), error, notice_id))  # fmt: skip

    # -- status --------------------------------------------------------------

    def overview(self, today: dt.date, warn_after_days: int) -> list[dict]:
        """Per ledger and topic: last exported date, dates still pending (overdue ones marked), feed position."""
        keys = self.db.execute(
            "SELECT ledger_id, topic FROM dates UNION SELECT ledger_id, topic FROM feeds ORDER BY 1, 2"
        ).fetchall()
        withdrawn = dict(self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers"))
        waiting = self.waiting()
        result = []
        for ledger_id, topic in keys:
            last = self.db.execute(
                "SELECT max(ledger_date) FROM dates WHERE ledger_id = ? AND topic = ? AND status = 'exported'",
                (ledger_id, topic),
            ).fetchone()[0]
            feed = self.db.execute(
                "SELECT next_batch - 1, entries, updated_at FROM feeds WHERE ledger_id = ? AND topic = ?",
                (ledger_id, topic),
            ).fetchone()
            result.append({
                "ledgerId": ledger_id,
                "topic": topic,
                "lastExported": last,
                "pending": [
                    {"date": p.date.isoformat(), "status": p.status, "since": p.since, "tries": p.tries,
                     "lastTry": p.last_try and p.last_try.isoformat(), "ageDays": (today - p.date).days,
                     "overdue": (today - p.date).days > warn_after_days}
                    for p in self.pending(ledger_id, topic)
                ],
                "waiting": [{"date": w.date.isoformat(), "format": w.format, "reason": w.reason, "since": w.since,
                             "tries": w.tries} for w in waiting.get((ledger_id, topic), [])],
                "withdrawnAt": withdrawn.get(ledger_id),
                "checksFailed": [day for (day,) in self.db.execute(
                    "SELECT ledger_date FROM dates WHERE ledger_id = ? AND topic = ? AND checks_failed > 0"
                    " AND status = 'exported' ORDER BY ledger_date", (ledger_id, topic))],
                "feed": {"batches": feed[0], "entries": feed[1], "updatedAt": feed[2]} if feed else None,
            })  # fmt: skip
        return result

    def ledger_progress(self, ledger_ids: list[str], yesterday: dt.date, topics: tuple[str, ...]) -> dict[str, dict]:
        """For the page, per ledger and both topics together: the last exported date, the dates pending
        (open or unavailable), how many ledger dates from its start through `yesterday` were never asked for,
        the dates whose checks failed, and since when its keys cannot read it. A few grouped queries, none
        per ledger, so a page of thousands of ledgers costs the same few queries."""
        wanted = json.dumps(ledger_ids)
        chosen = "ledger_id IN (SELECT value FROM json_each(?))"
        found = {lid: {"lastExported": None, "pending": [], "notAsked": 0, "checksFailed": [], "withdrawnAt": None}
                 for lid in ledger_ids}  # fmt: skip
        for lid, last in self.db.execute(
            f"SELECT ledger_id, max(ledger_date) FROM dates WHERE status = 'exported' AND {chosen} GROUP BY 1",
            (wanted,),
        ):
            found[lid]["lastExported"] = last
        for lid, topic, day, status, since in self.db.execute(
            f"SELECT ledger_id, topic, ledger_date, status, pending_since FROM dates"
            f" WHERE status IN ('open', 'unavailable') AND {chosen} ORDER BY ledger_date, topic",
            (wanted,),
        ):
            found[lid]["pending"].append({"topic": topic, "date": day, "status": status, "since": since})
        for lid, day in self.db.execute(
            f"SELECT ledger_id, ledger_date FROM dates WHERE checks_failed > 0 AND status = 'exported' AND {chosen}"
            " ORDER BY ledger_date",
            (wanted,),
        ):
            found[lid]["checksFailed"].append(day)
        asked = json.dumps(list(topics))
        for lid, start, withdrawn, recorded in self.db.execute(
            "SELECT l.ledger_id, l.start_date, l.withdrawn_at, (SELECT count(*) FROM dates d WHERE d.ledger_id ="
            " l.ledger_id AND d.topic IN (SELECT value FROM json_each(?)) AND d.ledger_date BETWEEN l.start_date"
            f" AND ?) FROM ledgers l WHERE l.{chosen}",
            (asked, yesterday.isoformat(), wanted),
        ):
            days = max(0, (yesterday - dt.date.fromisoformat(start)).days + 1)
            found[lid]["notAsked"] = max(0, days * len(topics) - recorded)
            found[lid]["withdrawnAt"] = withdrawn
        return found

    def daily_sums(self, ledger_ids: list[str], topic: str, since: dt.date) -> dict[str, dict[str, dict[str, int]]]:
        """ledger id -> ledger date -> {entry type: sum}, of the dates exported since `since`."""
        found: dict[str, dict[str, dict[str, int]]] = {lid: {} for lid in ledger_ids}
        for lid, day, sums in self.db.execute(
            "SELECT ledger_id, ledger_date, sums FROM dates WHERE status = 'exported' AND topic = ? AND ledger_date"
            " >= ? AND ledger_id IN (SELECT value FROM json_each(?))",
            (topic, since.isoformat(), json.dumps(ledger_ids)),
        ):
            found[lid][day] = json.loads(sums) if sums else {}
        return found

    def recent_runs(self, limit: int | None = 10, run_id: int | None = None, trigger: str | None = None) -> list[dict]:
        """The last runs, newest first (or the one run `run_id`, or those of one trigger), with who started them
        and what they covered; `limit` None: all."""
        return self.find_runs(limit=limit, run_id=run_id, trigger=trigger)[0]

    def find_runs(
        self, *, limit: int | None, offset: int = 0, run_id: int | None = None, trigger: str | None = None,
        user: str | None = None, ledger: str | None = None, period: tuple[dt.date, dt.date] | None = None,
        outcome: str | None = None,
    ) -> tuple[list[dict], int]:  # fmt: skip
        """Runs newest first, filtered, a page at a time; and how many match. `ledger`: runs that covered it (a
        run without a ledger list covered every ledger); `period`: runs of dates in it, and catch-ups run then."""
        where, args = [], []
        for column, value in (("id", run_id), ("trigger", trigger), ("user", user), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if ledger is not None:
            where.append("(request IS NULL OR json_array_length(request, '$.ledgers') = 0"
                         " OR EXISTS (SELECT 1 FROM json_each(request, '$.ledgers') WHERE value = ?))")  # fmt: skip
            args.append(ledger)
        if period is not None:
            first, last = period[0].isoformat(), period[1].isoformat()
            where.append("(CASE WHEN json_extract(request, '$.from') IS NULL THEN substr(started_at, 1, 10) BETWEEN ?"
                         " AND date(?, '+1 day') ELSE json_extract(request, '$.from') <= ?"
                         " AND json_extract(request, '$.to') >= ? END)")  # fmt: skip
            args += [first, last, last, first]
        condition = " AND ".join(where) or "1"
        (total,) = self.db.execute(f"SELECT count(*) FROM runs WHERE {condition}", args).fetchone()
        rows = self.db.execute(
            "SELECT id, command, trigger, started_at, ended_at, outcome, exit_code, counts, error, user, request,"
            f" files, left_pending FROM runs WHERE {condition} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        )
        names = ("id", "command", "trigger", "startedAt", "endedAt", "outcome", "exitCode", "counts", "error", "user",
                 "request", "files", "left")  # fmt: skip
        runs = [dict(zip(names, row, strict=True)) for row in rows]
        for run in runs:
            run["counts"] = json.loads(run["counts"]) if run["counts"] else {}
            run["request"] = json.loads(run["request"]) if run["request"] else None
            run["files"] = json.loads(run["files"]) if run["files"] else []
            run["left"] = json.loads(run["left"]) if run["left"] else None  # None: a run from before schema 5
            run["outcome"] = run["outcome"] or "unfinished (killed, or still running)"
        return runs, total

    def downloads(self, run_ids: list[int]) -> dict[int, list[dict]]:
        """Who downloaded what of each run, oldest first."""
        found: dict[int, list[dict]] = {run_id: [] for run_id in run_ids}
        for run_id, at, user, detail in self.db.execute(
            "SELECT run_id, at, user, detail FROM audit WHERE action = 'download' AND run_id IN"
            " (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(run_ids),),
        ):
            found[run_id].append({"at": at, "user": user, "detail": detail})
        return found
