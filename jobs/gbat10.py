"""GBAT10 vouchers (the "Mamut" format Tripletex, Visma, PowerOffice Go, 24SevenOffice and Xledger import).

One voucher per ledger date: every entry moves money between the ledger's clearing
account (the Vipps MobilePay balance) and the account its type maps to
(jobs.accounts). A movement is a line pair: the clearing account gets the entry's
amount (positive = debit: the balance grew), the mapped account the same amount
negated with the type's VAT code (the clearing line has VAT code 0), so every
pair, and the voucher, sums to zero. With `lines = "per-type"`
a pair per entry type (in the order the types first appear that date); with
"per-entry" a pair per entry, its reference (or, without one, its pspReference) in
the text. Zero amounts are written too: an entry is never left out.

A line: 30 columns separated by `;`, no header, no quoting; `GBAT10`, voucher
number, date (YYYYMMDD), voucher type, month, year, account, VAT code, amount
(two decimals, `.`), columns 9-19 empty, the text in column 20, 21-25 empty, `T`
and the same amount again as gross (26, 27: Tripletex's mode that makes VAT
postings reads the gross, the other mode the net; both balance), 28-29 empty.
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
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs.accounts import Accounts, Posting
from jobs.entries import EntryError, Row
from jobs.errors import ConfigError
from jobs.proof import BookkeepingFile, fact, minor_units, payout_amount
from jobs.reconcile import PAYOUT_TYPES, Check, DateSummary

TEXT_LIMIT = 100  # column 20, "description, general ledger"
AMOUNT_LIMIT = 15
_CHUNK = 1 << 16  # characters gathered before they are encoded and passed on
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TEXT_TABLE = {
    **{code: " " for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)},
    ord(";"): ",",
    ord('"'): "'",
    **{ord(c): None for c in _BIDI},
}
_FORMULA_START = ("=", "+", "-", "@")
# Anything the rule would change: what the table maps, whitespace other than one space between words,
# a formula's first character.
_CARE = re.compile(r'[\x00-\x1f\x7f-\x9f;"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[^\S ]|\s\s|^\s|\s$|^[=+\-@]')


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
    sign = "-" if minor < 0 else ""
    text = f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"
    if len(text) > AMOUNT_LIMIT:
        raise EntryError(f"amount {text} does not fit GBAT10's {AMOUNT_LIMIT} characters")
    return text


@dataclass
class _Voucher:
    """One ledger date's voucher while it is written, and what its lines add up to (for the proofs)."""

    ledger_id: str
    currency: str
    date: dt.date
    number: int
    prefix: str  # the columns every line of the voucher starts with
    clearing: int  # the clearing account
    types: dict[str, list[int]] = field(default_factory=dict)  # per-type: entry type -> [sum, count]
    lines_total: int = 0
    clearing_total: int = 0
    payout_lines: int = 0  # on the payout's own account: what the bank receives


class VoucherFile(BookkeepingFile):
    """Vouchers of one ledger date, or of each date of a period (rows come date by date, in order)."""

    def __init__(self, path: Path, mode: int, accounts: Accounts | None) -> None:
        if accounts is None:
            raise ConfigError("--format gbat10 needs an [accounts] table in config.toml: copy the example from the "
                              "committed config.toml and change it to your chart of accounts")  # fmt: skip
        super().__init__(path, mode)
        self._accounts = accounts
        self._per_entry = accounts.lines == "per-entry"
        self._text = io.StringIO()
        self._voucher: _Voucher | None = None
        self._done: dict[dt.date, _Voucher] = {}

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            voucher = self._voucher
            if voucher is None or row.ledgerDate != voucher.date:
                voucher = self._start(row)
            amount = minor_units(row.amount)
            if self._per_entry:
                posting = self._posting(row, voucher)
                text = posting.describe(row.ledgerDate, row.ledgerId, 1, row.entryType, row.currency, row.reference,
                                        row.pspReference)  # fmt: skip
                if not posting.names_reference:
                    text = f"{text} {row.reference or row.pspReference}"
                self._pair(voucher, posting, row.entryType, amount, text)
            else:
                found = voucher.types.get(row.entryType)
                if found is None:
                    self._posting(row, voucher)  # an unmapped type stops the voucher at once
                    found = voucher.types[row.entryType] = [0, 0]
                found[0] += amount
                found[1] += 1
            self.rows += 1
            if self._text.tell() > _CHUNK:
                self._pass_on()
        self._pass_on()

    def proofs(self, summaries: Sequence[DateSummary]) -> list[Check]:
        self._end()
        checks = []
        for summary in summaries:
            voucher = self._done.get(summary.date)
            if voucher is None:
                continue  # a date without entries has no voucher
            checks += [
                fact("voucher balances", 0, voucher.lines_total, f"voucher {voucher.number}'s lines sum to"),
                fact("voucher clearing", summary.closing - summary.opening, voucher.clearing_total,
                     f"voucher {voucher.number} moves the clearing account {voucher.clearing} by"),
                fact("voucher payout", -payout_amount([summary]), voucher.payout_lines,
                     f"voucher {voucher.number}'s payout line is"),
            ]  # fmt: skip
        return checks

    def _start(self, row: Row) -> _Voucher:
        self._end()
        accounts, date = self._accounts, row.ledgerDate
        where = f"ledger {row.ledgerId} funds {date}"
        try:
            number = accounts.voucher_number(row.ledgerId, date)
            clearing = accounts.clearing_account(row.ledgerId, row.currency)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}; no voucher written") from None
        prefix = f"GBAT10;{number};{date:%Y%m%d};{accounts.voucher_type};{date.month};{date.year};"
        self._voucher = _Voucher(row.ledgerId, row.currency, date, number, prefix, clearing)
        return self._voucher

    def _posting(self, row: Row, voucher: _Voucher) -> Posting:
        try:
            return self._accounts.posting(row.entryType)
        except ConfigError as exc:
            raise ConfigError(f"ledger {row.ledgerId} funds {voucher.date}: {exc}; no voucher written") from None

    def _end(self) -> None:
        """Write the per-type lines of the voucher in progress and keep its totals."""
        voucher, self._voucher = self._voucher, None
        if voucher is None:
            return
        for entry_type, (amount, count) in voucher.types.items():
            posting = self._accounts.posting(entry_type)  # known: checked when the type first came
            text = posting.describe(voucher.date, voucher.ledger_id, count, entry_type, voucher.currency)
            self._pair(voucher, posting, entry_type, amount, text)
        self._done[voucher.date] = voucher

    def _pair(self, voucher: _Voucher, posting: Posting, entry_type: str, amount: int, text: str) -> None:
        """The mapped account gives (or takes) what the clearing account takes (or gives)."""
        text = voucher_text(text)
        self._line(voucher, posting.account, posting.vat_code, -amount, text)
        self._line(voucher, voucher.clearing, 0, amount, text)  # a balance account: VAT is the other line's
        voucher.clearing_total += amount
        if entry_type in PAYOUT_TYPES:
            voucher.payout_lines += -amount

    def _line(self, voucher: _Voucher, account: int, vat_code: int, amount: int, text: str) -> None:
        money = amount_text(amount)
        self._text.write(f"{voucher.prefix}{account};{vat_code};{money};;;;;;;;;;;;{text};;;;;;T;{money};;\r\n")
        voucher.lines_total += amount

    def _pass_on(self) -> None:
        self._bytes.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._end()
        self._pass_on()
