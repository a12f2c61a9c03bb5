"""Settings: the only reader of config.toml, .env and the environment.

Precedence, highest first: environment, .env (beside the config file), config.toml,
defaults. Secrets are read from the first two only; config.toml is committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from jobs import __version__
from jobs.accounts import KEYS as ACCOUNT_KEYS
from jobs.accounts import Charts
from jobs.accounts import parse as parse_charts
from jobs.errors import ConfigError
from jobs.merchants import Merchant
from jobs.merchants import parse as parse_merchants

DEFAULT_CONFIG = Path("config.toml")
KEY_TYPES = ("accounting", "merchant")
TOPICS = ("funds", "fees")
FORMATS = ("csv", "xlsx", "gbat10", "camt053", "vipps-xml")
DEFAULT_FORMATS = ("csv", "xlsx")  # the bookkeeping formats only when asked for: gbat10 needs a chart
MAX_CONCURRENCY = 64
TOKEN_PATHS = {"accounting": "/miami/v1/token", "merchant": "/accesstoken/get"}
SECRET_NAMES = re.compile(r"secret|password|subscription_key|client_id|webhook_url", re.IGNORECASE)


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
    cron: str = "23 * * * *"  # config.load puts each installation's own minute here (installation_minute)
    timezone: ZoneInfo = ZoneInfo("Europe/Oslo")
    misfire_grace_seconds: int = 1800
    source: str = "built-in"  # where the cron expression came from, for check and status


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"  # reachable from this machine only, unless told otherwise
    port: int = 8080
    session_hours: int = 8  # a sign-in lasts a working day at most
    idle_minutes: int = 60  # and ends sooner when nothing is asked of the page for this long
    # Behind a reverse proxy (TLS ends there), its X-Forwarded-Proto and -For are believed, from its address only
    # and for this many proxies in a row; from anyone else they are dropped.
    behind_proxy: bool = False
    proxy_address: str = "127.0.0.1"
    proxy_hops: int = 1
    exports: Path = Path("web-exports")  # each page export writes into a folder of its own under here
    keep_days: int = 30  # and keeps it unchanged this long; then its links say it has expired


@dataclass(frozen=True)
class NotifySettings:
    """[notify]: where notices of failed runs go (jobs/notify.py). The SMTP password and the webhook URL,
    which may embed a token, come from the environment or .env only and stay out of every repr."""

    email_to: tuple[str, ...] = ()
    email_from: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls, tls (implicit, port 465) or none
    smtp_user: str = ""  # log in when set
    smtp_password: str = field(default="", repr=False)
    smtp_ca_file: Path | None = None  # None: the system's CAs
    webhook_url: str = field(default="", repr=False)
    on_success: bool = False  # also a daily "all good"
    installation: str = ""  # named in every subject; the host name unless set
    timeout: float = 10.0  # seconds per attempt
    retry: RetryPolicy = RetryPolicy(max_attempts=6, max_seconds=60.0)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(name for name, on in (("email", self.email_to), ("webhook", self.webhook_url)) if on)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the password, the webhook URL and its path (a token, for Slack)."""
        url = urlsplit(self.webhook_url)
        tail = url.path + (f"?{url.query}" if url.query else "")
        return tuple(s for s in (self.smtp_password, self.webhook_url, tail if len(tail) > 1 else "") if s)


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
    # A date pending longer than this is named by every run (exit 11) and retried once a day; it is never
    # dropped. Monthly settlement keeps dates open for up to a month, so a shorter default would alarm monthly.
    warn_after_days: int = 35
    csv_preset: str = "standard"
    csv_columns: tuple[str, ...] | None = None  # None: every column, in the standard order
    csv_rename: Mapping[str, str] = field(default_factory=dict)
    gdpr: bool = False  # includeGDPRSensitiveData: personal data, only when asked for explicitly
    strict: bool = False  # a failed reconciliation check fails the date instead of warning
    sheet_row_limit: int = 1_048_576  # rows per XLSX sheet, header included (Excel's maximum)
    feed_start: str = "beginning"
    feed_batch_entries: int = 100_000
    schedule: Schedule = Schedule()
    web: WebSettings = WebSettings()
    notify: NotifySettings = NotifySettings()
    missing: tuple[str, ...] = ()  # names of unset credential variables
    charts: Charts | None = None  # [accounts], [clients], [ledgers]: how each ledger is booked (jobs.accounts)
    merchants: Mapping[str, Merchant] = field(default_factory=dict)  # [merchants]: names and addresses, by org no.

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            names = " and ".join(self.missing)
            raise ConfigError(f"{names} not set: put them in .env (see .env.example) or the environment")
        return self.credentials


# Every key config.toml may hold, per table: a misspelt key would otherwise be ignored without a word.
KNOWN_KEYS = {
    "api": ("base_url", "key_type", "token_path", "timeout_seconds", "concurrency"),
    "retry": ("max_attempts", "max_seconds", "base_delay_seconds", "max_delay_seconds"),
    "export": ("timezone", "out", "topics", "formats", "file_mode", "strict", "include_gdpr_sensitive_data",
               "xlsx_sheet_rows"),
    "csv": ("preset", "columns", "rename"),
    "system": ("name", "version"),
    "state": ("path", "start_date", "warn_after_days"),
    "feed": ("start", "batch_entries"),
    "schedule": ("cron", "timezone", "misfire_grace_seconds"),
    "web": ("host", "port", "session_hours", "idle_minutes", "behind_proxy", "proxy_address", "proxy_hops",
            "exports", "keep_days"),
    "accounts": ACCOUNT_KEYS,  # its tables' own keys are checked by jobs.accounts
    "clients": None,  # keyed by organisation number, and ...
    "ledgers": None,  # ... by ledger id: each table's keys are those of [accounts] (jobs.accounts)
    "merchants": None,  # organisation numbers; their keys (jobs.merchants.KEYS) are checked there
    "notify": ("email_to", "email_from", "smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_ca_file",
               "on_success", "installation", "timeout_seconds", "retry_seconds"),
}  # fmt: skip
RETIRED_KEYS = {
    ("state", "give_up_after_days"): "no date is given up any more: rename it to warn_after_days",
}


def load(config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; config_path None means ./config.toml if it exists."""
    explicit = config_path is not None
    path = Path(config_path) if explicit else DEFAULT_CONFIG
    toml = _read_toml(path, required=explicit)
    env = {**_read_dotenv(path.parent / ".env"), **(os.environ if environ is None else environ)}
    return _settings(toml, env, here=path.parent)  # relative paths in config.toml are read from its folder


def built_in() -> Settings:
    """The settings of an empty config.toml and environment: what --help shows when the config is broken."""
    return _settings({}, {}, here=Path("."))


def _settings(toml: dict, env: Mapping[str, str], here: Path) -> Settings:
    api, export, retry, system, state, feed, schedule, csv, web = (
        _Table(toml, name) for name in ("api", "export", "retry", "system", "state", "feed", "schedule", "csv", "web")
    )

    key_type = env.get("VIPPS_KEY_TYPE") or api.choice("key_type", KEY_TYPES)
    if key_type not in KEY_TYPES:
        raise ConfigError(f"VIPPS_KEY_TYPE is {key_type!r}: use 'accounting' or 'merchant'")
    base_url = _base_url(env.get("VIPPS_BASE_URL") or api.text("base_url", "https://api.vipps.no"))
    default_token_path = api.text("token_path", TOKEN_PATHS["accounting"])
    token_path = TOKEN_PATHS["merchant"] if key_type == "merchant" else default_token_path
    token_path = env.get("VIPPS_TOKEN_PATH") or token_path
    if not token_path.startswith("/"):
        raise ConfigError(f"token path {token_path!r} must start with '/': fix [api] token_path")
    credentials, missing = _credentials(key_type, env)
    return Settings(
        base_url=base_url,
        token_url=base_url + token_path,
        timeout=api.number("timeout_seconds", 30.0),
        concurrency=api.whole("concurrency", 8, most=MAX_CONCURRENCY),
        credentials=credentials,
        missing=missing,
        system_headers=_system_headers(system),
        timezone=_zone(export.text("timezone", "Europe/Oslo"), "[export] timezone"),
        out=here / export.text("out", "reports"),
        topics=export.choices("topics", TOPICS),
        formats=export.choices("formats", FORMATS) if "formats" in export.values else DEFAULT_FORMATS,
        file_mode=_file_mode(export.text("file_mode", "0600")),
        retry=RetryPolicy(
            max_attempts=retry.whole("max_attempts", 6),
            max_seconds=retry.number("max_seconds", 300.0),
            base_delay=retry.number("base_delay_seconds", 0.5),
            max_delay=retry.number("max_delay_seconds", 30.0),
        ),
        state_path=here / state.text("path", "state/report-export.sqlite3"),
        start_date=_start_date(state.get("start_date", "yesterday")),
        warn_after_days=state.whole("warn_after_days", Settings.warn_after_days),
        csv_preset=csv.choice("preset", ("standard", "no", "dk", "fi")),
        csv_columns=csv.texts("columns"),
        csv_rename=csv.renames("rename"),
        gdpr=export.flag("include_gdpr_sensitive_data"),
        strict=export.flag("strict"),
        sheet_row_limit=export.whole("xlsx_sheet_rows", 1_048_576, least=2, most=1_048_576),
        feed_start=feed.choice("start", ("beginning", "now")),
        feed_batch_entries=feed.whole("batch_entries", 100_000),
        schedule=_schedule(schedule, export, credentials),
        web=WebSettings(
            host=web.text("host", WebSettings.host),
            port=web.whole("port", WebSettings.port, least=0, most=65535),
            session_hours=web.whole("session_hours", WebSettings.session_hours, most=24 * 30),
            idle_minutes=web.whole("idle_minutes", WebSettings.idle_minutes, most=24 * 60),
            behind_proxy=web.flag("behind_proxy"),
            proxy_address=_proxy_address(web.text("proxy_address", WebSettings.proxy_address)),
            proxy_hops=web.whole("proxy_hops", WebSettings.proxy_hops, most=10),
            exports=here / web.text("exports", str(WebSettings.exports)),
            keep_days=web.whole("keep_days", WebSettings.keep_days, most=3650),
        ),
        charts=parse_charts(toml),
        merchants=parse_merchants(toml.get("merchants")),
        notify=_notify(_Table(toml, "notify"), _Table(toml, "retry"), env, here),
    )


def _schedule(schedule: _Table, export: _Table, credentials: Credentials | None) -> Schedule:
    """[schedule] cron, or hourly at this installation's own minute (see installation_minute)."""
    configured = schedule.text("cron", "")
    if configured:
        cron, source = configured, "[schedule] cron"
    elif credentials:
        cron, source = f"{installation_minute(credentials.client_id)} * * * *", "this installation's minute"
    else:  # the schedule cannot run without keys; this only shows what it would be
        cron, source = f"{installation_minute(socket.gethostname())} * * * *", "the host name (no keys set)"
    return Schedule(
        cron=cron,
        timezone=_zone(schedule.text("timezone", export.text("timezone", "Europe/Oslo")), "[schedule] timezone"),
        misfire_grace_seconds=schedule.whole("misfire_grace_seconds", 1800),
        source=source,
    )


def installation_minute(seed: str) -> int:
    """A minute from 11 to 59, the same for one set of keys across restarts and machines: the API asks
    each installation to run hourly at a minute of its own, never :00-:10, so that they spread."""
    return 11 + int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % 49


def _read_toml(path: Path, required: bool) -> dict:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
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
    for name, table in data.items():
        if name not in KNOWN_KEYS:
            raise ConfigError(f"[{name}] in {path} is not a table this version reads: remove it or fix its name "
                              f"(known: {', '.join(KNOWN_KEYS)})")  # fmt: skip
        if not isinstance(table, dict):
            raise ConfigError(f"{name} in {path} must be a table, [{name}]")
        for key in table:
            if SECRET_NAMES.search(key):
                raise ConfigError(
                    f"{path} holds {key!r}: credentials belong in .env or the environment, not config.toml"
                )
            if (name, key) in RETIRED_KEYS:
                raise ConfigError(f"[{name}] {key} in {path}: {RETIRED_KEYS[name, key]}")
            if KNOWN_KEYS[name] is not None and key not in KNOWN_KEYS[name]:
                raise ConfigError(f"[{name}] {key} in {path} is not a setting this version reads: remove it or "
                                  f"fix its name (known in [{name}]: {', '.join(KNOWN_KEYS[name])})")  # fmt: skip
    return data


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


class _Table:
    """One table of config.toml; each getter checks the value's type and names `[table] key` if it is wrong."""

    def __init__(self, toml: dict, name: str) -> None:
        self.name, self.values = name, toml.get(name, {})

    def get(self, key: str, default: object) -> object:
        return self.values.get(key, default)

    def wrong(self, key: str, should: str) -> ConfigError:
        return ConfigError(f"[{self.name}] {key} in config.toml is {self.values[key]!r}: it must be {should}")

    def text(self, key: str, default: str) -> str:
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise self.wrong(key, f'text in quotes, e.g. "{default}"' if default else "text in quotes")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.wrong(key, f"a positive number, e.g. {default:g}")
        return float(value)

    def whole(self, key: str, default: int, *, least: int = 1, most: int | None = None) -> int:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least or (most and value > most):
            span = f"from {least} to {most}" if most else f"of at least {least}"
            raise self.wrong(key, f"a whole number {span}, e.g. {default}")
        return value

    def flag(self, key: str) -> bool:
        value = self.values.get(key, False)
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.values.get(key, allowed[0])
        if value not in allowed:
            raise self.wrong(key, "one of " + ", ".join(f'"{a}"' for a in allowed))
        return value

    def choices(self, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        values = self.values.get(key, list(allowed))
        if not isinstance(values, list) or not values or any(v not in allowed for v in values):
            raise self.wrong(key, "a list of " + ", ".join(f'"{a}"' for a in allowed) + f', e.g. ["{allowed[0]}"]')
        return tuple(dict.fromkeys(values))

    def texts(self, key: str) -> tuple[str, ...] | None:
        values = self.values.get(key)
        if values is None:
            return None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.wrong(key, 'a list of column names, e.g. ["ledgerDate", "amount"]')
        return tuple(values)

    def renames(self, key: str) -> dict[str, str]:
        values = self.values.get(key, {})
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise self.wrong(key, 'a table of column = "new name", e.g. [csv.rename] amount = "Beløp"')
        return values


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


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}: fix {where} (e.g. Europe/Oslo)") from None


def _start_date(value: object) -> dt.date | None:
    if value == "yesterday":
        return None
    if type(value) is dt.date:  # TOML's own date literal (a TOML date-time is refused below)
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f'[state] start_date {value!r} must be "yesterday" or YYYY-MM-DD') from None


def _proxy_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConfigError(f"[web] proxy_address in config.toml is {text!r}: give the reverse proxy's IP address, "
                          'e.g. "127.0.0.1" for one on this machine') from None  # fmt: skip


def _file_mode(text: str) -> int:
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or not mode & 0o600 == 0o600:
        raise ConfigError(f'[export] file_mode {text!r} must be octal like "0600" and owner read-write')
    return mode


EMAIL_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _is_address(value: object) -> bool:
    """A plain ASCII address: SMTP without the SMTPUTF8 extension carries no other."""
    return isinstance(value, str) and value.isascii() and EMAIL_ADDRESS.fullmatch(value) is not None


def _notify(table: _Table, retry: _Table, env: Mapping[str, str], here: Path) -> NotifySettings:
    """[notify] with NOTIFY_SMTP_PASSWORD and NOTIFY_WEBHOOK_URL; a half-configured channel is refused here,
    so that a run never finds out at night that its notices cannot go anywhere."""
    to = table.get("email_to", [])
    if not isinstance(to, list) or not all(_is_address(a) for a in to):
        raise table.wrong("email_to", 'a list of addresses, e.g. ["it-alerts@example.com"]')
    host, user = table.text("smtp_host", ""), table.text("smtp_user", "")
    security = table.choice("smtp_security", tuple(SMTP_PORTS))
    password, webhook = env.get("NOTIFY_SMTP_PASSWORD", ""), env.get("NOTIFY_WEBHOOK_URL", "")
    if to and not host:
        raise ConfigError('[notify] email_to is set but smtp_host is not: name your mail relay, e.g. smtp_host = '
                          '"smtp.example.com", or remove email_to')  # fmt: skip
    if host and not to:
        raise ConfigError('[notify] smtp_host is set but email_to is not: add e.g. email_to = ["it@example.com"]')
    if user and not password:
        raise ConfigError("[notify] smtp_user is set but NOTIFY_SMTP_PASSWORD is not: put it in .env or the "
                          "environment")  # fmt: skip
    if password and not user:
        raise ConfigError("NOTIFY_SMTP_PASSWORD is set but [notify] smtp_user is not: set smtp_user, or unset it")
    if user and security == "none":
        raise ConfigError('[notify] smtp_security = "none" would send NOTIFY_SMTP_PASSWORD unencrypted: use '
                          '"starttls" or "tls"')  # fmt: skip
    url = urlsplit(webhook)
    if webhook and (url.scheme not in ("http", "https") or not url.hostname):
        raise ConfigError("NOTIFY_WEBHOOK_URL is not an http(s) URL: copy the whole URL your chat tool gave you")
    ca_file = table.text("smtp_ca_file", "")
    if ca_file and not (here / ca_file).is_file():
        raise ConfigError(f"[notify] smtp_ca_file {ca_file!r} is not a file: give the path of your relay's CA "
                          "certificate (PEM), or remove it to trust the system's CAs")  # fmt: skip
    sender = table.text("email_from", "")
    if sender and not _is_address(sender):
        raise table.wrong("email_from", 'an address, e.g. "report-export@example.com"')
    if to and not sender:  # getfqdn may ask DNS: only when mail is configured
        sender = f"report-export@{socket.getfqdn()}"
    return NotifySettings(
        email_to=tuple(to),
        email_from=sender,
        smtp_host=host,
        smtp_port=table.whole("smtp_port", SMTP_PORTS[security], most=65535),
        smtp_security=security,
        smtp_user=user,
        smtp_password=password,
        smtp_ca_file=here / ca_file if ca_file else None,
        webhook_url=webhook,
        on_success=table.flag("on_success"),
        installation=table.text("installation", "") or socket.gethostname(),
        timeout=table.number("timeout_seconds", 10.0),
        # The API's backoff ([retry]), but a notice gives up sooner: it waits in the outbox for the next run.
        retry=RetryPolicy(
            max_attempts=retry.whole("max_attempts", 6),
            max_seconds=table.number("retry_seconds", 60.0),
            base_delay=retry.number("base_delay_seconds", 0.5),
            max_delay=retry.number("max_delay_seconds", 30.0),
        ),
    )
