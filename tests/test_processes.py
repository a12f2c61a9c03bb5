"""Real processes: SIGKILL at several points, two runs started at once, the scheduler.

The exporter runs in a subprocess (the CLI's main() under `python -c`) with TODAY as
its today, like the sandbox, whatever the machine's date; the sandbox has real
latency to give the processes time to overlap and be killed part way. Where a kill
must land at one exact step, the process signals itself there (see MAIN).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import TODAY
from expected import HEADER, csv_rows, read_csv
from test_nightly import assert_exported, feed_rows, served_feed

DAY = dt.timedelta(days=1)
LEDGERS = ["302321", "0302399"]

# `python -c MAIN TODAY [STEP] -- ARGS`: the CLI as `python -m jobs` runs it, but with today injected.
# A STEP makes the process signal itself right after it takes that step:
#   batch-files   SIGKILL once the feed has committed its second batch's files and manifest (the
#                 cursor past them is not stored yet)
#   feed-cursor   SIGKILL once the feed has stored the cursor past its second batch
#   run-started   SIGSTOP once the run is recorded, so under the lock, before any request
MAIN = """
import datetime, os, signal, sys
from jobs import cli, feed
from jobs.state import feeds, runs

today, steps, argv = sys.argv[1], sys.argv[2:sys.argv.index("--")], sys.argv[sys.argv.index("--") + 1:]
taken = 0

def then(real, times, signum, counts=lambda *args: True):
    def step(*args, **kwargs):
        global taken
        value = real(*args, **kwargs)
        taken += counts(*args)
        if taken == times:
            os.kill(os.getpid(), signum)
        return value
    return step

if steps == ["batch-files"]:
    feed.write_manifest = then(feed.write_manifest, 2, signal.SIGKILL)
elif steps == ["feed-cursor"]:  # with entries > 0: past a batch, not the position of an empty walk
    feeds.Feeds.record = then(feeds.Feeds.record, 2, signal.SIGKILL, lambda *args: args[-1] > 0)
elif steps == ["run-started"]:
    runs.Runs.start = then(runs.Runs.start, 1, signal.SIGSTOP)
elif steps:
    sys.exit(f"unknown step {steps}")
sys.exit(cli.main(argv, cli.Runtime(today=datetime.date.fromisoformat(today))))
"""


@pytest.fixture
def live_sandbox(make_sandbox):
    return make_sandbox(latency_ms=10, page_size=100, clock=time.monotonic, sleep=time.sleep)


@pytest.fixture
def start(live_sandbox, use_sandbox, workdir):
    use_sandbox(live_sandbox)  # for the processes and for in-process runs alike
    started = []

    def start(*argv: str, step: str | None = None) -> subprocess.Popen:
        steps = [step] if step else []
        process = subprocess.Popen(
            [sys.executable, "-c", MAIN, str(TODAY), *steps, "--", *argv],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
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
    first_day = TODAY - 4 * DAY
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
    result = run_cli(*args)
    assert result.code == 0, result.err
    days = [first_day + n * DAY for n in range(4)]
    assert_exported(live_sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", LEDGERS, days)
    assert not [p for p in workdir.rglob("*.tmp")]
    assert len(final_files(workdir / "reports")) == len(LEDGERS) * 2 * len(days)
    runs = {r["outcome"] for r in json.loads(run_cli("status", "--json").out)["runs"]}
    assert "unfinished (killed, or still running)" in runs


@pytest.mark.parametrize("step", ["batch-files", "feed-cursor"])
def test_a_feed_killed_between_a_batch_and_its_cursor_is_resumed_without_repeating_or_skipping(
    live_sandbox, start, run_cli, workdir, step
):
    (workdir / "config.toml").write_text("[feed]\nbatch_entries = 700\n")
    ledger, args = "412345", ("feed", "--ledger", "412345", "--topic", "funds")
    process = start(*args, step=step)
    assert process.wait() == -signal.SIGKILL, process.stderr.read()
    folder = workdir / "reports" / ledger / "funds" / "feed"
    names = [f"{ledger}_funds_feed_{n:06d}.{suffix}" for n in (1, 2) for suffix in ("csv", "manifest.json", "xlsx")]
    assert sorted(p.name for p in folder.iterdir()) == names  # the second batch is in place either way
    feed = json.loads(run_cli("status", "--json").out)["ledgers"][0]["feed"]
    # Killed after the files: the cursor is still that of the first batch. Killed after the cursor:
    # it moved, and that is safe only because the files it moved past were committed before it.
    assert feed["batches"] == {"batch-files": 1, "feed-cursor": 2}[step]

    result = run_cli(*args)
    assert result.code == 0, result.err
    served = served_feed(live_sandbox, ledger, "funds")
    assert feed_rows(workdir / "reports", ledger, "funds") == csv_rows(served, ledger)  # none twice, none missing
    batches = sorted(folder.glob("*.csv"))
    assert [p.name for p in batches] == [f"{ledger}_funds_feed_{n:06d}.csv" for n in range(1, len(batches) + 1)]
    assert len(batches) > 2
    feed = json.loads(run_cli("status", "--json").out)["ledgers"][0]["feed"]
    assert (feed["batches"], feed["entries"]) == (len(batches), len(served))
    verified = run_cli("verify", "reports")
    assert verified.code == 0, verified.out  # every file, the rewritten batch's included, matches its manifest
    assert not [p for p in workdir.rglob("*.tmp")]


def test_two_runs_started_at_once_one_waits_or_steps_aside(live_sandbox, start, workdir):
    args = ("run", "--ledger", LEDGERS[0], "--from", str(TODAY - 3 * DAY), "--to", str(TODAY - DAY))
    first = start(*args, step="run-started")
    stopped = os.waitid(os.P_PID, first.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
    assert stopped.si_code == os.CLD_STOPPED, first.stderr.read()  # holding the lock
    second = start(*args)
    assert second.wait() == 7
    assert "holds" in second.stderr.read()
    first.send_signal(signal.SIGCONT)
    assert first.wait() == 0, first.stderr.read()
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
    yesterday = TODAY - DAY
    assert len(final_files(workdir / "reports", f"*_{yesterday}.csv")) == 2 * len(live_sandbox.ledgers())


def test_sigterm_stops_a_run_after_the_date_in_progress(live_sandbox, start, run_cli, workdir):
    first_day = TODAY - 4 * DAY
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
    assert run_cli("run", "--ledger", LEDGERS[0], "--ledger", LEDGERS[1]).code == 0
    days = [first_day + n * DAY for n in range(4)]
    assert_exported(live_sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", LEDGERS, days)
