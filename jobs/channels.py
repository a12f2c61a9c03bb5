"""Where notices go: config.toml's [notify] with NOTIFY_SMTP_PASSWORD and NOTIFY_WEBHOOK_URL from .env or the
environment (jobs.config hands them over), read into NotifySettings and checked with the rest of the config.

The two channels are the mail (jobs.mail) and the webhook (jobs.webhook); the outbox (jobs.outbox) keeps what
they have not taken.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from jobs.config_file import Table
from jobs.errors import ConfigError
from jobs.settings import NotifySettings, RetryPolicy

EMAIL_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _is_address(value: object) -> bool:
    """A plain ASCII address: SMTP without the SMTPUTF8 extension carries no other."""
    return isinstance(value, str) and value.isascii() and EMAIL_ADDRESS.fullmatch(value) is not None


def parse(table: Table, retry: Table, env: Mapping[str, str], here: Path) -> NotifySettings:
    """[notify] with NOTIFY_SMTP_PASSWORD and NOTIFY_WEBHOOK_URL; a half-configured channel is refused here,
    so that a run never finds out at night that its notices cannot go anywhere."""
    to = table.get("email_to", [])
    if not isinstance(to, list) or not all(_is_address(a) for a in to):
        raise table.wrong("email_to", 'a list of addresses, e.g. ["it-alerts@example.com"]')
    host, user = table.text("smtp_host", ""), table.text("smtp_user", "")
    security = table.choice("smtp_security", tuple(SMTP_PORTS))
    password, webhook = env.get("NOTIFY_SMTP_PASSWORD", ""), env.get("NOTIFY_WEBHOOK_URL", "")
    if to and not host:
        raise ConfigError(
            "[notify] email_to is set but smtp_host is not: name your mail relay, e.g. smtp_host = "
            '"smtp.example.com", or remove email_to'
        )
    if host and not to:
        raise ConfigError('[notify] smtp_host is set but email_to is not: add e.g. email_to = ["it@example.com"]')
    if user and not password:
        raise ConfigError(
            "[notify] smtp_user is set but NOTIFY_SMTP_PASSWORD is not: put it in .env or the environment"
        )
    if password and not user:
        raise ConfigError("NOTIFY_SMTP_PASSWORD is set but [notify] smtp_user is not: set smtp_user, or unset it")
    if user and security == "none":
        raise ConfigError(
            '[notify] smtp_security = "none" would send NOTIFY_SMTP_PASSWORD unencrypted: use "starttls" or "tls"'
        )
    url = urlsplit(webhook)
    if webhook and (url.scheme not in ("http", "https") or not url.hostname):
        raise ConfigError("NOTIFY_WEBHOOK_URL is not an http(s) URL: copy the whole URL your chat tool gave you")
    ca_file = table.text("smtp_ca_file", "")
    if ca_file and not (here / ca_file).is_file():
        raise ConfigError(
            f"[notify] smtp_ca_file {ca_file!r} is not a file: give the path of your relay's CA "
            "certificate (PEM), or remove it to trust the system's CAs"
        )
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
