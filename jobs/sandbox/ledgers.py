"""The sandbox's ledgers: who owns them, and the knobs their synthetic data is made with.

Each ledger exists to exercise one trap of the real API: a ledgerId with a
leading zero (int casting), balances above 2**31 (32-bit amounts), the old
payout entry type name, two sales units on one ledger, a merchant's own ledger
that accounting keys and merchant keys both see, and a ledger whose history
starts recently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MERCHANT_HANDLE = "api:123456"
MERCHANT_LEDGER = "412345"  # the merchant's own ledger: the only one merchant keys ever see


@dataclass(frozen=True)
class Ledger:
    id: str
    currency: str
    first_date: dt.date  # dates before this are closed and empty
    opening: int  # funds balance every active date starts and ends with
    payout_type: str
    quiet_weekday: int | None  # date.weekday() with no activity at all
    captures: tuple[int, int]  # captures per active date, inclusive range
    amounts: tuple[int, int]  # capture amount range, minor units
    serial: int  # makes pspReferences unique across ledgers
    owner: tuple[str, str]  # (scheme, id)
    bank: tuple[str, str]  # payoutBankAccount (scheme, id)
    units: tuple[tuple[str, str], ...]  # sales units: (name, recipientHandle)
    # Shows every awkward reference daily and rotates through the rarer entry types.
    showcase: bool = False

    @property
    def handles(self) -> list[str]:
        return [handle for _, handle in self.units]

    def public(self) -> dict:
        """The ledger object as GET /settlement/v1/ledgers serves it (a fresh dict each call)."""
        scheme, owner_id = self.owner
        return {
            "ledgerId": self.id,
            "currency": self.currency,
            "payoutBankAccount": {"scheme": self.bank[0], "id": self.bank[1]},
            "owner": {"scheme": scheme, "id": owner_id},
            "settlesForRecipientHandles": self.handles,
            "salesUnits": [
                {
                    "name": name,
                    "recipientHandle": handle,
                    "businessIdentifier": {"scheme": scheme, "id": owner_id},
                }
                for name, handle in self.units
            ],
        }

    def bank_text(self, payout_number: int) -> str:
        """The text a payout entry carries as reference (Norwegian style for NOK)."""
        if self.currency == "NOK":
            msn = self.handles[0].split(":", 1)[1]
            return f"Vipps utbet. {payout_number} Vippsnr {msn}"
        return f"MobilePay {payout_number}"


LEDGERS: tuple[Ledger, ...] = (
    Ledger(  # the main ledger: busiest, two sales units, every awkward reference daily
        id="302321",
        currency="NOK",
        first_date=dt.date(2024, 1, 1),
        opening=0,
        payout_type="payout-scheduled",
        quiet_weekday=None,
        captures=(20, 35),
        amounts=(10_00, 2500_00),
        serial=1,
        owner=("business:NO:ORG", "987654321"),
        bank=("BBAN:NO", "12345678903"),
        units=(("Kafé Ørnen", "NO:123455"), ("Ørnen Catering", "NO:57860")),
        showcase=True,
    ),
    Ledger(  # leading zero in the id; rolling reserve above 2**31 øre; quiet on Sundays
        id="0302399",
        currency="NOK",
        first_date=dt.date(2024, 1, 1),
        opening=300_000_000_000,
        payout_type="payout-scheduled",
        quiet_weekday=6,
        captures=(5, 15),
        amounts=(500_00, 50_000_00),
        serial=2,
        owner=("business:NO:ORG", "912345678"),
        bank=("BBAN:NO", "98765432106"),
        units=(("Reserve Reiser AS", "NO:654321"),),
    ),
    Ledger(  # the merchant's own ledger (MERCHANT_CLIENT sees only this one); starts recently
        id="412345",
        currency="NOK",
        first_date=dt.date(2026, 6, 1),
        opening=0,
        payout_type="payout-scheduled",
        quiet_weekday=None,
        captures=(8, 20),
        amounts=(99_00, 4999_00),
        serial=3,
        owner=("business:NO:ORG", "923456789"),
        bank=("BBAN:NO", "15031234567"),
        units=(("Nettbutikken AS", MERCHANT_HANDLE),),
    ),
    Ledger(  # Danish, and still using the 2023 payout type name
        id="5551234",
        currency="DKK",
        first_date=dt.date(2024, 1, 1),
        opening=0,
        payout_type="scheduled-for-payout",
        quiet_weekday=6,
        captures=(5, 15),
        amounts=(20_00, 1500_00),
        serial=4,
        owner=("business:DK:CVR", "12345678"),
        bank=("BBAN:DK", "12345678901234"),
        units=(("Bageriet Ålborg", "DK:90601"),),
    ),
    Ledger(  # Finnish, euro cents, IBAN payout account
        id="7778881",
        currency="EUR",
        first_date=dt.date(2025, 2, 1),
        opening=0,
        payout_type="payout-scheduled",
        quiet_weekday=None,
        captures=(5, 12),
        amounts=(2_00, 300_00),
        serial=5,
        owner=("business:FI:Y-tunnus", "1234567-8"),
        bank=("IBAN", "FI2112345600000785"),
        units=(("Kahvila Sisu", "FI:12345"),),
    ),
)

BY_ID: dict[str, Ledger] = {ledger.id: ledger for ledger in LEDGERS}
