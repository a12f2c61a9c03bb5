"""The accountant's pages over real HTTP with a real state: the overview, the export form made for months, downloads
by purpose, progress that follows the export and a Stop that leaves nothing half-written, the reconciliation from
the engine's own sums (the workbook's numbers), and a history she can page through and filter."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sqlite3
import threading
import time
import zipfile
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import TODAY
from webpage import LEDGER, csrf, finish, nightly_holding_the_lock, serve_page, start_export

from jobs.lock import lock_for, run_lock
from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


def amount(text: str) -> int:
    """An English amount on the page (1,234.50 or -0.35) in minor units."""
    return int(Decimal(text.replace(",", "")) * 100)


def requested(page, run_id: int) -> dict:
    with State.reading(page.state_path) as state:
        return state.runs.get(run_id).request


def post_form(client, **fields):
    form = {
        "csrf_token": csrf(client, "/export"),
        "topic": ["funds"],
        "format": ["csv"],
        "preset": "standard",
        "period": "last-month",
        "scope": "chosen",
        "ledger": [LEDGER],
        **fields,
    }
    return client.post("/export", data=form)


# -- the overview ---------------------------------------------------------------------------------------------


def test_the_overview_groups_ledgers_by_merchant_and_finds_them(page):
    with page.signed_in() as client:
        shown = client.get("/").text
        merchants = re.findall(r"<h2>Organisation number (\S+) \((\w\w)\)</h2>", shown)
        assert merchants == [
            ("12345678", "DK"),
            ("1234567-8", "FI"),
            ("912345678", "NO"),
            ("923456789", "NO"),
            ("987654321", "NO"),
        ]
        for query, ledgers in (
            ("Ørnen", ["302321"]),
            ("987654321", ["302321"]),
            ("0302399", ["0302399"]),
            ("DK:90601", ["5551234"]),
            ("nobody", []),
        ):
            found = client.get("/", params={"q": query}).text
            assert re.findall(r'name="ledger" value="([^"]+)"', found) == ledgers, query
        assert "No ledger matches “nobody”." in client.get("/", params={"q": "nobody"}).text


def test_each_ledger_shows_its_last_export_what_is_missing_and_its_days_from_the_state(
    page, run_cli, use_sandbox, sandbox
):
    use_sandbox(sandbox)
    assert run_cli("run", "--from", "2026-10-22", "--to", "2026-11-19", "--ledger", LEDGER).code == 0
    with State(page.state_path) as state:
        eighty_days_ago = dt.date(2026, 9, 1)
        state.dates.record_pending((LEDGER, "funds", eighty_days_ago), "unavailable", "404", 1, TODAY)
        state.dates.record_pending((LEDGER, "fees", TODAY), "open", "tryLater", 1, TODAY)
    with closing(sqlite3.connect(page.state_path)) as db:  # the sums as the state has them, read apart from the page
        rows = db.execute(
            "SELECT ledger_date, sums FROM dates WHERE ledger_id = ? AND topic = 'funds' AND status ="
            " 'exported' AND ledger_date >= ?",
            (LEDGER, "2026-10-20"),
        ).fetchall()
    captures = sum(json.loads(sums).get("capture", 0) for _, sums in rows)
    with page.signed_in() as client:
        row = re.search(rf'value="{LEDGER}".*?</tr>', client.get("/").text, re.S).group(0)
        ninety = re.search(rf'value="{LEDGER}".*?</tr>', client.get("/", params={"days": 90}).text, re.S).group(0)
    assert ">19/11/2026<" in row  # last exported
    assert "1 date not closed by Vipps MobilePay yet" in row and "1 date not available" in row
    assert "1 date overdue" in row  # 80 days > [state] warn_after_days (35)
    assert amount(re.search(r'<span class="captures">Captures ([^<]+)</span>', row).group(1)) == captures
    assert 'width="180"' in row and row.count("<rect") > 3 * 20  # three rows of bars, one per day with a movement
    assert "Last 90 days" not in row and re.search(r"<svg[^>]+width=\"180\"", ninety)


def test_a_page_of_ledgers_costs_a_few_queries_whatever_their_number(page, monkeypatch):
    """The overview and the form never ask the state once per ledger: 2,000 ledgers cost the same queries."""
    with State(page.state_path) as state:
        state.web.remember_ledgers(
            [
                {
                    "ledgerId": f"9{n:06}",
                    "owner": f"business:NO:ORG 9{n % 40:08}",
                    "currency": "NOK",
                    "salesUnits": f"Shop {n}",
                    "payoutAccount": "",
                }
                for n in range(2000)
            ]
        )
    queries: list[str] = []
    original = sqlite3.connect

    def counting(*args, **kwargs):
        connection = original(*args, **kwargs)
        connection.set_trace_callback(queries.append)
        return connection

    with page.signed_in() as client:
        client.get("/")
        page.web.ledgers.wait = 0  # the API's own refresh is not what is counted here
        monkeypatch.setattr(sqlite3, "connect", counting)
        overview = client.get("/")
        form = client.get("/export")
    assert overview.status_code == form.status_code == 200
    assert "Page 1 of 41" in overview.text and form.text.count('name="ledger"') == 2005
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) < 40


# -- the export form ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, period",
    [
        ({"period": "last-month"}, ("2026-10-01", "2026-10-31")),
        ({"period": "this-month"}, ("2026-11-01", "2026-11-19")),  # what is over of it
        ({"period": "month", "month": "2026-09"}, ("2026-09-01", "2026-09-30")),
        ({"period": "month", "month": "2026-11"}, ("2026-11-01", "2026-11-20")),
        ({"period": "range", "from": "2026-10-05", "to": "2026-10-06"}, ("2026-10-05", "2026-10-06")),
    ],
)
def test_the_form_offers_months_and_ranges(page, fields, period, monkeypatch):
    monkeypatch.setattr("jobs.web.exports.LARGE_EXPORT", 10_000)
    with page.signed_in() as client:
        started = post_form(client, **fields)
        assert started.status_code == 303, started.text
        progress = finish(client, started.headers["location"])
    chosen = requested(page, progress["runId"])
    assert (chosen["from"], chosen["to"]) == period


def test_all_ledgers_or_all_of_one_merchants(page, sandbox):
    sandbox.add_ledger("3023210", like="302321")  # a second ledger of the same merchant
    with page.signed_in() as client:
        client.get("/")  # the page has seen both
        form = client.get("/export").text
        assert "All ledgers (6)" in form and '<option value="business:NO:ORG 987654321">' in form
        merchant = post_form(
            client,
            scope="merchant",
            merchant="business:NO:ORG 987654321",
            period="range",
            **{"from": "2026-10-05", "to": "2026-10-05"},
        )
        every = post_form(client, scope="all", period="range", **{"from": "2026-10-05", "to": "2026-10-05"})
        runs = [finish(client, answer.headers["location"])["runId"] for answer in (merchant, every)]
        files = [client.get(f"/runs/{run_id}").text for run_id in runs]
    assert requested(page, runs[0])["ledgers"] == ["302321", "3023210"]
    assert requested(page, runs[1])["ledgers"] == []  # every ledger the keys can read when it runs
    assert set(re.findall(r">(\w+)/funds/", files[1])) == {
        "302321",
        "3023210",
        "0302399",
        "412345",
        "5551234",
        "7778881",
    }


def test_the_form_asks_before_a_large_export(page, monkeypatch):
    monkeypatch.setattr("jobs.web.exports.LARGE_EXPORT", 40)
    with page.signed_in() as client:
        asked = post_form(client, scope="all")  # 5 ledgers x 31 days x 1 topic
        assert asked.status_code == 200 and "This export covers 155 ledger dates, more than 40." in asked.text
        assert 'name="confirmed" value="yes"' in asked.text and 'value="all" checked' in asked.text
        with closing(sqlite3.connect(page.state_path)) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # nothing started yet
        started = post_form(
            client, scope="all", confirmed="yes", period="range", **{"from": "2026-10-01", "to": "2026-10-08"}
        )
        assert started.status_code == 303


# -- downloads by purpose -----------------------------------------------------------------------------------------


def test_one_download_per_purpose_with_the_manifests_inside(sandbox, fake_time, workdir):
    (workdir / "config.toml").write_text((Path(__file__).parent.parent / "config.toml").read_text())  # its chart
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        downloads_by_purpose(page)


def downloads_by_purpose(page) -> None:
    with page.signed_in() as client:
        started = start_export(
            client, period=("2026-10-01", "2026-10-03"), topics=("funds",), formats=("csv", "xlsx", "gbat10", "camt053")
        )
        run_id = finish(client, started.headers["location"])["runId"]
        shown = client.get(f"/runs/{run_id}").text
        zips = {}
        for purpose in ("spreadsheets", "vouchers", "statements", "csv", None):
            answer = client.get(f"/runs/{run_id}/zip", params={"purpose": purpose} if purpose else None)
            assert answer.status_code == 200
            zips[purpose] = zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
        assert client.get(f"/runs/{run_id}/zip", params={"purpose": "nothing"}).status_code == 404
    manifests = [name for name in zips[None] if name.endswith(".manifest.json")]
    assert len(manifests) == 3 and len(zips[None]) == 3 * 5
    for purpose, pattern in (
        ("spreadsheets", r"_funds_.*\.xlsx$"),
        ("vouchers", r"_vouchers_.*\.csv$"),
        ("statements", r"_camt053_.*\.xml$"),
        ("csv", r"_funds_.*\.csv$"),
    ):
        reports = [name for name in zips[purpose] if not name.endswith(".manifest.json")]
        assert len(reports) == 3 and all(re.search(pattern, name) for name in reports), (purpose, reports)
        assert sorted(set(zips[purpose]) - set(reports)) == sorted(manifests)
    downloads = re.search(r'<ul class="downloads">.*?</ul>', shown, re.S).group(0)
    assert "manifest" not in downloads.replace("with the manifests that prove them", "")
    assert len(re.findall(r'href="/runs/\d+/files/\d+"', shown)) == 15  # the per-file table, for those who want it


# -- progress that follows the export, and Stop -------------------------------------------------------------------


def test_progress_is_told_the_moment_it_changes(page):
    with nightly_holding_the_lock(page.state_path) as release, page.signed_in() as client:
        job = start_export(client, period=("2026-10-01", "2026-10-01")).headers["location"]
        deadline = time.monotonic() + 10
        while (progress := client.get(job + "/progress").json())["status"] != "waiting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        answered: list = []
        waiter = threading.Thread(
            target=lambda: answered.append(
                (client.get(job + "/progress", params={"seen": progress["version"]}).json(), time.monotonic())
            )
        )
        waiter.start()
        time.sleep(0.3)  # the request waits on the server: nothing has changed
        assert not answered
        released = time.monotonic()
        release.set()
        waiter.join(10)
        news, at = answered[0]
        assert news["version"] > progress["version"] and news["status"] in ("running", "finished")
        assert at - released < 5  # told when it happened, not at the next poll or the wait's end (15 s)


def test_stop_ends_the_export_after_the_date_in_progress_and_leaves_nothing_half_written(page, run_cli):
    with page.signed_in() as client:
        # Held, so the export is still waiting when Stop is pressed.
        with run_lock(lock_for(page.state_path), wait=False):
            job = start_export(client).headers["location"]
            while client.get(job + "/progress").json()["status"] != "waiting":
                time.sleep(0.02)
            stop = client.post(job + "/stop", data={"csrf_token": csrf(client, job)})
            assert stop.status_code == 303
            assert client.get(job + "/progress").json()["statusText"] == "Stopping after the date in progress."
        progress = finish(client, job)
        shown = client.get(progress["runUrl"]).text
    assert "Export 1: Stopped" in shown and "alice: stopped the export" in shown
    folder = page.run_folder(progress["runId"])
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.name.startswith(".")]  # no temporary file
    if folder.exists():
        assert run_cli("verify", str(folder)).code == 0


# -- the reconciliation is the engine's ---------------------------------------------------------------------------


def test_the_reconciliation_shows_the_workbooks_own_sums(page):
    """A month of 302321 holds every entry type (its showcase rotates through the rare ones weekly): the page's
    table and the period workbook's summary sheet, read back with openpyxl, give the same numbers."""
    with page.signed_in() as client:
        started = start_export(client, formats=("xlsx",), combine=True)
        run_id = finish(client, started.headers["location"])["runId"]
        shown = client.get(f"/runs/{run_id}").text
    folder = page.run_folder(run_id)
    for topic, heading in (("funds", "Settlements (funds)"), ("fees", "Fees (fees)")):
        block = re.search(rf"{LEDGER}</span> · {re.escape(heading)} · NOK</h3>(.*?)</table>", shown, re.S).group(1)
        on_page = {name: amount(value) for name, value in re.findall(r'data-category="([^"]+)">([^<]+)<', block)}
        workbook = openpyxl.load_workbook(
            folder / LEDGER / topic / f"{LEDGER}_{topic}_2026-10-01_2026-10-31.xlsx", read_only=True
        )
        rows = list(workbook["summary"].iter_rows(values_only=True))
        workbook.close()
        total = next(row for row in rows if row[0] == "Total")
        in_workbook = {
            label.lower(): int(round(value * 100))
            for label, value in zip(rows[0], total, strict=False)
            if label and label.lower() in on_page
        }
        assert in_workbook == on_page and len(on_page) >= 5, topic
        assert all(on_page.values()) or topic == "fees", on_page  # every funds column moved: every entry type
        assert "Adds up" in block


def test_a_period_with_a_date_not_closed_is_incomplete_never_passed(page):
    with page.signed_in() as client:
        started = start_export(client, period=("2026-11-18", str(TODAY)), topics=("funds",))
        shown = client.get(finish(client, started.headers["location"])["runUrl"]).text
    assert "Incomplete: not every date of the period has its files yet" in shown and "Adds up" not in shown


# -- history ------------------------------------------------------------------------------------------------------


def test_history_pages_and_filters_and_shows_downloads_and_sign_ins(page):
    with State(page.state_path) as state:
        for n in range(30):
            user, ledger = ("bob", "0302399") if n % 3 == 0 else ("alice", LEDGER)
            request = {
                "from": f"2026-{1 + n % 10:02}-01",
                "to": f"2026-{1 + n % 10:02}-28",
                "ledgers": [ledger],
                "topics": ["funds"],
                "formats": ["csv"],
                "csvPreset": "standard",
                "combine": False,
                "out": "/nowhere",
            }
            run_id = state.runs.start("run", "web", user=user, request=request)
            state.runs.end(run_id, "failed" if n % 5 == 0 else "ok", 5 if n % 5 == 0 else 0, {}, files=[])
    with page.signed_in() as client:
        first, second = client.get("/runs").text, client.get("/runs", params={"page": 2}).text
        ids = [re.findall(r'<td><a href="/runs/(\d+)">', text) for text in (first, second)]
        assert ids == [[str(n) for n in range(30, 5, -1)], [str(n) for n in range(5, 0, -1)]]
        assert "30 exports" in first and "Page 1 of 2" in first and "Older" in first
        by_bob = re.findall(r'<td><a href="/runs/(\d+)">', client.get("/runs", params={"user": "bob"}).text)
        assert by_bob == [str(n + 1) for n in range(27, -1, -3)]
        failed = re.findall(r'<td><a href="/runs/(\d+)">', client.get("/runs", params={"outcome": "failed"}).text)
        assert failed == ["26", "21", "16", "11", "6", "1"]
        ledger = client.get("/runs", params={"ledger": "0302399", "from": "2026-04-10", "to": "2026-04-20"}).text
        assert re.findall(r'<td><a href="/runs/(\d+)">', ledger) == ["4"]  # bob's April export of 0302399
        sign_ins = re.search(r"<h2>Sign-ins</h2>.*?</table>", first, re.S).group(0)
    assert "<td>alice</td><td>127.0.0.1</td><td>signed in</td>" in sign_ins
