"""A ledger's chart of accounts, as its vouchers and statements read it: where each entry type's money is booked
(Posting), output VAT (Vat), one ledger's chart (Chart), and the config file's three levels of it (Charts),
merged per ledger, with voucher series kept apart between a client's ledgers (charts_for).

jobs.accounts reads and checks the tables these are made from (README, Vouchers, says what each key means).
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from jobs.errors import ConfigError
from jobs.reconcile import PAYOUT_TYPES

MODELS = ("sales-elsewhere", "sales")
SALES = ("capture", "refund")  # what the two models book differently
NUMBERINGS = {"day-of-year": 9, "date": 99}  # numbering -> highest series, so a number keeps to 8 digits
LINES = ("per-type", "per-entry")
STATEMENTS = ("per-entry", "per-type")
PLACEHOLDERS = ("date", "ledger", "count", "type", "currency", "reference", "psp")
DEFAULT_TEXT = "Vipps MobilePay {type} {date} ledger {ledger} ({count})"
TABLES = ("vat", "types", "fee_types")


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
