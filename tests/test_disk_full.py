"""A full disk under the state: one line that says "disk full", exit 6 (output), never "a bug"; what was recorded
is kept, and once there is room the next run completes without a gap.

The disk is filled for real: a 1 MiB tmpfs holds the state (mounting one needs root, as CI runs; elsewhere the
test skips, under CI=true it fails). SQLite's own limit on a database's pages (PRAGMA max_page_count) raises the
same SQLITE_FULL without root, so the second test runs everywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess

import pytest
from conftest import TODAY
from test_nightly import assert_exported, ids

DAY = dt.timedelta(days=1)


@pytest.fixture
def small_disk(workdir):
    """A file system of 1 MiB at workdir/disk."""
    disk = workdir / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        why = f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs as root and must run this test")
        pytest.skip(f"{why}; CI runs it as root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk, leave: int) -> None:
    """Fill the file system but for `leave` bytes."""
    found = os.statvfs(disk)
    with (disk / "filler").open("wb") as filler:
        filler.write(b"\0" * (found.f_bavail * found.f_frsize - leave))


def test_a_full_disk_under_the_state_says_disk_full_and_the_next_run_completes(
    sandbox, use_sandbox, run_cli, workdir, small_disk
):
    use_sandbox(sandbox)
    first = TODAY - 20 * DAY
    config = f'[state]\npath = "disk/state/report-export.sqlite3"\nstart_date = "{first}"\n'
    (workdir / "config.toml").write_text(config)
    ledger = ids(sandbox)[0]
    assert run_cli("run", "--from", str(first), "--to", str(first), "--ledger", ledger).code == 0  # the state exists
    fill(small_disk, leave=64 * 1024)  # room to open the state and start a run, not to record 20 days of 5 ledgers
    full = run_cli("run")
    assert full.code == 6, full.err
    [line] = full.err.strip().splitlines()[-1:]
    assert line.startswith("report-export: error: disk full: the state disk/state/report-export.sqlite3 cannot be")
    assert "free space on its file system, then run again" in line
    assert "internal error" not in full.err and "cannot commit" not in full.err and "Traceback" not in full.err
    # It failed part way, not when opening the state: its run is recorded (as failed, exit 6, when there was room for
    # that too; else as unfinished), and what the run before it recorded is kept.
    second, first_run = json.loads(run_cli("status", "--json").out)["runs"]
    assert second["exitCode"] in (6, None) and (first_run["outcome"], first_run["counts"]["written"]) == ("ok", 2)
    (small_disk / "filler").unlink()
    again = run_cli("run")
    assert again.code == 0, again.err
    days = [first + n * DAY for n in range((TODAY - first).days)]
    assert_exported(sandbox, workdir / "reports", workdir / "disk/state/report-export.sqlite3", ids(sandbox), days)
    assert run_cli("verify", "reports").code == 0


def test_a_full_disk_when_the_state_is_opened_says_so_too(sandbox, use_sandbox, run_cli, workdir, small_disk):
    use_sandbox(sandbox)
    (workdir / "config.toml").write_text('[state]\npath = "disk/state/report-export.sqlite3"\n')
    assert run_cli("run", "--ledger", ids(sandbox)[0]).code == 0
    fill(small_disk, leave=0)  # SQLite cannot even make its shared-memory file: "disk I/O error"
    full = run_cli("run")
    assert full.code == 6 and "error: disk full: the state" in full.err and "make it and its folder" not in full.err
    (small_disk / "filler").unlink()
    assert run_cli("run").code == 0


def test_sqlite_full_by_its_page_limit_is_disk_full_too(sandbox, use_sandbox, run_cli, workdir, monkeypatch):
    """SQLITE_FULL without root: the state may not grow past the pages it has (PRAGMA max_page_count)."""
    use_sandbox(sandbox)
    first = TODAY - 20 * DAY
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{first}"\n')
    assert run_cli("run", "--from", str(first), "--to", str(first), "--ledger", ids(sandbox)[0]).code == 0
    original = sqlite3.connect

    def limited(*args, **kwargs):
        connection = original(*args, **kwargs)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 2}")
        return connection

    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect", limited)
        full = run_cli("run")
    said = "error: disk full: the state state/report-export.sqlite3 cannot be written (database or disk is full)"
    assert full.code == 6 and said in full.err and "cannot commit" not in full.err
    again = run_cli("run")
    assert again.code == 0, again.err
    days = [first + n * DAY for n in range((TODAY - first).days)]
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", ids(sandbox), days)
