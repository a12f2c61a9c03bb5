"""Real processes: SIGKILL at several points, two runs started at once, the scheduler.

The exporter runs as `python -m jobs` in a subprocess with its own real calendar,
so the sandbox answers for the real today here, with real latency to give the
processes time to overlap and be killed part way.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import pytest
from expected import HEADER, csv_rows, read_csv
from test_nightly import assert_exported, feed_rows, served_feed

DAY = dt.timedelta(days=1)
LEDGERS = ["302321", "0302399"]


def real_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Oslo")).date()


@pytest.fixture
def live_sandbox(make_sandbox):
    return make_sandbox(today=real_today(), latency_ms=10, page_size=100, clock=time.monotonic, sleep=time.sleep)


@pytest.fixture
def start(live_sandbox, use_sandbox, workdir):
    use_sandbox(live_sandbox)  # for the processes and for in-process runs alike
    started = []

    def start(*argv: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "jobs", *argv], cwd=workdir,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_for(condition, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def final_files(folder, pattern="*.csv"):
    return [p for p in folder.rglob(pattern) if not p.name.startswith(".")]


def test_sigkill_at_several_points_then_a_run_completes_without_gaps_or_doubles(live_sandbox, start, run_cli, workdir):
    first_day = real_today() - 4 * DAY
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{first_day}"\n')
    args = ("run", "--ledger", LEDGERS[0], "--ledger", LEDGERS[1])
    for files_before_kill in (1, 4, 9):
        process = start(*args)
        wait_for(lambda n=files_before_kill: len(final_files(workdir / "reports")) >= n, process)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        for path in final_files(workdir / "reports"):  # whatever exists is complete
            ledger, topic, day = path.stem.split("_")
            served = live_sandbox.entries(ledger, topic, dt.date.fromisoformat(day))
            assert read_csv(path) == [HEADER] + csv_rows(served, ledger)
    result = run_cli(*args, today=real_today())
    assert result.code == 0, result.err
    days = [first_day + n * DAY for n in range(4)]
    assert_exported(live_sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", LEDGERS, days)
    assert not [p for p in workdir.rglob("*.tmp")]
    assert len(final_files(workdir / "reports")) == len(LEDGERS) * 2 * len(days)
    runs = {r["outcome"] for r in json.loads(run_cli("status", "--json").out)["runs"]}
    assert "unfinished (killed, or still running)" in runs


def test_a_killed_feed_run_is_resumed_without_repeating_or_skipping(live_sandbox, start, run_cli, workdir):
    (workdir / "config.toml").write_text("[feed]\nbatch_entries = 300\n")
    ledger = "412345"
    process = start("feed", "--ledger", ledger, "--topic", "funds")
    feed_folder = workdir / "reports" / ledger / "funds" / "feed"
    wait_for(lambda: len(final_files(feed_folder)) >= 2 if feed_folder.exists() else False, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    result = run_cli("feed", "--ledger", ledger, "--topic", "funds", today=real_today())
    assert result.code == 0, result.err
    assert feed_rows(workdir / "reports", ledger, "funds") == csv_rows(
        served_feed(live_sandbox, ledger, "funds"), ledger
    )
    assert not [p for p in workdir.rglob("*.tmp")]


def test_two_runs_started_at_once_one_waits_or_steps_aside(live_sandbox, start, workdir):
    args = ("run", "--ledger", LEDGERS[0], "--from", str(real_today() - 3 * DAY), "--to", str(real_today() - DAY))
    first, second = start(*args), start(*args)
    codes = sorted(p.wait() for p in (first, second))
    assert codes == [0, 7]
    loser = first if first.returncode == 7 else second
    assert "holds" in loser.stderr.read()
    queued = [start(*args, "--wait"), start(*args, "--wait")]
    assert [p.wait() for p in queued] == [0, 0]
    for path in final_files(workdir / "reports"):
        ledger, topic, day = path.stem.split("_")
        assert read_csv(path) == [HEADER] + csv_rows(
            live_sandbox.entries(ledger, topic, dt.date.fromisoformat(day)), ledger
        )


def test_the_scheduler_runs_the_catch_up_and_stops_cleanly_on_sigterm(live_sandbox, start, run_cli, workdir):
    (workdir / "config.toml").write_text('[schedule]\ncron = "23 4 * * *"\n')
    process = start("schedule", "--now")
    state = workdir / "state" / "report-export.sqlite3"

    def one_scheduled_run_done() -> bool:
        result = run_cli("status", "--json") if state.exists() else None
        runs = json.loads(result.out)["runs"] if result and result.code == 0 else []
        return any(r["trigger"] == "schedule" and r["endedAt"] for r in runs)

    wait_for(one_scheduled_run_done, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    stderr = process.stderr.read()
    assert "Traceback" not in stderr and "schedule stopped" in stderr
    yesterday = real_today() - DAY
    assert len(final_files(workdir / "reports", f"*_{yesterday}.csv")) == 2 * len(live_sandbox.ledgers())


def test_sigterm_stops_a_run_after_the_date_in_progress(live_sandbox, start, run_cli, workdir):
    first_day = real_today() - 4 * DAY
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{first_day}"\n')
    process = start("run", "--ledger", LEDGERS[0], "--ledger", LEDGERS[1])
    wait_for(lambda: len(final_files(workdir / "reports")) >= 1, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 130
    assert "stopped on request" in process.stderr.read()
    assert len(final_files(workdir / "reports")) < 16  # it did stop early
    assert not [p for p in workdir.rglob("*.tmp")]
    runs = json.loads(run_cli("status", "--json").out)["runs"]
    assert runs[0]["outcome"] == "stopped" and runs[0]["exitCode"] == 130
    assert run_cli("run", "--ledger", LEDGERS[0], "--ledger", LEDGERS[1], today=real_today()).code == 0
    days = [first_day + n * DAY for n in range(4)]
    assert_exported(live_sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", LEDGERS, days)
