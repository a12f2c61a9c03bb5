"""The ledgers the keys have read: where each catch-up starts, when each was first seen, whether it was withdrawn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from jobs.state.db import Db, now_utc


class Ledgers:
    def __init__(self, db: Db) -> None:
        self.db = db

    def see(self, readable: Iterable[str], start: dt.date) -> tuple[list[str], list[str], list[str]]:
        """Record what the keys can read now; return (new, withdrawn, returned) ledger ids."""
        readable, now = list(readable), now_utc()
        known = {str(lid): gone for lid, gone in self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers")}
        new = [lid for lid in readable if lid not in known]
        returned = [lid for lid in readable if known.get(lid)]
        withdrawn = [lid for lid, gone in known.items() if lid not in set(readable) and not gone]
        with self.db.transaction():
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
        return dt.date.fromisoformat(self.db.value("SELECT start_date FROM ledgers WHERE ledger_id = ?", (ledger_id,)))

    def first_seen(self) -> dict[str, str]:
        """Ledger id -> when a run first saw it: the ledger seen first keeps a voucher series two would share."""
        return {str(lid): str(seen) for lid, seen in self.db.execute("SELECT ledger_id, first_seen FROM ledgers")}

    def withdrawn(self) -> dict[str, str]:
        """Ledger id -> since when the keys cannot read it."""
        rows = self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers WHERE withdrawn_at IS NOT NULL")
        return {str(lid): str(since) for lid, since in rows}

    def restore(self, ledger_id: str, start: dt.date, first_seen: str) -> bool:
        """A ledger the state lost (jobs.rebuild), unless it knows it; returns whether it was added."""
        now = now_utc()
        return bool(
            self.db.execute(
                "INSERT OR IGNORE INTO ledgers VALUES (?, ?, ?, ?, NULL)",
                (ledger_id, start.isoformat(), first_seen, now),
            ).rowcount
        )
