"""File names from API identifiers: only plain identifiers, never outside --out."""

import datetime as dt

import pytest

from jobs.errors import ProtocolError
from jobs.ledgers import check_identifier
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
