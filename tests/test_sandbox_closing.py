"""The sandbox's clock over real HTTP: yesterday open until the closing hour in each ledger's own zone,
a ledger whose dates run 04:00-04:00, and a negative balance that keeps dates open for weeks."""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import sys
from zoneinfo import ZoneInfo

import httpx
import pytest
from test_sandbox import DATES, all_pages, get, token, walk_feed

from jobs.sandbox import ACCOUNTING_CLIENT, Sandbox
from jobs.sandbox.__main__ import main as sandbox_main

MAIN, MERCHANT, DANISH, EURO = "302321", "412345", "5551234", "7778881"
OSLO, COPENHAGEN, HELSINKI = ZoneInfo("Europe/Oslo"), ZoneInfo("Europe/Copenhagen"), ZoneInfo("Europe/Helsinki")
DAY = dt.timedelta(days=1)
D = dt.date(2026, 11, 20)  # "yesterday" below; every zone here is UTC+1 or UTC+2 in November


def at(day: dt.date, hour: int, minute: int = 0, zone: ZoneInfo = OSLO) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page(c: httpx.Client, tok: str, ledger: str, day: dt.date, topic: str = "funds") -> httpx.Response:
    return get(c, DATES.format(ledger, topic, day), tok)


def served(c: httpx.Client, tok: str, ledger: str, day: dt.date) -> tuple[bool, list[dict]]:
    """(tryLater, every item over all pages) of a date that exists."""
    first = page(c, tok, ledger, day)
    assert first.status_code == 200, first.text
    return first.json()["tryLater"], all_pages(c, tok, ledger, "funds", day)


@pytest.fixture
def clocked(make_sandbox):
    def make(now: dt.datetime, **options) -> Sandbox:
        return make_sandbox(today=None, now=now, page_size=100, **options)

    return make


def test_yesterday_stays_open_until_06_00_in_each_ledger_s_zone(clocked):
    sb = clocked(at(D + DAY, 0, 30))  # 00:30 in Oslo and Copenhagen, 01:30 in Helsinki
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        for ledger in (MAIN, EURO):  # midnight cutoff: yesterday has ended, every entry is there, not closed
            assert served(c, tok, ledger, D) == (True, sb.entries(ledger, "funds", D))
            assert served(c, tok, ledger, D + DAY) == (True, [])  # today: nothing sold before 06:00
            assert page(c, tok, ledger, D + 2 * DAY).status_code == 404
            assert served(c, tok, ledger, D - DAY) == (False, sb.entries(ledger, "funds", D - DAY))
        # 04:00 cutoff: at 00:30 the Danish ledger's date D is still in progress, and D + 1 not begun.
        later, so_far = served(c, tok, DANISH, D)
        full = sb.entries(DANISH, "funds", D)
        assert later is True and so_far == [e for e in full if e["time"] < utc(at(D + DAY, 0, 30, COPENHAGEN))]
        assert 0 < len(so_far) < len(full)
        assert page(c, tok, DANISH, D + DAY).status_code == 404

        sb.now = at(D + DAY, 5, 30)  # 06:30 in Helsinki: closed there; the Danish date ended at 04:00
        assert served(c, tok, EURO, D)[0] is False
        assert served(c, tok, MAIN, D)[0] is True
        assert served(c, tok, DANISH, D) == (True, full)
        assert served(c, tok, DANISH, D + DAY) == (True, [])

        sb.now = at(D + DAY, 6)
        for ledger in (MAIN, EURO, DANISH):
            assert served(c, tok, ledger, D) == (False, sb.entries(ledger, "funds", D)), ledger
        fees_now = page(c, tok, MAIN, D, "fees").json()
        assert fees_now["tryLater"] is False  # both topics close together


def test_the_closing_hour_is_configurable(clocked):
    late, early = clocked(at(D + DAY, 8, 59), closing_hour=9), clocked(at(D + DAY, 0), closing_hour=0)
    assert late.closes_at(MAIN, D) == at(D + DAY, 9)
    assert early.closes_at(MAIN, D) == at(D + DAY, 0)
    assert early.closes_at(DANISH, D) == at(D + DAY, 4, zone=COPENHAGEN)  # never before the date ends
    assert late.closes_at(EURO, D) == at(D + DAY, 9, zone=HELSINKI)
    with httpx.Client(base_url=late.base_url) as c:
        tok = token(c)
        assert page(c, tok, MAIN, D).json()["tryLater"] is True
        late.now = at(D + DAY, 9)
        assert page(c, tok, MAIN, D).json()["tryLater"] is False
    with httpx.Client(base_url=early.base_url) as c:
        tok = token(c)
        assert page(c, tok, MAIN, D).json()["tryLater"] is False  # closed the moment it ended
        assert page(c, tok, DANISH, D).json()["tryLater"] is True  # still in progress until 04:00
        early.now = at(D + DAY, 4, zone=COPENHAGEN)
        assert page(c, tok, DANISH, D).json()["tryLater"] is False


def test_the_feed_serves_what_has_happened_by_the_clock(clocked):
    sb = clocked(at(D + DAY, 0, 30))
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        items, cursor = walk_feed(c, tok, MERCHANT, None)  # yesterday has ended: all of it, today nothing yet
        assert items[-len(sb.entries(MERCHANT, "funds", D)) :] == sb.entries(MERCHANT, "funds", D)
        sb.now = at(D + DAY, 10)
        more, _ = walk_feed(c, tok, MERCHANT, cursor)
    today = sb.entries(MERCHANT, "funds", D + DAY)
    assert more == [e for e in today if e["time"] < utc(at(D + DAY, 10))] and 0 < len(more) < len(today)


def test_a_negative_balance_keeps_its_dates_open_for_weeks(clocked):
    first, last = dt.date(2026, 8, 3), dt.date(2026, 9, 16)
    sb = clocked(at(dt.date(2026, 9, 1), 12))
    assert sb.closes_at(MERCHANT, first) == sb.closes_at(MERCHANT, last) == at(last + DAY, 6)
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)
        assert served(c, tok, MERCHANT, first - DAY) == (False, sb.entries(MERCHANT, "funds", first - DAY))
        for day in (first, first + 10 * DAY, dt.date(2026, 8, 31)):
            open_, items = served(c, tok, MERCHANT, day)
            assert open_ is True and items == sb.entries(MERCHANT, "funds", day)
            assert items[-1]["balanceAfter"] < 0
        assert page(c, tok, MAIN, first).json()["tryLater"] is False  # other ledgers close as ever
        sb.now = at(last + DAY, 5, 59)
        assert page(c, tok, MERCHANT, first).json()["tryLater"] is True  # 45 days later, still open
        sb.now = at(last + DAY, 6)
        for day in (first, first + 10 * DAY, last):
            assert served(c, tok, MERCHANT, day) == (False, sb.entries(MERCHANT, "funds", day))
        assert page(c, tok, MERCHANT, last + DAY).json()["tryLater"] is True  # the new today


def test_a_clock_given_as_a_callable_is_read_on_every_request(make_sandbox):
    moments = iter([at(D + DAY, 5), at(D + DAY, 7)])
    sb = make_sandbox(today=None, now=lambda: next(moments))
    with httpx.Client(base_url=sb.base_url) as c:
        tok = token(c)  # no clock read for a token
        assert [page(c, tok, MAIN, D).json()["tryLater"] for _ in range(2)] == [True, False]


def test_today_means_noon_in_oslo_and_the_clock_needs_a_zone():
    sb = Sandbox(today=D)
    assert sb.now == at(D, 12) and sb.today == D
    sb.today = D + DAY
    assert sb.now == at(D + DAY, 12)
    sb.now = at(D + 2 * DAY, 0, 30)
    assert sb.today == D + 2 * DAY
    with pytest.raises(ValueError, match="not both"):
        Sandbox(today=D, now=at(D, 1))
    with pytest.raises(ValueError, match="time zone"):
        Sandbox(now=dt.datetime(2026, 11, 21, 0, 30))
    with pytest.raises(ValueError, match="0 to 23"):
        Sandbox(today=D, closing_hour=24)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--now", "2026-11-21T00:30"], "needs a UTC offset"),
        (["--now", "yesterday"], "not an ISO date and time"),
        (["--today", "2026-11-20", "--now", "2026-11-21T00:30+01:00"], "not allowed with"),
    ],
)
def test_cli_refuses_a_bad_clock(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        sandbox_main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_cli_refuses_a_closing_hour_out_of_range(capsys):
    assert sandbox_main(["--closing-hour", "24"]) == 2
    assert capsys.readouterr().err == "report-export sandbox: error: --closing-hour must be 0 to 23\n"


def test_cli_serves_the_clock_the_closing_hour_and_authentication_v1_as_asked():
    argv = [
        sys.executable,
        "-m",
        "jobs.sandbox",
        "--port",
        "0",
        "--now",
        "2026-11-21T06:30+01:00",
        "--closing-hour",
        "7",
        "--authentication-v1",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        with httpx.Client(base_url=url) as c:
            r = c.post("/authentication/v1/token", auth=ACCOUNTING_CLIENT, data={"grant_type": "client_credentials"})
            assert r.status_code == 200
            assert page(c, r.json()["access_token"], MAIN, D).json()["tryLater"] is True  # 06:30 < 07:00
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert "Clock: 2026-11-21T06:30+01:00; yesterday closes at 07:00 local time" in out
    assert "/authentication/v1/token is served" in out
