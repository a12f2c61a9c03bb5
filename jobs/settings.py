"""What the settings are: frozen dataclasses, read from config.toml, .env and the environment by jobs.config."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jobs.chart_of_accounts import Charts
from jobs.errors import ConfigError
from jobs.merchants import Merchant


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
    config_file: Path | None = None  # the file these were read from; None: there was none (built-in defaults)
    state_given: bool = False  # --state chose state_path, not [state] path: a redo line names it too

    def today(self) -> dt.date:
        """Today where the installation keeps its books: a ledger date is a day in this zone."""
        return dt.datetime.now(self.timezone).date()

    def require_credentials(self) -> Credentials:
        if self.credentials is None:
            names = " and ".join(self.missing)
            raise ConfigError(f"{names} not set: put them in .env (see .env.example) or the environment")
        return self.credentials
