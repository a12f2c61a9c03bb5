"""`report-export notify --test`: a test message through every configured channel."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from jobs import config
from jobs.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from jobs.cli.runtime import Runtime


def cmd_notify(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    """One line per channel with what it answered; exit 12 unless every one took the test message."""
    from jobs import notice, outbox
    from jobs.errors import EXIT_NOT_DELIVERED, ConfigError, NotDelivered, hide

    if not args.test:
        raise UsageError("notify needs --test: report-export notify --test sends a test message through every channel")
    notify = settings.notify
    if not notify.channels:
        raise ConfigError(
            'no notification channel is configured: set [notify] email_to = ["..."] and smtp_host in '
            "config.toml, or NOTIFY_WEBHOOK_URL in .env (see README, Notifications)"
        )
    message, code = notice.for_test(notify.installation), EXIT_OK
    for channel in notify.channels:
        try:
            answer = outbox.send(notify, channel, message, clock=runtime.clock, sleep=runtime.sleep)
            line = f"{outbox.describe(notify, channel)}: accepted: {answer}"
        except NotDelivered as exc:
            line, code = f"{outbox.describe(notify, channel)}: not delivered: {exc}", EXIT_NOT_DELIVERED
        print(f"report-export notify: {hide(line, outbox.secrets_of(settings))}")
    return code
