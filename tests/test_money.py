"""Money in the files: one rule, whether an amount comes as a row's Decimal or as minor units."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from jobs.money import amount_formatter, format_amount, format_minor, major_units, minor_units

# Worked out by hand: two decimals, a minus sign, no other mark, exact however large.
EXAMPLES = [
    (49900, "499.00"),
    (-5, "-0.05"),
    (0, "0.00"),
    (1, "0.01"),
    (-100, "-1.00"),
    (123456, "1234.56"),
    (2**63 - 1, "92233720368547758.07"),
    (-(2**63), "-92233720368547758.08"),
]


@pytest.mark.parametrize("minor, text", EXAMPLES)
def test_an_amount_is_written_the_same_from_minor_units_and_from_a_row(minor, text):
    assert format_minor(minor) == text
    assert format_amount(major_units(minor)) == text
    assert amount_formatter(",")(major_units(minor)) == text.replace(".", ",")


def test_both_ways_agree_for_any_amount_a_ledger_can_hold():
    rng = random.Random(20)
    amounts = [rng.randint(-(2**63), 2**63 - 1) for _ in range(2000)] + [
        rng.randint(-10_000, 10_000) for _ in range(2000)
    ]
    for minor in amounts:
        assert format_minor(minor) == format_amount(major_units(minor)), minor
        assert minor_units(major_units(minor)) == minor


def test_the_decimal_mark_is_the_only_difference_between_the_presets_amounts():
    assert amount_formatter(".") is format_amount
    assert amount_formatter(",")(Decimal("-1234.50")) == "-1234,50"
    assert format_amount(Decimal("1E+3")) == "1000.00"  # never scientific notation
