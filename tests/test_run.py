"""`report-export run` end to end against the sandbox over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pandas as pd
from conftest import TODAY
from expected import HEADER, check_xlsx, csv_rows, read_csv, report

D1, D2, D3 = (TODAY - dt.timedelta(days=n) for n in (3, 2, 1))
AWKWARD = ['=HYPERLINK("http://x","y")', "+4712345678", "-42", "@SUM(A1)", "line\nbreak", "tab\there", "æøå ÆØÅ"]


def ledger_ids(sandbox) -> list[str]:
    return [ledger["ledgerId"] for ledger in sandbox.ledgers()]


def test_every_ledger_topic_and_date_is_written_exactly_as_served(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    result = run_cli("run", "--from", D1.isoformat(), "--to", D3.isoformat())
    assert result.code == 0, result.err
    out = workdir / "reports"
    served_references = set()
    for ledger in ledger_ids(sandbox):
        for topic in ("funds", "fees"):
            for day in (D1, D2, D3):
                entries = sandbox.entries(ledger, topic, day)
                served_references.update(e["reference"] for e in entries)
                assert read_csv(report(out, ledger, topic, day, "csv")) == [HEADER] + csv_rows(entries, ledger)
                check_xlsx(report(out, ledger, topic, day, "xlsx"), entries, ledger)
    assert set(AWKWARD) <= served_references  # the round trip above covered them
    files = [p for p in out.rglob("*") if p.suffix in (".csv", ".xlsx")]
    assert len(files) == len(ledger_ids(sandbox)) * 2 * 3 * 2
    assert len(list(out.rglob("*.manifest.json"))) == len(ledger_ids(sandbox)) * 2 * 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert f"{len(files)} files" in result.out


def test_pandas_reads_identifiers_and_awkward_text_back_unchanged(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = ledger_ids(sandbox)[0]
    assert run_cli("run", "--from", D1.isoformat(), "--to", D3.isoformat(), "--ledger", ledger).code == 0
    for day in (D1, D2, D3):
        entries = sandbox.entries(ledger, "funds", day)
        frame = pd.read_csv(report(workdir / "reports", ledger, "funds", day, "csv"), dtype=str, keep_default_na=False)
        assert frame.values.tolist() == csv_rows(entries, ledger)
        xlsx = report(workdir / "reports", ledger, "funds", day, "xlsx")
        sheet = pd.read_excel(xlsx, sheet_name="entries", dtype=str, keep_default_na=False)
        assert sheet["reference"].tolist() == [e["reference"] for e in entries]
        assert sheet["pspReference"].tolist() == [e["pspReference"] for e in entries]


def test_amounts_are_exact_at_the_edges(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    start = TODAY - dt.timedelta(days=7)
    assert run_cli("run", "--from", start.isoformat(), "--to", D3.isoformat()).code == 0
    seen = set()
    for ledger in ledger_ids(sandbox):
        for topic in ("funds", "fees"):
            for n in range(7):
                day = start + dt.timedelta(days=n)
                entries = sandbox.entries(ledger, topic, day)
                rows = read_csv(report(workdir / "reports", ledger, topic, day, "csv"))[1:]
                assert rows == csv_rows(entries, ledger)
                for e in entries:
                    seen.update(v for v in (e["amount"], e["balanceBefore"], e["balanceAfter"]))
    assert {0, -1} <= seen
    assert max(seen) > 2**31


def test_rerun_replaces_files_with_identical_csv_and_leaves_no_temporary_file(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    args = ("run", "--from", D3.isoformat(), "--to", D3.isoformat())
    assert run_cli(*args).code == 0
    before = {p: p.read_bytes() for p in (workdir / "reports").rglob("*.csv")}
    assert run_cli(*args).code == 0
    after = {p: p.read_bytes() for p in (workdir / "reports").rglob("*.csv")}
    assert before == after and before
    assert not [p for p in workdir.rglob("*") if p.name.endswith(".tmp")]


def test_a_closed_date_without_entries_gets_header_only_files(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    quiet = [
        (lid, day)
        for lid in ledger_ids(sandbox)
        for day in (TODAY - dt.timedelta(days=n) for n in range(1, 15))
        if not sandbox.entries(lid, "funds", day)
    ]
    assert quiet, "the sandbox should have a closed date without activity"
    ledger, day = quiet[0]
    assert (
        run_cli("run", "--from", day.isoformat(), "--to", day.isoformat(), "--ledger", ledger, "--topic", "funds").code
        == 0
    )
    assert read_csv(report(workdir / "reports", ledger, "funds", day, "csv")) == [HEADER]
    check_xlsx(report(workdir / "reports", ledger, "funds", day, "xlsx"), [], ledger)


def test_open_and_unavailable_dates_get_no_file_and_are_named(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(today=D2)  # the API is two days behind the exporter's calendar
    use_sandbox(sandbox)
    ledger = ledger_ids(sandbox)[0]
    result = run_cli(
        "run",
        "--from",
        D1.isoformat(),
        "--to",
        D3.isoformat(),
        "--ledger",
        ledger,
        "--topic",
        "funds",
        "--detailed-exit-codes",
    )
    assert result.code == 8
    out = workdir / "reports"
    assert report(out, ledger, "funds", D1, "csv").exists()
    assert (
        not report(out, ledger, "funds", D2, "csv").exists() and not report(out, ledger, "funds", D2, "xlsx").exists()
    )
    assert not report(out, ledger, "funds", D3, "csv").exists()
    assert f"open: ledger {ledger} funds {D2}" in result.out
    assert f"unavailable: ledger {ledger} funds {D3}" in result.out
    assert not [p for p in workdir.rglob("*.tmp")]


def test_topic_format_ledger_and_out_narrow_the_run(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = ledger_ids(sandbox)[-1]
    result = run_cli(
        "run", "--to", D3.isoformat(), "--ledger", ledger, "--topic", "fees", "--format", "csv", "--out", "elsewhere"
    )
    assert result.code == 0, result.err
    files = sorted(p.relative_to(workdir) for p in (workdir / "elsewhere").rglob("*") if p.is_file())
    assert [str(p) for p in files] == [
        f"elsewhere/{ledger}/fees/{ledger}_fees_{D3}.csv",
        f"elsewhere/{ledger}/fees/{ledger}_fees_{D3}.manifest.json",
    ]
    assert not (workdir / "reports").exists()


def test_default_date_is_yesterday(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    ledger = ledger_ids(sandbox)[0]
    assert run_cli("run", "--ledger", ledger, "--topic", "funds", "--format", "csv").code == 0
    assert [p.name for p in (workdir / "reports").rglob("*.csv")] == [f"{ledger}_funds_{D3}.csv"]


def test_accounting_calls_never_carry_a_subscription_key_and_always_the_system_headers(
    sandbox, use_sandbox, run_cli, workdir
):
    use_sandbox(sandbox)
    assert run_cli("run", "--to", D3.isoformat()).code == 0
    assert sandbox.requests
    for request in sandbox.requests:
        assert "ocp-apim-subscription-key" not in request.headers, request.path
        for name in ("name", "version", "plugin-name", "plugin-version"):
            value = request.headers[f"vipps-system-{name}"]
            assert 0 < len(value) <= 30
    assert len(sandbox.tokens_issued) == 1


def test_merchant_keys_read_their_own_ledger(sandbox, use_sandbox, run_cli, workdir, monkeypatch):
    from jobs.sandbox import MERCHANT_CLIENT

    client_id, secret, subscription_key, msn = MERCHANT_CLIENT
    use_sandbox(sandbox, (client_id, secret))
    monkeypatch.setenv("VIPPS_KEY_TYPE", "merchant")
    monkeypatch.setenv("VIPPS_SUBSCRIPTION_KEY", subscription_key)
    monkeypatch.setenv("VIPPS_MSN", msn)
    result = run_cli("run", "--to", D3.isoformat(), "--format", "csv")
    assert result.code == 0, result.err
    folders = {p.name for p in (workdir / "reports").iterdir()}
    merchant_ledgers = [
        ledger["ledgerId"] for ledger in sandbox.ledgers() if f"api:{msn}" in ledger["settlesForRecipientHandles"]
    ]
    assert folders == set(merchant_ledgers) and len(folders) == 1
    token_calls = [r for r in sandbox.requests if r.path == "/accesstoken/get"]
    assert len(token_calls) == 1
    api_calls = [r for r in sandbox.requests if r.path != "/accesstoken/get"]
    assert all(r.headers.get("ocp-apim-subscription-key") == subscription_key for r in api_calls)


def test_files_keep_the_configured_mode(sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text('[export]\nfile_mode = "0640"\n')
    use_sandbox(sandbox)
    ledger = ledger_ids(sandbox)[0]
    assert run_cli("run", "--to", D3.isoformat(), "--ledger", ledger).code == 0
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (workdir / "reports").rglob("*") if p.is_file()}
    assert modes == {0o640}
    assert os.access(workdir / "reports", os.R_OK)
