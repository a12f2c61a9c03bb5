"""config.toml's [accounts] table: every wrong setting is one line naming its key and the fix (exit 3),
and the committed example is a complete chart."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_errors import assert_one_line

from jobs import config

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[accounts]\nvoucher_type = "50"\n', "[accounts] voucher_type in config.toml is '50': it must be a whole "
                                              "number from 1 to 999"),
        ("[accounts]\nvoucher_typ = 50\n", "[accounts] voucher_typ in config.toml is not a setting this version"),
        ('[accounts]\nlines = "per-line"\n', '[accounts] lines in config.toml is \'per-line\': it must be one of '
                                             '"per-type", "per-entry"'),
        ('[accounts]\nnumbering = "date"\n[accounts.series]\n"1" = 100\n',
         "[accounts.series] 1 in config.toml is 100: it must be a whole number from 0 to 99"),
        ("[accounts.series]\n\"1\" = 10\n", "[accounts.series] 1 in config.toml is 10: it must be a whole number "
                                            "from 0 to 9"),
        ('[accounts.series]\n"1" = 2\n"2" = 2\n', "[accounts.series] gives ledgers 1 and 2 the same series 2"),
        ('[accounts.types.capture]\naccount = "3000"\n', "[accounts.types.capture] account in config.toml is '3000': "
                                                          "it must be a whole number from 1 to 9999999"),
        ("[accounts.types.capture]\nacount = 3000\n", "[accounts.types.capture] acount in config.toml is not a "
                                                      "setting this version reads"),
        ("[accounts.types.capture]\nvat_code = 3\n", "[accounts.types.capture] in config.toml has no account"),
        ('[accounts.types.capture]\naccount = 3000\ntext = "{dato}"\n', "[accounts.types.capture] text in "
                                                                        "config.toml is '{dato}': it must be text "
                                                                        "whose placeholders are {date}"),
        ("[accounts]\nclearing = 1940\n", "[accounts] clearing in config.toml must be a table, [accounts.clearing]"),
        ("[accounts.types]\ncapture = 3000\n", "[accounts.types.capture] in config.toml must be a table"),
    ],
)  # fmt: skip
def test_a_wrong_accounts_setting_is_one_line_naming_its_key(toml, message, run_cli, workdir):
    (workdir / "config.toml").write_text(toml)
    assert_one_line(run_cli("run"), 3, message)


def test_the_committed_example_is_read_as_written():
    """What config.toml says is what the vouchers get (that it fits the sandbox: test_bookkeeping_runs.py)."""
    accounts = config.load(ROOT / "config.toml", environ={}).accounts
    written = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["accounts"]
    default_vat = written.get("vat_code", 0)
    assert {name: (p.account, p.vat_code) for name, p in accounts.types.items()} == {
        name: (table["account"], table.get("vat_code", default_vat)) for name, table in written["types"].items()
    }
    assert (dict(accounts.series), dict(accounts.clearing)) == (written["series"], written["clearing"])
    assert accounts.voucher_type == written["voucher_type"]


def test_without_an_accounts_table_there_is_no_chart_and_the_default_formats_stay(tmp_path):
    (tmp_path / "config.toml").write_text('[export]\nout = "x"\n')
    settings = config.load(tmp_path / "config.toml", environ={})
    assert settings.accounts is None and settings.formats == ("csv", "xlsx")
