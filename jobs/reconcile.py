"""What a ledger date adds up to, and whether its balances hold together.

Fed entry by entry as pages stream in (integers in minor units, never floats),
so a date of any size is summarised in constant memory. The API's own examples
contain sign and balance typos, so a failed check is a finding to report, not a
crash; the caller decides whether it is fatal (--strict).

Nothing here assumes a balance is positive, that a date ends at zero or that a
payout carries a reference: a ledger can stay below zero for weeks, and Norwegian
payouts currently come with an empty or missing one. Entry types are an open set;
each gets its own sum, and the summary's columns group them per topic.

A date written as a GBAT10 voucher or camt.053 statement also carries those files'
own checks (PROOFS, made by jobs.formats.proof), so they are reported like the others.

A finding names its amounts as every file shows them (jobs.money: ``1.00 + 0.50 !=
9.99``), so the summary sheet uses one unit throughout.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jobs.money import format_minor as _major  # findings name many amounts: a short name

CAPTURE, REFUND = "capture", "refund"  # the payments: what a settlement pays out
PAYOUT_TYPES = frozenset({"payout-scheduled", "scheduled-for-payout"})  # the 2023 name, then the current one
# Net settlement: fees-retained moves money from the funds balance to the fees balance, one movement seen on
# both topics (negative on funds, positive on fees). Gross settlement: fees-invoiced ends the month's fees
# balance, which Vipps MobilePay invoices. A voucher books the first from funds, and neither from fees.
FEES_RETAINED = "fees-retained"
FEES_INVOICED = "fees-invoiced"
UNBOOKED_FEES = frozenset({FEES_RETAINED, FEES_INVOICED})
# The summary's columns per topic, in order: a name and the entry types it adds up. "other" takes
# every type not named (corrections, top-ups, credit notes, disputes, types new to us); a topic we
# do not know gets the funds columns.
CATEGORIES: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "funds": (
        ("captures", frozenset({CAPTURE})),
        ("refunds", frozenset({REFUND})),
        ("fees retained", frozenset({FEES_RETAINED})),
        ("payouts", PAYOUT_TYPES),
    ),
    "fees": (
        ("capture fees", frozenset({"capture-fee"})),
        ("service fees", frozenset({"service-fee"})),
        ("fees retained", frozenset({FEES_RETAINED})),  # net settlement: taken from the funds daily
        ("fees invoiced", frozenset({FEES_INVOICED})),  # gross settlement: invoiced monthly
    ),
}
OTHER = "other"
MAX_DETAILS = 5  # per check: enough to find the problem, not a copy of a broken date


def category_names(topic: str) -> tuple[str, ...]:
    """The summary's columns for a topic, "other" last."""
    return (*(name for name, _ in CATEGORIES.get(topic, CATEGORIES["funds"])), OTHER)


def categorize(topic: str, sums: dict[str, int]) -> dict[str, int]:
    """Sums per entry type as the summary's columns of `topic` (category_names), in order: the one rule the
    workbook's summary sheet, the page and every other view of a date's or a period's movements share."""
    columns = CATEGORIES.get(topic, CATEGORIES["funds"])
    totals = dict.fromkeys(category_names(topic), 0)
    for entry_type, amount in sums.items():
        totals[next((name for name, types in columns if entry_type in types), OTHER)] += amount
    return totals


def has_payouts(topic: str) -> bool:
    """Only the funds side pays out: the fees topic's summary has no payout rows."""
    return topic != "fees"


@dataclass(frozen=True)
class Payout:
    amount: int  # as on the entry: negative, minor units; the bank receives -amount
    reference: str  # "" when the API sends none or null, as on Norwegian payouts now
    psp_reference: str

    @property
    def number(self) -> str:
        """The payout number the bank text shows (`Utb. 2000810 Vippsnr ...`), from `<ledgerId>-<number>`;
        "" if the pspReference is not of that form. It identifies the payout when the reference does not."""
        ledger_id, dash, number = self.psp_reference.rpartition("-")
        return number if dash and ledger_id and number.isdigit() else ""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # empty when ok


@dataclass
class DateSummary:
    ledger_id: str
    topic: str
    date: dt.date
    currency: str = ""
    entries: int = 0
    opening: int | None = None  # balanceBefore of the first entry
    closing: int | None = None  # balanceAfter of the last entry
    sums: Counter[str] = field(default_factory=Counter)  # entryType -> sum of amounts
    payout: Payout | None = None
    proofs: list[Check] = field(default_factory=list)  # of the date's voucher and statement files (jobs.formats.proof)
    fees: DateSummary | None = None  # funds: the same date's fees topic, when a voucher books it
    replaced: int = 0  # lone surrogates in the API's text, written as U+FFFD (entries.replace_lone_surrogates)
    _findings: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in ENTRY_CHECKS})
    _payout_seen_at: int | None = None

    def add(self, entry: dict[str, Any]) -> None:
        """One entry, already validated (amounts are ints)."""
        n = self.entries = self.entries + 1
        amount, before, after = entry["amount"], entry["balanceBefore"], entry["balanceAfter"]
        self.currency = self.currency or entry.get("currency") or ""
        if after != before + amount:
            self._find("balance", f"entry {n}: {_major(before)} + {_major(amount)} != {_major(after)}")
        if self.closing is not None and before != self.closing:
            self._find(
                "chain", f"entry {n}: balanceBefore {_major(before)} != previous balanceAfter {_major(self.closing)}"
            )
        if self._payout_seen_at is not None:
            self._find(
                "payout last", f"entry {n} ({entry['entryType']}) follows the payout (entry {self._payout_seen_at})"
            )
        if self.opening is None:
            self.opening = before
        self.closing = after
        self.sums[entry["entryType"]] += amount
        if entry["entryType"] in PAYOUT_TYPES and self._payout_seen_at is None:
            self._payout_seen_at = n
            self.payout = Payout(amount, entry.get("reference") or "", entry.get("pspReference") or "")

    def _find(self, check: str, detail: str) -> None:
        if len(self._findings[check]) < MAX_DETAILS:
            self._findings[check].append(detail)

    @property
    def change(self) -> int:
        """What the balances moved over the date: closing minus opening; 0 for a date without entries."""
        if self.opening is None or self.closing is None:
            return 0
        return self.closing - self.opening

    @property
    def categories(self) -> dict[str, int]:
        """Sums per summary column of this topic (category_names), in order."""
        return categorize(self.topic, self.sums)

    @property
    def checks(self) -> list[Check]:
        total = sum(self.sums.values())
        if self.opening is not None and self.closing is not None and self.closing - self.opening != total:
            self._findings["sums"] = [
                f"closing {_major(self.closing)} - opening {_major(self.opening)} != sum of amounts {_major(total)}"
            ]
        found = [Check(name, not details, "; ".join(details)) for name, details in self._findings.items()]
        return found + self.proofs

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


ENTRY_CHECKS: dict[str, str] = {
    "balance": "balanceAfter = balanceBefore + amount, for every entry",
    "chain": "each entry's balanceBefore is the previous entry's balanceAfter",
    "sums": "the amounts add up to closing minus opening balance",
    "payout last": "a payout is the last entry of its date",
}
# Checked only where a GBAT10 voucher or camt.053 statement is written (jobs.formats.proof).
PROOFS = {
    "voucher balances": "the GBAT10 voucher's lines sum to zero",
    "voucher clearing": "the voucher moves the clearing account by the ledger's balance change",
    "voucher payout": "the voucher's payout line is the payout entry",
    "voucher fees": "the voucher moves the fees account by the fees topic's balance change, fees invoiced left out",
    "statement balances": "the camt.053 opening balance plus its entries is its closing balance",
    "statement movement": "the statement's entries add up to the ledger's balance change",
    "statement payout": "the statement's payout entries are the payout entry",
}
CHECKS = {**ENTRY_CHECKS, **PROOFS}
