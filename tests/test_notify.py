"""Notifications through real receivers on loopback: an SMTP server (STARTTLS, implicit TLS, login) and an
HTTP receiver; runs of the CLI against the sandbox across days (`today=`), the scheduler as a real
process, and an export from the page. What is told when, what it says, and that no secret shows."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trustme
from conftest import TODAY
from receivers import MailServer, Receiver
from test_errors import assert_one_line
from test_web import LEDGER, MONTH, start_export
from webpage import serve_page

from jobs import config, notice
from jobs.notify import Notifier
from jobs.outbox import Outbox
from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State
from jobs.state.dates import Dates

DAY = dt.timedelta(days=1)
INSTALLATION = "acct-test"
PASSWORD = "smtp-Pa55word-never-shown"
TOKEN = "t0kenThatMustNeverShow"
TOKEN_PATH = f"/services/T0NOTIFY/B0NOTIFY/{TOKEN}"
RECIPIENTS = ["it@example.com", "kari@example.com"]
NOT_READABLE = (
    "ledger 999999 is not readable with these keys (5 are): check --ledger (see report-export ledgers), "
    "or ask the merchant to grant access"
)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


@pytest.fixture
def mail_server(ca):
    started = []

    def make(**options) -> MailServer:
        server = MailServer(*ca, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def receiver():
    running = Receiver(TOKEN_PATH).start()
    yield running
    running.stop()


@pytest.fixture
def configure(workdir, monkeypatch):
    """config.toml with a [notify] table for the given receivers; secrets in the environment, as in .env."""

    def write(
        *,
        mail: MailServer | None = None,
        ca: bool = True,
        webhook: Receiver | None = None,
        notify: str = "",
        other: str = "",
    ) -> None:
        lines = ["[notify]", f'installation = "{INSTALLATION}"']
        if mail is not None:
            lines += [
                f"email_to = {json.dumps(RECIPIENTS)}",
                'email_from = "report-export@example.com"',
                'smtp_host = "127.0.0.1"',
                f"smtp_port = {mail.port}",
                f'smtp_security = "{mail.security}"',
            ]
            if mail.login:
                lines.append(f'smtp_user = "{mail.login[0]}"')
                monkeypatch.setenv("NOTIFY_SMTP_PASSWORD", mail.login[1])
            if ca:
                lines.append(f'smtp_ca_file = "{mail.ca_file}"')
        if webhook is not None:
            monkeypatch.setenv("NOTIFY_WEBHOOK_URL", webhook.url)
        (workdir / "config.toml").write_text("\n".join(lines) + "\n" + notify + other)

    return write


@pytest.fixture
def told(run_cli, receiver):
    """Run the CLI on a day; (exit code, the events of the notices that run posted)."""

    def run(*argv: str, today: dt.date = TODAY) -> tuple[int, list[str]]:
        before = len(receiver.posts)
        result = run_cli(*argv, today=today)
        return result.code, [post.body["event"] for post in receiver.posts[before:]]

    return run


def status(run_cli) -> dict:
    result = run_cli("status", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)["notifications"]


# -- email ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "security, login", [("starttls", ("alerts", PASSWORD)), ("tls", ("alerts", PASSWORD)), ("none", None)]
)
def test_a_failed_run_is_mailed_with_tls_and_login_as_configured(
    security, login, sandbox, use_sandbox, run_cli, configure, mail_server, workdir
):
    server = mail_server(security=security, login=login)
    configure(mail=server)
    use_sandbox(sandbox)
    result = run_cli("run", "--ledger", "999999")
    assert result.code == 5, result.err  # the notice changes nothing about the run
    [mail] = server.mails
    assert (mail.sender, mail.recipients) == ("report-export@example.com", RECIPIENTS)
    assert mail.login == (login and login[0])
    assert (mail.tls in ("TLSv1.2", "TLSv1.3")) == (security != "none")
    headers = {name: mail.message[name] for name in ("Subject", "From", "To", "Auto-Submitted")}
    assert headers == {
        "Subject": "report-export on acct-test: run failed (exit 5)",
        "From": "report-export@example.com",
        "To": "it@example.com, kari@example.com",
        "Auto-Submitted": "auto-generated",
    }
    assert mail.body == (
        "report-export on acct-test: run failed (exit 5)\n\n"
        f"Run #1: report-export run (cli) on {TODAY}: failed, exit 5\n"
        f"Error: {NOT_READABLE}\n\n"
        f"To redo the work: report-export run --config {workdir / 'config.toml'} --ledger 999999\n"
    )
    assert "notification #1 sent by email: report-export on acct-test: run failed (exit 5)" in result.err


def test_an_untrusted_mail_server_never_fails_a_run_and_gets_its_notices_once_trusted(
    sandbox, use_sandbox, run_cli, configure, mail_server
):
    server = mail_server(security="starttls")
    configure(mail=server, ca=False)  # the system's CAs do not know the test CA
    use_sandbox(sandbox)
    failed = run_cli("run", "--ledger", "999999")
    assert failed.code == 5 and not server.mails
    where = f"mail via 127.0.0.1:{server.port}"
    assert f"notification #1 not delivered by email: {where}: its TLS certificate is not trusted (" in failed.err
    looked = status(run_cli)
    assert looked["channels"] == [f"email to it@example.com, kari@example.com via 127.0.0.1:{server.port} (starttls)"]
    [waiting] = looked["undelivered"]
    assert (waiting["id"], waiting["channel"], waiting["event"], waiting["tries"]) == (1, "email", "failed", 1)
    assert waiting["title"] == "report-export on acct-test: run failed (exit 5)"
    assert "its TLS certificate is not trusted" in waiting["error"] and "smtp_ca_file" in waiting["error"]
    good = run_cli("run")
    assert good.code == 0, good.err  # still undeliverable: the export is not affected
    assert [row["tries"] for row in status(run_cli)["undelivered"]] == [2, 0]  # the channel is down: #2 waits
    shown = run_cli("status").out
    assert "; 2 undelivered, the next run tries again:\n  #1 email " in shown and "tried 2 times" in shown
    assert "#2 email " in shown and "'report-export on acct-test: recovered': not tried yet" in shown
    configure(mail=server)  # the fix: trust the relay's CA
    assert run_cli("run").code == 0
    assert [mail.message["Subject"] for mail in server.mails] == [
        "report-export on acct-test: run failed (exit 5)",
        "report-export on acct-test: recovered",
    ]
    assert status(run_cli)["undelivered"] == []


def test_a_refused_login_is_named_with_the_settings_to_fix(
    sandbox, use_sandbox, run_cli, configure, mail_server, monkeypatch
):
    server = mail_server(security="starttls", login=("alerts", PASSWORD))
    configure(mail=server)
    monkeypatch.setenv("NOTIFY_SMTP_PASSWORD", "not-the-password")
    use_sandbox(sandbox)
    assert run_cli("run", "--ledger", "999999").code == 5 and not server.mails
    [waiting] = status(run_cli)["undelivered"]
    assert waiting["error"].startswith(f"mail via 127.0.0.1:{server.port}: the server refused the login of alerts (535")
    assert waiting["error"].endswith("check [notify] smtp_user and NOTIFY_SMTP_PASSWORD")


# -- webhook -------------------------------------------------------------------------------------------


def test_the_webhook_posts_every_fact_as_named_fields_and_in_its_text(
    sandbox, use_sandbox, run_cli, configure, receiver, workdir
):
    configure(webhook=receiver, other="[export]\nstrict = true\n")
    use_sandbox(sandbox)
    day = TODAY - DAY
    sandbox.corrupt(LEDGER, "funds", day, "balance")
    result = run_cli("run", "--ledger", LEDGER)
    assert result.code == 5, result.err
    [post] = receiver.posts
    assert post.path == TOKEN_PATH and post.headers["Content-Type"] == "application/json"
    notice = post.body
    reason = notice["failedDates"][0]["reason"]
    assert reason.startswith(f"ledger {LEDGER} funds {day} does not reconcile (balance") and reason.endswith(
        "; no file written (--strict)"
    )
    assert notice == {
        "text": notice["text"],  # below
        "title": "report-export on acct-test: run failed (exit 5)",
        "event": "failed",
        "installation": INSTALLATION,
        "at": notice["at"],  # below
        "run": {
            "id": 1,
            "command": "run",
            "trigger": "cli",
            "date": str(TODAY),
            "outcome": "failed",
            "exitCode": 5,
            "summary": result.out.splitlines()[0],
            "error": None,
        },
        "failedDates": [{"ledgerId": LEDGER, "topic": "funds", "date": str(day), "reason": reason}],
        "refusedLedgers": [],
        "failing": [
            {
                "command": "run",
                "exitCode": 5,
                "error": "ledger dates that do not reconcile",
                "since": str(TODAY),
                "failedRuns": 1,
                "new": True,
            }
        ],
        "overdue": [],
        "warnAfterDays": 35,
        "withdrawn": [],
        "waiting": [],
        "recovered": [],
        "redo": f"report-export run --config {workdir / 'config.toml'} --ledger {LEDGER}",
    }
    assert result.out.startswith("report-export run: 1 ledger, catch-up: 1 ledger date written")
    assert abs(dt.datetime.fromisoformat(notice["at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert notice["text"] == (
        "report-export on acct-test: run failed (exit 5)\n\n"
        f"Run #1: report-export run (cli) on {TODAY}: failed, exit 5\n"
        f"{result.out.splitlines()[0]}\n\n"
        f"Failed ledger dates:\n  ledger {LEDGER} funds {day}: {reason}\n\n"
        f"To redo the work: report-export run --config {workdir / 'config.toml'} --ledger {LEDGER}\n"
    )


def test_the_webhook_is_retried_on_5xx_and_429_and_waits_as_told(
    sandbox, use_sandbox, run_cli, configure, receiver, fake_time
):
    configure(webhook=receiver)
    use_sandbox(sandbox)
    receiver.answer((500, "oops", {}), (429, "slow down", {"Retry-After": "7"}))
    before = len(fake_time.slept)
    result = run_cli("run", "--ledger", "999999")
    assert result.code == 5
    assert len(receiver.posts) == 3 and all(post.body == receiver.posts[0].body for post in receiver.posts)
    first, second = fake_time.slept[before:]
    assert 0.25 <= first <= 0.5 and second == 7  # [retry] backoff with jitter; then Retry-After
    sent = "notification #1 sent by webhook: report-export on acct-test: run failed (exit 5) (HTTP 200 ok)"
    assert sent in result.err
    assert status(run_cli)["undelivered"] == []


def test_a_webhook_that_never_answers_times_out_and_its_notice_waits_for_the_next_run(
    sandbox, use_sandbox, run_cli, configure, receiver
):
    configure(webhook=receiver, notify="timeout_seconds = 0.2\n", other="[retry]\nmax_attempts = 2\n")
    use_sandbox(sandbox)
    receiver.answer("hang", "hang")
    started = time.monotonic()
    failed = run_cli("run", "--ledger", "999999")
    assert failed.code == 5 and len(receiver.posts) == 2
    assert time.monotonic() - started < 5  # two tries of 0.2 s, not the default 10 s each
    reason = "webhook to 127.0.0.1: timed out, gave up after 2 attempts: check NOTIFY_WEBHOOK_URL and the network"
    assert f"notification #1 not delivered by webhook: {reason}; kept for the next run" in failed.err
    assert [row["error"] for row in status(run_cli)["undelivered"]] == [reason]
    api_requests = []
    receiver.on_post = lambda: api_requests.append(len(sandbox.requests))
    before = len(sandbox.requests)
    good = run_cli("run")  # the receiver answers again
    assert good.code == 0, good.err
    assert [post.body["event"] for post in receiver.posts[2:]] == ["failed", "recovered"]
    assert api_requests[0] == before < api_requests[1]  # what waited went out first, before the run's own work
    assert receiver.posts[2].body == receiver.posts[0].body  # the notice as it was made, not made anew
    assert status(run_cli)["undelivered"] == []


def test_a_notice_for_a_channel_no_longer_configured_is_dropped_with_a_warning(
    sandbox, use_sandbox, run_cli, configure, receiver, monkeypatch
):
    configure(webhook=receiver, other="[retry]\nmax_attempts = 1\n")
    use_sandbox(sandbox)
    receiver.answer((503, "down", {}))
    assert run_cli("run", "--ledger", "999999").code == 5 and len(status(run_cli)["undelivered"]) == 1
    monkeypatch.delenv("NOTIFY_WEBHOOK_URL")  # the webhook is given up
    result = run_cli("run")
    assert result.code == 0 and "notification #1 dropped: webhook is no longer configured in [notify]" in result.err
    assert status(run_cli) == {"channels": [], "undelivered": []} and len(receiver.posts) == 1
    assert "notifications: none configured (see [notify] in config.toml)" in run_cli("status").out


# -- when: every failure, lasting conditions once a day, recovery ------------------------------------------


def test_an_overdue_date_is_told_once_then_once_a_day_then_when_it_closes(
    make_sandbox, use_sandbox, configure, receiver, told, workdir
):
    configure(webhook=receiver, other="[state]\nwarn_after_days = 2\n")
    sandbox = make_sandbox(today=TODAY - DAY)  # the API keeps yesterday open, here for days
    use_sandbox(sandbox)
    day = TODAY - DAY
    args = ("run", "--ledger", LEDGER, "--topic", "funds", "--from", str(day), "--to", str(day))
    assert told(*args, today=TODAY) == (0, [])  # open: normal, nothing to tell
    assert told(*args, today=TODAY + DAY) == (0, [])  # 2 days: pending, not overdue yet
    assert told(*args, today=TODAY + 2 * DAY) == (0, ["overdue"])  # 3 days: overdue
    assert told(*args, today=TODAY + 2 * DAY) == (0, [])  # an hour later: not again
    assert told(*args, today=TODAY + 3 * DAY) == (0, ["reminder"])  # the next day: once
    assert told(*args, today=TODAY + 3 * DAY) == (0, [])
    sandbox.today = TODAY + 4 * DAY  # weeks later in real life: the API closes it
    assert told(*args, today=TODAY + 4 * DAY) == (0, ["recovered"])
    assert told(*args, today=TODAY + 4 * DAY) == (0, [])
    overdue, reminder, recovered = (post.body for post in receiver.posts)
    command = (
        f"report-export run --config {workdir / 'config.toml'} --from {day} --to {day} --ledger {LEDGER} --topic funds"
    )
    fact = {
        "ledgerId": LEDGER,
        "topic": "funds",
        "date": str(day),
        "status": "open",
        "since": overdue["overdue"][0]["since"],
        "command": command,
    }
    assert overdue["title"] == "report-export on acct-test: 1 ledger date overdue"
    assert overdue["overdue"] == [{**fact, "ageDays": 3, "new": True}]
    assert reminder["title"] == "report-export on acct-test: still 1 ledger date overdue"
    assert reminder["overdue"] == [{**fact, "ageDays": 4, "new": False}]
    assert f"  ledger {LEDGER} funds {day}: open since " in reminder["text"] and command in reminder["text"]
    assert recovered["title"] == "report-export on acct-test: recovered" and recovered["overdue"] == []
    assert recovered["recovered"] == [
        {"condition": "overdue", "ledgerId": LEDGER, "topic": "funds", "date": str(day), "exported": True}
    ]
    assert f"Recovered:\n  ledger {LEDGER} funds {day}: exported\n" in recovered["text"]


def test_the_catch_up_tells_each_date_that_becomes_overdue(make_sandbox, use_sandbox, configure, receiver, told):
    configure(webhook=receiver, other="[state]\nwarn_after_days = 2\n")
    use_sandbox(make_sandbox(today=TODAY - DAY))  # every date from yesterday on stays open
    args = ("run", "--ledger", LEDGER, "--topic", "funds")
    assert [told(*args, today=TODAY + n * DAY) for n in range(3)] == [(0, []), (0, []), (11, ["overdue"])]
    assert told(*args, today=TODAY + 2 * DAY) == (11, [])
    assert told(*args, today=TODAY + 3 * DAY) == (11, ["overdue"])  # the next date is overdue now: new, told
    latest = receiver.posts[-1].body
    assert [(o["date"], o["new"]) for o in latest["overdue"]] == [(str(TODAY - DAY), False), (str(TODAY), True)]
    assert latest["title"] == "report-export on acct-test: 1 ledger date overdue"  # what is new; the text has both


def test_a_withdrawn_ledger_is_told_when_found_then_daily_then_when_readable_again(
    sandbox, use_sandbox, configure, receiver, told
):
    configure(webhook=receiver)
    use_sandbox(sandbox)
    assert told("run") == (0, [])  # a good night tells nothing
    sandbox.withdraw("5551234")
    assert told("run") == (5, ["failed"])  # the run that finds it fails, as before
    found = receiver.posts[-1].body
    assert [{**w, "since": None} for w in found["withdrawn"]] == [{"ledgerId": "5551234", "since": None, "new": True}]
    assert "No longer readable with these keys" in found["text"] and "ledger 5551234 (new), since " in found["text"]
    assert told("run") == (0, [])  # nothing to do, still withdrawn: told today already
    sandbox.today = TODAY + DAY
    assert told("run", today=TODAY + DAY) == (0, ["reminder"])
    assert receiver.posts[-1].body["title"] == "report-export on acct-test: still ledger 5551234 no longer readable"
    assert told("run", today=TODAY + DAY) == (0, [])
    sandbox.grant("5551234")
    assert told("run", today=TODAY + DAY) == (0, ["recovered"])
    assert receiver.posts[-1].body["recovered"] == [{"condition": "withdrawn", "ledgerId": "5551234"}]


def test_a_failure_is_told_once_another_at_once_and_the_command_that_succeeds_again_says_recovered(
    make_sandbox, use_sandbox, configure, receiver, told, workdir
):
    configure(webhook=receiver)
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    assert told("feed", "--ledger", "999999") == (5, ["failed"])
    assert told("feed", "--ledger", "999999") == (5, [])  # the same failure an hour later: told already
    assert receiver.posts[0].body["redo"] == f"report-export feed --config {workdir / 'config.toml'} --ledger 999999"
    assert told("run") == (0, [])  # the catch-up never failed: it has nothing to recover from
    use_sandbox(sandbox, client=(ACCOUNTING_CLIENT[0], "a-revoked-secret"))
    assert told("feed") == (4, ["failed"])  # another failure of the feed: told at once
    assert receiver.posts[-1].body["failing"][0]["exitCode"] == 4
    use_sandbox(sandbox)
    assert told("feed", "--ledger", "412345", "--topic", "funds") == (0, ["recovered"])
    back = receiver.posts[-1].body
    assert back["recovered"] == [{"condition": "failing", "command": "feed"}]
    assert "Recovered:\n  report-export feed: runs succeed again\n" in back["text"]
    assert told("feed", "--ledger", "412345", "--topic", "funds") == (0, [])


def test_a_failure_that_repeats_every_hour_is_told_once_then_daily_with_the_count_then_recovered(
    sandbox, use_sandbox, configure, receiver, told
):
    """Issue 20: a revoked key under the hourly schedule sent 24 mails and 24 webhooks a day."""
    configure(webhook=receiver)
    use_sandbox(sandbox, client=(ACCOUNTING_CLIENT[0], "a-revoked-secret"))
    events = {day: [told("run", today=day) for _hour in range(24)] for day in (TODAY, TODAY + DAY)}
    assert events == {TODAY: [(4, ["failed"])] + [(4, [])] * 23, TODAY + DAY: [(4, ["reminder"])] + [(4, [])] * 23}
    failed, summary = (post.body for post in receiver.posts)
    error = failed["run"]["error"]
    assert error.startswith("the token endpoint refused the keys") and failed["failing"][0]["new"]
    assert "Failing" not in failed["text"]  # a new failure is the run the notice is about
    assert summary["title"] == f"report-export on acct-test: still run failing since {TODAY} (exit 4, 25 failed runs)"
    assert summary["run"]["date"] == str(TODAY + DAY) and summary["run"]["error"] == error
    assert summary["failing"] == [
        {"command": "run", "exitCode": 4, "error": error, "since": str(TODAY), "failedRuns": 25, "new": False}
    ]
    assert f"\n  report-export run: exit 4 since {TODAY}, 25 failed runs: {error}\n" in summary["text"]
    use_sandbox(sandbox)  # the keys are fixed
    sandbox.today = TODAY + DAY
    assert told("run", today=TODAY + DAY) == (0, ["recovered"])
    assert told("run", today=TODAY + DAY) == (0, [])
    recovered = receiver.posts[-1].body
    assert recovered["recovered"] == [{"condition": "failing", "command": "run"}] and recovered["failing"] == []
    assert len(receiver.posts) == 3


def test_on_success_says_all_good_once_a_day(sandbox, use_sandbox, run_cli, configure, receiver, told):
    configure(webhook=receiver, notify="on_success = true\n")
    use_sandbox(sandbox)
    assert told("run") == (0, ["ok"])
    assert receiver.posts[-1].body["title"] == "report-export on acct-test: all good"
    assert receiver.posts[-1].body["run"]["outcome"] == "ok"
    assert told("run") == (0, [])  # nothing to do an hour later: said today already
    sandbox.today = TODAY + DAY
    result = run_cli("run", today=TODAY + DAY)
    assert result.code == 0 and receiver.posts[-1].body["run"]["summary"] == result.out.splitlines()[0]
    assert [post.body["event"] for post in receiver.posts] == ["ok", "ok"]


# -- notify --test -------------------------------------------------------------------------------------


def test_notify_test_says_what_each_channel_answered(run_cli, configure, mail_server, receiver):
    server = mail_server(security="starttls", login=("alerts", PASSWORD))
    configure(mail=server, webhook=receiver)
    result = run_cli("notify", "--test")
    assert result.code == 0, result.err
    email = f"email to it@example.com, kari@example.com via 127.0.0.1:{server.port} (starttls, login alerts)"
    assert result.out.splitlines() == [
        f"report-export notify: {email}: accepted: 250 2.0.0 Ok: queued as 4F2K1",
        "report-export notify: webhook to 127.0.0.1: accepted: HTTP 200 ok",
    ]
    [mail] = server.mails
    assert mail.message["Subject"] == "report-export on acct-test: test message" and "notify --test" in mail.body
    assert receiver.posts[0].body["event"] == "test" and receiver.posts[0].body["run"] is None
    receiver.answer((404, "no_service", {}))
    failed = run_cli("notify", "--test")
    assert failed.code == 12
    assert failed.out.splitlines()[1] == (
        "report-export notify: webhook to 127.0.0.1: not delivered: webhook to 127.0.0.1: HTTP 404 no_service: "
        "check NOTIFY_WEBHOOK_URL (a chat tool answers 404 or 410 for a webhook that was removed)"
    )
    assert len(server.mails) == 2 and len(receiver.posts) == 2  # a 404 is final: not retried


def test_notify_test_with_nothing_configured_says_how_to_configure(run_cli, workdir):
    assert_one_line(
        run_cli("notify", "--test"),
        3,
        "no notification channel is configured",
        "[notify] email_to",
        "NOTIFY_WEBHOOK_URL",
    )
    assert_one_line(run_cli("notify"), 2, "notify needs --test")


# -- configuration and secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml, env, words",
    [
        (
            'email_to = "it@example.com"\n',
            {},
            ["[notify] email_to in config.toml is 'it@example.com'", "a list of addresses"],
        ),
        ('email_to = ["it@example.com"]\n', {}, ["smtp_host is not", 'smtp_host = "smtp.example.com"']),
        ('smtp_host = "smtp.example.com"\n', {}, ["email_to is not"]),
        ('smtp_security = "ssl"\n', {}, ["[notify] smtp_security", '"starttls", "tls", "none"']),
        ('smtp_password = "hunter22"\n', {}, ["holds 'smtp_password'", "credentials belong in .env"]),
        ('webhook_url = "https://hooks.example/T/B/tok"\n', {}, ["holds 'webhook_url'", "credentials belong in .env"]),
        ('email_to = ["it@example.com"]\nsmtp_host = "h"\nsmtp_user = "u"\n', {}, ["NOTIFY_SMTP_PASSWORD is not"]),
        ('email_to = ["it@example.com"]\nsmtp_host = "h"\n', {"NOTIFY_SMTP_PASSWORD": "pw-1"}, ["smtp_user is not"]),
        (
            'email_to = ["it@example.com"]\nsmtp_host = "h"\nsmtp_user = "u"\nsmtp_security = "none"\n',
            {"NOTIFY_SMTP_PASSWORD": "pw-1"},
            ["unencrypted", '"starttls" or "tls"'],
        ),
        (
            'email_to = ["it@example.com"]\nsmtp_host = "h"\nsmtp_ca_file = "nope.pem"\n',
            {},
            ["smtp_ca_file 'nope.pem'", "is not a file"],
        ),
        ("on_success = 1\n", {}, ["[notify] on_success", "true or false"]),
        ("", {"NOTIFY_WEBHOOK_URL": f"hooks.example{TOKEN_PATH}"}, ["NOTIFY_WEBHOOK_URL is not an http(s) URL"]),
    ],
)
def test_a_notify_setting_that_cannot_work_is_named_with_the_fix(toml, env, words, run_cli, workdir, monkeypatch):
    (workdir / "config.toml").write_text("[notify]\n" + toml)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = run_cli("check")
    assert_one_line(result, 3, *words)
    assert TOKEN not in result.err and "hunter22" not in result.err and "pw-1" not in result.err


def test_no_secret_shows_in_a_message_a_log_status_or_the_state(
    sandbox, use_sandbox, run_cli, configure, mail_server, receiver, workdir, caplog
):
    caplog.set_level(logging.INFO, logger="httpx")  # httpx logs each request's URL when asked to
    server = mail_server(security="starttls", login=("alerts", PASSWORD))
    configure(mail=server, webhook=receiver, other="[retry]\nmax_attempts = 2\n")
    use_sandbox(sandbox)
    echo = (500, f"no route for POST {receiver.url}", {})  # a receiver that repeats the URL, token and all
    receiver.answer(echo, echo)
    shown = [run_cli("run", "--ledger", "999999", "--log-file", "run.log")]
    shown += [run_cli("status"), run_cli("status", "--json")]
    assert "[hidden]" in shown[-1].out  # the echo was there, and was hidden
    shown += [run_cli("run", "--log-file", "run.log"), run_cli("notify", "--test"), run_cli("status")]
    assert [post.body["event"] for post in receiver.posts[2:]] == ["failed", "recovered", "test"]  # delivered later
    everything = "\n".join(
        [
            *(r.out + r.err for r in shown),
            (workdir / "run.log").read_text(),
            caplog.text,
            *(mail.message.as_string() for mail in server.mails),
            *(json.dumps(post.body) for post in receiver.posts),
        ]
    )
    assert "HTTP Request: POST" in caplog.text and len(server.mails) == 3
    for secret in (PASSWORD, TOKEN, ACCOUNTING_CLIENT[1]):
        assert secret not in everything
        for path in (workdir / "state").iterdir():
            assert secret.encode() not in path.read_bytes(), path


# -- the same from the scheduler and the page ----------------------------------------------------------------


def test_a_scheduled_run_that_fails_is_told_like_any_other(make_sandbox, workdir, receiver):
    sandbox = make_sandbox(clock=time.monotonic, sleep=time.sleep)
    sandbox.add_fault("500:path=/settlement/v1/ledgers,count=0")
    (workdir / "config.toml").write_text(
        f'[schedule]\ncron = "23 4 * * *"\n[retry]\nmax_attempts = 1\n[notify]\ninstallation = "{INSTALLATION}"\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent.parent),
        "VIPPS_BASE_URL": sandbox.base_url,
        "VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0],
        "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1],
        "NOTIFY_WEBHOOK_URL": receiver.url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs", "schedule", "--now"], cwd=workdir, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not receiver.posts:
            assert process.poll() is None and time.monotonic() < deadline, "no notice from the scheduled run"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # the scheduler goes on after a failed run, and stops cleanly
    finally:
        process.kill()
        stderr = process.communicate()[1]
    [post] = receiver.posts
    run = post.body["run"]
    assert (post.body["event"], run["trigger"], run["command"], run["exitCode"]) == ("failed", "schedule", "run", 5)
    assert (
        run["error"].startswith("listing ledgers: ")
        and post.body["redo"] == f"report-export run --config {workdir / 'config.toml'}"
    )
    assert "notification #1 sent by webhook" in stderr and "Traceback" not in stderr


def test_an_export_from_the_page_that_fails_is_told_with_the_command_that_redoes_it(
    sandbox, fake_time, workdir, receiver
):
    (workdir / "config.toml").write_text(f'[export]\nstrict = true\n[notify]\ninstallation = "{INSTALLATION}"\n')
    sandbox.corrupt(LEDGER, "funds", dt.date(2026, 10, 5), "chain")
    env = {
        "VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0],
        "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1],
        "NOTIFY_WEBHOOK_URL": receiver.url,
    }
    with contextlib.contextmanager(serve_page)(workdir, sandbox, fake_time, TODAY, env) as page:
        with page.signed_in() as client:
            assert start_export(client).status_code == 303  # to the export's progress
        page.web.exports.join(30)
    [post] = receiver.posts
    assert (post.body["event"], post.body["run"]["trigger"], post.body["run"]["exitCode"]) == ("failed", "web", 5)
    assert [(d["date"], d["topic"]) for d in post.body["failedDates"]] == [("2026-10-05", "funds")]
    assert post.body["redo"] == (
        f"report-export run --config {workdir / 'config.toml'} --from {MONTH[0]} --to {MONTH[1]} --ledger {LEDGER}"
    )


# -- the edges: long lists, a stop, a bug --------------------------------------------------------------------


def test_the_text_lists_twenty_items_a_section_and_counts_the_rest_while_the_fields_hold_all():
    overdue = [
        {
            "ledgerId": "302321",
            "topic": "funds",
            "date": f"2026-10-{n:02}",
            "status": "open",
            "since": "s",
            "ageDays": 40,
            "new": True,
            "command": "c",
        }
        for n in range(1, 26)
    ]
    made = notice.compose("overdue", INSTALLATION, "25 ledger dates overdue", overdue=overdue, warn_after_days=35)
    listed = [line for line in made["text"].splitlines() if line.startswith("  ledger 302321 funds")]
    assert [line.split()[3] for line in listed] == [f"2026-10-{n:02}" for n in range(1, 21)]
    assert "  ... and 5 more (report-export status lists all)" in made["text"] and made["overdue"] == overdue


def interrupt_after_the_first_date(monkeypatch, presses: int) -> None:
    """Ctrl-C, as a real SIGINT, once the run has recorded its first ledger date: pressed once, the run stops
    after the date in progress (exit 130, "stopped"); twice, at once (KeyboardInterrupt: exit 130, "interrupted")."""
    record = Dates.record_exported

    def then_interrupt(self, *args, **kwargs):
        record(self, *args, **kwargs)
        monkeypatch.setattr(Dates, "record_exported", record)  # once
        watcher = next(t for t in threading.enumerate() if t.name == "stop-on-signal")
        os.kill(os.getpid(), signal.SIGINT)
        watcher.join(5)  # it has set the run's stop
        if presses == 2:
            os.kill(os.getpid(), signal.SIGINT)  # raises KeyboardInterrupt here

    monkeypatch.setattr(Dates, "record_exported", then_interrupt)


@pytest.mark.parametrize("presses, outcome", [(1, "stopped"), (2, "interrupted")])
def test_an_interrupted_run_is_no_failure_and_no_recovery(
    presses, outcome, sandbox, use_sandbox, run_cli, configure, receiver, told, monkeypatch
):
    """Issue 20: "an interrupted run notified as a failure" survived the suite. After a failure told, the run that
    is stopped neither fails (a new failure, told at once) nor succeeds (recovered): it tells nothing."""
    configure(webhook=receiver, other=f'[state]\nstart_date = "{TODAY - 20 * DAY}"\n')  # 200 ledger dates
    use_sandbox(sandbox)
    assert told("run", "--ledger", "999999") == (5, ["failed"])
    interrupt_after_the_first_date(monkeypatch, presses)
    assert told("run", "--concurrency", "1") == (130, [])
    runs = json.loads(run_cli("status", "--json").out)["runs"]
    assert (runs[0]["outcome"], runs[0]["exitCode"]) == (outcome, 130)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # pytest's again
    assert told("run") == (0, ["recovered"])


def test_a_run_asked_to_stop_tries_a_notice_once_and_leaves_it_for_the_next_run(workdir, receiver, fake_time):
    settings = config.load(None, environ={"NOTIFY_WEBHOOK_URL": receiver.url})
    receiver.answer((503, "busy", {}))
    stop = threading.Event()
    stop.set()  # SIGTERM came while the run ended: no waiting between tries
    with State(workdir / "state.sqlite3") as state:
        mailbox = Outbox(settings, state, clock=fake_time.clock, sleep=fake_time.sleep, stop=stop)
        mailbox.queue(notice.for_test(INSTALLATION), None)
        mailbox.deliver()
        [waiting] = state.notices.outbox()
    assert len(receiver.posts) == 1 and not fake_time.slept
    assert waiting.error == "not tried again: the run was asked to stop; the next run tries again"


def test_a_bug_in_the_notifications_is_logged_and_the_run_ends_as_it_would_have(
    sandbox, use_sandbox, run_cli, configure, receiver, monkeypatch
):
    configure(webhook=receiver)
    use_sandbox(sandbox)

    def broken(self, run, result):
        raise KeyError("a bug")

    monkeypatch.setattr(Notifier, "decide", broken)
    failed = run_cli("run", "--ledger", "999999")
    assert failed.code == 5 and f"report-export: error: {NOT_READABLE}" in failed.err
    assert "WARNING notifications: KeyError: 'a bug'; the export is not affected" in failed.err
    good = run_cli("run")
    assert good.code == 0 and "notifications: KeyError" in good.err and not receiver.posts


def test_a_voucher_that_waits_is_told_once_a_day_and_when_it_is_written(
    make_sandbox, use_sandbox, configure, receiver, told, workdir
):
    """Issue 18: a voucher held back by a missing mapping is a lasting condition, like an overdue date."""
    committed = (Path(__file__).parent.parent / "config.toml").read_text(encoding="utf-8")
    chart = committed[committed.index("\n[accounts]\n") :]  # its chart, without its own [notify]
    start = chart.index("[accounts.types.instant-payout-fee]")
    gap = chart[:start] + chart[chart.index("\n\n", start) :]
    sandbox = make_sandbox()
    days = [TODAY - n * DAY for n in range(1, 8)]
    day = next(d for d in days if "instant-payout-fee" in {e["entryType"] for e in sandbox.entries(LEDGER, "funds", d)})
    configure(webhook=receiver, other=gap)
    use_sandbox(sandbox)
    args = ("run", "--ledger", LEDGER, "--topic", "funds", "--format", "gbat10", "--from", str(day), "--to", str(day))
    assert told(*args, today=TODAY) == (13, ["waiting"])
    assert told("run", "--ledger", LEDGER, "--topic", "funds", today=TODAY) == (13, [])  # an hour later: not again
    configure(webhook=receiver, other=chart)
    assert told("run", "--ledger", LEDGER, "--topic", "funds", today=TODAY) == (0, ["recovered"])
    waiting, recovered = (post.body for post in receiver.posts)
    assert waiting["title"] == "report-export on acct-test: 1 file waiting"
    [fact] = waiting["waiting"]
    assert (fact["ledgerId"], fact["date"], fact["format"], fact["new"]) == (LEDGER, str(day), "gbat10", True)
    assert "entry type 'instant-payout-fee' has no account" in fact["reason"] and fact["reason"] in waiting["text"]
    assert recovered["recovered"] == [
        {"condition": "waiting", "ledgerId": LEDGER, "topic": "funds", "date": str(day), "format": "gbat10"}
    ]
