"""Settings: the only reader of config.toml, .env and the environment.

Precedence, highest first: environment, .env (beside the config file), config.toml,
defaults. Secrets are read from the first two only; config.toml is committed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from jobs import __version__
from jobs.errors import ConfigError

DEFAULT_CONFIG = Path("config.toml")
KEY_TYPES = ("accounting", "merchant")
TOPICS = ("funds", "fees")
FORMATS = ("csv", "xlsx")
MAX_CONCURRENCY = 64
TOKEN_PATHS = {"accounting": "/miami/v1/token", "merchant": "/accesstoken/get"}
SECRET_NAMES = re.compile(r"secret|password|subscription_key|client_id", re.IGNORECASE)


@dataclass(frozen=True)
class Credentials:
    key_type: str
    client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str = field(default="", repr=False)
    msn: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_seconds: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(frozen=True)
class Schedule:
    cron: str = "23 * * * *"  # hourly at a minute away from :00-:10, as the API docs ask
    timezone: ZoneInfo = ZoneInfo("Europe/Oslo")
    misfire_grace_seconds: int = 1800


@dataclass(frozen=True)
class Settings:
    base_url: str
    token_url: str
    timeout: float
    concurrency: int  # ledger dates fetched and written at once
    credentials: Credentials | None  # None until a command needs them: see require_credentials
    system_headers: Mapping[str, str]
    timezone: ZoneInfo
    out: Path
    topics: tuple[str, ...]
    formats: tuple[str, ...]
    file_mode: int
    retry: RetryPolicy
    state_path: Path = Path("state/report-export.sqlite3")
    start_date: dt.date | None = None  # first date of a newly seen ledger; None: yesterday
    give_up_after_days: int = 62
    csv_preset: str = "standard"
    csv_columns: tuple[str, ...] | None = None  # None: every column, in the standard order
    csv_rename: Mapping[str, str] = field(default_factory=dict)
    gdpr: bool = False  # includeGDPRSensitiveData: personal data, only when asked for explicitly
    strict: bool = False  # a failed reconciliation check fails the date instead of warning
    sheet_row_limit: int = 1_048_576  # rows per XLSX sheet, header included (Excel's maximum)
    feed_start: str = "beginning"
    feed_batch_entries: int = 100_000
    schedule: Schedule = Schedule()
    missing: tuple[str, ...] = ()  # names of unset credential variables

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            names = " and ".join(self.missing)
            raise ConfigError(f"{names} not set: put them in .env (see .env.example) or the environment")
        return self.credentials


def load(config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; config_path None means ./config.toml if it exists."""
    explicit = config_path is not None
    path = Path(config_path) if explicit else DEFAULT_CONFIG
    toml = _read_toml(path, required=explicit)
    env = {**_read_dotenv(path.parent / ".env"), **(os.environ if environ is None else environ)}
    api, export, retry, system, state, feed, schedule, csv = (
        _table(toml, name) for name in ("api", "export", "retry", "system", "state", "feed", "schedule", "csv")
    )

    key_type = env.get("VIPPS_KEY_TYPE") or api.get("key_type", "accounting")
    if key_type not in KEY_TYPES:
        raise ConfigError(f"VIPPS_KEY_TYPE is {key_type!r}: use 'accounting' or 'merchant'")
    base_url = _base_url(env.get("VIPPS_BASE_URL") or api.get("base_url", "https://api.vipps.no"))
    default_token_path = api.get("token_path", TOKEN_PATHS["accounting"])
    token_path = TOKEN_PATHS["merchant"] if key_type == "merchant" else default_token_path
    token_path = env.get("VIPPS_TOKEN_PATH") or token_path
    if not token_path.startswith("/"):
        raise ConfigError(f"token path {token_path!r} must start with '/': fix [api] token_path")
    credentials, missing = _credentials(key_type, env)
    here = path.parent  # relative paths in config.toml are read from its folder, as cron needs
    return Settings(
        base_url=base_url,
        token_url=base_url + token_path,
        timeout=_number(api, "timeout_seconds", 30.0),
        concurrency=_concurrency(api.get("concurrency", 8)),
        credentials=credentials,
        missing=missing,
        system_headers=_system_headers(system),
        timezone=_zone(export.get("timezone", "Europe/Oslo")),
        out=here / export.get("out", "reports"),
        topics=_choices(export, "topics", TOPICS),
        formats=_choices(export, "formats", FORMATS),
        file_mode=_file_mode(export.get("file_mode", "0600")),
        retry=RetryPolicy(
            max_attempts=int(_number(retry, "max_attempts", 6)),
            max_seconds=_number(retry, "max_seconds", 300.0),
            base_delay=_number(retry, "base_delay_seconds", 0.5),
            max_delay=_number(retry, "max_delay_seconds", 30.0),
        ),
        state_path=here / state.get("path", "state/report-export.sqlite3"),
        start_date=_start_date(state.get("start_date", "yesterday")),
        give_up_after_days=int(_number(state, "give_up_after_days", 62)),
        csv_preset=_one_of(csv, "preset", ("standard", "no", "dk", "fi")),
        csv_columns=_strings(csv, "columns"),
        csv_rename=_table(csv, "rename"),
        gdpr=_flag(export, "include_gdpr_sensitive_data"),
        strict=_flag(export, "strict"),
        sheet_row_limit=int(_number(export, "xlsx_sheet_rows", 1_048_576)),
        feed_start=_one_of(feed, "start", ("beginning", "now")),
        feed_batch_entries=int(_number(feed, "batch_entries", 100_000)),
        schedule=Schedule(
            cron=str(schedule.get("cron", Schedule.cron)),
            timezone=_zone(schedule.get("timezone", export.get("timezone", "Europe/Oslo"))),
            misfire_grace_seconds=int(_number(schedule, "misfire_grace_seconds", 1800)),
        ),
    )


def _read_toml(path: Path, required: bool) -> dict:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} not found: check --config") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    for table in data.values():
        for key in table if isinstance(table, dict) else ():
            if SECRET_NAMES.search(key):
                raise ConfigError(
                    f"{path} holds {key!r}: credentials belong in .env or the environment, not config.toml"
                )
    return data


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _table(toml: dict, name: str) -> dict:
    table = toml.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] in config.toml must be a table")
    return table


def _credentials(key_type: str, env: Mapping[str, str]) -> tuple[Credentials | None, tuple[str, ...]]:
    names = ["VIPPS_CLIENT_ID", "VIPPS_CLIENT_SECRET"]
    if key_type == "merchant":
        names.append("VIPPS_SUBSCRIPTION_KEY")
    missing = tuple(name for name in names if not env.get(name))
    if missing:
        return None, missing
    return (
        Credentials(
            key_type=key_type,
            client_id=env["VIPPS_CLIENT_ID"],
            client_secret=env["VIPPS_CLIENT_SECRET"],
            subscription_key=env.get("VIPPS_SUBSCRIPTION_KEY", "") if key_type == "merchant" else "",
            msn=env.get("VIPPS_MSN", "") if key_type == "merchant" else "",
        ),
        (),
    )


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"VIPPS_BASE_URL {url!r} is not an http(s) URL: use e.g. https://api.vipps.no")
    return url.rstrip("/")


def _system_headers(system: dict) -> dict[str, str]:
    headers = {
        "Vipps-System-Name": system.get("name", "report-export"),
        "Vipps-System-Version": system.get("version", __version__),
        "Vipps-System-Plugin-Name": "report-export",
        "Vipps-System-Plugin-Version": __version__,
    }
    for name, value in headers.items():
        if not isinstance(value, str) or not 0 < len(value) <= 30 or not value.isascii():
            raise ConfigError(f"{name} must be 1-30 ASCII characters: fix [system] in config.toml")
    return headers


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}: fix [export] timezone (e.g. Europe/Oslo)") from None


def _choices(table: dict, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = table.get(key, list(allowed))
    if not isinstance(values, list) or not values or any(v not in allowed for v in values):
        raise ConfigError(f"[export] {key} must be a list of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _start_date(value: object) -> dt.date | None:
    if value == "yesterday":
        return None
    if isinstance(value, dt.date):  # TOML's own date literal
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f'[state] start_date {value!r} must be "yesterday" or YYYY-MM-DD') from None


def _concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError(f"[api] concurrency must be a whole number from 1 to {MAX_CONCURRENCY}")
    return value


def _strings(table: dict, key: str) -> tuple[str, ...] | None:
    values = table.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key} in config.toml must be a list of column names")
    return tuple(values)


def _flag(table: dict, key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} in config.toml must be true or false")
    return value


def _one_of(table: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = table.get(key, allowed[0])
    if value not in allowed:
        raise ConfigError(f"{key} {value!r} in config.toml must be one of {', '.join(allowed)}")
    return value


def _number(table: dict, key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key} in config.toml must be a positive number")
    return float(value)


def _file_mode(text: str) -> int:
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or not mode & 0o600 == 0o600:
        raise ConfigError(f'[export] file_mode {text!r} must be octal like "0600" and owner read-write')
    return mode
