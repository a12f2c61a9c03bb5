"""The catch-up against a sandbox whose dates close as the real API's do: yesterday still open at 00:30,
a ledger whose dates run 04:00-04:00, and a negative balance that keeps dates open for weeks.

The exporter runs in-process (`main([...], runtime=...)`) against the sandbox over loopback HTTP. What it
must have written is worked out from the sandbox's entries with plain arithmetic; whether a date is
still pending is read from `status --json`, never from exit codes 8 and 9.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
from expected import HEADER, csv_rows, read_csv, report

MAIN, RESERVE, MERCHANT, DANISH, EURO = "302321", "0302399", "412345", "5551234", "7778881"
LEDGERS = (MAIN, RESERVE, MERCHANT, DANISH, EURO)
OSLO, COPENHAGEN = ZoneInfo("Europe/Oslo"), ZoneInfo("Europe/Copenhagen")
DAY = dt.timedelta(days=1)
D = dt.date(2026, 11, 20)
PAYOUTS = ("payout-scheduled", "scheduled-for-payout")


def at(day: dt.date, hour: int, minute: int = 0, zone: ZoneInfo = OSLO) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


def pending(run_cli, today: dt.date) -> dict[tuple[str, str], list[str]]:
    """Dates still to export per (ledger, topic), as `status --json` tells them."""
    result = run_cli("status", "--json", today=today)
    assert result.code == 0, result.err
    rows = json.loads(result.out)["ledgers"]
    return {(row["ledgerId"], row["topic"]): [p["date"] for p in row["pending"]] for row in rows}


def written(out, ledger: str, topic: str, day: dt.date) -> bool:
    return report(out, ledger, topic, day, "csv").exists()


def assert_files_as_served(sandbox, out, ledger: str, day: dt.date) -> None:
    for topic in ("funds", "fees"):
        entries = sandbox.entries(ledger, topic, day)
        assert read_csv(report(out, ledger, topic, day, "csv")) == [HEADER] + csv_rows(entries, ledger), (ledger, day)
        manifest = json.loads(report(out, ledger, topic, day, "manifest.json").read_text())
        assert manifest["closed"] is True and all(check["ok"] for check in manifest["checks"]), manifest["checks"]


def test_yesterday_still_open_at_00_30_is_exported_by_a_catch_up_after_06_00(
    make_sandbox, use_sandbox, run_cli, workdir
):
    today = D + DAY
    sandbox = make_sandbox(today=None, now=at(today, 0, 30))
    use_sandbox(sandbox)
    out = workdir / "reports"

    first = run_cli("run", today=today)  # the nightly run just after midnight
    assert first.code == 0, first.err  # not a failure: the API has not closed yesterday yet
    assert not list(out.rglob("*.csv"))
    assert pending(run_cli, today) == {(ledger, topic): [str(D)] for ledger in LEDGERS for topic in ("funds", "fees")}

    sandbox.now = at(today, 5, 30)  # 06:30 in Helsinki: only the Finnish ledger's yesterday has closed
    assert run_cli("run", today=today).code == 0
    assert [ledger for ledger in LEDGERS if written(out, ledger, "funds", D)] == [EURO]
    assert_files_as_served(sandbox, out, EURO, D)
    assert pending(run_cli, today)[EURO, "funds"] == [] and pending(run_cli, today)[MAIN, "funds"] == [str(D)]

    sandbox.now = at(today, 6, 30)
    late = run_cli("run", today=today)
    assert late.code == 0, late.err
    for ledger in LEDGERS:
        assert_files_as_served(sandbox, out, ledger, D)
    assert all(dates == [] for dates in pending(run_cli, today).values())


def test_a_ledger_whose_dates_run_04_00_to_04_00(make_sandbox, use_sandbox, run_cli, workdir):
    today = D + DAY
    sandbox = make_sandbox(today=None, now=at(today, 3, 30, COPENHAGEN))
    use_sandbox(sandbox)
    out = workdir / "reports"
    args = ("run", "--ledger", DANISH)

    for moment in (at(today, 3, 30, COPENHAGEN), at(today, 5, 0, COPENHAGEN)):  # in progress, then ended
        sandbox.now = moment
        assert run_cli(*args, today=today).code == 0
        assert not written(out, DANISH, "funds", D)
        assert pending(run_cli, today)[DANISH, "funds"] == [str(D)]
    sandbox.now = at(today, 6, 0, COPENHAGEN)
    assert run_cli(*args, today=today).code == 0
    assert_files_as_served(sandbox, out, DANISH, D)

    # The file holds the night's sales stamped on the next calendar day, and its settlement at 04:00.
    rows = read_csv(report(out, DANISH, "funds", D, "csv"))[1:]
    local = [dt.datetime.fromisoformat(row[2].replace("Z", "+00:00")).astimezone(COPENHAGEN) for row in rows]
    assert {row[1] for row in rows} == {str(D)}
    assert any(t.date() == today and t.hour < 4 and row[3] == "capture" for t, row in zip(local, rows, strict=True))
    assert (local[-1].date(), local[-1].hour, rows[-1][3]) == (today, 4, "scheduled-for-payout")


def summary(path) -> dict:
    """The one-date summary sheet as {label: value}."""
    book = openpyxl.load_workbook(path)
    try:
        return {row[0]: row[1] for row in book["summary"].iter_rows(values_only=True) if row and row[0]}
    finally:
        book.close()


def test_a_negative_balance_date_open_for_weeks_is_exported_once_it_closes(make_sandbox, use_sandbox, run_cli, workdir):
    first, last = dt.date(2026, 8, 3), dt.date(2026, 9, 16)  # the merchant ledger's negative stretch
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{first - 2 * DAY}"\n')
    sandbox = make_sandbox(today=first + 7 * DAY)
    use_sandbox(sandbox)
    out, args = workdir / "reports", ("run", "--ledger", MERCHANT)

    # Weekly runs through the stretch: nothing of it is written, and nothing of it is dropped.
    for today in (first + 7 * DAY, first + 21 * DAY, last):
        sandbox.today = today
        run_cli(*args, today=today)  # its exit code is another matter (dates overdue): see test_nightly
        stretch = [first + n * DAY for n in range((today - DAY - first).days + 1)]
        assert pending(run_cli, today)[MERCHANT, "funds"] == [str(day) for day in stretch]
        assert not any(written(out, MERCHANT, "funds", day) for day in stretch)
        assert written(out, MERCHANT, "funds", first - DAY)

    sandbox.today = last + DAY  # noon: the stretch closed at 06:00
    done = run_cli(*args, "--strict", today=last + DAY)  # --strict: a date that does not reconcile fails the run
    assert done.code == 0 and "does not reconcile" not in done.err, done.err
    assert all(dates == [] for dates in pending(run_cli, last + DAY).values())
    for n in range((last - first).days + 1):
        assert_files_as_served(sandbox, out, MERCHANT, first + n * DAY)

    # Below zero from the first entry to the top-up; no payout until then, one after it.
    for day in (first, first + 20 * DAY, last):
        entries = sandbox.entries(MERCHANT, "funds", day)
        sheet = summary(report(out, MERCHANT, "funds", day, "xlsx"))
        assert Decimal(str(sheet["Opening balance"])) == Decimal(entries[0]["balanceBefore"]) / 100
        assert Decimal(str(sheet["Closing balance"])) == Decimal(entries[-1]["balanceAfter"]) / 100
        paid = [e for e in entries if e["entryType"] in PAYOUTS]
        if day == last:
            assert entries[0]["balanceBefore"] < 0 and sheet["Payout amount"] == -paid[0]["amount"] / 100
            top_up = Decimal(next(e["amount"] for e in entries if e["entryType"] == "top-up")) / 100
            assert Decimal(str(sheet["top-up"])) == top_up == -Decimal(str(sheet["Opening balance"]))  # back to 0
        else:
            assert entries[-1]["balanceAfter"] < 0 and not paid and sheet["Payout amount"] is None
        assert [sheet[name] for name in ("balance", "chain", "sums", "payout last")] == ["ok"] * 4
