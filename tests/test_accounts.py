"""config.toml's [accounts] table: every wrong setting is one line naming its key and the fix (exit 3),
and the committed example is a complete chart."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from test_errors import assert_one_line

from jobs import config
from jobs.accounts import parse
from jobs.chart_of_accounts import Vat, charts_for

ROOT = Path(__file__).parent.parent


# Shared with tests/test_config_check.py, which runs `check` and `run` over them.
WRONG_CHARTS = [
    (
        '[accounts]\nvoucher_type = "50"\n',
        "[accounts] voucher_type in config.toml is '50': it must be a whole number from 1 to 999",
    ),
    ("[accounts]\nvoucher_typ = 50\n", "[accounts] voucher_typ in config.toml is not a setting this version"),
    (
        '[accounts]\nlines = "per-line"\n',
        '[accounts] lines in config.toml is \'per-line\': it must be one of "per-type", "per-entry"',
    ),
    (
        '[accounts]\nmodel = "net"\n',
        '[accounts] model in config.toml is \'net\': it must be one of "sales-elsewhere", "sales"',
    ),
    (
        '[accounts]\nbook_currency = "kr"\n',
        "[accounts] book_currency in config.toml is 'kr': it must be a currency code, e.g. \"NOK\"",
    ),
    ("[accounts]\nseries = 100\n", "[accounts] series in config.toml is 100: it must be a whole number from 0 to 99"),
    (
        '[clients."9"]\ncutoff_hour = 24\n',
        '[clients."9"] cutoff_hour in config.toml is 24: it must be a whole number from 0 to 23',
    ),
    (
        '[accounts.types.capture]\naccount = "3000"\n',
        "[accounts.types.capture] account in config.toml is '3000': it must be a whole number from 1 to 9999999",
    ),
    (
        "[accounts.types.capture]\nacount = 3000\n",
        "[accounts.types.capture] acount in config.toml is not a setting this version reads",
    ),
    (
        '[accounts.types.capture]\naccount = 3000\ntext = "{dato}"\n',
        "[accounts.types.capture] text in config.toml is '{dato}': it must be text whose placeholders are {date}",
    ),
    (
        '[ledgers."1".fee_types.capture-fee]\naccount = 7770\ncustomer = "x"\n',
        "[ledgers.\"1\"] fee_types.capture-fee customer in config.toml is 'x': it must be a whole number",
    ),
    (
        "[accounts.vat.3]\nrate = 125\naccount = 2700\n",
        "[accounts.vat.3] rate in config.toml is 125: it must be a percentage",
    ),
    ("[accounts.vat.3]\nrate = 25\n", "[accounts.vat.3] in config.toml needs rate = <percent> and account"),
    (
        "[accounts.types.fees-retained]\naccount = 7770\n",
        "[accounts] types.fees-retained in config.toml: fees retained move money from the funds balance",
    ),
    ("[accounts.clearing]\nNOK = 1940\n", "[accounts] clearing in config.toml: clearing is one account now"),
    (
        '[accounts.series]\n"302321" = 1\n',
        "[accounts] series in config.toml: series is the default series now: "
        'series = 1; a ledger gets its own in [ledgers."<id>"]',
    ),
    ("[accounts.types]\ncapture = 3000\n", "[accounts.types.capture] in config.toml must be a table"),
    ("[clients]\nx = 1\n", '[clients."x"] in config.toml must be a table'),
]


@pytest.mark.parametrize(("toml", "message"), WRONG_CHARTS)
def test_a_wrong_setting_of_a_chart_is_one_line_naming_its_key(toml, message, run_cli, workdir):
    (workdir / "config.toml").write_text(toml)
    assert_one_line(run_cli("run"), 3, message)


def test_the_committed_example_is_read_as_written():
    """What config.toml says is what each ledger's chart holds (that it fits the sandbox: test_bookkeeping_runs.py):
    a client's table over [accounts], a ledger's over its client's, type tables merged key by key."""
    charts = config.load(ROOT / "config.toml", environ={}).charts
    written = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    default, shop = written["accounts"], written["clients"]["923456789"]
    chart = charts.chart("412345", "923456789")
    assert not chart.gap and chart.model == "sales" and chart.book_currency == default["book_currency"]
    assert {name: (p.account, p.vat_code) for name, p in chart.types.items()} == {
        name: (table["account"], table.get("vat_code", default["vat_code"]))
        for name, table in {**default["types"], **shop["types"]}.items()
    }
    assert {name: p.account for name, p in chart.fee_types.items()} == {
        name: table["account"] for name, table in default["fee_types"].items()
    }
    assert (chart.clearing, chart.fees_payable, chart.series, chart.voucher_type) == (
        default["clearing"],
        default["fees_payable"],
        default["series"],
        default["voucher_type"],
    )
    assert charts.chart("5551234", "12345678").cutoff_hour == written["ledgers"]["5551234"]["cutoff_hour"]
    assert charts.chart("5551234", "12345678").book_currency == "DKK"
    assert charts.chart("1", "a new client").model == "sales-elsewhere"  # a new ledger takes the default


def test_two_ledgers_of_one_client_never_share_a_voucher_series():
    """The ledger seen first keeps the default series; the other waits for its own, and gets it from [ledgers]."""
    toml = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    first, second = charts_for(parse(toml), [("302321", "987654321"), ("9000001", "987654321")]).values()
    assert not first.gap and first.series == 1
    assert second.gap == (
        "ledger 302321 of the same client already has voucher series 1: give this one its own, "
        'add series = <number> to [ledgers."9000001"] in config.toml'
    )
    toml["ledgers"]["9000001"] = {"series": 2}
    assert [c.gap for c in charts_for(parse(toml), [("302321", "987654321"), ("9000001", "987654321")]).values()] == [
        "",
        "",
    ]
    other_client = charts_for(parse(toml), [("302321", "987654321"), ("9000002", "111111111")])
    assert other_client["9000002"].series == 1 and not other_client["9000002"].gap  # its own books, its own numbers


def test_what_a_merged_chart_lacks_is_its_gap_not_an_error():
    charts = parse(
        {
            "accounts": {"clearing": 1940, "fees_payable": 2960, "series": 1},
            "clients": {"9": {"model": "sales", "types": {"capture": {"account": 3000, "vat_code": 3}}}},
        }
    )
    assert charts.chart("1", "8").gap.startswith(
        'no book currency: add book_currency = ... to [ledgers."1"] (or [clients."8"], or [accounts])'
    )
    charts = parse(
        {
            "accounts": {"book_currency": "NOK", "clearing": 1940, "fees_payable": 2960, "series": 1},
            "clients": {"9": {"model": "sales", "types": {"capture": {"account": 3000, "vat_code": 3}}}},
        }
    )
    assert 'model "sales" needs the rate of capture\'s VAT code 3' in charts.chart("1", "9").gap
    sale = charts.chart("1", "8")
    assert not sale.gap and sale.model == "sales-elsewhere"


def test_vat_is_taken_out_of_the_gross_half_away_from_zero():
    vat = Vat(Decimal(25), 2700)
    assert (vat.of(3736331), vat.of(-3736331), vat.of(0), vat.of(1), vat.of(2)) == (747266, -747266, 0, 0, 0)
    assert Vat(Decimal("25.5"), 2700).of(12550) == 2550 and Vat(Decimal(15), 2701).of(115) == 15


def test_without_a_chart_there_is_none_and_the_default_formats_stay(tmp_path):
    (tmp_path / "config.toml").write_text('[export]\nout = "x"\n')
    settings = config.load(tmp_path / "config.toml", environ={})
    assert not settings.charts.any and settings.formats == ("csv", "xlsx")
