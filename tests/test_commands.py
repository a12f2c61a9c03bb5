"""`ledgers`, `check` and the console entry points."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TODAY

from jobs import config
from jobs.config import installation_minute
from jobs.sandbox import ACCOUNTING_CLIENT

DAY = dt.timedelta(days=1)


def test_ledgers_lists_every_readable_ledger_with_the_account_masked(sandbox, use_sandbox, run_cli):
    use_sandbox(sandbox)
    result = run_cli("ledgers", "--json")
    assert result.code == 0, result.err
    listed = json.loads(result.out)
    served = sandbox.ledgers()
    assert [ledger["ledgerId"] for ledger in listed] == [ledger["ledgerId"] for ledger in served]
    for row, ledger in zip(listed, served, strict=True):
        account = ledger["payoutBankAccount"]["id"]
        assert account not in result.out
        assert row["payoutAccount"].endswith(account[-4:])
        assert row["currency"] == ledger["currency"]
        assert ledger["owner"]["id"] in row["owner"]
    table = run_cli("ledgers")
    assert table.code == 0
    assert table.out.splitlines()[0].split() == ["ledgerId", "currency", "owner", "salesUnits", "payoutAccount"]
    assert len(table.out.splitlines()) == len(served) + 1


def test_check_says_ok_in_one_line(sandbox, use_sandbox, run_cli):
    use_sandbox(sandbox)
    result = run_cli("check")
    assert result.code == 0
    line, minute = result.out.strip(), installation_minute(ACCOUNTING_CLIENT[0])
    assert line == (
        f"report-export: ok: accounting keys accepted by {sandbox.base_url}; {len(sandbox.ledgers())} ledgers readable;"
        f" schedule {minute} * * * * (Europe/Oslo, from this installation's minute)"
    )


def test_each_installation_runs_at_a_minute_of_its_own_never_in_the_first_ten(workdir, monkeypatch):
    """The API asks installations to spread over the hour: the minute follows the client id, stably."""
    minutes = [installation_minute(f"client-{n}") for n in range(2000)]
    assert min(minutes) == 11 and max(minutes) == 59  # never :00-:10, and every other minute is used
    assert max(minutes.count(m) for m in set(minutes)) < 2 * len(minutes) / 49  # spread evenly enough
    assert installation_minute("client-7") == minutes[7]  # the same id, the same minute
    monkeypatch.setenv("VIPPS_CLIENT_ID", "client-7")
    monkeypatch.setenv("VIPPS_CLIENT_SECRET", "s")
    assert config.load().schedule.cron == f"{minutes[7]} * * * *"
    (workdir / "config.toml").write_text('[schedule]\ncron = "17 6 * * *"\n')
    assert config.load().schedule.cron == "17 6 * * *"  # a configured cron wins


def test_print_cron_gives_a_crontab_line_at_this_installations_minute(workdir, monkeypatch, run_cli):
    (workdir / "config.toml").write_text("")  # the line names it: without one it names none (test_print_cron_...)
    monkeypatch.setenv("VIPPS_CLIENT_ID", "client-7")
    monkeypatch.setenv("VIPPS_CLIENT_SECRET", "s")
    result = run_cli("schedule", "--print-cron")
    assert result.code == 0, result.err
    tz, line = result.out.splitlines()
    fields = line.split()
    assert tz == "CRON_TZ=Europe/Oslo"
    assert fields[:5] == [str(installation_minute("client-7")), "*", "*", "*", "*"]
    assert fields[5:7] == ["flock", "-n"] and f"--config {workdir / 'config.toml'}" in line and "run --quiet" in line


def print_cron(*args: str, cwd: Path) -> tuple[str, str]:
    """The line `schedule --print-cron` prints, run by the installed script in `cwd` with its shell's PATH only;
    and what it says on stderr."""
    script = shutil.which("report-export", path=str(Path(sys.executable).parent))
    printed = subprocess.run(
        [script, "schedule", "--print-cron", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
        timeout=60,
        check=True,
    )
    tz, line = printed.stdout.splitlines()
    assert tz == "CRON_TZ=Europe/Oslo"
    return line.split(" ", 5)[5], printed.stderr  # after the five time fields: the command


def as_cron_runs(command: str, home: Path) -> subprocess.CompletedProcess:
    """As cron starts a job: /bin/sh -c in the user's home, with a bare environment."""
    env = {"HOME": str(home), "LOGNAME": "cron", "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
    return subprocess.run(["/bin/sh", "-c", command], cwd=home, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("config_file", ["nightly.toml", None])
def test_the_printed_crontab_line_runs_as_cron_runs_it_wherever_it_was_printed(make_sandbox, workdir, config_file):
    sandbox = make_sandbox(page_size=1000)
    installation, elsewhere, home = workdir / "installation", workdir / "elsewhere", workdir / "home"
    for folder in (installation, elsewhere, home):
        folder.mkdir()
    (installation / ".env").write_text(
        f"VIPPS_BASE_URL={sandbox.base_url}\nVIPPS_CLIENT_ID={ACCOUNTING_CLIENT[0]}\n"
        f"VIPPS_CLIENT_SECRET={ACCOUNTING_CLIENT[1]}\n"
    )
    if config_file:  # printed from another folder, naming the config by a relative path
        (installation / config_file).write_text('[export]\nformats = ["csv"]\n')
        command, said = print_cron("--config", f"../installation/{config_file}", cwd=elsewhere)
    else:  # no config file: printed in the folder whose .env, state and reports the line must use
        command, said = print_cron(cwd=installation)
    assert said == ""
    done = as_cron_runs(command, home)
    assert done.returncode == 0, (command, done.stderr, done.stdout)
    assert (installation / "state" / "report-export.sqlite3").is_file()
    assert " INFO report-export run: 5 ledgers, catch-up: " in (installation / "report-export.log").read_text()
    assert not list(home.iterdir()) and not list(elsewhere.iterdir())  # nothing where cron or the printing ran


def test_print_cron_names_keys_that_cron_would_not_find(workdir):
    (workdir / ".env").write_text("VIPPS_CLIENT_ID=client-7\n")
    command, said = print_cron(cwd=workdir)
    assert command.startswith(f"cd {workdir} && flock -n {workdir / 'cron.lock'} ") and "--config" not in command
    assert said == (
        f"report-export: note: VIPPS_CLIENT_SECRET is not in {workdir / '.env'}, and cron starts the line "
        "without this shell's environment: put it there\n"
    )


def test_console_script_and_module_run_a_real_export(make_sandbox, workdir):
    sandbox = make_sandbox(page_size=1000)
    script = shutil.which("report-export", path=str(Path(sys.executable).parent))
    assert script, "the console script is installed with the project"
    env = {
        **os.environ,
        "VIPPS_BASE_URL": sandbox.base_url,
        "VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0],
        "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1],
    }
    # The feed, not a date: these processes have the machine's today, the sandbox has TODAY.
    args = ["feed", "--ledger", "412345", "--topic", "funds", "--format", "csv"]
    for command in ([script], [sys.executable, "-m", "jobs"]):
        done = subprocess.run([*command, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert list((workdir / "reports" / "412345" / "funds" / "feed").glob("*.csv"))


def test_the_log_file_gets_the_full_log_and_the_summary_even_when_quiet(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    quiet = run_cli("run", "--quiet", "--log-file", "run.log")
    assert quiet.code == 0 and quiet.out == "" and quiet.err == ""
    loud = run_cli("run", "--from", str(TODAY - 2 * DAY), "--log-file", "run.log")
    assert loud.code == 0 and loud.out.startswith("report-export run: ")
    log = (workdir / "run.log").read_text()
    assert log.count(" INFO report-export run: ") == 2
    assert f"INFO ledger {sandbox.ledgers()[0]['ledgerId']} is new" in log
