"""The Vipps settlement report, XML 3.0 (SettlementReport-3.0.xsd): what Tripletex imports as "Vipps Oppgjørsrapport".

One file holds one ledger (one SettlementDetailsInfo) and one or more settlements, each a payout and
the payments it pays out (one SettlementInfo, one TransactionInfo per capture or refund). What goes
into a settlement, and what is never written, is jobs.settlements' business; here is how it is
written:

    SettlementDetailsInfo  SaleUnitName: the ledger's sales units' names, joined by "; ";
                           SerialNumber: their MSNs / Vippsnummer (recipient handles without the
                           country or "api:" prefix), joined by ", "; OrganizationNumber: the owner's
                           number; OrganizationName and the address: [merchants] in config.toml, else
                           empty; MainAddressCountryCode: from the owner's country (NO -> NOR)
    PaymentsInfo           ReportDateFrom/To: the first and last ledger date of the one settlement
                           of the file, or the period of a --combine file (whose first payments
                           may come before it, as in Vipps' own reports); SettlementAccountNum:
                           the ledger's payout bank account
    SettlementInfo         SettlementDate: the payout's ledger date; SettlementID: the payout number
                           (the `<number>` of its pspReference `<ledgerId>-<number>`);
                           SettlementType: Net when the payout had fees retained, else Gross
    TransactionInfo        TransactionTime: the entry's time in Oslo time with its offset, to the
                           millisecond, as Vipps writes it; Capture (>= 0) or Refund (<= 0) the
                           entry's amount and the other 0.00; Gross = Capture + Refund; Fee: the
                           payment's fees on the fees topic (jobs.fees); Net = Gross - Fee;
                           TransactionID: the pspReference; OrderID: the reference, empty if none
    totals                 each sum of its transactions' amounts; SettledAmount what the payout paid
                           (minus the payout entry's amount)

Amounts have two decimals, a minus sign and no other mark (jobs.money). Text is escaped as for camt.053
(jobs.formats.xmltext), never shortened: the schema sets no length. Written as a stream: the head is
known before the first transaction, every total is added up as transactions are written, and a
file's bytes go on in its temp file once they outgrow memory (jobs.formats.spill), so a
settlement of any size is written in flat memory.

Before commit, proofs() compares what the file says with what the ledger's own entries say, added
up apart from this writer (jobs.settlements); a file that fails one is never committed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jobs.entries import Row, instant
from jobs.errors import Unfit
from jobs.formats.base import ReportFile
from jobs.formats.proof import fact
from jobs.formats.spill import TextBuffer
from jobs.formats.xmltext import escape
from jobs.merchants import Merchant
from jobs.money import format_minor, minor_units
from jobs.reconcile import CAPTURE, REFUND, Check, DateSummary

NAMESPACE = "http://vipps.no/xmlschema/SettlementReport-3.0.xsd"
OSLO = ZoneInfo("Europe/Oslo")
COUNTRIES = {"NO": "NOR", "DK": "DNK", "FI": "FIN", "SE": "SWE"}  # ISO 3166 alpha-3, as Vipps' examples
TRANSACTION_ID = re.compile(r"[1-9][0-9]{0,18}")  # an xs:long written exactly as the pspReference is
LONG_MAX = 2**63 - 1
# Vipps MobilePay's own name and site; its address is left empty (the schema allows it), as nothing
# in the API says it and an address copied from 2018 may be wrong today.
VIPPS_INFO = {
    "Name": "Vipps MobilePay AS",
    "WebSite": "https://vippsmobilepay.com",
    "VisitingAddress": "",
    "PostBox": "",
    "PostAddress": "",
    "Country": "",
}
ID_ROOM = len("<SettlementID></SettlementID>") + len(str(LONG_MAX))


@dataclass(frozen=True)
class Details:
    """What a file says about its ledger (SettlementDetailsInfo and PaymentsInfo's head)."""

    sale_units: str
    serial_numbers: str
    organization_number: str
    country_code: str
    account: str
    currency: str
    merchant: Merchant

    @classmethod
    def of(cls, ledger: dict[str, Any], merchants: Mapping[str, Merchant]) -> Details:
        """From the ledger as GET /settlement/v1/ledgers gives it, and [merchants]."""
        owner = ledger.get("owner") or {}
        scheme, number = str(owner.get("scheme") or ""), str(owner.get("id") or "")
        country = scheme.split(":")[1] if scheme.count(":") >= 2 else ""
        units = [u for u in ledger.get("salesUnits") or [] if isinstance(u, dict)]
        handles = [str(h) for h in ledger.get("settlesForRecipientHandles") or []]
        return cls(
            sale_units="; ".join(str(u.get("name") or "") for u in units),
            serial_numbers=", ".join(h.split(":", 1)[-1] for h in handles),
            organization_number=number,
            country_code=COUNTRIES.get(country, country),
            account=str((ledger.get("payoutBankAccount") or {}).get("id") or ""),
            currency=str(ledger.get("currency") or ""),
            merchant=merchants.get(number, Merchant()),
        )


@dataclass(frozen=True)
class Head:
    """A settlement as its SettlementInfo names it."""

    date: dt.date  # the payout's ledger date
    settlement_id: int
    net: bool


@dataclass
class Totals:
    """A settlement's sums as the file states them, minor units."""

    transactions: int = 0
    captures: int = 0
    refunds: int = 0
    fees: int = 0

    @property
    def gross(self) -> int:
        return self.captures + self.refunds

    @property
    def net(self) -> int:
        return self.gross - self.fees


@dataclass(frozen=True)
class Ledger:
    """A settlement as the ledger's own entries and the fees topic add it up (jobs.settlements), for the proofs."""

    transactions: int
    captures: int
    refunds: int
    fees: int  # the fees of its payments, from the fees topic
    fees_retained: int  # minus the fees-retained entries on funds (net settlement): what was kept back
    paid: int  # minus the payout entry's amount: what the bank receives


class SettlementFile(ReportFile):
    """One ledger's settlements of one payout or one period; `begin`, `add` per payment, `end`, per settlement."""

    def __init__(self, path: Path, mode: int, details: Details, first: dt.date, last: dt.date) -> None:
        super().__init__(path, mode)
        self._details = details
        self._text = TextBuffer(self._bytes)
        self._open: tuple[dt.date, bool] | None = None  # the settlement being written: its date, and Net or not
        self._id_at = 0
        self._totals = Totals()
        self.settlements: list[tuple[Head, Totals]] = []
        merchant = details.merchant
        self._text.write(
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<SettlementReport xmlns="{NAMESPACE}">\n<SettlementDetailsInfo>'
            f"{_element('SaleUnitName', details.sale_units)}{_element('SerialNumber', details.serial_numbers)}"
            f"{_element('OrganizationName', merchant.name)}"
            f"{_element('OrganizationNumber', details.organization_number)}"
            f"{_element('MainAddress', merchant.address)}{_element('MainAddressZipCode', merchant.zip_code)}"
            f"{_element('MainAddressCity', merchant.city)}{_element('MainAddressCountryCode', details.country_code)}"
            f"\n<PaymentsInfo><ReportDateFrom>{first}</ReportDateFrom><ReportDateTo>{last}</ReportDateTo>"
            f"{_element('SettlementCurrencyCode', details.currency)}"
            f"{_element('SettlementAccountNum', details.account)}\n"
        )

    def begin(self, date: dt.date, net: bool) -> None:
        """A settlement paid out on `date`: its payments follow (add), then end()."""
        self._text.write(f"<SettlementInfo><SettlementDate>{date}</SettlementDate>")
        self._text.pass_on()
        # The SettlementID is the payout's number, which comes with the payout, its date's last entry:
        # room for it now, filled in by end(). Spaces between elements are nothing to XML.
        self._id_at = self._bytes.tell()
        self._bytes.write(b" " * ID_ROOM)
        self._open, self._totals = (date, net), Totals()
        self._text.write(
            f"{_element('SettlementCurrencyCode', self._details.currency)}"
            f"<SettlementType>{'Net' if net else 'Gross'}</SettlementType>\n"
        )

    def add(self, row: Row, fee: int) -> None:
        """One capture or refund and its fee (minor units, >= 0); Unfit if the format cannot hold it."""
        amount, totals = minor_units(row.amount), self._totals
        if row.entryType == CAPTURE and amount >= 0:
            capture, refund = amount, 0
        elif row.entryType == REFUND and amount <= 0:
            capture, refund = 0, amount
        else:
            raise Unfit(
                f"{row.entryType} {row.pspReference} of {format_minor(amount)}: the format holds captures of "
                "0.00 or more and refunds of 0.00 or less"
            )
        if fee < 0:
            raise Unfit(
                f"{row.entryType} {row.pspReference}: its fees add up to {format_minor(-fee)} in its favour; the "
                "format holds fees of 0.00 or more"
            )
        if row.currency != self._details.currency:  # one currency per file, as the ledger's
            raise Unfit(
                f"{row.entryType} {row.pspReference} is in {row.currency[:10]!r}, the ledger in "
                f"{self._details.currency[:10]!r}"
            )
        psp = row.pspReference
        if not TRANSACTION_ID.fullmatch(psp) or int(psp) > LONG_MAX:
            raise Unfit(
                f"pspReference {psp[:40]!r} of {row.entryType} {row.reference[:40]!r} is not a number the "
                "format's TransactionID (xs:long) can hold exactly; a made-up one would match nothing"
            )
        moment = instant(row.time)
        if moment is None:
            raise Unfit(f"{row.entryType} {psp} has the time {row.time[:40]!r}, which is no date-time with an offset")
        self._text.write(
            f"<TransactionInfo><TransactionTime>{moment.astimezone(OSLO).isoformat(timespec='milliseconds')}"
            f"</TransactionTime><TransactionCaptureAmount>{format_minor(capture)}</TransactionCaptureAmount>"
            f"<TransactionRefundAmount>{format_minor(refund)}</TransactionRefundAmount>"
            f"<TransactionGrossAmount>{format_minor(amount)}</TransactionGrossAmount>"
            f"<TransactionNetAmount>{format_minor(amount - fee)}</TransactionNetAmount>"
            f"<TransactionFeeAmount>{format_minor(fee)}</TransactionFeeAmount>"
            f"{_element('SettlementCurrencyCode', row.currency)}<TransactionID>{psp}</TransactionID>"
            f"{_element('OrderID', row.reference)}</TransactionInfo>\n"
        )
        totals.transactions += 1
        totals.captures += capture
        totals.refunds += refund
        totals.fees += fee
        self.rows += 1
        self._text.pass_on_if_full()

    def end(self, settlement_id: int, paid: int) -> Head:
        """Close the settlement: its SettlementID (the payout number) and what the payout paid (SettledAmount)."""
        if self._open is None:
            raise RuntimeError("end() without begin()")
        (date, net), totals = self._open, self._totals
        if not totals.transactions:
            raise Unfit("it pays out no capture or refund, and the format needs at least one per settlement")
        self._text.write(
            f"<NumOfTransactions>{totals.transactions}</NumOfTransactions>"
            f"<CaptureSettlementAmount>{format_minor(totals.captures)}</CaptureSettlementAmount>"
            f"<RefundSettlementAmount>{format_minor(totals.refunds)}</RefundSettlementAmount>"
            f"<GrossSettlementAmount>{format_minor(totals.gross)}</GrossSettlementAmount>"
            f"<NetSettlementAmount>{format_minor(totals.net)}</NetSettlementAmount>"
            f"<FeeSettlementAmount>{format_minor(totals.fees)}</FeeSettlementAmount>"
            f"<SettledAmount>{format_minor(paid)}</SettledAmount></SettlementInfo>\n"
        )
        self._text.pass_on()
        here = self._bytes.tell()
        self._bytes.seek(self._id_at)
        self._bytes.write(f"<SettlementID>{settlement_id}</SettlementID>".ljust(ID_ROOM).encode())
        self._bytes.seek(here)
        head = Head(date, settlement_id, net)
        self.settlements.append((head, totals))
        self._open = None
        return head

    def proofs(self, ledger: Ledger) -> list[Check]:
        """What the settlement just ended states, against its ledger entries and fees: all must hold."""
        head, written = self.settlements[-1]
        what = f"settlement {head.settlement_id}'s"
        checks = [
            fact("settlement payments", ledger.transactions, written.transactions, f"{what} payments number", str),
            fact("settlement captures", ledger.captures, written.captures, f"{what} captures add up to"),
            fact("settlement refunds", ledger.refunds, written.refunds, f"{what} refunds add up to"),
            fact("settlement fees", ledger.fees, written.fees, f"{what} fees add up to"),
        ]
        if head.net:  # the fees were kept back from this payout: the file's fees must be those
            checks.append(
                fact("settlement fees retained", ledger.fees_retained, written.fees, f"{what} fees add up to")
            )
        settled = written.net if head.net else written.gross
        checks.append(
            fact(
                "settlement paid out",
                ledger.paid,
                settled,
                f"{what} {'net' if head.net else 'gross'} amount (SettledAmount) is",
            )
        )
        return checks

    def _finish(self, summaries: Sequence[DateSummary]) -> None:
        self._text.write(
            f"<NumOfSettlements>{len(self.settlements)}</NumOfSettlements></PaymentsInfo>\n"
            "</SettlementDetailsInfo>\n<VippsInfo>"
            + "".join(_element(name, text) for name, text in VIPPS_INFO.items())
            + "</VippsInfo>\n</SettlementReport>\n"
        )
        self._text.pass_on()


def _element(name: str, text: str) -> str:
    """Every element the format names is written, empty if there is nothing to say (its texts may be empty)."""
    return f"<{name}>{escape(text)}</{name}>"
