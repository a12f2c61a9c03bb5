"""Retries for what is transient: 429, 5xx, dropped connections and timeouts.

Exponential backoff with jitter, at least what Retry-After asks, capped both in
attempts and in total time so a dead API fails the run instead of hanging it.
One Retrier serves every worker of a run: a 429 is about the client, not the
request, so it pauses them all until the wait is over, instead of letting the
other workers run into the same limit. Clock, sleep and randomness are injected
so tests run instantly.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from jobs.config import RetryPolicy
from jobs.errors import ApiError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header given in seconds; None if absent or a date."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


@dataclass
class Retrier:
    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    retries: int = 0  # over the whole run, for the summary
    advice: str = "check VIPPS_BASE_URL and the network, or try again later"  # the fix named when it gives up
    _paused_until: float = 0.0  # no worker sends a request before this (after a 429)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, fn: Callable[[], T], what: str) -> T:
        deadline = self.clock() + self.policy.max_seconds
        for attempt in range(1, self.policy.max_attempts + 1):
            self._wait_out_pause()
            try:
                return fn()
            except TransientError as exc:
                problem, wait_at_least, everyone = str(exc), exc.retry_after, exc.status == 429
            except httpx.TransportError as exc:  # refused, dropped, timed out
                problem, wait_at_least, everyone = describe_transport_error(exc), None, False
            delay = self.delay(attempt, wait_at_least)
            if attempt == self.policy.max_attempts or self.clock() + delay > deadline:
                break
            with self._lock:
                self.retries += 1
                if everyone:
                    self._paused_until = max(self._paused_until, self.clock() + delay)
            # INFO, not WARNING: a retry that succeeds needs no attention; the summary counts them.
            log.info("%s: %s; retry %d in %.1f s", what, problem, attempt, delay)
            self.sleep(delay)
        raise ApiError(f"{what}: {problem}, gave up after {attempt} attempts: {self.advice}")

    def _wait_out_pause(self) -> None:
        with self._lock:
            remaining = self._paused_until - self.clock()
        if remaining > 0:
            self.sleep(remaining)

    def delay(self, attempt: int, wait_at_least: float | None) -> float:
        backoff = min(self.policy.max_delay, self.policy.base_delay * 2.0 ** (attempt - 1))  # int ** int is Any
        jittered = backoff * self.rng.uniform(0.5, 1.0)  # spread retries of many clients apart
        return max(jittered, wait_at_least or 0.0)


def describe_transport_error(exc: httpx.TransportError) -> str:
    kind = {
        httpx.ConnectError: "cannot connect",
        httpx.TimeoutException: "timed out",
        httpx.RemoteProtocolError: "connection dropped",
    }
    for cls, text in kind.items():
        if isinstance(exc, cls):
            return text
    return type(exc).__name__
