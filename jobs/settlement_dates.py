"""Which ledger dates a payout pays out: the grouping of funds entries into settlements.

The Report API has no settlement object. A settlement is a payout entry on the funds topic and the
funds entries before it back to the previous payout. A payout is the last entry of its ledger date,
so a settlement is a run of whole ledger dates: from the first date with entries after the previous
payout's date through the payout's own. Daily settlement makes that one date; weekly, a week.

Where a settlement begins: walk back from the payout's date, one date at a time, to a date that
ends with a payout (the previous settlement's), or through QUIET_DAYS dates in a row without
entries (a ledger that new or that quiet has nothing before them in this settlement: had a balance
been carried over, the payout would not equal its payments and the proofs would refuse it). An
exported date is read from the state (its sums, and that its checks held); others are fetched
(Days). A settlement holding entries other than HELD is refused here (Unfit), before anything else
is fetched: the format has no place for them (jobs.settlements names the rules).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from jobs.api import ReportApi
from jobs.entries import Row
from jobs.errors import NotAvailable, Unfit
from jobs.money import format_minor
from jobs.output import read_page
from jobs.reconcile import CAPTURE, FEES_RETAINED, PAYOUT_TYPES, REFUND, DateSummary
from jobs.state.dates import Exported

TOPIC = "funds"
PAYMENTS = (CAPTURE, REFUND)
HELD = frozenset({*PAYMENTS, FEES_RETAINED, *PAYOUT_TYPES})  # what a settlement may hold
QUIET_DAYS = 31  # dates in a row without entries that end a walk back: a month with nothing to pay out
MOST_DATES = 400  # a settlement of more dates than this is refused, not walked back further
DAY = dt.timedelta(days=1)


class NotClosed(Exception):
    """A date of the settlement is not closed yet, or not served: try again later."""


@dataclass(frozen=True)
class Day:
    """What finding a settlement's dates needs to know of one ledger date."""

    entries: int
    sums: Mapping[str, int]
    ends_in_payout: bool


@dataclass(frozen=True)
class Settlement:
    ledger_id: str
    dates: tuple[dt.date, ...]  # first with entries .. the payout's date
    sums: Mapping[str, int]  # entry type -> sum over its dates, minor units


class Days:
    """Day facts of one ledger's funds dates: from the state when it knows them, else fetched (once)."""

    def __init__(self, api: ReportApi, ledger_id: str, known: Mapping[dt.date, Exported]) -> None:
        self.api, self.ledger_id, self.known = api, ledger_id, known
        self.fetched: dict[dt.date, Day] = {}

    def __call__(self, date: dt.date) -> Day:
        found = self.known.get(date)
        if found is not None and not found.checks_failed:  # its checks held: a payout was its last entry
            return Day(found.rows, found.sums, any(t in PAYOUT_TYPES for t in found.sums))
        if date not in self.fetched:
            summary = DateSummary(self.ledger_id, TOPIC, date)
            for _ in pages(self.api, self.ledger_id, TOPIC, date, summary):
                pass
            check(summary)
            self.fetched[date] = Day(summary.entries, dict(summary.sums), summary.payout is not None)
        return self.fetched[date]


def find(ledger_id: str, payout_date: dt.date, day: Callable[[dt.date], Day]) -> Settlement:
    """The settlement paid out on `payout_date`: its dates and sums; NotClosed or Unfit if it cannot be written."""
    if not day(payout_date).ends_in_payout:
        raise Unfit(f"{payout_date} holds no payout as its last entry")
    dates, quiet, date = [payout_date], 0, payout_date
    while True:
        date -= DAY
        facts = day(date)
        if facts.ends_in_payout:
            break
        quiet = 0 if facts.entries else quiet + 1
        if quiet == QUIET_DAYS:
            break
        dates.append(date)
        if len(dates) > MOST_DATES:
            raise Unfit(f"no payout in the {MOST_DATES} dates before it, so where its settlement begins is unknown")
    while len(dates) > 1 and not day(dates[-1]).entries:
        dates.pop()  # quiet dates before its first entry: nothing of the settlement is on them
    dates.reverse()
    sums: Counter[str] = Counter()
    for date in dates:
        sums.update(day(date).sums)
    other = {t: amount for t, amount in sorted(sums.items()) if t not in HELD}
    if other:
        found = ", ".join(f"{t} {format_minor(amount)}" for t, amount in other.items())
        aborted = (
            (
                " (the money of an aborted payout comes back with this one: that payout's own file, written when "
                "its date closed, paid nothing, so its import must be reversed; the payout-aborted entry in the "
                "CSV tells which)"
            )
            if "payout-aborted" in other
            else ""
        )
        raise Unfit(
            f"its settlement ({dates[0]}..{payout_date}) holds {found}, which the format has no place for, "
            f"and without which the file would not add up to the payout{aborted}; book this payout from the "
            "CSV or camt.053 files"
        )
    return Settlement(ledger_id, tuple(dates), dict(sums))


def pages(api: ReportApi, ledger_id: str, topic: str, date: dt.date, summary: DateSummary) -> Iterator[list[Row]]:
    """The date's rows a page at a time, added to `summary`; NotClosed if the date is not closed or not served."""
    try:
        for page in api.date_pages(ledger_id, topic, date):  # never personal data: the format has no place for it
            if page.try_later:
                raise NotClosed(f"{date} is not closed yet (tryLater)")
            yield read_page(page.items, ledger_id, summary)
    except NotAvailable:
        raise NotClosed(f"the API does not serve {topic} of {date} (404)") from None


def check(summary: DateSummary) -> None:
    failed = "; ".join(f"{c.name}: {c.detail}" for c in summary.checks if not c.ok)
    if failed:
        raise Unfit(f"{summary.date} does not reconcile ({failed}), so what its payout paid is not certain")
