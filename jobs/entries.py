"""API entries -> rows of the report files.

The API gives integers in minor units (øre, cents); a row holds major units, as
Decimal (jobs.money: the conversion, exact, and how the files write it).

Text is kept as served, with one exception: a lone surrogate (a JSON escape such
as ``\\ud800`` without its pair) is not a character, and no UTF-8 file, SQLite
row or log line can hold it. It becomes U+FFFD, the replacement character, before
anything else sees the entry, and the caller is told how many there were.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from jobs.money import major_units

COLUMNS = (
    "ledgerId",
    "ledgerDate",
    "time",
    "entryType",
    "pspReference",
    "reference",
    "recipientHandle",
    "currency",
    "amount",
    "balanceBefore",
    "balanceAfter",
)
# Personal data of VM-number payments, served only with includeGDPRSensitiveData=true; opt-in.
GDPR_COLUMNS = ("name", "maskedPhoneNo", "message")
TEXT_COLUMNS = frozenset(COLUMNS + GDPR_COLUMNS) - {"ledgerDate", "amount", "balanceBefore", "balanceAfter"}
AMOUNT_COLUMNS = ("amount", "balanceBefore", "balanceAfter")
# The entry's own text fields; the ledger id comes from the path, not the entry.
_SERVED_TEXT = tuple(sorted(TEXT_COLUMNS - {"ledgerId"}))
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str from JSON, a pair is already one character


class Row(NamedTuple):
    """One entry as the files show it: text exactly as served, amounts in major units."""

    ledgerId: str
    ledgerDate: dt.date
    time: str
    entryType: str
    pspReference: str
    reference: str
    recipientHandle: str
    currency: str
    amount: Decimal
    balanceBefore: Decimal
    balanceAfter: Decimal
    name: str = ""
    maskedPhoneNo: str = ""
    message: str = ""


class EntryError(ValueError):
    """An entry the API served that cannot be a row (a missing or mistyped field)."""


def replace_lone_surrogates(entries: Iterable[dict[str, Any]]) -> int:
    """Replace, in place, each lone surrogate in the entries' text fields with U+FFFD; returns how many."""
    replaced = 0
    for entry in entries:
        for name in _SERVED_TEXT:
            value = entry.get(name)
            # Only non-ASCII text can hold one: most fields are passed over after a single cheap test.
            if type(value) is str and not value.isascii() and _LONE_SURROGATE.search(value):
                entry[name], count = _LONE_SURROGATE.subn("\ufffd", value)
                replaced += count
    return replaced


def instant(served: str) -> dt.datetime | None:
    """The API's `time` ('2026-11-20T07:19:26.528092Z') as an aware datetime; None if it cannot be read
    or has no UTC offset (which zone it means would be a guess, and a wrong local time is worse than none)."""
    try:
        moment = dt.datetime.fromisoformat(served)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def local_time(served: str, zone: ZoneInfo) -> dt.datetime | None:
    """The API's `time` as wall time in `zone`, or None (see instant)."""
    moment = instant(served)
    return moment.astimezone(zone) if moment is not None else None


def to_row(entry: dict[str, Any], ledger_id: str) -> Row:
    """Map one API entry to a row; unknown fields are ignored, unknown entry types kept."""
    try:
        ledger_date = dt.date.fromisoformat(_text(entry, "ledgerDate"))
        amounts = [_integer(entry, name) for name in AMOUNT_COLUMNS]
    except ValueError as exc:
        raise EntryError(f"ledger {ledger_id}: {exc}") from None
    return Row(
        ledgerId=ledger_id,  # entries do not carry it reliably; the path does
        ledgerDate=ledger_date,
        time=_text(entry, "time"),
        entryType=_text(entry, "entryType"),
        pspReference=_text(entry, "pspReference"),
        reference=_text(entry, "reference"),
        recipientHandle=_text(entry, "recipientHandle"),
        currency=_text(entry, "currency"),
        amount=major_units(amounts[0]),
        balanceBefore=major_units(amounts[1]),
        balanceAfter=major_units(amounts[2]),
        name=_text(entry, "name"),
        maskedPhoneNo=_text(entry, "maskedPhoneNo"),
        message=_text(entry, "message"),
    )


def _text(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Identifiers must stay text; a number here would already have lost leading zeros.
        raise EntryError(f"field {name!r} is a number ({value!r}), expected a string")
    if not isinstance(value, str):
        raise EntryError(f"field {name!r} is {type(value).__name__}, expected a string")
    return value


def _integer(entry: dict[str, Any], name: str) -> int:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EntryError(f"field {name!r} is {value!r}, expected an integer in minor units")
    return value
