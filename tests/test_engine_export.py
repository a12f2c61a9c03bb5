"""export.run driven directly: the Report API faked behind an httpx.MockTransport (engine_fakes), a fake clock,
a real SQLite state and real files under tmp_path. What the catch-up plans, and what a run records of each date."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from engine_fakes import (
    DAY,
    TODAY,
    FakeApi,
    closed,
    csv_references,
    entries,
    export_run,
    ledger,
    references,
    report_files,
    request,
    settings_in,
    still_open,
)

from jobs.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOTHING_TO_DO,
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PENDING,
    ApiError,
    ProtocolError,
)
from jobs.plan import Unit
from jobs.state import State
from jobs.state.dates import Exported

A, B = "302321", "302399"


def configured(tmp_path, *, start=TODAY - 3 * DAY, topics=("funds",)):
    toml = f"[export]\ntopics = {list(topics)}\nformats = ['csv']\n\n[state]\nstart_date = '{start}'\n"
    return settings_in(tmp_path, toml.replace("'", '"'))


def csv_of(out, ledger_id, topic, day):
    return out / ledger_id / topic / f"{ledger_id}_{topic}_{day}.csv"


def files_of(ledger_id, topic, *days):
    """What a closed date leaves under the output folder: its CSV and its manifest."""
    return sorted(
        f"{ledger_id}/{topic}/{ledger_id}_{topic}_{day}{suffix}"
        for day in days
        for suffix in (".csv", ".manifest.json")
    )


def pending_in(settings, ledger_id, topic):
    with State(settings.state_path) as state:
        return [(p.date, p.status, p.tries, p.last_try) for p in state.dates.pending(ledger_id, topic)]


def statuses_in(settings, ledger_id, topic):
    with State(settings.state_path) as state:
        return state.dates.statuses(ledger_id, topic)


def test_the_catch_up_plans_every_date_from_the_start_through_yesterday_and_the_pending_ones_in_order(
    tmp_path, fake_time
):
    settings = configured(tmp_path, topics=("funds", "fees"))
    first = TODAY - 3 * DAY
    with State(settings.state_path) as state:  # what earlier runs left
        state.ledgers.see([A, B], first)
        run_id = state.runs.start("run", "cli")
        state.dates.record_exported((A, "funds", first + DAY), 1, {"capture": 100}, {}, run_id)
        state.dates.record_pending((B, "fees", TODAY - 10 * DAY), "open", "tryLater", run_id, TODAY - DAY)
    fake = FakeApi([ledger(A), ledger(B)])
    expected = [
        (A, "funds", first),
        (A, "fees", first),
        (A, "fees", first + DAY),  # its funds are exported already
        (A, "funds", first + 2 * DAY),
        (A, "fees", first + 2 * DAY),
        (B, "fees", TODAY - 10 * DAY),  # pending from before the start: retried
        (B, "funds", first),
        (B, "fees", first),
        (B, "funds", first + DAY),
        (B, "fees", first + DAY),
        (B, "funds", first + 2 * DAY),
        (B, "fees", first + 2 * DAY),
    ]
    for lid, topic, day in expected:
        fake.serve(lid, topic, day, closed(entries(day, [100, 250], tag=f"{lid}{topic}")))

    result = export_run(fake, settings, request(settings), fake_time)

    assert [unit.key for unit, _ in result.written] == expected  # ledger by ledger, date by date, topic by topic
    assert sorted(fake.date_requests()) == sorted(expected)  # the exported date is not asked for again
    assert (result.planned, result.open, result.unavailable, result.overdue) == (12, [], [], [])
    assert result.exit_code == EXIT_OK
    assert report_files(settings.out) == sorted(files for key in expected for files in files_of(*key))
    assert pending_in(settings, B, "fees") == []
    assert statuses_in(settings, B, "fees")[TODAY - 10 * DAY] == "exported"


def test_open_and_unavailable_dates_are_recorded_pending_and_never_get_a_file(tmp_path, fake_time):
    settings = configured(tmp_path)
    first = TODAY - 3 * DAY
    fake = FakeApi([ledger(A)])
    fake.serve(A, "funds", first, closed(entries(first, [100, 200, 300])))
    # Open on its last page, after a page of rows had gone into the file: nothing of it may stay.
    served = entries(first + DAY, [100, 200])
    fake.serve(
        A,
        "funds",
        first + DAY,
        {
            None: {"items": served[:1], "hasMore": True, "cursor": "page-2", "tryLater": False},
            "page-2": {"items": served[1:], "hasMore": False, "tryLater": True},
        },
    )
    # first + 2 days is not served at all: 404

    result = export_run(fake, settings, request(settings), fake_time)

    assert result.open == [Unit(A, "funds", first + DAY)]
    assert [(unit, "404" in why) for unit, why in result.unavailable] == [(Unit(A, "funds", first + 2 * DAY), True)]
    assert result.exit_code == EXIT_PENDING
    assert [(left.date, left.status) for left in result.left()] == [
        (first + DAY, "open"),
        (first + 2 * DAY, "unavailable"),
    ]
    assert report_files(settings.out) == files_of(A, "funds", first)  # not even a temporary file of the others
    assert pending_in(settings, A, "funds") == [
        (first + DAY, "open", 1, TODAY),
        (first + 2 * DAY, "unavailable", 1, TODAY),
    ]

    # The next night both have closed: the catch-up asks for them again and writes them.
    fake.serve(A, "funds", first + DAY, closed(served))
    fake.serve(A, "funds", first + 2 * DAY, closed(entries(first + 2 * DAY, [5])))
    fake.serve(A, "funds", TODAY, closed([]))
    result = export_run(fake, settings, request(settings), fake_time, today=TODAY + DAY)

    assert [unit.key for unit, _ in result.written] == [
        (A, "funds", first + DAY),
        (A, "funds", first + 2 * DAY),
        (A, "funds", TODAY),
    ]
    assert pending_in(settings, A, "funds") == []
    assert csv_references(csv_of(settings.out, A, "funds", first + DAY)) == references(served)


def test_a_date_pending_past_warn_after_days_is_named_overdue_and_asked_for_once_a_day_never_dropped(
    tmp_path, fake_time
):
    settings = configured(tmp_path, start=TODAY - DAY)
    old = TODAY - 40 * DAY  # [state] warn_after_days is 35
    with State(settings.state_path) as state:
        state.ledgers.see([A], TODAY - DAY)
        run_id = state.runs.start("run", "cli")
        state.dates.record_pending((A, "funds", old), "open", "tryLater", run_id, TODAY - 2 * DAY)
        state.dates.record_exported((A, "funds", TODAY - DAY), 0, {}, {}, run_id)
    fake = FakeApi([ledger(A)])
    fake.serve(A, "funds", old, still_open())

    first = export_run(fake, settings, request(settings), fake_time)
    second = export_run(fake, settings, request(settings), fake_time)  # the same day: not asked again

    assert fake.date_requests() == [(A, "funds", old)]
    for result in (first, second):
        assert [(unit, waiting.status) for unit, waiting in result.overdue] == [(Unit(A, "funds", old), "open")]
        assert result.exit_code == EXIT_OVERDUE
    assert (first.planned, first.open, second.planned, second.open) == (1, [Unit(A, "funds", old)], 0, [])
    assert pending_in(settings, A, "funds") == [(old, "open", 2, TODAY)]

    # The next day it is asked for again, has closed, and is no longer named.
    fake.serve(A, "funds", old, closed(entries(old, [42])))
    fake.serve(A, "funds", TODAY, closed([]))
    third = export_run(fake, settings, request(settings), fake_time, today=TODAY + DAY)

    assert fake.date_requests() == [(A, "funds", old), (A, "funds", old), (A, "funds", TODAY)]
    assert (third.overdue, third.exit_code) == ([], EXIT_OK)
    assert pending_in(settings, A, "funds") == []


def test_an_exported_date_found_open_again_stays_exported_with_its_files(tmp_path, fake_time):
    settings = configured(tmp_path, start=TODAY - DAY)
    day = TODAY - DAY
    fake = FakeApi([ledger(A)])
    served = entries(day, [100, 200, 300])
    fake.serve(A, "funds", day, closed(served))
    export_run(fake, settings, request(settings), fake_time)
    written = csv_of(settings.out, A, "funds", day).read_bytes()

    fake.serve(A, "funds", day, still_open())  # the API is behind, or a clock went back
    again = export_run(fake, settings, request(settings, first=day, last=day), fake_time)

    assert again.open == [Unit(A, "funds", day)]
    assert statuses_in(settings, A, "funds") == {day: "exported"}
    assert pending_in(settings, A, "funds") == []
    with State(settings.state_path) as state:
        assert state.dates.exported(A, "funds")[day] == Exported(3, {"capture": 600}, 0)
    assert csv_of(settings.out, A, "funds", day).read_bytes() == written
    assert report_files(settings.out) == files_of(A, "funds", day)

    nightly = export_run(fake, settings, request(settings), fake_time)  # and the catch-up does not ask for it
    assert (nightly.planned, nightly.exit_code) == (0, EXIT_NOTHING_TO_DO)
    assert fake.date_requests() == [(A, "funds", day), (A, "funds", day)]


@pytest.mark.parametrize("concurrency", [2, 8])
def test_results_are_recorded_in_plan_order_whatever_order_the_dates_finish_in(tmp_path, fake_time, concurrency):
    settings = configured(tmp_path, start=TODAY - 5 * DAY)
    days = [TODAY - n * DAY for n in range(5, 0, -1)]
    fake = FakeApi([ledger(A)])
    for day in days:
        fake.serve(A, "funds", day, closed(entries(day, [100, 200])))
    last_asked, first_waited = threading.Event(), []

    def first_date_last(request: httpx.Request) -> None:
        if request.url.path.endswith(str(days[-1])):
            last_asked.set()
        elif request.url.path.endswith(str(days[0])):
            first_waited.append(last_asked.wait(5))  # its answer comes after every other date's

    fake.before = first_date_last
    result = export_run(fake, settings, request(settings, concurrency=concurrency), fake_time)

    assert first_waited == [True]  # the dates did finish out of order
    assert [unit.date for unit, _ in result.written] == days
    assert statuses_in(settings, A, "funds") == dict.fromkeys(days, "exported")


def test_a_stop_ends_the_run_between_dates_and_leaves_no_half_written_file(tmp_path, fake_time):
    settings = configured(tmp_path, start=TODAY - 10 * DAY)
    days = [TODAY - n * DAY for n in range(10, 0, -1)]
    fake = FakeApi([ledger(A)])
    for day in days:
        fake.serve(A, "funds", day, closed(entries(day, [100, 200, 300, 400, 500]), per_page=2))
    stop = threading.Event()

    def stop_as_the_second_date_begins(request: httpx.Request) -> None:
        if request.url.path.endswith(f"/dates/{days[1]}") and not request.url.params.get("cursor"):
            # Meanwhile the run queues 4 dates (concurrency 1: 2 workers, 2 dates each) and its one request slot is
            # held here, so the first date is still in flight; then a stop, as a SIGTERM would. The queued dates
            # are not begun yet: a worker that takes one after the stop must leave it.
            time.sleep(0.2)
            stop.set()

    fake.before = stop_as_the_second_date_begins
    asked = request(settings, concurrency=1)
    result = export_run(fake, settings, asked, fake_time, stop=stop)

    # The dates begun before the stop are finished, whole: the first two, and the third if the first's worker took
    # it before the stop came (a very slow machine); a date queued but not begun is left.
    written = [unit.date for unit, _ in result.written]
    assert written == days[: len(written)] and 2 <= len(written) <= 3, written
    assert {day for _, _, day in fake.date_requests()} <= set(days[:3])
    assert (result.stopped, result.exit_code, result.outcome) == (True, EXIT_INTERRUPTED, "stopped")
    assert report_files(settings.out) == files_of(A, "funds", *written)  # no temporary file of any other
    for day in written:
        assert len(csv_references(csv_of(settings.out, A, "funds", day))) == 5
    assert statuses_in(settings, A, "funds") == dict.fromkeys(written, "exported")

    # The next run goes on from there.
    fake.before = None
    rest = export_run(fake, settings, request(settings), fake_time)
    assert [unit.date for unit, _ in rest.written] == days[len(written) :]
    assert report_files(settings.out) == files_of(A, "funds", *days)


def test_a_page_export_writes_its_files_and_records_nothing_the_catch_up_reads(tmp_path, fake_time):
    settings = configured(tmp_path)
    first = TODAY - 3 * DAY
    fake = FakeApi([ledger(A)])
    fake.serve(A, "funds", first, closed(entries(first, [100])))
    fake.serve(A, "funds", first + DAY, still_open())  # first + 2 days: 404
    asked = request(settings, first=first, last=first + 2 * DAY, trigger="web", user="kari")
    assert not asked.records_dates

    result = export_run(fake, settings, asked, fake_time)

    assert [unit.date for unit, _ in result.written] == [first]
    assert result.open == [Unit(A, "funds", first + DAY)]
    assert [unit for unit, _ in result.unavailable] == [Unit(A, "funds", first + 2 * DAY)]
    assert report_files(settings.out) == files_of(A, "funds", first)
    with State(settings.state_path) as state:
        assert state.dates.statuses(A, "funds") == {}
        assert state.dates.pending(A, "funds") == []
        assert state.dates.waiting() == {}
        assert state.ledgers.first_seen() == {}  # nor which ledgers it has seen, nor where their catch-up starts


def test_a_repeated_cursor_stops_the_run_with_a_protocol_error_and_nothing_of_that_date(tmp_path, fake_time):
    settings = configured(tmp_path)
    first = TODAY - 3 * DAY
    fake = FakeApi([ledger(A)])
    fake.serve(A, "funds", first, closed(entries(first, [100])))
    looping = entries(first + DAY, [100, 200])
    fake.serve(
        A,
        "funds",
        first + DAY,
        {
            None: {"items": looping[:1], "hasMore": True, "cursor": "c1", "tryLater": False},
            "c1": {"items": looping[1:], "hasMore": True, "cursor": "c1", "tryLater": False},
        },
    )
    fake.serve(A, "funds", first + 2 * DAY, closed([]))

    with pytest.raises(ProtocolError, match="repeated a cursor"):
        export_run(fake, settings, request(settings, concurrency=1), fake_time)

    asked = [line for line in fake.requests if f"/dates/{first + DAY}" in line]
    assert asked == [f"GET /report/v2/ledgers/{A}/funds/dates/{first + DAY}"] + [
        f"GET /report/v2/ledgers/{A}/funds/dates/{first + DAY}?cursor=c1"
    ]
    assert not csv_of(settings.out, A, "funds", first + DAY).exists()
    assert not list(settings.out.rglob(f"*{first + DAY}*"))
    assert statuses_in(settings, A, "funds") == {first: "exported"}  # recorded before it, in plan order


@pytest.mark.parametrize("strict", [True, False])
def test_a_date_that_does_not_reconcile_gets_no_file_under_strict_and_fails_the_run(tmp_path, fake_time, strict):
    settings = configured(tmp_path)
    first = TODAY - 3 * DAY
    fake = FakeApi([ledger(A)])
    broken = entries(first + DAY, [100, 200])
    broken[1]["balanceBefore"] += 1  # the chain breaks: balanceBefore is not the previous balanceAfter
    broken[1]["balanceAfter"] += 1
    for day in (first, first + 2 * DAY):
        fake.serve(A, "funds", day, closed(entries(day, [100])))
    fake.serve(A, "funds", first + DAY, closed(broken))

    result = export_run(fake, settings, request(settings, strict=strict), fake_time)

    if strict:
        assert result.unreconciled == [Unit(A, "funds", first + DAY)]
        assert "does not reconcile (chain: entry 2" in result.reasons[Unit(A, "funds", first + DAY)]
        assert (result.exit_code, result.outcome) == (ApiError.exit_code, "failed")
        assert report_files(settings.out) == files_of(A, "funds", first, first + 2 * DAY)
        assert statuses_in(settings, A, "funds") == {first: "exported", first + 2 * DAY: "exported"}
    else:
        assert (result.unreconciled, result.exit_code) == ([], EXIT_OK)
        assert report_files(settings.out) == files_of(A, "funds", first, first + DAY, first + 2 * DAY)
        with State(settings.state_path) as state:
            assert state.dates.exported(A, "funds")[first + DAY] == Exported(2, {"capture": 300}, 2)  # chain, sums
