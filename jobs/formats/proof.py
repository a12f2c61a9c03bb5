"""What a voucher or statement file must show before it is written, and the base of their writers.

Every GBAT10 voucher and camt.053 statement is checked for the same three facts,
from what the file itself holds, against what the ledger's own entries say (a
DateSummary, added up apart from the writer):

    voucher balances     its lines sum to zero
    voucher clearing     its movement on the clearing account is the ledger's balance change
    voucher payout       its payout line is the payout entry (what the bank receives)
    statement balances   opening balance + entries = closing balance, as the file states them
    statement movement   its entries add up to the ledger's balance change
    statement payout     its payout entries are the payout entry

The results join the date's other checks (jobs.reconcile), so they reach the log,
the XLSX summary and the manifest, and --strict refuses the date, as for every
other check. A voucher that does not balance is refused even without --strict:
no bookkeeping system may be handed one (it would be a bug of ours: the date gets no
file). A statement whose entries do not lead from its opening to its closing balance
(the API's balances do not add up) is not written either, but the date's other
files are: the statement waits in the queue, as a voucher whose chart lacks a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobs.formats.base import ReportFile
from jobs.money import format_minor
from jobs.reconcile import Check, DateSummary

NEVER_WRITTEN = frozenset({"voucher balances"})  # refused whatever --strict says: the date gets no file
HELD_BACK = frozenset({"statement balances"})  # that file waits, whatever --strict says; the others are written


class BookkeepingFile(ReportFile):
    """A file of postings (vouchers, a statement): only for dates with entries, proven before commit.

    `waiting` says why it cannot be written (yet): a key its chart lacks, or proofs it failed. Such a
    file is aborted and its date queued for it (jobs.output), while the date's other files are written."""

    format = ""  # its name on the command line
    waiting: str | None = None

    def hold_back(self, proofs: Sequence[Check]) -> str | None:
        """Why the file waits (None: it does not): a reason found while writing, or a held-back proof that failed."""
        failed = "; ".join(f"{c.name}: {c.detail}" for c in proofs if c.name in HELD_BACK and not c.ok)
        if failed and not self.waiting:
            self.waiting = (
                f"the API's balances do not add up ({failed}); a later run writes it once they do "
                "(ask Vipps MobilePay about the date)"
            )
        return self.waiting or None

    def proofs(self, summaries: Sequence[DateSummary]) -> list[Check]:
        """The three facts for what this file holds, against the summaries of its dates."""
        raise NotImplementedError

    @property
    def has_entries(self) -> bool:
        # Nothing moved: no voucher to book, and no balance to state (the API gives balances on entries only).
        return self.rows > 0


def fact(name: str, expected: int, found: int, what: str, shown: Callable[[int], str] = format_minor) -> Check:
    """A check that `found` (from the file) equals `expected` (from the ledger): amounts in minor units, or what
    `shown` writes (str for a count)."""
    if found == expected:
        return Check(name, True, "")
    return Check(name, False, f"{what} {shown(found)}, the ledger says {shown(expected)}")


def payout_amount(summaries: Sequence[DateSummary]) -> int:
    """The payout entries' amounts (negative: the bank receives minus this), one per date at most."""
    return sum(s.payout.amount for s in summaries if s.payout is not None)


def balance_change(summaries: Sequence[DateSummary]) -> int:
    """What the ledger's balances say each date moved, from its first balanceBefore to its last balanceAfter."""
    return sum(s.change for s in summaries)
