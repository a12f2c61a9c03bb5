"""A lost or replaced state: noticed before a run records into it (exit 15, the fix in one line), rebuilt from the
manifests by `report-export state rebuild`, after which the catch-up neither fetches again what has files nor drops a
date that was pending, and the feed goes on where it stood without writing an entry twice. Real CLI, real sandbox."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from conftest import TODAY
from expected import csv_rows
from test_nightly import assert_exported, feed_rows, ids, served_feed, status

from jobs.state import State

DAY = dt.timedelta(days=1)
STATE = Path("state/report-export.sqlite3")
LEDGER = "412345"  # the ledger with the shortest history: a feed of a few batches


def lose_state(workdir: Path) -> None:
    shutil.rmtree(workdir / "state")


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dates_asked(sandbox) -> list[tuple[str, str, str]]:
    """(ledger, topic, date) of every date's first page asked for, in order."""
    found = []
    for request in sandbox.requests:
        parts = request.path.split("/")
        if "dates" in parts and "cursor" not in request.query:
            found.append((parts[4], parts[5], parts[7]))
    return found


def test_a_lost_state_stops_the_run_and_a_rebuild_neither_refetches_nor_drops_a_date(
    make_sandbox, use_sandbox, run_cli, workdir
):
    sandbox = make_sandbox(today=TODAY - 3 * DAY)
    use_sandbox(sandbox)
    # Nightly runs on three days ([state] start_date is yesterday): TODAY-6 .. TODAY-4 exported, TODAY-3 still open.
    assert run_cli("run", today=TODAY - 5 * DAY).code == 0
    assert run_cli("run", today=TODAY - 2 * DAY).code == 0
    pending = {tuple(p["date"] for p in row["pending"]) for row in status(run_cli)["ledgers"]}
    assert pending == {(str(TODAY - 3 * DAY),)}
    before = files(workdir / "reports")
    lose_state(workdir)

    asked = len(sandbox.requests)
    stopped = run_cli("run", today=TODAY - 2 * DAY)
    assert stopped.code == 15, stopped.err
    [line] = stopped.err.strip().splitlines()
    assert "knows no exported date and no feed, yet" in line and "the state was lost or replaced" in line
    command = f"report-export state rebuild --state {workdir / STATE} --out {workdir / 'reports'}"
    assert command in line
    assert len(sandbox.requests) == asked and files(workdir / "reports") == before  # nothing asked, nothing written

    rebuilt = run_cli(*command.split()[1:])
    assert rebuilt.code == 0, rebuilt.err
    ledgers = ids(sandbox)
    assert f"{len(ledgers) * 2 * 3} exported ledger dates, {len(ledgers)} ledgers and 0 feed positions" in rebuilt.out
    assert f"ledger {ledgers[0]}: its catch-up starts at {TODAY - 6 * DAY}" in rebuilt.out
    looked = status(run_cli)
    assert {row["lastExported"] for row in looked["ledgers"]} == {str(TODAY - 4 * DAY)}
    written_by = {json.loads(p.read_text())["runId"] for p in (workdir / "reports").rglob("*.manifest.json")}
    assert looked["runs"][0]["command"] == "state rebuild" and looked["runs"][0]["id"] > max(written_by)

    sandbox.today = TODAY  # the API closes TODAY-3 and the dates after it
    asked = len(dates_asked(sandbox))
    done = run_cli("run", today=TODAY)
    assert done.code == 0, done.err
    fetched = dates_asked(sandbox)[asked:]  # the lost pending date too, and nothing that has files
    wanted = [(lid, topic, str(TODAY - n * DAY)) for lid in ledgers for topic in ("funds", "fees") for n in (3, 2, 1)]
    assert sorted(fetched) == sorted(wanted)
    days = [TODAY - n * DAY for n in range(6, 0, -1)]
    assert_exported(sandbox, workdir / "reports", workdir / STATE, ledgers, days)
    assert {path: content for path, content in files(workdir / "reports").items() if path in before} == before
    assert run_cli("verify", "reports").code == 0


@pytest.fixture
def feed_in_batches(make_sandbox, use_sandbox, workdir):
    """A sandbox whose feed is written a page a batch: several batch files."""
    (workdir / "config.toml").write_text("[feed]\nbatch_entries = 400\n")
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    return sandbox


def test_the_feed_goes_on_after_a_rebuild_without_an_entry_twice(feed_in_batches, run_cli, workdir):
    sandbox = feed_in_batches
    args = ("feed", "--ledger", LEDGER, "--topic", "funds", "--format", "csv")
    assert run_cli(*args).code == 0
    folder = workdir / "reports" / LEDGER / "funds" / "feed"
    batches = sorted(p.name for p in folder.glob("*.csv"))
    assert len(batches) >= 3
    backup = (workdir / STATE).read_bytes()  # an older backup, put back below
    lose_state(workdir)
    assert run_cli(*args).code == 15
    rebuilt = run_cli("state", "rebuild")
    assert rebuilt.code == 0 and "0 exported ledger dates, 0 ledgers and 1 feed positions" in rebuilt.out
    assert status(run_cli)["ledgers"][0]["feed"]["batches"] == len(batches)
    sandbox.today = TODAY + 30 * DAY  # new entries: two batches or more
    assert run_cli(*args, today=TODAY + 30 * DAY).code == 0
    assert feed_rows(workdir / "reports", LEDGER, "funds") == csv_rows(served_feed(sandbox, LEDGER, "funds"), LEDGER)
    grown = sorted(p.name for p in folder.glob("*.csv"))
    assert grown[: len(batches)] == batches and len(grown) >= len(batches) + 2

    # The state replaced by an older copy: it knows fewer batches than the folder holds (one fewer would be a run
    # killed before it stored the cursor past its last batch, which is written again from the same cursor).
    (workdir / STATE).write_bytes(backup)
    for suffix in ("-wal", "-shm"):
        Path(f"{workdir / STATE}{suffix}").unlink(missing_ok=True)
    before = files(folder)
    sandbox.today = TODAY + 32 * DAY
    behind = run_cli(*args, today=TODAY + 32 * DAY)
    assert behind.code == 15 and f"has batch files up to {len(grown):06d} in {folder}" in behind.err
    assert f"knows {len(batches)} batches" in behind.err and "report-export state rebuild --state" in behind.err
    assert files(folder) == before
    assert run_cli("state", "rebuild").code == 0
    assert run_cli(*args, today=TODAY + 32 * DAY).code == 0
    assert feed_rows(workdir / "reports", LEDGER, "funds") == csv_rows(served_feed(sandbox, LEDGER, "funds"), LEDGER)
    assert run_cli("verify", "reports").code == 0


def test_a_feed_whose_manifests_predate_the_cursor_stops_and_says_what_to_do(feed_in_batches, run_cli, workdir):
    sandbox = feed_in_batches
    args = ("feed", "--ledger", LEDGER, "--topic", "fees", "--format", "csv")
    assert run_cli(*args).code == 0
    folder = workdir / "reports" / LEDGER / "fees" / "feed"
    for manifest in folder.glob("*.manifest.json"):  # as the release before this one wrote them
        content = json.loads(manifest.read_text())
        del content["cursor"]
        manifest.write_text(json.dumps(content))
    lose_state(workdir)
    rebuilt = run_cli("state", "rebuild")
    assert rebuilt.code == 0 and f"not rebuilt: where the feed of ledger {LEDGER} fees stands" in rebuilt.out
    before = files(folder)
    stopped = run_cli(*args)
    assert stopped.code == 15 and f"move {folder} aside to follow the feed again from its beginning" in stopped.err
    assert files(folder) == before
    folder.rename(folder.with_name("feed-before"))
    assert run_cli(*args).code == 0
    assert feed_rows(workdir / "reports", LEDGER, "fees") == csv_rows(served_feed(sandbox, LEDGER, "fees"), LEDGER)


def test_a_date_whose_file_changed_is_left_for_the_catch_up(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{TODAY - 3 * DAY}"\n')
    assert run_cli("run", "--ledger", LEDGER, "--topic", "funds").code == 0
    changed = workdir / "reports" / LEDGER / "funds" / f"{LEDGER}_funds_{TODAY - 2 * DAY}.csv"
    changed.write_bytes(changed.read_bytes() + b"\n")
    broken = workdir / "reports" / LEDGER / "funds" / f"{LEDGER}_funds_{TODAY - 3 * DAY}.manifest.json"
    day = str(TODAY - 3 * DAY)  # a manifest without its rows and sums
    fields = {"tool": "report-export", "ledgerId": LEDGER, "topic": "funds", "closed": True, "dates": [day, day]}
    broken.write_text(json.dumps({**fields, "files": []}))
    lose_state(workdir)
    rebuilt = run_cli("state", "rebuild")
    assert rebuilt.code == 0 and "1 exported ledger dates" in rebuilt.out
    assert f"{changed.name} changed since it was written; the catch-up exports {TODAY - 2 * DAY} again" in rebuilt.out
    assert f"not rebuilt: {broken}: not a manifest this release can read (KeyError: 'sums')" in rebuilt.out
    asked = len(dates_asked(sandbox))
    assert run_cli("run", "--ledger", LEDGER, "--topic", "funds").code == 0
    assert dates_asked(sandbox)[asked:] == [(LEDGER, "funds", str(TODAY - n * DAY)) for n in (3, 2)]
    assert run_cli("verify", "reports").code == 0


def test_a_rebuild_with_no_manifest_to_read_says_where_it_looked(run_cli, workdir):
    result = run_cli("state", "rebuild", "--out", "nowhere")
    assert result.code == 3 and f"no manifest under {workdir / 'nowhere'}" in result.err and "--out" in result.err


def test_a_rebuild_keeps_the_ledgers_in_the_order_runs_first_saw_them(sandbox, use_sandbox, run_cli, workdir):
    """The ledger seen first keeps a voucher series two ledgers would share: a rebuild must not hand it to another."""
    use_sandbox(sandbox)
    assert run_cli("run", today=TODAY - DAY).code == 0
    sandbox.add_ledger("0000001", like="302321")  # first by id, seen last
    assert run_cli("run").code == 0
    lose_state(workdir)
    assert run_cli("state", "rebuild").code == 0
    with State(workdir / STATE) as state:
        seen = state.ledgers.first_seen()
    assert sorted(seen, key=lambda lid: (seen[lid], lid)) == [*sorted(set(seen) - {"0000001"}), "0000001"]
