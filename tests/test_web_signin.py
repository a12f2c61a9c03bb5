"""Who gets in to the export page, over real HTTP (waitress on 127.0.0.1) with a real state: sessions the
server ends, throttling that slows guessing but locks nobody out, passwords and names, where sign-in may send
her, and the origin check on every form."""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing

import httpx
import pytest
from conftest import TODAY
from webpage import PASSWORD, add_user, csrf, exported, serve_page, sign_in

from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State
from jobs.users import hash_password
from jobs.web.auth import ADDRESS_FAILURES, FREE_FAILURES

NEW_PASSWORD = "a brand new long secret"


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


def copied(client: httpx.Client, page) -> httpx.Client:
    """Another client holding a copy of `client`'s cookie: what someone who copied it could do."""
    jar = httpx.Cookies()
    for cookie in client.cookies.jar:  # with its domain, so the server's answers replace it, not add a second
        jar.jar.set_cookie(cookie)
    return page.client(cookies=jar)


def locked_out(client: httpx.Client) -> bool:
    """Every kind of request the copied cookie might make is sent to sign in: a page, a zip, a new export."""
    answers = [
        client.get("/"),
        client.get("/runs/1/zip"),
        client.get("/runs/1/files/0"),
        client.post(
            "/export",
            data={
                "csrf_token": csrf(client, "/signin"),
                "ledger": "302321",
                "from": "2026-10-01",
                "to": "2026-10-01",
                "topic": "funds",
                "format": "csv",
                "preset": "standard",
            },
        ),
    ]
    return all(a.status_code == 302 and a.headers["location"].startswith("/signin") for a in answers)


def runs(page) -> int:
    with closing(sqlite3.connect(page.state_path)) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def users_cli(run_cli, monkeypatch, *argv: str, password: str | None = None):
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return run_cli(
        "users",
        *argv,
        *(["--password-stdin"] if password is not None else []),
        "--state",
        "state/report-export.sqlite3",
    )


# -- sessions the server ends --------------------------------------------------------------------------------


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(page):
    with page.signed_in() as client, copied(client, page) as thief:
        assert thief.get("/").status_code == 200
        assert client.post("/signout", data={"csrf_token": csrf(client, "/")}).status_code == 302
        assert locked_out(thief) and locked_out(client)
    assert runs(page) == 0


def test_a_new_password_ends_every_session_of_the_user(page, run_cli, monkeypatch):
    with page.signed_in() as first, page.signed_in() as second:
        changed = users_cli(run_cli, monkeypatch, "password", "alice", password=NEW_PASSWORD)
        assert changed.code == 0 and "2 sessions ended" in changed.out
        assert locked_out(first) and locked_out(second)


def test_her_own_new_password_on_the_page_ends_her_other_sessions_only(page):
    with page.signed_in() as here, page.signed_in() as elsewhere:
        token = csrf(here, "/password")
        wrong = here.post(
            "/password", data={"csrf_token": token, "current": "not it", "new": NEW_PASSWORD, "again": NEW_PASSWORD}
        )
        assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
        for new, words in [
            ("short", "shorter than 12"),
            ("x" * 12, "one character repeated"),
            ("password1234", "common passwords"),
        ]:
            refused = here.post("/password", data={"csrf_token": token, "current": PASSWORD, "new": new, "again": new})
            assert refused.status_code == 400 and words in refused.text
        differ = here.post(
            "/password",
            data={"csrf_token": token, "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "!"},
        )
        assert differ.status_code == 400 and "differ" in differ.text
        done = here.post(
            "/password", data={"csrf_token": token, "current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
        )
        assert done.status_code == 200 and "Your password is changed" in done.text
        assert here.get("/runs").status_code == 200  # this browser got a new session
        assert locked_out(elsewhere)
    with page.client() as client:
        assert sign_in(client, "alice", NEW_PASSWORD).status_code == 302


def test_a_removed_user_added_again_does_not_get_the_old_sessions_back(page, run_cli, monkeypatch):
    with page.signed_in() as client, copied(client, page) as thief:
        assert users_cli(run_cli, monkeypatch, "remove", "alice").code == 0
        assert users_cli(run_cli, monkeypatch, "add", "alice", password=PASSWORD).code == 0
        assert locked_out(thief) and locked_out(client)


def test_an_administrator_ends_one_users_sessions_or_everyones(page, run_cli, monkeypatch):
    add_user(page.state_path, "bob")
    with page.signed_in("alice") as alice, page.signed_in("bob") as bob:
        ended = users_cli(run_cli, monkeypatch, "sign-out", "ALICE")  # names are compared ignoring case
        assert ended.code == 0 and "1 session of alice ended" in ended.out
        assert locked_out(alice) and bob.get("/").status_code == 200
        everyone = users_cli(run_cli, monkeypatch, "sign-out", "--all")
        assert everyone.code == 0 and "1 session ended" in everyone.out and locked_out(bob)


def test_a_new_signing_key_ends_every_session(page, run_cli, monkeypatch):
    with page.signed_in() as client, copied(client, page) as thief:
        rotated = users_cli(run_cli, monkeypatch, "rotate-key")
        assert rotated.code == 0 and "1 session ended" in rotated.out
        with page.client() as fresh:  # the running server still signs with the key it started with ...
            sign_in(fresh)
            assert fresh.get("/").status_code == 200
        assert locked_out(thief)  # ... but the old session is gone from the state


def test_a_session_ends_after_the_idle_timeout_too(page):
    with page.signed_in() as client:
        page.clock[0] += 59 * 60
        assert client.get("/").status_code == 200  # a request keeps it alive ...
        page.clock[0] += 59 * 60
        assert client.get("/").status_code == 200
        page.clock[0] += 60 * 60 + 1  # ... an hour without one ends it
        assert client.get("/").status_code == 302


def test_each_sign_in_starts_a_new_session_so_a_planted_one_is_worth_nothing(page):
    with page.client() as attacker:
        csrf(attacker, "/signin")  # the attacker's own anonymous cookie, planted in her browser
        planted = attacker.cookies["report_export_session"]
        with copied(attacker, page) as victim:
            sign_in(victim)
            assert victim.cookies["report_export_session"] != planted
            assert victim.get("/").status_code == 200
        assert attacker.get("/").status_code == 302
    with State(page.state_path) as state:
        (count,) = state.db.execute("SELECT count(*) FROM web_sessions").fetchone()
        stored = [row[0] for row in state.db.execute("SELECT id FROM web_sessions")]
    assert count == 1 and all(len(key) == 64 for key in stored)  # SHA-256 only: the state holds no usable id


# -- throttling that slows attackers and locks nobody out -------------------------------------------------------


def attempt(client: httpx.Client, user: str, password: str) -> httpx.Response:
    return client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "user": user, "password": password})


def test_failures_slow_that_name_from_that_address_and_never_lock_her_out(page, run_cli, monkeypatch):
    attacker = page.client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    kari = page.client(transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    with attacker, kari:
        for _ in range(FREE_FAILURES):
            assert attempt(attacker, "alice", "guess").status_code == 401
        slowed = attempt(attacker, "alice", "guess")
        assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
        assert "try again in 1 second." in slowed.text and "IT can reset your password" in slowed.text
        waits = []
        for _ in range(4):  # each wait ends, the next guess fails, and the wait doubles
            page.clock[0] += int(attempt(attacker, "alice", "guess").headers["Retry-After"])
            assert attempt(attacker, "alice", "guess").status_code == 401
            waits.append(int(attempt(attacker, "alice", "guess").headers["Retry-After"]))
        assert waits == [2, 4, 8, 16]
        assert attempt(attacker, "alice", PASSWORD).status_code == 429  # the right password waits too, from there
        assert attempt(kari, "alice", PASSWORD).status_code == 302  # from her own address she is in at once
    with State(page.state_path) as state:
        log = state.web.signin_log(100)
    assert [(address, ok) for _, name, address, ok in log if ok] == [("127.0.0.3", True)]
    assert sum(1 for _, name, address, ok in log if not ok and address == "127.0.0.2") == FREE_FAILURES + 4
    shown = users_cli(run_cli, monkeypatch, "log", "--limit", "3")
    assert shown.code == 0 and shown.out.splitlines()[0].endswith("signed in  alice  from 127.0.0.3")
    assert "failed     alice  from 127.0.0.2" in shown.out


def test_a_password_reset_forgives_the_names_failures(page, run_cli, monkeypatch):
    with page.client() as client:
        for _ in range(FREE_FAILURES):
            attempt(client, "alice", "guess")
        assert attempt(client, "alice", "guess").status_code == 429
        assert users_cli(run_cli, monkeypatch, "password", "alice", password=NEW_PASSWORD).code == 0
        assert attempt(client, "alice", NEW_PASSWORD).status_code == 302


def test_one_address_that_fails_often_waits_out_the_window_for_every_name(page):
    add_user(page.state_path, "bob")
    with page.client() as client:
        for n in range(ADDRESS_FAILURES):
            assert attempt(client, f"guess{n}", "x").status_code == 401
        refused = attempt(client, "bob", PASSWORD)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == str(15 * 60)
        page.clock[0] += 15 * 60 + 1
        assert attempt(client, "bob", PASSWORD).status_code == 302


# -- names and passwords -------------------------------------------------------------------------------------------


def test_names_are_compared_ignoring_case_and_width_and_no_name_mixes_scripts(page, run_cli, monkeypatch):
    for name in ("Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45"):  # fullwidth "alice"
        added = users_cli(run_cli, monkeypatch, "add", name, password=PASSWORD)
        assert added.code == 2 and "user alice exists" in added.err
    mixed = users_cli(run_cli, monkeypatch, "add", "\u0430lice", password=PASSWORD)  # Cyrillic a
    assert mixed.code == 2 and "mixes Cyrillic and Latin letters" in mixed.err
    cyrillic = users_cli(run_cli, monkeypatch, "add", "\u0430\u043b\u0438\u0441\u0430", password=PASSWORD)
    assert cyrillic.code == 0  # one script: a name of its own
    wide = users_cli(run_cli, monkeypatch, "add", "\uff4b\uff41\uff52\uff49", password=PASSWORD)
    assert wide.code == 0 and "added kari" in wide.out  # kept as plain letters
    assert [line.split()[0] for line in users_cli(run_cli, monkeypatch, "list").out.splitlines()] == [
        "alice",
        "kari",
        "\u0430\u043b\u0438\u0441\u0430",
    ]
    with page.client() as client:
        assert attempt(client, "ALICE", PASSWORD).status_code == 302
        assert 'title="Change your password">alice<' in client.get("/").text


def test_a_password_that_breaks_the_rules_is_refused_on_the_command_line(run_cli, monkeypatch, workdir):
    for password, words in [("   password   ", "common passwords"), ("ab" * 5, "shorter than 12")]:
        refused = users_cli(run_cli, monkeypatch, "add", "kari", password=password)
        assert refused.code == 2 and words in refused.err
    assert users_cli(run_cli, monkeypatch, "list").out == ""


# -- where sign-in sends her, and the origin of forms ------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "/%09/evil.example",
        "/\t/evil.example",
        "/\r\nSet-Cookie: x=1",
        "/runs\r",
        "javascript:alert(1)",
        "/signin",
        "/nowhere",
        "/" + "a" * 600,
    ],
)
def test_sign_in_sends_her_only_to_pages_of_this_site(page, target):
    with page.client() as client:
        token = csrf(client, "/signin")
        answer = client.post(
            "/signin", params={"next": target}, data={"csrf_token": token, "user": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 302 and answer.headers["location"] == "/"
        assert client.get("/signin", params={"next": target}).status_code == 200  # never a 500


def test_sign_in_returns_her_to_the_page_she_asked_for(page):
    with page.client() as client:
        asked = client.get("/runs/7")
        assert asked.headers["location"] == "/signin?next=/runs/7"
        token = csrf(client, "/signin")
        answer = client.post(
            asked.headers["location"], data={"csrf_token": token, "user": "alice", "password": PASSWORD}
        )
        assert answer.headers["location"] == "/runs/7"


@pytest.mark.parametrize(
    "headers, ok",
    [
        ({}, True),  # plain HTTP on this machine, a tool without a browser: the token alone
        ({"Origin": "http://127.0.0.1:{port}"}, True),
        ({"Referer": "http://127.0.0.1:{port}/signin"}, True),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Referer": "https://evil.example/signin"}, False),
        ({"Origin": "http://127.0.0.1:1"}, False),
        ({"Origin": "http://127.0.0.1:x"}, False),
    ],
)
def test_a_form_from_another_origin_is_refused_even_with_its_token(page, headers, ok):
    port = page.url.rsplit(":", 1)[1]
    with page.client() as client:
        token = csrf(client, "/signin")
        sent = {name: value.format(port=port) for name, value in headers.items()}
        answer = client.post("/signin", headers=sent, data={"csrf_token": token, "user": "alice", "password": PASSWORD})
        assert answer.status_code == (302 if ok else 400), answer.text
        assert ok or "was not sent from this page" in answer.text


def test_a_head_request_is_no_download(page):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        for path in (f"/runs/{run_id}/files/0", f"/runs/{run_id}/zip"):
            assert client.head(path).status_code == 200
        with State(page.state_path) as state:
            assert [a for a in state.runs.audit_of(run_id) if a.action == "download"] == []
        client.get(f"/runs/{run_id}/files/0")
        with State(page.state_path) as state:
            assert len([a for a in state.runs.audit_of(run_id) if a.action == "download"]) == 1


def test_users_add_stores_the_hash_of_the_password_only(run_cli, monkeypatch, workdir):
    assert users_cli(run_cli, monkeypatch, "add", "kari", password=NEW_PASSWORD).code == 0
    with State(workdir / "state" / "report-export.sqlite3") as state:
        (name, stored) = state.web.find_user("KARI")
    assert name == "kari" and stored.startswith("$argon2id$") and NEW_PASSWORD not in stored
    assert stored != hash_password(NEW_PASSWORD)  # salted
