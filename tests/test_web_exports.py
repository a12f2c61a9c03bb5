"""Page exports live apart from the nightly files and keep their bytes; the ledgers are listed from the state
when the API is down or slow; text from the API cannot reorder or widen the page. Real HTTP, real state."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
import socket
import sqlite3
import threading
import time
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from conftest import TODAY
from webpage import LEDGER, exported, finish, serve_page, start_export

from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State

PERIOD = ("2026-10-01", "2026-10-03")
CATCH_UP_TABLES = ("ledgers", "dates", "feeds")


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def catch_up_state(path: Path) -> dict[str, list]:
    with closing(sqlite3.connect(path)) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in CATCH_UP_TABLES}


def export_and_finish(client, **choices) -> dict:
    started = start_export(client, **choices)
    assert started.status_code == 303, started.text
    progress = finish(client, started.headers["location"])
    assert progress["status"] == "finished", progress
    return progress


def links(client, run_id: int) -> dict[str, str]:
    """name -> link of every file on the run's page."""
    page = client.get(f"/runs/{run_id}").text
    return {
        name: f"/runs/{run_id}/files/{n}"
        for n, name in re.findall(rf'href="/runs/{run_id}/files/(\d+)">([^<]+)<', page)
    }


def test_page_exports_leave_the_nightly_files_manifests_and_catch_up_untouched(page, run_cli, use_sandbox, sandbox):
    use_sandbox(sandbox)
    nightly = run_cli("run", "--from", PERIOD[0], "--to", PERIOD[1], "--ledger", LEDGER)
    assert nightly.code == 0, nightly.err
    production, catch_up = files_under(page.out), catch_up_state(page.state_path)
    assert len(production) == 3 * 2 * 3  # three dates, two topics: CSV, XLSX, manifest
    with page.signed_in() as client:
        # Another preset, one format, one file for the period; then the same dates as the nightly run
        first = export_and_finish(client, period=PERIOD, formats=("csv",), preset="no", combine=True)
        second = export_and_finish(client, period=PERIOD, formats=("csv", "xlsx"), preset="standard")
        first_links, second_links = links(client, first["runId"]), links(client, second["runId"])
        name = f"{LEDGER}/funds/{LEDGER}_funds_2026-10-01.csv"
        nordic, standard = client.get(first_links[name]).content, client.get(second_links[name]).content
        history = client.get("/runs").text
    assert files_under(page.out) == production  # not a byte of the nightly folder changed ...
    assert catch_up_state(page.state_path) == catch_up  # ... nor what the catch-up knows
    assert run_cli("verify", "reports").code == 0
    first_folder, second_folder = page.run_folder(first["runId"]), page.run_folder(second["runId"])
    assert first_folder != second_folder and first_folder.parent == second_folder.parent
    assert nordic.startswith("\ufeff".encode()) and b";" in nordic.splitlines()[0]  # the first run's own preset
    assert nordic == (first_folder / name).read_bytes() and standard == production[name]
    assert f"{LEDGER}/funds/{LEDGER}_funds_{PERIOD[0]}_{PERIOD[1]}.csv" in first_links
    assert not any(link.endswith(".xlsx") for link in first_links)
    # Everything that shaped each run's files is in its description.
    assert (
        "01/10/2026 to 03/10/2026; ledgers 302321; Settlements (funds), Fees (fees); CSV for import tools; CSV: "
        "Norway (semicolon, decimal comma); also one file for the whole period"
    ) in history
    assert (
        "CSV for import tools, Spreadsheet for people (XLSX); CSV: International (UTF-8, comma, amounts with a "
        "point)</td>"
    ) in history


def test_a_date_still_open_is_named_on_the_run_page_and_not_queued_for_the_catch_up(page):
    with page.signed_in() as client:
        progress = export_and_finish(client, period=(str(TODAY - dt.timedelta(days=1)), str(TODAY)), topics=("funds",))
        shown = client.get(progress["runUrl"]).text
    assert f"302321</span> Settlements (funds) {TODAY:%d/%m/%Y}: Vipps MobilePay had not closed this date yet." in shown
    assert catch_up_state(page.state_path)["dates"] == []


def test_a_voucher_that_waits_is_named_on_the_run_page_and_not_queued_for_the_catch_up(sandbox, fake_time, workdir):
    """Issue 18's files that wait, on a page export: the run says which voucher waits and why (outcome "waiting",
    13), its other files are written, and nothing is queued for the nightly run, which writes into another folder."""
    chart = (Path(__file__).parent.parent / "config.toml").read_text(encoding="utf-8")
    head, rest = chart.split("[accounts.types.instant-payout-fee]\n", 1)
    (workdir / "config.toml").write_text(head + (rest.split("\n\n", 1) + [""])[1])  # that type has no account
    days = [TODAY - n * dt.timedelta(days=1) for n in range(1, 30)]
    day = next(d for d in days if "instant-payout-fee" in {e["entryType"] for e in sandbox.entries(LEDGER, "funds", d)})
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        with page.signed_in() as client:
            progress = export_and_finish(
                client, period=(str(day), str(day)), topics=("funds",), formats=("csv", "gbat10", "camt053")
            )
            shown = html.unescape(client.get(progress["runUrl"]).text)
            names = set(links(client, progress["runId"]))
        with State.reading(page.state_path) as state:
            run = state.runs.get(progress["runId"])
            queued = state.dates.waiting()
        why = (
            "funds entry type 'instant-payout-fee' has no account: add [accounts.types.instant-payout-fee] with "
            "account = <number> to config.toml (or to the client's or the ledger's table)"
        )
        assert (run.outcome, run.exit_code, run.counts["waiting"]) == ("waiting", 13, 1)
        assert f"Export {progress['runId']}: Done; some vouchers or statements are not written yet" in shown
        assert (
            f"{LEDGER}</span> Settlements (funds) {day:%d/%m/%Y}: Vouchers for Tripletex, PowerOffice and Visma "
            "(GBAT10) not written yet: the setup is not complete, or its balances do not add up. Once IT has "
            "fixed it, export this period again."
        ) in shown
        assert f'<p class="details">{why}</p>' in shown  # the engine's own words, for IT
        assert names == {
            f"{LEDGER}/funds/{LEDGER}_{kind}_{day}.{ext}"
            for kind, ext in (("funds", "csv"), ("camt053", "xml"), ("funds", "manifest.json"))
        }
        assert queued == {}  # the nightly run's queue: nothing of the page's folder
        assert catch_up_state(page.state_path)["dates"] == []


def test_an_exports_files_are_kept_unchanged_for_keep_days_then_its_links_say_it_expired(page):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        folder, link = page.run_folder(run_id), f"/runs/{run_id}/files/0"
        kept = client.get(link).content
    page.clock[0] += 29 * 86400
    with page.signed_in() as client:  # signed in again: a session lasts a working day
        assert client.get(link).content == kept
        assert "These files are kept unchanged until" in client.get(f"/runs/{run_id}").text
    page.clock[0] += 2 * 86400
    with page.signed_in() as client:
        for path in (link, f"/runs/{run_id}/zip"):
            gone = client.get(path)
            assert gone.status_code == 410 and "This export has expired" in gone.text
            assert "keeps the files of each export for 30 days" in gone.text
        assert "This export has expired" in client.get(f"/runs/{run_id}").text
        assert folder.is_dir()  # removed when the next export starts
        exported(client)
        assert not folder.exists()


# -- the ledgers, with the API down or slow -------------------------------------------------------------------------


def test_with_the_api_down_the_page_shows_the_ledgers_as_last_seen_and_says_so(page, sandbox):
    with page.signed_in() as client:
        seen = client.get("/")
        assert LEDGER in seen.text and "Kafé Ørnen" in seen.text and "cannot be reached" not in seen.text
        sandbox.stop()
        for path in ("/", "/export"):
            down = client.get(path)
            assert down.status_code == 200 and LEDGER in down.text and "Kafé Ørnen" in down.text
            assert "Vipps MobilePay cannot be reached right now" in down.text
            assert "as Vipps MobilePay listed them at" in down.text and "Details for IT" in down.text


class Silent:
    """An API that takes connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()
        self.thread.join(5)


def test_a_silent_api_holds_up_no_page_and_no_server_thread(page):
    silent = Silent()
    try:
        with page.signed_in() as client:
            client.get("/")  # the names are in the state
        page.web.settings = dataclasses.replace(
            page.web.settings, base_url=silent.url, token_url=silent.url + "/miami/v1/token"
        )
        page.web.ledgers.wait = 0.2  # a page waits this long for the API (1.5 s in use)
        answers: list = []
        with page.signed_in() as client:
            cookies = client.cookies  # signed in once: an argon2 check per visitor would be the slow part

            def visit() -> None:
                with page.client(cookies=cookies) as visitor:
                    answers.append(visitor.get("/"))

        started = time.monotonic()
        visitors = [threading.Thread(target=visit) for _ in range(12)]  # more than waitress has threads
        for visitor in visitors:
            visitor.start()
        for visitor in visitors:
            visitor.join(30)
        took = time.monotonic() - started
        assert len(answers) == 12 and all(a.status_code == 200 for a in answers)
        assert all("no answer within 0.2 seconds" in a.text and LEDGER in a.text for a in answers)
        assert took < 3  # the API's own timeout is 3 s; before, each page waited about 14 s
    finally:
        silent.close()


# -- text from the API -------------------------------------------------------------------------------------------


def test_text_from_the_api_cannot_reorder_what_is_shown(page, sandbox):
    sandbox.add_ledger("9990001", units=(("Kafé \u202eNO:666009\u202c \u2067x\u2069", "NO:666009"),))
    with page.signed_in() as client:
        for path in ("/", "/export"):
            shown = client.get(path).text
            assert ">Kafé NO:666009 x (NO:666009)</bdi>" in shown
            assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]", shown)


def test_a_zip_of_a_page_export_holds_its_own_files(page):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{run_id}/zip").content))
    assert {name: archive.read(name) for name in archive.namelist()} == files_under(page.run_folder(run_id))
