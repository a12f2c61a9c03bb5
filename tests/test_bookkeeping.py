"""Files a bookkeeper imports: presets, summaries, reconciliation, manifests, periods, GDPR, big dates."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from conftest import TODAY
from expected import HEADER, csv_rows, major, read_csv, report

DAY = dt.timedelta(days=1)
D3 = TODAY - DAY
MAIN, DANISH, EURO = "302321", "5551234", "7778881"
ZONE = {MAIN: "Europe/Oslo", DANISH: "Europe/Copenhagen", EURO: "Europe/Helsinki"}
DATE_FORMAT = {
    "no": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "dk": lambda d: f"{d.day:02d}-{d.month:02d}-{d.year}",
    "fi": lambda d: f"{d.day}.{d.month}.{d.year}",
}
TEXT = {"ledgerId", "time", "entryType", "pspReference", "reference", "recipientHandle", "currency"}


def preset_rows(entries: list[dict], ledger: str, preset: str) -> list[list[str]]:
    """What a Nordic preset must show, computed here from the served entries."""
    day = DATE_FORMAT[preset]

    def local(text: str) -> str:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE[ledger]))
        return f"{day(moment.date())} {moment:%H:%M:%S}"

    def safe(text: str) -> str:
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    rows = []
    for e in entries:
        row = {
            "ledgerId": ledger,
            "ledgerDate": day(dt.date.fromisoformat(e["ledgerDate"])),
            "time": local(e["time"]),
            "entryType": e["entryType"],
            "pspReference": e["pspReference"],
            "reference": e["reference"],
            "recipientHandle": e["recipientHandle"] or "",
            "currency": e["currency"],
            **{k: major(e[k]).replace(".", ",") for k in ("amount", "balanceBefore", "balanceAfter")},
        }
        rows.append([safe(row[c]) if c in TEXT else row[c] for c in HEADER])
    return rows


@pytest.mark.parametrize("preset", ["no", "dk", "fi"])
def test_each_nordic_preset_reads_back_as_promised(preset, sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(D3), "--csv-preset", preset, "--format", "csv")
    assert result.code == 0, result.err
    for ledger in (MAIN, DANISH, EURO):
        for topic in ("funds", "fees"):
            path = report(workdir / "reports", ledger, topic, D3, "csv")
            raw = path.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf") and not raw[3:].lower().startswith(b"sep=")
            text = raw.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
            entries = sandbox.entries(ledger, topic, D3)
            assert rows == [HEADER] + preset_rows(entries, ledger, preset)
            frame = pd.read_csv(
                path, sep=";", decimal=",", encoding="utf-8-sig", dtype={"amount": float}, keep_default_na=False
            )
            assert [round(x * 100) for x in frame["amount"]] == [e["amount"] for e in entries]


def test_the_standard_preset_is_unchanged_and_columns_can_be_chosen_and_renamed(sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text(
        '[csv]\npreset = "no"\ncolumns = ["ledgerDate", "reference", "amount"]\n'
        '[csv.rename]\nledgerDate = "Dato"\nreference = "Referanse"\namount = "Beløp"\n'
    )
    use_sandbox(sandbox)
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds").code == 0
    text = report(workdir / "reports", MAIN, "funds", D3, "csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    entries = sandbox.entries(MAIN, "funds", D3)
    full = preset_rows(entries, MAIN, "no")
    pick = [HEADER.index(c) for c in ("ledgerDate", "reference", "amount")]
    assert rows == [["Dato", "Referanse", "Beløp"]] + [[row[i] for i in pick] for row in full]
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds", "--csv-preset", "standard").code == 0
    assert read_csv(report(workdir / "reports", MAIN, "funds", D3, "csv"))[1:] == [
        [row[i] for i in pick] for row in csv_rows(entries, MAIN)
    ]


def test_a_bad_column_choice_is_a_config_error(sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text('[csv]\ncolumns = ["amunt"]\n')
    use_sandbox(sandbox)
    result = run_cli("run")
    assert result.code == 3 and "[csv]" in result.err and "amunt" in result.err


def summary_values(path) -> dict:
    wb = openpyxl.load_workbook(path)
    try:
        assert wb.sheetnames[0] == "summary"
        sheet = wb["summary"]
        values = {}
        for row in sheet.iter_rows(values_only=True):
            if row and isinstance(row[0], str) and row[0] not in values:
                values[row[0]] = row[1:]
        return values
    finally:
        wb.close()


def test_summary_sheet_and_manifest_agree_with_sums_computed_from_the_served_data(
    sandbox, use_sandbox, run_cli, workdir
):
    use_sandbox(sandbox)
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN).code == 0
    entries = sandbox.entries(MAIN, "funds", D3)
    sums: dict[str, int] = {}
    for e in entries:
        sums[e["entryType"]] = sums.get(e["entryType"], 0) + e["amount"]
    payout = next(e for e in entries if e["entryType"] in ("payout-scheduled", "scheduled-for-payout"))
    captures = sums["capture"]
    values = summary_values(report(workdir / "reports", MAIN, "funds", D3, "xlsx"))
    assert Decimal(str(values["Opening balance"][0])) == Decimal(entries[0]["balanceBefore"]) / 100
    assert Decimal(str(values["Closing balance"][0])) == Decimal(entries[-1]["balanceAfter"]) / 100
    assert Decimal(str(values["Captures"][0])) == Decimal(captures) / 100
    assert values["Entries"][0] == len(entries)
    assert Decimal(str(values["Payout amount"][0])) == Decimal(-payout["amount"]) / 100
    assert values["Payout reference"][0] == payout["reference"]
    manifest = json.loads((workdir / "reports" / MAIN / "funds" / f"{MAIN}_funds_{D3}.manifest.json").read_text())
    assert manifest["ledgerId"] == MAIN and manifest["topic"] == "funds" and manifest["dates"] == [str(D3), str(D3)]
    assert manifest["closed"] is True and manifest["rows"] == len(entries) and manifest["sums"] == sums
    assert manifest["apiBaseUrl"] == sandbox.base_url and manifest["runId"] >= 1 and manifest["toolVersion"]
    assert all(check["ok"] for check in manifest["checks"])
    assert {f["name"] for f in manifest["files"]} == {f"{MAIN}_funds_{D3}.csv", f"{MAIN}_funds_{D3}.xlsx"}


def test_verify_passes_untouched_files_and_names_a_tampered_one(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert run_cli("run", "--to", str(D3)).code == 0
    good = run_cli("verify", "reports")
    assert good.code == 0 and "every file matches its manifest" in good.out
    target = report(workdir / "reports", MAIN, "funds", D3, "csv")
    target.write_bytes(target.read_bytes().replace(b"capture", b"kapture", 1))
    (workdir / "reports" / MAIN / "fees" / f"{MAIN}_fees_{D3}.xlsx").unlink()
    bad = run_cli("verify", "reports")
    assert bad.code == 10
    assert f"{target.relative_to(workdir)}: changed since it was written" in bad.out
    assert f"{MAIN}_fees_{D3}.xlsx: missing" in bad.out
    assert "2 problems" in bad.out


@pytest.mark.parametrize(
    "kind, check", [("balance", "balance"), ("chain", "chain"), ("payout-not-last", "payout last")]
)
def test_broken_balances_warn_and_under_strict_fail(kind, check, sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    sandbox.corrupt(MAIN, "funds", D3, kind)
    warned = run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds")
    assert warned.code == 0
    assert f"ledger {MAIN} funds {D3} does not reconcile" in warned.err and check in warned.err
    path = report(workdir / "reports", MAIN, "funds", D3, "csv")
    assert read_csv(path) == [HEADER] + csv_rows(sandbox.entries(MAIN, "funds", D3), MAIN)  # written as served
    manifest = json.loads(path.with_name(f"{MAIN}_funds_{D3}.manifest.json").read_text())
    assert check in [c["name"] for c in manifest["checks"] if not c["ok"]]
    wb = openpyxl.load_workbook(path.with_suffix(".xlsx"))
    try:
        assert "FAILED" in [cell for row in wb["summary"].iter_rows(values_only=True) for cell in row]
    finally:
        wb.close()
    path.unlink()
    path.with_suffix(".xlsx").unlink()
    strict = run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds", "--strict")
    assert strict.code == 5
    assert "does not reconcile" in strict.err and "--strict" in strict.err
    assert not path.exists() and not path.with_suffix(".xlsx").exists()


def test_text_that_is_not_valid_unicode_never_stops_a_date(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    sandbox.corrupt(MAIN, "funds", D3, "lone-surrogate")  # half an emoji in one reference, as a JSON escape
    served = sandbox.entries(MAIN, "funds", D3)
    assert sum((e["reference"] or "").count("\ud83d") for e in served) == 1  # whole emoji are one character each

    result = run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds")

    assert result.code == 0, result.err
    assert (
        f"ledger {MAIN} funds {D3}: the API sent 1 character(s) that are not valid Unicode (lone surrogates); "
        "written as U+FFFD"
    ) in result.err
    references = [(e["reference"] or "").replace("\ud83d", "\ufffd") for e in served]
    path = report(workdir / "reports", MAIN, "funds", D3, "csv")
    expected = [row[:5] + [text] + row[6:] for row, text in zip(csv_rows(served, MAIN), references, strict=True)]
    assert read_csv(path) == [HEADER] + expected
    frame = pd.read_excel(path.with_suffix(".xlsx"), sheet_name="entries", dtype=str, keep_default_na=False)
    assert frame["reference"].tolist() == references
    manifest = json.loads(path.with_name(f"{MAIN}_funds_{D3}.manifest.json").read_text(encoding="utf-8"))
    assert manifest["replacedCharacters"] == 1 and all(check["ok"] for check in manifest["checks"])
    assert run_cli("verify", "reports").code == 0

    # The feed serves the same entries: its batch is written, and says so too.
    feed = run_cli("feed", "--ledger", MAIN, "--topic", "funds")
    assert feed.code == 0, feed.err
    assert f"the feed of ledger {MAIN} funds, batch 000001: the API sent 1 character(s)" in feed.err
    [batch] = (workdir / "reports" / MAIN / "funds" / "feed").glob("*.manifest.json")
    assert json.loads(batch.read_text(encoding="utf-8"))["replacedCharacters"] == 1


def test_period_files_hold_every_date_and_a_per_date_summary(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    first = TODAY - 4 * DAY
    assert run_cli("run", "--from", str(first), "--to", str(D3), "--ledger", MAIN, "--combine").code == 0
    for topic in ("funds", "fees"):
        period = workdir / "reports" / MAIN / topic / f"{MAIN}_{topic}_{first}_{D3}.csv"
        served = [e for n in range(4) for e in sandbox.entries(MAIN, topic, first + n * DAY)]
        assert read_csv(period) == [HEADER] + csv_rows(served, MAIN)
        wb = openpyxl.load_workbook(period.with_suffix(".xlsx"))
        try:
            assert wb.sheetnames[0] == "summary"
            # Each printed page says what it belongs to, as does each date's own file.
            assert {sheet.oddHeader.left.text for sheet in wb} == {f"Ledger {MAIN} {topic} {first} to {D3}"}
            assert {sheet.oddFooter.left.text for sheet in wb} == {"Times in Europe/Oslo"}
            rows = [r for r in wb["summary"].iter_rows(values_only=True) if r and r[0] is not None]
            dates = [r[0].date() for r in rows if isinstance(r[0], dt.datetime)]
            assert dates == [first + n * DAY for n in range(4)]
            assert any(r[0] == "Total" for r in rows)
        finally:
            wb.close()
        day = openpyxl.load_workbook(report(workdir / "reports", MAIN, topic, D3, "xlsx"))
        try:
            assert {sheet.oddHeader.left.text for sheet in day} == {f"Ledger {MAIN} {topic} {D3}"}
        finally:
            day.close()
    assert run_cli("verify", "reports").code == 0


def test_no_period_file_when_a_date_is_still_open(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(today=D3)  # D3 is open
    use_sandbox(sandbox)
    first = TODAY - 3 * DAY
    result = run_cli(
        "run",
        "--from",
        str(first),
        "--to",
        str(D3),
        "--ledger",
        MAIN,
        "--topic",
        "funds",
        "--combine",
        "--detailed-exit-codes",
    )
    assert result.code == 8
    assert f"no period file for ledger {MAIN} funds {first}..{D3}" in result.err
    assert not list((workdir / "reports" / MAIN / "funds").glob(f"*_{first}_{D3}.*"))
    assert not list(workdir.rglob("*.tmp"))


def test_personal_data_only_when_configured(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds").code == 0
    assert not [r for r in sandbox.requests if "includeGDPRSensitiveData" in r.query]
    assert read_csv(report(workdir / "reports", MAIN, "funds", D3, "csv"))[0] == HEADER
    (workdir / "config.toml").write_text("[export]\ninclude_gdpr_sensitive_data = true\n")
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds").code == 0
    date_calls = [r for r in sandbox.requests if "/dates/" in r.path]
    assert date_calls and all(r.query.get("includeGDPRSensitiveData") == "true" for r in date_calls[-1:])
    rows = read_csv(report(workdir / "reports", MAIN, "funds", D3, "csv"))
    assert rows[0] == HEADER + ["name", "maskedPhoneNo", "message"]
    served = sandbox.entries(MAIN, "funds", D3, gdpr=True)
    assert [row[11:] for row in rows[1:]] == [
        [e.get(k) or "" for k in ("name", "maskedPhoneNo", "message")] for e in served
    ]
    assert any(row[12] for row in rows[1:])  # the sandbox did serve personal data here


def test_a_date_longer_than_a_sheet_continues_on_further_sheets(sandbox, use_sandbox, run_cli, workdir):
    (workdir / "config.toml").write_text("[export]\nxlsx_sheet_rows = 5\n")
    use_sandbox(sandbox)
    assert run_cli("run", "--to", str(D3), "--ledger", MAIN, "--topic", "funds").code == 0
    entries = sandbox.entries(MAIN, "funds", D3)
    wb = openpyxl.load_workbook(report(workdir / "reports", MAIN, "funds", D3, "xlsx"))
    try:
        sheets = [name for name in wb.sheetnames if name.startswith("entries")]
        assert len(sheets) == -(-len(entries) // 4)
        refs = [row[5] for name in sheets for row in wb[name].iter_rows(min_row=2, values_only=True)]
        assert refs == [e["reference"] or None for e in entries]
    finally:
        wb.close()


def test_feed_batches_get_manifests_that_verify(make_sandbox, use_sandbox, run_cli, workdir):
    sandbox = make_sandbox(page_size=400)
    use_sandbox(sandbox)
    assert run_cli("feed", "--ledger", "412345", "--topic", "fees").code == 0
    manifest = json.loads(next((workdir / "reports").rglob("*feed_000001.manifest.json")).read_text())
    assert manifest["closed"] is False and manifest["rows"] > 0
    assert run_cli("verify", "reports").code == 0
