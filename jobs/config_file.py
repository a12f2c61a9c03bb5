"""The config file: read once, and each value checked by one reader that names where it is wrong.

Every table of the file (jobs.config's own, jobs.accounts' charts, jobs.merchants) is read through a
Table, whose getters check a value's type and range and, when it is wrong, raise one ConfigError naming
the table, the key and the file as it was given (`--config nightly.toml` says nightly.toml), and what to
write instead: `[export] out in nightly.toml is 5: it must be text in quotes, e.g. "reports"`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError


def read(path: Path, *, required: bool) -> dict[str, Any]:
    """The file's tables; {} for a default file that does not exist."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} not found: check --config") from None
        return {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}; fix it (see the committed config.toml)") from None


class Table:
    """One table of the file, as `where` names it (`[export]`, `[accounts.types.capture]`); `source` is the file."""

    def __init__(self, values: Mapping[str, Any], where: str, source: str) -> None:
        self.values, self.where, self.source = values, where, source

    @classmethod
    def of(cls, value: object, where: str, source: str, example: str = "") -> Table:
        """`value` as a table; a ConfigError if it is a plain value."""
        if not isinstance(value, dict):
            raise ConfigError(f"{where} in {source} must be a table{example}")
        return cls(value, where, source)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    def wrong(self, key: str, should: str) -> ConfigError:
        return ConfigError(f"{self.where} {key} in {self.source} is {self.values[key]!r}: it must be {should}")

    def known(self, keys: tuple[str, ...]) -> None:
        """A misspelt key would otherwise be ignored without a word."""
        for key in self.values:
            if key not in keys:
                raise ConfigError(
                    f"{self.where} {key} in {self.source} is not a setting this version reads: remove "
                    f"it or fix its name (known in {self.where}: {', '.join(keys)})"
                )

    def text(self, key: str, default: str = "") -> str:
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise self.wrong(key, f'text in quotes, e.g. "{default}"' if default else "text in quotes")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.wrong(key, f"a positive number, e.g. {default:g}")
        return float(value)

    def whole(self, key: str, default: int | None = None, *, least: int = 1, most: int | None = None) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least or (most and value > most):
            span = f"from {least} to {most}" if most else f"of at least {least}"
            raise self.wrong(key, f"a whole number {span}" + (f", e.g. {default}" if default is not None else ""))
        return int(value)

    def flag(self, key: str) -> bool:
        value = self.values.get(key, False)
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        """One of `allowed`; the first when not set."""
        value = self.values.get(key, allowed[0])
        if value not in allowed:
            raise self.wrong(key, "one of " + ", ".join(f'"{a}"' for a in allowed))
        return str(value)

    def choices(self, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        """Some of `allowed`, each once, in the file's order; all of them when not set."""
        values = self.values.get(key, list(allowed))
        if not isinstance(values, list) or not values or any(v not in allowed for v in values):
            raise self.wrong(key, "a list of " + ", ".join(f'"{a}"' for a in allowed) + f', e.g. ["{allowed[0]}"]')
        return tuple(dict.fromkeys(values))

    def texts(self, key: str, should: str) -> tuple[str, ...] | None:
        values = self.values.get(key)
        if values is None:
            return None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.wrong(key, should)
        return tuple(values)

    def renames(self, key: str) -> dict[str, str]:
        values = self.values.get(key, {})
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise self.wrong(key, 'a table of column = "new name", e.g. [csv.rename] amount = "Beløp"')
        return values
