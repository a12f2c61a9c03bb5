"""The README's pictures of the export page, in Norwegian as an accountant sees it: docs/web-overview.png (the
overview after a quarter of nightly runs), docs/web-export.png (the form, filled) and docs/web-result.png (the
run page after the export: its downloads and the reconciliation).

Run by hand, not by the tests; it needs chromium and chromium-driver, as tests/test_web_browser.py does:

    .venv/bin/python docs/screenshots.py

In a temporary folder it starts the sandbox (`report-export sandbox`) and the page (`report-export serve`)
as the README does, runs the catch-up for the quarter before (so the overview has something to show),
adds a user, signs in with headless Chromium in Norwegian, fills the export form, exports, and captures
each page whole at 1280 CSS pixels wide and scale 1. optipng shrinks the PNGs when it is installed (apt-get
install optipng).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from jobs.sandbox import ACCOUNTING_CLIENT

DOCS = Path(__file__).resolve().parent
# The sandbox's day is this machine's, so the page's "last month" and the 90 days the nightly runs have exported
# (NIGHTLY_FROM to yesterday) are closed whatever day the script runs on.
TODAY = dt.date.today()
NIGHTLY_FROM, NIGHTLY_TO = str(TODAY - dt.timedelta(days=90)), str(TODAY - dt.timedelta(days=1))
USER, PASSWORD = "kari", "screenshots only, not a real one"
WAIT = 30  # seconds: a ceiling per step, never a pause


def report_export(*argv: str) -> list[str]:
    return [sys.executable, "-m", "jobs", *argv]


@contextmanager
def process(argv: list[str], folder: Path, env: dict[str, str], name: str, ready: str) -> Iterator[re.Match]:
    """A subprocess with its output in folder/name.log, once that log matches `ready`; stopped afterwards."""
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        child = subprocess.Popen(argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + WAIT
        while not (found := re.search(ready, log.read_text(errors="replace"))):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(argv[2:])} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield found
    finally:
        child.terminate()  # SIGTERM: both stop as from Ctrl-C
        child.wait(WAIT)


@contextmanager
def page_on_a_sandbox(folder: Path) -> Iterator[str]:
    """`report-export sandbox` and `report-export serve` in `folder` (no config.toml there), with one user;
    yields the page's address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIPPS_")}
    with ExitStack() as stack:
        api = stack.enter_context(
            process(
                report_export("sandbox", "--port", "0", "--today", str(TODAY)),
                folder,
                env,
                "sandbox",
                r"listening on (http://\S+)",
            )
        )
        env.update(
            VIPPS_BASE_URL=api[1], VIPPS_CLIENT_ID=ACCOUNTING_CLIENT[0], VIPPS_CLIENT_SECRET=ACCOUNTING_CLIENT[1]
        )
        subprocess.run(
            report_export("run", "--from", NIGHTLY_FROM, "--to", NIGHTLY_TO),
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            report_export("users", "add", USER, "--password-stdin"),
            cwd=folder,
            env=env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        page = stack.enter_context(
            process(report_export("serve", "--port", "0"), folder, env, "serve", r"report-export serve: (http://\S+)/ ")
        )
        yield page[1]


def chrome(downloads: Path, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """Headless Chromium with the options of tests/test_web_browser.py."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--lang=nb-NO",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "intl.accept_languages": "nb-NO,nb",
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    return driver


def sign_in(driver: webdriver.Chrome, url: str) -> None:
    driver.get(url + "/")
    wait = WebDriverWait(driver, WAIT)
    wait.until(seen.url_contains("/signin"))
    driver.find_element(By.NAME, "user").send_keys(USER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.narrow button[type=submit]").click()
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Oversikt"))


def fill_export_form(driver: webdriver.Chrome, url: str, ledgers: list[str]) -> None:
    """Last month (preselected) for the chosen ledgers."""
    driver.get(url + "/export")
    WebDriverWait(driver, WAIT).until(seen.presence_of_element_located((By.ID, "start")))
    driver.find_element(By.CSS_SELECTOR, "input[name=scope][value=chosen]").click()
    for ledger in ledgers:
        driver.find_element(By.CSS_SELECTOR, f"input[name=ledger][value='{ledger}']").click()
    driver.execute_script("document.activeElement.blur()")  # no focus ring in the picture


def export_and_wait(driver: webdriver.Chrome, poll: float = 0.5) -> None:
    """Press Export; return once progress.js has opened the run page and its zip link is there."""
    driver.find_element(By.ID, "start").click()
    wait = WebDriverWait(driver, WAIT, poll_frequency=poll)
    wait.until(seen.url_contains("/runs/"))
    wait.until(seen.presence_of_element_located((By.ID, "zip")))


def capture(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, not only the window, at scale 1 (small files); then optipng if there is one."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o5", "-strip", "all", str(path)], check=True)
    print(f"{path}: {size['width']:.0f} x {size['height']:.0f}, {path.stat().st_size // 1024} KB")


def console_problems(driver: webdriver.Chrome) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", action="append", help="ledger to export (repeatable; default 302321)")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go (default: docs/)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report-export-screenshots-") as tmp:
        folder = Path(tmp)
        with page_on_a_sandbox(folder) as url:
            driver = chrome(folder / "downloads", width=args.width)
            try:
                sign_in(driver, url)
                capture(driver, args.out / "web-overview.png")
                fill_export_form(driver, url, args.ledger or ["302321"])
                capture(driver, args.out / "web-export.png")
                export_and_wait(driver)
                capture(driver, args.out / "web-result.png")
                if problems := console_problems(driver):
                    print(f"the browser's console: {problems}", file=sys.stderr)
                    return 1
            finally:
                driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
