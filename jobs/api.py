"""The Report API: ledgers, ledger-date pages and their status codes.

Paging is kept apart from HTTP (`follow_pages`, `read_ahead`) so it can be
stepped without a network. Unknown fields pass through untouched; only what the
exporter relies on is checked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from jobs.errors import ApiError, AuthError, NotAvailable, ProtocolError, TransientError
from jobs.retry import Retrier, retry_after


@dataclass(frozen=True)
class DatePage:
    items: list[dict[str, Any]]
    has_more: bool
    cursor: str | None
    try_later: bool


def follow_pages(fetch: Callable[[str | None], DatePage], what: str) -> Iterator[DatePage]:
    """Yield pages while hasMore; an empty page with hasMore is legal, a repeated cursor is not."""
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield page
        if not page.has_more:
            return
        if not page.cursor:
            raise ProtocolError(f"{what}: hasMore without a cursor; the API broke its own paging, try again later")
        if page.cursor in seen:
            raise ProtocolError(f"{what}: the API repeated a cursor; stopped instead of looping, try again later")
        seen.add(page.cursor)
        cursor = page.cursor


def read_ahead(pages: Iterator[DatePage]) -> Iterator[DatePage]:
    """The same pages, but while the caller writes one, a helper thread already fetches the next.

    A large date is then bound by the slower of the API and the writers, not their sum. The
    helper starts only when the first page says there is more, so a one-page date costs no
    thread; at most one page waits for the caller, so memory stays flat. If the caller stops
    early, the helper stops after the request it is making.
    """
    first = next(pages, None)
    if first is None or not first.has_more:
        if first is not None:
            yield first
        yield from pages  # follow_pages ends here; a plain iterator might not
        return
    ahead: queue.Queue[DatePage | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                ahead.put(page)
                if stop.is_set():
                    return
            ahead.put(None)
        except BaseException as exc:  # the caller raises it, after the pages before it
            ahead.put(exc)

    helper = threading.Thread(target=fetch, name=f"{threading.current_thread().name}-read-ahead", daemon=True)
    helper.start()
    try:
        yield first
        while (page := ahead.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield page
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            ahead.get_nowait()  # a helper waiting to hand over a page can now see `stop`
        # Wait for the request it may be making: the caller may close the HTTP client next, and a
        # request still running then leaves its connection to the garbage collector.
        helper.join()


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    cursor: str  # the position after these items; never empty
    try_later: bool  # the end of the feed for now


def follow_feed(fetch: Callable[[str | None], FeedPage], cursor: str | None, what: str) -> Iterator[FeedPage]:
    """Yield feed pages until tryLater, the feed's only end mark; a cursor that does not move is an error."""
    seen = {cursor}
    while True:
        page = fetch(cursor)
        yield page
        if page.try_later:
            return
        if page.cursor in seen:
            raise ProtocolError(f"{what}: the API repeated a cursor; stopped instead of looping, try again later")
        seen.add(page.cursor)
        cursor = page.cursor


class ReportApi:
    def __init__(self, client: httpx.Client, retrier: Retrier, in_flight: int = 1) -> None:
        self.client = client
        self.retrier = retrier
        # At most this many requests on the wire at once, however many threads ask: a thread that
        # is writing a file holds no slot, so the next request need not wait for it.
        self._slots = threading.BoundedSemaphore(in_flight)

    def ledgers(self) -> Iterator[dict[str, Any]]:
        """Every ledger the keys can read, over all cursor pages."""

        def fetch(cursor: str | None) -> DatePage:
            body = self._get("/settlement/v1/ledgers", {"cursor": cursor} if cursor else None, "listing ledgers")
            items = body.get("items")
            if not isinstance(items, list):
                raise ProtocolError("listing ledgers: the answer has no item list; try again later")
            next_cursor = body.get("cursor") or None
            return DatePage(items, has_more=next_cursor is not None, cursor=next_cursor, try_later=False)

        for page in follow_pages(fetch, "listing ledgers"):
            for ledger in page.items:
                if not isinstance(ledger, dict) or not isinstance(ledger.get("ledgerId"), str):
                    raise ProtocolError(f"listing ledgers: a ledger without a text ledgerId: {str(ledger)[:80]}")
                yield ledger

    def date_pages(self, ledger_id: str, topic: str, date: dt.date, *, gdpr: bool = False) -> Iterator[DatePage]:
        """The pages of one ledger date, each next one read ahead; raises NotAvailable on 404."""
        path = f"/report/v2/ledgers/{ledger_id}/{topic}/dates/{date.isoformat()}"
        what = f"ledger {ledger_id} {topic} {date}"

        def fetch(cursor: str | None) -> DatePage:
            body = self._get(path, _params(cursor, gdpr), what)
            items, next_cursor, try_later = body.get("items"), body.get("cursor") or None, body.get("tryLater")
            # hasMore came late (November 2023) and the schema requires no field: a cursor without
            # hasMore means more pages, never the last one.
            has_more = body.get("hasMore", next_cursor is not None)
            if not isinstance(items, list) or not isinstance(has_more, bool):
                raise ProtocolError(f"{what}: items or hasMore missing or mistyped; try again later")
            if not isinstance(try_later, bool):  # only tryLater: false says the date is closed and final
                raise ProtocolError(
                    f"{what}: a page without tryLater does not say whether the date is closed, so no file is "
                    "written; the next run asks again"
                )
            return DatePage(items, has_more, next_cursor, try_later)

        return read_ahead(follow_pages(fetch, what))

    def feed_pages(self, ledger_id: str, topic: str, cursor: str | None, *, gdpr: bool = False) -> Iterator[FeedPage]:
        """The feed from `cursor` (None: the start of the ledger's history) to its current end."""
        path = f"/report/v2/ledgers/{ledger_id}/{topic}/feed"
        what = f"feed of ledger {ledger_id} {topic}"

        def fetch(at: str | None) -> FeedPage:
            body = self._get(path, _params(at, gdpr), what)
            items, next_cursor, try_later = body.get("items"), body.get("cursor"), body.get("tryLater", False)
            if not isinstance(items, list) or not isinstance(try_later, bool):
                raise ProtocolError(f"{what}: items or tryLater missing or mistyped; try again later")
            if not isinstance(next_cursor, str) or not next_cursor:
                raise ProtocolError(f"{what}: a page without a cursor; the feed's cursor never empties")
            return FeedPage(items, next_cursor, try_later)

        return follow_feed(fetch, cursor, what)

    def _get(self, path: str, params: dict[str, str] | None, what: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            with self._slots:
                response = self.client.get(path, params=params)
            return _body(response, what)

        return self.retrier.call(attempt, what)


def _params(cursor: str | None, gdpr: bool) -> dict[str, str] | None:
    # Personal data only when configured; then on every page, or later pages would lack it.
    params = {"cursor": cursor} if cursor else {}
    if gdpr:
        params["includeGDPRSensitiveData"] = "true"
    return params or None  # httpx re-parses the URL to merge even empty params: about 8% of a request's CPU


def _body(response: httpx.Response, what: str) -> dict[str, Any]:
    """Map a response to its JSON body or to the error that says what to do."""
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProtocolError(f"{what}: the answer is not a JSON object; try again later")
        return body
    if status == 429 or status >= 500:
        raise TransientError(f"HTTP {status}{_detail(response)}", retry_after(response), status)
    if status == 401:
        raise AuthError(f"{what}: the API refused a fresh token (401): check that the keys have Report API access")
    if status == 403:
        raise AuthError(f"{what}: the keys may not read this (403): ask the merchant to grant access in the portal")
    if status == 404:
        raise NotAvailable(f"{what}: not available or no access (404){_detail(response)}")
    raise ApiError(f"{what}: the API refused the request ({status}){_detail(response)}")


def _detail(response: httpx.Response) -> str:
    """The API's own words, from problem+json, Azure's {code,message} or Vipps' errorMessage."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("detail", "title", "message", "errorMessage"):
        if isinstance(body.get(key), str) and body[key]:
            return ": " + " ".join(body[key].split())[:200]
    return ""


def describe_ledger(ledger: dict[str, Any]) -> dict[str, Any]:
    owner = ledger.get("owner") or {}
    account = ledger.get("payoutBankAccount") or {}
    units = ledger.get("salesUnits") or [{"recipientHandle": h} for h in ledger.get("settlesForRecipientHandles", [])]
    return {
        "ledgerId": ledger["ledgerId"],
        "currency": ledger.get("currency", ""),
        "owner": f"{owner.get('scheme', '')} {owner.get('id', '')}".strip(),
        "salesUnits": ", ".join(
            f"{u.get('name')} ({u.get('recipientHandle')})" if u.get("name") else str(u.get("recipientHandle"))
            for u in units
        ),
        "payoutAccount": f"{account.get('scheme', '')} {mask(str(account.get('id', '')))}".strip(),
    }


def mask(account: str) -> str:
    """All but the last four characters hidden; short values hidden entirely."""
    if len(account) <= 4:
        return "*" * len(account)
    return "*" * (len(account) - 4) + account[-4:]
