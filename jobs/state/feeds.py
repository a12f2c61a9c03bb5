"""Where each ledger's feed stands: its cursor, the number of its next batch file, the entries written so far."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.state.db import Db, now_utc


@dataclass(frozen=True)
class FeedPosition:
    cursor: str | None  # None: never followed (or walked to its end without one)
    next_batch: int
    entries: int
    updated_at: str | None

    @property
    def batches(self) -> int:
        return self.next_batch - 1


START = FeedPosition(None, 1, 0, None)  # a feed never followed


class Feeds:
    def __init__(self, db: Db) -> None:
        self.db = db

    def position(self, ledger_id: str, topic: str) -> FeedPosition:
        row = self.db.execute(
            "SELECT cursor, next_batch, entries, updated_at FROM feeds WHERE ledger_id = ? AND topic = ?",
            (ledger_id, topic),
        ).fetchone()
        return FeedPosition(*row) if row else START

    def all(self) -> dict[tuple[str, str], FeedPosition]:
        rows = self.db.execute("SELECT ledger_id, topic, cursor, next_batch, entries, updated_at FROM feeds")
        return {(lid, topic): FeedPosition(*rest) for lid, topic, *rest in rows}

    def record(self, ledger_id: str, topic: str, cursor: str | None, next_batch: int, entries: int) -> None:
        """The feed moved to `cursor` with `entries` more written; its next batch file is `next_batch`."""
        self.db.execute(
            "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ledger_id, topic) DO UPDATE SET"
            " cursor = excluded.cursor, next_batch = excluded.next_batch,"
            " entries = feeds.entries + excluded.entries, updated_at = excluded.updated_at",
            (ledger_id, topic, cursor, next_batch, entries, now_utc()),
        )

    def restore(self, ledger_id: str, topic: str, cursor: str, next_batch: int, entries: int) -> bool:
        """A position read from the batch files' manifests (jobs.rebuild), unless the state's own is as far on;
        returns whether it was taken."""
        return bool(
            self.db.execute(
                "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ledger_id, topic) DO UPDATE SET"
                " cursor = excluded.cursor, next_batch = excluded.next_batch, entries = excluded.entries,"
                " updated_at = excluded.updated_at WHERE feeds.next_batch < excluded.next_batch",
                (ledger_id, topic, cursor, next_batch, entries, now_utc()),
            ).rowcount
        )
