"""An independent reader of the Vipps settlement report (XML 3.0): XSD validation, the report read back with
XPath, and every rule of the format checked on what was read.

The schema is Vipps' own, vendored with its digest (tests/vipps_settlement/README.md); nothing here uses
jobs.formats.settlement_xml. Amounts come back as Decimal, exactly as written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from lxml import etree

FOLDER = Path(__file__).parent / "vipps_settlement"
DIGESTS = {
    "SettlementReport-3.0.xsd": "7fda7130b89b6d4aef93a4f041ca95951a173adba57edf766dfff781e48b18f9",
    "Example-Net.xml": "9a62275bf0c39000358e0e31b4a8f0c1a2a827e0007c9d4acaf5aaff941bb9b4",
    "Example-Gross.xml": "c6745580d327f445e1ade9409c632934d754e12246409a890a02450138b09c96",
}
NS = {"v": "http://vipps.no/xmlschema/SettlementReport-3.0.xsd"}
MONEY = re.compile(r"-?\d+\.\d\d")


def vendored(name: str) -> Path:
    path = FOLDER / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DIGESTS[name], f"the vendored {name} changed"
    return path


@functools.cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(vendored("SettlementReport-3.0.xsd"))))


class Transaction(NamedTuple):
    time: dt.datetime
    capture: Decimal
    refund: Decimal
    gross: Decimal
    net: Decimal
    fee: Decimal
    currency: str
    transaction_id: str
    order_id: str


class Settlement(NamedTuple):
    date: dt.date
    settlement_id: str
    currency: str
    type: str
    transactions: list[Transaction]
    capture: Decimal
    refund: Decimal
    gross: Decimal
    net: Decimal
    fee: Decimal
    settled: Decimal


class Report(NamedTuple):
    details: dict[str, str]  # SettlementDetailsInfo's texts, by element name
    date_from: dt.date
    date_to: dt.date
    currency: str
    account: str
    settlements: list[Settlement]
    vipps: dict[str, str]


def _text(node, name: str) -> str:
    [found] = node.xpath(f"v:{name}", namespaces=NS)
    return found.text or ""


def _money(node, name: str) -> Decimal:
    text = _text(node, name)
    assert MONEY.fullmatch(text), f"{name} {text!r} is not an amount with two decimals"
    return Decimal(text)


def _transaction(node) -> Transaction:
    time = dt.datetime.fromisoformat(_text(node, "TransactionTime"))
    assert time.utcoffset() is not None, "TransactionTime without its offset"
    found = Transaction(
        time,
        *(
            _money(node, n)
            for n in (
                "TransactionCaptureAmount",
                "TransactionRefundAmount",
                "TransactionGrossAmount",
                "TransactionNetAmount",
                "TransactionFeeAmount",
            )
        ),
        _text(node, "SettlementCurrencyCode"),
        _text(node, "TransactionID"),
        _text(node, "OrderID"),
    )
    assert found.capture >= 0 and found.refund <= 0 and found.fee >= 0, found
    assert found.gross == found.capture + found.refund and found.net == found.gross - found.fee, found
    return found


def _settlement(node) -> Settlement:
    transactions = [_transaction(t) for t in node.xpath("v:TransactionInfo", namespaces=NS)]
    found = Settlement(
        dt.date.fromisoformat(_text(node, "SettlementDate")),
        _text(node, "SettlementID"),
        _text(node, "SettlementCurrencyCode"),
        _text(node, "SettlementType"),
        transactions,
        *(
            _money(node, n)
            for n in (
                "CaptureSettlementAmount",
                "RefundSettlementAmount",
                "GrossSettlementAmount",
                "NetSettlementAmount",
                "FeeSettlementAmount",
                "SettledAmount",
            )
        ),
    )
    assert int(_text(node, "NumOfTransactions")) == len(transactions)
    for total, part in (("capture", 1), ("refund", 2), ("gross", 3), ("net", 4), ("fee", 5)):
        assert getattr(found, total) == sum((t[part] for t in transactions), Decimal("0.00")), (found.date, total)
    assert found.gross == found.capture + found.refund and found.net == found.gross - found.fee
    # What was paid out: net when the fees were kept back, gross when they are invoiced.
    assert found.settled == (found.net if found.type == "Net" else found.gross), (found.settlement_id, found.type)
    assert all(t.time.date() <= found.date for t in transactions), "a payment after its settlement's date"
    assert {t.currency for t in transactions} <= {found.currency}
    return found


def read_settlement_report(path: Path) -> Report:
    """Valid against the schema, every rule of the format holding, read back."""
    document = etree.parse(str(path))
    if not schema().validate(document):
        raise AssertionError(f"{path.name}: {schema().error_log}")
    [details] = document.xpath("/v:SettlementReport/v:SettlementDetailsInfo", namespaces=NS)
    [payments] = details.xpath("v:PaymentsInfo", namespaces=NS)
    settlements = [_settlement(s) for s in payments.xpath("v:SettlementInfo", namespaces=NS)]
    report = Report(
        {child.tag.split("}")[1]: child.text or "" for child in details if not child.tag.endswith("PaymentsInfo")},
        dt.date.fromisoformat(_text(payments, "ReportDateFrom")),
        dt.date.fromisoformat(_text(payments, "ReportDateTo")),
        _text(payments, "SettlementCurrencyCode"),
        _text(payments, "SettlementAccountNum"),
        settlements,
        {
            child.tag.split("}")[1]: child.text or ""
            for child in document.xpath("/v:SettlementReport/v:VippsInfo/*", namespaces=NS)
        },
    )
    assert int(_text(payments, "NumOfSettlements")) == len(settlements)
    assert all(report.date_from <= s.date <= report.date_to for s in settlements)
    ids = [t.transaction_id for s in settlements for t in s.transactions]
    assert len(ids) == len(set(ids)), "a TransactionID twice in one report"
    return report
