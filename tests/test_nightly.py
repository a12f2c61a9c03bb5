"""Sequences of nightly runs against the sandbox, the calendar moved forward between them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from conftest import TODAY
from expected import HEADER, csv_rows, read_csv, report

from jobs.lock import run_lock
from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State

DAY = dt.timedelta(days=1)


def ids(sandbox) -> list[str]:
    return [ledger["ledgerId"] for ledger in sandbox.ledgers()]


def assert_exported(sandbox, out, state_path, ledgers, days, topics=("funds", "fees")):
    """Files equal what was served, and the state says so: rows, sums and file hashes."""
    with State(state_path) as state:
        for ledger in ledgers:
            for topic in topics:
                statuses = state.dates.statuses(ledger, topic)
                for day in days:
                    served = sandbox.entries(ledger, topic, day)
                    path = report(out, ledger, topic, day, "csv")
                    assert read_csv(path) == [HEADER] + csv_rows(served, ledger), path
                    assert statuses[day] == "exported", (ledger, topic, day)
                    row = state.db.execute(
                        "SELECT rows, sums, files FROM dates WHERE ledger_id=? AND topic=? AND ledger_date=?",
                        (ledger, topic, day.isoformat()),
                    ).fetchone()
                    assert row[0] == len(served)
                    sums: dict[str, int] = {}
                    for e in served:
                        sums[e["entryType"]] = sums.get(e["entryType"], 0) + e["amount"]
                    assert json.loads(row[1]) == sums
                    files = {f["path"]: f["sha256"] for f in json.loads(row[2])}
                    manifest = path.with_name(path.stem + ".manifest.json")
                    assert set(files) == {str(path), str(path.with_suffix(".xlsx")), str(manifest)}
                    for name, digest in files.items():
                        assert hashlib.sha256(Path(name).read_bytes()).hexdigest() == digest


def status(run_cli) -> dict:
    result = run_cli("status", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_catch_up_after_days_of_downtime_then_nothing_to_do(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert run_cli("run").code == 0  # first night: yesterday only
    sandbox.today = TODAY + 4 * DAY  # four nights without a run
    result = run_cli("run", today=TODAY + 4 * DAY)
    assert result.code == 0, result.err
    days = [TODAY - DAY + n * DAY for n in range(5)]
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", ids(sandbox), days)
    again = run_cli("run", today=TODAY + 4 * DAY)
    assert again.code == 0  # normal every hour: no scheduler may page anyone for it
    assert "0 ledger dates written" in again.out and "nothing to do" in again.out
    assert run_cli("run", "--detailed-exit-codes", today=TODAY + 4 * DAY).code == 9
    runs = status(run_cli)["runs"]
    assert [r["outcome"] for r in runs] == ["nothing to do", "nothing to do", "ok", "ok"]
    assert [r["exitCode"] for r in runs] == [9, 0, 0, 0]  # what each run exited with
    assert runs[2]["counts"]["written"] == 4 * 2 * len(ids(sandbox))


def test_a_configured_start_date_fetches_history_on_the_first_run(sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text(f'[state]\nstart_date = "{TODAY - 5 * DAY}"\n')
    use_sandbox(sandbox)
    ledger = ids(sandbox)[0]
    assert run_cli("run", "--ledger", ledger, "--topic", "funds").code == 0
    days = [TODAY - 5 * DAY + n * DAY for n in range(5)]
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", [ledger], days, ("funds",))


def test_an_open_date_is_retried_until_it_closes(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(today=TODAY - DAY)  # the API has not closed yesterday yet
    use_sandbox(sandbox)
    first = run_cli("run")
    assert first.code == 0  # yesterday not closed yet is normal
    assert f"open: ledger {ids(sandbox)[0]} funds {TODAY - DAY}" in first.out
    assert not list((workdir / "reports").rglob("*.csv"))
    pending = status(run_cli)["ledgers"][0]["pending"]
    assert [(p["date"], p["status"], p["tries"]) for p in pending] == [(str(TODAY - DAY), "open", 1)]
    assert run_cli("run", "--detailed-exit-codes").code == 8  # still open an hour later: tried again
    assert status(run_cli)["ledgers"][0]["pending"][0]["tries"] == 2
    assert status(run_cli)["runs"][0]["outcome"] == "pending"
    sandbox.today = TODAY  # the date closes
    assert run_cli("run").code == 0
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", ids(sandbox), [TODAY - DAY])
    assert all(not row["pending"] for row in status(run_cli)["ledgers"])


def test_a_date_open_for_too_long_is_never_dropped_but_named_overdue_and_tried_once_a_day(
    make_sandbox, use_sandbox, run_cli, workdir
):
    (workdir / "config.toml").write_text("[state]\nwarn_after_days = 2\n")
    sandbox = make_sandbox(today=TODAY - DAY)  # the API keeps yesterday open, here for days
    use_sandbox(sandbox)
    ledger, day = ids(sandbox)[0], TODAY - DAY
    path = f"/report/v2/ledgers/{ledger}/funds/dates/{day}"

    def asked() -> int:
        return sum(1 for r in sandbox.requests if r.path == path and "cursor" not in r.query)  # first pages

    args = ("run", "--ledger", ledger, "--topic", "funds")
    assert run_cli(*args, today=TODAY).code == 0 and asked() == 1
    assert run_cli(*args, today=TODAY + DAY).code == 0 and asked() == 2  # 2 days old: pending, not overdue
    late = run_cli(*args, today=TODAY + 2 * DAY)  # 3 days old
    assert late.code == 11, late.err
    config = workdir / "config.toml"  # named absolute: the line works from any folder
    command = f"report-export run --config {config} --from {day} --to {day} --ledger {ledger} --topic funds"
    assert f"overdue: ledger {ledger} funds {day} has been open since" in late.err and command in late.err
    assert "warn_after_days is 2" in late.err and asked() == 3  # still asked for
    again = run_cli(*args, today=TODAY + 2 * DAY)  # an hour later, the same day
    assert again.code == 11 and command in again.err  # named by every run...
    assert asked() == 3  # ...but asked for once a day only
    looked = json.loads(run_cli("status", "--json", today=TODAY + 2 * DAY).out)
    pending = looked["ledgers"][0]["pending"]  # the days after it are pending too: the API is days behind here
    first = pending[0]
    assert (first["date"], first["status"], first["overdue"], first["ageDays"]) == (str(day), "open", True, 3)
    assert first["lastTry"] == str(TODAY + 2 * DAY)
    assert [p["overdue"] for p in pending[1:]] == [False, False]
    assert "OVERDUE: 3 days" in run_cli("status", today=TODAY + 2 * DAY).out
    assert run_cli(*args, today=TODAY + 3 * DAY).code == 11 and asked() == 4  # the next day: asked again
    sandbox.today = TODAY + 4 * DAY  # weeks later in real life: the API closes it
    done = run_cli(*args, today=TODAY + 4 * DAY)
    assert done.code == 0 and "overdue" not in done.err and asked() == 5
    days = [day, TODAY, TODAY + DAY, TODAY + 2 * DAY, TODAY + 3 * DAY]
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", [ledger], days, ("funds",))
    assert not status(run_cli)["ledgers"][0]["pending"]


def test_dates_a_previous_version_gave_up_on_are_queued_again(make_sandbox, use_sandbox, run_cli, workdir):
    """A state of schema 1, written by the release that abandoned dates, is upgraded and its dates retried."""
    from jobs.state.migrations import MIGRATIONS

    sandbox = make_sandbox()
    use_sandbox(sandbox)
    ledger, day = ids(sandbox)[0], TODAY - 30 * DAY
    state_path = workdir / "state/report-export.sqlite3"
    state_path.parent.mkdir()
    with closing(sqlite3.connect(state_path)) as db:
        db.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
        db.execute("INSERT INTO ledgers VALUES (?, ?, ?, ?, NULL)", (ledger, str(TODAY - DAY), "t", "t"))
        db.executemany(
            "INSERT INTO dates (ledger_id, topic, ledger_date, status, pending_since, tries, detail, updated_at)"
            " VALUES (?, ?, ?, 'abandoned', 't', 9, ?, 't')",
            [
                (ledger, "funds", str(day), "still open after 2 days ([state] give_up_after_days)"),
                (ledger, "fees", str(day), "still unavailable after 2 days ([state] give_up_after_days)"),
            ],
        )
        db.commit()
    before = state_path.read_bytes()
    looked = status(run_cli)  # status reads an old state without upgrading or touching it
    assert state_path.read_bytes() == before and not list(state_path.parent.glob("*-wal"))
    pending = {row["topic"]: row["pending"] for row in looked["ledgers"]}
    assert {topic: [(p["date"], p["status"]) for p in rows] for topic, rows in pending.items()} == {
        "fees": [(str(day), "unavailable")],
        "funds": [(str(day), "open")],
    }
    result = run_cli("run", "--ledger", ledger)
    assert result.code == 0, result.err
    assert_exported(sandbox, workdir / "reports", state_path, [ledger], [day, TODAY - DAY])


def test_an_on_demand_period_does_not_disturb_the_catch_up(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = ids(sandbox)[0]
    assert run_cli("run", "--ledger", ledger).code == 0  # nightly: TODAY-1
    period = run_cli("run", "--from", str(TODAY - 9 * DAY), "--to", str(TODAY - 8 * DAY), "--ledger", ledger)
    assert period.code == 0
    sandbox.today = TODAY + 2 * DAY
    assert run_cli("run", "--ledger", ledger, today=TODAY + 2 * DAY).code == 0  # catches up TODAY, TODAY+1
    days = [TODAY - 9 * DAY, TODAY - 8 * DAY, TODAY - DAY, TODAY, TODAY + DAY]
    assert_exported(sandbox, workdir / "reports", workdir / "state/report-export.sqlite3", [ledger], days)
    assert not (report(workdir / "reports", ledger, "funds", TODAY - 5 * DAY, "csv")).exists()


def test_a_second_run_exits_7_while_the_lock_is_held_and_records_nothing(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    lock = workdir / "state" / "report-export.sqlite3.lock"
    with run_lock(lock, wait=False):
        result = run_cli("run")
    assert result.code == 7
    assert "holds" in result.err and "--wait" in result.err
    assert not sandbox.requests
    assert run_cli("run").code == 0  # released with the holder


def served_feed(sandbox, ledger: str, topic: str) -> list[dict]:
    """Everything the feed serves right now, walked with plain HTTP, independent of the exporter."""
    with httpx.Client(base_url=sandbox.base_url) as client:
        token = client.post("/miami/v1/token", auth=ACCOUNTING_CLIENT, data={"grant_type": "client_credentials"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        items, cursor = [], None
        while True:
            page = client.get(
                f"/report/v2/ledgers/{ledger}/{topic}/feed",
                headers=headers,
                params={"cursor": cursor} if cursor else {},
            ).json()
            items += page["items"]
            cursor = page["cursor"]
            if page["tryLater"]:
                return items


def feed_rows(out, ledger, topic) -> list[list[str]]:
    rows = []
    for path in sorted((out / ledger / topic / "feed").glob("*.csv")):
        content = read_csv(path)
        assert content[0] == HEADER
        rows += content[1:]
    return rows


@pytest.mark.parametrize("topic", ["funds", "fees"])
def test_the_feed_across_several_runs_never_repeats_nor_skips(make_sandbox, use_sandbox, run_cli, workdir, topic):
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    ledger = "412345"  # the ledger with the shortest history
    first = run_cli("feed", "--ledger", ledger, "--topic", topic)
    assert first.code == 0, first.err
    out = workdir / "reports"
    assert feed_rows(out, ledger, topic) == csv_rows(served_feed(sandbox, ledger, topic), ledger)
    assert run_cli("feed", "--ledger", ledger, "--topic", topic, "--detailed-exit-codes").code == 9  # nothing new
    sandbox.today = TODAY + 2 * DAY  # new entries arrive
    assert run_cli("feed", "--ledger", ledger, "--topic", topic).code == 0
    batches = sorted(p.name for p in (out / ledger / topic / "feed").glob("*.csv"))
    assert batches == [f"{ledger}_{topic}_feed_000001.csv", f"{ledger}_{topic}_feed_000002.csv"]
    assert feed_rows(out, ledger, topic) == csv_rows(served_feed(sandbox, ledger, topic), ledger)
    feed = next(r for r in status(run_cli)["ledgers"] if r["topic"] == topic)["feed"]
    assert feed["batches"] == 2 and feed["entries"] == len(served_feed(sandbox, ledger, topic))


def test_the_feed_can_start_from_now(make_sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text('[feed]\nstart = "now"\n')
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    ledger = "412345"
    before = len(served_feed(sandbox, ledger, "funds"))
    assert run_cli("feed", "--ledger", ledger, "--topic", "funds", "--detailed-exit-codes").code == 9
    sandbox.today = TODAY + DAY
    assert run_cli("feed", "--ledger", ledger, "--topic", "funds").code == 0
    assert feed_rows(workdir / "reports", ledger, "funds") == csv_rows(
        served_feed(sandbox, ledger, "funds")[before:], ledger
    )


def test_a_ledger_granted_and_one_withdrawn_between_runs(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert run_cli("run").code == 0
    sandbox.add_ledger("9100001", like="302321")
    sandbox.withdraw("5551234")
    sandbox.today = TODAY + DAY
    second = run_cli("run", today=TODAY + DAY)
    assert second.code == 5  # reported once, loudly, while every other ledger is exported
    assert "ledger 5551234 is no longer readable" in second.err
    assert "ledger 9100001 is new" in second.err
    others = ids(sandbox)
    assert "5551234" not in others and "9100001" in others
    state = workdir / "state/report-export.sqlite3"
    assert_exported(sandbox, workdir / "reports", state, others, [TODAY])
    assert not report(workdir / "reports", "5551234", "funds", TODAY, "csv").exists()
    assert report(workdir / "reports", "5551234", "funds", TODAY - DAY, "csv").exists()  # earlier files stay
    assert not report(workdir / "reports", "9100001", "funds", TODAY - DAY, "csv").exists()  # starts at yesterday
    withdrawn = [row for row in status(run_cli)["ledgers"] if row["ledgerId"] == "5551234"]
    assert withdrawn and all(row["withdrawnAt"] for row in withdrawn)
    assert run_cli("run", "--detailed-exit-codes", today=TODAY + DAY).code == 9  # not reported again
    sandbox.grant("5551234")
    sandbox.today = TODAY + 2 * DAY
    back = run_cli("run", today=TODAY + 2 * DAY)
    assert back.code == 0 and "ledger 5551234 is readable again" in back.err
    assert_exported(sandbox, workdir / "reports", state, ["5551234"], [TODAY, TODAY + DAY])  # the gap is filled


def test_a_ledger_id_that_is_not_a_plain_identifier_is_refused_and_never_a_path(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    sandbox.add_ledger("../evil", like="302321")
    result = run_cli("run")
    assert result.code == 5
    assert "'../evil', which is not a plain identifier; refused" in result.err
    assert not (workdir / "evil").exists() and not list(workdir.parent.glob("evil*"))
    assert_exported(
        sandbox,
        workdir / "reports",
        workdir / "state/report-export.sqlite3",
        [lid for lid in ids(sandbox) if lid != "../evil"],
        [TODAY - DAY],
    )
