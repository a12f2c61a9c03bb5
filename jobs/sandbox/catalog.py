"""One sandbox's ledgers: which exist, which the keys may read, which dates are big or corrupted.

Held per Sandbox, never module-wide, so two sandboxes in one process keep their
own grants. Grants change while requests are being served, hence the lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from . import data, defects
from .bulk import ITER_CHUNK, MAX_ENTRIES, BigDate
from .ledgers import BY_ID, LEDGERS, MERCHANT_LEDGER, Ledger
from .messages import JsonObject
from .scripted import ScriptedDate
from .tokens import MERCHANT

DateLike = dt.date | str
Key = tuple[str, str, dt.date]  # (ledgerId, topic, date)


class Made(Protocol):
    """A date whose entries data.py does not make: a BigDate (any volume) or a ScriptedDate (a test's own)."""

    @property
    def count(self) -> int: ...

    def window(self, start: int, stop: int, *, until: str | None, gdpr: bool) -> tuple[list[JsonObject], int]: ...

    def iter_entries(self, *, gdpr: bool = False) -> Iterator[JsonObject]: ...


def as_date(date: DateLike) -> dt.date:
    return dt.date.fromisoformat(date) if isinstance(date, str) else date


class Catalog:
    def __init__(
        self,
        ledger_ids: Iterable[str] | None = None,
        big_dates: Mapping[tuple[str, str, DateLike], int] | None = None,
        corruptions: Mapping[tuple[str, str, DateLike], str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, Ledger] = dict(BY_ID)
        self._granted: list[str] = []  # in the order the ledger list serves them
        self._big: dict[Key, Made] = {}  # dates not made by data.py
        self._defects: dict[Key, str] = {}  # kind per corrupted date
        for ledger_id in [ledger.id for ledger in LEDGERS] if ledger_ids is None else ledger_ids:
            self.grant(ledger_id)
        for (ledger_id, topic, date), count in (big_dates or {}).items():
            self.set_volume(ledger_id, topic, date, count)
        for (ledger_id, topic, date), kind in (corruptions or {}).items():
            self.corrupt(ledger_id, topic, date, kind)

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

    def add(self, ledger_id: str, like: str, units: tuple[tuple[str, str], ...] | None = None) -> Ledger:
        """A granted copy of `like` under a new id, with its own data and pspReferences (and sales units)."""
        model = self.ledger(like)
        with self._lock:
            if ledger_id in self._known:
                raise ValueError(f"ledger {ledger_id!r} already exists")
            serial = 1 + max(ledger.serial for ledger in self._known.values())
            ledger = dataclasses.replace(model, id=ledger_id, serial=serial, units=units or model.units)
            self._known[ledger_id] = ledger
            self._granted.append(ledger_id)
        return ledger

    def set_volume(self, ledger_id: str, topic: str, date: DateLike, count: int) -> None:
        _check_topic(topic)
        if not 0 <= count <= MAX_ENTRIES:
            raise ValueError(f"a date holds 0 to {MAX_ENTRIES} entries, got {count}")
        date = as_date(date)
        big = BigDate(self.ledger(ledger_id), topic, date, count)
        with self._lock:
            kind = self._defects.get((ledger_id, topic, date))
            if kind is not None:  # the date keeps its defect: it must still fit
                self._check_defect((ledger_id, topic, date), big, kind)
            self._big[ledger_id, topic, date] = big

    def script(self, ledger_id: str, topic: str, date: DateLike, entries: Iterable[JsonObject]) -> None:
        """Serve exactly `entries` on the date (see scripted.py), in place of what it held."""
        _check_topic(topic)
        self.ledger(ledger_id)
        with self._lock:
            self._big[ledger_id, topic, as_date(date)] = ScriptedDate(entries)

    def corrupt(self, ledger_id: str, topic: str, date: DateLike, kind: str) -> None:
        """Serve the date with a defect of `kind` (see defects.py), in place of any earlier one."""
        _check_topic(topic)
        defects.check_kind(kind)
        key = (ledger_id, topic, as_date(date))
        self.ledger(ledger_id)
        with self._lock:
            self._check_defect(key, self._big.get(key), kind)
            self._defects[key] = kind

    def window(
        self, ledger_id: str, topic: str, date: dt.date, start: int, stop: int, *, until: str | None, gdpr: bool
    ) -> tuple[list[JsonObject], int]:
        """Entries [start:stop] of a ledger date and how many it holds (with `until`: those stamped before it)."""
        key = (ledger_id, topic, date)
        with self._lock:
            big, kind = self._big.get(key), self._defects.get(key)
        return self._window(key, big, kind, start, stop, until=until, gdpr=gdpr)

    def iter_entries(self, ledger_id: str, topic: str, date: DateLike, *, gdpr: bool = False) -> Iterator[JsonObject]:
        key = (ledger_id, topic, as_date(date))
        with self._lock:
            big, kind = self._big.get(key), self._defects.get(key)
        if big is None:
            return iter(self._window(key, None, kind, 0, MAX_ENTRIES, until=None, gdpr=gdpr)[0])
        if kind is None:
            return big.iter_entries(gdpr=gdpr)
        return self._iter_big(key, big, kind, gdpr)

    def _iter_big(self, key: Key, big: Made, kind: str, gdpr: bool) -> Iterator[JsonObject]:
        for start in range(0, big.count, ITER_CHUNK):
            yield from self._window(key, big, kind, start, start + ITER_CHUNK, until=None, gdpr=gdpr)[0]

    def _window(
        self, key: Key, big: Made | None, kind: str | None, start: int, stop: int, *, until: str | None, gdpr: bool
    ) -> tuple[list[JsonObject], int]:
        """As window(), for a date whose volume and defect were read under the lock."""
        page, total = self._raw(key, big, start, stop, until=until, gdpr=gdpr)
        if kind is None:
            return page, total
        # Positions come from the closed date, so an open date serves a prefix of it, defect included.
        closed = self._raw(key, big, 0, 0, until=None, gdpr=False)[1] if until is not None else total
        positions = defects.touched(kind, closed)
        if any(start <= i < min(stop, total) for i in positions):
            originals = {i: self._raw(key, big, i, i + 1, until=None, gdpr=gdpr)[0][0] for i in positions}
            for i, entry in defects.apply(kind, originals).items():
                if start <= i < min(stop, total):
                    page[i - start] = entry
        return page, total

    def _raw(
        self, key: Key, big: Made | None, start: int, stop: int, *, until: str | None, gdpr: bool
    ) -> tuple[list[JsonObject], int]:
        """Entries [start:stop] as generated, without any defect."""
        if big is not None:
            return big.window(start, stop, until=until, gdpr=gdpr)
        ledger_id, topic, date = key
        return data.window(self.ledger(ledger_id), topic, date, start, stop, until=until, gdpr=gdpr)

    def _check_defect(self, key: Key, big: Made | None, kind: str) -> None:
        """ValueError unless `kind` fits the closed date; called under the lock (ledger known)."""
        ledger_id, topic, date = key
        ledger = self._known[ledger_id]
        if big is not None:
            count = big.count
            last = big.window(count - 1, count, until=None, gdpr=False)[0] if count else []
        else:
            last, count = data.window(ledger, topic, date, -1, MAX_ENTRIES, until=None, gdpr=False)
        where = f"{topic} of ledger {ledger_id} on {date}"
        defects.check_date(kind, topic, count, last[0]["entryType"] if last else None, where)


def _check_topic(topic: str) -> None:
    if topic not in data.TOPICS:
        raise ValueError(f"topic must be one of {data.TOPICS}, got {topic!r}")
