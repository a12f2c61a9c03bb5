"""The export page in a real browser: headless Chromium driven by Selenium through Debian's chromedriver,
from the sign-in form to the downloaded zip, which must hold the same files as `run` from the shell, over
HTTPS through a real nginx with deploy/nginx.conf, as the README prescribes.

The HTTP-level tests (test_web.py) cannot see what only a browser does: follow the form's redirects,
run progress.js under the Content-Security-Policy, open the run page when the export ends, and save
a download. Without chromium and chromedriver the test is skipped, except under CI=true, where it
fails: .ci/run installs them.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import TODAY
from proxy import run_nginx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from selenium_axe_python import Axe
from webpage import LEDGER, MONTH, PASSWORD, exported, nightly_holding_the_lock, serve_page, shell_export

from jobs.sandbox import ACCOUNTING_CLIENT

WAIT = 20  # seconds: a ceiling for each step, not a pause; every wait ends as soon as its condition holds


def browser_programs() -> tuple[str, str]:
    """chromium and chromedriver on PATH; else a skip, or under CI a failure."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        what = " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{what} not on PATH under CI=true: .ci/run installs chromium and chromium-driver "
                "with apt-get before make test; run it, or install them",
                pytrace=False,
            )
        pytest.skip(f"{what} not on PATH: apt-get install chromium chromium-driver (under CI=true this fails)")
    return found["chromium"], found["chromedriver"]


def chrome(
    downloads: Path, *, width: int = 1280, height: int = 900, trust: str = "", language: str = "en-US,en"
) -> webdriver.Chrome:
    """Headless Chromium that saves downloads into `downloads` without asking and keeps the console log;
    `trust`: the SPKI hash of a certificate it accepts (the test proxy's), as if a CA it knows had signed it."""
    chromium, chromedriver = browser_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # given, so Selenium Manager never looks for (or downloads) a browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(argument)  # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
    if trust:
        options.add_argument(f"--ignore-certificate-errors-spki-list={trust}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "intl.accept_languages": language,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(chromedriver))


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


@pytest.fixture
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture
def browser(downloads):
    driver = chrome(downloads)
    yield driver
    driver.quit()


@pytest.fixture
def proxied(sandbox, fake_time, workdir, tmp_path_factory):
    """The page behind nginx with deploy/nginx.conf: (page, proxy)."""
    (workdir / "config.toml").write_text("[web]\nbehind_proxy = true\n")
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    for page in serve_page(workdir, sandbox, fake_time, TODAY, env):
        for proxy in run_nginx(tmp_path_factory.mktemp("nginx"), int(page.url.rsplit(":", 1)[1])):
            yield page, proxy


@pytest.fixture
def tls_browser(downloads, proxied):
    driver = chrome(downloads, trust=proxied[1].spki)
    yield driver
    driver.quit()


@pytest.fixture
def nightly_run(proxied):
    """Holds the run lock, as the nightly job would, until released: the export waits on its progress page."""
    with nightly_holding_the_lock(proxied[0].state_path, most=60) as release:
        yield release


def sign_in(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url + "/")
    WebDriverWait(driver, WAIT).until(seen.url_contains("/signin"))
    driver.find_element(By.NAME, "user").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    button = driver.find_element(By.CSS_SELECTOR, "form.narrow button[type=submit]")
    button.click()
    WebDriverWait(driver, WAIT).until(seen.staleness_of(button))


def downloaded(folder: Path, name: str) -> Path | None:
    """The file once Chromium has finished writing it (until then it is a .crdownload beside it)."""
    path = folder / name
    busy = any(p.suffix == ".crdownload" for p in folder.iterdir())
    return path if path.is_file() and not busy else None


def test_an_accountant_signs_in_exports_a_month_and_downloads_the_zip_over_https(
    proxied, tls_browser, downloads, nightly_run, run_cli, use_sandbox, sandbox
):
    page, proxy = proxied
    browser = tls_browser
    wait = WebDriverWait(browser, WAIT)
    sign_in(browser, proxy.url)
    assert browser.current_url == proxy.url + "/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"

    browser.find_element(By.LINK_TEXT, "Export").click()
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Export"))
    last_month = browser.find_element(By.CSS_SELECTOR, "input[name=period][value=last-month]")
    assert last_month.is_selected()  # October, as TODAY is in November: the month she exports most
    browser.find_element(By.CSS_SELECTOR, "input[name=scope][value=chosen]").click()
    ledger = browser.find_element(By.CSS_SELECTOR, f"input[name=ledger][value='{LEDGER}']")
    assert not ledger.is_selected()
    ledger.click()
    browser.find_element(By.ID, "start").click()

    # The nightly run holds the lock: the progress page must come up and its script report the wait.
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "Waiting for the nightly export to finish"))
    assert "/jobs/" in browser.current_url
    nightly_run.set()
    wait.until(seen.url_contains("/runs/"))  # only progress.js leaves the progress page
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Export 1: Done"))
    assert browser.find_element(By.ID, "zip-spreadsheets").text == "Spreadsheets (XLSX)"
    everything = browser.find_element(By.ID, "zip")
    assert everything.text == "Everything"
    everything.click()
    archive = zipfile.ZipFile(wait.until(lambda _: downloaded(downloads, "report-export-run-1.zip")))
    browser.find_element(By.ID, "zip-spreadsheets").click()
    sheets = zipfile.ZipFile(wait.until(lambda _: downloaded(downloads, "report-export-run-1-spreadsheets.zip")))
    assert {Path(name).suffix for name in sheets.namelist()} == {".xlsx", ".json"}  # with their manifests
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == []  # no CSP violation, failed request or script error on any page

    use_sandbox(sandbox)
    on_disk = shell_export(run_cli, MONTH, LEDGER)
    assert len(on_disk) == 62 * 3
    assert {name: archive.read(name) for name in archive.namelist()} == on_disk


def test_a_browser_signs_in_although_it_asks_for_a_favicon(page, browser):
    """Chromium asks for /favicon.ico after each page: that must neither redirect nor touch the session, or
    the sign-in form's CSRF token no longer matches the session's (this failed until the page answered it)."""
    sign_in(browser, page.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview", browser.find_element(By.TAG_NAME, "main").text


def test_a_link_from_another_site_arrives_signed_in(proxied, tls_browser):
    """A link in mail or on the intranet is a navigation from another site: the cookie must come along (a
    SameSite=Strict cookie did not, and the sign-in page's new cookie then signed her out)."""
    page, proxy = proxied
    wait = WebDriverWait(tls_browser, WAIT)
    sign_in(tls_browser, proxy.url)
    tls_browser.get(f"data:text/html,<a id=go href='{proxy.url}/runs'>the export page</a>")  # another origin
    tls_browser.find_element(By.ID, "go").click()
    wait.until(seen.url_to_be(proxy.url + "/runs"))
    assert tls_browser.find_element(By.TAG_NAME, "h1").text == "History"
    tls_browser.get(proxy.url + "/")
    assert tls_browser.find_element(By.TAG_NAME, "h1").text == "Overview"


def test_a_very_long_name_from_the_api_wraps_instead_of_widening_the_page(page, browser, sandbox):
    sandbox.add_ledger("9990002", units=(("Ø" * 3000, "NO:99902"),))
    sign_in(browser, page.url)
    for path in ("/", "/export"):
        browser.get(page.url + path)
        assert "Ø" * 100 in browser.find_element(By.TAG_NAME, "main").text
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def accessibility_problems(driver: webdriver.Chrome) -> list[str]:
    """What axe-core (bundled with selenium-axe-python) finds against WCAG 2.1 A and AA on the page shown."""
    axe = Axe(driver)
    axe.inject()
    results = axe.run(options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})" for v in results["violations"]]


@pytest.mark.parametrize("language, words", [("nb-NO,nb", "Oversikt"), ("en-GB,en", "Overview")])
@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_fits_phones_and_desktops_in_both_languages_and_passes_axe(
    page, downloads, language, words, width, sandbox
):
    """No page scrolls sideways (tables scroll in their own box) and axe-core finds nothing against WCAG 2.1 AA,
    at 390 and 1280 CSS pixels, in Norwegian and English."""
    sandbox.add_ledger("9990003", units=(("Ø" * 400, "NO:99903"),))  # a long name, too
    with page.signed_in() as client:  # a finished export, so the run page and the history have rows
        run_url = exported(client)["runUrl"]
    driver = chrome(downloads, width=width, height=800, language=language)
    try:
        sign_in(driver, page.url)
        assert driver.find_element(By.TAG_NAME, "h1").text == words
        for path in ("/", "/?days=90", "/export", run_url, "/runs", "/password"):
            driver.get(page.url + path)
            sideways = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert sideways <= 0, (path, width, sideways)
            assert accessibility_problems(driver) == [], (path, width, language)
        driver.delete_all_cookies()
        driver.get(page.url + "/signin")
        assert driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert accessibility_problems(driver) == []
        problems = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
        assert problems == []
    finally:
        driver.quit()
