"""Every known failure: one line naming the problem and the fix, its exit code, no traceback, no secret."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from conftest import TODAY

from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State

SECRET = ACCOUNTING_CLIENT[1]
DAY = dt.timedelta(days=1)


def assert_one_line(result, code, *words):
    """The error is the last line; what comes before is the log of work done (INFO lines, not on a terminal)."""
    assert result.code == code, (result.code, result.err)
    *log_lines, error = result.err.strip().splitlines()
    assert error.startswith(("report-export: error: ", "report-export run: error: ", "report-export: error")), error
    assert all(" INFO " in line for line in log_lines), result.err
    for word in words:
        assert word in error
    assert "Traceback" not in result.err
    assert SECRET not in result.err + result.out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "--from", "2026-11-10", "--to", "2026-11-01"], ["after --to", "swap"]),
        (["run", "--from", "2026-13-01"], ["not a date", "YYYY-MM-DD"]),
        (["run", "--to", "2026-12-24"], ["in the future"]),
        (["run", "--topic", "sales"], ["invalid choice", "funds"]),
        (["run", "--format", "pdf"], ["invalid choice", "xlsx"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_usage_errors_exit_2(argv, words, sandbox, use_sandbox, run_cli):
    use_sandbox(sandbox)
    assert_one_line(run_cli(*argv), 2, *words)
    assert not sandbox.requests  # refused before any call


def test_missing_credentials_exit_3(run_cli, workdir, monkeypatch):
    monkeypatch.setenv("VIPPS_CLIENT_ID", "someone")
    assert_one_line(run_cli("run"), 3, "VIPPS_CLIENT_SECRET", ".env")
    assert not (workdir / "reports").exists()


def test_secrets_in_config_toml_are_refused(run_cli, workdir):
    (workdir / "config.toml").write_text('[api]\nclient_secret = "do-not"\n')
    result = run_cli("check")
    assert_one_line(result, 3, "config.toml")
    assert "do-not" not in result.err


def test_wrong_credentials_exit_4(sandbox, use_sandbox, run_cli):
    use_sandbox(sandbox, (ACCOUNTING_CLIENT[0], "wrong-secret"))
    result = run_cli("run")
    assert_one_line(result, 4, "invalid_client", "VIPPS_CLIENT_SECRET")
    assert "wrong-secret" not in result.err


def test_an_unreachable_host_exits_5_after_bounded_retries(run_cli, workdir, monkeypatch, fake_time):
    (workdir / "config.toml").write_text("[retry]\nmax_attempts = 3\n")
    monkeypatch.setenv("VIPPS_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("VIPPS_CLIENT_ID", ACCOUNTING_CLIENT[0])
    monkeypatch.setenv("VIPPS_CLIENT_SECRET", SECRET)
    assert_one_line(run_cli("check"), 5, "cannot connect", "gave up after 3 attempts", "VIPPS_BASE_URL")
    assert len(fake_time.slept) == 2


def test_a_ledger_the_keys_cannot_read_exits_5_before_any_file(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert_one_line(run_cli("run", "--ledger", "999999"), 5, "ledger 999999 is not readable", "grant access")
    assert not list((workdir / "reports").rglob("*.*"))


def test_the_real_process_prints_no_traceback_and_exits_with_the_code(sandbox, workdir):
    env = {
        **os.environ,
        "VIPPS_BASE_URL": sandbox.base_url,
        "VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0],
        "VIPPS_CLIENT_SECRET": "not-the-secret",
    }
    done = subprocess.run(
        [sys.executable, "-m", "jobs", "check"], env=env, capture_output=True, text=True, cwd=workdir, timeout=60
    )
    assert done.returncode == 4
    assert done.stderr.startswith("report-export: error: the token endpoint refused the keys (invalid_client)")
    assert "Traceback" not in done.stderr and "not-the-secret" not in done.stderr + done.stdout


def test_today_is_allowed_and_reported_open(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = sandbox.ledgers()[0]["ledgerId"]
    result = run_cli("run", "--from", TODAY.isoformat(), "--ledger", ledger, "--topic", "funds")
    assert result.code == 0  # an open date is normal: only --detailed-exit-codes says 8
    assert "open: ledger" in result.out


# -- user mistakes are errors with a fix, never "internal error (a bug)" --------------------------------


# Shared with tests/test_config_check.py, which runs `check` and `run` over them.
WRONG_KINDS = [
    ("[export]\nout = 5\n", ["[export] out in config.toml is 5", "text in quotes"]),
    ('[api]\nconcurrency = "x"\n', ["[api] concurrency in config.toml is 'x'", "whole number from 1 to 64"]),
    ("[api]\nconcurrency = 0\n", ["[api] concurrency", "whole number from 1 to 64"]),
    ('[export]\ntopics = "funds"\n', ["[export] topics in config.toml is 'funds'", 'a list of "funds", "fees"']),
    ('[export]\nformats = ["pdf"]\n', ["[export] formats", 'a list of "csv", "xlsx"']),
    ("[export]\ntimezone = 5\n", ["[export] timezone", "text in quotes"]),
    ("[export]\nstrict = 1\n", ["[export] strict", "true or false"]),
    ("[export]\nxlsx_sheet_rows = 1\n", ["[export] xlsx_sheet_rows", "from 2 to 1048576"]),
    ("[export]\nfile_mode = 384\n", ["[export] file_mode", 'text in quotes, e.g. "0600"']),
    ("[api]\nbase_url = 5\n", ["[api] base_url", "text in quotes"]),
    ("[api]\ntoken_path = 5\n", ["[api] token_path", "text in quotes"]),
    ('[api]\ntimeout_seconds = "30"\n', ["[api] timeout_seconds", "positive number"]),
    ("[retry]\nmax_attempts = 2.5\n", ["[retry] max_attempts", "whole number"]),
    ("[state]\npath = 5\n", ["[state] path", "text in quotes"]),
    ("[state]\nstart_date = 2026-01-01T00:00:00\n", ["[state] start_date", "YYYY-MM-DD"]),
    ("[state]\nwarn_after_days = 0\n", ["[state] warn_after_days", "whole number of at least 1"]),
    ("[state]\ngive_up_after_days = 62\n", ["[state] give_up_after_days", "warn_after_days"]),
    ("[feed]\nbatch_entries = true\n", ["[feed] batch_entries", "whole number"]),
    ("[schedule]\ncron = 5\n", ["[schedule] cron", "text in quotes"]),
    ('[schedule]\ntimezone = ["Europe/Oslo"]\n', ["[schedule] timezone", "text in quotes"]),
    ('[csv]\ncolumns = "amount"\n', ["[csv] columns", "list of column names"]),
    ("[csv.rename]\namount = 5\n", ["[csv] rename", 'column = "new name"']),
    ("[system]\nname = 5\n", ["Vipps-System-Name", "[system]"]),
    ("[export]\nconcurrency = 4\n", ["[export] concurrency", "not a setting", "known in [export]"]),
    ("[exports]\nout = 'x'\n", ["[exports]", "not a table this version reads"]),
    ("api = 5\n", ["api in", "must be a table"]),
]


@pytest.mark.parametrize("toml, words", WRONG_KINDS)
def test_a_config_value_of_the_wrong_kind_is_named_with_the_fix(toml, words, run_cli, workdir):
    (workdir / "config.toml").write_text(toml)
    assert_one_line(run_cli("check"), 3, *words)
    assert run_cli("run", "--help").code == 0  # --help still works, with the built-in defaults


def test_a_config_toml_that_is_not_utf8_exits_3(run_cli, workdir):
    (workdir / "config.toml").write_bytes('[export]\nout = "rapporter-år"\n'.encode("latin-1"))
    assert_one_line(run_cli("check"), 3, "config.toml is not UTF-8 text", "0xe5", "save it as UTF-8")


def test_a_dotenv_that_is_not_utf8_exits_3(run_cli, workdir):
    (workdir / ".env").write_bytes("VIPPS_CLIENT_ID=bjørn\n".encode("latin-1"))
    assert_one_line(run_cli("check"), 3, ".env is not UTF-8 text")


def test_a_state_folder_that_cannot_be_made_exits_3(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    (workdir / "state").write_text("a file where the state folder should be")
    assert_one_line(run_cli("run"), 3, "cannot open the lock file state/report-export.sqlite3.lock", "[state] path")
    assert not sandbox.requests and not (workdir / "reports").exists()


def test_a_lock_file_that_cannot_be_opened_exits_3(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    (workdir / "state" / "report-export.sqlite3.lock").mkdir(parents=True)
    assert_one_line(run_cli("run"), 3, "cannot open the lock file", "Is a directory", "--state")


def test_a_state_file_that_is_not_a_state_exits_3_and_is_left_alone(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    state = workdir / "state" / "report-export.sqlite3"
    state.parent.mkdir()
    state.write_text("ledger;amount\n302321;100\n")
    assert_one_line(run_cli("run"), 3, "is not a state this release can use", "not a database", "--state")
    assert state.read_text() == "ledger;amount\n302321;100\n"


@pytest.mark.parametrize(
    "content, words",
    [
        (None, ["no state at", "no run has written one there yet", "--state"]),
        (b"", ["is an empty file", "no run has written to it yet"]),
        (b"ledger;amount\n302321;100\n", ["is not a report-export state", "not a database"]),
        ("sqlite", ["is not a report-export state", "none of the tables report-export writes"]),
    ],
)
def test_status_only_reads_and_says_what_it_found(content, words, run_cli, workdir):
    state = workdir / "state" / "report-export.sqlite3"
    state.parent.mkdir()
    if content == "sqlite":  # a database of some other program
        with closing(sqlite3.connect(state)) as db:
            db.execute("CREATE TABLE invoices (id INTEGER)")
            db.commit()
    elif content is not None:
        state.write_bytes(content)
    before = {p.name: p.read_bytes() for p in state.parent.iterdir()}
    assert_one_line(run_cli("status"), 3, *words)
    assert {p.name: p.read_bytes() for p in state.parent.iterdir()} == before  # nothing created or changed


def test_verify_fails_on_a_folder_without_manifests(run_cli, workdir):
    (workdir / "reports").mkdir()
    result = run_cli("verify", "reports")
    assert result.code == 10
    assert "no manifest under reports, so nothing can be checked" in result.out
    assert "every file matches" not in result.out


@pytest.mark.parametrize(
    "manifest, words",
    [
        ("{}", ['no "files" list', "not a report-export manifest"]),
        ('{"files": [{"sha256": "ab"}]}', ['a file without a plain "name"']),
        ('{"files": [{"name": "../../etc/passwd", "sha256": "' + "0" * 64 + '"}]}', ['without a plain "name"']),
        ('{"files": [{"name": "x.csv"}]}', ['x.csv has no "sha256" digest']),
        ('{"files": [', ["not JSON"]),
        ('["files"]', ['no "files" list']),
    ],
)
def test_verify_names_a_manifest_it_cannot_use_and_fails(manifest, words, run_cli, workdir):
    folder = workdir / "reports" / "302321" / "funds"
    folder.mkdir(parents=True)
    (folder / "302321_funds_2026-11-19.manifest.json").write_text(manifest)
    result = run_cli("verify", "reports")
    assert result.code == 10, result.err
    assert "unreadable manifest: " in result.out and all(word in result.out for word in words)
    assert "Traceback" not in result.err


def test_the_future_date_message_names_the_flag_that_was_typed(sandbox, use_sandbox, run_cli):
    use_sandbox(sandbox)
    assert_one_line(run_cli("run", "--from", "2026-12-24"), 2, "--from 2026-12-24 is in the future")
    assert_one_line(run_cli("run", "--to", "2026-12-24"), 2, "--to 2026-12-24 is in the future")


def test_flags_that_did_nothing_are_gone(run_cli):
    for argv in (["feed", "--strict"], ["status", "--wait"], ["schedule", "--wait"]):
        assert run_cli(*argv).code == 2, argv


def test_help_shows_the_defaults_of_the_config_in_use(run_cli, workdir):
    (workdir / "config.toml").write_text(
        '[export]\nout = "/srv/rapporter"\ntopics = ["fees"]\nstrict = true\n[api]\nconcurrency = 3\n'
        '[csv]\npreset = "dk"\n[state]\npath = "/var/lib/re/state.db"\n'
    )
    shown = " ".join(run_cli("run", "--help").out.split())
    for words in (
        "output folder (default: /srv/rapporter)",
        "default: fees)",
        "(default: dk)",
        "(default: 3)",
        "(default: /var/lib/re/state.db)",
        "no file (default: on)",
    ):
        assert words in shown, words


def test_output_cut_short_by_its_reader_is_no_bug(workdir):
    """`report-export status | head -1` closes the pipe while status still prints: far more than a pipe holds."""
    with State(workdir / "state" / "report-export.sqlite3") as state:
        for n in range(1000):
            for day in range(5):
                state.dates.record_pending((f"{n:06}", "funds", TODAY - day * DAY), "open", "tryLater", 1, TODAY)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    pipeline = f"{sys.executable} -m jobs status | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline], cwd=workdir, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.stdout.startswith("ledger 000000 funds: last exported -; pending: ")
    assert (done.returncode, done.stderr) == (141, "")


def test_a_state_file_that_cannot_be_written_exits_3_before_the_run_starts(sandbox, use_sandbox, run_cli, workdir):
    """SQLite opens a file it cannot write read-only without a word; the run must not find out at its first row."""
    use_sandbox(sandbox)
    state = workdir / "state" / "report-export.sqlite3"
    State(state).close()
    if os.geteuid() == 0:  # root writes any file whatever its mode: make it immutable instead
        subprocess.run(["chattr", "+i", str(state)], check=True)
        undo = ["chattr", "-i", str(state)]
    else:
        state.chmod(0o444)
        undo = ["chmod", "644", str(state)]
    try:
        assert_one_line(run_cli("run"), 3, "cannot open state", "attempt to write a readonly database", "writable")
        assert not sandbox.requests
        assert run_cli("status").code == 0  # reading it still works
    finally:
        subprocess.run(undo, check=True)
