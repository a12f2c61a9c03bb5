"""Deterministic synthetic funds and fees entries, one ledger date at a time.

Every date is generated on its own from a seed of (ledgerId, date), so any date
can be served without generating its predecessors, and two sandboxes serve the
same bytes. Balances still chain across dates because each active date starts
and ends at the ledger's opening balance: the daily payout takes the funds back
to it and `fees-retained` takes the fees back to 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from .ledgers import Ledger

OSLO = ZoneInfo("Europe/Oslo")
UTC = dt.UTC
TOPICS = ("funds", "fees")

# Captures cycle through these, so a spreadsheet or CSV writer meets each of them.
AWKWARD_REFERENCES = (
    '=HYPERLINK("http://x","y")', "+4712345678", "-42", "@SUM(A1)", "a,b;c",
    '"quoted" text', "line\nbreak", "tab\there", "carriage\rreturn", "æøå ÆØÅ",
    "emoji 🧾💸", "00123", "12345678901234567890", "  spaces  ", "order-1234",
)  # fmt: skip
NAMES = ("Kari Nordmann", "Ola Æsøy-Ås", "Søren Ærø", "Matti Meikäläinen", 'Jo "JJ" Li')
MESSAGES = ("Takk for maten!", "Kaffe ☕", "Tak, hej", "", "Kiitos; lounas, 2 kpl")
GDPR_TYPES = {"capture", "refund", "retained-disputed-capture", "returned-disputed-capture"}


@dataclass
class _Event:
    """A money movement on the funds account before it gets a time and balances."""

    type: str
    amount: int
    reference: str
    handle: str | None
    psp: str
    fee: int = 0  # capture fee, mirrored as a capture-fee entry on the fees topic
    gdpr: dict | None = field(default=None)


@dataclass(frozen=True)
class Day:
    """One ledger date: entries as (public fields, GDPR-sensitive fields or None)."""

    funds: tuple[tuple[dict, dict | None], ...] = ()
    fees: tuple[tuple[dict, dict | None], ...] = ()
    cutoff: str = ""  # while the date is open, only entries with time < cutoff exist


def window(ledger: Ledger, topic: str, date: dt.date, start: int, stop: int, *, partial: bool,
           gdpr: bool) -> tuple[list[dict], int]:  # fmt: skip
    """Fresh copies of entries [start:stop] of one ledger date, and how many the date holds.

    The cached originals stay untouched; an open (partial) date holds those before its cutoff.
    """
    day = _day(ledger, date)
    pairs = day.funds if topic == "funds" else day.fees
    if partial:
        pairs = tuple(pair for pair in pairs if pair[0]["time"] < day.cutoff)
    page = [{**public, **extra} if gdpr and extra else dict(public) for public, extra in pairs[start:stop]]
    return page, len(pairs)


def payout_number(ledger: Ledger, date: dt.date) -> int:
    return 2_000_000 + (date - ledger.first_date).days


@lru_cache(maxsize=512)  # a feed walks dates in order: recent ones suffice
def _day(ledger: Ledger, date: dt.date) -> Day:
    if date < ledger.first_date or date.weekday() == ledger.quiet_weekday:
        return Day()
    seed = hashlib.sha256(f"{ledger.id}|{date.isoformat()}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    events = _events(ledger, date, rng)
    # Business hours in Oslo local time: these exist on every day, DST days included.
    micros = sorted(rng.sample(range(6 * 3600 * 10**6, 23 * 3600 * 10**6), len(events)))
    times = [utc_time(date, us) for us in micros]
    return _settle(ledger, date, events, times, rng)


def _events(ledger: Ledger, date: dt.date, rng: random.Random) -> list[_Event]:
    base = f"{ledger.serial}{date:%y%m%d}"
    serial = iter(range(10_000))

    def psp() -> str:
        return f"{base}{next(serial):04d}"

    caps = [_capture(ledger, date, k, rng, psp()) for k in range(rng.randint(*ledger.captures))]
    events = list(caps)

    def insert_after(anchor: _Event | None, event: _Event) -> None:
        # Refunds and disputes must come after the capture they belong to.
        start = 0 if anchor is None else next(i for i, e in enumerate(events) if e is anchor) + 1
        events.insert(rng.randint(start, len(events)), event)

    for _ in range(rng.randint(0, len(caps) // 6)):
        cap = rng.choice(caps)
        refund = _Event("refund", -rng.randint(1, cap.amount), cap.reference, cap.handle, psp())
        refund.gdpr = cap.gdpr
        insert_after(cap, refund)
    # The main ledger rotates through the rarer entry types, so any 7 days of it hold each.
    rota = date.toordinal() % 7 if ledger.showcase else -1

    if rng.random() < 0.15 or rota == 0:
        cap = rng.choice(caps)
        held = _Event("retained-disputed-capture", -cap.amount, cap.reference, cap.handle, cap.psp)
        held.gdpr = cap.gdpr
        insert_after(cap, held)
        if rng.random() < 0.5 or rota == 0:
            back = _Event("returned-disputed-capture", cap.amount, cap.reference, cap.handle, cap.psp)
            back.gdpr = cap.gdpr
            insert_after(held, back)
    for amount in _corrections(ledger, date, rng, rota == 4):
        insert_after(None, _Event("correction", amount, "correction", None, psp()))
    if (rng.random() < 0.04 or rota == 1) and date > ledger.first_date:
        number = payout_number(ledger, date) - 1
        aborted = _Event("payout-aborted", rng.randint(100_00, 2000_00), ledger.bank_text(number),
                         None, f"{ledger.id}-{number}")  # fmt: skip
        insert_after(None, aborted)
    if rng.random() < 0.03 or rota == 2:
        ref = f"Innbetaling faktura {rng.randint(10_000, 99_999)}"
        insert_after(None, _Event("top-up", rng.randint(100_00, 5000_00), ref, None, psp()))
    if rng.random() < 0.08 or rota == 3:  # an entry type no client has heard of
        insert_after(None, _Event("instant-payout-fee", -rng.randint(1_00, 10_00), "", None, psp()))
    net = sum(e.amount - e.fee for e in events)
    if net <= 0:  # a payout cannot be negative: one more sale keeps the day's payout positive
        cap = _capture(ledger, date, len(caps), rng, psp())
        cap.amount = 2 * -net + 100_00
        cap.fee = capture_fee(cap.amount)
        events.append(cap)
    return events


def _capture(ledger: Ledger, date: dt.date, k: int, rng: random.Random, psp: str) -> _Event:
    amount = rng.randint(*ledger.amounts)
    if ledger.showcase and k < len(AWKWARD_REFERENCES):
        # The main ledger shows every awkward reference every day, in a rotating order.
        reference = AWKWARD_REFERENCES[(k + date.toordinal()) % len(AWKWARD_REFERENCES)]
    elif rng.random() < 0.25:
        reference = rng.choice(AWKWARD_REFERENCES)
    else:
        reference = f"order-{rng.randint(1000, 99_999)}"
    _, handle = rng.choice(ledger.units)
    event = _Event("capture", amount, reference, handle, psp, fee=capture_fee(amount))
    if handle[:3] in ("NO:", "DK:", "FI:"):  # only VM-number payments carry personal data
        event.gdpr = {
            "name": rng.choice(NAMES),
            "maskedPhoneNo": f"xxxx {rng.randint(0, 9999):04d}",
            "message": rng.choice(MESSAGES),
        }
    return event


def capture_fee(amount: int) -> int:
    return amount * 175 // 10_000 + 50


def _corrections(ledger: Ledger, date: dt.date, rng: random.Random, due: bool) -> list[int]:
    # The edge amounts 0, -1 and +1 appear in the first days of data and, on the
    # main ledger, every fifth day, so a short recent export meets them too.
    early = (date - ledger.first_date).days < 3
    if early or (ledger.showcase and date.toordinal() % 5 == 0):
        return [0, -1, 1]
    if rng.random() < 0.1 or due:
        return [rng.choice((-1, 1)) * rng.randint(2, 50_00)]
    return []


def utc_time(date: dt.date, micros: int) -> str:
    local = dt.datetime.combine(date, dt.time(), tzinfo=OSLO) + dt.timedelta(microseconds=micros)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _settle(ledger: Ledger, date: dt.date, events: list[_Event], times: list[str],
            rng: random.Random) -> Day:  # fmt: skip
    funds: list[tuple[dict, dict | None]] = []
    fees: list[tuple[dict, dict | None]] = []

    def add(rows: list, balance: int, psp: str, time: str, kind: str, ref: str,
            amount: int, handle: str | None, gdpr: dict | None = None) -> int:  # fmt: skip
        entry = {
            "pspReference": psp, "time": time, "ledgerDate": date.isoformat(),
            "entryType": kind, "reference": ref, "currency": ledger.currency,
            "amount": amount, "balanceBefore": balance, "balanceAfter": balance + amount,
            "recipientHandle": handle,
        }  # fmt: skip
        if (len(rows) + date.day) % 11 == 0:  # a field no client knows about
            entry["settlementBatch"] = f"b-{date.day % 8}"
        rows.append((entry, gdpr))
        return balance + amount

    balance, fee_balance = ledger.opening, 0
    for event, time in zip(events, times, strict=True):
        balance = add(funds, balance, event.psp, time, event.type, event.reference,
                      event.amount, event.handle, event.gdpr)  # fmt: skip
        if event.fee:
            fee_balance = add(fees, fee_balance, event.psp, time, "capture-fee", event.reference,
                              -event.fee, event.handle)  # fmt: skip
    # Settlement runs at local midnight: stamped on the next day, booked on this one.
    next_day = date + dt.timedelta(days=1)
    retained_at = utc_time(next_day, rng.randint(100_000, 199_999))
    payout_at = utc_time(next_day, rng.randint(200_000, 299_999))
    base = f"{ledger.serial}{date:%y%m%d}"
    balance = add(funds, balance, f"{base}9001", retained_at, "fees-retained", "", fee_balance, None)
    add(fees, fee_balance, f"{base}9002", retained_at, "fees-retained", "", -fee_balance, None)
    number = payout_number(ledger, date)
    add(funds, balance, f"{ledger.id}-{number}", payout_at, ledger.payout_type,
        ledger.bank_text(number), ledger.opening - balance, None)  # fmt: skip
    cutoff = times[len(times) // 2]
    return Day(funds=tuple(funds), fees=tuple(fees), cutoff=cutoff)
