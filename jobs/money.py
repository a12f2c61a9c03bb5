"""Money in the files: the one rule for how an amount is converted and written.

The API gives integers in minor units (øre, cents); every file shows major units with exactly two
decimals, a minus sign when negative and no other mark: 49900 -> ``499.00``, -5 -> ``-0.05``. The
conversion is integer arithmetic only: a float cannot hold every balance of a large merchant exactly.
The Nordic CSV presets write the same text with a decimal comma (``499,00``). Rows carry their
amounts as Decimal in major units (``format_amount``); sums, totals and checks are kept in minor units
(``format_minor``); both give the same text for the same amount.

Money for people on the page (digit grouping, the reader's locale) is jobs.web.language's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal


def major_units(minor: int) -> Decimal:
    """49900 -> Decimal('499.00'); exact for any integer."""
    return Decimal(minor).scaleb(-2)


def minor_units(major: Decimal) -> int:
    """Decimal('499.00') -> 49900; exact for the two-decimal amounts rows carry."""
    return int(major.scaleb(2))


def format_amount(value: Decimal) -> str:
    """Decimal('499.00') -> '499.00', never scientific notation."""
    return f"{value:.2f}"


def format_minor(minor: int) -> str:
    """-5 -> '-0.05': minor units written as major, without floating point."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def amount_formatter(decimal_mark: str = ".") -> Callable[[Decimal], str]:
    """format_amount with `decimal_mark` in place of the point ('499,00' for the Nordic CSV presets)."""
    if decimal_mark == ".":
        return format_amount
    return lambda value: format_amount(value).replace(".", decimal_mark)
