"""One sandbox's ledgers: which exist, which the keys may read, and which dates are big.

Held per Sandbox, never module-wide, so two sandboxes in one process keep their
own grants. Grants change while requests are being served, hence the lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Mapping

from . import data
from .bulk import MAX_ENTRIES, BigDate
from .ledgers import BY_ID, LEDGERS, MERCHANT_LEDGER, Ledger
from .tokens import MERCHANT

DateLike = dt.date | str


def as_date(date: DateLike) -> dt.date:
    return dt.date.fromisoformat(date) if isinstance(date, str) else date


class Catalog:
    def __init__(self, ledger_ids: Iterable[str] | None = None,
                 big_dates: Mapping[tuple[str, str, DateLike], int] | None = None) -> None:  # fmt: skip
        self._lock = threading.Lock()
        self._known: dict[str, Ledger] = dict(BY_ID)
        self._granted: list[str] = []  # in the order the ledger list serves them
        self._big: dict[tuple[str, str, dt.date], BigDate] = {}
        for ledger_id in [ledger.id for ledger in LEDGERS] if ledger_ids is None else ledger_ids:
            self.grant(ledger_id)
        for (ledger_id, topic, date), count in (big_dates or {}).items():
            self.set_volume(ledger_id, topic, date, count)

    def ledger(self, ledger_id: str) -> Ledger:
        """A ledger this sandbox holds, granted or not; KeyError for others."""
        with self._lock:
            if ledger_id not in self._known:
                raise KeyError(f"no ledger {ledger_id!r} in this sandbox (add_ledger() makes new ones)")
            return self._known[ledger_id]

    def visible(self, kind: str) -> list[Ledger]:
        """The ledgers a key type may read, in list order: merchant keys see only their own."""
        with self._lock:
            ledgers = [self._known[i] for i in self._granted]
        return [ledger for ledger in ledgers if kind != MERCHANT or ledger.id == MERCHANT_LEDGER]

    def grant(self, ledger_id: str) -> None:
        """Let the keys read a ledger this sandbox holds; a new grant goes to the end of the list."""
        self.ledger(ledger_id)
        with self._lock:
            if ledger_id not in self._granted:
                self._granted.append(ledger_id)

    def withdraw(self, ledger_id: str) -> None:
        self.ledger(ledger_id)
        with self._lock:
            if ledger_id in self._granted:
                self._granted.remove(ledger_id)

    def add(self, ledger_id: str, like: str) -> Ledger:
        """A granted copy of `like` under a new id, with its own data and pspReferences."""
        model = self.ledger(like)
        with self._lock:
            if ledger_id in self._known:
                raise ValueError(f"ledger {ledger_id!r} already exists")
            serial = 1 + max(ledger.serial for ledger in self._known.values())
            ledger = dataclasses.replace(model, id=ledger_id, serial=serial)
            self._known[ledger_id] = ledger
            self._granted.append(ledger_id)
        return ledger

    def set_volume(self, ledger_id: str, topic: str, date: DateLike, count: int) -> None:
        if topic not in data.TOPICS:
            raise ValueError(f"topic must be one of {data.TOPICS}, got {topic!r}")
        if not 0 <= count <= MAX_ENTRIES:
            raise ValueError(f"a date holds 0 to {MAX_ENTRIES} entries, got {count}")
        date = as_date(date)
        big = BigDate(self.ledger(ledger_id), topic, date, count)
        with self._lock:
            self._big[ledger_id, topic, date] = big

    def window(self, ledger_id: str, topic: str, date: dt.date, start: int, stop: int, *, partial: bool,
               gdpr: bool) -> tuple[list[dict], int]:  # fmt: skip
        """Entries [start:stop] of a ledger date and how many it holds (an open date: so far)."""
        with self._lock:
            big = self._big.get((ledger_id, topic, date))
        if big is not None:
            return big.window(start, stop, partial=partial, gdpr=gdpr)
        return data.window(self.ledger(ledger_id), topic, date, start, stop, partial=partial, gdpr=gdpr)

    def iter_entries(self, ledger_id: str, topic: str, date: DateLike, *, gdpr: bool = False) -> Iterator[dict]:
        date = as_date(date)
        with self._lock:
            big = self._big.get((ledger_id, topic, date))
        if big is not None:
            return big.iter_entries(gdpr=gdpr)
        return iter(self.window(ledger_id, topic, date, 0, MAX_ENTRIES, partial=False, gdpr=gdpr)[0])
