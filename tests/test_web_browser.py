"""The export page in a real browser: headless Chromium driven by Selenium through Debian's chromedriver,
from the sign-in form to the downloaded zip, which must hold the same files as `run` from the shell.

The HTTP-level tests (test_web.py) cannot see what only a browser does: follow the form's redirects,
run progress.js under the Content-Security-Policy, open the run page when the export ends, and save
a download. Without chromium and chromedriver the test is skipped, except under CI=true, where it
fails: .ci/run installs them.
"""

from __future__ import annotations

import os
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import TODAY
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from webpage import PASSWORD, serve_page, shell_export

from jobs.lock import run_lock
from jobs.sandbox import ACCOUNTING_CLIENT

MONTH = ("2026-10-01", "2026-10-31")
LEDGER = "302321"
WAIT = 20  # seconds: a ceiling for each step, not a pause; every wait ends as soon as its condition holds


def browser_programs() -> tuple[str, str]:
    """chromium and chromedriver on PATH; else a skip, or under CI a failure."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        what = " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} not on PATH under CI=true: .ci/run installs chromium and chromium-driver "
                        "with apt-get before make test; run it, or install them", pytrace=False)  # fmt: skip
        pytest.skip(f"{what} not on PATH: apt-get install chromium chromium-driver (under CI=true this fails)")
    return found["chromium"], found["chromedriver"]


def chrome(downloads: Path, *, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """Headless Chromium that saves downloads into `downloads` without asking and keeps the console log."""
    chromium, chromedriver = browser_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # given, so Selenium Manager never looks for (or downloads) a browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--lang=en-US"):  # fmt: skip
        options.add_argument(argument)  # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
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
def nightly_run(page):
    """Holds the run lock, as the nightly job would, until released: the export waits on its progress page."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with run_lock(Path(f"{page.state_path}.lock"), wait=False):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    yield release
    release.set()
    holder.join()


def sign_in(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url + "/")
    WebDriverWait(driver, WAIT).until(seen.url_contains("/signin"))
    driver.find_element(By.NAME, "user").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    button = driver.find_element(By.CSS_SELECTOR, "form.narrow button[type=submit]")
    button.click()
    WebDriverWait(driver, WAIT).until(seen.staleness_of(button))


def type_date(field, iso: str) -> None:
    """A date typed as a person would, in the en-US field order month, day, year."""
    year, month, day = iso.split("-")
    field.clear()  # the form proposes last month: what the test types must be what is sent
    assert field.get_attribute("value") == ""
    field.send_keys(month, day, year)
    assert field.get_attribute("value") == iso


def downloaded(folder: Path, name: str) -> Path | None:
    """The file once Chromium has finished writing it (until then it is a .crdownload beside it)."""
    path = folder / name
    busy = any(p.suffix == ".crdownload" for p in folder.iterdir())
    return path if path.is_file() and not busy else None


def test_an_accountant_signs_in_exports_a_month_and_downloads_the_zip(page, browser, downloads, nightly_run, run_cli,
                                                                      use_sandbox, sandbox):  # fmt: skip
    wait = WebDriverWait(browser, WAIT)
    sign_in(browser, page.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Ledgers"

    browser.find_element(By.LINK_TEXT, "Export").click()
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Export a period"))
    ledger = browser.find_element(By.CSS_SELECTOR, f"input[name=ledger][value='{LEDGER}']")
    assert not ledger.is_selected()
    ledger.click()
    assert ledger.is_selected()
    for name, iso in zip(("from", "to"), MONTH, strict=True):
        type_date(browser.find_element(By.NAME, name), iso)
    browser.find_element(By.ID, "start").click()

    # The nightly run holds the lock: the progress page must come up and its script report the wait.
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "Waiting behind another run"))
    assert "/jobs/" in browser.current_url
    nightly_run.set()
    wait.until(seen.url_contains("/runs/"))  # only progress.js leaves the progress page
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Run 1: ok"))
    zip_link = browser.find_element(By.ID, "zip")
    assert zip_link.text == f"Download all ({62 * 3} files) as one zip"
    zip_link.click()
    archive = zipfile.ZipFile(wait.until(lambda _: downloaded(downloads, "report-export-run-1.zip")))
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
    assert browser.find_element(By.TAG_NAME, "h1").text == "Ledgers", browser.find_element(By.TAG_NAME, "main").text
