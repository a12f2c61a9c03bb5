"""Where each ledger stands, read across the stores: for `status`, the notifier and the page's overview. Typed rows;
`status --json` and the page shape them for people and machines."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from jobs.state.dates import Dates, Pending, Waiting
from jobs.state.db import Db
from jobs.state.feeds import FeedPosition, Feeds


@dataclass(frozen=True)
class Standing:
    """One ledger and topic, for `status`."""

    ledger_id: str
    topic: str
    last_exported: dt.date | None
    pending: tuple[Pending, ...]
    waiting: tuple[Waiting, ...]
    withdrawn_at: str | None  # since when the keys cannot read it
    checks_failed: tuple[dt.date, ...]  # exported dates whose balances did not add up
    feed: FeedPosition | None  # None: its feed was never followed


@dataclass(frozen=True)
class Open:
    """A pending date of a ledger, either topic, for the page."""

    topic: str
    date: dt.date
    status: str
    since: str


@dataclass
class LedgerProgress:
    """One ledger, both topics together, for the page."""

    last_exported: dt.date | None = None
    pending: list[Open] = field(default_factory=list)
    not_asked: int = 0  # ledger dates from its start through yesterday never asked for
    checks_failed: list[dt.date] = field(default_factory=list)
    withdrawn_at: str | None = None


def day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


class Views:
    def __init__(self, db: Db, dates: Dates, feeds: Feeds) -> None:
        self.db, self.dates, self.feeds = db, dates, feeds

    def knows_exports(self) -> bool:
        """Whether any date was exported or any feed followed: a state that knows neither is new, or lost."""
        return bool(
            self.db.value(
                "SELECT EXISTS (SELECT 1 FROM dates WHERE status = 'exported') OR EXISTS (SELECT 1 FROM feeds)"
            )
        )

    def standings(self) -> list[Standing]:
        """Per ledger and topic: last exported date, dates still pending, files that wait, feed position."""
        keys = self.db.execute(
            "SELECT ledger_id, topic FROM dates UNION SELECT ledger_id, topic FROM feeds ORDER BY 1, 2"
        ).fetchall()
        withdrawn = dict(self.db.execute("SELECT ledger_id, withdrawn_at FROM ledgers"))
        waiting, feeds = self.dates.waiting(), self.feeds.all()
        found = []
        for ledger_id, topic in keys:
            last = self.db.value(
                "SELECT max(ledger_date) FROM dates WHERE ledger_id = ? AND topic = ? AND status = 'exported'",
                (ledger_id, topic),
            )
            failed = self.db.execute(
                "SELECT ledger_date FROM dates WHERE ledger_id = ? AND topic = ? AND checks_failed > 0"
                " AND status = 'exported' ORDER BY ledger_date",
                (ledger_id, topic),
            )
            found.append(
                Standing(
                    ledger_id,
                    topic,
                    day(last),
                    tuple(self.dates.pending(ledger_id, topic)),
                    tuple(waiting.get((ledger_id, topic), [])),
                    withdrawn.get(ledger_id),
                    tuple(dt.date.fromisoformat(d) for (d,) in failed),
                    feeds.get((ledger_id, topic)),
                )
            )
        return found

    def progress(
        self, ledger_ids: Sequence[str], yesterday: dt.date, topics: Sequence[str]
    ) -> dict[str, LedgerProgress]:
        """For the page, per ledger and both topics together: the last exported date, the dates pending
        (open or unavailable), how many ledger dates from its start through `yesterday` were never asked for,
        the dates whose checks failed, and since when its keys cannot read it. A few grouped queries, none
        per ledger, so a page of thousands of ledgers costs the same few queries."""
        wanted = json.dumps(list(ledger_ids))
        chosen = "ledger_id IN (SELECT value FROM json_each(?))"
        found = {lid: LedgerProgress() for lid in ledger_ids}
        for lid, last in self.db.execute(
            f"SELECT ledger_id, max(ledger_date) FROM dates WHERE status = 'exported' AND {chosen} GROUP BY 1",
            (wanted,),
        ):
            found[lid].last_exported = day(last)
        for lid, topic, date, status, since in self.db.execute(
            f"SELECT ledger_id, topic, ledger_date, status, pending_since FROM dates"
            f" WHERE status IN ('open', 'unavailable') AND {chosen} ORDER BY ledger_date, topic",
            (wanted,),
        ):
            found[lid].pending.append(Open(topic, dt.date.fromisoformat(date), status, since))
        for lid, date in self.db.execute(
            f"SELECT ledger_id, ledger_date FROM dates WHERE checks_failed > 0 AND status = 'exported' AND {chosen}"
            " ORDER BY ledger_date",
            (wanted,),
        ):
            found[lid].checks_failed.append(dt.date.fromisoformat(date))
        for lid, start, withdrawn, recorded in self.db.execute(
            "SELECT l.ledger_id, l.start_date, l.withdrawn_at, (SELECT count(*) FROM dates d WHERE d.ledger_id ="
            " l.ledger_id AND d.topic IN (SELECT value FROM json_each(?)) AND d.ledger_date BETWEEN l.start_date"
            f" AND ?) FROM ledgers l WHERE l.{chosen}",
            (json.dumps(list(topics)), yesterday.isoformat(), wanted),
        ):
            days = max(0, (yesterday - dt.date.fromisoformat(start)).days + 1)
            found[lid].not_asked = max(0, days * len(topics) - recorded)
            found[lid].withdrawn_at = withdrawn
        return found

    def daily_sums(
        self, ledger_ids: Sequence[str], topic: str, since: dt.date
    ) -> dict[str, dict[dt.date, dict[str, int]]]:
        """ledger id -> ledger date -> {entry type: sum}, of the dates exported since `since`."""
        found: dict[str, dict[dt.date, dict[str, int]]] = {lid: {} for lid in ledger_ids}
        for lid, date, sums in self.db.execute(
            "SELECT ledger_id, ledger_date, sums FROM dates WHERE status = 'exported' AND topic = ? AND ledger_date"
            " >= ? AND ledger_id IN (SELECT value FROM json_each(?))",
            (topic, since.isoformat(), json.dumps(list(ledger_ids))),
        ):
            found[lid][dt.date.fromisoformat(date)] = json.loads(sums) if sums else {}
        return found
