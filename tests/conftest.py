"""Fixtures: a sandbox on loopback, the CLI driven in-process, a shared fake clock, SIGINT as in a terminal."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs import cli
from jobs.sandbox import ACCOUNTING_CLIENT, Sandbox

TODAY = dt.date(2026, 11, 20)  # the sandbox's and the exporter's "today" unless a test moves them
CHECKOUT = Path(__file__).parent.parent
# What installing, testing and the machine checks make, at the top of the checkout.
MADE_BY_MAKE_TEST = (".venv/", ".pytest_cache/", "report_export.egg-info/", ".mypy_cache/", ".ruff_cache/", ".coverage")


def checkout_changes() -> list[str] | None:
    """What git sees changed or added in the checkout, ignored files too (a state/ or reports/ a test wrote),
    but for what `make test` itself makes; None outside a git checkout."""
    if not (CHECKOUT / ".git").exists():
        return None
    listed = subprocess.run(
        ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--ignored"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return sorted(line for line in listed if not line[3:].startswith(MADE_BY_MAKE_TEST) and "__pycache__" not in line)


def quick_look() -> tuple[list[str], list[str]]:
    """The checkout's top level and reports/: cheap enough to look at after every test."""
    top = [
        name for name in os.listdir(CHECKOUT) if not name.startswith(tuple(m.rstrip("/") for m in MADE_BY_MAKE_TEST))
    ]
    return sorted(top), sorted(os.listdir(CHECKOUT / "reports"))


@pytest.fixture(autouse=True, scope="session")
def checkout_unchanged():
    """No test writes into the checkout (a state/ or reports/ there is a real installation's): the suite fails
    if one did, naming what appeared."""
    before = checkout_changes()
    yield
    after = checkout_changes()
    assert after == before, f"the tests changed the checkout: {sorted(set(after or []) - set(before or []))}"


@pytest.fixture(autouse=True)
def checkout_unchanged_by_this_test():
    before = quick_look()
    yield
    assert quick_look() == before, "this test wrote into the checkout (see the top level and reports/)"


class FakeTime:
    """One clock for the sandbox (token expiry, latency) and the exporter (refresh, retries)."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture(autouse=True, scope="session")
def sigint_as_from_a_terminal():
    """Processes the tests interrupt as with Ctrl-C stop as they would in a terminal, however pytest
    was started: with SIGINT ignored (nohup, a background job) every child would inherit that, since
    an ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler, unlike SIG_IGN, is reset by exec
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_sandbox(fake_time):
    started = []

    def make(**options) -> Sandbox:
        options = {"today": TODAY, "page_size": 7, "clock": fake_time.clock, "sleep": fake_time.sleep, **options}
        sandbox = Sandbox(**options).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder: no config.toml, no .env, no credentials or notify secrets from the caller's shell."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "VIPPS_CLIENT_ID",
        "VIPPS_CLIENT_SECRET",
        "VIPPS_KEY_TYPE",
        "VIPPS_SUBSCRIPTION_KEY",
        "VIPPS_MSN",
        "VIPPS_BASE_URL",
        "VIPPS_TOKEN_PATH",
        "NOTIFY_SMTP_PASSWORD",
        "NOTIFY_WEBHOOK_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def use_sandbox(workdir, monkeypatch):
    """Point the exporter at a sandbox with the accounting keys."""

    def use(sandbox: Sandbox, client=ACCOUNTING_CLIENT) -> None:
        monkeypatch.setenv("VIPPS_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("VIPPS_CLIENT_ID", client[0])
        monkeypatch.setenv("VIPPS_CLIENT_SECRET", client[1])

    return use


@pytest.fixture
def run_cli(capsys, fake_time):
    def run(*argv: str, today: dt.date = TODAY) -> Result:
        runtime = cli.Runtime(clock=fake_time.clock, sleep=fake_time.sleep, today=today)
        code = cli.main(list(argv), runtime)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def reset_logging():
    """The CLI points the "jobs" logger at the stderr of its test; leave none behind for the next."""
    logger = logging.getLogger("jobs")
    yield
    for handler in logger.handlers:
        handler.close()
    logger.handlers.clear()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)
