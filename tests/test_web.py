"""The export page over real HTTP (waitress on 127.0.0.1) against the sandbox: every page, sign-in,
CSRF, throttling, downloads and their rules, headers, and queueing behind a run that holds the lock."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from conftest import TODAY
from webpage import (
    LEDGER,
    MONTH,
    PASSWORD,
    add_user,
    csrf,
    exported,
    finish,
    nightly_holding_the_lock,
    serve_page,
    shell_export,
    start_export,
)

from jobs.sandbox import ACCOUNTING_CLIENT


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


# -- who gets in ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/export", "/runs", "/runs/1", "/runs/1/files/0", "/runs/1/zip", "/jobs/x", "/jobs/x/progress", "/password"],
)
def test_every_page_but_sign_in_needs_a_signed_in_user(page, path):
    with page.client() as client:
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["location"].startswith("/signin")
        signin = client.get("/signin")
        assert signin.status_code == 200 and "Sign in" in signin.text


def test_sign_in_sets_a_lax_http_only_cookie_that_holds_no_name_and_expires(page):
    with page.client() as client:
        wrong = client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "user": "alice", "password": "x"})
        assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
        right = client.post(
            "/signin", data={"csrf_token": csrf(client, "/signin"), "user": "alice", "password": PASSWORD}
        )
        assert right.status_code == 302 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"]
        # Lax: a link from mail or the intranet still arrives signed in (Strict replaced the cookie).
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain http here
        assert PASSWORD not in cookie and "alice" not in decoded(client)  # a random id, kept on the server
        assert client.get("/").status_code == 200
        page.clock[0] += 8 * 3600 + 1  # a working day later, however busy she was
        assert client.get("/").status_code == 302


def decoded(client) -> str:
    """What the signed cookie says (its payload is readable base64 JSON; only its signature is secret)."""
    import base64

    payload = client.cookies["report_export_session"].split(".")[0]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def test_cookies_are_secure_behind_a_tls_proxy(sandbox, fake_time, workdir):
    (workdir / "config.toml").write_text("[web]\nbehind_proxy = true\n")
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        with page.client() as client:
            over_tls = client.get("/signin", headers={"X-Forwarded-Proto": "https"})  # as the proxy says
            assert "Secure" in over_tls.headers["set-cookie"] and "HttpOnly" in over_tls.headers["set-cookie"]
            assert "Secure" not in client.get("/signin").headers["set-cookie"]  # plain http, straight in
        # From anyone but the proxy's address, the same headers are not believed (127.0.0.3 is not it).
        with page.client(transport=httpx.HTTPTransport(local_address="127.0.0.3")) as client:
            spoofed = client.get("/signin", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"})
            assert "Secure" not in spoofed.headers["set-cookie"]


def test_a_removed_user_is_out_at_the_next_request(page):
    add_user(page.state_path, "bob")
    with page.signed_in("bob") as client:
        assert client.get("/runs").status_code == 200
        with closing(sqlite3.connect(page.state_path)) as db:
            db.execute("DELETE FROM users WHERE name = 'bob'")
            db.commit()
        assert client.get("/runs").status_code == 302


@pytest.mark.parametrize(
    "path, data",
    [
        ("/signin", {"user": "alice", "password": PASSWORD}),
        ("/export", {"ledger": LEDGER, "from": MONTH[0], "to": MONTH[1]}),
        ("/signout", {}),
    ],
)
def test_every_form_needs_its_csrf_token(page, path, data):
    with page.signed_in() as client:
        for token in (None, "forged"):
            answer = client.post(path, data={**data, **({"csrf_token": token} if token else {})})
            assert answer.status_code == 400 and "was not sent from this page" in answer.text
    with closing(sqlite3.connect(page.state_path)) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


# -- what every answer carries ------------------------------------------------------------------------


def test_headers_on_every_page_and_no_secret_anywhere(page):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        pages = [
            "/",
            "/export",
            "/runs",
            f"/runs/{run_id}",
            f"/runs/{run_id}/files/0",
            "/runs/999",
            "/nowhere",
            "/static/style.css",
        ]
        for path in pages:
            answer = client.get(path)
            assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self';")
            assert "'unsafe-inline'" not in answer.headers["Content-Security-Policy"]
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Referrer-Policy"] == "same-origin"  # keeps Origin on the page's own forms
            assert ACCOUNTING_CLIENT[1] not in answer.text and PASSWORD not in answer.text
            assert "Traceback" not in answer.text
            if "<html" in answer.text:
                assert "<script>" not in answer.text and " style=" not in answer.text  # nothing inline
        assert client.get(f"/runs/{run_id}/files/0").headers["Cache-Control"] == "no-store"
        missing = client.get("/runs/999")
        assert missing.status_code == 404 and "No such export." in missing.text


# -- an export, the same as from the command line ----------------------------------------------------


def test_an_export_from_the_page_is_byte_identical_to_run_from_the_shell(page, run_cli, use_sandbox, sandbox):
    with page.signed_in() as client:
        first = client.get("/")
        assert LEDGER in first.text and "NOK" in first.text
        progress = exported(client)
        assert progress["done"] == progress["total"] == 62 and progress["ledger"] == LEDGER
        run = client.get(progress["runUrl"])
        assert "Export 1: Done" in run.text and "by alice" in run.text
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{progress['runId']}/zip").content))
    use_sandbox(sandbox)
    on_disk = shell_export(run_cli, MONTH, LEDGER)
    assert len(on_disk) == 62 * 3
    assert {name: archive.read(name) for name in archive.namelist()} == on_disk  # manifests included (run 1 both)


def test_downloads_are_the_files_and_refuse_anything_changed_or_unlisted(page):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        folder = page.run_folder(run_id)
        listing = client.get(f"/runs/{run_id}").text
        links = re.findall(rf'href="/runs/{run_id}/files/(\d+)">([^<]+)<', listing)
        assert len(links) == 62 * 3
        for n, name in links[:6]:
            answer = client.get(f"/runs/{run_id}/files/{n}")
            assert answer.status_code == 200 and answer.content == (folder / name).read_bytes()
            assert answer.headers["Content-Disposition"].startswith("attachment;")
        (n, name), (gone_n, gone) = links[0], links[5]  # a CSV of 1 October, an XLSX of 2 October
        assert name.endswith("10-01.csv") and gone.endswith("10-02.xlsx")
        (folder / name).write_bytes(b"changed by someone")
        refused = client.get(f"/runs/{run_id}/files/{n}")
        assert refused.status_code == 410 and "it was changed after it was written" in refused.text
        assert client.get(f"/runs/{run_id}/files/{len(links)}").status_code == 404
        (folder / gone).unlink()
        assert client.get(f"/runs/{run_id}/files/{gone_n}").status_code == 410
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{run_id}/zip").content))
        assert name not in archive.namelist() and gone not in archive.namelist()
        assert len(archive.namelist()) == 62 * 3 - 2  # only the changed and the missing file are left out
        audit = client.get(f"/runs/{run_id}").text
        assert audit.count(f"alice: downloaded {name}<") == 1  # the refused download is not one
        assert "alice: downloaded 302321/fees/" in audit and "alice: downloaded everything zip of" in audit


@pytest.mark.parametrize(
    "path",
    [
        "/runs/1/files/..%2F..%2Fstate%2Freport-export.sqlite3",
        "/runs/1/files/%2e%2e%2fstate",
        "/runs/1/files/-1",
        "/runs/1/files/1e3",
        "/static/..%2Fstate%2Freport-export.sqlite3",
        "/static/%2e%2e/%2e%2e/state/report-export.sqlite3",
        "/static/..%252F..%252Fstate%252Freport-export.sqlite3",
        "/static/%c0%ae%c0%ae/state/report-export.sqlite3",
        "/static//etc/passwd",
        "/static/..\\..\\state",
        "/runs/1/files/0/../../../state/report-export.sqlite3",
    ],
)
def test_no_path_from_the_request_reaches_the_file_system(page, path):
    with page.signed_in() as client:
        exported(client)
        answer = client.get(path, follow_redirects=True)  # werkzeug may first merge slashes (308)
        assert answer.status_code in (404, 405), (path, answer.status_code)
        assert b"SQLite format" not in answer.content and b"root:" not in answer.content


def test_the_form_names_what_to_fix(page):
    with page.signed_in() as client:
        swapped = start_export(client, period=("2026-10-31", "2026-10-01"))
        assert swapped.status_code == 400 and "swap the dates" in swapped.text
        future = start_export(client, period=("2026-11-01", "2026-12-24"))
        assert future.status_code == 400 and "is in the future" in future.text
        nothing = start_export(client, ledgers=())
        assert nothing.status_code == 400 and "Choose at least one ledger." in nothing.text
        hostile = start_export(client, ledgers=("../../etc",))
        assert hostile.status_code == 400
        form = client.get("/export").text
        assert 'value="last-month" checked> Last month (October 2026)' in form  # last month preselected


def test_an_export_waits_behind_a_running_nightly_job_and_says_so(page):
    with nightly_holding_the_lock(page.state_path) as release, page.signed_in() as client:
        job = start_export(client).headers["location"]
        deadline = time.monotonic() + 10
        while (progress := client.get(job + "/progress").json())["status"] != "waiting":
            assert time.monotonic() < deadline, progress
            time.sleep(0.02)
        assert progress["details"].startswith("report-export pid ") and progress["runId"] is None
        assert "Waiting for the nightly export to finish" in client.get(job).text
        release.set()
        assert finish(client, job)["status"] == "finished"


def test_history_shows_who_ran_what_newest_first(page, run_cli, use_sandbox, sandbox):
    use_sandbox(sandbox)
    assert run_cli("run", "--ledger", LEDGER).code == 0  # as cron would, before the accountant
    assert run_cli("feed", "--ledger", LEDGER, "--topic", "funds").code == 0
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        client.get(f"/runs/{run_id}/zip")
        client.get(f"/runs/{run_id}/files/0")
        history = client.get("/runs").text
    rows = re.findall(r"<tr>\s*<td><a href=\"/runs/(\d+)\">.*?</tr>", history, re.S)
    assert rows == ["3", "2", "1"]
    assert len(re.findall(r"alice \([^)]*\): (everything zip of 186 files|302321/)", history)) == 2  # who, what
    assert "<td>alice</td>" in history and "01/10/2026 to 31/10/2026; ledgers 302321" in history
    described = re.findall(r"<td>(the [^;<]*);", history)  # newest first, as the rows
    assert described == ["the feed, from where the last run stopped", "the nightly catch-up through yesterday"]


# -- users, made by an administrator on the command line -------------------------------------------------


def test_users_are_added_listed_changed_and_removed_with_hashes_only(run_cli, workdir, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert run_cli("users", "add", "kari", "--password-stdin").code == 0
    asked = iter(["another long secret", "another long secret"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(asked))  # typed twice, never echoed
    assert run_cli("users", "password", "kari").code == 0
    listed = run_cli("users", "list")
    assert listed.code == 0 and listed.out.startswith("kari  added ")
    with closing(sqlite3.connect(workdir / "state" / "report-export.sqlite3")) as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE name = 'kari'").fetchone()
    assert stored.startswith("$argon2id$") and "secret" not in stored
    from jobs.users import password_ok

    assert password_ok(stored, "another long secret") and not password_ok(stored, "a long enough secret")
    assert run_cli("users", "remove", "kari").code == 0
    assert run_cli("users", "list").out == ""


@pytest.mark.parametrize(
    "argv, typed, words",
    [
        (["users", "add", "kari"], ["a long enough secret", "a different secret!!"], "the two passwords differ"),
        (["users", "add", "kari"], ["short", "short"], "shorter than 12 characters"),
        (["users", "add", "kari"], [" " * 12] * 2, "one character repeated"),
        (["users", "add", "kari"], ["k" * 12] * 2, "one character repeated"),
        (["users", "add", "kari"], ["password1234"] * 2, "list of common passwords"),
        (["users", "add", "kari.nordmann"], ["Kari.Nordmann"] * 2, "the user's name"),
        (["users", "add", "../kari"], [], "a name is letters and digits"),
        (["users", "add", "k\u0430ri"], [], "mixes Cyrillic and Latin letters"),  # a Cyrillic a
        (["users", "add"], [], "needs a NAME"),
        (["users", "remove", "nobody"], [], "no user nobody"),
        (["users", "password", "nobody"], [], "no user nobody"),
        (["users", "sign-out"], [], "needs a NAME, or --all"),
    ],
)
def test_user_mistakes_are_one_line_errors(argv, typed, words, run_cli, monkeypatch, workdir):
    asked = iter(typed)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(asked))
    result = run_cli(*argv)
    assert result.code == 2 and words in result.err and "Traceback" not in result.err
    assert run_cli("users", "list").out == ""  # nothing stored


@pytest.mark.parametrize("extra", [[], ["--schedule"]])
def test_serve_binds_loopback_answers_and_stops_on_sigterm(extra, sandbox, workdir):
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent.parent),
        "VIPPS_BASE_URL": sandbox.base_url,
        "VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0],
        "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1],
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "jobs", "serve", "--port", "0", *extra],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stderr.readline()
        url = re.search(r"serve: (http://\S+/)", first).group(1)
        if extra:  # the scheduler starts after the server: wait for it, or SIGTERM may come first
            assert "schedule started" in server.stderr.readline()
        assert url.startswith("http://127.0.0.1:")  # nobody else's machine can reach it unless told
        with httpx.Client() as client:
            assert client.get(url + "signin").status_code == 200
        server.send_signal(signal.SIGTERM)
        rest = server.communicate(timeout=20)[1]
    finally:
        server.kill()
    assert server.returncode == 0 and "report-export serve: stopped" in rest and "Traceback" not in rest
    assert ("schedule stopped" in rest) == bool(extra)


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_sign_in_never_sends_anyone_to_another_site(page, target):
    with page.client() as client:
        token = csrf(client, "/signin")
        answer = client.post(
            "/signin", params={"next": target}, data={"csrf_token": token, "user": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 302 and answer.headers["location"] == "/"
        back = client.post("/signout", data={"csrf_token": csrf(client, "/")})
        token = csrf(client, "/signin")
        answer = client.post(
            "/signin", params={"next": "/runs"}, data={"csrf_token": token, "user": "alice", "password": PASSWORD}
        )
        assert back.status_code == 302 and answer.headers["location"] == "/runs"


def test_a_request_for_another_page_before_signing_in_keeps_the_forms_token(page):
    """Browsers fetch /favicon.ico (and people open a second tab) while the sign-in form is on screen."""
    with page.client() as client:
        token = csrf(client, "/signin")
        icon = client.get("/favicon.ico")
        assert icon.status_code == 204 and "set-cookie" not in icon.headers
        assert client.get("/runs").status_code == 302  # redirected to sign in, the session left as it was
        answer = client.post("/signin", data={"csrf_token": token, "user": "alice", "password": PASSWORD})
        assert answer.status_code == 302, answer.text


def test_vouchers_and_statements_are_downloads_too(sandbox, fake_time, workdir):
    """One manifest lists every format of a date: each file is found in it, whatever its own name."""
    shutil.copy(Path(__file__).parent.parent / "config.toml", workdir)  # its [accounts] example fits the sandbox
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        with page.signed_in() as client:
            started = start_export(
                client, topics=("funds",), formats=("csv", "gbat10", "camt053"), period=("2026-10-01", "2026-10-03")
            )
            progress = finish(client, started.headers["location"])
            assert progress["status"] == "finished", progress
            listing = client.get(progress["runUrl"]).text
            links = dict((name, n) for n, name in re.findall(r'href="/runs/\d+/files/(\d+)">([^<]+)<', listing))
            names = {Path(name).name for name in links}
            assert {"302321_vouchers_2026-10-02.csv", "302321_camt053_2026-10-02.xml"} <= names
            assert len(links) == 3 * 4 and "in no manifest" not in listing
            voucher = next(name for name in links if name.endswith("_vouchers_2026-10-02.csv"))
            answer = client.get(f"/runs/{progress['runId']}/files/{links[voucher]}")
            written = page.run_folder(progress["runId"]) / voucher
            assert answer.status_code == 200 and answer.content == written.read_bytes()
