"""An independent camt.053 reader: XSD validation, then the statement read back with XPath.

The schema is the vendored official one (tests/iso20022/README.md); nothing here
uses jobs.camt053. Amounts come back signed (DBIT negative) as Decimal.
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


class Entry(NamedTuple):
    amount: Decimal  # signed: DBIT negative
    booked: dt.date
    value: dt.date
    status: str
    servicer_ref: str | None
    code: str
    issuer: str
    end_to_end: str | None
    unstructured: str | None
    info: str | None


class Statement(NamedTuple):
    message_id: str
    statement_id: str
    created: str
    account: str
    currency: str
    opening: Decimal
    opening_date: dt.date
    closing: Decimal
    closing_date: dt.date
    entries: list[Entry]
    summary: dict[str, str]


def _text(node, path: str) -> str | None:
    found = node.xpath(path, namespaces=NS)
    return found[0] if found else None


def _signed(node) -> Decimal:
    amount = Decimal(node.xpath("string(c:Amt)", namespaces=NS))
    side = node.xpath("string(c:CdtDbtInd)", namespaces=NS)
    assert side in ("CRDT", "DBIT") and amount >= 0
    return -amount if side == "DBIT" else amount


def read_camt053(path: Path) -> Statement:
    """Valid against the schema, one statement, read back."""
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
    currencies = set(statement.xpath(".//c:Amt/@Ccy", namespaces=NS))
    assert len(currencies) == 1
    entries = [
        Entry(
            amount=_signed(node),
            booked=dt.date.fromisoformat(_text(node, "c:BookgDt/c:Dt/text()")),
            value=dt.date.fromisoformat(_text(node, "c:ValDt/c:Dt/text()")),
            status=_text(node, "c:Sts/text()"),
            servicer_ref=_text(node, "c:AcctSvcrRef/text()"),
            code=_text(node, "c:BkTxCd/c:Prtry/c:Cd/text()"),
            issuer=_text(node, "c:BkTxCd/c:Prtry/c:Issr/text()"),
            end_to_end=_text(node, "c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId/text()"),
            unstructured=_text(node, "c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd/text()"),
            info=_text(node, "c:AddtlNtryInf/text()"),
        )
        for node in statement.xpath("c:Ntry", namespaces=NS)
    ]
    summary = {
        name: node.xpath(f"string(c:TxsSummry/c:{path})", namespaces=NS)
        for name, path in {
            "entries": "TtlNtries/c:NbOfNtries",
            "net": "TtlNtries/c:TtlNetNtryAmt",
            "net side": "TtlNtries/c:CdtDbtInd",
            "credits": "TtlCdtNtries/c:NbOfNtries",
            "credit sum": "TtlCdtNtries/c:Sum",
            "debits": "TtlDbtNtries/c:NbOfNtries",
            "debit sum": "TtlDbtNtries/c:Sum",
        }.items()  # fmt: skip
        for node in (statement,)
    }
    return Statement(
        message_id=_text(document, "/c:Document/c:BkToCstmrStmt/c:GrpHdr/c:MsgId/text()"),
        statement_id=_text(statement, "c:Id/text()"),
        created=_text(statement, "c:CreDtTm/text()"),
        account=_text(statement, "c:Acct/c:Id/c:Othr/c:Id/text()"),
        currency=currencies.pop(),
        opening=balances["OPBD"][0],
        opening_date=balances["OPBD"][1],
        closing=balances["CLBD"][0],
        closing_date=balances["CLBD"][1],
        entries=entries,
        summary=summary,
    )
