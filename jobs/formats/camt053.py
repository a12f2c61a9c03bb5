"""camt.053.001.02 bank statements: a ledger is an account with an opening balance, booked
movements and a closing balance, which every Nordic accounting system reconciles.

Written as a stream, never as a document tree: the statement's head (group header,
account, the OPBD and CLBD balances, the transaction summary) must come before the
entries, but the closing balance is known only after the last one. So the head's
room is reserved right after the XML declaration, the entries follow as they come,
and at the end the head is written into that room, padded with spaces, which XML
ignores between elements. Memory stays flat however many entries a period holds.

Per entry: amount (always positive) with CRDT (money in; also for zero) or DBIT,
status BOOK, the ledger date as booking and value date, a servicer's reference
(AcctSvcrRef) unique in the account, `<ledgerId>-<YYYYMMDD>-<n>` (n counts the
date's statement entries from 1), the entry type as a proprietary bank transaction
code issued by "Vipps MobilePay", and per payment (TxDtls) the `pspReference` as the
transaction's AcctSvcrRef (where readers look for the payment's reference; a
capture and its disputes share it), the merchant's `reference` as EndToEndId and,
in full, as unstructured remittance information (Ustrd); entry type, pspReference
and reference together in AddtlNtryInf. With `statement = "per-type"` (jobs.accounts)
a statement entry holds a date's entries of one type and direction, in the order
they first appear: a batch (Btch) with one TxDtls per payment and its amount, so that
a per-type voucher's clearing lines match the entries one to one; the payments wait
in a scratch file until the date ends, so memory stays flat. Empty values are left
out (the schema's texts have at least one character). The account is the payout
account's IBAN where jobs.iban can compute it (readers such as ofxstatement-iso20022
need one), else `Othr` = the ledger id; its servicer is named. FrToDt runs from the
ledger's cutoff hour on its first date to the same hour after its last. Ids are
deterministic, so writing a date again gives the same bytes: MsgId and Stmt/Id
`<ledgerId>-<YYYYMMDD>` (a period: `-<first>-<last>`), CreDtTm the time of the
statement's last entry.

Shortening rule: text is kept exactly as served, except characters XML cannot hold,
which become U+FFFD (jobs.formats.xmltext). A value longer than its element allows (35 characters for ids,
34 for the account id, 70 for the name, 140 for Ustrd, 500 for AddtlNtryInf) keeps
its first (limit - 9) characters, then `~` and the first 8 hex digits of the
SHA-256 of its UTF-8 bytes: the same value always gives the same id, two values
give different ones, and the full value is in Ustrd or AddtlNtryInf where it fits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from jobs.chart_of_accounts import Chart
from jobs.entries import EntryError, Row
from jobs.formats.proof import BookkeepingFile, balance_change, fact, payout_amount
from jobs.formats.spill import ScratchFile, TextBuffer
from jobs.formats.xmltext import escape, xml_chars
from jobs.money import format_minor, minor_units
from jobs.reconcile import PAYOUT_TYPES, Check, DateSummary

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
ISSUER = "Vipps MobilePay"
SERVICER = "Vipps MobilePay AS"  # the account servicer: the e-money institution that holds the balance
HEAD_ROOM = 4096  # bytes: the head is at most ~2.3 KB (every id at its limit, 4 bytes per character)
_CURRENCY = re.compile(r"[A-Z]{3}")


def shorten(text: str, limit: int) -> str:
    """`text` if it fits `limit` characters, else its start, `~` and 8 hex digits of its SHA-256."""
    text = xml_chars(text)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{text[: limit - 9]}~{digest}"


def element(name: str, text: str, limit: int) -> str:
    """`<name>text</name>`, shortened and escaped; nothing for an empty text."""
    if not text:
        return ""
    return f"<{name}>{escape(shorten(text, limit) if len(text) > limit else text)}</{name}>"


def amount(minor: int) -> str:
    """Always positive: the side says which way it moved."""
    return format_minor(abs(minor))


def side(minor: int) -> str:
    return "DBIT" if minor < 0 else "CRDT"


class StatementFile(BookkeepingFile):
    """One statement for a ledger date, or for a whole period (rows come date by date, in order)."""

    format = "camt053"

    def __init__(
        self, path: Path, mode: int, zone: ZoneInfo | None, chart: Chart | None = None, iban: str | None = None
    ) -> None:
        super().__init__(path, mode)
        self._zone = zone or ZoneInfo("UTC")
        self._iban = iban
        self._cutoff = chart.cutoff_hour if chart is not None else 0
        self._batched = chart is not None and chart.statement == "per-type"
        self._bytes.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        self._head_at = self._bytes.tell()
        self._bytes.write(b" " * HEAD_ROOM)
        self._text = TextBuffer(self._bytes)
        self._ledger = self._currency = self._last_time = ""
        self._dates: list[dt.date] = []
        self._opening: int | None = None
        self._closing = 0
        self._credits = [0, 0]  # count, sum
        self._debits = [0, 0]
        self._payouts = 0
        self._entries = 0  # statement entries of the date so far: numbers their AcctSvcrRef
        self._batches: dict[tuple[str, bool], _Batch] = {}  # per-type: the date's batches so far

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if self._opening is None:
                self._opening = minor_units(row.balanceBefore)
                self._ledger, self._currency = row.ledgerId, row.currency
                if not _CURRENCY.fullmatch(row.currency):
                    raise EntryError(f"currency {row.currency[:10]!r} is not an ISO 4217 code; no camt.053 written")
            if not self._dates or self._dates[-1] != row.ledgerDate:
                self._end_date()
                self._dates.append(row.ledgerDate)
            value = minor_units(row.amount)
            if row.entryType in PAYOUT_TYPES:
                self._payouts += value
            self._closing = minor_units(row.balanceAfter)
            self._last_time = row.time
            self.rows += 1
            if self._batched:
                key = (row.entryType, value < 0)
                batch = self._batches.get(key)
                if batch is None:
                    batch = self._batches[key] = _Batch(ScratchFile(self.path.parent))
                batch.add(value, _transaction(row, value, self._currency))
            else:
                self._entry(
                    value,
                    row.entryType,
                    _transaction(row, None, self._currency),
                    " ".join(text for text in (row.entryType, row.pspReference, row.reference) if text),
                )
            self._text.pass_on_if_full()
        self._text.pass_on()

    def _entry(self, value: int, entry_type: str, details: str, about: str) -> None:
        """One statement entry of the date in progress, its transaction details already made."""
        totals = self._debits if value < 0 else self._credits
        totals[0] += 1
        totals[1] += abs(value)
        self._entries += 1
        day = self._dates[-1]
        reference = element("AcctSvcrRef", f"{self._ledger}-{day:%Y%m%d}-{self._entries}", 35)
        self._text.write(
            f'<Ntry><Amt Ccy="{self._currency}">{amount(value)}</Amt><CdtDbtInd>{side(value)}</CdtDbtInd>'
            f"<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>{reference}"
            f"<BkTxCd><Prtry>{element('Cd', entry_type or '?', 35)}<Issr>{ISSUER}</Issr></Prtry></BkTxCd>"
            + (f"<NtryDtls>{details}</NtryDtls>" if details else "")
            + f"{element('AddtlNtryInf', about, 500)}</Ntry>\n"
        )

    def _end_date(self) -> None:
        """Per type: the finished date's batches, each an entry with its payments."""
        batches, self._batches = self._batches, {}
        for (entry_type, _), batch in batches.items():
            head = (
                f'<Btch><NbOfTxs>{batch.count}</NbOfTxs><TtlAmt Ccy="{self._currency}">{amount(batch.total)}'
                f"</TtlAmt><CdtDbtInd>{side(batch.total)}</CdtDbtInd></Btch>"
            )
            self._entry(batch.total, entry_type, head + batch.details(), f"{entry_type}: {batch.count} entries")
            self._text.pass_on()
        self._entries = 0

    def proofs(self, summaries: Sequence[DateSummary]) -> list[Check]:
        if not self.rows:
            return []
        self._end_date()
        moved = self._credits[1] - self._debits[1]
        opening, closing = format_minor(self._opening or 0), format_minor(self._closing)
        return [
            fact(
                "statement balances",
                self._closing - (self._opening or 0),
                moved,
                f"OPBD {opening} to CLBD {closing}, but its entries move",
            ),
            fact("statement movement", balance_change(summaries), moved, "the statement's entries move"),
            fact("statement payout", payout_amount(summaries), self._payouts, "the statement's payout entries are"),
        ]

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._end_date()
        self._text.pass_on()
        self._bytes.write(b"</Stmt></BkToCstmrStmt></Document>\n")
        head = self._head().encode()
        if len(head) > HEAD_ROOM:  # cannot happen with ids held to their limits; never write a broken file
            raise RuntimeError(f"statement head of {len(head)} bytes does not fit its {HEAD_ROOM}")
        end = self._bytes.tell()
        self._bytes.seek(self._head_at)
        self._bytes.write(head + b" " * (HEAD_ROOM - len(head)))
        self._bytes.seek(end)

    def _discard(self) -> None:
        for batch in self._batches.values():
            batch.scratch.close()

    def _head(self) -> str:
        first, last = self._dates[0], self._dates[-1]
        label = f"{self._ledger}-{first:%Y%m%d}" + (f"-{last:%Y%m%d}" if last != first else "")
        created = self._created()
        opening = self._opening or 0
        start = dt.datetime.combine(first, dt.time(self._cutoff), tzinfo=self._zone)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(self._cutoff), tzinfo=self._zone)
        net = self._credits[1] - self._debits[1]
        ccy = self._currency
        account = (
            f"<IBAN>{self._iban}</IBAN>"
            if self._iban
            else f"<Othr>{element('Id', self._ledger, 34)}"
            f"<SchmeNm><Prtry>VippsMobilePayLedger</Prtry></SchmeNm><Issr>{ISSUER}</Issr></Othr>"
        )
        return (
            f'<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'
            f"<GrpHdr>{element('MsgId', label, 35)}<CreDtTm>{created}</CreDtTm></GrpHdr>"
            f"<Stmt>{element('Id', label, 35)}<CreDtTm>{created}</CreDtTm>"
            f"<FrToDt><FrDtTm>{start.isoformat()}</FrDtTm>"
            f"<ToDtTm>{(end - dt.timedelta(seconds=1)).isoformat()}</ToDtTm></FrToDt>"
            f"<Acct><Id>{account}</Id><Ccy>{ccy}</Ccy>{element('Nm', f'{ISSUER} {self._ledger}', 70)}"
            f"<Svcr><FinInstnId><Nm>{SERVICER}</Nm></FinInstnId></Svcr></Acct>"
            f"{_balance('OPBD', opening, ccy, first)}{_balance('CLBD', self._closing, ccy, last)}"
            f"<TxsSummry><TtlNtries><NbOfNtries>{self._credits[0] + self._debits[0]}</NbOfNtries>"
            f"<Sum>{amount(self._credits[1] + self._debits[1])}</Sum><TtlNetNtryAmt>{amount(net)}</TtlNetNtryAmt>"
            f"<CdtDbtInd>{side(net)}</CdtDbtInd></TtlNtries>"
            f"<TtlCdtNtries><NbOfNtries>{self._credits[0]}</NbOfNtries><Sum>{amount(self._credits[1])}</Sum>"
            f"</TtlCdtNtries><TtlDbtNtries><NbOfNtries>{self._debits[0]}</NbOfNtries>"
            f"<Sum>{amount(self._debits[1])}</Sum></TtlDbtNtries></TxsSummry>\n"
        )

    def _created(self) -> str:
        """The time of the last entry, in UTC: deterministic, and when the statement's content was complete."""
        try:
            moment = dt.datetime.fromisoformat(self._last_time)
        except ValueError:  # an unreadable time: the end of the last ledger date instead
            moment = dt.datetime.combine(self._dates[-1] + dt.timedelta(days=1), dt.time(), tzinfo=self._zone)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Batch:
    """A date's entries of one type and direction: their sum and count, their TxDtls in a scratch file."""

    def __init__(self, scratch: ScratchFile) -> None:
        self.scratch, self.total, self.count = scratch, 0, 0

    def add(self, value: int, details: str) -> None:
        self.total += value
        self.count += 1
        self.scratch.write(details.encode())

    def details(self) -> str:
        self.scratch.seek(0)
        text = self.scratch.read().decode()
        self.scratch.close()
        return text


def _transaction(row: Row, value: int | None, currency: str) -> str:
    """A payment's TxDtls: its references and remittance text, and in a batch its own amount."""
    refs = element("AcctSvcrRef", row.pspReference, 35) + element("EndToEndId", row.reference, 35)
    amounts = "" if value is None else f'<AmtDtls><TxAmt><Amt Ccy="{currency}">{amount(value)}</Amt></TxAmt></AmtDtls>'
    remittance = f"<RmtInf>{element('Ustrd', row.reference, 140)}</RmtInf>" if row.reference else ""
    details = (f"<Refs>{refs}</Refs>" if refs else "") + amounts + remittance
    return f"<TxDtls>{details}</TxDtls>" if details else ""


def _balance(code: str, minor: int, currency: str, date: dt.date) -> str:
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{amount(minor)}</Amt>'
        f"<CdtDbtInd>{side(minor)}</CdtDbtInd><Dt><Dt>{date.isoformat()}</Dt></Dt></Bal>"
    )
