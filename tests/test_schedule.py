"""The schedule: the built job's settings, the cron maths, and stopping on a signal."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor

from jobs.config import Schedule
from jobs.errors import ConfigError
from jobs.schedule import build_scheduler, run_scheduler

OSLO = ZoneInfo("Europe/Oslo")
UTC = dt.UTC
NEVER = "0 0 1 1 *"  # the next fire time is months away: only a signal ends these runs


def noop() -> None:
    pass


def fields(trigger) -> dict[str, str]:
    return {field.name: str(field) for field in trigger.fields}


def fire_times(trigger, now: dt.datetime, count: int) -> list[dt.datetime]:
    """Step the trigger as the scheduler does: from the previous fire time and a later real now."""
    times, previous = [], None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        times.append(previous)
        now = (previous.astimezone(UTC) + dt.timedelta(seconds=1)).astimezone(now.tzinfo)
    return times


def send_sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


class SigtermWhenLogged(logging.Handler):
    """Sends SIGTERM as a record of `jobs` containing `text` is logged: the stop comes at a known step, not after
    some time, so the test neither races nor hangs when the clock stands still (a threading.Timer never fires
    under libfaketime's frozen time)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            send_sigterm()


@pytest.fixture
def sigterm_when_logged():
    handlers = []

    def install(text: str) -> None:
        handlers.append(SigtermWhenLogged(text))
        logging.getLogger("jobs").addHandler(handlers[-1])

    yield install
    for handler in handlers:
        logging.getLogger("jobs").removeHandler(handler)


@pytest.fixture
def sigterm_handler():
    """A handler of the test's own in place of pytest's, to check run_scheduler restores it."""

    def handler(signum, frame):  # pragma: no cover - only called if run_scheduler leaks a signal
        raise AssertionError("SIGTERM reached the handler run_scheduler should have replaced")

    previous = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, previous)


def test_build_scheduler_job_settings():
    schedule = Schedule(cron="23 * * * *", timezone=OSLO, misfire_grace_seconds=1800)
    scheduler = build_scheduler(schedule, noop)

    assert not scheduler.running
    [job] = scheduler.get_jobs()
    assert (job.id, job.func, job.args, job.kwargs) == ("catch-up", noop, (), {})
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 1800)
    assert fields(job.trigger) == {
        "year": "*",
        "month": "*",
        "day": "*",
        "week": "*",
        "day_of_week": "*",
        "hour": "*",
        "minute": "23",
        "second": "0",
    }
    assert job.trigger.timezone == OSLO
    executor = scheduler._executors[job.executor]
    assert isinstance(executor, ThreadPoolExecutor)
    assert executor._pool._max_workers == 1


def test_first_run_now_fires_at_once():
    schedule = Schedule(cron=NEVER, timezone=OSLO)
    before = dt.datetime.now(OSLO)
    [job] = build_scheduler(schedule, noop, first_run_now=True).get_jobs()
    assert before <= job.next_run_time <= dt.datetime.now(OSLO)


def test_next_fire_time_is_minute_23_of_the_next_hour():
    trigger = build_scheduler(Schedule(), noop).get_jobs()[0].trigger
    now = dt.datetime(2026, 11, 20, 10, 40, tzinfo=OSLO)
    assert fire_times(trigger, now, 2) == [
        dt.datetime(2026, 11, 20, 11, 23, tzinfo=OSLO),
        dt.datetime(2026, 11, 20, 12, 23, tzinfo=OSLO),
    ]
    assert trigger.get_next_fire_time(None, now.replace(minute=10)) == now.replace(minute=23)


def test_hourly_runs_across_dst_changes_stay_an_hour_apart():
    trigger = build_scheduler(Schedule(), noop).get_jobs()[0].trigger
    # 29 March 2026: 02:00 CET becomes 03:00 CEST, so there is no 02:23 that day.
    spring = fire_times(trigger, dt.datetime(2026, 3, 29, 1, 30, tzinfo=OSLO), 2)
    assert [t.astimezone(UTC) for t in spring] == [
        dt.datetime(2026, 3, 29, 1, 23, tzinfo=UTC),  # 03:23 CEST
        dt.datetime(2026, 3, 29, 2, 23, tzinfo=UTC),
    ]
    # 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:23 happens twice, and runs twice.
    autumn = fire_times(trigger, dt.datetime(2026, 10, 25, 1, 30, tzinfo=OSLO), 3)
    assert [t.astimezone(UTC) for t in autumn] == [
        dt.datetime(2026, 10, 25, 0, 23, tzinfo=UTC),  # 02:23 CEST
        dt.datetime(2026, 10, 25, 1, 23, tzinfo=UTC),  # 02:23 CET
        dt.datetime(2026, 10, 25, 2, 23, tzinfo=UTC),
    ]


@pytest.mark.parametrize("cron", ["61 * * * *", "23 * * *", "", "every hour * * * *"])
def test_bad_cron_is_a_config_error(cron):
    with pytest.raises(ConfigError) as caught:
        build_scheduler(Schedule(cron=cron), noop)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"[schedule] cron {cron!r} ")
    assert '"23 * * * *"' in message


def test_numeric_day_of_week_is_refused():
    # APScheduler 3.x would read cron's 0 (Sunday) as Monday.
    with pytest.raises(ConfigError, match=r"^\[schedule\] cron '0 6 \* \* 0': .*names"):
        build_scheduler(Schedule(cron="0 6 * * 0"), noop)
    trigger = build_scheduler(Schedule(cron="17 6 * * sun"), noop).get_jobs()[0].trigger
    assert trigger.get_next_fire_time(None, dt.datetime(2026, 11, 20, tzinfo=OSLO)) == dt.datetime(
        2026, 11, 22, 6, 17, tzinfo=OSLO
    )


def test_sigterm_stops_cleanly_and_restores_the_handler(sigterm_handler, sigterm_when_logged, caplog):
    caplog.set_level(logging.INFO, logger="jobs")
    stop = threading.Event()
    calls = []
    sigterm_when_logged("schedule started")

    started = time.monotonic()
    code = run_scheduler(Schedule(cron=NEVER, timezone=OSLO), lambda: calls.append(1), stop)
    elapsed = time.monotonic() - started

    assert code == 0
    assert elapsed < 0.5
    assert stop.is_set()
    assert calls == []
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler
    new_year = dt.datetime.now(OSLO).year + 1
    messages = [r.getMessage() for r in caplog.records if r.name == "jobs"]
    assert messages == [
        f"schedule started (cron '0 0 1 1 *', Europe/Oslo): next run at {new_year}-01-01 00:00 CET",
        "SIGTERM received: stopping after the running export's current step",
        "schedule stopped",
    ]


def test_running_job_finishes_its_unit_before_run_scheduler_returns(sigterm_handler):
    stop = threading.Event()
    seen: list[str] = []

    def job() -> None:
        seen.append("started")
        for unit in range(20):
            if stop.is_set():
                seen.append("saw stop")
                break
            seen.append(f"unit {unit} begins")
            if unit == 0:
                send_sigterm()  # in the middle of a unit of work, which goes on until the stop is seen
                assert stop.wait(5)
            seen.append(f"unit {unit} ends")
        seen.append("returned")

    code = run_scheduler(Schedule(cron=NEVER, timezone=OSLO), job, stop, first_run_now=True)
    seen.append("run_scheduler returned")

    assert code == 0
    assert stop.is_set()
    assert seen[:3] == ["started", "unit 0 begins", "unit 0 ends"]
    assert seen[-3:] == ["saw stop", "returned", "run_scheduler returned"]
    assert seen[1:-3] == ["unit 0 begins", "unit 0 ends"]  # the unit finished, and no other begun
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler


def test_an_escaped_exception_is_logged_and_the_scheduler_keeps_running(sigterm_handler, sigterm_when_logged, caplog):
    caplog.set_level(logging.INFO, logger="jobs")
    stop = threading.Event()
    sigterm_when_logged("failed: RuntimeError")  # the stop comes after the failure: the scheduler must still be there

    def job() -> None:
        raise RuntimeError("ledger 123 broke\nsecond line")

    code = run_scheduler(Schedule(cron=NEVER, timezone=OSLO), job, stop, first_run_now=True)

    assert code == 0
    records = [r for r in caplog.records if r.name == "jobs"]
    [error] = [r for r in records if r.levelno == logging.ERROR]
    assert error.getMessage().endswith("failed: RuntimeError: ledger 123 broke")
    assert error.exc_info is None
    assert records.index(error) < [r.getMessage() for r in records].index("schedule stopped")
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler
