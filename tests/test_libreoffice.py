"""A round trip through LibreOffice: a workbook as a spreadsheet application shows it and saves it again.

Skipped, saying why, where LibreOffice is not installed: it is too large for `make test` to install.
With it (e.g. `apt-get install libreoffice-calc-nogui`), one workbook is converted headless, in a
LibreOffice profile of its own, to CSV of the text each cell shows and to XLSX as LibreOffice writes
it; both are read back with the csv module, openpyxl and pandas. Expected values are written out by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from jobs.entries import Row
from jobs.formats.open import open_report
from jobs.reconcile import DateSummary

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# Elsewhere it may skip, saying why; in CI (.ci/run installs it) it must run.
pytestmark = pytest.mark.skipif(
    SOFFICE is None and os.environ.get("CI") != "true",
    reason="LibreOffice is not installed (no soffice on PATH): the round trip through it is skipped; "
    "install it (e.g. apt-get install libreoffice-calc-nogui) to run it",
)
# Identifiers a spreadsheet turns into numbers or dates when it opens a CSV, and text it could run.
REFERENCES = ["0302399", "00123", "12345678901234567890", "1/2", "line one\nline two", "=1+1"]
# Field separator 44 (comma), text delimiter 34 ("), UTF-8 (76), from line 1, then: cells as shown
# (the 9th token) and every sheet (-1), each to its own file.
SHOWN_AS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("libreoffice")
    source = folder / "day.xlsx"
    rows = [
        Row(
            "0302399",
            dt.date(2026, 11, 20),
            f"2026-11-20T07:19:2{n}.5Z",
            "capture",
            f"0302399-{2000000 + n}",
            reference,
            "",
            "NOK",
            Decimal("499.00"),
            Decimal("-0.05"),
            Decimal("12345678901.23"),
        )
        for n, reference in enumerate(REFERENCES)
    ]
    with open_report("xlsx", source, timezone=ZoneInfo("Europe/Oslo"), heading="Ledger 0302399 funds 2026-11-20") as r:
        r.write(rows)
        r.commit([DateSummary("0302399", "funds", dt.date(2026, 11, 20))])
    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing in CI: .ci/run installs libreoffice-calc-nogui")
    profile = (folder / "profile").as_uri()  # its own: never the user's, never another run's
    for target, out in ((SHOWN_AS_CSV, "shown"), ("xlsx:Calc MS Excel 2007 XML", "saved")):
        subprocess.run(
            [
                SOFFICE,
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                target,
                "--outdir",
                str(folder / out),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return folder


def test_libreoffice_shows_identifiers_as_written_and_time_in_the_ledgers_zone(converted: Path) -> None:
    with (converted / "shown" / "day-entries.csv").open(encoding="utf-8", newline="") as file:
        header, *lines = list(csv.reader(file))

    assert header[:3] == ["ledgerId", "ledgerDate", "time"]
    assert [line[:3] for line in lines] == [
        ["0302399", "2026-11-20", f"2026-11-20 08:19:2{n}"] for n in range(len(REFERENCES))
    ]  # Oslo is UTC+1 in November; the half second is not shown
    assert [line[4:6] for line in lines] == [[f"0302399-{2000000 + n}", text] for n, text in enumerate(REFERENCES)]
    assert {tuple(line[8:]) for line in lines} == {("499.00", "-0.05", "12345678901.23")}


def test_libreoffice_keeps_cells_and_print_setup_when_it_saves(converted: Path) -> None:
    path = converted / "saved" / "day.xlsx"
    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == ["summary", "entries"]
        entries = book["entries"]
        cells = list(entries.iter_rows(min_row=2))
        assert [(row[0].value, row[0].data_type) for row in cells] == [("0302399", "s")] * len(REFERENCES)
        assert [(row[5].value, row[5].data_type) for row in cells] == [(text, "s") for text in REFERENCES]
        assert [row[5].alignment.wrap_text for row in cells] == [text == "line one\nline two" for text in REFERENCES]
        assert [row[2].value for row in cells] == [dt.datetime(2026, 11, 20, 8, 19, 20 + n) for n in range(6)]
        assert entries.print_title_rows == "$1:$1"
        for sheet in book.worksheets:
            setup = sheet.page_setup
            assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == ("landscape", 9, 1, 0)
            assert sheet.sheet_properties.pageSetUpPr.fitToPage
            assert sheet.oddHeader.left.text == "Ledger 0302399 funds 2026-11-20"
            assert sheet.oddFooter.left.text == "Times in Europe/Oslo"
    finally:
        book.close()
    frame = pd.read_excel(path, sheet_name="entries", dtype=str, keep_default_na=False)
    assert frame["reference"].tolist() == REFERENCES
    assert frame["ledgerId"].tolist() == ["0302399"] * len(REFERENCES)
