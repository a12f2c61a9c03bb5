"""Notices by webhook: the notice's JSON in one POST to NOTIFY_WEBHOOK_URL.

The URL may embed a token (Slack's and Teams' do), so it is never shown: messages name the host only,
httpx's own log line about the request is rewritten without it, and an error says what went wrong without
repeating the URL. 429, 5xx, dropped connections and timeouts are retried by the Retrier the API client
uses; any other answer is final.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from jobs import __version__
from jobs.config import NotifySettings
from jobs.errors import ApiError, NotDelivered, TransientError, hide
from jobs.retry import Retrier, retry_after

ANSWER_CHARS = 120  # of the receiver's answer, shown by notify --test and kept with a failure


class _HideUrls(logging.Filter):
    """httpx logs every request with its full URL at INFO: seen only if someone sets the root logger to INFO,
    but then with the token in it. Replace the URL on the way out."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls:
            message = record.getMessage()
            for url in self.urls:
                message = message.replace(url, "[NOTIFY_WEBHOOK_URL]")
            record.msg, record.args = message, ()
        return True


_hide_urls = _HideUrls()
logging.getLogger("httpx").addFilter(_hide_urls)


def describe(settings: NotifySettings) -> str:
    return f"webhook to {urlsplit(settings.webhook_url).hostname}"


def send(settings: NotifySettings, notice: dict[str, Any], retrier: Retrier) -> str:
    """POST the notice; return what the receiver answered, or raise NotDelivered saying why."""
    _hide_urls.urls.add(settings.webhook_url)
    what = describe(settings)
    headers = {"User-Agent": f"report-export/{__version__}"}

    def attempt(client: httpx.Client) -> str:
        response = client.post(settings.webhook_url, json=notice, headers=headers)
        answer = hide(f"HTTP {response.status_code}{said(response)}", settings.secrets)  # it may echo the URL
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(answer, retry_after=retry_after(response))  # the Retrier names `what`
        if not response.is_success:  # a redirect too: a webhook that moved must be set anew
            raise NotDelivered(
                f"{what}: {answer}: check NOTIFY_WEBHOOK_URL (a chat tool answers 404 or 410 for a "
                "webhook that was removed)"
            )
        return answer

    try:
        with httpx.Client(timeout=settings.timeout, follow_redirects=False) as client:
            return retrier.call(lambda: attempt(client), what)
    except ApiError as exc:  # the retrier gave up
        raise NotDelivered(str(exc)) from None


def said(response: httpx.Response) -> str:
    """The receiver's answer on one line, shortened: Slack says "ok", Teams "1", others a JSON status."""
    words = " ".join(response.text.split())
    if len(words) > ANSWER_CHARS:
        words = words[: ANSWER_CHARS - 3] + "..."
    return f" {words}" if words else ""
