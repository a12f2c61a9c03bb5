"""Retries with an injected clock and sleep: no real waiting."""

import random

import httpx
import pytest

from jobs.config import RetryPolicy
from jobs.errors import ApiError, NotAvailable, TransientError
from jobs.retry import Retrier


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def failing(errors, result="ok"):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


def retrier(t, **policy):
    return Retrier(RetryPolicy(**policy), clock=t.clock, sleep=t.sleep, rng=random.Random(1))


def test_transient_failures_are_retried_with_growing_jittered_delays():
    t = FakeTime()
    fn, calls = failing([TransientError("HTTP 500"), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
    r = retrier(t, base_delay=1, max_delay=100)
    assert r.call(fn, "x") == "ok"
    assert len(calls) == 4
    assert r.retries == 3
    for attempt, slept in enumerate(t.slept, start=1):
        assert 0.5 * 2 ** (attempt - 1) <= slept <= 2 ** (attempt - 1)


def test_retry_after_is_a_lower_bound():
    t = FakeTime()
    fn, _ = failing([TransientError("HTTP 429", retry_after=7)])
    retrier(t, base_delay=0.1).call(fn, "x")
    assert t.slept == [7]


def test_gives_up_after_max_attempts_with_a_one_line_error():
    t = FakeTime()
    fn, calls = failing([httpx.ConnectError("refused")] * 10)
    with pytest.raises(ApiError, match="cannot connect, gave up after 3 attempts") as caught:
        retrier(t, max_attempts=3).call(fn, "listing ledgers")
    assert type(caught.value) is ApiError
    assert len(calls) == 3 and len(t.slept) == 2


def test_gives_up_when_the_next_pause_would_pass_the_time_cap():
    t = FakeTime()
    fn, calls = failing([TransientError("HTTP 503", retry_after=30)] * 10)
    with pytest.raises(ApiError, match="gave up after 3 attempts"):
        retrier(t, max_attempts=10, max_seconds=70).call(fn, "x")
    assert t.slept == [30, 30]


def test_what_is_not_transient_is_not_retried():
    t = FakeTime()
    fn, calls = failing([NotAvailable("404")])
    with pytest.raises(NotAvailable):
        retrier(t).call(fn, "x")
    assert len(calls) == 1 and t.slept == []
