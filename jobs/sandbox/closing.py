"""Which ledger dates exist yet, which are still open, and when they close, on the sandbox's clock.

A ledger date runs from its cutoff hour (midnight; 04:00 on the Danish ledger) to
the same hour the next day, in the ledger's own zone. The real API produces its
reports some hours after a date ends (around 01:00-03:00, normally ready by noon),
so at 00:30 yesterday is still open. The sandbox closes a date at `closing_hour`
local time on the day after it, or when the date ends if its cutoff is later. A
date of a negative-balance stretch stays open until the stretch's last date
closes: for weeks.

    state    when                                        the date endpoint answers
    future   after the ledger's current date             404 "not available yet"
    open     the current date, or ended and not closed   tryLater: true; entries so far
    closed   from its closing time on                    tryLater: false; every entry

"Entries so far" are those stamped before the clock's time on the current date,
and every entry on a date that has ended; the feed serves the same.

The clock is the machine's unless it is set: to a moment (`now`), or to a day
(`today`), which means noon in Oslo, when every ledger's yesterday is closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .data import stamp
from .ledgers import ZONES, Ledger

FUTURE, OPEN, CLOSED = "future", "open", "closed"
DEFAULT_CLOSING_HOUR = 6  # every date of the last night is ready by 06:00 local time
OSLO = ZONES["NO"]


def noon(date: dt.date) -> dt.datetime:
    """What a day given as the sandbox's today means: noon in Oslo (11:00 or 10:00 UTC)."""
    return dt.datetime.combine(date, dt.time(12), tzinfo=OSLO)


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock:
    """The sandbox's date and time: a callable giving an aware datetime, or a fixed moment."""

    def __init__(self, now: dt.datetime | Callable[[], dt.datetime] | None = None) -> None:
        self._read: Callable[[], dt.datetime] = wall_clock
        if now is not None:
            self.set(now)

    def __call__(self) -> dt.datetime:
        return self._read()

    def set(self, now: dt.datetime | Callable[[], dt.datetime]) -> None:
        if isinstance(now, dt.datetime):
            if now.tzinfo is None or now.utcoffset() is None:
                raise ValueError(f"the sandbox's clock needs a time zone: {now.isoformat()}")
            self._read = lambda: now
        else:
            self._read = now


def current_date(ledger: Ledger, now: dt.datetime) -> dt.date:
    """The ledger date in progress at `now`."""
    local = now.astimezone(ledger.zone)
    return local.date() - dt.timedelta(days=1) if local.hour < ledger.cutoff_hour else local.date()


def closes_at(ledger: Ledger, date: dt.date, closing_hour: int) -> dt.datetime:
    """When the date endpoint stops answering tryLater for this date (in the ledger's zone)."""
    stretch = ledger.shortfall_dates()
    if stretch is not None and stretch[0] <= date <= stretch[1]:
        date = stretch[1]  # Vipps settles a negative balance as a whole: its dates close together
    hour = max(closing_hour, ledger.cutoff_hour)
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time(hour), tzinfo=ledger.zone)


def state(ledger: Ledger, date: dt.date, now: dt.datetime, closing_hour: int) -> str:
    if date > current_date(ledger, now):
        return FUTURE
    return CLOSED if now >= closes_at(ledger, date, closing_hour) else OPEN


def until(ledger: Ledger, date: dt.date, now: dt.datetime) -> str | None:
    """The time before which a date's entries exist: now on the current date; None (all) on earlier ones."""
    return stamp(now) if date >= current_date(ledger, now) else None
