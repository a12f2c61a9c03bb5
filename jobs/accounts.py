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
stops that voucher only (see jobs.output).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from jobs.config_file import Table
from jobs.errors import ConfigError
from jobs.reconcile import FEES_RETAINED, PAYOUT_TYPES

MODELS = ("sales-elsewhere", "sales")
SALES = ("capture", "refund")  # what the two models book differently
NUMBERINGS = {"day-of-year": 9, "date": 99}  # numbering -> highest series, so a number keeps to 8 digits
LINES = ("per-type", "per-entry")
STATEMENTS = ("per-entry", "per-type")
PLACEHOLDERS = ("date", "ledger", "count", "type", "currency", "reference", "psp")
DEFAULT_TEXT = "Vipps MobilePay {type} {date} ledger {ledger} ({count})"
TABLES = ("vat", "types", "fee_types")
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


@dataclass(frozen=True)
class Posting:
    """Where one entry type's money comes from or goes to."""

    account: int
    vat_code: int
    text: str  # a str.format template over PLACEHOLDERS
    customer: str = ""  # GBAT10 column 9: a posting in the customer ledger
    supplier: str = ""  # column 10: in the supplier ledger

    def describe(
        self, date: dt.date, ledger: str, count: int, entry_type: str, currency: str, reference: str = "", psp: str = ""
    ) -> str:
        return self.text.format(
            date=date, ledger=ledger, count=count, type=entry_type, currency=currency, reference=reference, psp=psp
        )

    @functools.cached_property  # asked for every entry of a per-entry voucher
    def names_reference(self) -> bool:
        return any(name == "reference" for _, name, _, _ in string.Formatter().parse(self.text))


@dataclass(frozen=True)
class Vat:
    rate: Decimal  # percent
    account: int  # the output VAT account, for systems that import postings as they are

    def of(self, gross: int) -> int:
        """The VAT a gross amount (minor units) holds, rounded half away from zero: 37,363.31 at 25 % -> 7,472.66."""
        share = abs(gross) * self.rate / (100 + self.rate)
        vat = int(share.to_integral_value(rounding="ROUND_HALF_UP"))
        return -vat if gross < 0 else vat


@dataclass(frozen=True)
class Chart:
    """One ledger's chart, its three tables merged; `gap` says what it lacks for a voucher ("" if nothing)."""

    ledger_id: str
    client: str  # the owner's organisation number, "" if the API gave none
    gap: str
    model: str = MODELS[0]
    book_currency: str = ""
    voucher_type: int = 1
    numbering: str = "day-of-year"
    series: int = 0  # 0 also in a chart whose gap says it has no series
    lines: str = "per-type"
    text: str = DEFAULT_TEXT  # the default text, for fees retained (booked with no type of their own)
    clearing: int = 0
    fees_payable: int = 0
    statement: str = "per-entry"
    cutoff_hour: int = 0
    vat: Mapping[int, Vat] = field(default_factory=dict)
    types: Mapping[str, Posting] = field(default_factory=dict)
    fee_types: Mapping[str, Posting] = field(default_factory=dict)
    source: str = "config.toml"  # the config file, as its messages name it

    def posting(self, topic: str, entry_type: str) -> Posting:
        """The mapping of an entry type; the payout's two names share one. A ConfigError names what to add."""
        types, table = (self.types, "types") if topic == "funds" else (self.fee_types, "fee_types")
        found = types.get(entry_type)
        if found is None and entry_type in PAYOUT_TYPES:
            found = next((types[name] for name in sorted(PAYOUT_TYPES) if name in types), None)
        if found is None:
            raise ConfigError(
                f"{topic} entry type {entry_type!r} has no account: add [accounts.{table}.{entry_type}] "
                f"with account = <number> to {self.source} (or to the client's or the ledger's table)"
            )
        return found

    def vat_of(self, posting: Posting) -> Vat | None:
        return self.vat.get(posting.vat_code) if self.model == "sales" else None

    def voucher_number(self, date: dt.date) -> int:
        """The same ledger date always gets the same number, so a second import shows up as a duplicate."""
        if self.numbering == "date":
            return self.series * 1_000_000 + int(f"{date:%y%m%d}")
        return self.series * 1000 + date.timetuple().tm_yday

    @property
    def number_series(self) -> tuple[int, str, int]:
        """What two ledgers of one client must not share, or their vouchers share numbers."""
        return self.voucher_type, self.numbering, self.series


@dataclass(frozen=True)
class Charts:
    """The three levels of the config file, each checked; `chart()` merges them for one ledger."""

    default: Mapping[str, Any]
    clients: Mapping[str, Mapping[str, Any]]
    ledgers: Mapping[str, Mapping[str, Any]]
    source: str = "config.toml"  # the config file, as its messages name it

    @property
    def any(self) -> bool:
        return bool(self.default or self.clients or self.ledgers)

    def chart(self, ledger_id: str, client: str) -> Chart:
        layers = (self.default, self.clients.get(client, {}), self.ledgers.get(ledger_id, {}))
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in layer.items():
                if key in TABLES:
                    table = merged.setdefault(key, {})
                    for name, fields in value.items():
                        table[name] = {**table.get(name, {}), **fields}
                else:
                    merged[key] = value
        return _chart(ledger_id, client, merged, self.source)


def charts_for(charts: Charts, ledgers: Sequence[tuple[str, str]]) -> dict[str, Chart]:
    """Each ledger's chart, for (ledger id, client) oldest first. Two ledgers of one client on the same voucher
    type, numbering and series would share voucher numbers: the one seen first keeps them, the other waits."""
    found: dict[str, Chart] = {}
    taken: dict[tuple[str, int, str, int], str] = {}
    for ledger_id, client in ledgers:
        chart = charts.chart(ledger_id, client)
        if not chart.gap:
            other = taken.setdefault((client, *chart.number_series), ledger_id)
            if other != ledger_id:
                chart = replace(
                    chart,
                    gap=f"ledger {other} of the same client already has voucher series "
                    f"{chart.series}: give this one its own, add series = <number> to "
                    f'[ledgers."{ledger_id}"] in {charts.source}',
                )
        found[ledger_id] = chart
    return found


def _chart(ledger_id: str, client: str, merged: dict[str, Any], source: str) -> Chart:
    client_table = f'[clients."{client}"], or ' if client else ""
    where = f'[ledgers."{ledger_id}"] (or {client_table}[accounts])'
    base = Chart(
        ledger_id,
        client,
        "",
        cutoff_hour=merged.get("cutoff_hour", 0),
        statement=merged.get("statement", STATEMENTS[0]),
        source=source,
    )
    missing = [key for key in ("book_currency", "clearing", "fees_payable", "series") if key not in merged]
    if missing:
        first = missing[0]
        return replace(base, gap=f"no {first.replace('_', ' ')}: add {first} = ... to {where} in {source}")
    default_vat = merged.get("vat_code", 0)
    default_text = merged.get("text", DEFAULT_TEXT)

    def postings(table: str) -> dict[str, Posting]:
        return {
            name: Posting(
                fields["account"],
                fields.get("vat_code", default_vat),
                fields.get("text", default_text),
                str(fields.get("customer", "")),
                str(fields.get("supplier", "")),
            )
            for name, fields in merged.get(table, {}).items()
            if "account" in fields
        }

    chart = replace(
        base,
        model=merged.get("model", MODELS[0]),
        book_currency=merged["book_currency"],
        voucher_type=merged.get("voucher_type", 1),
        numbering=merged.get("numbering", "day-of-year"),
        series=merged["series"],
        lines=merged.get("lines", LINES[0]),
        text=default_text,
        clearing=merged["clearing"],
        fees_payable=merged["fees_payable"],
        vat={int(code): Vat(Decimal(str(v["rate"])), v["account"]) for code, v in merged.get("vat", {}).items()},
        types=postings("types"),
        fee_types=postings("fee_types"),
    )
    untyped = [
        name
        for table in ("types", "fee_types")
        for name, fields in merged.get(table, {}).items()
        if "account" not in fields
    ]
    if untyped:
        return replace(chart, gap=f"entry type {untyped[0]!r} has no account in {where}: add account = <number>")
    if chart.series > NUMBERINGS[chart.numbering]:
        return replace(
            chart,
            gap=f'series {chart.series} is too large for numbering = "{chart.numbering}" '
            f"(at most {NUMBERINGS[chart.numbering]}): fix series in {where}",
        )
    for name in SALES:
        posting = chart.types.get(name)
        if posting is None:
            continue
        if chart.model == "sales-elsewhere" and posting.vat_code:
            return replace(
                chart,
                gap=f'model "sales-elsewhere" books no VAT, but {name} has vat_code = '
                f"{posting.vat_code}: the sale and its VAT are booked where the sale is; "
                f'set vat_code = 0, or model = "sales", in {where}',
            )
        if chart.model == "sales" and posting.vat_code not in chart.vat:
            return replace(
                chart,
                gap=f'model "sales" needs the rate of {name}\'s VAT code {posting.vat_code}: add '
                f"[accounts.vat.{posting.vat_code}] with rate = <percent> and account = "
                f"<output VAT account> to {where}",
            )
    return chart


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
