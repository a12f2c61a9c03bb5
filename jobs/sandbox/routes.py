"""The Report API endpoints: ledger list, ledger-date pages and the feed.

Cursors are urlsafe base64 of a small JSON object holding a position, never
server-side state: the same cursor always gives the same page (a client may
retry after a fault), and a feed cursor stays valid when the sandbox's clock
moves on, because a position is (date, index) and dates only ever grow. Which
dates exist and which are open is closing.py's business.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass

from . import closing, data
from .catalog import Catalog
from .messages import JsonObject, Reply, Request, problem

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_nonce = itertools.count(1)  # makes empty-page cursors new strings for the same position


@dataclass(frozen=True)
class View:
    """What one request may see and how it is served."""

    kind: str  # key type of the token
    catalog: Catalog
    now: dt.datetime  # the sandbox's clock, timezone-aware
    closing_hour: int  # local hour at which yesterday closes
    page_size: int
    ledger_page_size: int
    fault: str | None = None  # "empty-page" or "repeat-cursor", decided before auth


def ledgers(req: Request, view: View) -> Reply:
    try:
        pos = _decode(req.query["cursor"], "ledgers") if req.query.get("cursor") else None
    except ValueError:
        return _bad(req, "Invalid cursor")
    handle = pos["h"] if pos else req.query.get("settlesForRecipientHandles")
    offset = pos["o"] if pos else 0
    found = [ledger for ledger in view.catalog.visible(view.kind) if handle is None or handle in ledger.handles]
    size = min(view.page_size, view.ledger_page_size)
    items = [ledger.public() for ledger in found[offset : offset + size]]
    more = offset + size < len(found)
    cursor = _encode({"k": "ledgers", "o": offset + size, "h": handle}) if more else ""
    return Reply(200, {"items": items, "cursor": cursor})


def date_page(req: Request, view: View, ledger_id: str, topic: str, date_text: str) -> Reply:
    if (err := _check(req, view, ledger_id, topic)) is not None:
        return err
    try:
        if not _DATE.fullmatch(date_text):
            raise ValueError(date_text)
        date = dt.date.fromisoformat(date_text)
    except ValueError:
        return _bad(req, f"ledgerDate must be YYYY-MM-DD, got {date_text!r}")
    ledger = view.catalog.ledger(ledger_id)
    status = closing.state(ledger, date, view.now, view.closing_hour)
    if status == closing.FUTURE:
        return problem(404, "Not Found", "report for this date not available yet", req.path)
    cursor = req.query.get("cursor")
    try:
        offset = _decode(cursor, "date", ledger_id, topic, date_text)["o"] if cursor else 0
    except ValueError:
        return _bad(req, "Invalid cursor")
    open_ = status == closing.OPEN
    here = {"k": "date", "l": ledger_id, "t": topic, "d": date_text}
    if view.fault == "empty-page":
        fresh = _encode({**here, "o": offset, "n": next(_nonce)})
        return Reply(200, {"items": [], "hasMore": True, "cursor": fresh, "tryLater": open_})
    until = closing.until(ledger, date, view.now) if open_ else None
    page, total = view.catalog.window(
        ledger_id, topic, date, offset, offset + view.page_size, until=until, gdpr=_gdpr(req)
    )
    more = offset + view.page_size < total
    body: JsonObject = {"items": page, "hasMore": more}
    if view.fault == "repeat-cursor":
        body.update(hasMore=True, cursor=cursor)
    elif more:
        body["cursor"] = _encode({**here, "o": offset + view.page_size})
    body["tryLater"] = open_
    return Reply(200, body)


def feed_page(req: Request, view: View, ledger_id: str, topic: str) -> Reply:
    if (err := _check(req, view, ledger_id, topic)) is not None:
        return err
    cursor = req.query.get("cursor")
    ledger = view.catalog.ledger(ledger_id)
    current = closing.current_date(ledger, view.now)
    try:
        pos = _decode(cursor, "feed", ledger_id, topic) if cursor else None
        date = dt.date.fromisoformat(pos["d"]) if pos else ledger.first_date
    except (ValueError, TypeError):
        return _bad(req, "Invalid cursor")
    index = pos["o"] if pos else 0
    here = {"k": "feed", "l": ledger_id, "t": topic}
    if view.fault == "empty-page":
        fresh = _encode({**here, "d": date.isoformat(), "o": index, "n": next(_nonce)})
        return Reply(200, {"items": [], "cursor": fresh, "tryLater": False})
    items: list[JsonObject] = []
    at_end = False
    gdpr = _gdpr(req)
    while len(items) < view.page_size:
        if date > current:
            at_end = True
            break
        wanted = index + view.page_size - len(items)
        taken, total = view.catalog.window(
            ledger_id, topic, date, index, wanted, until=closing.until(ledger, date, view.now), gdpr=gdpr
        )
        items += taken
        index += len(taken)
        if index < total:
            continue
        if date == current:  # the date in progress may still grow: stay on it
            at_end = True
            break
        date, index = date + dt.timedelta(days=1), 0
    if view.fault == "repeat-cursor":
        return Reply(200, {"items": items, "cursor": cursor, "tryLater": False})
    if not items:  # the end of the feed hands back the very same cursor
        next_cursor = cursor or _encode({**here, "d": date.isoformat(), "o": index})
    else:
        next_cursor = _encode({**here, "d": date.isoformat(), "o": index})
    return Reply(200, {"items": items, "cursor": next_cursor, "tryLater": at_end})


def _check(req: Request, view: View, ledger_id: str, topic: str) -> Reply | None:
    if topic not in data.TOPICS:
        return _bad(req, f"topic must be funds or fees, got {topic!r}")
    if ledger_id not in {ledger.id for ledger in view.catalog.visible(view.kind)}:
        # Unknown and not-granted look the same: existence is not revealed.
        return problem(404, "Not Found", "No such ledgerId", req.path)
    return None


def _gdpr(req: Request) -> bool:
    return req.query.get("includeGDPRSensitiveData", "").lower() == "true"


def _bad(req: Request, detail: str) -> Reply:
    return problem(400, "Bad Request", detail, req.path)


def _encode(position: JsonObject) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str, *scope: str) -> JsonObject:
    """The position in a cursor; ValueError unless it was made for this very endpoint."""
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).replace("-", "+").replace("_", "/")
        raw = base64.b64decode(padded, validate=True)
        pos = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(pos, dict) or pos.get("k") != kind:
        raise ValueError("not a cursor for this endpoint")
    if [pos.get(k) for k in ("l", "t", "d")[: len(scope)]] != list(scope):
        raise ValueError("cursor belongs to another ledger, topic or date")
    offset = pos.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError("bad offset")
    return pos
