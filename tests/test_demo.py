"""`make demo` and the Makefile around it: the demo keeps to demo/, and says what it wrote."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from camt053_reader import read_camt053
from gbat10_reader import read_gbat10

from jobs.sandbox import Sandbox, demo

ROOT = Path(__file__).parent.parent
MAIN, RESERVE, MERCHANT, DANISH, EURO = "302321", "0302399", "412345", "5551234", "7778881"
# The exporter, a separate process, checks the period against the machine's date, so the demo's week
# must never be in its future: a fixed past date, or the machine's own date on a clock set earlier.
# Both lie before the sandbox's weeks-long open stretch of 2026, so every date of the week is closed.
DEMO_TODAY = min(dt.date(2025, 3, 12), dt.datetime.now(ZoneInfo("Europe/Oslo")).date())
LINE = re.compile(
    r"^  (\S+) +(\d+) report files \((\d+) CSV, (\d+) XLSX, (\d+) GBAT10, (\d+) camt\.053\), "
    r"(\d+) manifests$",
    re.M,
)


def run_demo(cwd: Path, today: dt.date = DEMO_TODAY, env: dict[str, str] | None = None):
    done = subprocess.run(
        [sys.executable, "-m", "jobs.sandbox.demo", "--today", today.isoformat()],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def on_disk(out: Path) -> dict[str, tuple[int, ...]]:
    """Per ledger folder: (report files, CSV, XLSX, GBAT10, camt.053, manifests), counted without the demo's help."""
    counts = {}
    for folder in sorted(p for p in out.iterdir()):
        names = [p.name for p in folder.rglob("*") if p.is_file()]
        kinds = Counter(
            "manifest" if n.endswith(".manifest.json") else "gbat10" if "_vouchers_" in n else n.rsplit(".", 1)[1]
            for n in names
        )
        assert set(kinds) <= {"csv", "gbat10", "xlsx", "xml", "manifest"}, names
        files = [kinds[k] for k in ("csv", "xlsx", "gbat10", "xml")]
        counts[folder.name] = (sum(files), *files, kinds["manifest"])
    return counts


def busy_days(ledger: str) -> int:
    """Funds dates of the demo's week with entries: each gets a voucher and a statement (quiet ones neither)."""
    sandbox = Sandbox(today=DEMO_TODAY)
    return sum(1 for n in range(1, 8) if sandbox.entries(ledger, "funds", DEMO_TODAY - dt.timedelta(days=n)))


def fingerprints(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def listed(stdout: str) -> dict[str, tuple[int, ...]]:
    return {name: tuple(map(int, numbers)) for name, *numbers in LINE.findall(stdout)}


def test_the_demo_keeps_to_demo_and_lists_what_it_wrote(tmp_path):
    """A real installation's settings neither redirect nor break it; its counts are the files on disk."""
    (tmp_path / "config.toml").write_text(
        '[api]\ntoken_path = "/broken/v1/token"\n[export]\nout = "elsewhere"\n[state]\npath = "elsewhere/s.sqlite3"\n'
    )
    (tmp_path / ".env").write_text("VIPPS_CLIENT_ID=real-client\nVIPPS_TOKEN_PATH=/broken/v1/token\n")
    env = {**os.environ, "VIPPS_CLIENT_SECRET": "real-secret", "VIPPS_KEY_TYPE": "merchant", "VIPPS_MSN": "123456"}
    folder, out = tmp_path / "demo", tmp_path / "demo" / "reports"

    for today in (DEMO_TODAY - dt.timedelta(days=3), DEMO_TODAY):  # the second demo finds the first one's files
        done = run_demo(tmp_path, today, env)

    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "config.toml", "demo"]
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "config.toml", "reports", "state"]
    state = sorted(p.name for p in (folder / "state").iterdir())
    assert state == ["report-export.sqlite3", "report-export.sqlite3.lock"]
    # seven closed days, two topics: CSV, XLSX and a manifest each, and on funds days with entries a GBAT10
    # voucher and a camt.053 statement; nothing left of the earlier week
    week = {(DEMO_TODAY - dt.timedelta(days=n)).isoformat() for n in range(1, 8)}
    assert {p.name.split("_")[2][:10] for p in out.rglob("*.*")} == week
    busy = {ledger: busy_days(ledger) for ledger in sorted([MAIN, RESERVE, MERCHANT, DANISH, EURO])}
    assert on_disk(out) == {ledger: (28 + 2 * n, 14, 14, n, n, 14) for ledger, n in busy.items()}
    assert sum(busy.values()) > 0  # (two ledgers rest on Sundays; 412345's history starts in 2026)
    lines, vouchers = listed(done.stdout), sum(busy.values())
    assert lines.pop("total") == (140 + 2 * vouchers, 70, 70, vouchers, vouchers, 70)
    assert lines == on_disk(out)
    assert f"{140 + 2 * vouchers} files under {out})" in done.stdout  # the exporter's summary counts report files only
    for path in out.rglob("*_vouchers_*.csv"):  # the sandbox's chart works: every voucher balances
        read_gbat10(path)
    for path in out.rglob("*.xml"):
        read_camt053(path)
    assert f"Demo folder: {folder}," in done.stdout
    assert f"Files in {out}, per ledger:" in done.stdout
    assert f"State: {folder / 'state' / 'report-export.sqlite3'}\n" in done.stdout


def test_a_real_run_after_the_demo_knows_nothing_of_it(workdir, make_sandbox, use_sandbox, run_cli):
    """The demo's state once sat where real runs keep theirs: each sandbox ledger then came back as withdrawn."""
    run_demo(workdir)
    before = fingerprints(workdir / "demo")
    use_sandbox(make_sandbox(ledger_ids=[MAIN]))  # the real API: other keys, other ledgers

    result = run_cli("run")

    assert result.code == 0, result.err
    assert "no longer readable" not in result.err
    assert sorted(p.name for p in workdir.iterdir()) == ["demo", "reports", "state"]
    assert [p.name for p in (workdir / "reports").iterdir()] == [MAIN]
    assert "state/report-export.sqlite3" in before
    assert fingerprints(workdir / "demo") == before


@pytest.mark.parametrize("foreign", ["file", "folder"])
def test_the_demo_leaves_a_demo_it_did_not_make_alone(tmp_path, monkeypatch, capsys, foreign):
    monkeypatch.chdir(tmp_path)
    if foreign == "file":
        (tmp_path / "demo").write_text("mine")
    else:
        (tmp_path / "demo").mkdir()
        (tmp_path / "demo" / "notes.txt").write_text("mine")

    assert demo.main(["--today", DEMO_TODAY.isoformat()]) == 2

    err = capsys.readouterr().err
    assert err == f"demo: {tmp_path / 'demo'} exists and is not the demo's: move it, or start the demo elsewhere\n"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == (
        ["demo"] if foreign == "file" else ["demo", "demo/notes.txt"]
    )


# -- the Makefile's Python check and .venv ----------------------------------------------

# A stand-in for python3 that answers the Makefile's version check with {version} (3.9: too old),
# gives a venv a copy of itself, and exits as told; each call is logged, so a test sees what was tried.
FAKE = """#!/bin/sh
[ "$1" = -c ] && echo -c >> calls.log || echo "$1 $2" >> calls.log
case "$1 $2" in
  -c*) echo {version}; [ {version} = 3.9 ] && exit 1; exit 0;;
  "-m venv") mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit {venv};;
  "-m pip") case "$*" in *--upgrade*) exit {upgrade};; *) exit {install};; esac;;
esac
"""
FAILED = "make: {} failed (see above); removed .venv, so the next make starts clean\n"
CASES = {  # what goes wrong: how the fake answers, what make says, which calls it made
    "too old": (
        dict(version="3.9", venv=0, upgrade=0, install=0),
        "make: Python 3.11+ needed, {python} is 3.9: install 3.11 or newer, then run make PYTHON=python3.11 "
        "(or its path)\n",
        ["-c"],
    ),
    "venv fails": (
        dict(version="3.12", venv=1, upgrade=0, install=0),
        FAILED.format("creating .venv"),
        ["-c", "-m venv"],
    ),
    "pip fails": (
        dict(version="3.12", venv=0, upgrade=1, install=0),
        FAILED.format("upgrading pip in .venv"),
        ["-c", "-m venv", "-m pip"],
    ),
    "install fails": (
        dict(version="3.12", venv=0, upgrade=0, install=1),
        FAILED.format("installing the project"),
        ["-c", "-m venv", "-m pip", "-m pip"],
    ),
}


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("case", list(CASES))
def test_make_checks_python_and_never_leaves_a_broken_venv(tmp_path, case):
    answers, message, calls = CASES[case]
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / "fake-python"
    python.write_text(FAKE.format(**answers))
    python.chmod(0o755)

    done = subprocess.run(
        ["make", "demo", f"PYTHON={python}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert message.format(python=python) in done.stderr
    assert not (tmp_path / ".venv").exists()
    assert (tmp_path / "calls.log").read_text().splitlines() == calls


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_the_demo_folder(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "demo" / "reports").mkdir(parents=True)
    (tmp_path / "reports").mkdir()

    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile", "reports"]
