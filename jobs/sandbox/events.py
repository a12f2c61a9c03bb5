"""What happens on one ledger date, before it gets times and balances: captures, refunds, disputes,
corrections, payouts aborted, top-ups, and the rarer types of the current docs (service-fee,
credit-note, fee-side correction), in an order that keeps each refund after its capture.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .ledgers import Ledger
from .messages import JsonObject

# Captures cycle through these, so a spreadsheet or CSV writer meets each of them.
AWKWARD_REFERENCES = (
    '=HYPERLINK("http://x","y")',
    "+4712345678",
    "-42",
    "@SUM(A1)",
    "a,b;c",
    '"quoted" text',
    "line\nbreak",
    "tab\there",
    "carriage\rreturn",
    "æøå ÆØÅ",
    "emoji 🧾💸",
    "00123",
    "12345678901234567890",
    "  spaces  ",
    "order-1234",
)
NAMES = ("Kari Nordmann", "Ola Æsøy-Ås", "Søren Ærø", "Matti Meikäläinen", 'Jo "JJ" Li')
MESSAGES = ("Takk for maten!", "Kaffe ☕", "Tak, hej", "", "Kiitos; lounas, 2 kpl")
GDPR_TYPES = {"capture", "refund", "retained-disputed-capture", "returned-disputed-capture"}


@dataclass
class Event:
    """A money movement on the funds account (with topic "fees": on the fees account alone), before it
    gets a time and balances."""

    type: str
    amount: int
    reference: str | None  # None: null in the JSON (a payout reference Norway leaves out)
    handle: str | None
    psp: str
    fee: int = 0  # capture fee, mirrored as a capture-fee entry on the fees topic
    gdpr: JsonObject | None = field(default=None)
    topic: str = "funds"  # "fees": an entry of the fees topic alone (service-fee, credit-note, correction)


def payout_number(ledger: Ledger, date: dt.date) -> int:
    return 2_000_000 + (date - ledger.first_date).days


def movements(ledger: Ledger, date: dt.date, rng: random.Random) -> list[Event]:
    """The date's movements in the order they happen; the day's net keeps its payout positive."""
    base = f"{ledger.serial}{date:%y%m%d}"
    serial = iter(range(10_000))

    def psp() -> str:
        return f"{base}{next(serial):04d}"

    caps = [_capture(ledger, date, k, rng, psp()) for k in range(rng.randint(*ledger.captures))]
    events = list(caps)

    def insert_after(anchor: Event | None, event: Event) -> None:
        # Refunds and disputes must come after the capture they belong to.
        start = 0 if anchor is None else next(i for i, e in enumerate(events) if e is anchor) + 1
        events.insert(rng.randint(start, len(events)), event)

    for _ in range(rng.randint(0, len(caps) // 6)):
        cap = rng.choice(caps)
        refund = Event("refund", -rng.randint(1, cap.amount), cap.reference, cap.handle, psp())
        refund.gdpr = cap.gdpr
        insert_after(cap, refund)
    # The main ledger rotates through the rarer entry types, so any 7 days of it hold each.
    rota = date.toordinal() % 7 if ledger.showcase else -1

    if not ledger.rare_types:
        return _keep_positive(ledger, date, rng, events, caps, psp)
    if rng.random() < 0.15 or rota == 0:
        cap = rng.choice(caps)
        held = Event("retained-disputed-capture", -cap.amount, cap.reference, cap.handle, cap.psp)
        held.gdpr = cap.gdpr
        insert_after(cap, held)
        if rng.random() < 0.5 or rota == 0:
            back = Event("returned-disputed-capture", cap.amount, cap.reference, cap.handle, cap.psp)
            back.gdpr = cap.gdpr
            insert_after(held, back)
    for amount in _corrections(ledger, date, rng, rota == 4):
        insert_after(None, Event("correction", amount, "correction", None, psp()))
    if (rng.random() < 0.04 or rota == 1) and date > ledger.first_date:
        number = payout_number(ledger, date) - 1
        aborted = Event(
            "payout-aborted", rng.randint(100_00, 2000_00), ledger.bank_text(number), None, f"{ledger.id}-{number}"
        )
        insert_after(None, aborted)
    if rng.random() < 0.03 or rota == 2:
        ref = f"Innbetaling faktura {rng.randint(10_000, 99_999)}"
        insert_after(None, Event("top-up", rng.randint(100_00, 5000_00), ref, None, psp()))
    if rng.random() < 0.08 or rota == 3:  # an entry type no client has heard of
        insert_after(None, Event("instant-payout-fee", -rng.randint(1_00, 10_00), "", None, psp()))
    if ledger.showcase:
        for event in _rarer(ledger, date, rng, rota, psp):
            insert_after(None, event)
    return _keep_positive(ledger, date, rng, events, caps, psp)


def _keep_positive(
    ledger: Ledger, date: dt.date, rng: random.Random, events: list[Event], caps: list[Event], psp: Callable[[], str]
) -> list[Event]:
    # What the payout will hold: under net settlement the fees side is retained from the funds.
    net = sum(e.amount for e in events if e.topic == "funds")
    if not ledger.gross:
        net += sum(e.amount for e in events if e.topic == "fees") - sum(e.fee for e in events)
    if net <= 0:  # a payout cannot be negative: one more sale keeps the day's payout positive
        cap = _capture(ledger, date, len(caps), rng, psp())
        cap.amount = 2 * -net + 100_00
        cap.fee = capture_fee(cap.amount)
        events.append(cap)
    return events


def _rarer(ledger: Ledger, date: dt.date, rng: random.Random, rota: int, psp: Callable[[], str]) -> list[Event]:
    """The entry types the current docs list that are rare in practice; on the main ledger, within
    any 7 days (a funds credit-note within any 28)."""
    found = []
    handle = ledger.units[0][1]
    if rng.random() < 0.05 or rota == 5:  # a subscription, not tied to any capture
        found.append(
            Event(
                "service-fee",
                -rng.choice((99_00, 149_00, 299_00)),
                f"Abonnement {date:%m/%Y}",
                handle,
                psp(),
                topic="fees",
            )
        )
    if rng.random() < 0.03 or rota == 5:  # fees credited back
        found.append(
            Event(
                "credit-note",
                rng.randint(10_00, 100_00),
                f"Kreditnota {rng.randint(10_000, 99_999)}",
                None,
                psp(),
                topic="fees",
            )
        )
    if rng.random() < 0.05 or rota == 6:
        amount = rng.choice((-1, 1)) * rng.randint(1, 50_00)
        found.append(Event("correction", amount, "correction", None, psp(), topic="fees"))
    if rng.random() < 0.01 or date.toordinal() % 28 == 5:  # against an earlier top-up invoice
        ref = f"Kreditnota faktura {rng.randint(10_000, 99_999)}"
        found.append(Event("credit-note", rng.randint(50_00, 500_00), ref, None, psp()))
    return found


def _capture(ledger: Ledger, date: dt.date, k: int, rng: random.Random, psp: str) -> Event:
    amount = rng.randint(*ledger.amounts)
    reference: str | None
    if ledger.showcase and k < len(AWKWARD_REFERENCES):
        # The main ledger shows every awkward reference every day, in a rotating order.
        reference = AWKWARD_REFERENCES[(k + date.toordinal()) % len(AWKWARD_REFERENCES)]
    elif rng.random() < 0.25:
        reference = rng.choice(AWKWARD_REFERENCES)
    else:
        reference = f"order-{rng.randint(1000, 99_999)}"
    _, handle = rng.choice(ledger.units)
    if not ledger.vm_references and handle[:3] in ("NO:", "DK:", "FI:") and k % 3 == 0:
        reference = None  # a Vippsnummer sale: nothing for the merchant to refer to
    event = Event("capture", amount, reference, handle, psp, fee=capture_fee(amount))
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
