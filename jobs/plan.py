"""What a run asks the API for: ledger dates (Unit), planned for a period or caught up from the state.

A catch-up asks for every date from each ledger's start through yesterday not yet exported, every pending
one (also from before the start), and every exported date a file of which still waits: none is ever dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from jobs.output import SETTLEMENTS, Retry
from jobs.request import RunRequest
from jobs.settings import Settings
from jobs.state import State
from jobs.state.dates import Pending, overdue


@dataclass(frozen=True)
class Unit:
    ledger_id: str
    topic: str
    date: dt.date
    retry: Retry | None = field(default=None, compare=False)  # only the files that wait, of an exported date

    def __str__(self) -> str:
        return f"ledger {self.ledger_id} {self.topic} {self.date}"

    @property
    def key(self) -> tuple[str, str, dt.date]:
        return self.ledger_id, self.topic, self.date


def dates(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan(ledger_ids: list[str], topics: tuple[str, ...], days: list[dt.date]) -> list[Unit]:
    """Ledger by ledger, date by date, so a ledger's files are complete early in a long run."""
    return [Unit(ledger, topic, day) for ledger in ledger_ids for day in days for topic in topics]


def first_date(settings: Settings, today: dt.date) -> dt.date:
    """Where the catch-up of a ledger seen for the first time begins."""
    return settings.start_date or today - dt.timedelta(days=1)


def catch_up(
    state: State, ledger_ids: list[str], request: RunRequest, today: dt.date, warn_after_days: int
) -> tuple[list[Unit], list[tuple[Unit, Pending]]]:
    """Every date from each ledger's start through yesterday not yet exported, and every pending one,
    also from before the start (an on-demand run may have left it); and those of them pending longer than
    warn_after_days. None is ever dropped: an overdue date is named by every run and still asked for, once a
    day."""
    yesterday = today - dt.timedelta(days=1)
    units = []
    late = []
    for ledger_id in ledger_ids:
        for topic in request.topics:
            statuses = state.dates.statuses(ledger_id, topic)
            pending = {p.date: p for p in state.dates.pending(ledger_id, topic)}
            for day in sorted(set(dates(state.ledgers.start_date(ledger_id), yesterday)) | set(pending)):
                if statuses.get(day) == "exported":
                    continue
                unit, waiting = Unit(ledger_id, topic, day), pending.get(day)
                if waiting is not None and overdue(day, today, warn_after_days):
                    late.append((unit, waiting))  # named after the run, unless it closes now
                    if waiting.last_try == today:
                        continue  # an old queue costs a request per date a day, not one per run
                units.append(unit)
            for day, files in retries(state, ledger_id, topic).items():
                units.append(Unit(ledger_id, topic, day, retry=files))
    ledger_order = {ledger_id: n for n, ledger_id in enumerate(ledger_ids)}
    topic_order = {topic: n for n, topic in enumerate(request.topics)}
    return sorted(units, key=lambda u: (ledger_order[u.ledger_id], u.date, topic_order[u.topic])), late


def retries(state: State, ledger_id: str, topic: str) -> dict[dt.date, Retry]:
    """What waits of a ledger's exported dates, by date: tried again by every catch-up, so a key added to the
    chart writes it at the next run, whatever run found it (a period too, before the ledger's start)."""
    found: dict[dt.date, Retry] = {}
    for item in state.dates.waiting(ledger_id, topic).get((ledger_id, topic), []):
        if item.format in SETTLEMENTS:
            continue  # a settlement waits for its payout's dates: jobs.settlements.settle writes it
        known = found.get(item.date)
        formats = (*known.formats, item.format) if known else (item.format,)
        found[item.date] = Retry(formats, item.planned, Path(item.out))
    return found
