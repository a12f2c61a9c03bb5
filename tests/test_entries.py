"""Entries to rows: exact amounts, text untouched."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from jobs.entries import EntryError, replace_lone_surrogates, to_row
from jobs.money import format_amount, major_units

ENTRY = {
    "pspReference": "0012345",
    "time": "2026-11-20T07:19:26.528092Z",
    "ledgerDate": "2026-11-20",
    "entryType": "some-new-type",
    "reference": "=1+1",
    "currency": "NOK",
    "amount": 49900,
    "balanceBefore": 2**31,
    "balanceAfter": 2**31 + 49900,
    "recipientHandle": None,
    "brandNewField": [1, 2],
}


@pytest.mark.parametrize(
    "minor, text",
    [
        (49900, "499.00"),
        (-5, "-0.05"),
        (0, "0.00"),
        (-1, "-0.01"),
        (1, "0.01"),
        (-100, "-1.00"),
        (2**63 - 1, "92233720368547758.07"),
        (-(2**53) - 1, "-90071992547409.93"),
    ],
)
def test_amounts_are_exact_major_units_with_two_decimals(minor, text):
    assert format_amount(major_units(minor)) == text
    assert major_units(minor) * 100 == minor


def test_a_row_keeps_text_as_served_and_ignores_unknown_fields():
    row = to_row(ENTRY, "0302399")
    assert row.ledgerId == "0302399"
    assert row.ledgerDate == dt.date(2026, 11, 20)
    assert row.pspReference == "0012345" and row.reference == "=1+1" and row.entryType == "some-new-type"
    assert row.recipientHandle == ""
    assert row.balanceAfter == Decimal("21475335.48")  # 2**31 + 49900 minor units


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 499.0},
        {"amount": "49900"},
        {"amount": True},
        {"ledgerDate": "20.11.2026"},
        {"pspReference": 12345},
        {"balanceAfter": None},
    ],
)
def test_mistyped_fields_are_refused_rather_than_guessed(change):
    with pytest.raises(EntryError):
        to_row({**ENTRY, **change}, "1")


def test_lone_surrogates_become_replacement_characters_and_are_counted():
    # json.loads turns the escape "\ud83d" without its pair into a lone surrogate; no UTF-8 file can hold it.
    served = json.loads(
        '[{"reference": "cut \\ud83d", "entryType": "\\udcb8\\ud83d x", "pspReference": "0012345",'
        ' "message": "pair \\ud83d\\udcb8", "name": "Ærlig", "brandNewField": "\\ud800", "amount": 1},'
        ' {"reference": null, "currency": "NOK", "time": "2026-11-20T07:19:26Z"}]'
    )

    assert replace_lone_surrogates(served) == 3

    assert served == [
        {
            "reference": "cut \ufffd",
            "entryType": "\ufffd\ufffd x",
            "pspReference": "0012345",
            "message": "pair 💸",
            "name": "Ærlig",
            "brandNewField": "\ud800",
            "amount": 1,
        },  # not a column: left alone
        {"reference": None, "currency": "NOK", "time": "2026-11-20T07:19:26Z"},
    ]
    assert replace_lone_surrogates(served) == 0  # nothing left to replace
