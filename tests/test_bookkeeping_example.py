"""One ledger date with every funds entry type, computed by hand: the GBAT10 voucher and the camt.053
statement the exporter must write for it, through the CLI against the sandbox over loopback HTTP.

The sandbox serves the twelve funds entries and three fees entries below exactly as written
(Sandbox.serve_entries). Every expected
line and entry is written out here, worked out on paper from those entries and the chart in CHART;
nothing is computed by the exporter's code, nor by code in this file.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from camt053_reader import Entry, Payment, read_camt053
from gbat10_reader import read_gbat10

LEDGER, DATE = "302321", dt.date(2026, 11, 18)  # a closed date; day 322 of 2026
NOTE = 'a;b "c"\nd'  # an awkward reference: separator, quotes, line break

# (entryType, pspReference, reference, amount, balanceBefore) in øre; balanceAfter = before + amount.
SERVED = [
    ("capture", "9001", "order-1", 49900, 25000),
    ("capture", "9002", NOTE, 125050, 74900),
    ("refund", "9003", "order-1", -10000, 199950),
    ("retained-disputed-capture", "9002", NOTE, -125050, 189950),
    ("returned-disputed-capture", "9002", NOTE, 125050, 64900),
    ("correction", "9004", "correction", -1, 189950),
    ("top-up", "9005", "Innbetaling faktura 12345", 30000, 189949),
    ("credit-note", "9006", "Kreditnota faktura 777", 2000, 219949),
    ("payout-aborted", "302321-2001000", "Vipps utbet. 2001000 Vippsnr 123455", 15000, 221949),
    ("instant-payout-fee", "9007", "", -500, 236949),
    ("fees-retained", "9008", "", -2537, 236449),
    ("payout-scheduled", "302321-2001001", None, -200000, 233912),  # Norwegian: a null reference
]  # closing balance 33912: the balance change is 8912
# The fees topic of the date: the two captures' fees, then the fees retained from the funds (balance 0 -> 0).
FEES = [
    ("capture-fee", "9001", "order-1", -1200, 0),
    ("capture-fee", "9002", NOTE, -1337, -1200),
    ("fees-retained", "9009", "", 2537, -2537),
]

CHART = """
[accounts]
book_currency = "NOK"
voucher_type = 7
text = "{type} {date:%d.%m.%Y} {ledger} ({count})"
clearing = 1940
fees_payable = 2960
[ledgers."302321"]
series = 3
[accounts.types.capture]
account = 1560
text = "Innbetalt {date} ({count} stk)"
[accounts.types.refund]
account = 1561
[accounts.fee_types.capture-fee]
account = 7770
[accounts.types.payout-scheduled]
account = 1920
[accounts.types.payout-aborted]
account = 1921
[accounts.types.top-up]
account = 1922
[accounts.types.retained-disputed-capture]
account = 1570
[accounts.types.returned-disputed-capture]
account = 1571
[accounts.types.correction]
account = 1579
[accounts.types.credit-note]
account = 7771
[accounts.types.instant-payout-fee]
account = 7772
vat_code = 5
"""

HEAD = "GBAT10;3322;20261118;7;11;2026;"  # voucher 3 x 1000 + 322, date, type 7, November 2026
VOUCHER_PER_TYPE = [  # a line pair per type, in the order the types first appear: the account, then clearing
    HEAD + "1560;0;-1749.50;;;;;;;;;;;;Innbetalt 2026-11-18 (2 stk);;;;;;T;-1749.50;;",
    HEAD + "1940;0;1749.50;;;;;;;;;;;;Innbetalt 2026-11-18 (2 stk);;;;;;T;1749.50;;",
    HEAD + "1561;0;100.00;;;;;;;;;;;;refund 18.11.2026 302321 (1);;;;;;T;100.00;;",
    HEAD + "1940;0;-100.00;;;;;;;;;;;;refund 18.11.2026 302321 (1);;;;;;T;-100.00;;",
    HEAD + "1570;0;1250.50;;;;;;;;;;;;retained-disputed-capture 18.11.2026 302321 (1);;;;;;T;1250.50;;",
    HEAD + "1940;0;-1250.50;;;;;;;;;;;;retained-disputed-capture 18.11.2026 302321 (1);;;;;;T;-1250.50;;",
    HEAD + "1571;0;-1250.50;;;;;;;;;;;;returned-disputed-capture 18.11.2026 302321 (1);;;;;;T;-1250.50;;",
    HEAD + "1940;0;1250.50;;;;;;;;;;;;returned-disputed-capture 18.11.2026 302321 (1);;;;;;T;1250.50;;",
    HEAD + "1579;0;0.01;;;;;;;;;;;;correction 18.11.2026 302321 (1);;;;;;T;0.01;;",
    HEAD + "1940;0;-0.01;;;;;;;;;;;;correction 18.11.2026 302321 (1);;;;;;T;-0.01;;",
    HEAD + "1922;0;-300.00;;;;;;;;;;;;top-up 18.11.2026 302321 (1);;;;;;T;-300.00;;",
    HEAD + "1940;0;300.00;;;;;;;;;;;;top-up 18.11.2026 302321 (1);;;;;;T;300.00;;",
    HEAD + "7771;0;-20.00;;;;;;;;;;;;credit-note 18.11.2026 302321 (1);;;;;;T;-20.00;;",
    HEAD + "1940;0;20.00;;;;;;;;;;;;credit-note 18.11.2026 302321 (1);;;;;;T;20.00;;",
    HEAD + "1921;0;-150.00;;;;;;;;;;;;payout-aborted 18.11.2026 302321 (1);;;;;;T;-150.00;;",
    HEAD + "1940;0;150.00;;;;;;;;;;;;payout-aborted 18.11.2026 302321 (1);;;;;;T;150.00;;",
    HEAD + "7772;5;5.00;;;;;;;;;;;;instant-payout-fee 18.11.2026 302321 (1);;;;;;T;5.00;;",
    HEAD + "1940;0;-5.00;;;;;;;;;;;;instant-payout-fee 18.11.2026 302321 (1);;;;;;T;-5.00;;",
    HEAD + "2960;0;25.37;;;;;;;;;;;;fees-retained 18.11.2026 302321 (1);;;;;;T;25.37;;",  # to the fees owed
    HEAD + "1940;0;-25.37;;;;;;;;;;;;fees-retained 18.11.2026 302321 (1);;;;;;T;-25.37;;",
    HEAD + "1920;0;2000.00;;;;;;;;;;;;payout-scheduled 18.11.2026 302321 (1);;;;;;T;2000.00;;",
    HEAD + "1940;0;-2000.00;;;;;;;;;;;;payout-scheduled 18.11.2026 302321 (1);;;;;;T;-2000.00;;",
    # The fees topic: the fees, on what is owed to Vipps MobilePay; its fees-retained is the funds' one above.
    HEAD + "7770;0;25.37;;;;;;;;;;;;capture-fee 18.11.2026 302321 (2);;;;;;T;25.37;;",
    HEAD + "2960;0;-25.37;;;;;;;;;;;;capture-fee 18.11.2026 302321 (2);;;;;;T;-25.37;;",
]
# Per entry: a pair per entry, the reference (else the pspReference) after the type's text, cleaned.
PER_ENTRY_TEXTS = [
    "Innbetalt 2026-11-18 (1 stk) order-1",
    "Innbetalt 2026-11-18 (1 stk) a,b 'c' d",
    "refund 18.11.2026 302321 (1) order-1",
    "retained-disputed-capture 18.11.2026 302321 (1) a,b 'c' d",
    "returned-disputed-capture 18.11.2026 302321 (1) a,b 'c' d",
    "correction 18.11.2026 302321 (1) correction",
    "top-up 18.11.2026 302321 (1) Innbetaling faktura 12345",
    "credit-note 18.11.2026 302321 (1) Kreditnota faktura 777",
    "payout-aborted 18.11.2026 302321 (1) Vipps utbet. 2001000 Vippsnr 123455",
    "instant-payout-fee 18.11.2026 302321 (1) 9007",
    "fees-retained 18.11.2026 302321 (1) 9008",
    "payout-scheduled 18.11.2026 302321 (1) 302321-2001001",
    "capture-fee 18.11.2026 302321 (1) order-1",
    "capture-fee 18.11.2026 302321 (1) a,b 'c' d",
]
PER_ENTRY_AMOUNTS = [
    "499.00",
    "1250.50",
    "-100.00",
    "-1250.50",
    "1250.50",
    "-0.01",
    "300.00",
    "20.00",
    "150.00",
    "-5.00",
    "-25.37",
    "-2000.00",
    "-12.00",
    "-13.37",
]
PER_ENTRY_ACCOUNTS = [1560, 1560, 1561, 1570, 1571, 1579, 1922, 7771, 1921, 7772, 2960, 1920, 7770, 7770]
PER_ENTRY_BALANCES = [1940] * 12 + [2960] * 2  # funds on the clearing account, fees on what is owed


def _statement_entry(n: int, amount: str, psp: str, code: str, reference: str | None) -> Entry:
    return Entry(
        D(amount),
        DATE,
        DATE,
        "BOOK",
        f"302321-20261118-{n}",
        code,
        "Vipps MobilePay",
        (Payment(psp, reference, reference, None),),
        " ".join(x for x in (code, psp, reference) if x),
        None,
    )


STATEMENT_ENTRIES = [
    _statement_entry(1, "499.00", "9001", "capture", "order-1"),
    _statement_entry(2, "1250.50", "9002", "capture", NOTE),
    _statement_entry(3, "-100.00", "9003", "refund", "order-1"),
    _statement_entry(4, "-1250.50", "9002", "retained-disputed-capture", NOTE),
    _statement_entry(5, "1250.50", "9002", "returned-disputed-capture", NOTE),
    _statement_entry(6, "-0.01", "9004", "correction", "correction"),
    _statement_entry(7, "300.00", "9005", "top-up", "Innbetaling faktura 12345"),
    _statement_entry(8, "20.00", "9006", "credit-note", "Kreditnota faktura 777"),
    _statement_entry(9, "150.00", "302321-2001000", "payout-aborted", "Vipps utbet. 2001000 Vippsnr 123455"),
    _statement_entry(10, "-5.00", "9007", "instant-payout-fee", None),
    _statement_entry(11, "-25.37", "9008", "fees-retained", None),
    _statement_entry(12, "-2000.00", "302321-2001001", "payout-scheduled", None),
]


def served_entry(n: int, kind: str, psp: str, reference: str | None, amount: int, before: int, handle: str | None):
    """An entry of the example's date as the API serves it: the n-th, stamped at 08:00 + n hours UTC."""
    return {
        "pspReference": psp,
        "time": f"2026-11-18T{8 + n:02d}:00:00.000000Z",
        "ledgerDate": "2026-11-18",
        "entryType": kind,
        "reference": reference,
        "currency": "NOK",
        "amount": amount,
        "balanceBefore": before,
        "balanceAfter": before + amount,
        "recipientHandle": handle,
    }


def serve(sandbox) -> None:
    entries = [
        served_entry(n, kind, psp, reference, amount, before, "NO:123455" if kind in ("capture", "refund") else None)
        for n, (kind, psp, reference, amount, before) in enumerate(SERVED)
    ]
    entries[-1]["time"] = "2026-11-18T23:00:00.250000Z"  # the payout, stamped as the date ends (00:00 Oslo)
    sandbox.serve_entries(LEDGER, "funds", DATE, entries)
    fees = [served_entry(n, *fee, None) for n, fee in enumerate(FEES)]
    sandbox.serve_entries(LEDGER, "fees", DATE, fees)


def export(sandbox, use_sandbox, run_cli, workdir, chart: str = CHART, *extra: str):
    (workdir / "config.toml").write_text(chart)
    serve(sandbox)
    use_sandbox(sandbox)
    result = run_cli(
        "run",
        "--to",
        str(DATE),
        "--ledger",
        LEDGER,
        "--topic",
        "funds",
        "--format",
        "gbat10",
        "--format",
        "camt053",
        "--strict",
        *extra,
    )
    assert result.code == 0, result.err
    return workdir / "reports" / LEDGER / "funds"


def test_the_voucher_of_the_hand_computed_date(sandbox, use_sandbox, run_cli, workdir):
    folder = export(sandbox, use_sandbox, run_cli, workdir)
    path = folder / f"{LEDGER}_vouchers_{DATE}.csv"
    assert path.read_bytes() == ("\r\n".join(VOUCHER_PER_TYPE) + "\r\n").encode()
    lines = read_gbat10(path)  # every column's type and length, and a voucher that balances
    assert {line.number for line in lines} == {3322}
    assert sum(line.amount for line in lines if line.account == 1940) == D("89.12")  # the balance change


def test_one_line_pair_per_entry_with_its_reference(sandbox, use_sandbox, run_cli, workdir):
    chart = CHART.replace("voucher_type = 7\n", 'voucher_type = 7\nlines = "per-entry"\n')
    folder = export(sandbox, use_sandbox, run_cli, workdir, chart)
    lines = read_gbat10(folder / f"{LEDGER}_vouchers_{DATE}.csv")
    assert [(line.account, str(line.amount), line.text) for line in lines[0::2]] == [
        (account, str(-D(amount)), text)
        for account, amount, text in zip(PER_ENTRY_ACCOUNTS, PER_ENTRY_AMOUNTS, PER_ENTRY_TEXTS, strict=True)
    ]
    assert [(line.account, str(line.amount), line.text) for line in lines[1::2]] == [
        (balance, amount, text)
        for balance, amount, text in zip(PER_ENTRY_BALANCES, PER_ENTRY_AMOUNTS, PER_ENTRY_TEXTS, strict=True)
    ]
    assert [line.vat_code for line in lines[18:20]] == [5, 0]  # the fee's VAT code; none on the clearing account
    assert {line.number for line in lines} == {3322}


def test_the_statement_of_the_hand_computed_date(sandbox, use_sandbox, run_cli, workdir):
    folder = export(sandbox, use_sandbox, run_cli, workdir)
    statement = read_camt053(folder / f"{LEDGER}_camt053_{DATE}.xml")  # valid against the official schema
    assert statement.entries == STATEMENT_ENTRIES
    assert (statement.opening, statement.opening_date) == (D("250.00"), DATE)
    assert (statement.closing, statement.closing_date) == (D("339.12"), DATE)
    assert statement.summary == {
        "entries": "12",
        "net": "89.12",
        "net side": "CRDT",
        "credits": "6",
        "credit sum": "3470.00",
        "debits": "6",
        "debit sum": "3380.88",
    }
    assert (statement.message_id, statement.statement_id) == ("302321-20261118", "302321-20261118")
    assert (statement.account, statement.currency) == ("NO7112345678903", "NOK")  # the payout account's IBAN
    assert statement.servicer == "Vipps MobilePay AS"
    assert statement.period == ("2026-11-18T00:00:00+01:00", "2026-11-18T23:59:59+01:00")
    assert statement.created == "2026-11-18T23:00:00Z"  # the last entry's time: the same bytes every run
