"""The GBAT10 and camt.053 writers on their own: atomic like every report, flat memory, the documented
text rules, and read back by the independent readers (tests/gbat10_reader.py, tests/camt053_reader.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import tracemalloc
import unicodedata
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from camt053_reader import read_camt053
from gbat10_reader import read_gbat10

from jobs.accounts import parse
from jobs.entries import Row
from jobs.formats.gbat10 import voucher_text
from jobs.formats.open import BOOKKEEPING, open_report

OSLO = ZoneInfo("Europe/Oslo")


def chart(table: dict):
    """A ledger's chart from an [accounts] table, as config.toml would give it."""
    found = parse({"accounts": table}).chart("00123", "")
    assert not found.gap, found.gap
    return found


ACCOUNTS = chart(
    {
        "book_currency": "NOK",
        "voucher_type": 12,
        "clearing": 1940,
        "fees_payable": 2960,
        "series": 4,
        "types": {"capture": {"account": 3000}, "refund": {"account": 3000}, "payout-scheduled": {"account": 1920}},
    }
)
SUFFIX = {"gbat10": "csv", "camt053": "xml"}


def row(
    number: int = 0,
    reference: str = "order-1",
    amount: str = "499.00",
    before: str = "0.00",
    entry_type: str = "capture",
    psp: str | None = None,
    day: int = 2,
) -> Row:
    return Row(
        ledgerId="00123",
        ledgerDate=dt.date(2024, 1, day),
        time="2024-01-02T10:00:00.123456Z",
        entryType=entry_type,
        pspReference=psp if psp is not None else f"{number:010d}",
        reference=reference,
        recipientHandle="",
        currency="NOK",
        amount=Decimal(amount),
        balanceBefore=Decimal(before),
        balanceAfter=Decimal(before) + Decimal(amount),
    )


def chained(count: int, day: int = 2) -> list[Row]:
    return list(stream(count, day))


def stream(count: int, day: int = 2):
    """Rows whose balances chain, made one at a time."""
    balance = Decimal("0.00")
    for number in range(count):
        amount = Decimal("-12.34") if number % 3 == 2 else Decimal("100.05")
        yield row(number, f"order-{number}", str(amount), str(balance), "refund" if amount < 0 else "capture", day=day)
        balance += amount


def open_bookkeeping(fmt: str, path: Path, **options):
    return open_report(fmt, path, chart=ACCOUNTS, timezone=OSLO, **options)


def write(fmt: str, path: Path, rows, **options) -> Path:
    with open_report(fmt, path, **{"chart": ACCOUNTS, "timezone": OSLO, **options}) as report:
        report.write(rows)
        report.commit()
    return path


def read(fmt: str, path: Path):
    return read_gbat10(path) if fmt == "gbat10" else read_camt053(path)


@pytest.mark.parametrize("fmt", BOOKKEEPING)
def test_a_failure_mid_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"book.{SUFFIX[fmt]}"
    path.write_bytes(b"previous")

    def failing():
        yield row()
        raise RuntimeError("API page failed")

    with pytest.raises(RuntimeError, match="API page failed"), open_bookkeeping(fmt, path) as report:
        report.write(failing())
        report.commit()

    assert path.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fmt", BOOKKEEPING)
@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_commit_replaces_the_file_with_the_mode_asked_for(tmp_path: Path, fmt: str, mode: int) -> None:
    path = tmp_path / f"book.{SUFFIX[fmt]}"
    path.write_bytes(b"previous")
    with open_bookkeeping(fmt, path, mode=mode) as report:
        report.write(chained(5))
        assert report.commit() == 5
        report.abort()  # harmless once committed

    assert path.stat().st_mode & 0o777 == mode
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and report.size == path.stat().st_size
    if fmt == "gbat10":
        assert len(read_gbat10(path)) == 2 * 2  # a line pair per entry type
    else:
        assert len(read_camt053(path).entries) == 5
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fmt", BOOKKEEPING)
def test_a_large_file_goes_on_in_its_temp_file_and_ends_the_same(tmp_path: Path, fmt: str, monkeypatch) -> None:
    """The statement's head is written back into its room at the end, on disk as in memory."""
    rows = chained(400)
    per_entry = chart({**_table(), "lines": "per-entry"})  # lines as the rows come, not at the end
    small = write(fmt, tmp_path / "small" / f"book.{SUFFIX[fmt]}", rows, chart=per_entry)
    monkeypatch.setattr("jobs.formats.spill.IN_MEMORY", 4096)
    path = tmp_path / f"book.{SUFFIX[fmt]}"
    with open_report(fmt, path, chart=per_entry, timezone=OSLO) as report:
        report.write(rows[:200])
        [temp] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert temp.stat().st_size > 4096
        report.write(rows[200:])
        report.commit()

    assert path.read_bytes() == small.read_bytes()
    read(fmt, path)


@pytest.mark.parametrize("fmt", BOOKKEEPING)
def test_memory_stays_flat_however_many_entries(tmp_path: Path, fmt: str) -> None:
    """No document tree, no list of lines: a month of a large ledger streams through."""
    many = chart({**_table(), "lines": "per-entry"}) if fmt == "gbat10" else None

    def peak(count: int) -> int:
        rows = (r for day in (2, 3) for r in stream(count // 2, day))
        tracemalloc.start()
        try:
            with open_report(fmt, tmp_path / f"{count}.{SUFFIX[fmt]}", chart=many, timezone=OSLO) as report:
                for start in range(0, count, 1000):
                    report.write(next(rows) for _ in range(min(1000, count - start)))
                report.commit()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 12,000 entries make 2-7 MB of lines or XML: held in memory, they would show many times over.
    small, large = peak(1_000), peak(12_000)
    assert large < small + 256 * 1024, (small, large)


def _table() -> dict:
    return {
        "book_currency": "NOK",
        "voucher_type": 12,
        "clearing": 1940,
        "fees_payable": 2960,
        "series": 4,
        "types": {"capture": {"account": 3000}, "refund": {"account": 3000}},
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a;b", "a,b"),
        ('say "hi"', "say 'hi'"),
        ("line\nbreak\r\nand\rmore\ttab", "line break and more tab"),
        ("  spaced   out  ", "spaced out"),
        ("\u202eevil\u202c \u200fשלום\u200e", "evil שלום"),
        ("para\u2028graph\u2029end\x85", "para graph end"),
        ("bell\x07 nul\x00", "bell nul"),
        ('=HYPERLINK("http://x";"y")', "'=HYPERLINK('http://x','y')"),
        ("+4712345678", "'+4712345678"),
        ("-42", "'-42"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("æøå 🧾", "æøå 🧾"),
        ("x" * 100, "x" * 100),
        ("x" * 101, "x" * 99 + "…"),
        ("🧾" * 50, "🧾" * 50),  # 100 UTF-16 units: fits
        ("a" + "🧾" * 50, "a" + "🧾" * 49 + "…"),  # 1 + 98 = 99 units, then the ellipsis: 100; no emoji split
        ("ab" + "🧾" * 50, "ab" + "🧾" * 48 + "…"),  # 2 + 96 = 98: a 99th unit would split an emoji
        ("word " * 30, ("word " * 20).strip() + "…"),  # cut at 99 units, the space before the cut dropped
    ],
)
def test_the_voucher_text_rule(tmp_path: Path, text: str, shown: str) -> None:
    """Through a real file, read back by the independent reader: per entry, the reference ends the text."""
    accounts = chart({**_table(), "lines": "per-entry", "text": "{reference}"})
    path = tmp_path / "v.csv"
    with open_report("gbat10", path, chart=accounts) as report:
        report.write([row(reference=text)])
        report.commit()

    lines = read_gbat10(path)
    assert [line.text for line in lines] == [shown, shown]
    assert [(line.account, line.amount) for line in lines] == [(3000, Decimal("-499.00")), (1940, Decimal("499.00"))]


@pytest.mark.parametrize(
    ("value", "limit", "kept"),
    [
        ("x" * 35, 35, "x" * 35),
        ("x" * 36, 35, "x" * 26 + "~" + hashlib.sha256(b"x" * 36).hexdigest()[:8]),
        ("ø" * 40, 35, "ø" * 26 + "~" + hashlib.sha256("ø".encode() * 40).hexdigest()[:8]),
    ],
)
def test_the_statement_shortening_rule(tmp_path: Path, value: str, limit: int, kept: str) -> None:
    path = write("camt053", tmp_path / "s.xml", [row(psp=value, reference=value)])
    [entry] = read_camt053(path).entries
    assert entry.psp == kept and entry.end_to_end == kept  # ids: 35 characters at most
    assert entry.unstructured == value  # in full, where the schema has room
    assert value in entry.info


def test_the_statement_replaces_only_what_xml_cannot_hold(tmp_path: Path) -> None:
    awkward = ["bell\x07", "cr\r", "crlf\r\nline", "tab\there", "  spaces  ", "<&>]]>", "\u202eevil", "🧾"]
    rows = [row(n, text, psp=f"p{n}") for n, text in enumerate(awkward)]
    [*entries] = read_camt053(write("camt053", tmp_path / "s.xml", rows)).entries
    assert [e.end_to_end for e in entries] == ["bell\ufffd", *awkward[1:]]
    assert [e.unstructured for e in entries] == ["bell\ufffd", *awkward[1:]]


def test_a_date_without_rows_gives_no_statement_head(tmp_path: Path) -> None:
    """Nothing is committed for it (jobs.output leaves such files out); the writers say so themselves."""
    for fmt in BOOKKEEPING:
        with open_bookkeeping(fmt, tmp_path / f"empty.{SUFFIX[fmt]}") as report:
            assert not report.has_entries
    assert list(tmp_path.iterdir()) == []


def documented_voucher_text(text: str) -> str:
    """The README's text rule, written again here from its description, for texts within 100 characters."""
    spaced = "".join(" " if unicodedata.category(c) == "Cc" or c in "\u2028\u2029" else c for c in text)
    plain = spaced.replace(";", ",").replace('"', "'")
    plain = "".join(
        c for c in plain if c not in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    )
    plain = " ".join(plain.split())
    return "'" + plain if plain[:1] in ("=", "+", "-", "@") else plain


def test_the_text_rule_on_random_awkward_strings() -> None:
    """The writer's shortcut for texts that need nothing must agree with the rule on every text."""
    alphabet = list('ab ;"\t\n\r\x07\x85\u00a0\u3000\u2028\u2029\u202e\u200f=+-@🧾æ')
    rng = random.Random(11)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert voucher_text(text) == documented_voucher_text(text), repr(text)


def test_a_zero_balance_is_a_credit(tmp_path: Path) -> None:
    """A balance, an entry and a net of zero are CRDT, as banks write them; only a negative one is DBIT."""
    path = write("camt053", tmp_path / "s.xml", [row(0, "a", "0.00"), row(1, "b", "-5.00", "0.00")])
    found = read_camt053(path)
    text = path.read_text()
    assert (found.opening, found.closing) == (Decimal("0.00"), Decimal("-5.00"))
    assert '<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="NOK">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>' in text
    assert '<Amt Ccy="NOK">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>' in text
    assert '<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="NOK">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>' in text


@pytest.mark.parametrize(("iban", "account"), [("NO9386011117947", "NO9386011117947"), (None, "00123")])
def test_the_account_is_the_payout_iban_or_else_the_ledger_and_its_servicer_is_named(tmp_path: Path, iban, account):
    danish = chart({**_table(), "cutoff_hour": 4})
    with open_report(
        "camt053", tmp_path / "s.xml", chart=danish, iban=iban, timezone=ZoneInfo("Europe/Copenhagen")
    ) as report:
        report.write(chained(3) + chained(2, day=3))
        report.commit()
    found = read_camt053(tmp_path / "s.xml")  # every reader takes it: ofxstatement-iso20022 given its iban setting
    assert (found.account, found.iban, found.servicer) == (account, iban, "Vipps MobilePay AS")
    assert found.period == ("2024-01-02T04:00:00+01:00", "2024-01-04T03:59:59+01:00")  # a 04:00-04:00 ledger
    assert [e.servicer_ref for e in found.entries] == [
        f"00123-2024010{d}-{n}" for d, n in ((2, 1), (2, 2), (2, 3), (3, 1), (3, 2))
    ]


def test_a_per_type_statement_batches_each_type_and_direction_per_date(tmp_path: Path) -> None:
    """One statement entry per type, direction and date, its payments inside with their own amounts: the same
    groups as a per-type voucher's clearing lines."""
    batched = chart(
        {**_table(), "statement": "per-type", "types": {**_table()["types"], "correction": {"account": 1579}}}
    )
    rows, balance = [], Decimal("0.00")
    for n, (kind, amount, day) in enumerate(
        [
            ("capture", "100.00", 2),
            ("correction", "-0.01", 2),
            ("capture", "50.50", 2),
            ("correction", "0.01", 2),
            ("correction", "0.00", 2),
            ("capture", "7.00", 3),
        ]
    ):
        rows.append(row(n, f"order-{n}", amount, str(balance), kind, day=day))
        balance += Decimal(amount)
    path = write("camt053", tmp_path / "s.xml", rows, chart=batched)
    voucher = write("gbat10", tmp_path / "v.csv", rows, chart=batched)
    found = read_camt053(path)
    assert [(e.code, e.amount, e.booked.day, e.batch[0]) for e in found.entries] == [
        ("capture", Decimal("150.50"), 2, 2),
        ("correction", Decimal("-0.01"), 2, 1),
        ("correction", Decimal("0.01"), 2, 2),
        ("capture", Decimal("7.00"), 3, 1),
    ]
    assert [[(p.psp, p.amount) for p in e.payments] for e in found.entries][:3] == [
        [("0000000000", Decimal("100.00")), ("0000000002", Decimal("50.50"))],
        [("0000000001", Decimal("-0.01"))],
        [("0000000003", Decimal("0.01")), ("0000000004", Decimal("0.00"))],
    ]
    clearing = [(line.date.day, line.amount) for line in read_gbat10(voucher) if line.account == 1940]
    assert clearing == [(e.booked.day, e.amount) for e in found.entries]  # one to one
