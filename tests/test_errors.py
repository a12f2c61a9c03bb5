"""Every known failure: one line naming the problem and the fix, its exit code, no traceback, no secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TODAY

from jobs.sandbox import ACCOUNTING_CLIENT

SECRET = ACCOUNTING_CLIENT[1]


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
    assert result.code == 8
    assert "open: ledger" in result.out
