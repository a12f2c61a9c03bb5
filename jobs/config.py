"""The only reader of config.toml, .env and the environment: every value checked when they are read.

Precedence, highest first: environment, .env (beside the config file), config.toml,
defaults. Secrets are read from the first two only; config.toml is committed. Whatever a
run would refuse of the file is refused here, by every command: `check` says "ok" only for a
config that `run` accepts. Messages name the file as it was given (jobs.config_file). The tables
with a home of their own are checked there: the charts by jobs.accounts, [merchants] by jobs.merchants,
[notify] and its secrets by jobs.channels.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from jobs import __version__, channels, config_file
from jobs.accounts import KEYS as ACCOUNT_KEYS
from jobs.accounts import parse as parse_charts
from jobs.config_file import Table
from jobs.cron import cron_trigger, installation_minute
from jobs.errors import ConfigError
from jobs.merchants import parse as parse_merchants
from jobs.presets import PRESETS, csv_format
from jobs.settings import Credentials as Credentials
from jobs.settings import NotifySettings as NotifySettings
from jobs.settings import RetryPolicy as RetryPolicy
from jobs.settings import Schedule as Schedule
from jobs.settings import Settings as Settings
from jobs.settings import WebSettings as WebSettings

DEFAULT_CONFIG = Path("config.toml")
KEY_TYPES = ("accounting", "merchant")
TOPICS = ("funds", "fees")
FORMATS = ("csv", "xlsx", "gbat10", "camt053", "vipps-xml")
DEFAULT_FORMATS = ("csv", "xlsx")  # the bookkeeping formats only when asked for: gbat10 needs a chart
FUNDS_ONLY = ("gbat10", "camt053", "vipps-xml")  # written for topic funds only (jobs.output.usable_topics)
MAX_CONCURRENCY = 64
TOKEN_PATHS = {"accounting": "/miami/v1/token", "merchant": "/accesstoken/get"}
SECRET_NAMES = re.compile(r"secret|password|subscription_key|client_id|webhook_url", re.IGNORECASE)


# Every key the config file may hold, per table: a misspelt key would otherwise be ignored without a word.
KNOWN_KEYS = {
    "api": ("base_url", "key_type", "token_path", "timeout_seconds", "concurrency"),
    "retry": ("max_attempts", "max_seconds", "base_delay_seconds", "max_delay_seconds"),
    "export": (
        "timezone",
        "out",
        "topics",
        "formats",
        "file_mode",
        "strict",
        "include_gdpr_sensitive_data",
        "xlsx_sheet_rows",
    ),
    "csv": ("preset", "columns", "rename"),
    "system": ("name", "version"),
    "state": ("path", "start_date", "warn_after_days"),
    "feed": ("start", "batch_entries"),
    "schedule": ("cron", "timezone", "misfire_grace_seconds"),
    "web": (
        "host",
        "port",
        "session_hours",
        "idle_minutes",
        "behind_proxy",
        "proxy_address",
        "proxy_hops",
        "exports",
        "keep_days",
    ),
    "accounts": ACCOUNT_KEYS,  # its tables' own keys are checked by jobs.accounts
    "clients": None,  # keyed by organisation number, and ...
    "ledgers": None,  # ... by ledger id: each table's keys are those of [accounts] (jobs.accounts)
    "merchants": None,  # organisation numbers; their keys (jobs.merchants.KEYS) are checked there
    "notify": (
        "email_to",
        "email_from",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_user",
        "smtp_ca_file",
        "on_success",
        "installation",
        "timeout_seconds",
        "retry_seconds",
    ),
}
RETIRED_KEYS = {
    ("state", "give_up_after_days"): "no date is given up any more: rename it to warn_after_days",
}


def load(config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings, every value checked; config_path None means ./config.toml if it exists."""
    explicit = config_path is not None
    path = Path(config_path) if config_path is not None else DEFAULT_CONFIG
    toml = config_file.read(path, required=explicit)
    env = {**_read_dotenv(path.parent / ".env"), **(os.environ if environ is None else environ)}
    # Relative paths in the file are read from its folder.
    return _settings(toml, env, here=path.parent, source=str(path), found=path if path.exists() else None)


def built_in() -> Settings:
    """The settings of an empty config.toml and environment: what --help shows when the config is broken."""
    return _settings({}, {}, here=Path("."), source=str(DEFAULT_CONFIG), found=None)


def _settings(toml: dict[str, Any], env: Mapping[str, str], here: Path, source: str, found: Path | None) -> Settings:
    tables = _tables(toml, source)
    api, export, retry, state, feed, csv, web = (
        tables[name] for name in ("api", "export", "retry", "state", "feed", "csv", "web")
    )
    # The file's own values are checked even where the environment overrides them: cron's environment may not.
    configured_type = api.choice("key_type", KEY_TYPES)
    configured_url = _base_url(api.text("base_url", "https://api.vipps.no"), f"[api] base_url in {source}")
    key_type = env.get("VIPPS_KEY_TYPE") or configured_type
    if key_type not in KEY_TYPES:
        raise ConfigError(f"VIPPS_KEY_TYPE is {key_type!r}: use 'accounting' or 'merchant'")
    base_url = _base_url(env["VIPPS_BASE_URL"], "VIPPS_BASE_URL") if env.get("VIPPS_BASE_URL") else configured_url
    token_path = api.text("token_path", TOKEN_PATHS["accounting"])
    token_path = env.get("VIPPS_TOKEN_PATH") or (TOKEN_PATHS["merchant"] if key_type == "merchant" else token_path)
    if not token_path.startswith("/"):
        raise ConfigError(f"token path {token_path!r} must start with '/': fix [api] token_path in {source}")
    credentials, missing = _credentials(key_type, env)
    charts = parse_charts(toml, source)
    settings = Settings(
        base_url=base_url,
        token_url=base_url + token_path,
        timeout=api.number("timeout_seconds", 30.0),
        concurrency=api.whole("concurrency", 8, most=MAX_CONCURRENCY),
        credentials=credentials,
        missing=missing,
        system_headers=_system_headers(tables["system"]),
        timezone=_zone(export, "timezone", "Europe/Oslo"),
        out=here / export.text("out", "reports"),
        topics=export.choices("topics", TOPICS),
        formats=export.choices("formats", FORMATS) if "formats" in export else DEFAULT_FORMATS,
        file_mode=_file_mode(export),
        retry=RetryPolicy(
            max_attempts=retry.whole("max_attempts", 6),
            max_seconds=retry.number("max_seconds", 300.0),
            base_delay=retry.number("base_delay_seconds", 0.5),
            max_delay=retry.number("max_delay_seconds", 30.0),
        ),
        state_path=here / state.text("path", "state/report-export.sqlite3"),
        start_date=_start_date(state),
        warn_after_days=state.whole("warn_after_days", Settings.warn_after_days),
        csv_preset=csv.choice("preset", PRESETS),
        csv_columns=csv.texts("columns", 'a list of column names, e.g. ["ledgerDate", "amount"]'),
        csv_rename=csv.renames("rename"),
        gdpr=export.flag("include_gdpr_sensitive_data"),
        strict=export.flag("strict"),
        sheet_row_limit=export.whole("xlsx_sheet_rows", 1_048_576, least=2, most=1_048_576),
        feed_start=feed.choice("start", ("beginning", "now")),
        feed_batch_entries=feed.whole("batch_entries", 100_000),
        schedule=_schedule(tables["schedule"], export, credentials),
        web=WebSettings(
            host=web.text("host", WebSettings.host),
            port=web.whole("port", WebSettings.port, least=0, most=65535),
            session_hours=web.whole("session_hours", WebSettings.session_hours, most=24 * 30),
            idle_minutes=web.whole("idle_minutes", WebSettings.idle_minutes, most=24 * 60),
            behind_proxy=web.flag("behind_proxy"),
            proxy_address=_proxy_address(web),
            proxy_hops=web.whole("proxy_hops", WebSettings.proxy_hops, most=10),
            exports=here / web.text("exports", str(WebSettings.exports)),
            keep_days=web.whole("keep_days", WebSettings.keep_days, most=3650),
        ),
        charts=charts,
        merchants=parse_merchants(toml.get("merchants"), source),
        notify=channels.parse(tables["notify"], retry, env, here),
        config_file=found,
    )
    _check_output(settings, csv, source)
    return settings


def _tables(toml: dict[str, Any], source: str) -> dict[str, Table]:
    """Each table this version reads (empty if absent), once no key in the file is unknown, retired or a secret."""
    for name, values in toml.items():
        if name not in KNOWN_KEYS:
            raise ConfigError(
                f"[{name}] in {source} is not a table this version reads: remove it or fix its name "
                f"(known: {', '.join(KNOWN_KEYS)})"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{name} in {source} must be a table, [{name}]")
        table = Table(values, f"[{name}]", source)
        for key in table.values:
            if SECRET_NAMES.search(key):
                raise ConfigError(
                    f"{source} holds {key!r}: credentials belong in .env or the environment, not in the config file"
                )
            if (name, key) in RETIRED_KEYS:
                raise ConfigError(f"[{name}] {key} in {source}: {RETIRED_KEYS[name, key]}")
        known = KNOWN_KEYS[name]
        if known is not None:
            table.known(known)
    return {name: Table(toml.get(name, {}), f"[{name}]", source) for name in KNOWN_KEYS}


def _check_output(settings: Settings, csv: Table, source: str) -> None:
    """What a run would refuse when it builds its files, refused here: so `check` refuses it too."""
    try:
        csv_format(settings.csv_preset, columns=settings.csv_columns, rename=settings.csv_rename, gdpr=settings.gdpr)
    except ValueError as exc:
        raise ConfigError(f"{csv.where} in {source}: {exc}") from None
    if "gbat10" in settings.formats and not (settings.charts and settings.charts.any):
        raise ConfigError(
            f'[export] formats in {source} holds "gbat10", which needs an [accounts] table: copy the '
            "example from the committed config.toml and change it to your chart of accounts"
        )
    if "funds" not in settings.topics and all(fmt in FUNDS_ONLY for fmt in settings.formats):
        raise ConfigError(
            f"[export] formats in {source} are written for topic funds only, and [export] topics has "
            'no "funds": add "funds" to topics, or "csv" or "xlsx" to formats'
        )


def _schedule(schedule: Table, export: Table, credentials: Credentials | None) -> Schedule:
    """[schedule] cron, or hourly at this installation's own minute (see installation_minute)."""
    zone = _zone(schedule, "timezone", export.text("timezone", "Europe/Oslo"))
    configured = schedule.text("cron")
    if configured:
        cron_trigger(configured, zone, schedule.source)  # a cron that cannot run is refused by every command
        cron, source = configured, "[schedule] cron"
    elif credentials:
        cron, source = f"{installation_minute(credentials.client_id)} * * * *", "this installation's minute"
    else:  # the schedule cannot run without keys; this only shows what it would be
        cron, source = f"{installation_minute(socket.gethostname())} * * * *", "the host name (no keys set)"
    return Schedule(
        cron=cron, timezone=zone, misfire_grace_seconds=schedule.whole("misfire_grace_seconds", 1800), source=source
    )


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def credential_names(key_type: str) -> tuple[str, ...]:
    return ("VIPPS_CLIENT_ID", "VIPPS_CLIENT_SECRET") + (("VIPPS_SUBSCRIPTION_KEY",) if key_type == "merchant" else ())


def keys_outside_dotenv(settings: Settings) -> tuple[str, ...]:
    """The keys a process started by cron would miss: those not in the .env beside the config file."""
    folder = settings.config_file.parent if settings.config_file else Path(".")
    in_dotenv = _read_dotenv(folder / ".env")
    key_type = settings.credentials.key_type if settings.credentials else "accounting"
    return tuple(name for name in credential_names(key_type) if not in_dotenv.get(name))


def _credentials(key_type: str, env: Mapping[str, str]) -> tuple[Credentials | None, tuple[str, ...]]:
    missing = tuple(name for name in credential_names(key_type) if not env.get(name))
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


def _base_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where} {url!r} is not an http(s) URL: use e.g. https://api.vipps.no")
    return url.rstrip("/")


def _system_headers(system: Table) -> dict[str, str]:
    headers = {
        "Vipps-System-Name": system.get("name", "report-export"),
        "Vipps-System-Version": system.get("version", __version__),
        "Vipps-System-Plugin-Name": "report-export",
        "Vipps-System-Plugin-Version": __version__,
    }
    for name, value in headers.items():
        if not isinstance(value, str) or not 0 < len(value) <= 30 or not value.isascii():
            raise ConfigError(f"{name} must be 1-30 ASCII characters: fix [system] in {system.source}")
    return {name: str(value) for name, value in headers.items()}


def _zone(table: Table, key: str, default: str) -> ZoneInfo:
    name = table.text(key, default)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}: fix {table.where} {key} in {table.source} (e.g. Europe/Oslo)"
        ) from None


def _start_date(state: Table) -> dt.date | None:
    value = state.get("start_date", "yesterday")
    if value == "yesterday":
        return None
    if type(value) is dt.date:  # TOML's own date literal (a TOML date-time is refused below)
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise state.wrong("start_date", '"yesterday" or a date, YYYY-MM-DD') from None


def _proxy_address(web: Table) -> str:
    try:
        return str(ipaddress.ip_address(web.text("proxy_address", "127.0.0.1")))
    except ValueError:
        raise web.wrong(
            "proxy_address", 'the reverse proxy\'s IP address, e.g. "127.0.0.1" for one on this machine'
        ) from None


def _file_mode(export: Table) -> int:
    text = export.text("file_mode", "0600")
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or not mode & 0o600 == 0o600:
        raise export.wrong("file_mode", 'octal like "0600", and owner read-write')
    return mode
