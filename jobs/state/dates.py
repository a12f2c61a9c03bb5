"""Ledger dates: which are exported (rows, sums, files), which are pending (open or unavailable) and since when, and
the files of exported dates that wait (a voucher whose chart lacks a key, a settlement waiting for its payout's dates).

An exported date is never turned back into pending: a later run that finds it open again (the API is behind, or
a clock went back) leaves its row as it is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jobs.state.db import Db, now_utc

Key = tuple[str, str, dt.date]  # ledger id, topic, ledger date


def overdue(date: dt.date, today: dt.date, warn_after_days: int) -> bool:
    """Pending longer than [state] warn_after_days: every run names it, and it is asked for once a day."""
    return (today - date).days > warn_after_days


@dataclass(frozen=True)
class Exported:
    """What the state knows of an exported ledger date without asking the API again."""

    rows: int
    sums: dict[str, int]  # entry type -> sum of amounts, minor units
    checks_failed: int


@dataclass(frozen=True)
class Pending:
    """A date the API has not closed (open) or not served (unavailable) yet."""

    date: dt.date
    status: str  # open or unavailable
    since: str  # when a run first found it so (UTC)
    tries: int
    last_try: dt.date | None  # None: not tried since the state was upgraded

    def age(self, today: dt.date) -> int:
        return (today - self.date).days

    def overdue(self, today: dt.date, warn_after_days: int) -> bool:
        return overdue(self.date, today, warn_after_days)


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


class Dates:
    def __init__(self, db: Db) -> None:
        self.db = db

    def statuses(self, ledger_id: str, topic: str) -> dict[dt.date, str]:
        rows = self.db.execute(
            "SELECT ledger_date, status FROM dates WHERE ledger_id = ? AND topic = ?", (ledger_id, topic)
        )
        return {dt.date.fromisoformat(day): str(status) for day, status in rows}

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

    def exported(self, ledger_id: str, topic: str) -> dict[dt.date, Exported]:
        rows = self.db.execute(
            "SELECT ledger_date, rows, sums, coalesce(checks_failed, 0) FROM dates WHERE ledger_id = ? AND topic = ?"
            " AND status = 'exported'",
            (ledger_id, topic),
        )
        return {
            dt.date.fromisoformat(day): Exported(n or 0, json.loads(sums or "{}"), failed)
            for day, n, sums, failed in rows
        }

    def record_exported(
        self,
        key: Key,
        rows: int,
        sums: Mapping[str, int],
        files: Mapping[Path, str],
        run_id: int,
        checks_failed: int = 0,
    ) -> None:
        """A date whose files (path -> SHA-256, its manifest among them) are on disk for good."""
        ledger_id, topic, day = key
        listed = [{"path": str(path), "sha256": digest} for path, digest in files.items()]
        self.db.execute(
            "INSERT OR REPLACE INTO dates (ledger_id, topic, ledger_date, status, pending_since, tries, rows,"
            " sums, files, updated_at, run_id, checks_failed) VALUES (?, ?, ?, 'exported', NULL,"
            " coalesce((SELECT tries FROM dates WHERE ledger_id = ? AND topic = ? AND ledger_date = ?), 0) + 1,"
            " ?, ?, ?, ?, ?, ?)",
            (
                *(ledger_id, topic, day.isoformat()),
                *(ledger_id, topic, day.isoformat()),
                rows,
                json.dumps(dict(sums), sort_keys=True),
                json.dumps(listed),
                now_utc(),
                run_id,
                checks_failed,
            ),
        )

    def record_pending(self, key: Key, status: str, detail: str, run_id: int, tried_on: dt.date) -> None:
        """An open or unavailable date: remember it, since when, and the day it was last asked for,
        so later runs retry it until it closes, however long that takes. An exported date stays exported."""
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

    def record_waiting(
        self,
        key: Key,
        waiting: Mapping[str, str],
        tried: Iterable[str],
        planned: Iterable[str],
        out: str,
        run_id: int,
        tried_on: dt.date,
    ) -> None:
        """What of an exported date waits (format -> why); what was tried and no longer waits is cleared."""
        ledger_id, topic, day = key
        now, written = now_utc(), [fmt for fmt in tried if fmt not in waiting]
        self.db.executemany(
            "DELETE FROM waiting WHERE ledger_id = ? AND topic = ? AND ledger_date = ? AND format = ?",
            [(ledger_id, topic, day.isoformat(), fmt) for fmt in written],
        )
        planned_text = json.dumps(list(planned))
        self.db.executemany(
            "INSERT INTO waiting VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (ledger_id, topic, ledger_date,"
            " format) DO UPDATE SET reason = excluded.reason, planned = excluded.planned, out = excluded.out,"
            " last_try = excluded.last_try, tries = waiting.tries + 1, run_id = excluded.run_id",
            [
                (ledger_id, topic, day.isoformat(), fmt, why, planned_text, out, now, tried_on.isoformat(), run_id)
                for fmt, why in waiting.items()
            ],
        )

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
