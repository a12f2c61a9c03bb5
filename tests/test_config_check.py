"""`check` refuses exactly what `run` refuses of a config, with the same line, naming the file as it was given.

Every bad config the other tests know (tests/test_errors.py, test_config.py, test_accounts.py), and those that
only a run found out before (the CSV columns, formats a run could not write, a cron the schedule could not run),
are given to both commands as `--config nightly.toml`, against a sandbox the keys can read: so a config that
`check` let through would get as far as the API in `run`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_accounts import WRONG_CHARTS
from test_config import BAD_CONFIGS
from test_errors import WRONG_KINDS

ROOT = Path(__file__).parent.parent

# Refused by `run` only once it built its files, or by `schedule` only, before config.load checked them.
FOUND_BY_A_RUN = [
    ('[csv]\ncolumns = ["amunt"]\n', ["[csv] in nightly.toml", "'amunt' is not a column"]),
    ("[csv]\ncolumns = []\n", ["[csv] in nightly.toml", "none chosen"]),
    ('[csv]\ncolumns = ["amount", "amount"]\n', ["[csv] in nightly.toml", "chosen twice"]),
    ('[csv]\ncolumns = ["amount", "name"]\n', ["[csv] in nightly.toml", "'name' is personal data"]),
    ('[csv.rename]\namunt = "Beløp"\n', ["[csv] in nightly.toml", "'amunt' is not a column"]),
    ('[csv.rename]\namount = " "\n', ["[csv] in nightly.toml", "the header for 'amount' is empty"]),
    ('[csv.rename]\namount = "x"\nreference = "x"\n', ["[csv] in nightly.toml", "both have the header 'x'"]),
    ('[export]\nformats = ["csv", "gbat10"]\n', ['[export] formats in nightly.toml holds "gbat10"', "[accounts]"]),
    ('[export]\nformats = ["camt053"]\ntopics = ["fees"]\n', ["[export] formats in nightly.toml", "topic funds only"]),
    ('[export]\nformats = ["vipps-xml"]\ntopics = ["fees"]\n', ["topic funds only", 'add "funds" to topics']),
    ('[schedule]\ncron = "61 * * * *"\n', ["[schedule] cron '61 * * * *' in nightly.toml", "five fields"]),
    ('[schedule]\ncron = "0 6 * * 1"\n', ["[schedule] cron '0 6 * * 1' in nightly.toml", "as names"]),
]
BAD = [toml for toml, _ in WRONG_KINDS + BAD_CONFIGS + WRONG_CHARTS + FOUND_BY_A_RUN]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


@pytest.mark.parametrize("toml", BAD)
def test_check_refuses_what_run_refuses_with_the_same_line(toml, sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    (workdir / "nightly.toml").write_text(toml, encoding="utf-8")
    check, run = run_cli("check", "--config", "nightly.toml"), run_cli("run", "--config", "nightly.toml")
    assert (check.code, run.code) == (3, 3), (check.err, run.err)
    assert last_line(check.err) == last_line(run.err)
    assert last_line(run.err).startswith("report-export: error: ") and "in config.toml" not in run.err
    assert not sandbox.requests  # refused before anything was asked of the API
    assert not (workdir / "reports").exists() and not (workdir / "state").exists()


@pytest.mark.parametrize(("toml", "words"), FOUND_BY_A_RUN)
def test_what_only_a_run_found_out_is_named_with_the_fix(toml, words, run_cli, workdir):
    (workdir / "nightly.toml").write_text(toml, encoding="utf-8")
    line = last_line(run_cli("check", "--config", "nightly.toml").err)
    assert all(word in line for word in words), line


COMMITTED = (ROOT / "config.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "toml",
    [
        COMMITTED,
        COMMITTED.replace('formats = ["csv", "xlsx"]', 'formats = ["csv", "gbat10", "camt053"]'),  # with its chart
        '[export]\nformats = ["camt053"]\ntopics = ["funds"]\n',
        '[csv]\npreset = "no"\ncolumns = ["ledgerDate", "amount"]\n[csv.rename]\namount = "Beløp"\n',
        '[schedule]\ncron = "17 6 * * mon-fri"\n',
    ],
)
def test_what_check_accepts_run_accepts(toml, sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    (workdir / "nightly.toml").write_text(toml, encoding="utf-8")
    check = run_cli("check", "--config", "nightly.toml")
    assert check.code == 0 and check.out.startswith("report-export: ok: "), check.err
    run = run_cli("run", "--config", "nightly.toml")
    assert run.code == 0, run.err
