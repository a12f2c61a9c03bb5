"""The chart of accounts GBAT10 vouchers post to: config.toml's ``[accounts]`` table.

    [accounts]
    voucher_type = 50             GBAT10 column 3 (1-999); Tripletex keeps a number series per type
    numbering = "day-of-year"     voucher number: series x 1000 + day of the year (1-366); or "date":
                                  series x 1,000,000 + YYMMDD (at most 8 digits)
    lines = "per-type"            a line pair per entry type and date; "per-entry": a pair per entry
    vat_code = 0                  default for every type
    text = "..."                  default voucher text for every type
    [accounts.clearing]           the Vipps MobilePay balance: currency or ledger id -> account
    [accounts.series]             ledger id -> its series, so two ledgers never share a number
    [accounts.types.<entryType>]  account (required), vat_code, text

Nothing here is a default chart: the accounts are the customer's (the committed
config.toml carries an example to change). A missing piece is a ConfigError that
names the key to add, raised when a voucher needs it, so a chart that covers the
ledgers in use works without listing every ledger there is.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobs.errors import ConfigError
from jobs.reconcile import PAYOUT_TYPES

NUMBERINGS = {"day-of-year": 9, "date": 99}  # numbering -> highest series, so a number keeps to 8 digits
LINES = ("per-type", "per-entry")
PLACEHOLDERS = ("date", "ledger", "count", "type", "currency", "reference", "psp")
DEFAULT_TEXT = "Vipps MobilePay {type} {date} ledger {ledger} ({count})"
KEYS = ("voucher_type", "numbering", "lines", "vat_code", "text", "clearing", "series", "types")
TYPE_KEYS = ("account", "vat_code", "text")
_SAMPLE = {"date": dt.date(2026, 11, 19), "ledger": "302321", "count": 1, "type": "capture", "currency": "NOK",
           "reference": "order-1", "psp": "1261119004"}  # fmt: skip


@dataclass(frozen=True)
class Posting:
    """Where one entry type's money comes from or goes to."""

    account: int
    vat_code: int
    text: str  # a str.format template over PLACEHOLDERS

    def describe(self, date: dt.date, ledger: str, count: int, entry_type: str, currency: str,
                 reference: str = "", psp: str = "") -> str:  # fmt: skip
        return self.text.format(date=date, ledger=ledger, count=count, type=entry_type, currency=currency,
                                reference=reference, psp=psp)  # fmt: skip

    @functools.cached_property  # asked for every entry of a per-entry voucher
    def names_reference(self) -> bool:
        return any(field == "reference" for _, field, _, _ in string.Formatter().parse(self.text))


@dataclass(frozen=True)
class Accounts:
    voucher_type: int
    numbering: str
    lines: str
    clearing: Mapping[str, int]  # currency code or ledger id -> account
    series: Mapping[str, int]  # ledger id -> series
    types: Mapping[str, Posting]

    def posting(self, entry_type: str) -> Posting:
        """The mapping of an entry type; the payout's two names share one (either may be configured)."""
        found = self.types.get(entry_type)
        if found is None and entry_type in PAYOUT_TYPES:
            found = next((self.types[name] for name in sorted(PAYOUT_TYPES) if name in self.types), None)
        if found is None:
            raise ConfigError(f"entry type {entry_type!r} has no account: add [accounts.types.{entry_type}] with "
                              "account = <number> to config.toml (see the example there)")  # fmt: skip
        return found

    def clearing_account(self, ledger_id: str, currency: str) -> int:
        """The ledger's own clearing account, else its currency's."""
        found = self.clearing.get(ledger_id, self.clearing.get(currency))
        if found is None:
            raise ConfigError(f"no clearing account for {currency}: add {currency} = <number> (or "
                              f'"{ledger_id}" = <number>) to [accounts.clearing] in config.toml')  # fmt: skip
        return found

    def voucher_number(self, ledger_id: str, date: dt.date) -> int:
        """The same ledger date always gets the same number, so a second import shows up as a duplicate."""
        series = self.series.get(ledger_id)
        if series is None:
            free = sorted(set(range(NUMBERINGS[self.numbering] + 1)) - set(self.series.values()))
            example = f"e.g. {free[0]}" if free else 'no series is free: use numbering = "date"'
            raise ConfigError(f'no voucher series: add "{ledger_id}" = <series> to [accounts.series] in '
                              f"config.toml ({example})")  # fmt: skip
        if self.numbering == "date":
            return series * 1_000_000 + int(f"{date:%y%m%d}")
        return series * 1000 + date.timetuple().tm_yday


def parse(table: Any) -> Accounts | None:
    """config.toml's [accounts] table (None when absent); a ConfigError names the key that is wrong."""
    if table is None:
        return None
    _known(table, KEYS, "[accounts]")
    top = _Values(table, "[accounts]")
    numbering = top.choice("numbering", tuple(NUMBERINGS))
    default = Posting(account=0, vat_code=top.whole("vat_code", 0, 0, 99_999), text=top.template("text", DEFAULT_TEXT))
    types = {}
    for entry_type, values in _table(table, "types").items():
        where = f"[accounts.types.{entry_type}]"
        if not isinstance(values, dict):
            raise ConfigError(f"{where} in config.toml must be a table with account = <number>")
        _known(values, TYPE_KEYS, where)
        if "account" not in values:
            raise ConfigError(f"{where} in config.toml has no account: add account = <number>")
        one = _Values(values, where)
        types[entry_type] = Posting(account=one.account("account"), vat_code=one.whole("vat_code", default.vat_code,
                                    0, 99_999), text=one.template("text", default.text))  # fmt: skip
    clearing = _Values(_table(table, "clearing"), "[accounts.clearing]")
    series = _Values(_table(table, "series"), "[accounts.series]")
    most = NUMBERINGS[numbering]
    by_ledger = {key: series.whole(key, 0, 0, most) for key in series.values}
    for ledger_id, number in by_ledger.items():
        others = [other for other, n in by_ledger.items() if n == number and other != ledger_id]
        if others:
            raise ConfigError(f"[accounts.series] gives ledgers {ledger_id} and {others[0]} the same series {number}: "
                              "give each ledger its own, or their vouchers share numbers")  # fmt: skip
    return Accounts(
        voucher_type=top.whole("voucher_type", 1, 1, 999),
        numbering=numbering,
        lines=top.choice("lines", LINES),
        clearing={key: clearing.account(key) for key in clearing.values},
        series=by_ledger,
        types=types,
    )


def _table(table: dict, key: str) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[accounts] {key} in config.toml must be a table, [accounts.{key}]")
    return value


def _known(table: dict, keys: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in keys:
            raise ConfigError(f"{where} {key} in config.toml is not a setting this version reads: remove it or fix "
                              f"its name (known in {where}: {', '.join(keys)})")  # fmt: skip


class _Values:
    """One table of [accounts]; each getter checks the value's type and names `[table] key` if it is wrong."""

    def __init__(self, values: dict, where: str) -> None:
        self.values, self.where = values, where

    def wrong(self, key: str, should: str) -> ConfigError:
        return ConfigError(f"{self.where} {key} in config.toml is {self.values[key]!r}: it must be {should}")

    def whole(self, key: str, default: int, least: int, most: int) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise self.wrong(key, f"a whole number from {least} to {most}")
        return value

    def account(self, key: str) -> int:
        """GBAT10 gives an account 7 digits (some systems 4)."""
        return self.whole(key, 0, 1, 9_999_999)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.values.get(key, allowed[0])
        if value not in allowed:
            raise self.wrong(key, "one of " + ", ".join(f'"{a}"' for a in allowed))
        return value

    def template(self, key: str, default: str) -> str:
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise self.wrong(key, f'text in quotes, e.g. "{DEFAULT_TEXT}"')
        try:
            value.format(**_SAMPLE)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise self.wrong(key, f"text whose placeholders are {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
                                  f"({type(exc).__name__}: {exc})") from None  # fmt: skip
        return value
