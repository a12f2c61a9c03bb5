"""The fees topic joined to the funds topic by pspReference: what each payment cost, for any number of them.

A payment's fees are entries of the fees topic that carry its pspReference (`capture-fee`, and
whatever other fee a payment may get); a payment can have several. Other fee entries are tied to
no payment: a `service-fee`, a `credit-note` or a `correction` stand alone, and `fees-retained`
and `fees-invoiced` move the fees balance as a whole (SETTLING). Amounts are as the fees topic
books them: a fee charged is negative there, so a payment's fee is minus the sum of its entries.

A FeeIndex keeps the fee entries of some ledger dates in a private SQLite database that SQLite
puts in a temporary file of its own and deletes when the index is closed: only its page cache
(a few MB) is in memory, so a settlement of 500,000 payments is joined in flat memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from jobs.entries import Row
from jobs.money import minor_units
from jobs.reconcile import FEES_INVOICED, FEES_RETAINED

SETTLING = (FEES_RETAINED, FEES_INVOICED)  # the fees balance settled as a whole: no payment's fee
_CHUNK = 500  # pspReferences per query, well under SQLite's limit on parameters


class DuplicatePayment(ValueError):
    """Two payments asked for with one pspReference: which of them a fee belongs to is unknown."""


class FeeIndex:
    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a temporary database on disk, not in memory
        self._db.executescript(
            "CREATE TABLE fee (psp TEXT NOT NULL, type TEXT NOT NULL, amount INTEGER NOT NULL);"
            "CREATE TABLE taken (psp TEXT PRIMARY KEY, batch INTEGER NOT NULL);"  # the payments asked for so far
            "BEGIN;"
        )
        self._sealed = False
        self._batches = 0

    def add(self, rows: Iterable[Row]) -> None:
        """Fee entries (rows of the fees topic), before the first lookup."""
        if self._sealed:
            raise RuntimeError("fees added after the first lookup")
        self._db.executemany(
            "INSERT INTO fee VALUES (?, ?, ?)", ((r.pspReference, r.entryType, minor_units(r.amount)) for r in rows)
        )

    def fees(self, psps: Sequence[str]) -> dict[str, int]:
        """pspReference -> the payment's fee in minor units (charged: positive), for those that have one.
        Each pspReference may be asked for once: DuplicatePayment otherwise."""
        self._seal()
        self._batches += 1
        before = self._db.total_changes
        self._db.executemany("INSERT OR IGNORE INTO taken VALUES (?, ?)", ((psp, self._batches) for psp in psps))
        if self._db.total_changes - before < len(psps):
            raise DuplicatePayment(f"pspReference {self._duplicate(psps)!r} belongs to more than one payment")
        found: dict[str, int] = {}
        for chunk in _chunks(psps):
            found.update(
                self._db.execute(
                    f"SELECT psp, -sum(amount) FROM fee WHERE psp IN ({','.join('?' * len(chunk))})"
                    f" AND type NOT IN {SETTLING} GROUP BY psp",
                    chunk,
                )
            )
        return found

    def taken_total(self) -> int:
        """The fees of every payment asked for so far, added up apart from the lookups: minor units."""
        self._seal()
        total: int = self._db.execute(
            f"SELECT -coalesce(sum(amount), 0) FROM fee WHERE type NOT IN {SETTLING} AND psp IN (SELECT psp FROM taken)"
        ).fetchone()[0]
        return total

    def untaken(self) -> list[tuple[str, int, int]]:
        """Fee entries tied to no payment asked for, per type: (type, entries, fee in minor units)."""
        self._seal()
        return self._db.execute(
            f"SELECT type, count(*), -sum(amount) FROM fee WHERE type NOT IN {SETTLING}"
            " AND psp NOT IN (SELECT psp FROM taken) GROUP BY type ORDER BY type"
        ).fetchall()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _seal(self) -> None:
        if not self._sealed:
            self._db.execute("CREATE INDEX fee_psp ON fee (psp)")  # once, after the bulk insert: faster
            self._sealed = True

    def _duplicate(self, psps: Sequence[str]) -> str:
        """The pspReference asked for twice: within this batch, or in an earlier one."""
        seen: set[str] = set()
        for psp in psps:
            if psp in seen:
                return psp
            seen.add(psp)
        for chunk in _chunks(psps):
            earlier = self._db.execute(
                f"SELECT psp FROM taken WHERE batch < ? AND psp IN ({','.join('?' * len(chunk))})",
                (self._batches, *chunk),
            ).fetchone()
            if earlier:
                repeated: str = earlier[0]
                return repeated
        return "?"


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    return (items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK))
