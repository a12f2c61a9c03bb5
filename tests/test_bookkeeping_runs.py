"""`report-export run --format gbat10 / camt053` against the sandbox over loopback HTTP: every ledger,
every entry type, awkward text, unbalanced dates, periods, and the mistakes a user can make.

Files are read with the independent readers (tests/gbat10_reader.py, tests/camt053_reader.py), and
what they must hold is added up here from the sandbox's entries, in minor units.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tomllib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from camt053_reader import read_camt053
from conftest import TODAY
from expected import report
from gbat10_reader import read_gbat10

ROOT = Path(__file__).parent.parent
DAY = dt.timedelta(days=1)
WEEK = [TODAY - n * DAY for n in range(7, 0, -1)]
MAIN, RESERVE, MERCHANT, DANISH, EURO = "302321", "0302399", "412345", "5551234", "7778881"
PAYOUTS = ("payout-scheduled", "scheduled-for-payout")
BOTH = ("--format", "gbat10", "--format", "camt053")
PROOFS = (
    "voucher balances",
    "voucher clearing",
    "voucher payout",
    "voucher fees",
    "statement balances",
    "statement movement",
    "statement payout",
)


def cents(minor: int) -> Decimal:
    return Decimal(minor) / 100


def iban(country: str, bban: str) -> str:
    """ISO 13616: the check digits make the number, its country moved to the end as digits, 1 modulo 97."""
    digits = bban + "".join(str(ord(c) - 55) for c in country) + "00"
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


# The payout accounts of the sandbox's ledgers as IBANs; the Finnish one is given as an IBAN.
IBANS = {
    MAIN: iban("NO", "12345678903"),
    RESERVE: iban("NO", "98765432103"),
    MERCHANT: iban("NO", "15031234562"),
    DANISH: iban("DK", "12345678901234"),
    EURO: "FI2112345600000785",
}
assert iban("NO", "86011117947") == "NO9386011117947"  # the example IBAN of Norway's own documentation
OWNERS = {MAIN: "987654321", RESERVE: "912345678", MERCHANT: "923456789", DANISH: "12345678", EURO: "1234567-8"}


def committed_config(workdir: Path) -> dict:
    """The committed config.toml, copied beside the run (so no .env of the checkout is read)."""
    shutil.copy(ROOT / "config.toml", workdir / "config.toml")
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def chart_of(toml: dict, ledger: str) -> dict:
    """The ledger's chart as the README says: [accounts], then its client's table, then its own, type by type."""
    merged: dict = {}
    for layer in (
        toml["accounts"],
        toml.get("clients", {}).get(OWNERS[ledger], {}),
        toml.get("ledgers", {}).get(ledger, {}),
    ):
        for key, value in layer.items():
            if key in ("types", "fee_types", "vat"):
                merged[key] = {
                    **merged.get(key, {}),
                    **{n: {**merged.get(key, {}).get(n, {}), **v} for n, v in value.items()},
                }
            else:
                merged[key] = value
    return merged


def expected_lines(entries: list[dict], fees: list[dict], chart: dict) -> list[tuple[int, Decimal]]:
    """(account, amount) of a per-type voucher, from the served entries: a pair per type and direction, funds
    first; fees retained to the fees owed, fees-topic fees retained and invoiced not booked; VAT split out under
    model "sales"."""
    groups: dict[tuple[str, str, bool], int] = defaultdict(int)
    for topic, served in (("funds", entries), ("fees", fees)):
        for e in served:
            if topic == "fees" and e["entryType"] in ("fees-retained", "fees-invoiced"):
                continue
            groups[topic, e["entryType"], e["amount"] < 0] += e["amount"]
    lines = []
    for (topic, entry_type, _), amount in groups.items():
        balance = chart["clearing"] if topic == "funds" else chart["fees_payable"]
        if (topic, entry_type) == ("funds", "fees-retained"):
            lines += [(chart["fees_payable"], cents(-amount)), (balance, cents(amount))]
            continue
        table = chart["types" if topic == "funds" else "fee_types"]
        mapping = table.get(entry_type) or table["payout-scheduled"]  # the payout's two names share one
        vat = chart.get("vat", {}).get(str(mapping.get("vat_code", 0))) if chart.get("model") == "sales" else None
        tax = 0
        if vat is not None:
            tax = int((Decimal(abs(amount)) * vat["rate"] / (100 + vat["rate"])).quantize(Decimal(1), "ROUND_HALF_UP"))
            tax = -tax if amount < 0 else tax
        lines.append((mapping["account"], cents(-(amount - tax))))
        if vat is not None:
            lines.append((vat["account"], cents(-tax)))
        lines.append((balance, cents(amount)))
    return lines


def voucher(out: Path, ledger: str, label: str) -> Path:
    return out / ledger / "funds" / f"{ledger}_vouchers_{label}.csv"


def statement(out: Path, ledger: str, label: str) -> Path:
    return out / ledger / "funds" / f"{ledger}_camt053_{label}.xml"


def by_type(entries: list[dict]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for entry in entries:
        sums[entry["entryType"]] += entry["amount"]
    return dict(sums)


def check_voucher(path: Path, entries: list[dict], fees: list[dict], toml: dict, ledger: str, day: dt.date) -> None:
    """Lines per type and direction as the ledger's chart maps them, against the served entries of both topics."""
    chart = chart_of(toml, ledger)
    lines = read_gbat10(path)
    assert {line.number for line in lines} == {chart["series"] * 1000 + day.timetuple().tm_yday}
    assert {line.voucher_type for line in lines} == {chart["voucher_type"]} and {line.date for line in lines} == {day}
    assert [(line.account, line.amount) for line in lines] == expected_lines(entries, fees, chart)
    change = entries[-1]["balanceAfter"] - entries[0]["balanceBefore"]
    assert sum(line.amount for line in lines if line.account == chart["clearing"]) == cents(change)


def check_statement(path: Path, entries: list[dict], ledger: str) -> None:
    found = read_camt053(path)
    assert found.account == IBANS[ledger] and found.currency == entries[0]["currency"]
    assert found.opening == cents(entries[0]["balanceBefore"]) and found.closing == cents(entries[-1]["balanceAfter"])
    assert [(e.amount, e.code, e.psp, e.end_to_end or "") for e in found.entries] == [
        (cents(e["amount"]), e["entryType"], e["pspReference"], e["reference"] or "") for e in entries
    ]
    assert {e.booked for e in found.entries} == {e.value for e in found.entries} == {found.opening_date}


def test_the_committed_example_works_out_of_the_box_for_every_ledger(sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), *BOTH, "--format", "csv", "--strict")
    assert result.code == 0, result.err
    assert "gbat10 and camt053: written for topic funds only; fees dates get csv" in result.err
    out, seen, quiet = workdir / "reports", set(), 0
    for ledger in (MAIN, RESERVE, MERCHANT, DANISH, EURO):
        for day in WEEK:
            entries = sandbox.entries(ledger, "funds", day)
            if not entries:  # a quiet Sunday: nothing moved, so no voucher and no statement
                quiet += 1
                assert not voucher(out, ledger, str(day)).exists() and not statement(out, ledger, str(day)).exists()
                continue
            seen.update(e["entryType"] for e in entries)
            check_voucher(
                voucher(out, ledger, str(day)), entries, sandbox.entries(ledger, "fees", day), chart, ledger, day
            )
            check_statement(statement(out, ledger, str(day)), entries, ledger)
            manifest = json.loads(report(out, ledger, "funds", day, "manifest.json").read_text())
            assert {f["name"] for f in manifest["files"]} == {
                f"{ledger}_funds_{day}.csv",
                f"{ledger}_vouchers_{day}.csv",
                f"{ledger}_camt053_{day}.xml",
            }
            proofs = {c["name"]: c["ok"] for c in manifest["checks"] if c["name"].startswith(("voucher", "statement"))}
            assert proofs == dict.fromkeys(PROOFS, True)
            assert read_camt053(statement(out, ledger, str(day))).iban  # every sandbox payout account has one
        assert not list((out / ledger / "fees").glob("*_vouchers_*")) and not list(out.rglob(f"{ledger}_fees*.xml"))
    assert quiet and set(PAYOUTS) <= seen and {"instant-payout-fee", "top-up", "payout-aborted"} <= seen
    assert run_cli("verify", "reports").code == 0
    (out / MAIN / "funds" / "stray.xml").write_text("<x/>")  # a statement no manifest lists is named too
    stray = run_cli("verify", "reports")
    assert stray.code == 10 and f"{MAIN}/funds/stray.xml: not in any manifest" in stray.out


def test_negative_balances_and_the_top_up_that_ends_them(make_sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    use_sandbox(make_sandbox())
    first, last = dt.date(2026, 9, 14), dt.date(2026, 9, 16)  # below zero until the top-up on the 16th
    result = run_cli("run", "--from", str(first), "--to", str(last), "--ledger", MERCHANT, *BOTH, "--strict")
    assert result.code == 0, result.err
    out, sandbox = workdir / "reports", make_sandbox()
    for day in (first, first + DAY, last):
        entries = sandbox.entries(MERCHANT, "funds", day)
        found = read_camt053(statement(out, MERCHANT, str(day)))
        check_statement(statement(out, MERCHANT, str(day)), entries, MERCHANT)
        fees = sandbox.entries(MERCHANT, "fees", day)
        check_voucher(voucher(out, MERCHANT, str(day)), entries, fees, chart, MERCHANT, day)
        assert found.opening < 0
        assert (found.closing < 0) == (day != last)
    assert "top-up" in {e.code for e in read_camt053(statement(out, MERCHANT, str(last))).entries}


def test_a_month_with_combine_is_the_dates_one_after_another(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    result = run_cli("run", "--from", str(first), "--to", str(last), "--ledger", RESERVE, *BOTH, "--combine")
    assert result.code == 0, result.err
    out, label = workdir / "reports", f"{first}_{last}"
    days = [first + n * DAY for n in range(31) if sandbox.entries(RESERVE, "funds", first + n * DAY)]
    assert 20 < len(days) < 31  # quiet Sundays have no voucher and no statement
    daily = b"".join(voucher(out, RESERVE, str(day)).read_bytes() for day in days)
    assert voucher(out, RESERVE, label).read_bytes() == daily
    numbers = [line.number for line in read_gbat10(voucher(out, RESERVE, label))]
    assert sorted(set(numbers)) == [1000 + day.timetuple().tm_yday for day in days]  # the default series, 1
    month = read_camt053(statement(out, RESERVE, label))
    served = [e for day in days for e in sandbox.entries(RESERVE, "funds", day)]
    assert [(e.amount, e.psp, e.booked) for e in month.entries] == [
        (cents(e["amount"]), e["pspReference"], dt.date.fromisoformat(e["ledgerDate"])) for e in served
    ]
    assert (month.opening, month.opening_date) == (cents(served[0]["balanceBefore"]), days[0])
    assert (month.closing, month.closing_date) == (cents(served[-1]["balanceAfter"]), days[-1])
    assert month.message_id == f"{RESERVE}-{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}"
    manifest = json.loads((out / RESERVE / "funds" / f"{RESERVE}_vouchers_{label}.manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == [
        f"{RESERVE}_vouchers_{label}.csv",
        f"{RESERVE}_camt053_{label}.xml",
    ]
    period_checks = [c for c in manifest["checks"] if c["date"] == f"{first}..{last}"]
    assert {c["name"] for c in period_checks} >= {"voucher balances", "statement balances"}
    assert all(c["ok"] for c in manifest["checks"])
    assert run_cli("verify", "reports").code == 0


def test_the_same_date_always_gets_the_same_voucher_and_statement(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    args = ("run", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), *BOTH)
    assert run_cli(*args).code == 0
    files = sorted((workdir / "reports").rglob("*_vouchers_*.csv")) + sorted((workdir / "reports").rglob("*.xml"))
    before = {path: path.read_bytes() for path in files}
    assert run_cli("run", "--to", str(WEEK[3]), *BOTH).code == 0  # again, alone
    assert run_cli(*args).code == 0
    assert {path: path.read_bytes() for path in files} == before and before
    numbers = [(line.number, line.date) for path in files if path.suffix == ".csv" for line in read_gbat10(path)]
    assert len({n for n, _ in numbers}) == len(set(numbers))  # no two ledger dates share a number


def test_a_statement_that_does_not_add_up_waits_and_under_strict_the_date_gets_no_file(
    sandbox, use_sandbox, run_cli, workdir
):
    """Issue 18, point 5: such a statement is never written; without --strict the date's other files are, the run
    names it and exits 13, `status` shows it, and every later run tries it again. (Before: written, exit 0.)"""
    committed_config(workdir)
    use_sandbox(sandbox)
    day = WEEK[-1]
    sandbox.corrupt(MAIN, "funds", day, "amount")  # one amount 1.00 off its balances
    args = ("run", "--to", str(day), "--ledger", MAIN, "--topic", "funds", *BOTH, "--format", "xlsx")
    flagged = run_cli(*args)
    assert flagged.code == 13, flagged.err
    assert (
        f"waiting: ledger {MAIN} funds {day}: no camt053: the API's balances do not add up (statement balances: "
        "OPBD 0.00 to CLBD 0.00, but its entries move 1.00"
    ) in flagged.err
    out, entries = workdir / "reports", sandbox.entries(MAIN, "funds", day)
    assert not statement(out, MAIN, str(day)).exists()
    lines = read_gbat10(voucher(out, MAIN, str(day)))  # written, and still balanced
    moved = sum(line.amount for line in lines if line.account == 1940)
    assert (
        moved
        == cents(sum(e["amount"] for e in entries))
        == cents(entries[-1]["balanceAfter"] - entries[0]["balanceBefore"]) + 1
    )
    manifest = json.loads(report(out, MAIN, "funds", day, "manifest.json").read_text())
    failed = {c["name"] for c in manifest["checks"] if not c["ok"]}
    assert failed == {"balance", "sums", "voucher clearing"}
    assert {f["name"] for f in manifest["files"]} == {f"{MAIN}_vouchers_{day}.csv", f"{MAIN}_funds_{day}.xlsx"}
    status = json.loads(run_cli("status", "--json").out)
    [row] = [r for r in status["ledgers"] if (r["ledgerId"], r["topic"]) == (MAIN, "funds")]
    assert [(w["date"], w["format"]) for w in row["waiting"]] == [(str(day), "camt053")]
    again = run_cli("run", "--ledger", MAIN, "--topic", "funds", "--format", "csv", today=day + 2 * DAY)
    assert again.code == 13 and "no camt053 yet: the API's balances do not add up" in again.err
    for path in out.rglob("*.*"):
        path.unlink()
    strict = run_cli(*args, "--strict")
    assert strict.code == 5 and "does not reconcile" in strict.err and "--strict" in strict.err
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_a_period_whose_balances_do_not_chain_gets_no_statement(sandbox, use_sandbox, run_cli, workdir):
    """--combine across dates whose balances do not chain says so, writes no period statement, and fails."""
    committed_config(workdir)
    use_sandbox(sandbox)
    first, last = WEEK[-2], WEEK[-1]
    moved = [
        {**e, "balanceBefore": e["balanceBefore"] + 500, "balanceAfter": e["balanceAfter"] + 500}
        for e in sandbox.entries(MAIN, "funds", last)
    ]  # each date adds up; the second starts 5.00 higher
    sandbox.serve_entries(MAIN, "funds", last, moved)
    result = run_cli(
        "run",
        "--from",
        str(first),
        "--to",
        str(last),
        "--ledger",
        MAIN,
        "--topic",
        "funds",
        "--format",
        "camt053",
        "--combine",
    )
    assert result.code == 5, result.err
    label = f"{first}_{last}"
    assert (
        f"no {MAIN}_camt053_{label}.xml for ledger {MAIN} funds {first}..{last}: statement balances: OPBD" in result.err
    )
    assert not statement(workdir / "reports", MAIN, label).exists()
    assert (
        statement(workdir / "reports", MAIN, str(first)).exists()
        and statement(workdir / "reports", MAIN, str(last)).exists()
    )


def test_a_voucher_that_does_not_balance_is_never_written(sandbox, use_sandbox, run_cli, workdir, monkeypatch):
    """Should a bug ever unbalance a voucher, the date is refused even without --strict."""
    from jobs.formats.gbat10 import VoucherFile

    line = VoucherFile._line

    def off_by_one(self, voucher, account, vat_code, amount, text, gross, *rest):
        line(self, voucher, account, vat_code, amount + (account == 1940), text, gross, *rest)

    monkeypatch.setattr(VoucherFile, "_line", off_by_one)
    committed_config(workdir)
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--topic", "funds", *BOTH)
    assert result.code == 5
    assert "voucher balances" in result.err and "a voucher that does not balance is never written" in result.err
    assert not list((workdir / "reports").rglob("*.*"))


def without_type(chart: str, entry_type: str) -> str:
    head, rest = chart.split(f"[accounts.types.{entry_type}]\n", 1)
    return head + (rest.split("\n\n", 1) + [""])[1]


def test_an_entry_type_without_an_account_holds_back_that_voucher_only(sandbox, use_sandbox, run_cli, workdir):
    """Issue 18, point 4: the voucher waits; the date's other files and every other ledger are written; every run
    and `status` name it; the next catch-up writes it once the key is there, whatever run found it (here a period
    run before the ledger's start)."""
    chart = (ROOT / "config.toml").read_text(encoding="utf-8")
    (workdir / "config.toml").write_text(without_type(chart, "instant-payout-fee"))
    use_sandbox(sandbox)
    day = next(d for d in reversed(WEEK) if "instant-payout-fee" in by_type(sandbox.entries(MAIN, "funds", d)))
    args = ("run", "--from", str(day), "--to", str(day), *BOTH, "--format", "csv")
    result = run_cli(*args, today=day + 3 * DAY)
    assert result.code == 13, result.err
    why = (
        "funds entry type 'instant-payout-fee' has no account: add [accounts.types.instant-payout-fee] with "
        "account = <number> to config.toml (or to the client's or the ledger's table)"
    )
    assert f"waiting: ledger {MAIN} funds {day}: no gbat10: {why}" in result.err
    out = workdir / "reports"
    assert not voucher(out, MAIN, str(day)).exists()
    assert statement(out, MAIN, str(day)).exists() and report(out, MAIN, "funds", day, "csv").exists()
    assert voucher(out, RESERVE, str(day)).exists() or not sandbox.entries(RESERVE, "funds", day)
    assert voucher(out, DANISH, str(day)).exists() or not sandbox.entries(DANISH, "funds", day)
    status = run_cli("status")
    assert f"waiting: {day} gbat10 ({why})" in status.out
    catch_up = ("run", "--ledger", MAIN, "--topic", "funds", "--format", "csv")  # formats of its own, a later start
    later = run_cli(*catch_up, today=day + 4 * DAY)
    assert later.code == 13 and f"no gbat10 yet: {why}" in later.err and not voucher(out, MAIN, str(day)).exists()
    (workdir / "config.toml").write_text(chart)  # the fix: the next catch-up writes the voucher
    fixed = run_cli(*catch_up, today=day + 4 * DAY)
    assert fixed.code == 0, fixed.err
    lines = read_gbat10(voucher(out, MAIN, str(day)))
    assert [line.account for line in lines if "instant-payout-fee" in line.text] == [7770, 1940]
    manifest = json.loads(report(out, MAIN, "funds", day, "manifest.json").read_text())
    assert {f["name"] for f in manifest["files"]} == {
        f"{MAIN}_funds_{day}.csv",
        f"{MAIN}_vouchers_{day}.csv",
        f"{MAIN}_camt053_{day}.xml",
    }
    assert run_cli("verify", "reports").code == 0
    assert "; waiting:" not in run_cli("status").out


@pytest.mark.parametrize(
    ("change", "message", "code"),
    [
        (
            lambda c: c.replace("series = 1\n", "", 1),
            'no series: add series = ... to [ledgers."302321"] (or [clients."987654321"], or [accounts])',
            13,
        ),
        (lambda c: c.replace("clearing = 1940\n", ""), 'no clearing: add clearing = ... to [ledgers."302321"]', 13),
        (lambda c: c.split("[accounts]")[0], "--format gbat10 needs an [accounts] table in config.toml", 3),
    ],
)
def test_a_missing_series_or_clearing_account_waits_and_a_missing_chart_is_an_error(
    change, message, code, sandbox, use_sandbox, run_cli, workdir
):
    (workdir / "config.toml").write_text(change((ROOT / "config.toml").read_text(encoding="utf-8")))
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--format", "gbat10", "--format", "csv")
    assert result.code == code and message in result.err, result.err
    written = sorted(p.name for p in (workdir / "reports").rglob("*.csv"))
    assert written == ([] if code == 3 else [f"{MAIN}_fees_{WEEK[-1]}.csv", f"{MAIN}_funds_{WEEK[-1]}.csv"])


def test_a_ledger_in_another_currency_than_its_clients_books_gets_no_voucher(sandbox, use_sandbox, run_cli, workdir):
    """Issue 18, point 2: never mixed into the books silently; its statement still comes, and the run is fine."""
    chart = (ROOT / "config.toml").read_text(encoding="utf-8")
    (workdir / "config.toml").write_text(chart.replace('book_currency = "DKK"', 'book_currency = "NOK"'))
    use_sandbox(sandbox)
    day = next(d for d in reversed(WEEK) if sandbox.entries(DANISH, "funds", d))
    result = run_cli("run", "--to", str(day), "--ledger", DANISH, *BOTH)
    assert result.code == 0, result.err
    assert (
        f"ledger {DANISH}: no vouchers: it is in DKK, but the books of client 12345678 are in NOK (book_currency); "
        "GBAT10 has no currency column"
    ) in result.err
    assert not voucher(workdir / "reports", DANISH, str(day)).exists()
    assert read_camt053(statement(workdir / "reports", DANISH, str(day))).currency == "DKK"


def test_fees_get_no_voucher_or_statement(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    alone = run_cli("run", "--to", str(WEEK[-1]), "--topic", "fees", *BOTH)
    assert alone.code == 2 and "is written for topic funds only: add --topic funds" in alone.err
    both = run_cli("run", "--to", str(WEEK[-1]), "--ledger", MAIN, "--format", "camt053")
    assert both.code == 0, both.err
    assert "camt053: written for topic funds only; fees dates get no file this run" in both.err
    assert [p.name for p in (workdir / "reports").rglob("*.*") if p.suffix != ".json"] == [
        f"{MAIN}_camt053_{WEEK[-1]}.xml"
    ]
    later = run_cli("run", "--ledger", MAIN, "--format", "csv")  # fees were left for a run that writes them
    assert later.code == 0 and report(workdir / "reports", MAIN, "fees", WEEK[-1], "csv").exists()


def test_the_feed_writes_no_vouchers_or_statements(sandbox, use_sandbox, run_cli, workdir):
    committed_config(workdir)
    use_sandbox(sandbox)
    assert run_cli("feed", "--ledger", MERCHANT, "--topic", "funds", *BOTH).code == 2
    mixed = run_cli("feed", "--ledger", MERCHANT, "--topic", "funds", "--format", "csv", "--format", "gbat10")
    assert mixed.code == 0 and "feed: batches are written as csv only" in mixed.err
    assert {p.suffix for p in (workdir / "reports").rglob("*.*")} == {".csv", ".json"}
    assert not list((workdir / "reports").rglob("*_vouchers_*"))


AWKWARD = [
    "semi;colon",
    'quote "q"',
    "line\nbreak",
    "crlf\r\nline",
    "tab\tstop",
    "\u202eevil\u202c",
    "\u200fשלום\u200e",
    '=HYPERLINK("http://x";"y")',
    "+4712345678",
    "-42",
    "@SUM(A1)",
    "emoji 🧾💸",
    "bell\x07",
    "x" * 600,
    "  spaces  ",
    "\u2028sep",
]


def test_awkward_text_never_shifts_a_column_and_validates(sandbox, use_sandbox, run_cli, workdir):
    chart = committed_config(workdir)
    per_entry = (ROOT / "config.toml").read_text().replace('lines = "per-type"', 'lines = "per-entry"')
    (workdir / "config.toml").write_text(per_entry)
    day, balance, entries = WEEK[-2], 0, []
    for n, text in enumerate(AWKWARD):
        entries.append(
            {
                "pspReference": f"psp-{n}-" + "9" * (40 if n % 2 else 1),
                "time": f"{day}T10:{n:02d}:00Z",
                "ledgerDate": str(day),
                "entryType": "capture",
                "reference": text,
                "currency": "NOK",
                "amount": 100 + n,
                "balanceBefore": balance,
                "balanceAfter": balance + 100 + n,
                "recipientHandle": None,
            }
        )
        balance += 100 + n
    sandbox.serve_entries(MAIN, "funds", day, entries)
    sandbox.serve_entries(MAIN, "fees", day, [])  # no fees: nothing retained from these captures
    use_sandbox(sandbox)
    result = run_cli("run", "--from", str(day), "--to", str(day + DAY), "--ledger", MAIN, *BOTH, "--strict")
    assert result.code == 0, result.err
    out = workdir / "reports"
    for served in (entries, sandbox.entries(MAIN, "funds", day + DAY)):  # and the sandbox's own awkward date
        when = dt.date.fromisoformat(served[0]["ledgerDate"])
        lines = read_gbat10(voucher(out, MAIN, str(when)))  # 30 columns, each within its length
        # A pair per entry: the funds entries' on the clearing account, then the date's fees on what is owed.
        funds = [line.account for line in lines[1 : 2 * len(served) : 2]]
        assert funds == [chart["accounts"]["clearing"]] * len(served)
        assert {line.account for line in lines[2 * len(served) + 1 :: 2]} <= {chart["accounts"]["fees_payable"]}
        found = read_camt053(statement(out, MAIN, str(when)))
        for entry, got in zip(served, found.entries, strict=True):
            text = (entry["reference"] or "").replace("\x07", "\ufffd")  # XML 1.0 cannot hold a bell
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            assert got.unstructured == (f"{text[:131]}~{digest}" if len(text) > 140 else text or None)
            assert got.end_to_end is None or len(got.end_to_end) <= 35
            assert len(got.psp) <= 35 and (got.psp == entry["pspReference"]) == (len(entry["pspReference"]) <= 35)
            assert entry["pspReference"] in got.info or len(got.info) == 500
    texts = [line.text for line in read_gbat10(voucher(out, MAIN, str(day)))][0::2]
    assert texts[:6] == [
        f"Vipps MobilePay innbetalt {day:%d.%m.%Y} (1 stk) ledger {MAIN} {shown}"
        for shown in ("semi,colon", "quote 'q'", "line break", "crlf line", "tab stop", "evil")
    ]
    assert texts[7].endswith("=HYPERLINK('http://x','y')") and texts[13].endswith("…") and len(texts[13]) == 100


def test_the_payouts_two_names_share_one_mapping(sandbox, use_sandbox, run_cli, workdir):
    """A chart that names only payout-scheduled books the Danish ledger's scheduled-for-payout there too."""
    (workdir / "config.toml").write_text(without_type((ROOT / "config.toml").read_text(), "scheduled-for-payout"))
    use_sandbox(sandbox)
    day = WEEK[-1]
    assert run_cli("run", "--to", str(day), "--ledger", DANISH, "--format", "gbat10", "--strict").code == 0
    entries = sandbox.entries(DANISH, "funds", day)
    assert entries[-1]["entryType"] == "scheduled-for-payout"
    lines = [line for line in read_gbat10(voucher(workdir / "reports", DANISH, str(day))) if "utbetaling" in line.text]
    assert [(line.account, line.amount) for line in lines] == [
        (1960, cents(-entries[-1]["amount"])),  # on its way to the bank
        (1940, cents(entries[-1]["amount"])),  # from the balance
    ]


def test_an_entry_of_another_ledger_date_is_booked_by_no_guess(sandbox, use_sandbox, run_cli, workdir):
    """The documented ledgerDate rule: the date's voucher and statement wait, named; CSV shows the entry as served."""
    committed_config(workdir)
    day = WEEK[-1]
    served = sandbox.entries(MAIN, "funds", day)
    served[3] = {**served[3], "ledgerDate": str(day - DAY)}
    sandbox.serve_entries(MAIN, "funds", day, served)
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(day), "--ledger", MAIN, "--topic", "funds", *BOTH, "--format", "csv")
    assert result.code == 13, result.err
    why = f"the API sent an entry ({served[3]['pspReference']}) whose ledgerDate is {day - DAY}, on the page of {day}"
    assert f"no gbat10: {why}" in result.err and f"no camt053: {why}" in result.err
    out = workdir / "reports"
    assert not voucher(out, MAIN, str(day)).exists() and not statement(out, MAIN, str(day)).exists()
    assert str(day - DAY) in report(out, MAIN, "funds", day, "csv").read_text(encoding="utf-8")
