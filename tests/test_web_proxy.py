"""The deployment the README prescribes: a real nginx with deploy/nginx.conf ends TLS in front of `serve` with
[web] behind_proxy = true. Sign-in, cookies, the origin check, client addresses, an export and its zip, all over
HTTPS through it. (The real browser does the same in test_web_browser.py.)"""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest
from conftest import TODAY
from proxy import DEPLOY, run_nginx
from webpage import LEDGER, MONTH, PASSWORD, csrf, finish, serve_page, shell_export

from jobs.sandbox import ACCOUNTING_CLIENT
from jobs.state import State


@pytest.fixture
def proxied(sandbox, fake_time, workdir, tmp_path_factory):
    """(page, proxy): the page behind nginx, as deployed."""
    (workdir / "config.toml").write_text("[web]\nbehind_proxy = true\n")
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        port = int(page.url.rsplit(":", 1)[1])
        for proxy in run_nginx(tmp_path_factory.mktemp("nginx"), port):
            yield page, proxy


def browser_like(proxy, address: str = "127.0.0.2") -> httpx.Client:
    """A client of nginx from its own address, sending Origin with its forms as browsers do."""
    return httpx.Client(
        base_url=proxy.url,
        headers={"Origin": proxy.url, "Accept-Language": "en"},
        timeout=30,
        transport=httpx.HTTPTransport(verify=proxy.verify(), local_address=address),
    )


def sign_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    return client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "user": "alice", "password": password})


def test_she_signs_in_exports_and_downloads_over_https_through_nginx(proxied, run_cli, use_sandbox, sandbox):
    page, proxy = proxied
    with browser_like(proxy) as client:
        form = client.get("/signin")
        assert form.status_code == 200 and form.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Secure" in form.headers["set-cookie"] and "SameSite=Lax" in form.headers["set-cookie"]
        signed = sign_in(client)
        assert signed.status_code == 302 and signed.headers["location"] == "/", signed.text
        assert "Secure" in signed.headers["set-cookie"]
        token = csrf(client, "/export")
        started = client.post(
            "/export",
            data={
                "csrf_token": token,
                "ledger": LEDGER,
                "from": MONTH[0],
                "to": MONTH[1],
                "topic": ["funds", "fees"],
                "format": ["csv", "xlsx"],
                "preset": "standard",
            },
        )
        assert started.status_code == 303, started.text
        progress = finish(client, started.headers["location"])
        assert progress["status"] == "finished", progress
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{progress['runId']}/zip").content))
    use_sandbox(sandbox)
    assert {name: archive.read(name) for name in archive.namelist()} == shell_export(run_cli, MONTH, LEDGER)


def test_over_https_a_form_needs_its_own_origin_as_well_as_its_token(proxied):
    page, proxy = proxied
    with browser_like(proxy) as client:
        token = csrf(client, "/signin")
        form = {"csrf_token": token, "user": "alice", "password": PASSWORD}
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": proxy.plain_url},
            {"Origin": "", "Referer": "https://evil.example/"},
        ):
            refused = client.post("/signin", data=form, headers=headers)
            assert refused.status_code == 400 and "was not sent from this page" in refused.text
        without = httpx.Client(
            base_url=proxy.url,
            transport=httpx.HTTPTransport(verify=proxy.verify()),
            cookies=client.cookies,
            headers={"Accept-Language": "en"},
        )
        with without:  # neither Origin nor Referer: over HTTPS that is refused, as a browser always sends one
            assert without.post("/signin", data=form).status_code == 400
        referer = client.post("/signin", data=form, headers={"Origin": "", "Referer": proxy.url + "/signin"})
        assert referer.status_code == 302


def test_addresses_come_from_nginx_and_throttling_is_per_client_not_per_proxy(proxied):
    page, proxy = proxied
    with browser_like(proxy, "127.0.0.2") as attacker, browser_like(proxy, "127.0.0.3") as kari:
        for _ in range(25):  # more than the per-address ceiling, all from one client behind the same proxy
            attacker.post(
                "/signin",
                data={"csrf_token": csrf(attacker, "/signin"), "user": "guess", "password": "x"},
                headers={"X-Forwarded-For": "10.9.9.9"},
            )  # nginx replaces it
        assert sign_in(kari).status_code == 302  # another client of the same proxy is not locked out
    with State(page.state_path) as state:
        addresses = {address for _, _, address, _ in state.web.signin_log(100)}
    assert addresses == {"127.0.0.2", "127.0.0.3"}  # the clients' own, not nginx's 127.0.0.1, nor a forged one


def test_plain_http_is_sent_to_https(proxied):
    page, proxy = proxied
    with httpx.Client(base_url=proxy.plain_url) as client:
        moved = client.get("/runs")
        assert moved.status_code == 301 and moved.headers["location"].startswith("https://127.0.0.1")


def test_the_readme_shows_the_file_the_test_runs():
    readme = (DEPLOY.parent.parent / "README.md").read_text()
    shown = re.search(r"```nginx\n(.*?)```", readme, re.S)
    assert shown is not None and shown.group(1) == DEPLOY.read_text()
