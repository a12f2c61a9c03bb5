"""How each ledger is booked: config.toml's `[accounts]`, `[clients."<org>"]` and `[ledgers."<id>"]`.

`[accounts]` is the default every client inherits; a client (a ledger's owner, by the
organisation number the API gives) overrides it in `[clients."<org>"]`, and a ledger
overrides its client in `[ledgers."<id>"]`. Each of the three takes the same keys:

    model = "sales-elsewhere"     or "sales" (see below)
    book_currency = "NOK"         the currency of the client's books: a voucher only for a ledger in it
    voucher_type = 50             GBAT10 column 3 (1-999); Tripletex keeps a number series per type
    numbering = "day-of-year"     voucher number: series x 1000 + day of the year (1-366); or "date":
                                  series x 1,000,000 + YYMMDD (at most 8 digits; leaves Tripletex's block)
    series = 1                    the voucher number's first digit(s); a ledger without one of its own
                                  takes the default, unless another ledger of its client has it already
    lines = "per-type"            a line pair per entry type, direction and date; "per-entry": per entry
    vat_code = 0, text = "..."    defaults for every type
    clearing = 1940               the Vipps MobilePay funds balance
    fees_payable = 2960           the fees owed to Vipps MobilePay (the fees topic's balance)
    statement = "per-entry"       camt.053: an entry per ledger entry, or "per-type": per type, direction and
                                  date, the payments inside (matches per-type vouchers one to one)
    cutoff_hour = 0               the local hour a ledger date begins (Vipps MobilePay sets 4 for some)
    [.vat.<code>]                 rate (percent) and account of an output VAT code, for model "sales"
    [.types.<entryType>]          funds: account (required), vat_code, text, customer, supplier
    [.fee_types.<entryType>]      fees: the same

The two posting models: "sales-elsewhere" (the default: the till, webshop or invoicing
system books the sale; captures and refunds only clear a receivable, and carry no VAT
code) and "sales" (captures and refunds are the sale: revenue with an output VAT code
whose rate `[.vat]` gives). Nothing here is a default chart: the accounts are the
customer's. Every table is checked when the config file is read (a wrong key or value is a
ConfigError naming it, jobs.config_file); what a ledger lacks once its three tables are merged (a
clearing account, an entry type's account) is found when its voucher is written, and
stops that voucher only (see jobs.output). What the tables make, a ledger's Chart, is in
jobs.chart_of_accounts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from jobs.chart_of_accounts import (
    DEFAULT_TEXT,
    LINES,
    MODELS,
    NUMBERINGS,
    PLACEHOLDERS,
    STATEMENTS,
    TABLES,
    Charts,
)
from jobs.config_file import Table
from jobs.errors import ConfigError
from jobs.reconcile import FEES_RETAINED

KEYS = (
    "model",
    "book_currency",
    "voucher_type",
    "numbering",
    "series",
    "lines",
    "vat_code",
    "text",
    "clearing",
    "fees_payable",
    "statement",
    "cutoff_hour",
    *TABLES,
)
TYPE_KEYS = ("account", "vat_code", "text", "customer", "supplier")
VAT_KEYS = ("rate", "account")
_SAMPLE = {
    "date": dt.date(2026, 11, 19),
    "ledger": "302321",
    "count": 1,
    "type": "capture",
    "currency": "NOK",
    "reference": "order-1",
    "psp": "1261119004",
}
_CURRENCY = re.compile(r"[A-Z]{3}")
_MOVED = {  # the shape before charts per client: what to write instead
    "clearing": "clearing is one account now: clearing = 1940; a client in another currency sets its own in "
    '[clients."<organisation number>"]',
    "series": 'series is the default series now: series = 1; a ledger gets its own in [ledgers."<id>"] series = 2',
}


def parse(toml: Mapping[str, Any], source: str = "config.toml") -> Charts:
    """The config file's [accounts], [clients] and [ledgers]; a ConfigError names the key that is wrong."""
    default = _layer(Table.of(toml.get("accounts") or {}, "[accounts]", source))
    levels = {}
    for name in ("clients", "ledgers"):
        tables = Table.of(toml.get(name) or {}, f"[{name}]", source)
        levels[name] = {
            str(key): _layer(Table.of(value, f'[{name}."{key}"]', source)) for key, value in tables.values.items()
        }
    return Charts(default, levels["clients"], levels["ledgers"], source)


def _layer(table: Table) -> dict[str, Any]:
    """One level's keys, each checked; tables of types and VAT codes checked key by key."""
    for key, message in _MOVED.items():
        if isinstance(table.get(key), dict):
            raise ConfigError(f"{table.where} {key} in {table.source}: {message} (see README, Vouchers)")
    table.known(KEYS)
    layer: dict[str, Any] = {}
    checks: dict[str, Callable[[str], object]] = {
        "model": lambda key: table.choice(key, MODELS),
        "book_currency": lambda key: _currency(table, key),
        "voucher_type": lambda key: table.whole(key, least=1, most=999),
        "numbering": lambda key: table.choice(key, tuple(NUMBERINGS)),
        "series": lambda key: table.whole(key, least=0, most=99),
        "lines": lambda key: table.choice(key, LINES),
        "vat_code": lambda key: table.whole(key, least=0, most=99_999),
        "text": lambda key: _template(table, key),
        "clearing": lambda key: _account(table, key),
        "fees_payable": lambda key: _account(table, key),
        "statement": lambda key: table.choice(key, STATEMENTS),
        "cutoff_hour": lambda key: table.whole(key, least=0, most=23),
    }
    for key in table.values:
        if key not in TABLES:
            layer[key] = checks[key](key)
    for key in TABLES:
        if key in table:
            entries = Table.of(table.values[key], f"{table.where} {key}", table.source)
            layer[key] = {str(name): _entry(key, str(name), fields, table) for name, fields in entries.values.items()}
    if "types" in layer and FEES_RETAINED in layer["types"]:
        raise ConfigError(
            f"{table.where} types.{FEES_RETAINED} in {table.source}: fees retained move money from the "
            "funds balance to the fees balance (fees_payable), so they need no account; map the fee "
            "kinds instead, under fee_types (capture-fee, service-fee, ...)"
        )
    return layer


def _entry(kind: str, name: str, fields: Any, layer: Table) -> dict[str, Any]:
    where = layer.where
    inner = f"{where[:-1]}.{kind}.{name}]" if where.startswith("[accounts") else f"{where} {kind}.{name}"
    table = Table.of(fields, inner, layer.source)
    if kind == "vat":
        if not name.isdigit():
            raise ConfigError(f"{inner} in {table.source}: a VAT code is a number, e.g. [accounts.vat.3]")
        table.known(VAT_KEYS)
        if set(VAT_KEYS) - set(table.values):
            raise ConfigError(f"{inner} in {table.source} needs rate = <percent> and account = <number>")
        return {"rate": _rate(table, "rate"), "account": _account(table, "account")}
    table.known(TYPE_KEYS)
    checks: dict[str, Callable[[str], object]] = {
        "account": lambda key: _account(table, key),
        "vat_code": lambda key: table.whole(key, least=0, most=99_999),
        "text": lambda key: _template(table, key),
        "customer": lambda key: _ledger_number(table, key),
        "supplier": lambda key: _ledger_number(table, key),
    }
    return {key: checks[key](key) for key in table.values}


def _account(table: Table, key: str) -> int:
    """GBAT10 gives an account 7 digits (some systems 4)."""
    return table.whole(key, least=1, most=9_999_999)


def _ledger_number(table: Table, key: str) -> str:
    """A customer or supplier number: GBAT10 gives it 9 digits."""
    return str(table.whole(key, least=1, most=999_999_999))


def _rate(table: Table, key: str) -> Decimal:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 100:
        raise table.wrong(key, "a percentage from 0 to under 100, e.g. 25 or 25.5")
    return Decimal(str(value))


def _currency(table: Table, key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise table.wrong(key, 'a currency code, e.g. "NOK"')
    return value


def _template(table: Table, key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise table.wrong(key, f'text in quotes, e.g. "{DEFAULT_TEXT}"')
    try:
        value.format(**_SAMPLE)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise table.wrong(
            key,
            f"text whose placeholders are {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
            f"({type(exc).__name__}: {exc})",
        ) from None
    return value
