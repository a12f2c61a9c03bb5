"""The notifier's part of the state (jobs/notify.py, jobs/outbox.py): what has been told and on which day, so that a
lasting condition is told once a day and not every hour; and the outbox, where a notice waits until its channel
took it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobs.state.db import Db, now_utc


@dataclass(frozen=True)
class Queued:
    """A notice not delivered yet by its channel."""

    id: int
    channel: str  # email or webhook
    run_id: int | None
    created_at: str
    notice: dict[str, Any]  # as the webhook posts it; the mail is made from it
    tries: int
    tried_at: str | None
    error: str | None  # why the last try failed; never a secret


class Notices:
    def __init__(self, db: Db) -> None:
        self.db = db

    def conditions(self) -> dict[str, tuple[str, str]]:
        """key -> (since, told), both run dates."""
        rows = self.db.execute("SELECT key, since, told FROM notify_conditions")
        return {key: (since, told) for key, since, told in rows}

    def set_conditions(self, conditions: dict[str, tuple[str, str]]) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM notify_conditions")
            self.db.executemany(
                "INSERT INTO notify_conditions VALUES (?, ?, ?)",
                [(key, since, told) for key, (since, told) in conditions.items()],
            )

    def queue(self, channel: str, run_id: int | None, notice: str) -> int:
        """A notice (its JSON text, secrets hidden already) for one channel."""
        cursor = self.db.execute(
            "INSERT INTO notify_outbox (channel, run_id, created_at, notice) VALUES (?, ?, ?, ?)",
            (channel, run_id, now_utc(), notice),
        )
        return int(cursor.lastrowid or 0)

    def outbox(self) -> list[Queued]:
        """Notices not delivered yet, oldest first."""
        rows = self.db.execute(
            "SELECT id, channel, run_id, created_at, notice, tries, tried_at, error FROM notify_outbox ORDER BY id"
        )
        return [
            Queued(nid, channel, run_id, created, json.loads(notice), tries, tried, error)
            for nid, channel, run_id, created, notice, tries, tried, error in rows
        ]

    def sent(self, notice_id: int) -> None:
        self.db.execute("DELETE FROM notify_outbox WHERE id = ?", (notice_id,))

    def failed(self, notice_id: int, error: str) -> None:
        self.db.execute(
            "UPDATE notify_outbox SET tries = tries + 1, tried_at = ?, error = ? WHERE id = ?",
            (now_utc(), error, notice_id),
        )
