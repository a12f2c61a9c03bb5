"""`verify` against files the exporter wrote: what it must name besides changed and missing files."""

from __future__ import annotations

import datetime as dt
import shutil

from conftest import TODAY
from expected import report

DAY = dt.timedelta(days=1)
LEDGER = "302321"


def test_verify_names_every_report_file_that_is_in_no_manifest(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert run_cli("run", "--from", str(TODAY - 2 * DAY), "--ledger", LEDGER, "--topic", "funds").code == 0
    out = workdir / "reports"
    assert run_cli("verify", "reports").code == 0
    older, newer = (report(out, LEDGER, "funds", day, "csv") for day in (TODAY - 2 * DAY, TODAY - DAY))
    copy = older.with_name(f"{older.stem} (copy).csv")  # a file someone put beside the reports
    shutil.copy(older, copy)
    stray = out / LEDGER / "old" / "302321_funds.xlsx"  # one in a folder no manifest is in
    stray.parent.mkdir()
    shutil.copy(newer.with_suffix(".xlsx"), stray)
    newer.with_name(newer.stem + ".manifest.json").unlink()  # its files are listed nowhere now
    (older.parent / f".{older.name}.tmp").write_text("a run in progress")  # temporary: not a report
    (out / "notes.txt").write_text("not a report either")

    result = run_cli("verify", "reports")
    assert result.code == 10
    unlisted = [newer, newer.with_suffix(".xlsx"), copy, stray]
    assert sorted(line.strip() for line in result.out.splitlines()[:-1]) == sorted(
        f"{path.relative_to(workdir)}: not in any manifest" for path in unlisted
    )
    assert result.out.splitlines()[-1].endswith("1 manifest, 2 files checked: 4 problems")
