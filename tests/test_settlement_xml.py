"""`report-export run --format vipps-xml` against the sandbox over loopback HTTP: the Vipps settlement report
that Tripletex imports, for net and gross ledgers, a weekly settlement, what the format cannot hold, and the
queue a settlement waits in until its dates are closed.

Every file is read by the independent reader (tests/settlement_reader.py: Vipps' schema and the format's
rules); what it must hold is worked out here from the sandbox's own entries, settlement by settlement,
without the exporter's code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
import tracemalloc
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import TODAY
from receivers import Receiver
from settlement_reader import read_settlement_report, vendored
from test_errors import assert_one_line
from test_web import finish, start_export
from webpage import serve_page

from jobs.entries import Row
from jobs.errors import Unfit
from jobs.fees import FeeIndex
from jobs.formats.settlement_xml import Details, Ledger, SettlementFile
from jobs.merchants import Merchant
from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.settlement_dates import Day, find

DAY = dt.timedelta(days=1)
WEEK = (TODAY - 7 * DAY, TODAY - DAY)  # 2026-11-13 .. 2026-11-19
MAIN, RESERVE, MERCHANT, EURO, WEEKLY = "302321", "0302399", "412345", "7778881", "6001234"
PAYOUTS = ("payout-scheduled", "scheduled-for-payout")
PAYMENTS = ("capture", "refund")
HELD = {"capture", "refund", "fees-retained", *PAYOUTS}
SETTLING = {"fees-retained", "fees-invoiced"}
OSLO = ZoneInfo("Europe/Oslo")


def cents(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2).quantize(Decimal("0.01"))


def dates(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + n * DAY for n in range((last - first).days + 1)]


def paid_out(entries: list[dict]) -> bool:
    return bool(entries) and entries[-1]["entryType"] in PAYOUTS


@dataclass
class Expected:
    """A payout and what it pays out, found in the sandbox's entries date by date."""

    dates: list[dt.date]  # from its first entry's date to the payout's
    funds: list[dict]
    fees: list[dict]  # the fees topic of those dates

    @property
    def payout(self) -> dict:
        return self.funds[-1]

    @property
    def date(self) -> dt.date:
        return self.dates[-1]

    @property
    def net(self) -> bool:
        return any(e["entryType"] == "fees-retained" for e in self.funds)

    def fee(self, psp: str) -> int:
        return -sum(e["amount"] for e in self.fees if e["pspReference"] == psp and e["entryType"] not in SETTLING)

    @property
    def payments(self) -> list[dict]:
        return [e for e in self.funds if e["entryType"] in PAYMENTS]

    @property
    def unfit(self) -> set[str]:
        """What keeps it out of the format: entry types without a place (named first), else fees kept back
        for none of its payments."""
        found = {e["entryType"] for e in self.funds} - HELD
        taken = {e["pspReference"] for e in self.payments}
        loose = {e["entryType"] for e in self.fees if e["entryType"] not in SETTLING and e["pspReference"] not in taken}
        return found or (loose if self.net else set())


def expected(sandbox, ledger: str, first: dt.date, last: dt.date) -> list[Expected]:
    """The payouts on dates first..last, each with its entries back to the previous payout."""
    start = first - DAY
    while not paid_out(sandbox.entries(ledger, "funds", start)):
        start -= DAY
        assert (first - start).days < 60, "no payout found before the period"
    found, funds, days = [], [], []
    for day in dates(start + DAY, last):
        entries = sandbox.entries(ledger, "funds", day)
        if entries or days:
            days.append(day)
        funds += entries
        if paid_out(entries):
            fees = [e for d in days for e in sandbox.entries(ledger, "fees", d)]
            found.append(Expected(days, funds, fees))
            funds, days = [], []
    return [s for s in found if first <= s.date <= last]


def run_week(run_cli, ledger: str, *more: str):
    """`run --format vipps-xml` for one ledger over WEEK."""
    return run_cli(
        "run", "--from", str(WEEK[0]), "--to", str(WEEK[1]), "--ledger", ledger, "--format", "vipps-xml", *more
    )


def settlement_file(out: Path, ledger: str, first: dt.date, last: dt.date) -> Path:
    return out / ledger / "funds" / f"{ledger}_settlement_{first}_{last}.xml"


def check_report(path: Path, ledger: dict, settlements: list[Expected]) -> None:
    """The file, read independently, against the payouts it must hold."""
    report = read_settlement_report(path)
    owner, handles = ledger["owner"]["id"], ledger["settlesForRecipientHandles"]
    country = {"NO": "NOR", "FI": "FIN"}[ledger["owner"]["scheme"].split(":")[1]]
    assert report.details["OrganizationNumber"] == owner and report.details["MainAddressCountryCode"] == country
    assert report.details["SerialNumber"] == ", ".join(h.split(":")[1] for h in handles)
    assert report.details["SaleUnitName"] == "; ".join(u["name"] for u in ledger["salesUnits"])
    assert report.account == ledger["payoutBankAccount"]["id"] and report.currency == ledger["currency"]
    assert [s.date for s in report.settlements] == [s.date for s in settlements]
    for found, wanted in zip(report.settlements, settlements, strict=True):
        payout = wanted.payout
        assert found.settlement_id == payout["pspReference"].split("-")[1]
        assert found.type == ("Net" if wanted.net else "Gross")
        assert found.settled == cents(-payout["amount"])
        by_type = {kind: sum(e["amount"] for e in wanted.payments if e["entryType"] == kind) for kind in PAYMENTS}
        fees = sum(wanted.fee(e["pspReference"]) for e in wanted.payments)
        assert (found.capture, found.refund, found.fee) == (
            cents(by_type["capture"]),
            cents(by_type["refund"]),
            cents(fees),
        )
        assert [(t.transaction_id, t.order_id, t.gross, t.fee) for t in found.transactions] == [
            (e["pspReference"], e["reference"] or "", cents(e["amount"]), cents(wanted.fee(e["pspReference"])))
            for e in wanted.payments
        ]
        for t, e in zip(found.transactions, wanted.payments, strict=True):
            moment = dt.datetime.fromisoformat(e["time"])
            assert t.time == moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # the same instant
            assert t.time.utcoffset() == moment.astimezone(OSLO).utcoffset()  # told in Oslo time


def test_the_reader_holds_vipps_own_reports_to_the_rules():
    """The reader's rules are the format's: Vipps' two example reports pass them."""
    net, gross = (read_settlement_report(vendored(name)) for name in ("Example-Net.xml", "Example-Gross.xml"))
    assert [s.type for s in net.settlements] == ["Net", "Net"] and {s.type for s in gross.settlements} == {"Gross"}
    assert gross.settlements[0].settled == gross.settlements[0].gross != gross.settlements[0].net


@pytest.mark.parametrize("ledger", [RESERVE, EURO, MERCHANT])
def test_a_week_of_payouts_net_and_gross(ledger, sandbox, use_sandbox, run_cli, workdir):
    """One file per payout that the format can hold, every payment with its fee; the others named, not written."""
    use_sandbox(sandbox)
    result = run_week(run_cli, ledger, "--format", "csv")
    out, public = workdir / "reports", next(x for x in sandbox.ledgers() if x["ledgerId"] == ledger)
    wanted = expected(sandbox, ledger, *WEEK)
    fit, unfit = [s for s in wanted if not s.unfit], [s for s in wanted if s.unfit]
    assert fit and (unfit or ledger == EURO)
    assert result.code == (14 if unfit else 0), result.err
    for settlement in fit:
        check_report(settlement_file(out, ledger, settlement.dates[0], settlement.date), public, [settlement])
    for settlement in unfit:
        assert not list(out.glob(f"{ledger}/funds/*_settlement_*_{settlement.date}.xml"))
        named = [line for line in result.err.splitlines() if f"payout on {settlement.date}:" in line]
        assert named and all(kind in named[0] for kind in settlement.unfit), (settlement.unfit, named)
    assert len(list(out.rglob("*_settlement_*.xml"))) == len(fit)
    assert all((out / ledger / "funds" / f"{ledger}_funds_{day}.csv").exists() for day in dates(*WEEK))
    assert {s.net for s in fit} == {ledger != EURO}  # 7778881 is gross-settled: its fees are invoiced
    assert (
        any(
            t.refund
            for s in fit
            for t in read_settlement_report(settlement_file(out, ledger, s.dates[0], s.date))
            .settlements[0]
            .transactions
        )
        or ledger == EURO
    )
    assert run_cli("verify", "reports").code == 0
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*_settlement_*.xml")}
    assert run_week(run_cli, ledger, "--format", "csv").code == result.code  # a rerun: the same bytes
    assert digests == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*_settlement_*.xml")}


def test_a_weekly_settlement_is_written_once_all_its_dates_are_closed(make_sandbox, use_sandbox, run_cli, workdir):
    """A week of dates, paid out on Sunday's: nothing until that date closes, then one file for the week."""
    sandbox = make_sandbox(ledger_ids=[WEEKLY])
    use_sandbox(sandbox)
    (workdir / "config.toml").write_text(
        '[state]\nstart_date = "2026-11-09"\n[export]\nformats = ["csv", "vipps-xml"]\ntopics = ["funds"]\n'
    )
    monday, sunday = dt.date(2026, 11, 9), dt.date(2026, 11, 15)
    out = workdir / "reports"
    sandbox.today = dt.date(2026, 11, 12)  # Thursday: Monday to Wednesday are closed, no payout yet
    assert run_cli("run", today=sandbox.today).code == 0
    assert len(list(out.glob("*/funds/*.csv"))) == 3 and not list(out.rglob("*_settlement_*"))
    sandbox.now = dt.datetime(2026, 11, 16, 3, 0, tzinfo=OSLO)  # Monday night: Sunday, the payout's date, is open
    early = run_cli("run", "--detailed-exit-codes", today=dt.date(2026, 11, 16))
    assert early.code == 8 and f"open: ledger {WEEKLY} funds {sunday}" in early.out
    assert not list(out.rglob("*_settlement_*"))
    assert f"pending: {sunday} open" in run_cli("status").out
    sandbox.today = dt.date(2026, 11, 16)  # Monday noon: every date of the week is closed
    result = run_cli("run", today=sandbox.today)
    assert result.code == 0, result.err
    [week] = expected(sandbox, WEEKLY, monday, sunday)
    assert week.dates == dates(monday, sunday) and not week.unfit
    check_report(settlement_file(out, WEEKLY, monday, sunday), sandbox.ledgers()[0], [week])
    report = read_settlement_report(settlement_file(out, WEEKLY, monday, sunday))
    transactions = report.settlements[0].transactions
    assert {t.time.date() for t in transactions} == set(dates(monday, sunday))
    assert any(t.order_id == "" for t in transactions) and any(t.refund for t in transactions)  # Vippsnummer sales
    assert (report.date_from, report.date_to) == (monday, sunday)
    assert run_cli("verify", "reports").code == 0
    assert "vipps-xml" not in run_cli("status").out  # nothing left in the queue


def test_a_payout_waits_in_the_queue_while_a_date_before_it_is_not_served(make_sandbox, use_sandbox, run_cli, workdir):
    """The payout's own date is closed, but one of the dates it pays out is not served: it stays queued, and
    named, until a catch-up can write it, into the folder of the run that found it."""
    sandbox = make_sandbox(ledger_ids=[WEEKLY], faults=[f"404:path=/{WEEKLY}/funds/dates/2026-11-11,count=0"])
    use_sandbox(sandbox)
    sunday = dt.date(2026, 11, 15)
    args = ("--ledger", WEEKLY, "--topic", "funds", "--format", "vipps-xml", "--detailed-exit-codes")
    waiting = run_cli("run", "--from", str(sunday), "--to", str(sunday), "--out", "month-end", *args)
    assert waiting.code == 8, waiting.err
    assert (
        f"waiting: ledger {WEEKLY} funds {sunday} vipps-xml: the API does not serve funds of 2026-11-11 "
        "(404)" in waiting.out
    )
    assert not list(workdir.rglob("*_settlement_*"))
    status = json.loads(run_cli("status", "--json").out)
    [row] = [r for r in status["ledgers"] if r["ledgerId"] == WEEKLY]
    assert [(w["date"], w["format"], w["reason"]) for w in row["waiting"]] == [
        (str(sunday), "vipps-xml", "the API does not serve funds of 2026-11-11 (404)")
    ]
    assert f"waiting: {sunday} vipps-xml (the API does not serve funds of 2026-11-11 (404))" in run_cli("status").out
    again = run_cli("run", *args)  # a catch-up tries it again: still not served
    assert again.code == 8 and "waiting: " in again.out
    sandbox.faults.clear()
    result = run_cli("run", *args)
    assert result.code in (0, 9), result.err
    [week] = expected(sandbox, WEEKLY, sunday, sunday)
    check_report(settlement_file(workdir / "month-end", WEEKLY, week.dates[0], sunday), sandbox.ledgers()[0], [week])
    assert not list((workdir / "reports").rglob("*_settlement_*"))
    assert json.loads(run_cli("status", "--json").out)["ledgers"][0]["waiting"] == []


def test_what_the_format_cannot_hold_is_named_and_never_written(sandbox, use_sandbox, run_cli, workdir):
    """The main ledger carries every rarer entry type within a week: each payout is refused with its reason,
    the run exits 14, and every other file is written."""
    use_sandbox(sandbox)
    result = run_week(run_cli, MAIN, "--format", "csv", "--topic", "funds", "--topic", "fees")
    assert result.code == 14, result.err
    out = workdir / "reports"
    assert not list(out.rglob("*_settlement_*"))
    assert len(list(out.glob(f"{MAIN}/*/*.csv"))) == 14  # funds and fees, every date
    refused = {line.split("payout on ")[1][:10]: line for line in result.err.splitlines() if "not written:" in line}
    assert set(refused) == {str(day) for day in dates(*WEEK)}
    for settlement in expected(sandbox, MAIN, *WEEK):
        for kind in settlement.unfit:
            assert kind in refused[str(settlement.date)]
    assert any("retained-disputed-capture" in line for line in refused.values())  # disputes
    assert any("aborted payout" in line for line in refused.values())
    assert f"not written: ledger {MAIN} funds {WEEK[0]} vipps-xml: its settlement" in result.out  # the notes
    status = json.loads(run_cli("status", "--json").out)
    assert [w for r in status["ledgers"] for w in r["waiting"]] == []  # refused: not queued, nothing would change
    [run] = status["runs"]
    assert sorted(p["date"] for p in run["left"] if p["status"] == "refused") == [str(d) for d in dates(*WEEK)]


def scripted(
    psps: tuple[str, str], flaw: str = "", ledger: str = RESERVE, day: dt.date = WEEK[1]
) -> tuple[list[dict], list[dict]]:
    """A hand-made date: two sales of 100.00 and 50.00 (fees 2.00 and 1.00), the fees kept back, 147.00 paid out.
    Flaws: a service fee of 99.00, tied to no sale, kept back too; the second sale's fee booked on another date."""
    opening, time = 300_000_000_000, f"{day}T{{:02d}}:00:00.000000Z"

    def entry(psp, hour, kind, ref, amount, before):
        return {
            "pspReference": psp,
            "time": time.format(hour),
            "ledgerDate": str(day),
            "entryType": kind,
            "reference": ref,
            "currency": "NOK",
            "amount": amount,
            "balanceBefore": before,
            "balanceAfter": before + amount,
            "recipientHandle": "NO:654321",
        }

    service_fee = 99_00 if flaw == "service-fee" else 0
    kept = 3_00 + service_fee
    funds = [
        entry(psps[0], 9, "capture", "order-1", 100_00, opening),
        entry(psps[1], 10, "capture", "order-2", 50_00, opening + 100_00),
        entry("29911199001", 23, "fees-retained", "", -kept, opening + 150_00),
        entry(f"{ledger}-2001099", 23, "payout-scheduled", None, -150_00 + kept, opening + 150_00 - kept),
    ]
    fees = [entry(psps[0], 9, "capture-fee", "order-1", -2_00, 0)]
    if flaw != "fee-elsewhere":
        fees.append(entry(psps[1], 10, "capture-fee", "order-2", -1_00, -2_00))
    if service_fee:
        fees.append(entry("29911199003", 12, "service-fee", "Abonnement", -service_fee, -3_00))
    fees.append(entry("29911199002", 23, "fees-retained", "", kept, -kept))
    return funds, fees


@pytest.mark.parametrize(
    "psps, flaw, why",
    [
        (("29911190001", "mp-7f3a9c"), "", "pspReference 'mp-7f3a9c' of capture 'order-2' is not a number"),
        (("29911190001", "0299111900"), "", "pspReference '0299111900' of capture 'order-2' is not a number"),
        (("29911190001", "99999999999999999999"), "", "pspReference '99999999999999999999'"),
        (("29911190001", "29911190001"), "", "pspReference '29911190001' belongs to more than one payment"),
        (("29911190001", "29911190002"), "service-fee", "fees tied to none of its payments (1 service-fee 99.00)"),
        (
            ("29911190001", "29911190002"),
            "fee-elsewhere",
            "its file would not add up (settlement fees retained: settlement 2001099's fees add up to 2.00, the "
            "ledger says 3.00; settlement paid out: settlement 2001099's net amount (SettledAmount) is 148.00, the "
            "ledger says 147.00)",
        ),
    ],
)
def test_a_payout_the_format_cannot_hold_is_refused_and_named(psps, flaw, why, sandbox, use_sandbox, run_cli, workdir):
    """Hand-made dates: a pspReference that is no xs:long, or not one payment's; a fee kept back for no payment,
    or for a payment whose fee is on another date (the proofs find it). The same date without that flaw is
    written, with the amounts worked out by hand."""
    use_sandbox(sandbox)
    day = WEEK[1]
    args = ("run", "--from", str(day), "--to", str(day), "--ledger", RESERVE, "--format", "vipps-xml")
    for topic, entries in zip(("funds", "fees"), scripted(psps, flaw), strict=True):
        sandbox.serve_entries(RESERVE, topic, day, entries)
    refused = run_cli(*args)
    assert refused.code == 14 and why in refused.err, refused.err
    assert not list((workdir / "reports").rglob("*_settlement_*"))
    for topic, entries in zip(("funds", "fees"), scripted(("29911190001", "29911190002")), strict=True):
        sandbox.serve_entries(RESERVE, topic, day, entries)
    written = run_cli(*args)
    assert written.code == 0, written.err
    [settlement] = read_settlement_report(settlement_file(workdir / "reports", RESERVE, day, day)).settlements
    assert (
        settlement.settlement_id,
        settlement.type,
        settlement.capture,
        settlement.fee,
        settlement.net,
        settlement.settled,
    ) == ("2001099", "Net", Decimal("150.00"), Decimal("3.00"), Decimal("147.00"), Decimal("147.00"))
    assert [(t.transaction_id, t.order_id, t.net) for t in settlement.transactions] == [
        ("29911190001", "order-1", Decimal("98.00")),
        ("29911190002", "order-2", Decimal("49.00")),
    ]


def test_combine_writes_one_file_for_the_period(make_sandbox, use_sandbox, run_cli, workdir):
    """--combine: one file per ledger holding every payout of the period, and no file per payout."""
    sandbox = make_sandbox(ledger_ids=[WEEKLY, RESERVE])
    use_sandbox(sandbox)
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    result = run_cli("run", "--from", str(first), "--to", str(last), "--format", "vipps-xml", "--combine")
    out = workdir / "reports"
    reserve = expected(sandbox, RESERVE, first, last)
    assert any(s.unfit for s in reserve)  # a month of it holds a dispute or a correction
    assert result.code == 14 and f"no vipps-xml period file for ledger {RESERVE} {first}..{last}" in result.err
    assert not list((out / RESERVE).rglob("*_settlement_*"))  # incomplete, so none
    weeks = expected(sandbox, WEEKLY, first, last)
    assert len(weeks) == 4 and weeks[0].dates[0] < first  # the first payout pays out September's last days too
    path = settlement_file(out, WEEKLY, first, last)
    check_report(path, next(x for x in sandbox.ledgers() if x["ledgerId"] == WEEKLY), weeks)
    report = read_settlement_report(path)
    assert (report.date_from, report.date_to) == (first, last)
    assert [p.name for p in out.rglob("*_settlement_*.xml")] == [path.name]


def test_a_settlement_left_by_a_failed_run_is_written_by_the_next(sandbox, use_sandbox, run_cli, workdir):
    """The payout is queued in the same commit as its date: a run that fails before it writes the settlement
    leaves it for the next catch-up."""
    use_sandbox(sandbox)
    (workdir / "config.toml").write_text("[retry]\nmax_attempts = 2\n")
    day = WEEK[1]
    sandbox.add_fault("500:path=/fees/dates/,count=0")  # only the settlement reads the fees topic
    args = ("--ledger", EURO, "--topic", "funds", "--format", "vipps-xml", "--format", "csv")
    failed = run_cli("run", "--from", str(day), "--to", str(day), *args)
    assert failed.code == 5 and (workdir / "reports" / EURO / "funds" / f"{EURO}_funds_{day}.csv").exists()
    assert not list((workdir / "reports").rglob("*_settlement_*"))
    sandbox.faults.clear()
    result = run_cli("run", *args)
    assert result.code in (0, 9), result.err
    [settlement] = expected(sandbox, EURO, day, day)
    check_report(settlement_file(workdir / "reports", EURO, day, day), sandbox.ledgers()[-1], [settlement])


def test_the_merchants_name_and_address_come_from_config(sandbox, use_sandbox, run_cli, workdir):
    """The API names the owner by number only: [merchants] fills in the rest, by that number."""
    use_sandbox(sandbox)
    config = workdir / "config.toml"
    config.write_text('[merchants."912345678"]\nname = "Reserve Reiser AS"\naddress = "Storgata 1"\ncity = "Oslo"\n')
    day = WEEK[0]
    assert run_cli("run", "--from", str(day), "--to", str(day), "--ledger", RESERVE, "--format", "vipps-xml").code == 0
    details = read_settlement_report(settlement_file(workdir / "reports", RESERVE, day, day)).details
    assert details == {
        "SaleUnitName": "Reserve Reiser AS",
        "SerialNumber": "654321",
        "OrganizationName": "Reserve Reiser AS",
        "OrganizationNumber": "912345678",
        "MainAddress": "Storgata 1",
        "MainAddressZipCode": "",
        "MainAddressCity": "Oslo",
        "MainAddressCountryCode": "NOR",
    }
    config.write_text('[merchants."912345678"]\nstreet = "Storgata 1"\n')
    assert_one_line(run_cli("check"), 3, '[merchants."912345678"] street in config.toml is not a setting')


def test_vipps_xml_is_for_topic_funds_and_not_for_the_feed(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    assert_one_line(run_cli("run", "--topic", "fees", "--format", "vipps-xml"), 2, "written for topic funds only")
    fed = run_cli("feed", "--ledger", EURO, "--topic", "funds", "--format", "vipps-xml", "--format", "csv")
    assert fed.code == 0 and "feed: batches are written as csv only" in fed.err
    assert not list((workdir / "reports").rglob("*_settlement_*"))


def test_a_payout_not_written_is_told_with_its_reason(sandbox, use_sandbox, run_cli, workdir, monkeypatch):
    """The run's notice names the payout and why: the accountant must book it another way."""
    receiver = Receiver("/hooks/settlements").start()
    try:
        monkeypatch.setenv("NOTIFY_WEBHOOK_URL", receiver.url)
        (workdir / "config.toml").write_text('[notify]\ninstallation = "acct-test"\n')
        use_sandbox(sandbox)
        day = dt.date(2026, 11, 18)  # 0302399 that day: a capture disputed and returned
        result = run_cli("run", "--from", str(day), "--to", str(day), "--ledger", RESERVE, "--format", "vipps-xml")
        assert result.code == 14, result.err
        [post] = receiver.posts
    finally:
        receiver.stop()
    assert (post.body["event"], post.body["run"]["exitCode"]) == ("failed", 14)
    [failed] = post.body["failedDates"]
    assert (failed["ledgerId"], failed["topic"], failed["date"]) == (RESERVE, "funds", str(day))
    assert failed["reason"].startswith("vipps-xml: its settlement") and "retained-disputed-capture" in failed["reason"]
    assert f"ledger {RESERVE} funds {day}: vipps-xml: its settlement" in post.body["text"]


def test_the_page_offers_the_settlement_report_and_leaves_the_catch_ups_queue_alone(sandbox, fake_time, workdir):
    """A page export writes the settlements into its own folder and names on its run page the payouts it could
    not write; the nightly catch-up's queue (the state's table of files that wait) stays as it was."""
    sandbox.grant(WEEKLY)
    sandbox.add_fault(f"404:path=/{WEEKLY}/funds/dates/2026-11-11,count=0")
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        with page.signed_in() as client:
            assert 'value="vipps-xml"' in client.get("/export").text
            period = ("2026-11-13", "2026-11-15")
            started = start_export(
                client, ledgers=(EURO, WEEKLY), topics=("funds",), formats=("vipps-xml",), period=period
            )
            progress = finish(client, started.headers["location"])
            assert progress["status"] == "finished", progress
            listing = client.get(progress["runUrl"]).text
            links = dict((name, n) for n, name in re.findall(r'href="/runs/\d+/files/(\d+)">([^<]+)<', listing))
            assert sorted(Path(name).name for name in links) == [
                f"{EURO}_settlement_2026-11-{d}_2026-11-{d}.{suffix}"
                for d in (13, 14, 15)
                for suffix in ("manifest.json", "xml")
            ]
            [waits] = [item for item in re.findall(r"<li>(.*?)</li>", listing, re.S) if WEEKLY in item]
            assert "15/11/2026: The settlement report of the payout of this date waits for a date it pays out" in waits
            assert "Settlement reports (Vipps XML)" in listing  # its own download, beside the others'
            assert "vipps-xml" not in re.sub(r"<[^>]+>", " ", listing)  # the format's name is for IT
            name = next(name for name in links if name.endswith(".xml"))
            answer = client.get(f"/runs/{progress['runId']}/files/{links[name]}")
            assert answer.content == (page.run_folder(progress["runId"]) / name).read_bytes()
        with sqlite3.connect(page.state_path) as db:
            assert db.execute("SELECT count(*) FROM waiting").fetchone() == (0,)


# -- the parts: where a settlement begins, and a writer whose memory does not grow ------------------------


def days(spec: dict[int, tuple[int, dict[str, int], bool]], default=(0, {}, False)):
    """A day function for find(): day number (from 2026-11-01) -> (entries, sums, ends in a payout)."""
    return lambda date: Day(*spec.get((date - dt.date(2026, 11, 1)).days, default))


SALE, PAY = {"capture": 100_00, "fees-retained": -2_00}, {"capture": 50_00, "payout-scheduled": -148_00}


def test_a_settlement_begins_after_the_previous_payout_and_its_first_entry():
    week = days({7: (3, {"payout-scheduled": -1}, True), 9: (2, SALE, False), 12: (2, SALE, False), 14: (2, PAY, True)})
    found = find(RESERVE, dt.date(2026, 11, 15), week)  # 11-09, -11, -12, -14 quiet: only 11-09 before the first sale
    assert found.dates == tuple(dates(dt.date(2026, 11, 10), dt.date(2026, 11, 15)))
    assert found.sums == {"capture": 250_00, "fees-retained": -4_00, "payout-scheduled": -148_00}


def test_a_month_without_entries_ends_the_walk_back_and_a_longer_settlement_is_refused():
    quiet = days({40: (2, PAY, True), 30: (2, SALE, False)})  # day 30, then 9 quiet days; nothing before it
    assert find(RESERVE, dt.date(2026, 12, 11), quiet).dates[0] == dt.date(2026, 12, 1)
    busy = days({400: (2, PAY, True)}, default=(1, SALE, False))
    with pytest.raises(Unfit, match="no payout in the 400 dates before it"):
        find(RESERVE, dt.date(2026, 11, 1) + 400 * DAY, busy)


def test_entries_the_format_has_no_place_for_refuse_the_settlement_before_anything_is_fetched():
    disputed = days({6: (1, PAY, True), 5: (3, {**SALE, "retained-disputed-capture": -30_00}, False)})
    with pytest.raises(Unfit, match=r"holds retained-disputed-capture -30\.00, which the format has no place for"):
        find(RESERVE, dt.date(2026, 11, 7), disputed)
    aborted = days({6: (1, {**PAY, "payout-aborted": 99_00}, True), 5: (1, PAY, True)})
    with pytest.raises(Unfit, match="the money of an aborted payout comes back with this one"):
        find(RESERVE, dt.date(2026, 11, 7), aborted)


def test_the_writer_and_the_fee_join_keep_their_memory_flat(tmp_path):
    """No document tree and no map of fees in Python: a settlement of any size streams through."""
    details = Details("Kafé", "123455", "987654321", "NOR", "12345678903", "NOK", Merchant())

    def peak(count: int) -> int:
        rows = [
            Row(
                "0302399",
                WEEK[0],
                "2026-11-13T10:00:00.000000Z",
                "capture",
                f"{7_000_000 + n}",
                f"order-{n}",
                "",
                "NOK",
                Decimal("499.00"),
                Decimal(0),
                Decimal(0),
            )
            for n in range(count)
        ]
        fee_rows = [row._replace(entryType="capture-fee", amount=Decimal("-9.23")) for row in rows]
        del rows[:]  # made again page by page below: only the writer and the join may hold anything
        tracemalloc.start()
        try:
            with FeeIndex() as fees, SettlementFile(tmp_path / f"{count}.xml", 0o600, details, *WEEK) as file:
                for start in range(0, count, 1000):
                    fees.add(fee_rows[start : start + 1000])
                file.begin(WEEK[1], net=True)
                for start in range(0, count, 1000):
                    page = [
                        r._replace(entryType="capture", amount=Decimal("499.00"))
                        for r in fee_rows[start : start + 1000]
                    ]
                    found = fees.fees([r.pspReference for r in page])
                    for r in page:
                        file.add(r, found[r.pspReference])
                file.end(2001099, count * 48977)
                file.commit()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 12,000 payments make 6 MB of XML and 12,000 fees: held in Python, they would show many times over.
    small, large = peak(1_000), peak(12_000)
    assert large < small + 256 * 1024, (small, large)
    assert len(read_settlement_report(tmp_path / "12000.xml").settlements[0].transactions) == 12_000


def test_a_proof_that_fails_names_counts_as_counts_and_amounts_as_money(tmp_path):
    details = Details("Kafé", "123455", "987654321", "NOR", "12345678903", "NOK", Merchant())
    with SettlementFile(tmp_path / "one.xml", 0o600, details, *WEEK) as file:
        file.begin(WEEK[1], net=False)
        file.add(
            Row(
                "0302399",
                WEEK[1],
                "2026-11-19T10:00:00.000000Z",
                "capture",
                "7000001",
                "order-1",
                "",
                "NOK",
                Decimal("499.00"),
                Decimal(0),
                Decimal("499.00"),
            ),
            0,
        )
        file.end(2001099, 49900)
        checks = {check.name: check.detail for check in file.proofs(Ledger(2, 99800, 0, 0, 0, 99800)) if not check.ok}

    assert checks == {
        "settlement payments": "settlement 2001099's payments number 1, the ledger says 2",
        "settlement captures": "settlement 2001099's captures add up to 499.00, the ledger says 998.00",
        "settlement paid out": "settlement 2001099's gross amount (SettledAmount) is 499.00, the ledger says 998.00",
    }
