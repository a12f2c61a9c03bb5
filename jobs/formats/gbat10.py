"""GBAT10 vouchers (the "Mamut" format Tripletex, Visma, PowerOffice Go, 24SevenOffice and Xledger import).

One voucher per ledger date, for a ledger whose currency is its client's book currency
(jobs.accounts). Every funds entry moves money between the clearing account (the
Vipps MobilePay balance) and the account its type maps to; every fees entry between
the fees account (`fees_payable`, what is owed to Vipps MobilePay) and its fee
kind's account. A movement is a line pair: the balance account gets the entry's
amount (positive = debit: the balance grew), the mapped account the same amount
negated, with the type's VAT code, customer and supplier number (the balance line
has VAT code 0), so every pair, and the voucher, sums to zero. Fees retained are one
movement from the funds balance to the fees balance: booked once, from funds, on the
fees account; fees invoiced (gross settlement) are not booked: the invoice is booked
against the fees account when it comes (reconcile.UNBOOKED_FEES). Under model
"sales", a type whose VAT code has a rate splits its mapped line: the net amount
with the VAT code, and the VAT on the VAT code's account, flagged `F` so that
Tripletex's "generate VAT" mode leaves it out (that mode reads the gross, column 27).
With `lines = "per-type"` a pair per entry type and direction (money in, money out:
one clearing line per statement entry of a per-type statement), in the order they
first appear that date; with "per-entry" a pair per entry, its reference (or,
without one, its pspReference) in the text. Zero amounts are written too.

A voucher that cannot be written (an entry type without an account, a chart that
lacks a key) is not written at all: `waiting` says why, and the caller writes the
date's other files (jobs.output).

A line: 30 columns separated by `;`, no header, no quoting; `GBAT10`, voucher
number, date (YYYYMMDD), voucher type, month, year, account, VAT code, amount
(two decimals, `.`), customer and supplier number (9, 10), columns 11-19 empty, the
text in column 20, 21-25 empty, `T` and the gross amount (26, 27: Tripletex's mode
that makes VAT postings reads the gross, the other mode the net; both balance; `F`
and 0.00 on a VAT line), 28-29 empty.
Lines end in CRLF; UTF-8 without BOM.

Text rule, in this order: control characters and line or paragraph separators
become spaces; `;` becomes `,` and `"` becomes `'` (so no reader can shift a
column or take a quote for CSV quoting); bidirectional controls (RLM, LRM, the
embeddings, overrides and isolates) are removed; runs of whitespace become one
space, trimmed; a text starting with `=`, `+`, `-` or `@` gets a leading `'` (the
file is a .csv, and Excel would run it); last, a text longer than the column's 100
characters is cut to 99 and ends in `…`. Lengths count UTF-16 code units, as the
Java and .NET systems that import GBAT10 do, so an emoji counts two and is never
split.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs import bidi
from jobs.chart_of_accounts import Chart, Posting
from jobs.entries import EntryError, Row
from jobs.errors import ConfigError
from jobs.formats.proof import BookkeepingFile, fact, payout_amount
from jobs.formats.spill import CHUNK, TextBuffer
from jobs.money import format_minor, minor_units
from jobs.reconcile import FEES_INVOICED, FEES_RETAINED, PAYOUT_TYPES, UNBOOKED_FEES, Check, DateSummary

TEXT_LIMIT = 100  # column 20, "description, general ledger"
AMOUNT_LIMIT = 15
_TEXT_TABLE = {
    **{code: " " for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)},
    ord(";"): ",",
    ord('"'): "'",
    **bidi.DROPPED,
}
_FORMULA_START = ("=", "+", "-", "@")
# Anything the rule would change: what the table maps, whitespace other than one space between words,
# a formula's first character.
_CARE = re.compile(r'[\x00-\x1f\x7f-\x9f;"' + bidi.CONTROLS + r"]|[^\S ]|\s\s|^\s|\s$|^[=+\-@]")


def voucher_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """A text that can never shift a column, cut to `limit` UTF-16 code units (see the module docstring)."""
    if len(text) <= limit // 2 and not _CARE.search(text):  # short in any count, and nothing to change
        return text
    text = " ".join(text.translate(_TEXT_TABLE).split())
    if text.startswith(_FORMULA_START):
        text = "'" + text
    if utf16_length(text) <= limit:
        return text
    kept, units = [], 0
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def amount_text(minor: int) -> str:
    text = format_minor(minor)
    if len(text) > AMOUNT_LIMIT:
        raise EntryError(f"amount {text} does not fit GBAT10's {AMOUNT_LIMIT} characters")
    return text


@dataclass
class _Voucher:
    """One ledger date's voucher while it is written, and what its lines add up to (for the proofs)."""

    date: dt.date
    number: int
    prefix: str  # the columns every line of the voucher starts with
    groups: dict[tuple[str, str, bool], list[int]] = field(default_factory=dict)  # per-type: [sum, count]
    lines_total: int = 0
    clearing_total: int = 0
    fees_total: int = 0  # on the fees account
    payout_lines: int = 0  # on the payout's own account: what the bank receives


class VoucherFile(BookkeepingFile):
    """Vouchers of one ledger date, or of each date of a period (rows come date by date, in order)."""

    format = "gbat10"

    def __init__(self, path: Path, mode: int, chart: Chart | None) -> None:
        if chart is None:
            raise ConfigError(
                "--format gbat10 needs an [accounts] table in config.toml: copy the example from the "
                "committed config.toml and change it to your chart of accounts"
            )
        super().__init__(path, mode)
        self._chart = chart
        self.waiting = chart.gap or None
        self._per_entry = chart.lines == "per-entry"
        self._text = TextBuffer(self._bytes)
        self._voucher: _Voucher | None = None
        self._done: dict[dt.date, _Voucher] = {}
        self._fees_retained = Posting(chart.fees_payable, 0, chart.text)

    def write(self, rows: Iterable[Row]) -> None:
        self._book("funds", rows)

    def write_fees(self, rows: Iterable[Row]) -> None:
        """The same date's fees entries, after its funds entries."""
        self._book("fees", rows)

    def _book(self, topic: str, rows: Iterable[Row]) -> None:
        for row in rows:
            self.rows += topic == "funds"
            if self.waiting or topic == "fees" and row.entryType in UNBOOKED_FEES:
                continue
            voucher = self._voucher
            if voucher is None or row.ledgerDate != voucher.date:
                voucher = self._start(row)
            amount = minor_units(row.amount)
            try:
                posting = self._posting(topic, row.entryType)
            except ConfigError as exc:
                self.waiting = str(exc)
                continue
            if self._per_entry:
                text = posting.describe(
                    row.ledgerDate, row.ledgerId, 1, row.entryType, row.currency, row.reference, row.pspReference
                )
                if not posting.names_reference:
                    text = f"{text} {row.reference or row.pspReference}"
                self._pair(voucher, topic, posting, row.entryType, amount, text)
            else:
                group = voucher.groups.setdefault((topic, row.entryType, amount < 0), [0, 0])
                group[0] += amount
                group[1] += 1
            if self._text.tell() > CHUNK:
                self._pass_on()
        self._pass_on()

    def proofs(self, summaries: Sequence[DateSummary]) -> list[Check]:
        self._end()
        checks = []
        for summary in summaries:
            voucher = self._done.get(summary.date)
            if voucher is None:
                continue  # a date without entries has no voucher
            fees = summary.fees
            owed = fees.change - fees.sums[FEES_INVOICED] if fees else 0
            checks += [
                fact("voucher balances", 0, voucher.lines_total, f"voucher {voucher.number}'s lines sum to"),
                fact(
                    "voucher clearing",
                    summary.change,
                    voucher.clearing_total,
                    f"voucher {voucher.number} moves the clearing account {self._chart.clearing} by",
                ),
                fact(
                    "voucher payout",
                    -payout_amount([summary]),
                    voucher.payout_lines,
                    f"voucher {voucher.number}'s payout line is",
                ),
                fact(
                    "voucher fees",
                    owed,
                    voucher.fees_total,
                    f"voucher {voucher.number} moves the fees account {self._chart.fees_payable} by",
                ),
            ]
        return checks

    def _posting(self, topic: str, entry_type: str) -> Posting:
        if topic == "funds" and entry_type == FEES_RETAINED:
            return self._fees_retained  # to the fees balance: what the fees account owes shrinks
        return self._chart.posting(topic, entry_type)

    def _start(self, row: Row) -> _Voucher:
        self._end()
        chart, date = self._chart, row.ledgerDate
        number = chart.voucher_number(date)
        prefix = f"GBAT10;{number};{date:%Y%m%d};{chart.voucher_type};{date.month};{date.year};"
        self._voucher = _Voucher(date, number, prefix)
        self._ledger, self._currency = row.ledgerId, row.currency
        return self._voucher

    def _end(self) -> None:
        """Write the per-type lines of the voucher in progress and keep its totals."""
        voucher, self._voucher = self._voucher, None
        if voucher is None or self.waiting:
            return
        for (topic, entry_type, _), (amount, count) in voucher.groups.items():
            posting = self._posting(topic, entry_type)  # known: checked when the type first came
            text = posting.describe(voucher.date, self._ledger, count, entry_type, self._currency)
            self._pair(voucher, topic, posting, entry_type, amount, text)
        self._done[voucher.date] = voucher

    def _pair(self, voucher: _Voucher, topic: str, posting: Posting, entry_type: str, amount: int, text: str) -> None:
        """The mapped account gives (or takes) what the balance account takes (or gives)."""
        text = voucher_text(text)
        vat = self._chart.vat_of(posting)
        tax = vat.of(amount) if vat is not None else 0
        self._line(
            voucher,
            posting.account,
            posting.vat_code,
            -(amount - tax),
            text,
            -amount,
            f"{posting.customer};{posting.supplier}",
        )
        if vat is not None:  # flagged F: the mode that makes VAT postings itself leaves it out
            self._line(voucher, vat.account, 0, -tax, text, 0, flag="F")
        balance = self._chart.clearing if topic == "funds" else self._chart.fees_payable
        self._line(voucher, balance, 0, amount, text, amount)  # a balance account: VAT is the other line's
        if topic == "funds":
            voucher.clearing_total += amount
        if posting is self._fees_retained:
            voucher.fees_total -= amount
        elif topic == "fees":
            voucher.fees_total += amount
        if entry_type in PAYOUT_TYPES:
            voucher.payout_lines += -amount

    def _line(
        self,
        voucher: _Voucher,
        account: int,
        vat_code: int,
        amount: int,
        text: str,
        gross: int,
        parties: str = ";",
        flag: str = "T",
    ) -> None:
        """One line: `parties` are the customer and supplier number columns (9, 10)."""
        self._text.write(
            f"{voucher.prefix}{account};{vat_code};{amount_text(amount)};{parties};;;;;;;;;;{text};;;;;;"
            f"{flag};{amount_text(gross)};;\r\n"
        )
        voucher.lines_total += amount

    def _pass_on(self) -> None:
        if self.waiting:  # nothing of a voucher that cannot be written is kept
            self._text.clear()
        else:
            self._text.pass_on()

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._end()
        self._pass_on()
