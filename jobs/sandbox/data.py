"""Deterministic synthetic funds and fees entries, one ledger date at a time.

Every date is generated on its own from a seed of (ledgerId, date), so any date
can be served without generating its predecessors, and two sandboxes serve the
same bytes. Balances still chain across dates because an ordinary date starts
and ends at the ledger's opening balance: the daily payout takes the funds back
to it and `fees-retained` takes the fees back to 0. Two kinds of ledger carry a
balance from one date to the next, and are generated a stretch at a time:

- gross settlement: the fees balance falls through the month and the month's last
  date ends with `fees-invoiced`, which takes it back to 0;
- a shortfall: a large refund takes the funds balance below zero, no payout happens
  until the stretch's last date, whose `top-up` brings it back (see closing.py for
  why those dates stay open);
- weekly settlement: the funds balance grows through the week and only the payout
  weekday's date ends with a payout, which takes it back to the opening balance.

Times are UTC. Business hours are 06:00-23:00 in the ledger's own zone; a ledger
whose dates end at 04:00 also sells through the night, so an entry stamped on the
next calendar day can belong to this date. Settlement entries (`fees-retained`,
the payout, `fees-invoiced`) are stamped just after the date ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache

from .events import Event, movements, payout_number
from .ledgers import Ledger
from .messages import JsonObject

UTC = dt.UTC
TOPICS = ("funds", "fees")
_HOUR = 3600 * 10**6  # microseconds


@dataclass(frozen=True)
class Day:
    """One ledger date: entries as (public fields, GDPR-sensitive fields or None)."""

    funds: tuple[tuple[JsonObject, JsonObject | None], ...] = ()
    fees: tuple[tuple[JsonObject, JsonObject | None], ...] = ()


def window(
    ledger: Ledger, topic: str, date: dt.date, start: int, stop: int, *, until: str | None, gdpr: bool
) -> tuple[list[JsonObject], int]:
    """Fresh copies of entries [start:stop] of one ledger date, and how many the date holds.

    The cached originals stay untouched. `until` (a UTC time as entries show it) keeps only the
    entries stamped before it: what a date still in progress holds so far; None keeps all.
    """
    day = _day(ledger, date)
    pairs = day.funds if topic == "funds" else day.fees
    if until is not None:
        pairs = tuple(pair for pair in pairs if pair[0]["time"] < until)
    page = [{**public, **extra} if gdpr and extra else dict(public) for public, extra in pairs[start:stop]]
    return page, len(pairs)


def day_start(ledger: Ledger, date: dt.date) -> dt.datetime:
    """When a ledger date begins, in UTC: its cutoff hour in the ledger's zone (never in a DST gap)."""
    return dt.datetime.combine(date, dt.time(ledger.cutoff_hour), tzinfo=ledger.zone).astimezone(UTC)


def stamp(moment: dt.datetime) -> str:
    """A time as entries show it: UTC, microseconds, Z. Such texts sort as the times do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_time(ledger: Ledger, date: dt.date, micros: int) -> str:
    """`micros` after local midnight at the start of `date` (elapsed time: DST days are 23 or 25 h)."""
    midnight = dt.datetime.combine(date, dt.time(), tzinfo=ledger.zone).astimezone(UTC)
    return stamp(midnight + dt.timedelta(microseconds=micros))


def settle_time(ledger: Ledger, date: dt.date, micros: int) -> str:
    """`micros` after the date ends: settlement runs as soon as the next ledger date begins."""
    return stamp(day_start(ledger, date + dt.timedelta(days=1)) + dt.timedelta(microseconds=micros))


def business_hours(ledger: Ledger) -> range:
    """Microseconds after local midnight that sales happen in; through the night up to 90 minutes
    before a later cutoff, which stays inside the date even on the night the clocks go forward."""
    end = 23 * _HOUR if ledger.cutoff_hour == 0 else (24 + ledger.cutoff_hour) * _HOUR - 90 * 60 * 10**6
    return range(6 * _HOUR, end)


@lru_cache(maxsize=512)  # a feed walks dates in order: recent ones suffice
def _day(ledger: Ledger, date: dt.date) -> Day:
    stretch = ledger.shortfall_dates()
    if stretch is not None and stretch[0] <= date <= stretch[1]:
        return _shortfall(ledger)[date]
    return _build(ledger, date, _funds_opening(ledger, date), _fees_opening(ledger, date))


def _active(ledger: Ledger, date: dt.date) -> bool:
    return date >= ledger.first_date and date.weekday() != ledger.quiet_weekday


def _build(
    ledger: Ledger, date: dt.date, opening: int, fee_opening: int, *, lead: Event | None = None, payout: bool = True
) -> Day:
    """One date from its opening balances; `lead` is a movement that comes first, `payout` False skips it."""
    invoice = ledger.gross and (date + dt.timedelta(days=1)).day == 1  # the month's last date
    if not _active(ledger, date) and lead is None and not (invoice and fee_opening):
        return Day()
    seed = hashlib.sha256(f"{ledger.id}|{date.isoformat()}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    events = movements(ledger, date, rng) if _active(ledger, date) else []
    if lead is not None:
        events.insert(0, lead)
    micros = sorted(rng.sample(business_hours(ledger), len(events)))
    times = [utc_time(ledger, date, us) for us in micros]
    return _settle(ledger, date, events, times, rng, (opening, fee_opening), payout=payout, invoice=invoice)


def _pays_out(ledger: Ledger, date: dt.date) -> bool:
    return ledger.payout_weekday is None or date.weekday() == ledger.payout_weekday


def _funds_opening(ledger: Ledger, date: dt.date) -> int:
    """Weekly settlement carries the funds balance from the last payout on; otherwise every date opens at
    the ledger's opening balance."""
    previous = date - dt.timedelta(days=1)
    if _pays_out(ledger, previous) or date <= ledger.first_date:
        return ledger.opening
    day = _day(ledger, previous)
    return day.funds[-1][0]["balanceAfter"] if day.funds else _funds_opening(ledger, previous)


def _fees_opening(ledger: Ledger, date: dt.date) -> int:
    """Gross settlement carries the fees balance through the month; net settlement starts every date at 0."""
    if not ledger.gross or date.day == 1 or date <= ledger.first_date:
        return 0
    previous = date - dt.timedelta(days=1)
    day = _day(ledger, previous)
    return day.fees[-1][0]["balanceAfter"] if day.fees else _fees_opening(ledger, previous)


@lru_cache(maxsize=16)
def _shortfall(ledger: Ledger) -> dict[dt.date, Day]:
    """The dates of a negative-balance stretch, generated in order since each opens where the last closed.

    Without the refund that starts it, the stretch's balance would peak at some value; the refund
    is that peak and a margin, so the balance stays below zero on every entry until the last
    date, which opens with a top-up back to the opening balance and pays out as usual.
    """
    first, count = ledger.shortfall or (ledger.first_date, 0)
    if count < 2:
        raise ValueError(f"ledger {ledger.id}: a shortfall needs 2 dates or more, got {count}")
    dates = [first + dt.timedelta(days=n) for n in range(count)]
    peak = balance = ledger.opening
    for date in dates[:-1]:
        day = _build(ledger, date, balance, _fees_opening(ledger, date), payout=False)
        for entry, _ in day.funds:
            peak = max(peak, entry["balanceAfter"])
        balance = day.funds[-1][0]["balanceAfter"] if day.funds else balance
    refund = -((peak + 5000_00 + 99_99) // 100_00 * 100_00)  # whole hundreds: it reads as one old order
    days, balance = {}, ledger.opening
    for n, date in enumerate(dates):
        base = f"{ledger.serial}{date:%y%m%d}"
        if n == 0:
            lead = Event("refund", refund, f"order-{ledger.serial}{first:%y%m}", ledger.units[0][1], f"{base}9004")
        elif n == count - 1:
            lead = Event("top-up", ledger.opening - balance, f"Innbetaling faktura {base}", None, f"{base}9005")
        else:
            lead = None
        days[date] = day = _build(ledger, date, balance, _fees_opening(ledger, date), lead=lead, payout=n == count - 1)
        balance = day.funds[-1][0]["balanceAfter"] if day.funds else balance
    return days


def _settle(
    ledger: Ledger,
    date: dt.date,
    events: list[Event],
    times: list[str],
    rng: random.Random,
    openings: tuple[int, int],
    *,
    payout: bool,
    invoice: bool,
) -> Day:
    funds: list[tuple[JsonObject, JsonObject | None]] = []
    fees: list[tuple[JsonObject, JsonObject | None]] = []

    def add(
        rows: list[tuple[JsonObject, JsonObject | None]],
        balance: int,
        psp: str,
        time: str,
        kind: str,
        ref: str | None,
        amount: int,
        handle: str | None,
        gdpr: JsonObject | None = None,
    ) -> int:
        entry = {
            "pspReference": psp,
            "time": time,
            "ledgerDate": date.isoformat(),
            "entryType": kind,
            "reference": ref,
            "currency": ledger.currency,
            "amount": amount,
            "balanceBefore": balance,
            "balanceAfter": balance + amount,
            "recipientHandle": handle,
        }
        if (len(rows) + date.day) % 11 == 0:  # a field no client knows about
            entry["settlementBatch"] = f"b-{date.day % 8}"
        rows.append((entry, gdpr))
        return balance + amount

    balance, fee_balance = openings
    for event, time in zip(events, times, strict=True):
        if event.topic == "fees":
            fee_balance = add(
                fees, fee_balance, event.psp, time, event.type, event.reference, event.amount, event.handle
            )
            continue
        balance = add(
            funds, balance, event.psp, time, event.type, event.reference, event.amount, event.handle, event.gdpr
        )
        if event.fee:
            fee_balance = add(
                fees, fee_balance, event.psp, time, "capture-fee", event.reference, -event.fee, event.handle
            )
    # Settlement runs as the date ends: stamped on the next one, booked on this one.
    retained_at = settle_time(ledger, date, rng.randint(100_000, 199_999))
    payout_at = settle_time(ledger, date, rng.randint(200_000, 299_999))
    base = f"{ledger.serial}{date:%y%m%d}"
    if ledger.gross:
        if invoice and fee_balance:  # the month's fees, invoiced: the fees balance is back to 0
            add(
                fees,
                fee_balance,
                f"{base}9003",
                retained_at,
                "fees-invoiced",
                f"Faktura {date:%Y-%m}",
                -fee_balance,
                None,
            )
    elif fees:
        balance = add(funds, balance, f"{base}9001", retained_at, "fees-retained", "", fee_balance, None)
        add(fees, fee_balance, f"{base}9002", retained_at, "fees-retained", "", -fee_balance, None)
    if payout and funds and _pays_out(ledger, date):
        number = payout_number(ledger, date)
        add(
            funds,
            balance,
            f"{ledger.id}-{number}",
            payout_at,
            ledger.payout_type,
            ledger.bank_text(number),
            ledger.opening - balance,
            None,
        )
    return Day(funds=tuple(funds), fees=tuple(fees))
