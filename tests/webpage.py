"""The export page served for real by waitress on 127.0.0.1, against a sandbox, for HTTP and browser tests."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import waitress

from jobs import config
from jobs.runner import Context
from jobs.state import State
from jobs.web.app import Web, create_app, server_options
from jobs.web.auth import hash_password
from jobs.web.serve import Serving

PASSWORD = "correct horse battery staple"


@dataclass
class Page:
    url: str
    web: Web
    state_path: Path
    out: Path
    clock: list[float]  # the page's wall clock, moved by tests (sessions, throttling)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    @contextmanager
    def signed_in(self, user: str = "alice") -> Iterator[httpx.Client]:
        with self.client() as client:
            answer = client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "user": user,
                                                  "password": PASSWORD})  # fmt: skip
            assert answer.status_code == 302, answer.text
            yield client


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def add_user(state_path: Path, name: str) -> None:
    with State(state_path) as state:
        state.set_user(name, hash_password(PASSWORD))


def serve_page(workdir: Path, sandbox, fake_time, today: dt.date, environ: dict[str, str]):
    """Yields a Page; the server and any export it started are stopped afterwards."""
    settings = config.load(None, environ={**environ, "VIPPS_BASE_URL": sandbox.base_url})
    state_path = (workdir / settings.state_path).absolute()
    add_user(state_path, "alice")
    clock = [1_000_000.0]
    web = Web(settings, state_path, Context(fake_time.clock, fake_time.sleep), now=lambda: clock[0],
              today=lambda: today)  # fmt: skip
    server = waitress.create_server(create_app(web), host="127.0.0.1", port=0, **server_options(settings.web))
    serving = Serving(server).start()
    try:
        yield Page(f"http://127.0.0.1:{server.effective_port}", web, state_path, settings.out.absolute(), clock)
    finally:
        web.context.stop.set()
        web.exports.join(30)
        serving.stop()


def shell_export(run_cli, period: tuple[str, str], ledger: str) -> dict[str, bytes]:
    """The same period exported by `report-export run` into a folder and state of its own: name -> bytes."""
    shell = run_cli("run", "--from", period[0], "--to", period[1], "--ledger", ledger, "--out", "shell",
                    "--state", "shell.sqlite3")  # fmt: skip
    assert shell.code == 0, shell.err
    return {str(p.relative_to(Path("shell"))): p.read_bytes() for p in Path("shell").rglob("*") if p.is_file()}
