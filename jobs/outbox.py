"""The outbox: notices wait in the state until their channel has taken them.

Every notice is queued first, one row per channel, and then delivered; one a channel does not take stays
with the reason, which `status` shows, and the next run tries it again before its own work. A channel
that fails is not tried again within the same run, so a mail server that is down costs a run one
notice's retries, not one per waiting notice. Nothing here raises into a run: problems are logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from jobs.config import NotifySettings, Settings
from jobs.errors import NotDelivered, hide
from jobs.retry import Retrier
from jobs.state import State
from jobs.state.notices import Queued

log = logging.getLogger(__name__)
ADVICE = {
    "email": "check [notify] smtp_host, smtp_port and the network",
    "webhook": "check NOTIFY_WEBHOOK_URL and the network",
}


class Stopping(Exception):
    """The run was asked to stop (SIGTERM): no more waiting between tries."""


class Channel(Protocol):
    """What jobs.mail and jobs.webhook each are."""

    def send(self, settings: NotifySettings, notice: dict[str, Any], retrier: Retrier) -> str: ...

    def describe(self, settings: NotifySettings) -> str: ...


def channel_module(channel: str) -> Channel:
    from jobs import mail, webhook  # only a run that has something to send loads smtplib, ssl and email

    channels: dict[str, Channel] = {"email": mail, "webhook": webhook}
    return channels[channel]


def send(
    settings: NotifySettings,
    channel: str,
    notice: dict[str, Any],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Send one notice through one channel; return its answer or raise NotDelivered."""
    retrier = Retrier(settings.retry, clock=clock, sleep=sleep, advice=ADVICE[channel])
    return channel_module(channel).send(settings, notice, retrier)


def describe(settings: NotifySettings, channel: str) -> str:
    return channel_module(channel).describe(settings)


def secrets_of(settings: Settings) -> tuple[str, ...]:
    keys = settings.credentials
    found = (*settings.notify.secrets, keys.client_secret, keys.subscription_key) if keys else settings.notify.secrets
    return tuple(s for s in found if s)


class Outbox:
    def __init__(
        self,
        settings: Settings,
        state: State,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        self.notify, self.state = settings.notify, state
        self.secrets = secrets_of(settings)
        self.clock, self._sleep, self.stop = clock, sleep, stop or threading.Event()
        self.down: set[str] = set()  # channels that failed in this run

    def queue(self, notice: dict[str, Any], run_id: int | None) -> None:
        text = json.dumps(hide(notice, self.secrets), ensure_ascii=False)
        for channel in self.notify.channels:
            self.state.notices.queue(channel, run_id, text)

    def deliver(self) -> None:
        """Send what waits, oldest first; never raises."""
        try:
            for row in self.state.notices.outbox():
                self.deliver_one(row)
        except Exception as exc:  # a bug or a broken state: the run goes on, the next one tries again
            log.warning("notifications: %s: %s; the export is not affected", type(exc).__name__, self.hidden(exc))

    def deliver_one(self, row: Queued) -> None:
        channel, title = row.channel, row.notice.get("title", "")
        if channel not in self.notify.channels:
            log.warning("notification #%d dropped: %s is no longer configured in [notify]", row.id, channel)
            self.state.notices.sent(row.id)
            return
        if channel in self.down:
            return
        try:
            answer = send(self.notify, channel, row.notice, clock=self.clock, sleep=self.sleep)
        except Exception as exc:
            reason = (
                self.hidden(exc)
                if isinstance(exc, (NotDelivered, Stopping))
                else (f"internal error: {type(exc).__name__}: {self.hidden(exc)}")
            )
            self.down.add(channel)
            self.state.notices.failed(row.id, reason)
            log.warning(
                "notification #%d not delivered by %s: %s; kept for the next run (see report-export status)",
                row.id,
                channel,
                reason,
            )
            return
        self.state.notices.sent(row.id)
        log.info("notification #%d sent by %s: %s (%s)", row.id, channel, title, self.hidden(answer))

    def sleep(self, seconds: float) -> None:
        if self.stop.is_set():  # shutting down: leave it to the next run rather than hold the stop up
            raise Stopping("not tried again: the run was asked to stop; the next run tries again")
        self._sleep(seconds)

    def hidden(self, value: object) -> str:
        text: str = hide(str(value), self.secrets)
        return text


def overview(settings: Settings, state: State) -> dict[str, Any]:
    """For `status`: the channels and what waits in the outbox, with why."""
    return {
        "channels": [describe(settings.notify, channel) for channel in settings.notify.channels],
        "undelivered": [
            {
                "id": row.id,
                "channel": row.channel,
                "event": row.notice.get("event"),
                "title": row.notice.get("title"),
                "createdAt": row.created_at,
                "tries": row.tries,
                "triedAt": row.tried_at,
                "error": row.error,
            }
            for row in state.notices.outbox()
        ],
    }


def status_lines(view: dict[str, Any]) -> list[str]:
    channels = "; ".join(view["channels"]) or "none configured (see [notify] in config.toml)"
    waiting = view["undelivered"]
    lines = [
        f"notifications: {channels}" + (f"; {len(waiting)} undelivered, the next run tries again:" if waiting else "")
    ]
    for row in waiting:
        why = f"tried {row['tries']} times, last {row['triedAt']}: {row['error']}" if row["tries"] else "not tried yet"
        lines.append(f"  #{row['id']} {row['channel']} {row['createdAt']} {row['title']!r}: {why}")
    return lines
