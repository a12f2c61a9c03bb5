"""The sandbox: a local HTTP server speaking the Report API, its token flows and its faults."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from . import closing, routes, tokens
from .catalog import Catalog, DateLike, as_date
from .faults import Fault, FaultBook
from .httpd import Handler, Server
from .messages import JsonObject, Reply, Request, RequestRecord, invalid_client, problem, unauthorized

_AUTHENTICATION_V1 = "/authentication/v1/token"  # announced as /miami/v1/token's successor; not live
_ROUTES = (
    ("oauth", re.compile(r"/miami/v1/token|" + _AUTHENTICATION_V1)),
    ("merchant", re.compile(r"/accesstoken/get")),
    ("ledgers", re.compile(r"/settlement/v1/ledgers")),
    ("date", re.compile(r"/report/v2/ledgers/([^/]+)/([^/]+)/dates/([^/]+)")),
    ("feed", re.compile(r"/report/v2/ledgers/([^/]+)/([^/]+)/feed")),
)


class Sandbox:
    """A Report API stand-in on 127.0.0.1; see the package docstring for the protocol."""

    def __init__(
        self,
        today: dt.date | None = None,
        now: dt.datetime | Callable[[], dt.datetime] | None = None,
        closing_hour: int = closing.DEFAULT_CLOSING_HOUR,
        authentication_v1: bool = False,
        token_ttl: int | None = None,
        latency_ms: int = 0,
        page_size: int = 50,
        ledger_page_size: int = 2,  # small on purpose, so clients meet ledger paging with five ledgers
        faults: Iterable[Fault | str] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        ledger_ids: Iterable[str] | None = None,
        big_dates: Mapping[tuple[str, str, DateLike], int] | None = None,
        corruptions: Mapping[tuple[str, str, DateLike], str] | None = None,
    ) -> None:
        """`today` sets the clock to noon in Oslo on that day, `now` to a moment (an aware datetime,
        or a callable giving one); neither: the machine's clock. A ledger date closes at
        `closing_hour` (0-23) the next day in the ledger's zone (closing.py). `authentication_v1`
        also serves POST /authentication/v1/token, announced but not live in the real API.
        `ledger_ids`: what the accounting keys may read, in list order (default: the five
        built-in ledgers); `big_dates`: {(ledgerId, topic, date): n} as for set_volume();
        `corruptions`: {(ledgerId, topic, date): kind} as for corrupt(), made after big_dates."""
        if today is not None and now is not None:
            raise ValueError("give the sandbox today or now, not both")
        if not 0 <= closing_hour <= 23:
            raise ValueError(f"closing_hour must be 0 to 23, got {closing_hour}")
        self._clock = closing.Clock(closing.noon(today) if today is not None else now)
        self.closing_hour = closing_hour
        self.authentication_v1 = authentication_v1
        self.token_ttl = 900 if token_ttl is None else token_ttl
        # Merchant tokens live 24 h in production, unless a test asks for one lifetime.
        self.merchant_token_ttl = 86400 if token_ttl is None else token_ttl
        self.latency_ms = latency_ms
        self.page_size = page_size
        self.ledger_page_size = ledger_page_size
        self.faults = FaultBook([])
        for fault in faults:
            self.faults.add(fault)
        self.sleep = sleep
        self.quiet = quiet
        self.requests: list[RequestRecord] = []
        self._tokens = tokens.TokenStore(clock)
        self._catalog = Catalog(ledger_ids, big_dates, corruptions)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> Sandbox:
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt; then close."""
        server = self._server or self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()  # only valid while serve_forever runs
            self._thread.join()
            self._thread = None
        self._close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"  # !s: an AF_INET socket's name holds its host as str, not bytes

    # -- the clock -------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        """The sandbox's time (aware); set it to an aware datetime or a callable giving one."""
        return self._clock()

    @now.setter
    def now(self, value: dt.datetime | Callable[[], dt.datetime]) -> None:
        self._clock.set(value)

    @property
    def today(self) -> dt.date:
        """The date in Oslo on the sandbox's clock; setting it moves the clock to noon in Oslo that day."""
        return self.now.astimezone(closing.OSLO).date()

    @today.setter
    def today(self, value: dt.date) -> None:
        self._clock.set(closing.noon(value))

    def closes_at(self, ledger_id: str, date: DateLike) -> dt.datetime:
        """When the date endpoint stops answering tryLater for this date, in the ledger's zone."""
        return closing.closes_at(self._catalog.ledger(ledger_id), as_date(date), self.closing_hour)

    # -- for tests -------------------------------------------------------

    @property
    def tokens_issued(self) -> list[str]:
        return self._tokens.issued

    def expire_tokens(self) -> None:
        self._tokens.expire_all()

    def add_fault(self, fault: Fault | str) -> Fault:
        return self.faults.add(fault)

    def ledgers(self) -> list[JsonObject]:
        """The ledger list as the accounting keys currently see it, in list order."""
        return [ledger.public() for ledger in self._catalog.visible(tokens.ACCOUNTING)]

    def grant(self, ledger_id: str) -> None:
        """Let the keys read a ledger again (one this sandbox holds); it joins the end of the list."""
        self._catalog.grant(ledger_id)

    def withdraw(self, ledger_id: str) -> None:
        """Take a ledger away from the keys: gone from the list, 404 "No such ledgerId" on its data."""
        self._catalog.withdraw(ledger_id)

    def add_ledger(
        self, ledger_id: str, like: str = "302321", units: tuple[tuple[str, str], ...] | None = None
    ) -> JsonObject:
        """A new ledger the accounting keys can read, made like `like` with data of its own; `units`
        ((name, recipientHandle), ...) names its sales units instead of the model's.

        Any id is served verbatim in the list, "../evil" included; its date and feed
        paths need only work for ids that fit in a URL path segment. Names too: any text.
        """
        return self._catalog.add(ledger_id, like, units).public()

    def set_volume(self, ledger_id: str, topic: str, date: DateLike, n_entries: int) -> None:
        """Make a date serve exactly `n_entries` generated entries, a page at a time.

        Movements chain from the ledger's opening balance and a last entry (payout on
        funds, fees-retained on fees) takes the balance back to it. Read them with
        iter_entries(): entries() would build them all as one list.
        """
        self._catalog.set_volume(ledger_id, topic, date, n_entries)

    def serve_entries(self, ledger_id: str, topic: str, date: DateLike, entries: Iterable[JsonObject]) -> None:
        """Serve exactly these entries on a date, as written, for hand-computed examples (scripted.py)."""
        self._catalog.script(ledger_id, topic, date, entries)

    def corrupt(self, ledger_id: str, topic: str, date: DateLike, kind: str) -> None:
        """Serve a date with a defect its reconciliation checks find, for entries() and HTTP alike.

        kind: "balance" (the middle entry's balanceAfter is 1 øre more than balanceBefore +
        amount: the balance check fails there, the chain check at the next entry), "chain"
        (the middle entry's two balances are 100 more: the chain check fails there and at
        the next entry), "amount" (the middle entry's amount is 100 more, its balances as
        they were: the balance check fails there, and the amounts no longer add up to closing
        minus opening) or "payout-not-last" (funds: the payout swaps places and times with
        the entry before it, balances recomputed: only the payout-last check fails). Only
        "amount" breaks the sums; no kind can break them alone. A later call replaces the
        date's defect. ValueError for another kind or topic, a date without entries, balance,
        chain or amount on fewer than 3 entries, payout-not-last without a payout; KeyError
        for a ledger this sandbox does not hold. See defects.py.
        """
        self._catalog.corrupt(ledger_id, topic, date, kind)

    def entries(self, ledger_id: str, topic: str, date: DateLike, *, gdpr: bool = False) -> list[JsonObject]:
        """The entries the date serves once closed (for today and later: what it will serve)."""
        return list(self.iter_entries(ledger_id, topic, date, gdpr=gdpr))

    def iter_entries(self, ledger_id: str, topic: str, date: DateLike, *, gdpr: bool = False) -> Iterator[JsonObject]:
        """As entries(), lazily: a big date is generated a chunk at a time."""
        return self._catalog.iter_entries(ledger_id, topic, date, gdpr=gdpr)

    # -- request handling ------------------------------------------------

    def handle(self, req: Request) -> Reply:
        name, args = next(((n, m.groups()) for n, p in _ROUTES if (m := p.fullmatch(req.path))), (None, ()))
        if req.path == _AUTHENTICATION_V1 and not self.authentication_v1:
            name = None  # not live: an unknown path, as the real API answers it
        page = name in ("date", "feed")
        fault = self.faults.pick(req.path, known=name is not None, page=page, has_cursor=bool(req.query.get("cursor")))
        if self.latency_ms:
            self.sleep(self.latency_ms / 1000)
        if fault is not None and (reply := self._fault_reply(fault, name, req)) is not None:
            return reply
        if name is None:
            return problem(404, "Not Found", "No such resource", req.path)
        expected = "POST" if name in ("oauth", "merchant") else "GET"
        if req.method != expected:
            return problem(405, "Method Not Allowed", f"use {expected}", req.path)
        if name == "oauth":
            return tokens.oauth_token(req, self._tokens, self.token_ttl)
        if name == "merchant":
            return tokens.merchant_token(req, self._tokens, self.merchant_token_ttl)
        kind, denied = tokens.authorize(req, self._tokens)
        if denied is not None:
            return denied
        page_fault = fault.kind if fault is not None else None
        view = routes.View(
            kind=kind or "",
            catalog=self._catalog,
            now=self.now,
            closing_hour=self.closing_hour,
            page_size=self.page_size,
            ledger_page_size=self.ledger_page_size,
            fault=page_fault,
        )
        if name == "ledgers":
            return routes.ledgers(req, view)
        if name == "date":
            return routes.date_page(req, view, *args)
        return routes.feed_page(req, view, *args)

    def _fault_reply(self, fault: Fault, route: str | None, req: Request) -> Reply | None:
        """The reply a fault forces, or None when the request goes on (slow, page faults)."""
        if fault.kind == "429":
            message = f"Rate limit is exceeded. Try again in {fault.retry_after} seconds."
            body = {"statusCode": 429, "message": message}
            return Reply(429, body, headers=(("Retry-After", str(fault.retry_after)),))
        if fault.kind == "500":
            return Reply(
                500,
                {
                    "errorCode": 10001,
                    "errorMessage": "Internal error (injected)",
                    "contextId": "00000000-0000-4000-8000-000000000500",
                },
            )
        if fault.kind == "503":
            return problem(503, "Service Unavailable", "Injected fault", req.path)
        if fault.kind == "drop":
            return Reply(0, drop=True)
        if fault.kind == "401":
            if route in ("oauth", "merchant"):
                return invalid_client(401, "Injected fault")
            return unauthorized()
        if fault.kind == "404":
            return problem(404, "Not Found", "report for this date not available yet (injected)", req.path)
        if fault.kind == "slow":
            self.sleep(fault.ms / 1000)
        return None

    def record(self, req: Request, status: int) -> None:
        record = RequestRecord(req.method, req.path, req.query, req.headers, status, req.bearer)
        with self._lock:
            self.requests.append(record)

    # -- sockets ---------------------------------------------------------

    def _bind(self) -> Server:
        if self._server is not None:
            raise RuntimeError("the sandbox is already started")
        self._server = Server(self._address, Handler)
        self._server.sandbox = self
        return self._server

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close_connections()
            server.server_close()  # joins the handler threads
