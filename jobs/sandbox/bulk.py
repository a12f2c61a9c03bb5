"""Very large ledger dates (for memory benchmarks), generated one page at a time.

A big date of n entries holds n - 1 money movements chaining from the ledger's
opening balance, then one closing entry that takes the balance back to it (the
payout on funds, fees-retained on fees, fees-invoiced under gross settlement), so
balances chain across dates as on ordinary dates (a big date stands alone: next to
a gross-settled month or a negative-balance stretch, it still opens at the ledger's
opening balance, 0 on fees). Nothing is stored per entry: entry i is computed from i and a
table of PERIOD slots made once per (ledger, topic, date) from a seeded
generator, and its balanceBefore from the table's prefix sums:

    S(i) = (i // PERIOD) * S(PERIOD) + S(i % PERIOD)

The two topics of one date are independent: big fees do not mirror big funds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .data import UTC, settle_time
from .events import AWKWARD_REFERENCES, MESSAGES, NAMES, capture_fee, payout_number
from .ledgers import Ledger
from .messages import JsonObject

PERIOD = 1001  # a multiple of 7 (every seventh slot is a refund); pages of 50, 100 or 1000 do not repeat it
_OPENS = dt.time(6)  # business hours are 06:00-23:00 in the ledger's zone
SPAN = 17 * 3600 * 10**6  # their length in microseconds
MAX_ENTRIES = SPAN  # each movement needs a microsecond of its own: times stay unique
_HOUR, _MINUTE, _SECOND = 3600 * 10**6, 60 * 10**6, 10**6
ITER_CHUNK = 1000


@dataclass(frozen=True)
class _Table:
    amounts: array[int]  # per slot
    prefix: array[int]  # PERIOD + 1 running sums of amounts
    handles: tuple[str, ...]  # per slot; a refund's is its capture's
    opens_at: int  # UTC microsecond of the day at which business hours open
    closed_at: str  # time of the closing entry: just after the date ends
    day: str  # the date as ledgerDate and time show it
    psp_base: str  # pspReferences start with it, as on normal dates


@lru_cache(maxsize=64)
def _table(ledger: Ledger, topic: str, date: dt.date) -> _Table:
    seed = hashlib.sha256(f"big|{ledger.id}|{topic}|{date.isoformat()}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    captures = [rng.randint(*ledger.amounts) for _ in range(PERIOD)]
    handles = [rng.choice(ledger.units)[1] for _ in range(PERIOD)]
    if topic == "funds":
        amounts = [-rng.randint(1, captures[j - 1]) if _is_refund(j) else captures[j] for j in range(PERIOD)]
        handles = [handles[j - 1] if _is_refund(j) else handles[j] for j in range(PERIOD)]
    else:
        amounts = [-capture_fee(amount) for amount in captures]
    prefix = array("q", [0])
    for amount in amounts:
        prefix.append(prefix[-1] + amount)
    # The ledgers' zones are one to three hours ahead of UTC and change at night, so
    # business hours sit on the date's own UTC day with one offset throughout.
    opens = dt.datetime.combine(date, _OPENS, tzinfo=ledger.zone).astimezone(UTC)
    opens_at = (opens.hour * 3600 + opens.minute * 60) * 10**6
    closed_at = settle_time(ledger, date, rng.randint(200_000, 299_999))
    return _Table(
        array("q", amounts),
        prefix,
        tuple(handles),
        opens_at,
        closed_at,
        date.isoformat(),
        f"{ledger.serial}{date:%y%m%d}",
    )


def _is_refund(slot: int) -> bool:
    return slot % 7 == 6  # right after the capture it refunds, in the same period


@dataclass(frozen=True)
class BigDate:
    """One (ledger, topic, date) that serves `count` generated entries once closed."""

    ledger: Ledger
    topic: str
    date: dt.date
    count: int

    def total(self, until: str | None) -> int:
        """How many entries the date holds: those stamped before `until` (times grow with i), or all."""
        if until is None:
            return self.count
        table, spacing = _table(self.ledger, self.topic, self.date), self._spacing
        low, high = 0, self.count
        while low < high:
            middle = (low + high) // 2
            if self._time(table, spacing, middle) < until:
                low = middle + 1
            else:
                high = middle
        return low

    def window(self, start: int, stop: int, *, until: str | None, gdpr: bool) -> tuple[list[JsonObject], int]:
        """Entries [start:stop] and how many the date holds, generating only those asked for."""
        total = self.total(until)
        table = _table(self.ledger, self.topic, self.date)
        return [self._entry(table, self._spacing, i, gdpr) for i in range(start, min(stop, total))], total

    @property
    def _spacing(self) -> int:
        return SPAN // max(1, self.count - 1)  # per movement: each gets a time within its share

    def _time(self, table: _Table, spacing: int, i: int) -> str:
        if i == self.count - 1:
            return table.closed_at
        micros = table.opens_at + i * spacing + i * 7919 % spacing  # sorted and unique
        hours, rest = divmod(micros, _HOUR)
        minutes, rest = divmod(rest, _MINUTE)
        seconds, rest = divmod(rest, _SECOND)
        return f"{table.day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{rest:06d}Z"

    def iter_entries(self, *, gdpr: bool = False) -> Iterator[JsonObject]:
        """All entries of the closed date, a chunk at a time."""
        for start in range(0, self.count, ITER_CHUNK):
            yield from self.window(start, start + ITER_CHUNK, until=None, gdpr=gdpr)[0]

    @property
    def opening(self) -> int:
        """The balance the date opens and closes with: as on normal dates."""
        return self.ledger.opening if self.topic == "funds" else 0

    def _balance(self, table: _Table, i: int) -> int:
        whole, part = divmod(i, PERIOD)
        return self.opening + whole * table.prefix[PERIOD] + table.prefix[part]

    def _entry(self, table: _Table, spacing: int, i: int, gdpr: bool) -> JsonObject:
        before = self._balance(table, i)
        if i == self.count - 1:
            return self._closing(table, i, before)
        slot = i % PERIOD
        amount, handle = table.amounts[slot], table.handles[slot]
        time = self._time(table, spacing, i)
        funds = self.topic == "funds"
        kind = ("refund" if _is_refund(slot) else "capture") if funds else "capture-fee"
        capture = i - 1 if kind == "refund" else i  # a refund carries its capture's reference
        awkward = capture % 3 == 0
        reference = AWKWARD_REFERENCES[capture // 3 % len(AWKWARD_REFERENCES)] if awkward else f"order-{capture + 1}"
        psp = f"{table.psp_base}{i:07d}"  # longer than a normal date's: never the same
        entry = self._row(table, i, psp, time, kind, reference, amount, before, handle)
        if gdpr and funds and handle[:3] in ("NO:", "DK:", "FI:"):  # as on normal dates: VM-number sales
            entry.update(
                name=NAMES[capture % len(NAMES)],
                maskedPhoneNo=f"xxxx {capture * 7919 % 10_000:04d}",
                message=MESSAGES[capture % len(MESSAGES)],
            )
        return entry

    def _closing(self, table: _Table, i: int, before: int) -> JsonObject:
        ledger, amount = self.ledger, self.opening - before
        if self.topic == "fees":
            kind = "fees-invoiced" if ledger.gross else "fees-retained"
            return self._row(table, i, f"{table.psp_base}9002", table.closed_at, kind, "", amount, before, None)
        number = payout_number(ledger, self.date)
        return self._row(
            table,
            i,
            f"{ledger.id}-{number}",
            table.closed_at,
            ledger.payout_type,
            ledger.bank_text(number),
            amount,
            before,
            None,
        )

    def _row(
        self,
        table: _Table,
        i: int,
        psp: str,
        time: str,
        kind: str,
        reference: str | None,
        amount: int,
        before: int,
        handle: str | None,
    ) -> JsonObject:
        entry = {
            "pspReference": psp,
            "time": time,
            "ledgerDate": table.day,
            "entryType": kind,
            "reference": reference,
            "currency": self.ledger.currency,
            "amount": amount,
            "balanceBefore": before,
            "balanceAfter": before + amount,
            "recipientHandle": handle,
        }
        if (i + self.date.day) % 11 == 0:  # as on normal dates: a field no client knows about
            entry["settlementBatch"] = f"b-{self.date.day % 8}"
        return entry
