"""Fakes at the engine's boundaries, for tests that drive export.run, runner.execute and feed.follow directly.

FakeApi is the Report API and its token endpoint behind an httpx.MockTransport: it serves whole structures
given by the test (the ledger list, each ledger date's pages, each feed's pages, keyed by the cursor asked
with), answers 404 for anything it was not given, and records every request. The clock is conftest's FakeTime;
the state is a real SQLite file and the files real files, both under tmp_path.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from jobs import config, export
from jobs.client import connect
from jobs.request import RunRequest, request_for
from jobs.result import Result
from jobs.runner import output_for
from jobs.settings import Settings
from jobs.state import State

TODAY = dt.date(2026, 11, 20)
DAY = dt.timedelta(days=1)
BASE_URL = "https://api.example.test"
CLIENT = ("accounting-id", "accounting-secret")
ENVIRONMENT = {"VIPPS_CLIENT_ID": CLIENT[0], "VIPPS_CLIENT_SECRET": CLIENT[1], "VIPPS_BASE_URL": BASE_URL}
# What a ledger date or a feed serves: the body answered for each cursor asked with (None: the first page).
Pages = dict[str | None, dict[str, Any]]


def ledger(ledger_id: str) -> dict[str, Any]:
    """A Norwegian ledger as GET /settlement/v1/ledgers lists it."""
    return {
        "ledgerId": ledger_id,
        "currency": "NOK",
        "payoutBankAccount": {"scheme": "BBAN:NO", "id": "12345678903"},
        "owner": {"scheme": "business:NO:ORG", "id": "987654321"},
        "settlesForRecipientHandles": [f"NO:{ledger_id}"],
    }


def entries(date: dt.date, amounts: Iterable[int], *, tag: str = "", opening: int = 0) -> list[dict[str, Any]]:
    """Captures of `amounts` (minor units) on `date`, their balances chained from `opening`; each pspReference
    names its date, its position and `tag`, so a test can tell where a row in a file came from."""
    found, balance = [], opening
    for n, amount in enumerate(amounts, 1):
        found.append(
            {
                "pspReference": f"{date:%Y%m%d}{n:03d}{tag}",
                "time": f"{date}T08:{n % 60:02d}:00.000000Z",
                "ledgerDate": date.isoformat(),
                "entryType": "capture",
                "reference": f"order-{date}-{n}",
                "currency": "NOK",
                "amount": amount,
                "balanceBefore": balance,
                "balanceAfter": balance + amount,
                "recipientHandle": "NO:123456",
            }
        )
        balance += amount
    return found


def closed(items: list[dict[str, Any]], per_page: int = 2) -> Pages:
    """A closed ledger date served `per_page` entries a page, with hasMore and a cursor to the next."""
    chunks = [items[n : n + per_page] for n in range(0, len(items), per_page)] or [[]]
    pages: Pages = {}
    for n, chunk in enumerate(chunks):
        more = n + 1 < len(chunks)
        body: dict[str, Any] = {"items": chunk, "hasMore": more, "tryLater": False}
        if more:
            body["cursor"] = f"page-{n + 2}"
        pages[None if n == 0 else f"page-{n + 1}"] = body
    return pages


def still_open(items: list[dict[str, Any]] | None = None) -> Pages:
    """A ledger date not closed yet: what it holds so far, and tryLater."""
    return {None: {"items": items or [], "hasMore": False, "tryLater": True}}


class FakeApi:
    """The Report API as a MockTransport. `dates[(ledger, topic, date)]` and `feeds[(ledger, topic)]` are what
    each serves; `before(request)`, if set, is called as each request arrives (to block it, raise, or look at
    the world at that moment), and a response it returns is the answer. Safe for the engine's worker threads."""

    def __init__(self, ledgers: list[dict[str, Any]]) -> None:
        self.ledgers = ledgers
        self.dates: dict[tuple[str, str, dt.date], Pages] = {}
        self.feeds: dict[tuple[str, str], Pages] = {}
        self.before: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.requests: list[str] = []  # "POST /miami/v1/token", "GET /report/...?cursor=..."
        self.tokens = 0
        self._lock = threading.Lock()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def serve(self, ledger_id: str, topic: str, date: dt.date, pages: Pages) -> None:
        self.dates[(ledger_id, topic, date)] = pages

    def date_requests(self) -> list[tuple[str, str, dt.date]]:
        """The ledger dates asked for (their first pages), in the order asked."""
        found = []
        for line in self.requests:
            parts = line.split(" ")[1].split("/")
            if len(parts) == 8 and parts[6] == "dates" and "cursor=" not in parts[7]:
                found.append((parts[4], parts[5], dt.date.fromisoformat(parts[7].split("?")[0])))
        return found

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(f"{request.method} {request.url.raw_path.decode()}")
        if self.before is not None and (answer := self.before(request)) is not None:
            return answer
        path, cursor = request.url.path, request.url.params.get("cursor")
        if request.method == "POST" and path == "/miami/v1/token":
            return self._token(request)
        if request.headers.get("Authorization", "") not in self._issued():
            return httpx.Response(401, json={"error": "invalid_token"})
        parts = path.strip("/").split("/")
        if path == "/settlement/v1/ledgers":
            return httpx.Response(200, json={"items": self.ledgers, "cursor": ""})
        if parts[:3] == ["report", "v2", "ledgers"] and len(parts) == 7 and parts[5] == "dates":
            pages = self.dates.get((parts[3], parts[4], dt.date.fromisoformat(parts[6])))
        elif parts[:3] == ["report", "v2", "ledgers"] and len(parts) == 6 and parts[5] == "feed":
            pages = self.feeds.get((parts[3], parts[4]))
        else:
            pages = None
        if pages is None or cursor not in pages:
            return httpx.Response(404, json={"title": "Not Found", "detail": "No such ledger date"})
        return httpx.Response(200, json=pages[cursor])

    def _token(self, request: httpx.Request) -> httpx.Response:
        basic = base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}" or b"grant_type=client_credentials" not in (
            request.content
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        with self._lock:
            self.tokens += 1
            token = f"token-{self.tokens}"
        return httpx.Response(200, json={"access_token": token, "expires_in": 900, "token_type": "Bearer"})

    def _issued(self) -> set[str]:
        with self._lock:
            return {f"Bearer token-{n}" for n in range(1, self.tokens + 1)}


def settings_in(folder: Path, toml: str = "", **replaced: Any) -> Settings:
    """Settings as config.load reads them from `toml` in `folder` (state and reports under it), with the fake
    API's keys in the environment and `replaced` fields over them."""
    (folder / "config.toml").write_text(toml)
    loaded = config.load(folder / "config.toml", environ=ENVIRONMENT)
    return dataclasses.replace(loaded, **replaced)


def request(settings: Settings, **given: Any) -> RunRequest:
    return request_for(settings, given.pop("command", "run"), **given)


@contextmanager
def engine(fake: FakeApi, settings: Settings, clock: Callable[[], float], sleep: Callable[[float], None]):
    """The state and an API client on the fake, as jobs.runner.execute makes them for a run."""
    with (
        State(settings.state_path) as state,
        connect(settings, clock=clock, sleep=sleep, transport=fake.transport) as (api, _),
    ):
        yield state, api


def export_run(
    fake: FakeApi,
    settings: Settings,
    asked: RunRequest,
    fake_time: Any,
    *,
    today: dt.date = TODAY,
    stop: threading.Event | None = None,
    watch: Callable[[int, int, str], None] | None = None,
) -> Result:
    """export.run of `asked` on `today`, as one run recorded in the state (runner.execute's part without it)."""
    settings = dataclasses.replace(settings, concurrency=asked.concurrency)  # as runner.execute does
    with engine(fake, settings, fake_time.clock, fake_time.sleep) as (state, api):
        run_id = state.runs.start("run", asked.trigger)
        return export.run(
            api,
            state,
            run_id,
            settings,
            asked,
            output_for(settings, asked),
            today,
            stop=stop or threading.Event(),
            progress_bar=False,
            watch=watch,
        )


def report_files(out: Path) -> list[str]:
    """Every file under `out`, relative to it, sorted: temporary files and manifests too."""
    return sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())


def csv_references(path: Path) -> list[str]:
    """The pspReference column of a report CSV, read back with the standard library's reader."""
    with path.open(newline="", encoding="utf-8") as f:
        return [row["pspReference"] for row in csv.DictReader(f)]


def manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def references(items: list[dict[str, Any]]) -> list[str]:
    return [item["pspReference"] for item in items]
