"""runner.execute driven directly: the Report API faked behind an httpx.MockTransport given in its Context, with
the fake clock and sleep; the lock, the state and the files are real, under tmp_path. What a run records of
itself, the exit code it returns, and what it holds and does before its work."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import httpx
import pytest
from engine_fakes import (
    DAY,
    TODAY,
    FakeApi,
    closed,
    entries,
    ledger,
    request,
    settings_in,
    still_open,
)

from jobs import outbox
from jobs.errors import (
    EXIT_NOTHING_TO_DO,
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PENDING,
    ApiError,
    AuthError,
    LockHeld,
)
from jobs.lock import lock_for, run_lock
from jobs.runner import Context, execute
from jobs.settings import NotifySettings
from jobs.state import State
from jobs.state.runs import Left

A = "302321"
START = TODAY - 3 * DAY


@pytest.fixture
def settings(tmp_path):
    return settings_in(
        tmp_path, f'[export]\ntopics = ["funds"]\nformats = ["csv"]\n\n[state]\nstart_date = "{START}"\n'
    )


def context(fake, fake_time, **more):
    return Context(fake_time.clock, fake_time.sleep, today=TODAY, transport=fake.transport, **more)


def run_row(settings, run_id):
    with State(settings.state_path) as state:
        return state.runs.get(run_id)


def test_a_run_records_its_row_from_start_to_end(settings, fake_time):
    fake = FakeApi([ledger(A)])
    fake.serve(A, "funds", START, closed(entries(START, [100, 200, 300])))
    fake.serve(A, "funds", START + DAY, closed([]))
    fake.serve(A, "funds", START + 2 * DAY, still_open())
    asked = request(settings)

    finished = execute(asked, settings, context(fake, fake_time))

    csvs = [settings.out / A / "funds" / f"{A}_funds_{day}.csv" for day in (START, START + DAY)]
    assert dataclasses.astuple(finished) == (
        1,
        EXIT_OK,  # pending is normal every hour: 0 unless detailed exit codes are asked for
        "pending",
        "report-export run: 1 ledger, catch-up: 2 ledger dates written (3 rows, 2 files under "
        f"{settings.out}), 1 open, 0 unavailable, 1 token, 0 retries, 0.0 s: pending",
        [f"  open: ledger {A} funds {START + 2 * DAY} (tryLater: not closed yet, a later run retries it)"],
        csvs,
    )
    row = run_row(settings, finished.run_id)
    assert row.started_at <= row.ended_at
    assert dataclasses.replace(row, started_at="", ended_at="") == dataclasses.replace(
        row,
        command="run",
        trigger="cli",
        started_at="",
        ended_at="",
        outcome="pending",
        exit_code=EXIT_OK,
        counts={
            "ledgers": 1,
            "dates": 3,
            "written": 2,
            "rows": 3,
            "files": 2,
            "open": 1,
            "unavailable": 0,
            "overdue": 0,
            "withdrawn": 0,
            "unreconciled": 0,
            "waiting": 0,
            "unsettled": 0,
            "unfit": 0,
            "tokens": 1,
            "retries": 0,
        },
        error=None,
        user="",
        request=asked.record(),
        files=tuple(csvs),
        left=(Left(A, "funds", START + 2 * DAY, "open", "tryLater"),),
    )


def serve_all_closed(fake):
    for day in (START, START + DAY, START + 2 * DAY):
        fake.serve(A, "funds", day, closed(entries(day, [100])))


def serve_one_open(fake):
    serve_all_closed(fake)
    fake.serve(A, "funds", START + 2 * DAY, still_open())


def serve_one_overdue(fake, settings):
    serve_all_closed(fake)
    old = TODAY - 40 * DAY  # pending past [state] warn_after_days (35), and still open
    with State(settings.state_path) as state:
        state.dates.record_pending((A, "funds", old), "open", "tryLater", state.runs.start("run", "cli"), TODAY - DAY)
    fake.serve(A, "funds", old, still_open())


@pytest.mark.parametrize(
    ("scenario", "detailed", "code", "outcome"),
    [
        ("ok", False, EXIT_OK, "ok"),
        ("ok", True, EXIT_OK, "ok"),
        ("pending", False, EXIT_OK, "pending"),
        ("pending", True, EXIT_PENDING, "pending"),
        ("nothing to do", False, EXIT_OK, "nothing to do"),
        ("nothing to do", True, EXIT_NOTHING_TO_DO, "nothing to do"),
        ("overdue", False, EXIT_OVERDUE, "overdue"),  # not a normal outcome: never turned into 0
        ("overdue", True, EXIT_OVERDUE, "overdue"),
    ],
)
def test_pending_and_nothing_to_do_exit_0_unless_detailed_exit_codes_are_asked_for(
    settings, fake_time, scenario, detailed, code, outcome
):
    fake = FakeApi([ledger(A)])
    if scenario == "pending":
        serve_one_open(fake)
    elif scenario == "overdue":
        serve_one_overdue(fake, settings)
    else:
        serve_all_closed(fake)
    if scenario == "nothing to do":
        execute(request(settings), settings, context(fake, fake_time))  # exports every date through yesterday

    finished = execute(request(settings, detailed_exit_codes=detailed), settings, context(fake, fake_time))

    assert (finished.code, finished.outcome) == (code, outcome)
    row = run_row(settings, finished.run_id)
    assert (row.exit_code, row.outcome) == (code, outcome)


def always(status):
    return lambda request: httpx.Response(status, json={"title": "no"}) if "/dates/" in request.url.path else None


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (always(403), AuthError, "the keys may not read this (403)"),
        (always(503), ApiError, "HTTP 503: no, gave up after 6 attempts"),  # retried 5 times on the fake clock
    ],
)
def test_a_failure_in_the_work_ends_the_row_as_failed_with_its_code_and_is_raised(
    settings, fake_time, answer, error, message
):
    fake = FakeApi([ledger(A)])
    fake.before = answer

    with pytest.raises(error, match=re.escape(message)) as raised:
        execute(request(settings, first=START, last=START), settings, context(fake, fake_time))

    row = run_row(settings, 1)
    assert row.started_at <= row.ended_at
    assert (row.outcome, row.exit_code, row.error, row.counts) == ("failed", error.exit_code, str(raised.value), {})
    assert len(fake_time.slept) == (5 if error is ApiError else 0)


def test_an_interrupt_ends_the_row_as_interrupted_with_130_and_is_raised(settings, fake_time):
    fake = FakeApi([ledger(A)])

    def ctrl_c(request):
        if request.url.path == "/settlement/v1/ledgers":
            raise KeyboardInterrupt

    fake.before = ctrl_c

    with pytest.raises(KeyboardInterrupt):
        execute(request(settings), settings, context(fake, fake_time))

    row = run_row(settings, 1)
    assert (row.outcome, row.exit_code, row.error, row.ended_at is not None) == (
        "interrupted",
        130,
        "KeyboardInterrupt",
        True,
    )


def test_the_lock_is_held_while_the_work_runs_and_released_after(settings, fake_time):
    fake = FakeApi([ledger(A)])
    serve_all_closed(fake)
    seen = []

    def try_the_lock(request):
        if "/dates/" in request.url.path:
            try:
                with run_lock(lock_for(settings.state_path), wait=False):
                    seen.append("free")
            except LockHeld as exc:
                seen.append(str(exc))

    fake.before = try_the_lock

    execute(request(settings, concurrency=1), settings, context(fake, fake_time))

    assert len(seen) == 3
    assert all(said.startswith(f"report-export pid {os.getpid()} since ") for said in seen), seen
    with run_lock(lock_for(settings.state_path), wait=False):  # released once the run is over
        pass


class Webhook:
    """The webhook channel (jobs.outbox.channel_module), faked: what it was given to send, and how many requests
    the fake API had had by then."""

    def __init__(self, api: FakeApi) -> None:
        self.api, self.sent = api, []

    def send(self, settings, notice, retrier) -> str:
        self.sent.append((notice, len(self.api.requests)))
        return "HTTP 200 ok"

    def describe(self, settings) -> str:
        return "webhook to hooks.example.test"


def test_what_earlier_runs_could_not_deliver_is_delivered_before_the_work(settings, fake_time, monkeypatch):
    settings = dataclasses.replace(settings, notify=NotifySettings(webhook_url="https://hooks.example.test/T0/x"))
    fake = FakeApi([ledger(A)])
    serve_all_closed(fake)
    webhook = Webhook(fake)
    monkeypatch.setattr(outbox, "channel_module", lambda channel: webhook)
    earlier = {"event": "failed", "title": "report-export run failed", "runId": 7}
    with State(settings.state_path) as state:
        state.notices.queue("webhook", 7, json.dumps(earlier))

    execute(request(settings), settings, context(fake, fake_time))

    # Sent before the run asked the API for anything, its token included.
    assert webhook.sent[0] == (earlier, 0)
    assert len(fake.requests) > 0
    with State(settings.state_path) as state:
        assert state.notices.outbox() == []
