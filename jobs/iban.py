"""The IBAN of a ledger's payout account, where its country lets us compute it without a guess.

The API gives the payout account as `{scheme, id}`: `IBAN` (taken as it is, once its
check digits hold), or `BBAN:NO`, `BBAN:DK`, `BBAN:FI`, whose IBAN is the country
code, two check digits (ISO 7064 MOD 97-10) and the BBAN itself. A BBAN is taken
only in the form its country's IBAN holds, and only when its own check digit holds:
Norway's 11 digits end in a MOD 11 check digit, Finland's 14 (machine format) in a
Luhn one; Denmark's 14 (4 of registration number, 10 of account) carry none that
every bank uses. Anything else has no IBAN (None): a wrong account number must
never reach a bank statement.
"""

from __future__ import annotations

from typing import Any

BBAN_DIGITS = {"NO": 11, "DK": 14, "FI": 14}


def payout_iban(account: dict[str, Any] | None) -> str | None:
    scheme, number = str((account or {}).get("scheme", "")), str((account or {}).get("id", ""))
    number = number.replace(" ", "").upper()
    if scheme == "IBAN":
        return number if len(number) > 4 and number[:2].isalpha() and _mod97(number) == 1 else None
    country = scheme.removeprefix("BBAN:")
    if not scheme.startswith("BBAN:") or not number.isdigit() or len(number) != BBAN_DIGITS.get(country):
        return None
    if country == "NO" and not _mod11_ok(number) or country == "FI" and not _luhn_ok(number):
        return None
    check = 98 - _mod97(f"{number}{country}00")
    return f"{country}{check:02d}{number}"


def _mod97(text: str) -> int:
    """ISO 7064 MOD 97-10 over an IBAN (or BBAN + country + "00"): letters count A=10 .. Z=35."""
    moved = text[4:] + text[:4] if not text[:2].isdigit() else text
    return int("".join(str(int(c, 36)) for c in moved)) % 97


def _mod11_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    check = (11 - total % 11) % 11
    return check != 10 and check == int(number[10])


def _luhn_ok(number: str) -> bool:
    total = 0
    for n, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
