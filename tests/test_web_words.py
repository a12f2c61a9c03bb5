"""The page speaks her language: Norwegian first, English on request, dates and amounts as she writes them,
the trade's words explained, technical words for IT only; and the catalogue is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from conftest import TODAY
from webpage import exported, finish, serve_page, start_export

from jobs.sandbox import ACCOUNTING_CLIENT

WEB = Path(__file__).parent.parent / "jobs" / "web"
CATALOGUE = WEB / "translations" / "nb" / "LC_MESSAGES" / "messages.po"


@pytest.fixture
def page(sandbox, fake_time, workdir):
    env = {"VIPPS_CLIENT_ID": ACCOUNTING_CLIENT[0], "VIPPS_CLIENT_SECRET": ACCOUNTING_CLIENT[1]}
    yield from serve_page(workdir, sandbox, fake_time, TODAY, env)


def visible(html: str) -> str:
    """The text she sees: no tags, nothing inside <details> (that is for IT), no attribute values."""
    html = re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize(
    "asked, heading",
    [
        (None, "Oversikt"),
        ("nb-NO,nb;q=0.9", "Oversikt"),
        ("no", "Oversikt"),
        ("nn-NO", "Oversikt"),
        ("en-GB,en;q=0.8", "Overview"),
        ("de-DE,en;q=0.5", "Overview"),
        ("de-DE", "Oversikt"),
    ],
)
def test_the_language_follows_the_browser_norwegian_first(page, asked, heading):
    with page.signed_in(language=asked or "") as client:
        shown = client.get("/").text
    assert f"<h1>{heading}</h1>" in shown
    assert f'<html lang="{"nb" if heading == "Oversikt" else "en"}">' in shown


def test_she_switches_the_language_on_the_page_and_it_stays(page):
    with page.signed_in(language="nb-NO") as client:
        switch = re.search(r'href="(/language/en\?next=/runs)"', client.get("/runs").text).group(1)
        moved = client.get(switch)
        assert moved.status_code == 302 and moved.headers["location"] == "/runs"
        assert "<h1>History</h1>" in client.get("/runs").text  # the cookie beats the browser's Norwegian
        client.get("/language/nb?next=//evil.example")
        assert "<h1>Historikk</h1>" in client.get("/runs").text
        assert client.get("/language/xx").status_code == 302  # unknown: nothing changes
        assert "<h1>Historikk</h1>" in client.get("/runs").text
    with page.client(language="nb") as anonymous:  # the sign-in page offers it too
        assert 'href="/language/en?next=/signin"' in anonymous.get("/signin").text


def test_dates_and_amounts_are_written_as_she_writes_them(page):
    with page.signed_in(language="nb-NO") as client:
        run_url = exported(client)["runUrl"]
        norwegian = client.get(run_url).text
    with page.signed_in(language="en") as client:
        english = client.get(run_url).text
    assert "01.10.2026 til 31.10.2026" in norwegian and "01/10/2026 to 31/10/2026" in english
    captures_nb = re.search(r'data-category="captures">([^<]+)<', norwegian).group(1)
    captures_en = re.search(r'data-category="captures">([^<]+)<', english).group(1)
    assert re.fullmatch(r"\d{1,3}(\u00a0\d{3})*,\d\d", captures_nb), captures_nb  # 1 234 567,89
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", captures_en), captures_en  # 1,234,567.89
    assert captures_nb.replace("\u00a0", "").replace(",", ".") == captures_en.replace(",", "")


def test_the_trades_words_are_explained_and_technical_ones_kept_for_it(page):
    with page.signed_in(language="nb") as client:
        form = client.get("/export").text
        for words in (
            "Oppgjør (funds)",
            "Gebyrer (fees)",
            "Regneark for folk (XLSX)",
            "Bilag for Tripletex, PowerOffice og Visma (GBAT10)",
            "Kontoutskrift for bankavstemming (camt.053)",
            "CSV for importverktøy",
            "Norge (semikolon, desimalkomma)",
            "Danmark (semikolon, desimalkomma)",
            "Finland (semikolon, desimalkomma)",
        ):
            assert words in form
        run = client.get(exported(client)["runUrl"]).text
        pages = [form, run, client.get("/").text, client.get("/runs").text]
    for shown in pages:
        seen = visible(shown)
        for technical in ("pid ", "VIPPS_", "--ledger", "--from", "ok (0)", "exit ", "gbat10", "camt053", "preset"):
            assert technical not in seen, (technical, seen[:2000])


def test_a_failed_export_says_what_happened_and_what_to_do_in_plain_words(page, sandbox):
    sandbox.add_fault("500:path=/dates/,count=0")  # Vipps MobilePay keeps failing
    with page.signed_in(language="nb") as client:
        started = start_export(client, period=("2026-10-01", "2026-10-01"), topics=("funds",))
        progress = finish(client, started.headers["location"])
        assert progress["status"] == "failed" and progress["runUrl"]
        assert progress["failure"].startswith("Vipps MobilePay svarte ikke som ventet")
        shown = client.get(progress["runUrl"]).text
    assert "Mislyktes" in shown
    assert "Vipps MobilePay svarte ikke som ventet, eller en dato gikk ikke opp. Prøv igjen senere" in shown
    details = re.search(r"<details><summary>Detaljer for IT</summary>(.*?)</details>", shown, re.S).group(1)
    assert "500" in details and "500" not in visible(shown)


def test_the_norwegian_catalogue_translates_every_text_of_the_page():
    found = {
        message[2] if isinstance(message[2], str) else tuple(message[2])
        for message in extract_from_dir(
            str(WEB),
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            keywords={"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)},
        )
    }
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source)
    translated = {
        message.id if isinstance(message.id, str) else tuple(message.id): message for message in catalogue if message.id
    }
    assert found - translated.keys() == set(), "texts without a Norwegian translation"
    assert translated.keys() - found == set(), "translations of texts the page no longer has"
    for key, message in translated.items():
        assert message.string and all(message.string) and not message.fuzzy, key
        assert re.findall(r"%\(\w+\)s", str(key)) == re.findall(r"%\(\w+\)s", str(message.string)), key


def test_the_installed_catalogue_is_compiled_from_the_committed_one():
    """The .mo is made when the project is installed (setup.py); reinstall (make) after changing the .po."""

    def texts(catalogue) -> dict:
        def plain(text):
            return text if isinstance(text, str) else tuple(text)

        return {plain(m.id): plain(m.string) for m in catalogue if m.id}

    with CATALOGUE.open("rb") as source:
        written = texts(read_po(source))
    with CATALOGUE.with_suffix(".mo").open("rb") as source:
        compiled = texts(read_mo(source))
    assert compiled == written


def test_the_servers_own_errors_are_in_her_words_too(page):
    with page.signed_in(language="nb") as client:
        missing, method = client.get("/nowhere"), client.get("/signout")
    assert missing.status_code == 404 and "Siden finnes ikke. Sjekk adressen" in missing.text
    assert method.status_code == 405 and "Siden kan ikke brukes slik" in method.text
    assert "Not Found" not in missing.text and "Method Not Allowed" not in method.text
