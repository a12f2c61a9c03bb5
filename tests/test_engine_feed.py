"""feed.follow driven directly: the feed faked behind an httpx.MockTransport (engine_fakes), a real SQLite state
and real batch files under tmp_path. Where batches are numbered from, when the cursor moves, where the feed ends,
and what a run killed between a batch's files and its cursor leaves for the next."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest
from engine_fakes import (
    TODAY,
    FakeApi,
    csv_references,
    engine,
    entries,
    ledger,
    manifest,
    references,
    report_files,
    request,
    settings_in,
)

from jobs import feed
from jobs.errors import EXIT_NOTHING_TO_DO, EXIT_OK, OutputError
from jobs.runner import output_for
from jobs.state.feeds import START, FeedPosition

A = "302321"
FOLDER = f"{A}/funds/feed"


@pytest.fixture
def settings(tmp_path):
    return settings_in(tmp_path, '[export]\ntopics = ["funds"]\nformats = ["csv"]\n')


def page(items, cursor, *, end=False):
    """A feed page as served: no hasMore; tryLater says it is the feed's end for now."""
    return {"items": items, "cursor": cursor, "tryLater": end}


def batch(number, suffix=".csv"):
    return f"{FOLDER}/{A}_funds_feed_{number:06d}{suffix}"


def batches(*numbers):
    return sorted(batch(n, suffix) for n in numbers for suffix in (".csv", ".manifest.json"))


def follow(fake, settings, fake_time, *, batch_limit=100, state_hook=None):
    """feed.follow of ledger A's funds, as one feed run recorded in the state."""
    with engine(fake, settings, fake_time.clock, fake_time.sleep) as (state, api):
        if state_hook is not None:
            state_hook(state)
        run_id = state.runs.start("feed", "cli")
        result = feed.follow(
            api,
            state,
            {A: ZoneInfo("Europe/Oslo")},
            ("funds",),
            output_for(settings, request(settings, command="feed")),
            start="beginning",
            run_id=run_id,
            stop=threading.Event(),
            batch_limit=batch_limit,
        )
        return result, state.feeds.position(A, "funds")


def position(settings, fake, fake_time):
    with engine(fake, settings, fake_time.clock, fake_time.sleep) as (state, _):
        return state.feeds.position(A, "funds")


def feed_requests(fake):
    return [line.split(" ")[1] for line in fake.requests if "/feed" in line]


def test_batches_are_numbered_on_from_the_stored_position_and_each_manifest_holds_the_cursor_after_it(
    settings, fake_time
):
    day = TODAY
    served = entries(day, [100, 200, 300, 400, 500])
    fake = FakeApi([ledger(A)])
    fake.feeds[(A, "funds")] = {
        "c10": page(served[:3], "c11"),
        "c11": page(served[3:], "c12"),
        "c12": page([], "c12", end=True),
    }

    def two_batches_earlier(state):
        state.feeds.record(A, "funds", "c10", 3, 40)

    result, now = follow(fake, settings, fake_time, batch_limit=3, state_hook=two_batches_earlier)

    assert feed_requests(fake) == [
        f"/report/v2/ledgers/{A}/funds/feed?cursor={cursor}" for cursor in ("c10", "c11", "c12")
    ]
    assert report_files(settings.out) == batches(3, 4)
    assert csv_references(settings.out / batch(3)) == references(served[:3])  # a batch ends at the page that fills it
    assert csv_references(settings.out / batch(4)) == references(served[3:])
    assert [manifest(settings.out / batch(n, ".manifest.json"))["cursor"] for n in (3, 4)] == ["c11", "c12"]
    assert (result.entries, result.files, result.exit_code) == (
        5,
        [settings.out / batch(3), settings.out / batch(4)],
        EXIT_OK,
    )
    assert (now.cursor, now.next_batch, now.entries) == ("c12", 5, 45)


def test_try_later_is_the_feeds_end_and_the_next_run_asks_from_there(settings, fake_time):
    served = entries(TODAY, [100, 200, 300])
    fake = FakeApi([ledger(A)])
    fake.feeds[(A, "funds")] = {None: page(served[:2], "c1"), "c1": page(served[2:], "c2", end=True)}

    first, at = follow(fake, settings, fake_time)

    assert feed_requests(fake) == [f"/report/v2/ledgers/{A}/funds/feed", f"/report/v2/ledgers/{A}/funds/feed?cursor=c1"]
    assert (first.entries, at.cursor, at.next_batch) == (3, "c2", 2)

    # Nothing new: the end again, with the same cursor. One request, no file, the position as it was.
    fake.feeds[(A, "funds")]["c2"] = page([], "c2", end=True)
    nothing, still = follow(fake, settings, fake_time)

    assert feed_requests(fake)[2:] == [f"/report/v2/ledgers/{A}/funds/feed?cursor=c2"]
    assert (nothing.entries, nothing.files, nothing.exit_code) == (0, [], EXIT_NOTHING_TO_DO)
    assert (still.cursor, still.next_batch, still.entries) == ("c2", 2, 3)
    assert report_files(settings.out) == batches(1)

    # New entries later: the next batch, from the stored cursor.
    more = entries(TODAY, [7, 8], tag="later")
    fake.feeds[(A, "funds")]["c2"] = page(more, "c3", end=True)
    later, after = follow(fake, settings, fake_time)

    assert feed_requests(fake)[3:] == [f"/report/v2/ledgers/{A}/funds/feed?cursor=c2"]
    assert csv_references(settings.out / batch(2)) == references(more)
    assert (later.entries, after.cursor, after.next_batch, after.entries) == (2, "c3", 3, 5)


def test_the_cursor_is_not_stored_when_a_batchs_files_cannot_be_written(settings, fake_time):
    served = entries(TODAY, [100, 200, 300, 400])
    fake = FakeApi([ledger(A)])
    fake.feeds[(A, "funds")] = {None: page(served[:2], "c1"), "c1": page(served[2:], "c2", end=True)}
    (settings.out / batch(2)).mkdir(parents=True)  # where batch 2's file goes: it cannot be put in place

    with pytest.raises(OutputError, match="cannot write the feed of ledger 302321 funds"):
        follow(fake, settings, fake_time, batch_limit=2)

    assert report_files(settings.out) == batches(1)  # and no temporary file of batch 2
    at = position(settings, fake, fake_time)
    assert (at.cursor, at.next_batch, at.entries) == ("c1", 2, 2)  # after batch 1, not past batch 2's entries

    (settings.out / batch(2)).rmdir()
    result, after = follow(fake, settings, fake_time, batch_limit=2)

    assert csv_references(settings.out / batch(2)) == references(served[2:])
    assert (result.entries, after.cursor, after.next_batch, after.entries) == (2, "c2", 3, 4)


class Killed(BaseException):
    """The process dying: nothing in the engine catches it."""


def test_a_run_killed_between_a_batchs_files_and_its_cursor_writes_the_same_batch_again(settings, fake_time):
    served = entries(TODAY, [100, 200, 300])
    fake = FakeApi([ledger(A)])
    fake.feeds[(A, "funds")] = {None: page(served[:2], "c1"), "c1": page(served[2:], "c2", end=True)}

    def killed_at_the_cursor(state):
        def record(*args):
            raise Killed

        state.feeds.record = record

    with pytest.raises(Killed):
        follow(fake, settings, fake_time, state_hook=killed_at_the_cursor)

    assert report_files(settings.out) == batches(1)  # its files are in place
    assert position(settings, fake, fake_time) == START  # its cursor is not
    written_by_the_killed_run = manifest(settings.out / batch(1, ".manifest.json"))

    result, after = follow(fake, settings, fake_time)

    assert report_files(settings.out) == batches(1)  # the same number again: no entry in two files
    assert csv_references(settings.out / batch(1)) == references(served)
    again = manifest(settings.out / batch(1, ".manifest.json"))
    assert again["runId"] == written_by_the_killed_run["runId"] + 1
    assert (result.entries, after) == (3, FeedPosition("c2", 2, 3, after.updated_at))
