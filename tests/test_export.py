"""File names from API identifiers: only plain identifiers, never outside --out."""

import datetime as dt

import pytest

from jobs.errors import ProtocolError
from jobs.export import check_identifier, plan
from jobs.output import report_path


@pytest.mark.parametrize("ledger_id", ["302321", "0302399", "ledger_2-b", "A" * 64])
def test_plain_identifiers_pass(ledger_id, tmp_path):
    assert check_identifier(ledger_id) == ledger_id
    path = report_path(tmp_path, ledger_id, "funds", dt.date(2026, 11, 20).isoformat(), "csv")
    assert path == tmp_path / ledger_id / "funds" / f"{ledger_id}_funds_2026-11-20.csv"


@pytest.mark.parametrize(
    "ledger_id", ["", ".", "..", "../etc", "a/b", "a\\b", "/abs", "-rf", ".hidden", "a b", "æøå", "x\n", "A" * 65]
)
def test_anything_else_is_refused(ledger_id):
    with pytest.raises(ProtocolError, match="not a plain identifier"):
        check_identifier(ledger_id)


def test_the_plan_goes_ledger_by_ledger_then_date_then_topic():
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    assert [(u.ledger_id, u.date.day, u.topic) for u in plan(["a", "b"], ["funds", "fees"], days)] == [
        ("a", 1, "funds"),
        ("a", 1, "fees"),
        ("a", 2, "funds"),
        ("a", 2, "fees"),
        ("b", 1, "funds"),
        ("b", 1, "fees"),
        ("b", 2, "funds"),
        ("b", 2, "fees"),
    ]
