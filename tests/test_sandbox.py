"""The Report API sandbox over real HTTP on 127.0.0.1, with a fake clock and sleep."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import signal
import subprocess
import sys
import tracemalloc
from zoneinfo import ZoneInfo

import httpx
import pytest

from jobs.errors import AuthError
from jobs.sandbox import ACCOUNTING_CLIENT, MERCHANT_CLIENT, Fault, Sandbox, parse_fault
from jobs.sandbox.__main__ import main as sandbox_main
from jobs.sandbox.events import AWKWARD_REFERENCES

TODAY = dt.date(2026, 11, 20)
NOON = "2026-11-20T11:00:00.000000Z"  # what today=TODAY sets the clock to: noon in Oslo (UTC+1 in November)
WEEK = [TODAY - dt.timedelta(days=d) for d in range(7, 0, -1)]
MAIN, RESERVE, MERCHANT, DANISH, EURO, WEEKLY = "302321", "0302399", "412345", "5551234", "7778881", "6001234"
DATES = "/report/v2/ledgers/{}/{}/dates/{}"
FEED = "/report/v2/ledgers/{}/{}/feed"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(clock):
    started: list[Sandbox] = []

    def make(**kwargs) -> Sandbox:
        kwargs = {"today": TODAY, "clock": clock, "sleep": clock.sleep, **kwargs}
        started.append(Sandbox(**kwargs).start())
        return started[-1]

    yield make
    for sb in started:
        sb.stop()


@pytest.fixture
def sb(make) -> Sandbox:
    return make()


@pytest.fixture
def client(sb):
    with httpx.Client(base_url=sb.base_url, timeout=5) as c:
        yield c


def token(c: httpx.Client, path: str = "/miami/v1/token") -> str:
    r = c.post(path, auth=ACCOUNTING_CLIENT, data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def merchant_token(c: httpx.Client) -> str:
    cid, secret, key, msn = MERCHANT_CLIENT
    headers = {
        "client_id": cid,
        "client_secret": secret,
        "Ocp-Apim-Subscription-Key": key,
        "Merchant-Serial-Number": msn,
    }
    r = c.post("/accesstoken/get", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def get(c: httpx.Client, path: str, tok: str, headers: dict | None = None, **params) -> httpx.Response:
    return c.get(path, params=params, headers={"Authorization": f"Bearer {tok}", **(headers or {})})


def all_pages(c: httpx.Client, tok: str, ledger: str, topic: str, date: dt.date, **params) -> list[dict]:
    items, cursor, seen = [], None, set()
    while True:
        paging = {"cursor": cursor} if cursor else {}
        body = get(c, DATES.format(ledger, topic, date), tok, **params, **paging).json()
        items += body["items"]
        assert ("cursor" in body) == body["hasMore"]
        if not body["hasMore"]:
            return items
        cursor = body["cursor"]
        assert cursor not in seen
        seen.add(cursor)


# -- tokens ------------------------------------------------------------------


def test_accounting_token(sb, client):
    r = client.post("/miami/v1/token", auth=ACCOUNTING_CLIENT, data={"grant_type": "client_credentials"})
    body = r.json()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert sb.tokens_issued == [body["access_token"]]


def test_authentication_v1_token_only_when_asked_for(make):
    """Announced as /miami/v1/token's successor, not live: by default it is an unknown path."""
    form = {"grant_type": "client_credentials"}
    default, enabled = make(), make(authentication_v1=True)
    with httpx.Client(base_url=default.base_url) as c:
        r = c.post("/authentication/v1/token", auth=ACCOUNTING_CLIENT, data=form)
        unknown = c.post("/authentication/v2/token", auth=ACCOUNTING_CLIENT, data=form)
        assert r.status_code == 404 and r.json() == {**unknown.json(), "instance": "/authentication/v1/token"}
        assert r.headers["content-type"].startswith("application/problem+json")
        assert default.tokens_issued == []
    with httpx.Client(base_url=enabled.base_url) as c:
        r = c.post("/authentication/v1/token", auth=ACCOUNTING_CLIENT, data=form)
        assert r.status_code == 200 and r.json()["expires_in"] == 900
        assert get(c, "/settlement/v1/ledgers", r.json()["access_token"]).status_code == 200
        assert c.post("/authentication/v1/token", data=form).status_code == 401  # the same checks as miami


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"headers": {"Ocp-Apim-Subscription-Key": "k"}, "data": {"grant_type": "client_credentials"}}, 400),
        ({"data": {}}, 400),
        ({"data": {"grant_type": "password"}}, 400),
        ({"data": {"grant_type": "client_credentials"}, "auth": ("sandbox-client", "wrong")}, 401),
        ({"data": {"grant_type": "client_credentials"}, "auth": MERCHANT_CLIENT[:2]}, 401),
        ({"data": {"grant_type": "client_credentials"}, "auth": None}, 401),
    ],
)
def test_accounting_token_refused(client, kwargs, status):
    kwargs = {"auth": ACCOUNTING_CLIENT, **kwargs}
    r = client.post("/miami/v1/token", **{k: v for k, v in kwargs.items() if v is not None})
    assert r.status_code == status
    assert r.json()["error"] == "invalid_client"


def test_merchant_token(sb, client):
    cid, secret, key, _ = MERCHANT_CLIENT
    r = client.post(
        "/accesstoken/get", headers={"client_id": cid, "client_secret": secret, "Ocp-Apim-Subscription-Key": key}
    )
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer"
    assert body["expires_in"] == "86400" and int(body["expires_on"]) > int(body["not_before"])
    assert body["access_token"] in sb.tokens_issued
    wrong = [
        {"client_id": ACCOUNTING_CLIENT[0], "client_secret": ACCOUNTING_CLIENT[1], "Ocp-Apim-Subscription-Key": key},
        {"client_id": cid, "client_secret": secret},
        {"client_id": cid, "client_secret": "nope", "Ocp-Apim-Subscription-Key": key},
    ]
    for headers in wrong:
        assert client.post("/accesstoken/get", headers=headers).status_code == 401


def test_explicit_ttl_applies_to_merchant_tokens(make):
    sb = make(token_ttl=60)
    with httpx.Client(base_url=sb.base_url) as c:
        cid, secret, key, _ = MERCHANT_CLIENT
        r = c.post(
            "/accesstoken/get", headers={"client_id": cid, "client_secret": secret, "Ocp-Apim-Subscription-Key": key}
        )
        assert r.json()["expires_in"] == "60"


@pytest.mark.parametrize("auth", [None, "{tok}", "bearer {tok}", "Basic {tok}", "Bearer nope"])
def test_bearer_required(client, auth):
    tok = token(client)
    headers = {} if auth is None else {"Authorization": auth.format(tok=tok)}
    r = client.get("/settlement/v1/ledgers", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"code": "Unauthorized", "message": "Please check your API keys"}


def test_token_expiry_on_injected_clock(sb, client, clock):
    tok = token(client)
    clock.now += 899
    assert get(client, "/settlement/v1/ledgers", tok).status_code == 200
    clock.now += 1
    assert get(client, "/settlement/v1/ledgers", tok).status_code == 401
    fresh = token(client)
    assert get(client, "/settlement/v1/ledgers", fresh).status_code == 200
    sb.expire_tokens()
    assert get(client, "/settlement/v1/ledgers", fresh).status_code == 401


def test_merchant_sees_only_its_ledger(sb, client):
    tok, key = merchant_token(client), {"Ocp-Apim-Subscription-Key": MERCHANT_CLIENT[2]}
    assert get(client, "/settlement/v1/ledgers", tok).status_code == 401  # key missing
    body = get(client, "/settlement/v1/ledgers", tok, key).json()
    assert [ledger["ledgerId"] for ledger in body["items"]] == [MERCHANT] and not body["cursor"]
    assert body["items"][0]["settlesForRecipientHandles"] == ["api:123456"]
    assert get(client, DATES.format(MERCHANT, "funds", WEEK[0]), tok, key).status_code == 200
    r = get(client, DATES.format(MAIN, "funds", WEEK[0]), tok, key)
    assert r.status_code == 404 and r.json()["detail"] == "No such ledgerId"


def test_requests_record_subscription_key_without_rejecting(sb, client):
    tok = token(client)
    assert get(client, "/settlement/v1/ledgers", tok, {"Ocp-Apim-Subscription-Key": "x"}).status_code == 200
    last = sb.requests[-1]
    assert (last.method, last.path, last.status, last.token) == ("GET", "/settlement/v1/ledgers", 200, tok)
    assert last.headers["ocp-apim-subscription-key"] == "x"
    assert sb.requests[0].path == "/miami/v1/token" and sb.requests[0].token is None


# -- ledgers and dates ---------------------------------------------------------


def test_ledger_paging_and_filter(sb, client):
    tok, items, cursor, pages = token(client), [], None, 0
    while True:
        body = get(client, "/settlement/v1/ledgers", tok, **({"cursor": cursor} if cursor else {})).json()
        items, cursor, pages = items + body["items"], body.get("cursor"), pages + 1
        if not cursor:
            break
    assert pages > 1 and items == sb.ledgers()
    assert {ledger["currency"] for ledger in items} == {"NOK", "DKK", "EUR"}
    body = get(client, "/settlement/v1/ledgers", tok, settlesForRecipientHandles="NO:57860").json()
    assert [ledger["ledgerId"] for ledger in body["items"]] == [MAIN]
    assert len(body["items"][0]["salesUnits"]) == 2


@pytest.mark.parametrize("ledger", [MAIN, RESERVE, MERCHANT, DANISH, EURO])
@pytest.mark.parametrize("topic", ["funds", "fees"])
def test_date_pages_reassemble_entries(make, ledger, topic):
    sb = make(page_size=7)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        for date in WEEK[-2:]:
            assert all_pages(c, tok, ledger, topic, date) == sb.entries(ledger, topic, date)


def test_cursor_is_reusable(make):
    sb = make(page_size=5)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        cursor = get(c, DATES.format(MAIN, "funds", WEEK[0]), tok).json()["cursor"]
        first = get(c, DATES.format(MAIN, "funds", WEEK[0]), tok, cursor=cursor).content
        assert get(c, DATES.format(MAIN, "funds", WEEK[0]), tok, cursor=cursor).content == first
        r = get(c, DATES.format(MAIN, "funds", WEEK[1]), tok, cursor=cursor)  # another date's cursor
        assert r.status_code == 400


def test_closed_dates_without_activity(client):
    tok = token(client)
    sunday = next(d for d in WEEK if d.weekday() == 6)
    for ledger, date in [(RESERVE, sunday), (MERCHANT, dt.date(2026, 5, 31)), (MAIN, dt.date(2020, 1, 1))]:
        body = get(client, DATES.format(ledger, "funds", date), tok).json()
        assert body == {"items": [], "hasMore": False, "tryLater": False}


def test_today_is_partial_and_try_later(sb, client):
    tok = token(client)
    body = get(client, DATES.format(MAIN, "funds", TODAY), tok).json()
    full = sb.entries(MAIN, "funds", TODAY)
    assert body["tryLater"] is True and body["hasMore"] is False
    assert 0 < len(body["items"]) < len(full) and body["items"] == full[: len(body["items"])]
    assert body["items"] == [e for e in full if e["time"] < NOON]  # what has happened by noon


def test_errors_are_problem_json(client):
    tok = token(client)
    cases = [
        (DATES.format(MAIN, "funds", TODAY + dt.timedelta(days=1)), 404, "report for this date not available yet"),
        (DATES.format("999999", "funds", WEEK[0]), 404, "No such ledgerId"),
        (DATES.format("302321.0", "funds", WEEK[0]), 404, "No such ledgerId"),
        (DATES.format(MAIN, "payouts", WEEK[0]), 400, None),
        (DATES.format(MAIN, "funds", "2026-13-01"), 400, None),
        (DATES.format(MAIN, "funds", "20261119"), 400, None),
        ("/report/v1/ledgertransactions", 404, None),
    ]
    for path, status, detail in cases:
        r = get(client, path, tok)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == status and {"type", "title", "instance"} <= body.keys()
        assert detail is None or body["detail"] == detail
    for cursor in ("bm9wZQ", "%%%", "e30", "not base64!"):  # "nope", junk, "{}", junk
        assert get(client, FEED.format(MAIN, "fees"), tok, cursor=cursor).status_code == 400
        assert get(client, DATES.format(MAIN, "funds", WEEK[0]), tok, cursor=cursor).status_code == 400
    assert client.post("/settlement/v1/ledgers").status_code == 405


# -- data facts -------------------------------------------------------------------


def test_balances_chain_across_dates(sb):
    for ledger in [entry["ledgerId"] for entry in sb.ledgers()]:
        for topic in ("funds", "fees"):
            previous = None
            for date in WEEK:
                for e in sb.entries(ledger, topic, date):
                    assert e["balanceAfter"] == e["balanceBefore"] + e["amount"]
                    assert previous is None or e["balanceBefore"] == previous
                    assert e["ledgerDate"] == date.isoformat()
                    previous = e["balanceAfter"]
    big = [e["balanceAfter"] for d in WEEK for e in sb.entries(RESERVE, "funds", d)]
    assert min(big) > 2**31


def test_week_has_every_trap(sb):
    ledgers = (MAIN, RESERVE, MERCHANT, DANISH, EURO)
    week = {(lid, t): [e for d in WEEK for e in sb.entries(lid, t, d)] for lid in ledgers for t in ("funds", "fees")}
    main = week[MAIN, "funds"]
    assert set(AWKWARD_REFERENCES) <= {e["reference"] for e in main}
    assert {0, -1, 1} <= {e["amount"] for e in main}
    assert {e["entryType"] for e in main} == {
        "capture",
        "refund",
        "fees-retained",
        "payout-scheduled",
        "correction",
        "payout-aborted",
        "top-up",
        "retained-disputed-capture",
        "returned-disputed-capture",
        "instant-payout-fee",
        "credit-note",
    }
    assert {e["entryType"] for e in week[MAIN, "fees"]} == {
        "capture-fee",
        "fees-retained",
        "service-fee",
        "credit-note",
        "correction",
    }
    assert {e["entryType"] for e in week[DANISH, "funds"]} >= {"capture", "scheduled-for-payout"}
    assert "payout-scheduled" not in {e["entryType"] for e in week[DANISH, "funds"]}
    everything = [e for entries in week.values() for e in entries]
    assert any("settlementBatch" in e for e in everything)
    assert any(e["entryType"] == "instant-payout-fee" for e in everything)
    for date in WEEK:
        funds = sb.entries(MAIN, "funds", date)
        payout, retained = funds[-1], funds[-2]
        assert payout["entryType"] == "payout-scheduled" and payout["recipientHandle"] is None
        assert payout["balanceAfter"] == 0 and re.fullmatch(r"302321-\d+", payout["pspReference"])
        assert re.fullmatch(r"Vipps utbet\. \d+ Vippsnr \d+", payout["reference"])
        assert retained["entryType"] == "fees-retained" and retained["reference"] == ""
        # Oslo is UTC+1 in late November: local midnight after the date is 23:00 UTC on it.
        assert payout["time"].startswith(f"{date.isoformat()}T23:00:00.")
        times = [e["time"] for e in funds]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times)
        fees = sb.entries(MAIN, "fees", date)
        captures = {e["pspReference"] for e in funds if e["entryType"] == "capture"}
        assert {e["pspReference"] for e in fees if e["entryType"] == "capture-fee"} == captures
        assert fees[-1]["amount"] == -retained["amount"] and fees[-1]["balanceAfter"] == 0
        # Fee-side entries not tied to a capture have pspReferences of their own.
        assert not {e["pspReference"] for e in fees if e["entryType"] != "capture-fee"} & captures


ZONES = {
    MAIN: "Europe/Oslo",
    RESERVE: "Europe/Oslo",
    MERCHANT: "Europe/Oslo",
    DANISH: "Europe/Copenhagen",
    EURO: "Europe/Helsinki",
}
SETTLEMENT = {"fees-retained", "payout-scheduled", "scheduled-for-payout", "fees-invoiced"}


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_times_lie_within_each_ledger_date_in_the_ledger_s_own_zone(sb):
    """Midnight to midnight locally, 04:00 to 04:00 on the Danish ledger; settlement just after the end."""
    spring, autumn = dt.date(2026, 3, 28), dt.date(2026, 10, 24)  # the clocks change the next night
    days = WEEK + [day + dt.timedelta(days=n) for day in (spring, autumn) for n in range(2)]
    night = []
    for ledger, name in ZONES.items():
        cutoff = dt.time(4) if ledger == DANISH else dt.time(0)
        for day in days:
            start = dt.datetime.combine(day, cutoff, tzinfo=ZoneInfo(name))
            end = dt.datetime.combine(day + dt.timedelta(days=1), cutoff, tzinfo=ZoneInfo(name))
            for topic in ("funds", "fees"):
                entries = sb.entries(ledger, topic, day)
                times = [moment(e["time"]) for e in entries]
                assert times == sorted(times)
                for e, t in zip(entries, times, strict=True):
                    if e["entryType"] in SETTLEMENT:
                        assert end <= t < end + dt.timedelta(seconds=1), (ledger, e)
                    else:
                        assert start <= t < end, (ledger, e)
                        if t.astimezone(ZoneInfo(name)).date() > day:
                            night.append(ledger)
    assert set(night) == {DANISH}  # sales after midnight belong to the day before: only with a 04:00 cutoff


def test_norwegian_payouts_without_a_usable_reference(make):
    sb = make(page_size=100)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        served = [e for d in WEEK for e in all_pages(c, tok, RESERVE, "funds", d)]
    payouts = [e for e in served if e["entryType"] == "payout-scheduled"]
    assert len(payouts) == 6  # Sundays are quiet on this ledger
    assert [e["reference"] for e in payouts].count("") >= 2 and [e["reference"] for e in payouts].count(None) >= 2
    assert all("reference" in e for e in payouts)  # null in the JSON, not left out
    assert all(
        re.fullmatch(r"0302399-\d+", e["pspReference"]) and e["balanceAfter"] == e["balanceBefore"] + e["amount"]
        for e in payouts
    )
    main = [e for d in WEEK for e in sb.entries(MAIN, "funds", d) if e["entryType"] == "payout-scheduled"]
    assert all(e["reference"].startswith("Vipps utbet. ") for e in main)  # the main ledger still has them


def test_gross_settlement_invoices_a_month_of_fees_on_its_last_date(sb):
    october = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(31)]
    fees = {day: sb.entries(EURO, "fees", day) for day in october}
    funds = {day: sb.entries(EURO, "funds", day) for day in october}
    assert "fees-retained" not in {e["entryType"] for day in october for e in fees[day] + funds[day]}
    balance = 0
    for day in october:
        for e in fees[day]:
            assert e["balanceBefore"] == balance and e["balanceAfter"] == balance + e["amount"]
            balance = e["balanceAfter"]
        if day != october[-1]:
            assert balance < 0 and "fees-invoiced" not in {e["entryType"] for e in fees[day]}
    invoice = fees[october[-1]][-1]
    month = sum(e["amount"] for day in october for e in fees[day]) - invoice["amount"]
    assert invoice["entryType"] == "fees-invoiced" and invoice["amount"] == -month > 0
    assert invoice["balanceAfter"] == 0 and invoice["reference"] == "Faktura 2026-10"
    assert sb.entries(EURO, "fees", dt.date(2026, 11, 1))[0]["balanceBefore"] == 0
    for day in october:  # the funds are paid out whole, fees not deducted
        payout = funds[day][-1]
        assert payout["entryType"] == "payout-scheduled" and payout["balanceAfter"] == 0
        assert payout["amount"] == -sum(e["amount"] for e in funds[day][:-1])


def test_a_negative_balance_lasts_weeks_until_a_top_up(sb):
    first, last = dt.date(2026, 8, 3), dt.date(2026, 9, 16)
    days = [first - dt.timedelta(days=1) + dt.timedelta(days=n) for n in range((last - first).days + 3)]
    funds = {day: sb.entries(MERCHANT, "funds", day) for day in days}
    balance = 0
    for day in days:
        for e in funds[day]:
            assert e["balanceBefore"] == balance and e["balanceAfter"] == balance + e["amount"]
            balance = e["balanceAfter"]
        kinds = [e["entryType"] for e in funds[day]]
        if first <= day < last:
            assert "payout-scheduled" not in kinds and all(e["balanceAfter"] < 0 for e in funds[day]), day
        else:
            assert kinds[-1] == "payout-scheduled" and balance == 0, day
    assert funds[first][0]["entryType"] == "refund" and funds[first][0]["balanceBefore"] == 0
    top_up = funds[last][0]
    assert top_up["entryType"] == "top-up" and top_up["balanceBefore"] < 0 and top_up["balanceAfter"] == 0
    for day in days:  # the fees side settles daily as ever
        assert sb.entries(MERCHANT, "fees", day)[-1]["balanceAfter"] == 0


def test_weekly_settlement_pays_out_a_week_on_sundays_date_and_only_when_granted(make):
    sb = make()
    assert WEEKLY not in {ledger["ledgerId"] for ledger in sb.ledgers()}
    sb.grant(WEEKLY)
    week = [dt.date(2026, 11, 9) + dt.timedelta(days=n) for n in range(7)]  # Monday to Sunday
    funds = {day: sb.entries(WEEKLY, "funds", day) for day in week}
    balance = 0
    for day in week:
        for e in funds[day]:
            assert e["balanceBefore"] == balance and e["balanceAfter"] == balance + e["amount"]
            balance = e["balanceAfter"]
        kinds = {e["entryType"] for e in funds[day]}
        assert kinds <= {"capture", "refund", "fees-retained", "payout-scheduled"}  # none of the rarer types
        assert ("payout-scheduled" in kinds) == (day == week[-1]) and funds[day][-1]["balanceAfter"] == balance
    payout = funds[week[-1]][-1]
    assert payout["balanceAfter"] == 0 and payout["pspReference"].startswith(f"{WEEKLY}-")
    sales = [e for day in week for e in funds[day] if e["entryType"] == "capture"]
    vippsnummer = [e for e in sales if e["recipientHandle"] == "NO:70123"]
    assert any(e["reference"] is None for e in vippsnummer)
    assert all(e["reference"] for e in sales if e not in vippsnummer)


def test_gdpr_fields_only_on_request(client):
    tok, date = token(client), WEEK[0]
    plain = get(client, DATES.format(MAIN, "funds", date), tok).json()["items"]
    assert not any("name" in e for e in plain)
    rich = get(client, DATES.format(MAIN, "funds", date), tok, includeGDPRSensitiveData="true")
    rich = rich.json()["items"]
    captures = [e for e in rich if e["entryType"] == "capture"]
    assert captures and all(
        re.fullmatch(r"xxxx \d{4}", e["maskedPhoneNo"]) and "name" in e and "message" in e for e in captures
    )
    assert "name" not in rich[-1]  # the payout
    api_unit = get(client, DATES.format(MERCHANT, "funds", date), tok, includeGDPRSensitiveData="true").json()
    assert not any("name" in e for e in api_unit["items"])


def test_same_inputs_same_bytes(make):
    bodies = []
    for _ in range(2):
        sb = make(page_size=10)
        with httpx.Client(base_url=sb.base_url) as c:
            tok = token(c)
            paths = [
                DATES.format(MAIN, "funds", WEEK[2]),
                DATES.format(EURO, "fees", WEEK[3]),
                FEED.format(RESERVE, "funds"),
                "/settlement/v1/ledgers",
            ]
            bodies.append([get(c, p, tok).content for p in paths])
    assert bodies[0] == bodies[1]


# -- feed ---------------------------------------------------------------------------


def walk_feed(c: httpx.Client, tok: str, ledger: str, cursor: str | None) -> tuple[list[dict], str]:
    """Items up to the end of the feed and the cursor it ends on."""
    items = []
    while True:
        body = get(c, FEED.format(ledger, "funds"), tok, **({"cursor": cursor} if cursor else {})).json()
        assert "hasMore" not in body and body["cursor"]
        items += body["items"]
        if body["tryLater"] and not body["items"]:
            assert body["cursor"] == cursor
            return items, cursor
        cursor = body["cursor"]


def test_feed_walks_to_the_end_and_continues(make):
    start = dt.date(2026, 6, 1)  # the merchant ledger's first data date
    sb = make(today=start + dt.timedelta(days=9), page_size=40)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        items, cursor = walk_feed(c, tok, MERCHANT, None)
        closed = [e for i in range(9) for e in sb.entries(MERCHANT, "funds", start + dt.timedelta(days=i))]
        today = get(c, DATES.format(MERCHANT, "funds", sb.today), tok).json()["items"]
        assert items == closed + today and today
        again = get(c, FEED.format(MERCHANT, "funds"), tok, cursor=cursor).json()
        assert again == {"items": [], "cursor": cursor, "tryLater": True}

        sb.today += dt.timedelta(days=2)
        more, _ = walk_feed(c, tok, MERCHANT, cursor)
        newest = get(c, DATES.format(MERCHANT, "funds", sb.today), tok).json()["items"]
        later = [e for i in range(9, 11) for e in sb.entries(MERCHANT, "funds", start + dt.timedelta(days=i))]
        assert items + more == closed + later + newest


# -- grants and added ledgers --------------------------------------------------------


def listed(c: httpx.Client, tok: str, headers: dict | None = None) -> list[dict]:
    items, cursor = [], None
    while True:
        body = get(c, "/settlement/v1/ledgers", tok, headers, **({"cursor": cursor} if cursor else {})).json()
        items, cursor = items + body["items"], body.get("cursor")
        if not cursor:
            return items


def test_withdraw_grant_and_add_ledger_over_http(sb, client):
    tok = token(client)
    sb.withdraw(RESERVE)
    assert [ledger["ledgerId"] for ledger in listed(client, tok)] == [MAIN, MERCHANT, DANISH, EURO]
    for path in (DATES.format(RESERVE, "funds", WEEK[0]), FEED.format(RESERVE, "fees")):
        r = get(client, path, tok)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "No such ledgerId"
    sb.grant(RESERVE)
    assert get(client, DATES.format(RESERVE, "funds", WEEK[0]), tok).status_code == 200
    hostile = ["../evil", "a/b", "..", "C:\\con", "x\x00y", "æ ø"]
    for ledger_id in hostile:
        sb.add_ledger(ledger_id)
    items = listed(client, tok)
    assert [ledger["ledgerId"] for ledger in items] == [MAIN, MERCHANT, DANISH, EURO, RESERVE, *hostile]
    assert items == sb.ledgers()
    assert items[-1]["salesUnits"] == items[0]["salesUnits"]  # made like the main ledger


def test_added_ledger_has_data_of_its_own(make):
    sb = make(page_size=9)
    added = sb.add_ledger("4000001", like=EURO)
    assert added["currency"] == "EUR" and added["ledgerId"] == "4000001"
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        for topic in ("funds", "fees"):
            assert all_pages(c, tok, "4000001", topic, WEEK[0]) == sb.entries("4000001", topic, WEEK[0])
    new = [e for d in WEEK for e in sb.entries("4000001", "funds", d)]
    old = [e for d in WEEK for e in sb.entries(EURO, "funds", d)]
    assert new and new != old and EURO not in str(new)
    assert not {e["pspReference"] for e in new} & {e["pspReference"] for e in old}
    assert all(e["pspReference"].startswith("4000001-") for e in new if e["entryType"] == "payout-scheduled")
    previous = None
    for e in new:
        assert previous is None or e["balanceBefore"] == previous
        previous = e["balanceAfter"]


def test_merchant_keeps_its_own_ledger_only(sb, client):
    tok, key = merchant_token(client), {"Ocp-Apim-Subscription-Key": MERCHANT_CLIENT[2]}
    sb.add_ledger("4000002", like=MERCHANT)
    assert [ledger["ledgerId"] for ledger in listed(client, tok, key)] == [MERCHANT]
    assert get(client, DATES.format("4000002", "funds", WEEK[0]), tok, key).status_code == 404
    sb.withdraw(MERCHANT)
    assert listed(client, tok, key) == []
    assert get(client, DATES.format(MERCHANT, "funds", WEEK[0]), tok, key).status_code == 404
    assert get(client, DATES.format("4000002", "funds", WEEK[0]), token(client)).status_code == 200


def test_grants_are_per_sandbox(make):
    first, second = make(ledger_ids=[EURO, MAIN]), make()
    first.withdraw(MAIN)
    first.add_ledger("4000003")
    assert [ledger["ledgerId"] for ledger in first.ledgers()] == [EURO, "4000003"]
    assert [ledger["ledgerId"] for ledger in second.ledgers()] == [MAIN, RESERVE, MERCHANT, DANISH, EURO]
    with pytest.raises(KeyError):
        second.grant("4000003")
    with pytest.raises(ValueError, match="already exists"):
        first.add_ledger(EURO)
    with pytest.raises(KeyError):
        Sandbox(ledger_ids=["999"])


# -- big dates ------------------------------------------------------------------------


def check_chain(entries: list[dict], opening: int) -> None:
    balance = opening
    for e in entries:
        assert e["balanceBefore"] == balance and e["balanceAfter"] == balance + e["amount"]
        balance = e["balanceAfter"]
    assert balance == opening


def test_big_date_pages_equal_iter_entries(make):
    date = WEEK[-1]
    sb = make(page_size=100, big_dates={(MAIN, "funds", date): 5000})
    sb.set_volume(RESERVE, "fees", date.isoformat(), 777)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        served = all_pages(c, tok, MAIN, "funds", date)
        assert served == list(sb.iter_entries(MAIN, "funds", date)) == sb.entries(MAIN, "funds", date)
        rich = get(c, DATES.format(MAIN, "funds", date), tok, includeGDPRSensitiveData="true").json()["items"]
        assert rich == list(sb.iter_entries(MAIN, "funds", date, gdpr=True))[:100]
        fees = all_pages(c, tok, RESERVE, "fees", date)
        assert fees == list(sb.iter_entries(RESERVE, "fees", date))
        assert all_pages(c, tok, MAIN, "fees", date) == sb.entries(MAIN, "fees", date)  # not big: as before
    assert len(served) == 5000 and len(fees) == 777
    check_chain(served, 0)
    check_chain(fees, 0)
    assert all("name" in e for e in rich if e["entryType"] in ("capture", "refund"))
    normal = [e for d in WEEK for e in sb.entries(MAIN, "funds", d) if d != date]
    assert {frozenset(e) for e in served} <= {frozenset(e) for e in normal}
    assert {e["entryType"] for e in served} == {"capture", "refund", "payout-scheduled"}
    assert served[-1]["entryType"] == "payout-scheduled" and served[-1]["time"].startswith(f"{date}T23:00:00.")
    assert set(AWKWARD_REFERENCES) <= {e["reference"] for e in served}
    assert {e["entryType"] for e in fees} == {"capture-fee", "fees-retained"}
    times = [e["time"] for e in served]
    assert times == sorted(times) and len(set(times)) == len(times) == 5000
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in times)
    assert {e["ledgerDate"] for e in served} == {date.isoformat()}
    assert len({e["pspReference"] for e in served}) == 5000


def test_big_date_in_the_feed_and_open_today(make):
    start = dt.date(2026, 6, 1)
    sb = make(today=start + dt.timedelta(days=2), page_size=100)
    sb.set_volume(MERCHANT, "funds", start + dt.timedelta(days=1), 450)
    sb.set_volume(MERCHANT, "funds", sb.today, 301)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        items, _ = walk_feed(c, tok, MERCHANT, None)
        open_ = get(c, DATES.format(MERCHANT, "funds", sb.today), tok).json()
    closed = [e for d in range(2) for e in sb.iter_entries(MERCHANT, "funds", start + dt.timedelta(days=d))]
    noon = "2026-06-03T10:00:00.000000Z"  # Oslo is UTC+2 in June
    today = [e for e in sb.iter_entries(MERCHANT, "funds", sb.today) if e["time"] < noon]
    assert 100 < len(today) < 300  # business hours begin at 06:00: a third of them by noon
    assert open_["tryLater"] is True and open_["items"] == today[:100]
    assert items == closed + today


def test_big_date_is_generated_a_page_at_a_time(make):
    date = WEEK[-1]
    sb = make(page_size=1000, big_dates={(MAIN, "funds", date): 200_000})
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        cursor = get(c, DATES.format(MAIN, "funds", date), tok).json()["cursor"]  # the pattern table is made
        tracemalloc.start()  # traces the server's threads too
        try:
            raw = get(c, DATES.format(MAIN, "funds", date), tok, cursor=cursor).content
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    body = json.loads(raw)
    assert len(body["items"]) == 1000 and body["hasMore"]
    # One page is about 3 MB as dicts plus its JSON, whatever the date's size; all 200,000 entries: ~250 MB.
    assert peak < 6_000_000
    assert body["items"][0] == next(itertools.islice(sb.iter_entries(MAIN, "funds", date), 1000, None))


def test_big_dates_are_deterministic(make):
    bodies = []
    for _ in range(2):
        sb = make(page_size=50, big_dates={(EURO, "funds", WEEK[0]): 1234})
        sb.add_ledger("../evil")
        with httpx.Client(base_url=sb.base_url) as c:
            tok = token(c)
            cursor = get(c, DATES.format(EURO, "funds", WEEK[0]), tok).json()["cursor"]
            paths = [(DATES.format(EURO, "funds", WEEK[0]), {"cursor": cursor}), ("/settlement/v1/ledgers", {})]
            bodies.append([get(c, path, tok, **params).content for path, params in paths])
            bodies[-1].append(sb.entries("../evil", "funds", WEEK[0]))
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((MAIN, "payouts", WEEK[0], 10), ValueError),
        ((MAIN, "funds", WEEK[0], -1), ValueError),
        (("999", "funds", WEEK[0], 10), KeyError),
    ],
)
def test_set_volume_refuses(sb, args, error):
    with pytest.raises(error):
        sb.set_volume(*args)


# -- faults -------------------------------------------------------------------------


def test_429_on_nth_matching_request(make):
    sb = make(faults=[parse_fault("429:path=/dates/,nth=2,retry-after=3")])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        statuses = [get(c, DATES.format(MAIN, "funds", d), tok) for d in WEEK[:3]]
        assert [r.status_code for r in statuses] == [200, 429, 200]
        assert statuses[1].headers["retry-after"] == "3"


@pytest.mark.parametrize(
    ("spec", "statuses"),
    [
        ("500:path=/ledgers,count=2", [500, 500, 200, 200]),
        ("503:nth=2,count=0", [200, 503, 503, 503]),
        ("503:path=/settlement/", [503, 200, 200, 200]),
    ],
)
def test_server_errors_and_counts(make, spec, statuses):
    sb = make()
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        sb.add_fault(spec)
        assert [get(c, "/settlement/v1/ledgers", tok).status_code for _ in statuses] == statuses


def test_faults_come_before_auth_and_skip_unknown_paths(make):
    sb = make(faults=["503"])
    with httpx.Client(base_url=sb.base_url) as c:
        assert c.get("/nowhere").status_code == 404  # not a known path: not counted
        assert c.get("/settlement/v1/ledgers").status_code == 503  # no token, still the fault
        assert c.get("/settlement/v1/ledgers").status_code == 401


def test_a_404_fault_is_a_date_not_served(make):
    sb = make(faults=[f"404:path=/{EURO}/funds/dates/2026-11-10,count=0"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        for _ in range(2):
            answer = get(c, f"/report/v2/ledgers/{EURO}/funds/dates/2026-11-10", tok)
            assert answer.status_code == 404 and "not available yet" in answer.json()["detail"]
        assert get(c, f"/report/v2/ledgers/{EURO}/fees/dates/2026-11-10", tok).status_code == 200


def test_drop_closes_without_answer(make):
    sb = make(faults=["drop:path=/feed"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        with pytest.raises(httpx.TransportError):
            get(c, FEED.format(MAIN, "funds"), tok)
        assert sb.requests[-1].status == 0
        assert get(c, FEED.format(MAIN, "funds"), tok).status_code == 200


def test_slow_and_latency_use_injected_sleep(make, clock):
    sb = make(latency_ms=250, faults=["slow:ms=1500,path=/ledgers"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        assert get(c, "/settlement/v1/ledgers", tok).status_code == 200
    assert clock.slept == [0.25, 0.25, 1.5]


def test_401_fault_once(make):
    sb = make(faults=["401:path=/dates/"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        r = get(c, DATES.format(MAIN, "fees", WEEK[0]), tok)
        assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
        assert get(c, DATES.format(MAIN, "fees", WEEK[0]), tok).status_code == 200


def test_empty_page_leads_to_same_position(make):
    sb = make(page_size=10, faults=["empty-page:nth=2,path=/dates/", "empty-page:path=/feed"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        assert all_pages(c, tok, MAIN, "funds", WEEK[0]) == sb.entries(MAIN, "funds", WEEK[0])
        feed = get(c, FEED.format(MAIN, "funds"), tok).json()
        assert feed["items"] == [] and feed["tryLater"] is False
        follow = get(c, FEED.format(MAIN, "funds"), tok, cursor=feed["cursor"]).json()
        assert follow == get(c, FEED.format(MAIN, "funds"), tok).json()
        assert any(r.status == 200 and r.query.get("cursor") for r in sb.requests)


def test_repeat_cursor_returns_request_cursor(make):
    sb = make(page_size=5, faults=["repeat-cursor:path=/dates/"])
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        first = get(c, DATES.format(MAIN, "funds", WEEK[0]), tok).json()  # no cursor: not matched
        second = get(c, DATES.format(MAIN, "funds", WEEK[0]), tok, cursor=first["cursor"]).json()
        assert second["cursor"] == first["cursor"] and second["hasMore"] is True
        third = get(c, DATES.format(MAIN, "funds", WEEK[0]), tok, cursor=first["cursor"]).json()
        assert third["cursor"] != first["cursor"]


def test_parse_fault_defaults_and_keys():
    assert parse_fault("drop") == Fault("drop")
    fault = parse_fault("429:path=/dates/,nth=2,count=0,retry-after=7")
    assert (fault.kind, fault.path, fault.nth, fault.count, fault.retry_after) == ("429", "/dates/", 2, 0, 7)
    assert parse_fault("slow:ms=10").ms == 10 and parse_fault("slow").ms == 2000


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "teapot",
        "429:nth=0",
        "429:nth=x",
        "500:retry-after=1",
        "slow:ms=-1",
        "429:path",
        "429:nth=1,nth=2",
        "drop:path=",
        "500:bogus=1",
    ],
)
def test_parse_fault_rejects(spec):
    with pytest.raises(ValueError) as info:
        parse_fault(spec)
    assert "\n" not in str(info.value) and "fault" in str(info.value)


# -- command line (the demo: test_demo.py) ------------------------------------------------


def test_cli_bad_fault(capsys):
    assert sandbox_main(["--fault", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown kind" in err


def test_cli_serves_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.sandbox", "--port", "0", "--today", "2026-11-20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        with httpx.Client(base_url=url) as c:
            assert (
                c.post("/miami/v1/token", auth=ACCOUNTING_CLIENT, data={"grant_type": "client_credentials"}).status_code
                == 200
            )
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0 and "Traceback" not in err
    assert f"VIPPS_BASE_URL={url} VIPPS_CLIENT_ID=sandbox-client" in first + out


# -- corrupted dates ------------------------------------------------------------------

PAYOUTS = ("payout-scheduled", "scheduled-for-payout")


def defects_of(entries: list[dict]) -> dict[str, object]:
    """Which reconciliation checks fail, and where (0-based positions), by plain arithmetic."""
    paid = [i for i, e in enumerate(entries) if e["entryType"] in PAYOUTS]
    return {
        "balance": [i for i, e in enumerate(entries) if e["balanceAfter"] != e["balanceBefore"] + e["amount"]],
        "chain": [i for i in range(1, len(entries)) if entries[i]["balanceBefore"] != entries[i - 1]["balanceAfter"]],
        "sums": sum(e["amount"] for e in entries) == entries[-1]["balanceAfter"] - entries[0]["balanceBefore"],
        "after payout": list(range(paid[0] + 1, len(entries))) if paid else [],
    }


def changed(before: list[dict], after: list[dict]) -> dict[int, dict]:
    """Per position, the fields whose values differ: {field: (old, new)}."""
    assert len(before) == len(after)
    diffs = {}
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        assert old.keys() == new.keys()
        if fields := {k: (old[k], new[k]) for k in old if old[k] != new[k]}:
            diffs[i] = fields
    return diffs


@pytest.mark.parametrize(("ledger", "topic"), [(MAIN, "funds"), (MAIN, "fees"), (RESERVE, "funds")])
@pytest.mark.parametrize("kind", ["balance", "chain", "amount"])
def test_corrupt_middle_entry(make, kind, ledger, topic):
    date = WEEK[-1]
    sb = make(page_size=7)
    pristine = sb.entries(ledger, topic, date)
    sb.corrupt(ledger, topic, date, kind)
    with httpx.Client(base_url=sb.base_url) as c:
        served = all_pages(c, token(c), ledger, topic, date)
    assert served == sb.entries(ledger, topic, date) == list(sb.iter_entries(ledger, topic, date))
    assert defects_of(pristine) == {"balance": [], "chain": [], "sums": True, "after payout": []}
    m = len(served) // 2
    old = pristine[m]
    if kind == "balance":
        assert changed(pristine, served) == {m: {"balanceAfter": (old["balanceAfter"], old["balanceAfter"] + 1)}}
        assert served[m + 1]["balanceBefore"] == served[m]["balanceBefore"] + served[m]["amount"]
        assert defects_of(served) == {"balance": [m], "chain": [m + 1], "sums": True, "after payout": []}
    elif kind == "amount":
        assert changed(pristine, served) == {m: {"amount": (old["amount"], old["amount"] + 100)}}
        assert defects_of(served) == {"balance": [m], "chain": [], "sums": False, "after payout": []}
    else:
        shifted = {k: (old[k], old[k] + 100) for k in ("balanceBefore", "balanceAfter")}
        assert changed(pristine, served) == {m: shifted}
        assert defects_of(served) == {"balance": [], "chain": [m, m + 1], "sums": True, "after payout": []}


def test_corrupt_lone_surrogate(make):
    date = WEEK[-1]
    sb = make(page_size=1000)
    pristine = sb.entries(MAIN, "funds", date)
    sb.corrupt(MAIN, "funds", date, "lone-surrogate")
    with httpx.Client(base_url=sb.base_url) as c:
        body = get(c, DATES.format(MAIN, "funds", date), token(c)).content
    served = json.loads(body)["items"]
    m = len(served) // 2
    assert served == sb.entries(MAIN, "funds", date)
    reference = pristine[m]["reference"]
    assert changed(pristine, served) == {m: {"reference": (reference, f"{reference} \ud83d")}}
    # Only an escape carries it, and with it the reply escapes all non-ASCII text (read back intact above).
    assert body.isascii() and body.count(b' \\ud83d"') == 1
    assert defects_of(served) == {"balance": [], "chain": [], "sums": True, "after payout": []}


def test_corrupt_payout_not_last(make):
    date = WEEK[-1]
    sb = make(page_size=5)
    pristine = sb.entries(DANISH, "funds", date)  # the old payout type name
    sb.corrupt(DANISH, "funds", date, "payout-not-last")
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        served = all_pages(c, tok, DANISH, "funds", date)
        rich = all_pages(c, tok, DANISH, "funds", date, includeGDPRSensitiveData="true")
    assert served == sb.entries(DANISH, "funds", date)
    assert rich == sb.entries(DANISH, "funds", date, gdpr=True) != served
    n = len(served)
    payout, last = pristine[-1], pristine[-2]
    assert payout["entryType"] == "scheduled-for-payout" and last["entryType"] == "fees-retained"
    assert served[:-2] == pristine[:-2]
    start = last["balanceBefore"]
    assert served[-2] == {
        **payout,
        "time": last["time"],
        "balanceBefore": start,
        "balanceAfter": start + payout["amount"],
    }
    assert served[-1] == {
        **last,
        "time": payout["time"],
        "balanceBefore": start + payout["amount"],
        "balanceAfter": start + payout["amount"] + last["amount"],
    }
    assert served[-1]["balanceAfter"] == pristine[-1]["balanceAfter"]  # closing balance unchanged
    assert [e["time"] for e in served] == sorted(e["time"] for e in served)
    assert defects_of(served) == {"balance": [], "chain": [], "sums": True, "after payout": [n - 1]}


def test_corruption_stays_on_its_date_topic_and_sandbox(make):
    date = WEEK[3]
    sb = make(corruptions={(MAIN, "funds", date.isoformat()): "chain"})
    other = make()
    for ledger in (MAIN, RESERVE, EURO):
        for topic in ("funds", "fees"):
            for day in WEEK:
                if (ledger, topic, day) != (MAIN, "funds", date):
                    assert sb.entries(ledger, topic, day) == other.entries(ledger, topic, day)
    assert sb.entries(MAIN, "funds", date) != other.entries(MAIN, "funds", date)
    other.corrupt(MAIN, "funds", date, "chain")  # the constructor option and the method agree
    assert sb.entries(MAIN, "funds", date) == other.entries(MAIN, "funds", date)
    other.corrupt(MAIN, "funds", date, "balance")  # a later call replaces the defect
    assert defects_of(other.entries(MAIN, "funds", date))["balance"] == [len(sb.entries(MAIN, "funds", date)) // 2]


def test_feed_serves_corrupted_dates(make):
    start = dt.date(2026, 6, 1)
    sb = make(today=start + dt.timedelta(days=4), page_size=9)
    sb.corrupt(MERCHANT, "funds", start + dt.timedelta(days=1), "balance")
    sb.corrupt(MERCHANT, "funds", start + dt.timedelta(days=2), "payout-not-last")
    sb.corrupt(MERCHANT, "fees", start + dt.timedelta(days=2), "chain")
    sb.corrupt(MERCHANT, "funds", sb.today, "chain")  # the open date: a prefix of the closed one
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        items, _ = walk_feed(c, tok, MERCHANT, None)
        open_ = all_pages(c, tok, MERCHANT, "funds", sb.today)
    closed = [e for d in range(4) for e in sb.entries(MERCHANT, "funds", start + dt.timedelta(days=d))]
    assert items == closed + open_
    assert open_ and open_ == sb.entries(MERCHANT, "funds", sb.today)[: len(open_)]
    found = [defects_of(sb.entries(MERCHANT, "funds", start + dt.timedelta(days=d))) for d in range(4)]
    assert [bool(f["balance"]) for f in found] == [False, True, False, False]
    assert [bool(f["after payout"]) for f in found] == [False, False, True, False]


def test_corrupted_big_date_is_still_paged(make):
    date = WEEK[-1]
    sb = make(
        page_size=100,
        big_dates={(MAIN, "funds", date): 2500, (MAIN, "fees", date): 2001},
        corruptions={(MAIN, "funds", date): "payout-not-last", (MAIN, "fees", date): "chain"},
    )
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        funds = all_pages(c, tok, MAIN, "funds", date)
        fees = all_pages(c, tok, MAIN, "fees", date)
    assert funds == list(sb.iter_entries(MAIN, "funds", date)) and len(funds) == 2500
    assert fees == list(sb.iter_entries(MAIN, "fees", date)) and len(fees) == 2001
    assert funds[-2]["entryType"] == "payout-scheduled" and funds[-1]["entryType"] in ("capture", "refund")
    assert defects_of(funds) == {"balance": [], "chain": [], "sums": True, "after payout": [2499]}
    assert defects_of(fees) == {"balance": [], "chain": [1000, 1001], "sums": True, "after payout": []}
    with pytest.raises(ValueError, match="3 entries"):
        sb.set_volume(MAIN, "fees", date, 2)  # the date keeps its defect, which no longer fits
    assert len(sb.entries(MAIN, "fees", date)) == 2001


def test_corrupted_dates_are_deterministic(make):
    bodies = []
    for _ in range(2):
        sb = make(page_size=50, corruptions={(EURO, "funds", WEEK[2]): "balance"})
        sb.corrupt(EURO, "fees", WEEK[2], "chain")
        with httpx.Client(base_url=sb.base_url) as c:
            tok = token(c)
            bodies.append([get(c, DATES.format(EURO, topic, WEEK[2]), tok).content for topic in ("funds", "fees")])
    assert bodies[0] == bodies[1]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((MAIN, "funds", WEEK[0], "sums"), ValueError, "by construction"),
        ((MAIN, "funds", WEEK[0], "typo"), ValueError, "one of"),
        ((MAIN, "payouts", WEEK[0], "chain"), ValueError, "topic"),
        (("999", "funds", WEEK[0], "chain"), KeyError, "no ledger"),
        ((MAIN, "fees", WEEK[0], "payout-not-last"), ValueError, "funds"),
        ((MAIN, "funds", dt.date(2023, 12, 31), "balance"), ValueError, "no entries"),
        ((RESERVE, "funds", dt.date(2026, 11, 15), "chain"), ValueError, "no entries"),  # a quiet Sunday
    ],
)
def test_corrupt_refuses(sb, args, error, message):
    with pytest.raises(error, match=message):
        sb.corrupt(*args)
    assert defects_of(sb.entries(MAIN, "funds", WEEK[0]))["chain"] == []


def test_served_entries_are_paged_as_written_and_open_dates_serve_what_happened_so_far(make):
    written = [
        {
            "pspReference": f"p{n}",
            "time": f"{TODAY}T{8 + n:02d}:00:00Z",
            "ledgerDate": str(TODAY),
            "entryType": "capture",
            "reference": None,
            "currency": "NOK",
            "amount": 5,
            "balanceBefore": 999,
            "balanceAfter": 0,
            "recipientHandle": None,
        }
        for n in range(5)
    ]  # balances as written, wrong or not
    sb = make(page_size=2)  # noon on TODAY: the date is open, entries stamped after 11:00 UTC not there yet
    sb.serve_entries(MAIN, "funds", WEEK[-1], [{**e, "ledgerDate": str(WEEK[-1])} for e in written])
    sb.serve_entries(MAIN, "funds", TODAY, written)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        closed = all_pages(c, tok, MAIN, "funds", WEEK[-1])
        so_far = all_pages(c, tok, MAIN, "funds", TODAY)
    assert closed == sb.entries(MAIN, "funds", WEEK[-1]) == [{**e, "ledgerDate": str(WEEK[-1])} for e in written]
    assert so_far == written[:3] and sb.entries(MAIN, "funds", TODAY) == written
    written[0]["amount"] = 7  # the sandbox kept its own copy
    assert sb.entries(MAIN, "funds", TODAY)[0]["amount"] == 5


def test_corrupt_refuses_dates_too_small(sb):
    sb.set_volume(MAIN, "funds", WEEK[0], 2)
    sb.set_volume(MAIN, "fees", WEEK[0], 3)
    with pytest.raises(ValueError, match="3 entries"):
        sb.corrupt(MAIN, "funds", WEEK[0], "balance")
    sb.corrupt(MAIN, "funds", WEEK[0], "payout-not-last")  # two entries suffice for this one
    sb.corrupt(MAIN, "fees", WEEK[0], "balance")
    assert defects_of(sb.entries(MAIN, "funds", WEEK[0]))["after payout"] == [1]
    assert defects_of(sb.entries(MAIN, "fees", WEEK[0]))["balance"] == [1]
    sb.set_volume(MAIN, "funds", WEEK[1], 1)
    with pytest.raises(ValueError, match="no payout"):
        sb.corrupt(MAIN, "funds", WEEK[1], "payout-not-last")
    with pytest.raises(ValueError, match="7778881 on 2025-01-01 has no entries"):
        Sandbox(today=TODAY, corruptions={(EURO, "funds", "2025-01-01"): "chain"})


# -- the exporter against the announced token path ----------------------------------------


def test_the_exporter_gets_a_token_at_authentication_v1_only_where_it_is_served(
    make_sandbox, use_sandbox, run_cli, workdir, monkeypatch
):
    monkeypatch.setenv("VIPPS_TOKEN_PATH", "/authentication/v1/token")  # as a user may configure it one day
    args = ("run", "--ledger", MAIN, "--topic", "funds", "--format", "csv")
    default = make_sandbox()
    use_sandbox(default)
    refused = run_cli(*args)
    assert refused.code == AuthError.exit_code and "no token endpoint" in refused.err, refused.err
    assert [(r.path, r.status) for r in default.requests] == [("/authentication/v1/token", 404)]
    assert not list(workdir.rglob("*.csv"))
    served = make_sandbox(authentication_v1=True)
    use_sandbox(served)
    done = run_cli(*args)
    assert done.code == 0, done.err
    assert served.requests[0].path == "/authentication/v1/token" and served.requests[0].status == 200
    assert (workdir / "reports" / MAIN / "funds" / f"{MAIN}_funds_{TODAY - dt.timedelta(days=1)}.csv").exists()
