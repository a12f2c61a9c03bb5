"""The ledgers the page lists: at once from what the state last saw, refreshed from the API in the background.

A page never waits for the API longer than WAIT_SECONDS: one helper thread asks it, with a short timeout
and no retries, and writes what it hears into the state (runs record what they see there too). Until
the API answers, or when it cannot be reached, the page shows the ledgers as last seen, says since
when, and says in plain words that Vipps MobilePay cannot be reached. However many pages are open,
at most one request to the API is under way, so a dead API cannot tie up the server's threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Any

from jobs.api import describe_ledger
from jobs.client import connect
from jobs.errors import ReportExportError

if TYPE_CHECKING:
    from jobs.web.site import Web

log = logging.getLogger("jobs")
Ledger = dict[str, Any]  # a ledger as describe_ledger gives it, with when it was seen
WAIT_SECONDS = 1.5  # a page waits this long for the API, then shows what the state has
TIMEOUT_SECONDS = 3.0  # each request to the API while refreshing (connect, read), with no retry


@dataclasses.dataclass(frozen=True)
class Listing:
    ledgers: list[Ledger]  # describe_ledger's shape, with "seenAt"
    seen_at: str | None  # when the API last listed them (UTC ISO), None: never
    unreachable: str | None  # why the API could not be asked just now, for IT; None: it answered


class Ledgers:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.lock = threading.Lock()
        self.helper: threading.Thread | None = None
        self.problem: str | None = None  # of the last refresh that ended
        self.wait = WAIT_SECONDS

    def listing(self) -> Listing:
        helper = self.refresh()
        helper.join(self.wait)
        problem = self.problem
        if helper.is_alive():
            problem = f"no answer within {self.wait:g} seconds"
        with self.web.state(read_only=True) as state:
            known = state.web.ledger_names()
        latest = max((seen for _, seen in known), default=None)
        rows = [{**description, "seenAt": seen} for description, seen in known]
        return Listing(rows, latest, problem)

    def refresh(self) -> threading.Thread:
        """The refresh under way, or a new one."""
        with self.lock:
            if self.helper is None or not self.helper.is_alive():
                self.helper = threading.Thread(target=self._ask, name="web-ledgers", daemon=True)
                self.helper.start()
            return self.helper

    def _ask(self) -> None:
        web = self.web
        quick = dataclasses.replace(
            web.settings, timeout=TIMEOUT_SECONDS, retry=dataclasses.replace(web.settings.retry, max_attempts=1)
        )
        try:
            with connect(quick, clock=web.context.clock, sleep=web.context.sleep) as (api, _):
                listed = [describe_ledger(ledger) for ledger in api.ledgers()]
            with web.state() as state:
                state.web.remember_ledgers(listed)
            self.problem = None
        except ReportExportError as exc:
            log.warning("web: the ledgers cannot be listed: %s", exc)
            self.problem = str(exc)
        except Exception as exc:  # a bug: the page shows what the state has; the log has the traceback
            log.exception("web: listing the ledgers failed")
            self.problem = f"internal error: {type(exc).__name__}"
