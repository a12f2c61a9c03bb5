"""The paginator stepped without a network."""

import pytest

from jobs.api import DatePage, follow_pages
from jobs.errors import ProtocolError


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
