"""Short-lived tokens and injected faults: the run recovers or fails loudly, never half-written."""

from __future__ import annotations

import datetime as dt
import re
import time

from conftest import TODAY
from expected import HEADER, csv_rows, read_csv, report

D1, D3 = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
DAYS = [D1 + dt.timedelta(days=n) for n in range(3)]


def run_days(run_cli, *extra):
    # One request at a time: the fake clock adds up every request's latency, which only models real
    # time when requests do not overlap. Two workers still take turns (one writes while the other
    # fetches), so a fault counted by request order may hit either one's date. Concurrency has its
    # own tests.
    return run_cli("run", "--from", D1.isoformat(), "--to", D3.isoformat(), "--concurrency", "1", *extra)


def assert_complete(sandbox, out, topics=("funds", "fees")):
    """Every file there is, for every ledger, topic and day, with exactly the served rows."""
    for ledger in (entry["ledgerId"] for entry in sandbox.ledgers()):
        for topic in topics:
            for day in DAYS:
                rows = read_csv(report(out, ledger, topic, day, "csv"))
                assert rows == [HEADER] + csv_rows(sandbox.entries(ledger, topic, day), ledger)


def no_temporary_files(folder):
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_a_run_outlasting_several_short_tokens_refreshes_ahead_and_loses_no_page(
    make_sandbox, use_sandbox, run_cli, workdir, fake_time
):
    sandbox = make_sandbox(token_ttl=2, latency_ms=150)  # every request costs 0.15 s of the shared fake clock
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 0, result.err
    assert_complete(sandbox, workdir / "reports")
    api_calls = [r for r in sandbox.requests if not r.path.endswith("/token")]
    tokens = len(sandbox.tokens_issued)
    assert tokens >= 3
    assert tokens <= len(api_calls) * 0.15 / 1.6 + 2  # one token per usable lifetime, not one per call
    assert not [r for r in sandbox.requests if r.status == 401]  # never sent an expired token
    assert f"{tokens} tokens" in result.out


def test_a_401_gets_a_fresh_token_and_the_request_is_resent(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(faults=["401:path=/dates/,nth=4"])
    use_sandbox(sandbox)
    assert run_days(run_cli).code == 0
    assert_complete(sandbox, workdir / "reports")
    assert len(sandbox.tokens_issued) == 2


def test_a_second_401_is_an_auth_error(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(faults=["401:path=/dates/,nth=4,count=2"])
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 4
    error = result.err.strip().splitlines()[-1]
    assert error.startswith("report-export: error: ") and "401" in error
    assert no_temporary_files(workdir)


def test_429_is_retried_no_sooner_than_retry_after(make_sandbox, use_sandbox, run_cli, workdir, fake_time):
    sandbox = make_sandbox(faults=["429:path=/dates/,nth=3,retry-after=7"])
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 0, result.err
    assert_complete(sandbox, workdir / "reports")
    assert [s for s in fake_time.slept if s > 0] == [7]
    assert "1 retry," in result.out


def test_server_errors_and_dropped_connections_are_retried(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(
        faults=["500:path=/dates/,nth=2", "503:path=/ledgers,nth=1", "drop:path=/dates/,nth=9", "503:path=/token,nth=1"]
    )
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 0, result.err
    assert_complete(sandbox, workdir / "reports")
    assert "4 retries" in result.out


def test_a_slow_response_times_out_and_is_retried(make_sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text("[api]\ntimeout_seconds = 0.2\n")
    sandbox = make_sandbox(faults=["slow:path=/dates/,nth=2,ms=500"], sleep=time.sleep)
    use_sandbox(sandbox)
    result = run_days(run_cli, "--topic", "funds")
    assert result.code == 0, result.err
    assert_complete(sandbox, workdir / "reports", topics=("funds",))
    assert "1 retry," in result.out


def test_an_empty_page_with_has_more_is_followed(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(faults=["empty-page:path=/dates/,nth=1,count=3"])
    use_sandbox(sandbox)
    assert run_days(run_cli).code == 0
    assert_complete(sandbox, workdir / "reports")


def test_a_repeated_cursor_stops_the_run_without_a_partial_file(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(faults=["repeat-cursor:path=/dates/,nth=2"])
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 5
    assert "repeated a cursor" in result.err
    # The date the error names: with read-ahead and two workers, not always the first one asked for.
    ledger, topic, day = re.search(r"ledger (\S+) (funds|fees) (\S+): the API repeated", result.err).groups()
    assert not report(workdir / "reports", ledger, topic, dt.date.fromisoformat(day), "csv").exists()
    assert no_temporary_files(workdir)


def test_a_dead_api_fails_loudly_and_leaves_only_complete_files(make_sandbox, use_sandbox, run_cli, workdir):
    # Down for the last day: in plan order (ledger by ledger) the first ledger's earlier days come
    # first, so some dates are certainly done however the workers' requests interleave.
    sandbox = make_sandbox(faults=[f"503:path=/dates/{D3.isoformat()},count=0"])
    use_sandbox(sandbox)
    result = run_days(run_cli)
    assert result.code == 5
    assert "gave up after 6 attempts" in result.err and "Traceback" not in result.err
    written = list((workdir / "reports").rglob("*.csv"))
    assert written
    assert not [path for path in written if D3.isoformat() in path.name]
    for path in written:
        ledger, topic, day = path.stem.split("_")
        assert read_csv(path) == [HEADER] + csv_rows(sandbox.entries(ledger, topic, dt.date.fromisoformat(day)), ledger)
    assert no_temporary_files(workdir)


def test_a_file_that_cannot_be_written_is_an_output_error_without_leftovers(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = sandbox.ledgers()[0]["ledgerId"]
    blocker = report(workdir / "reports", ledger, "funds", D3, "csv")
    blocker.mkdir(parents=True)  # a folder where the file must go
    result = run_cli("run", "--to", D3.isoformat(), "--ledger", ledger)
    assert result.code == 6
    assert result.err.strip().splitlines()[-1].startswith("report-export: error: cannot write")
    assert no_temporary_files(workdir)
