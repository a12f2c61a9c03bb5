"""The paginator, and reading a page ahead, stepped without a network."""

import datetime as dt
import threading

import httpx
import pytest

from jobs.api import DatePage, ReportApi, follow_pages, read_ahead
from jobs.config import RetryPolicy
from jobs.errors import ProtocolError
from jobs.retry import Retrier


def scripted(pages):
    """A fetch that serves pages in order and records the cursors it was asked for."""
    asked = []

    def fetch(cursor):
        asked.append(cursor)
        return pages[len(asked) - 1]

    return fetch, asked


def test_follows_cursors_until_has_more_is_false_and_allows_empty_pages():
    fetch, asked = scripted(
        [
            DatePage([{"n": 1}], True, "c1", False),
            DatePage([], True, "c2", False),  # legal: an empty page that says there is more
            DatePage([{"n": 2}], False, None, False),
        ]
    )
    items = [item for page in follow_pages(fetch, "t") for item in page.items]
    assert items == [{"n": 1}, {"n": 2}]
    assert asked == [None, "c1", "c2"]


def test_a_repeated_cursor_is_an_error_not_a_loop():
    fetch, asked = scripted(
        [
            DatePage([{"n": 1}], True, "c1", False),
            DatePage([{"n": 2}], True, "c2", False),
            DatePage([{"n": 3}], True, "c1", False),
            DatePage([], False, None, False),
        ]
    )
    with pytest.raises(ProtocolError, match="repeated a cursor"):
        list(follow_pages(fetch, "t"))
    assert asked == [None, "c1", "c2"]


def test_has_more_without_a_cursor_is_an_error():
    fetch, _ = scripted([DatePage([], True, None, False)])
    with pytest.raises(ProtocolError, match="without a cursor"):
        list(follow_pages(fetch, "t"))


def test_pages_are_fetched_lazily_so_rows_can_be_written_before_the_last_page():
    fetch, asked = scripted([DatePage([1], True, "c1", False), DatePage([2], False, None, False)])
    pages = follow_pages(fetch, "t")
    next(pages)
    assert asked == [None]


def numbered(n):
    """n pages of one item each, linked by cursors."""
    return [DatePage([{"n": i}], i < n, f"c{i}" if i < n else None, False) for i in range(1, n + 1)]


def read_ahead_threads():
    return [t for t in threading.enumerate() if t.name.endswith("-read-ahead")]


def test_read_ahead_gives_the_same_pages_in_order():
    fetch, asked = scripted(numbered(5))
    assert [page.items for page in read_ahead(follow_pages(fetch, "t"))] == [[{"n": i}] for i in range(1, 6)]
    assert asked == [None, "c1", "c2", "c3", "c4"]


def test_the_next_page_is_fetched_while_the_caller_handles_this_one():
    fetch, asked = scripted(numbered(3))
    second_asked = threading.Event()

    def watched(cursor):
        if cursor == "c1":
            second_asked.set()
        return fetch(cursor)

    pages = read_ahead(follow_pages(watched, "t"))
    next(pages)
    # The caller has not asked for page 2, yet its request is made (a plain paginator would wait).
    assert second_asked.wait(timeout=5)
    assert [page.items for page in pages] == [[{"n": 2}], [{"n": 3}]]


def test_a_one_page_date_starts_no_thread():
    fetch, _ = scripted(numbered(1))
    pages = read_ahead(follow_pages(fetch, "t"))
    assert next(pages).items == [{"n": 1}]
    assert read_ahead_threads() == []
    assert list(pages) == []


def test_an_error_on_a_later_page_reaches_the_caller_after_the_pages_before_it():
    pages = numbered(3)
    pages[1] = DatePage([{"n": 2}], True, "c1", False)  # repeats the first page's cursor
    fetch, _ = scripted(pages)
    seen = []
    with pytest.raises(ProtocolError, match="repeated a cursor"):
        for page in read_ahead(follow_pages(fetch, "t")):
            seen.append(page.items)
    assert seen == [[{"n": 1}], [{"n": 2}]]


def test_a_caller_that_stops_early_stops_the_helper():
    fetch, asked = scripted(numbered(50))
    pages = read_ahead(follow_pages(fetch, "t"))
    next(pages)
    next(pages)
    pages.close()  # as when a date turns out open, or its files fail
    for thread in read_ahead_threads():
        thread.join(timeout=5)
    assert read_ahead_threads() == []
    assert len(asked) <= 4  # the two pages taken, one waiting, one in flight: not all fifty


def api_serving(bodies: dict[str | None, dict]) -> tuple[ReportApi, list]:
    """A ReportApi whose HTTP answers are `bodies`, by the cursor asked for; no network, no retries."""
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        asked.append(cursor)
        return httpx.Response(200, json=bodies[cursor])

    client = httpx.Client(base_url="https://api.test", transport=httpx.MockTransport(answer))
    return ReportApi(client, Retrier(RetryPolicy(max_attempts=1), sleep=lambda s: None)), asked


def test_a_cursor_without_has_more_is_followed_as_more_pages():
    """hasMore came in November 2023 and is not required: a page with a cursor and no hasMore is not the last."""
    api, asked = api_serving(
        {
            None: {"items": [{"n": 1}], "cursor": "c1", "tryLater": False},
            "c1": {"items": [{"n": 2}], "cursor": "c2", "tryLater": False},
            "c2": {"items": [{"n": 3}], "tryLater": False},
        }
    )
    pages = list(api.date_pages("302321", "funds", dt.date(2026, 11, 19)))
    assert [item for page in pages for item in page.items] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert asked == [None, "c1", "c2"]


@pytest.mark.parametrize("later", [{}, {"tryLater": None}, {"tryLater": "false"}])
def test_a_page_that_does_not_say_try_later_false_is_not_read_as_closed(later):
    api, _ = api_serving({None: {"items": [{"n": 1}], "hasMore": False, **later}})
    with pytest.raises(ProtocolError, match="without tryLater does not say whether the date is closed"):
        list(api.date_pages("302321", "funds", dt.date(2026, 11, 19)))
