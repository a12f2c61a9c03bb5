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

from jobs.errors import ConfigError

KEYS = ("name", "address", "zip_code", "city")


@dataclass(frozen=True)
class Merchant:
    name: str = ""
    address: str = ""
    zip_code: str = ""
    city: str = ""


def parse(table: Any) -> Mapping[str, Merchant]:
    """config.toml's [merchants] (None if absent): organisation number -> Merchant."""
    if table is None:
        return {}
    merchants = {}
    for number, values in table.items():
        where = f'[merchants."{number}"] in config.toml'
        if not isinstance(values, dict):
            raise ConfigError(f'{where} must be a table, e.g. [merchants."987654321"] with name = "..."')
        for key, value in values.items():
            if key not in KEYS:
                raise ConfigError(f"{where}: {key} is not a setting this version reads (known: {', '.join(KEYS)})")
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {key} is {value!r}: it must be text in quotes")
        merchants[number] = Merchant(**values)
    return merchants
