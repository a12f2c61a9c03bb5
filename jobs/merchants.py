"""What the API does not say about a merchant: its name and postal address, from config.toml.

    [merchants."987654321"]       the ledger owner's organisation number, as the API gives it
    name = "Kafé Ørnen AS"
    address = "Storgata 1"
    zip_code = "0155"
    city = "Oslo"

The Report API names a ledger's owner only by number (its `owner.id`), and gives no address;
the Vipps settlement XML has a place for both (jobs.settlement_xml). Every key is optional: a
merchant, or a key, not listed here is written as an empty text, which that format allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobs.config_file import Table

KEYS = ("name", "address", "zip_code", "city")


@dataclass(frozen=True)
class Merchant:
    name: str = ""
    address: str = ""
    zip_code: str = ""
    city: str = ""


def parse(table: Any, source: str = "config.toml") -> Mapping[str, Merchant]:
    """The config file's [merchants] (None if absent): organisation number -> Merchant."""
    merchants = {}
    for number, values in (table or {}).items():
        where = f'[merchants."{number}"]'
        fields = Table.of(values, where, source, ', e.g. [merchants."987654321"] with name = "..."')
        fields.known(KEYS)
        merchants[str(number)] = Merchant(**{key: fields.text(key) for key in fields.values})
    return merchants
