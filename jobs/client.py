"""A run's way to the Report API: one HTTP client, one token for the whole run, the retrier, and the pool of
connections kept alive between ledger dates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from jobs.api import ReportApi
from jobs.auth import TokenAuth
from jobs.retry import Retrier
from jobs.settings import Settings


@contextmanager
def connect(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[tuple[ReportApi, TokenAuth]]:
    """An API client with one token for the whole run; `transport` None: the network (tests give a fake)."""
    credentials = settings.require_credentials()
    headers = dict(settings.system_headers)
    auth = TokenAuth(credentials, settings.token_url, timeout=settings.timeout, headers=headers, clock=clock)
    pool = max(settings.concurrency, 4)  # a connection per request slot, kept alive between ledger dates
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    with httpx.Client(
        base_url=settings.base_url,
        auth=auth,
        headers=headers,
        timeout=settings.timeout,
        follow_redirects=False,
        limits=limits,
        transport=transport,
    ) as client:
        yield ReportApi(client, Retrier(settings.retry, clock=clock, sleep=sleep), settings.concurrency), auth
