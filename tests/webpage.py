"""The export page served for real by waitress on 127.0.0.1, against a sandbox, for HTTP and browser tests."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from jobs import config
from jobs.lock import lock_for, run_lock
from jobs.runner import Context
from jobs.state import State
from jobs.users import hash_password
from jobs.web.app import create_app, server_options
from jobs.web.serve import Serving
from jobs.web.site import Web

PASSWORD = "correct horse battery staple"


@contextmanager
def nightly_holding_the_lock(state_path: Path, *, most: float = 30) -> Iterator[threading.Event]:
    """The nightly run, as an export from the page meets it: the state's run lock held by another thread until the
    event yielded is set (or `most` seconds pass), so the export waits on its progress page."""
    held, release = threading.Event(), threading.Event()

    def nightly() -> None:
        with run_lock(lock_for(state_path), wait=False):
            held.set()
            release.wait(most)

    holder = threading.Thread(target=nightly)
    holder.start()
    try:
        assert held.wait(5)
        yield release
    finally:
        release.set()
        holder.join()


MONTH = ("2026-10-01", "2026-10-31")
LEDGER = "302321"


@dataclass
class Page:
    url: str
    web: Web
    state_path: Path
    out: Path
    clock: list[float]  # the page's wall clock, moved by tests (sessions, throttling)

    def client(self, language: str = "en", **options) -> httpx.Client:
        """A client of the page; it reads English unless told otherwise (the page's own default is Norwegian)."""
        return httpx.Client(
            **{
                "base_url": self.url,
                "follow_redirects": False,
                "timeout": 30,
                "headers": {"Accept-Language": language},
                **options,
            }
        )

    @contextmanager
    def signed_in(self, user: str = "alice", password: str = PASSWORD, **options) -> Iterator[httpx.Client]:
        with self.client(**options) as client:
            sign_in(client, user, password)
            yield client

    def run_folder(self, run_id: int) -> Path:
        """Where a page export wrote its files: a folder of its own under [web] exports."""
        with State.reading(self.state_path) as state:
            run = state.runs.get(run_id)
        folder = Path(run.request["out"])
        assert folder.parent == self.web.settings.web.exports.absolute()
        return folder


def sign_in(client: httpx.Client, user: str = "alice", password: str = PASSWORD) -> httpx.Response:
    answer = client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "user": user, "password": password})
    assert answer.status_code == 302, answer.text
    return answer


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def add_user(state_path: Path, name: str) -> None:
    with State(state_path) as state:
        state.web.add_user(name, hash_password(PASSWORD))


def serve_page(workdir: Path, sandbox, fake_time, today: dt.date, environ: dict[str, str]):
    """Yields a Page; the server and any export it started are stopped afterwards."""
    settings = config.load(None, environ={**environ, "VIPPS_BASE_URL": sandbox.base_url})
    state_path = (workdir / settings.state_path).absolute()
    add_user(state_path, "alice")
    clock = [time.time()]  # the page's wall clock starts now: sessions and kept exports are dated by it
    web = Web(
        settings, state_path, Context(fake_time.clock, fake_time.sleep), now=lambda: clock[0], today=lambda: today
    )
    serving = Serving(create_app(web), host="127.0.0.1", port=0, **server_options(settings.web)).start()
    try:
        yield Page(f"http://127.0.0.1:{serving.port}", web, state_path, settings.out.absolute(), clock)
    finally:
        web.context.stop.set()
        web.exports.stop(30)
        serving.stop()


def shell_export(run_cli, period: tuple[str, str], ledger: str) -> dict[str, bytes]:
    """The same period exported by `report-export run` into a folder and state of its own: name -> bytes."""
    shell = run_cli(
        "run", "--from", period[0], "--to", period[1], "--ledger", ledger, "--out", "shell", "--state", "shell.sqlite3"
    )
    assert shell.code == 0, shell.err
    return {str(p.relative_to(Path("shell"))): p.read_bytes() for p in Path("shell").rglob("*") if p.is_file()}


def start_export(
    client,
    *,
    ledgers=(LEDGER,),
    period=MONTH,
    topics=("funds", "fees"),
    formats=("csv", "xlsx"),
    preset="standard",
    combine=False,
):
    form = {
        "csrf_token": csrf(client, "/export"),
        "period": "range",
        "from": period[0],
        "to": period[1],
        "scope": "chosen",
        "ledger": list(ledgers),
        "topic": list(topics),
        "format": list(formats),
        "preset": preset,
    }
    if combine:
        form["combine"] = "on"
    return client.post("/export", data=form)


def finish(client, job_url: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress = client.get(job_url + "/progress").json()
        if progress["status"] in ("finished", "failed"):
            return progress
        time.sleep(0.02)
    raise AssertionError(f"the export did not finish: {progress}")


def exported(client) -> dict:
    started = start_export(client)
    assert started.status_code == 303, started.text
    progress = finish(client, started.headers["location"])
    assert progress["status"] == "finished", progress
    return progress
