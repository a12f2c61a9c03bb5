"""`report-export state rebuild`: a lost or replaced state rebuilt from the manifests beside the report files
(jobs/rebuild.py says what it restores, and what no manifest holds)."""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from jobs import config
from jobs.errors import EXIT_OK

if TYPE_CHECKING:
    from jobs.cli.runtime import Runtime

STATE_ACTIONS = ("rebuild",)
NOT_REBUILT = (
    "  not in any manifest, so not rebuilt: dates left pending by on-demand periods, vouchers, statements and "
    "settlements that waited (export their dates again with run --from/--to), the run history, the page's users "
    "(report-export users add) and what notifications told"
)


def cmd_state(args: argparse.Namespace, settings: config.Settings, runtime: Runtime) -> int:
    from jobs.lock import lock_for, run_lock
    from jobs.rebuild import rebuild
    from jobs.state import State

    state_path = args.state or settings.state_path
    out = (args.out or settings.out).absolute()  # the state records where files are, whatever the cwd
    with run_lock(lock_for(state_path), wait=False), State(state_path) as state:
        done = rebuild(state, out, settings.start_date, user=getpass.getuser())
    print(
        f"report-export state rebuild: {done.manifests} manifests under {out}: {done.dates} exported ledger dates, "
        f"{len(done.ledgers)} ledgers and {done.feeds} feed positions added to {state_path} (run #{done.run_id})"
    )
    for ledger_id, start in done.ledgers:
        print(
            f"  ledger {ledger_id}: its catch-up starts at {start} (its earliest file, or [state] start_date if "
            "earlier); a date since then without files is asked for again"
        )
    for problem in done.problems:
        print(f"  {problem}")
    print(NOT_REBUILT)
    return EXIT_OK
