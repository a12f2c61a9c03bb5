"""Promises that only a deliberate bug would break, and that nothing else in the suite would notice: each test here
fails when its defence is removed (checked by hand by removing it)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from conftest import TODAY
from webpage import exported, serve_page

from jobs.errors import ProtocolError
from jobs.output import report_path
from jobs.sandbox import ACCOUNTING_CLIENT

ROOT = Path(__file__).parent.parent


def test_the_schedules_minute_is_the_same_in_every_process(workdir):
    """The minute comes from the client id through SHA-256, not Python's hash(), which differs per process."""
    minutes = set()
    for seed in ("1", "2", "3"):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONHASHSEED": seed,
            "VIPPS_CLIENT_ID": "client-7",
            "VIPPS_CLIENT_SECRET": "s",
        }
        printed = subprocess.run(
            [sys.executable, "-m", "jobs", "schedule", "--print-cron"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        minutes.add(printed.splitlines()[1].split()[0])
    assert len(minutes) == 1


def test_a_date_once_exported_is_never_turned_back_into_pending(make_sandbox, use_sandbox, run_cli, workdir):
    """A later run that finds the date open again (the API is behind, or a clock went back) must not demote it:
    the files are written and the catch-up must not fetch and rewrite them."""
    day = TODAY - dt.timedelta(days=1)
    use_sandbox(make_sandbox())
    assert run_cli("run", "--from", str(day), "--to", str(day), "--ledger", "302321").code == 0
    use_sandbox(make_sandbox(today=day))  # on that sandbox the day is not closed yet: tryLater
    again = run_cli("run", "--from", str(day), "--to", str(day), "--ledger", "302321", today=day)
    assert again.code == 0 and "open" in again.err
    with closing(sqlite3.connect(workdir / "state" / "report-export.sqlite3")) as db:
        statuses = db.execute("SELECT topic, status FROM dates WHERE ledger_date = ?", (str(day),)).fetchall()
    assert sorted(statuses) == [("fees", "exported"), ("funds", "exported")]


def test_a_file_name_that_would_leave_the_output_folder_is_refused_even_past_the_identifier_check(tmp_path):
    """report_path checks the path itself, whatever check_identifier let through."""
    for ledger_id in ("..", "../x", "a/../../b"):
        with pytest.raises(ProtocolError, match="would leave the output folder"):
            report_path(tmp_path / "out", ledger_id, "funds", "2026-10-01", "csv")
    assert (
        report_path(tmp_path / "out", "302321", "funds", "2026-10-01", "csv").parent
        == tmp_path / "out" / "302321" / "funds"
    )


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


def test_the_page_sends_no_file_from_outside_its_runs_folder_even_if_the_state_names_one(page):
    """Downloads are checked against the run's folder: a run row naming another file (a damaged or forged state)
    gets it refused, never sent."""
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        with closing(sqlite3.connect(page.state_path)) as db:
            files = json.loads(db.execute("SELECT files FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
            db.execute("UPDATE runs SET files = ? WHERE id = ?", (json.dumps([str(page.state_path), *files]), run_id))
            db.commit()
        shown = client.get(f"/runs/{run_id}").text
        assert f'{page.state_path.name}</td><td><span class="warn">it is not in the folder its export wrote' in shown
        for n in range(3):
            answer = client.get(f"/runs/{run_id}/files/{n}")
            assert b"SQLite format" not in answer.content


def test_the_page_does_not_follow_a_symbolic_link_put_in_place_of_a_file(page, workdir):
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        folder = page.run_folder(run_id)
        target = next(folder.rglob("*.csv"))
        secret = workdir / "elsewhere.txt"
        secret.write_text("not a report")
        target.unlink()
        target.symlink_to(secret)
        shown = client.get(f"/runs/{run_id}").text
        assert f'{target.name}</td><td><span class="warn">it is not in the folder its export wrote' in shown
        archive = client.get(f"/runs/{run_id}/zip").content
    assert b"not a report" not in archive


def test_the_page_does_not_follow_a_symbolic_link_even_to_the_same_bytes_inside_its_folder(page):
    """A link is refused as a link, not only by where it points: one to an exact copy inside the run's folder
    passes every other check (inside, listed, same SHA-256), and what it points to can change after the check."""
    with page.signed_in() as client:
        run_id = exported(client)["runId"]
        target = next(page.run_folder(run_id).rglob("*.csv"))
        copy = target.with_name("copy.txt")
        copy.write_bytes(target.read_bytes())
        target.unlink()
        target.symlink_to(copy)
        shown = client.get(f"/runs/{run_id}").text
        assert '<span class="warn">it is no longer there' in shown
        with zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{run_id}/zip").content)) as archive:
            sent = archive.namelist()
        assert sent and not [name for name in sent if name.endswith((target.name, copy.name))]
