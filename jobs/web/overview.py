"""The overview she lands on: every ledger, grouped by merchant, searchable, with where its exports stand and
its last 30 or 90 days drawn small. From the state alone (jobs.web.ledgers refreshes the names in the
background): a page of PAGE_SIZE ledgers costs a few grouped queries, however many ledgers there are."""

from __future__ import annotations

import datetime as dt
import itertools

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from jobs.state.dates import overdue
from jobs.web.charts import chart
from jobs.web.ledgers import Ledger
from jobs.web.site import Web, page_asked, the_web

blueprint = Blueprint("overview", __name__)
PAGE_SIZE = 50


@blueprint.route("/")
def overview() -> ResponseReturnValue:
    web = the_web()
    listing = web.ledgers.listing()
    query = request.args.get("q", "").strip()
    days = 90 if request.args.get("days") == "90" else 30
    found = sorted((ledger for ledger in listing.ledgers if matches(ledger, query)), key=merchant_order)
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(page_asked(), pages)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    with_progress(web, shown, days)
    groups = [(org, merchant(org), list(ledgers)) for org, ledgers in itertools.groupby(shown, key=owner)]
    return render_template(
        "overview.html",
        listing=listing,
        groups=groups,
        query=query,
        days=days,
        page=page,
        pages=pages,
        found=len(found),
    )


def with_progress(web: Web, ledgers: list[Ledger], days: int) -> None:
    """What the state knows of each ledger shown: its exports, its pending dates, its chart."""
    ids = [ledger["ledgerId"] for ledger in ledgers]
    today, warn_after_days = web.day(), web.settings.warn_after_days  # one day for the whole page, at midnight too
    yesterday = today - dt.timedelta(days=1)
    with web.state(read_only=True) as state:
        progress = state.views.progress(ids, yesterday, web.settings.topics)
        daily = state.views.daily_sums(ids, "funds", yesterday - dt.timedelta(days=days - 1))
    latest = max((ledger["seenAt"] for ledger in ledgers if ledger["seenAt"]), default=None)
    for ledger in ledgers:
        known = progress[ledger["ledgerId"]]
        pending = [{**vars(p), "overdue": overdue(p.date, today, warn_after_days)} for p in known.pending]
        ledger.update(
            lastExported=known.last_exported,
            pending=pending,
            notAsked=known.not_asked,
            checksFailed=known.checks_failed,
            withdrawnAt=known.withdrawn_at,
            chart=chart(daily[ledger["ledgerId"]], yesterday, days),
            unlisted=ledger["seenAt"] != latest,
        )


def matches(ledger: Ledger, query: str) -> bool:
    """Search by ledger number, organisation number, sales unit name or number."""
    wanted = query.casefold()
    return not wanted or any(
        wanted in str(ledger.get(key, "")).casefold() for key in ("ledgerId", "owner", "salesUnits")
    )


def merchant(owner: str) -> str:
    """A ledger's owner as she knows it: `business:NO:ORG 987654321` is organisation number 987654321 (NO)."""
    if not owner:
        return str(gettext("Owner not known yet"))
    scheme, _, number = owner.rpartition(" ")
    country = scheme.split(":")[1] if scheme.count(":") >= 2 else ""
    return str(gettext("Organisation number %(number)s", number=number)) + (f" ({country})" if country else "")


def owner(ledger: Ledger) -> str:
    return str(ledger.get("owner") or "")


def merchant_order(ledger: Ledger) -> tuple[str, str]:
    return str(ledger.get("owner") or "~"), str(ledger["ledgerId"])  # ledgers without a known owner last
