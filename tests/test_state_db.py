"""The state's one connection (jobs.state.db): several writes all or nothing, and a database that cannot grow told as
"disk full" wherever SQLite meets it. Real SQLite files, made full by SQLite's own limit (PRAGMA max_page_count),
which raises the same SQLITE_FULL as a full file system (tests/test_disk_full.py fills a real one)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing

import pytest

from jobs.errors import DiskFull
from jobs.state import State
from jobs.state.migrations import MIGRATIONS, SCHEMA_VERSION

FULL = r"^disk full: the state .+ cannot be written \(database or disk is full\): free space on its file system"


def no_room(connection: sqlite3.Connection) -> None:
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


def test_several_writes_are_all_or_nothing(tmp_path):
    with State(tmp_path / "state.sqlite3") as state:
        with pytest.raises(RuntimeError), state.db.transaction():
            state.web.add_user("kari", "$argon2id$...")
            raise RuntimeError("a bug half way")
        assert state.web.users() == []


def test_a_database_that_cannot_grow_is_disk_full_and_keeps_what_it_had(tmp_path):
    with State(tmp_path / "state.sqlite3") as state:
        state.ledgers.see(["302321"], dt.date(2026, 11, 19))
        no_room(state.db.connection)
        with pytest.raises(DiskFull, match=FULL):
            state.ledgers.see([f"{n:06}" for n in range(5000)], dt.date(2026, 11, 19))  # many rows in one transaction
        assert list(state.ledgers.first_seen()) == ["302321"]
        with pytest.raises(DiskFull, match=FULL), state.batched():
            for n in range(5000):
                state.runs.audit("kari", "download", None, f"file {n}")
        assert not state.db.connection.in_transaction  # nothing left half open: what was committed stays
        assert list(state.ledgers.first_seen()) == ["302321"]


def test_an_upgrade_without_room_is_disk_full_and_leaves_the_state_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "state.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        for step, migration in enumerate(MIGRATIONS[:-1]):
            db.executescript(f"BEGIN; {migration}; PRAGMA user_version = {step + 1}; COMMIT;")
    original = sqlite3.connect

    def without_room(*args, **kwargs):
        connection = original(*args, **kwargs)
        no_room(connection)
        return connection

    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect", without_room)
        with pytest.raises(DiskFull, match=FULL):
            State(path)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    with State(path) as state:  # with room, the upgrade goes on from there
        assert state.db.value("PRAGMA user_version") == SCHEMA_VERSION
