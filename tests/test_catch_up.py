"""Catch-up planning against the sandbox: which dates a nightly run picks up besides the new ones.

These belong beside the other nightly sequences (test_nightly.py) and may move there.
"""

from __future__ import annotations

import datetime as dt
import json

from conftest import TODAY
from expected import report
from test_nightly import assert_exported

DAY = dt.timedelta(days=1)
LEDGER = "302321"


def pending(run_cli) -> list[tuple[str, str, int]]:
    result = run_cli("status", "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)["ledgers"]
    return [(p["date"], p["status"], p["tries"]) for row in rows for p in row["pending"]]


def test_a_date_left_open_by_an_on_demand_run_before_the_start_date_is_retried_by_catch_ups(
    make_sandbox, use_sandbox, run_cli, workdir
):
    # Catch-up begins at TODAY; the bookkeeper also asks for the three days before it, while the
    # API has not closed the last of them yet.
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{TODAY}"\n')
    sandbox = make_sandbox(today=TODAY - DAY)
    use_sandbox(sandbox)
    args = ("--ledger", LEDGER, "--topic", "funds")
    on_demand = run_cli("run", "--from", str(TODAY - 3 * DAY), "--to", str(TODAY - DAY), *args)
    assert f"open: ledger {LEDGER} funds {TODAY - DAY}" in on_demand.out, on_demand.err
    assert pending(run_cli) == [(str(TODAY - DAY), "open", 1)]
    state = workdir / "state/report-export.sqlite3"

    run_cli("run", *args)  # a catch-up the same day: nothing of its own to do, but the open date is tried
    assert pending(run_cli) == [(str(TODAY - DAY), "open", 2)]
    assert not report(workdir / "reports", LEDGER, "funds", TODAY - DAY, "csv").exists()

    sandbox.today = TODAY + DAY  # the next night: TODAY - DAY has closed, and so has TODAY
    result = run_cli("run", *args, today=TODAY + DAY)
    assert result.code == 0, result.err
    assert pending(run_cli) == []
    days = [TODAY - 3 * DAY, TODAY - 2 * DAY, TODAY - DAY, TODAY]
    assert_exported(sandbox, workdir / "reports", state, [LEDGER], days, ("funds",))
