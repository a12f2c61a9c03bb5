"""The ledgers of a run: those the keys can read, their ids checked, the ones asked for chosen, and what each
one's files need (its zone, its chart, its payout account).

A ledger new to the state is caught up from [state] start_date; one no longer readable is named as withdrawn
(its files so far are kept); one readable again is caught up.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from jobs.api import ReportApi, describe_ledger
from jobs.chart_of_accounts import charts_for
from jobs.errors import ApiError, ProtocolError
from jobs.iban import payout_iban
from jobs.output import Ledger, Output, ledger_zone, owner
from jobs.result import Result
from jobs.settings import Settings
from jobs.state import State

log = logging.getLogger(__name__)
PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_identifier(ledger_id: str) -> str:
    """Ledger ids become folder and file names: refuse anything but a plain identifier."""
    if not PLAIN_ID.fullmatch(ledger_id):
        raise ProtocolError(f"the API sent ledger id {ledger_id[:40]!r}, which is not a plain identifier; refused")
    return ledger_id


def readable_ledgers(
    api: ReportApi, state: State, start: dt.date, result: Result, *, records: bool = True
) -> dict[str, dict[str, Any]]:
    """The ledgers the keys can read now, by id; with `records`, new and withdrawn ones are noted and reported."""
    readable = {}
    for ledger in api.ledgers():
        try:
            readable[check_identifier(ledger["ledgerId"])] = ledger
        except ApiError as exc:
            log.error("%s", exc)
            result.refused.append(ledger["ledgerId"])
    state.web.remember_ledgers([describe_ledger(ledger) for ledger in readable.values()])  # for the page
    if not records:
        return readable
    new, withdrawn, returned = state.ledgers.see(list(readable), start)
    for ledger_id in new:
        log.info("ledger %s is new: exporting from %s", ledger_id, state.ledgers.start_date(ledger_id))
    for ledger_id in returned:
        log.warning("ledger %s is readable again: catching up", ledger_id)
    for ledger_id in withdrawn:
        log.error(
            "ledger %s is no longer readable with these keys: ask the merchant whether access was withdrawn; "
            "its files so far are kept",
            ledger_id,
        )
    result.withdrawn = withdrawn
    return readable


def select(readable: dict[str, dict[str, Any]], requested: tuple[str, ...]) -> list[str]:
    """The ledgers asked for with --ledger (all readable ones if none); one the keys cannot read is an error."""
    missing = [lid for lid in requested if lid not in readable]
    if missing:
        raise ApiError(
            f"ledger {', '.join(missing)} is not readable with these keys ({len(readable)} are): "
            "check --ledger (see report-export ledgers), or ask the merchant to grant access"
        )
    return list(requested or readable)


def ledgers_for(
    readable: dict[str, dict[str, Any]], selected: list[str], settings: Settings, output: Output, state: State
) -> dict[str, Ledger]:
    """What each selected ledger's files need: its zone, its chart (the ledger seen first keeps a series that
    two of a client's ledgers would share) and its payout IBAN. A ledger in another currency than its client's
    books gets no vouchers, said once a run: GBAT10 has no currency column, and nothing converts."""
    seen = state.ledgers.first_seen()
    oldest = sorted(readable, key=lambda lid: (seen.get(lid, "~"), lid))
    charts = charts_for(output.charts, [(lid, owner(readable[lid])) for lid in oldest]) if output.charts else {}
    ledgers = {}
    for lid in selected:
        chart, currency, skip = charts.get(lid), readable[lid].get("currency", ""), frozenset[str]()
        if "gbat10" in output.formats and chart is not None and not chart.gap and chart.book_currency != currency:
            log.warning(
                "ledger %s: no vouchers: it is in %s, but the books of client %s are in %s (book_currency); "
                'GBAT10 has no currency column. If they are kept in %s, set book_currency = "%s" in '
                '[ledgers."%s"] (or the client\'s table) in %s',
                lid,
                currency or "?",
                chart.client or "(no owner)",
                chart.book_currency,
                currency,
                currency,
                lid,
                chart.source,
            )
            skip = frozenset({"gbat10"})
        zone = ledger_zone(readable[lid], settings.timezone)
        ledgers[lid] = Ledger(lid, zone, chart, payout_iban(readable[lid].get("payoutBankAccount")), skip)
    return ledgers
