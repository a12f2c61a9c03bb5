"""The run request: every option comes back through the redo line and the command line, and the run's record keeps
the keys that the history, `status --json` and the state's own queries read in rows of older releases."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import getpass
import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import TODAY
from webpage import serve_page

from jobs import cli, config
from jobs.cli.run import request_from_args, with_state
from jobs.request import OPTIONS, RunRequest, request_for
from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State

DAY = dt.timedelta(days=1)
PERIOD = {"first": TODAY - 3 * DAY, "last": TODAY - DAY}
# Each option at something other than config.toml's choice; a period where the option needs one.
CHANGED = [
    PERIOD,
    {"ledgers": ("302321", "0302399")},
    {"topics": ("fees",)},
    {"formats": ("xlsx", "csv", "camt053")},
    {"csv_preset": "no"},
    {"out": Path("/srv/exports/for kari")},
    {**PERIOD, "combine": True},
    {"strict": True},
    {"concurrency": 3},
    {"wait": True},
    {"detailed_exit_codes": True},
]
WHO = {"command", "trigger", "user"}  # who asks and which command: not options


def parsed(line: str, settings: config.Settings) -> RunRequest:
    """The request the command line builds from a redo line."""
    words = shlex.split(line)
    assert words[0] == "report-export"
    args = cli.build_parser(settings).parse_args(words[1:])
    return request_from_args(args, settings, TODAY)


def test_every_field_is_an_option_or_says_who_asks():
    fields = {f.name for f in dataclasses.fields(RunRequest)}
    assert fields - WHO == {f.name for f in OPTIONS}
    assert {name for change in CHANGED for name in change} == {f.name for f in OPTIONS}, "give a new option a change"


@pytest.mark.parametrize("change", CHANGED, ids=lambda change: "+".join(change))
def test_each_option_comes_back_through_the_redo_line_and_the_command_line(change, workdir):
    settings = config.load(environ={})
    request = request_for(settings, "run", user=getpass.getuser(), **change)
    assert request != request_for(settings, "run", user=getpass.getuser())
    assert parsed(request.redo(settings), settings) == request


def test_all_options_at_once_and_config_tomls_own_choices_left_out(workdir):
    (workdir / "nightly.toml").write_text('[export]\nstrict = true\nformats = ["csv"]\n[api]\nconcurrency = 2\n')
    settings = config.load(workdir / "nightly.toml", environ={})
    usual = request_for(settings, "run", user=getpass.getuser())
    nightly = f"report-export run --config {workdir / 'nightly.toml'}"
    assert usual.redo(settings) == nightly
    request = dataclasses.replace(usual, **{name: value for change in CHANGED for name, value in change.items()})
    assert parsed(request.redo(settings), settings) == request
    assert "--format xlsx --format csv --format camt053" in request.redo(settings)
    off = dataclasses.replace(usual, strict=False)  # config.toml says strict: the command line can say not
    assert off.redo(settings) == f"{nightly} --no-strict" and parsed(off.redo(settings), settings) == off


def test_the_redo_line_names_the_config_file_and_a_state_given_on_the_command_line_absolute(workdir, monkeypatch):
    (workdir / "etc").mkdir()
    (workdir / "etc" / "nightly.toml").write_text('[export]\nformats = ["csv"]\n')
    settings = with_state(config.load(Path("etc/nightly.toml"), environ={}), Path("elsewhere/state.sqlite3"))
    request = request_for(settings, "run", strict=True)
    line = request.redo(settings)
    assert line == (
        f"report-export run --config {workdir / 'etc' / 'nightly.toml'}"
        f" --state {workdir / 'elsewhere' / 'state.sqlite3'} --strict"
    )
    monkeypatch.chdir(workdir / "etc")  # read from another folder: the same files
    args = cli.build_parser(settings).parse_args(shlex.split(line)[1:])
    assert (args.config, args.state) == (workdir / "etc" / "nightly.toml", workdir / "elsewhere" / "state.sqlite3")
    assert config.load(args.config, environ={}).formats == ("csv",)
    assert request_for(config.load(environ={}), "run").redo(config.load(environ={})) == "report-export run"


def test_the_feeds_options_come_back_too(workdir):
    settings = config.load(environ={})
    request = request_for(
        settings, "feed", ledgers=["412345"], topics=["funds"], formats=["csv"], user=getpass.getuser()
    )
    assert request.redo(settings) == "report-export feed --ledger 412345 --topic funds --format csv"
    assert parsed(request.redo(settings), settings) == request


def test_a_page_export_is_redone_from_the_command_line_where_the_nightly_run_writes(workdir):
    settings = config.load(environ={})
    request = request_for(
        settings, "run", **PERIOD, out=workdir / "web-exports" / "x", wait=True, trigger="web", user="kari"
    )
    assert request.redo(settings) == f"report-export run --from {PERIOD['first']} --to {PERIOD['last']}"


# What a release before the run request wrote in the runs table: these keys, no more.
OLD_RECORD = {
    "from": "2026-10-01",
    "to": "2026-10-31",
    "ledgers": ["302321"],
    "topics": ["funds"],
    "formats": ["csv"],
    "csvPreset": "no",
    "combine": True,
    "out": "/srv/exports",
}


def october(settings: config.Settings) -> RunRequest:
    """The request OLD_RECORD was written for."""
    return request_for(
        settings,
        "run",
        first=dt.date(2026, 10, 1),
        last=dt.date(2026, 10, 31),
        ledgers=["302321"],
        topics=["funds"],
        formats=["csv"],
        csv_preset="no",
        combine=True,
        out=Path("/srv/exports"),
    )


def test_the_record_keeps_every_key_an_older_release_wrote(workdir):
    settings = config.load(environ={})
    record = october(settings).record()
    assert {key: record[key] for key in OLD_RECORD} == OLD_RECORD
    assert json.loads(json.dumps(record)) == record


def test_rows_of_older_releases_and_of_this_one_read_alike_in_status_and_history(sandbox, fake_time, workdir, run_cli):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    with contextlib.contextmanager(serve_page)(workdir, sandbox, fake_time, TODAY, env) as page:
        new = october(page.web.settings)
        with State(page.state_path) as state:
            for request in (OLD_RECORD, new.record(), None):
                run_id = state.runs.start("run", "cli", user="kari", request=request)
                state.runs.end(run_id, "ok", 0, {}, files=[])
            found, _ = state.runs.find(limit=None, ledger="302321", period=(dt.date(2026, 10, 5), dt.date(2026, 10, 6)))
        assert [run.id for run in found] == [2, 1]  # either record, found by its ledger and period
        with page.signed_in() as client:
            history = client.get("/runs").text
    what = dict(re.findall(r'<td><a href="/runs/(\d+)">.*?</td>.*?</td>.*?</td>\s*<td>(.*?)</td>', history, re.S))
    shown = "01/10/2026 to 31/10/2026; ledgers 302321; Settlements (funds); CSV for import tools; CSV: Norway "
    assert what["1"] == what["2"] == shown + "(semicolon, decimal comma); also one file for the whole period", what
    runs = {run["id"]: run for run in json.loads(run_cli("status", "--json").out)["runs"]}
    assert runs[1]["request"] == OLD_RECORD and runs[2]["request"] == new.record() and runs[3]["request"] is None
