"""The sandbox's ledgers: who owns them, and the knobs their synthetic data is made with.

Each ledger exists to exercise traps of the real API:

    302321   two sales units, every awkward reference daily, each rarer entry type
             within any 7 days (fee side too: service-fee, credit-note, correction)
    0302399  a leading zero (int casting), balances above 2**31 (32-bit amounts),
             Norwegian payouts whose reference is empty or null
    412345   the merchant's own ledger (accounting and merchant keys both see it), a
             recent history, and weeks of negative balance whose dates stay open
    5551234  Danish, the 2023 payout type name, ledger dates that run 04:00-04:00
    7778881  Finnish, euro cents, gross settlement: fees invoiced once a month

and one more, held by every sandbox but readable only once granted (Sandbox.grant, or ledger_ids):

    6001234  weekly settlement (one payout a week, on Sundays' date), Vippsnummer sales without a
             reference, and none of the rarer entry types: every week a settlement the Vipps
             settlement XML can hold

A ledger date runs from `cutoff_hour` to the same hour the next day in the
ledger's own time zone: its owner's country (Oslo, Copenhagen, Helsinki).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .messages import JsonObject

ZONES = {"NO": ZoneInfo("Europe/Oslo"), "DK": ZoneInfo("Europe/Copenhagen"), "FI": ZoneInfo("Europe/Helsinki")}
CURRENCY_COUNTRY = {"NOK": "NO", "DKK": "DK", "EUR": "FI"}
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
    cutoff_hour: int = 0  # local hour at which a ledger date begins and the previous one ends
    gross: bool = False  # gross settlement: no fees-retained; the fees are invoiced monthly (fees-invoiced)
    # (first date, number of dates): a large refund takes the funds balance below zero, no payout
    # happens and the dates stay open until the last one, whose top-up brings the balance back.
    shortfall: tuple[dt.date, int] | None = None
    payout_reference: bool = True  # False: payouts carry "" or null, as Norwegian ones do now
    payout_weekday: int | None = None  # date.weekday() of the one payout a week; None: a payout every date
    vm_references: bool = True  # False: every third Vippsnummer sale (and its refunds) has no reference (null)
    rare_types: bool = True  # False: no disputes, corrections, aborted payouts, top-ups or unknown types

    @property
    def handles(self) -> list[str]:
        return [handle for _, handle in self.units]

    @property
    def zone(self) -> ZoneInfo:
        """The ledger's own time zone: its owner's country, else its currency's; Oslo if neither says."""
        parts = self.owner[0].split(":")
        country = parts[1] if len(parts) >= 3 else CURRENCY_COUNTRY.get(self.currency, "NO")
        return ZONES.get(country, ZONES["NO"])

    def shortfall_dates(self) -> tuple[dt.date, dt.date] | None:
        """First and last date of the negative-balance stretch, if the ledger has one."""
        if self.shortfall is None:
            return None
        first, count = self.shortfall
        return first, first + dt.timedelta(days=count - 1)

    def public(self) -> JsonObject:
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

    def bank_text(self, payout_number: int) -> str | None:
        """The reference a payout entry carries (Norwegian style for NOK); "" or None (null) for a
        ledger without usable payout references, alternating by payout number."""
        if not self.payout_reference:
            return "" if payout_number % 2 == 0 else None
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
        bank=("BBAN:NO", "98765432103"),
        units=(("Reserve Reiser AS", "NO:654321"),),
        payout_reference=False,
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
        bank=("BBAN:NO", "15031234562"),
        units=(("Nettbutikken AS", MERCHANT_HANDLE),),
        shortfall=(dt.date(2026, 8, 3), 45),  # open from then until the top-up on 2026-09-16
    ),
    Ledger(  # Danish, still using the 2023 payout type name; ledger dates run 04:00-04:00
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
        cutoff_hour=4,
    ),
    Ledger(  # Finnish, euro cents, IBAN payout account, gross settlement
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
        gross=True,
    ),
)

# Held by every sandbox, readable only when granted: the default ledger list stays the five above.
GRANTABLE: tuple[Ledger, ...] = (
    Ledger(  # weekly settlement: a settlement spans seven ledger dates
        id="6001234",
        currency="NOK",
        first_date=dt.date(2025, 6, 2),
        opening=0,
        payout_type="payout-scheduled",
        quiet_weekday=None,
        captures=(3, 8),
        amounts=(49_00, 1200_00),
        serial=6,
        owner=("business:NO:ORG", "934567890"),
        bank=("BBAN:NO", "36251234567"),
        units=(("Fjellbakeriet", "NO:70123"), ("Fjellbakeriet nettbutikk", "api:654987")),
        payout_weekday=6,
        vm_references=False,
        rare_types=False,
    ),
)

BY_ID: dict[str, Ledger] = {ledger.id: ledger for ledger in LEDGERS + GRANTABLE}
