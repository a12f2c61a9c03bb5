"""open_report: the one door to the writers, which picks a report file's writer by its format's name."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from jobs.chart_of_accounts import Chart
from jobs.entries import COLUMNS, GDPR_COLUMNS
from jobs.formats.base import ReportFile
from jobs.formats.camt053 import StatementFile
from jobs.formats.csv import CsvFile
from jobs.formats.gbat10 import VoucherFile
from jobs.formats.xlsx import EXCEL_ROW_LIMIT, XlsxFile
from jobs.presets import STANDARD, CsvFormat

FORMATS = ("csv", "xlsx")  # entry lists, for every topic
BOOKKEEPING = ("gbat10", "camt053")  # vouchers and statements made of the entries (topic funds)


def open_report(
    fmt: str,
    path: Path,
    *,
    mode: int = 0o600,
    sheet_row_limit: int = EXCEL_ROW_LIMIT,
    csv_format: CsvFormat = STANDARD,
    timezone: ZoneInfo | None = None,
    gdpr: bool = False,
    chart: Chart | None = None,
    iban: str | None = None,
    heading: str = "",
) -> ReportFile:
    """Start a report at `path` (created only on commit) in format `fmt`.

    `timezone` is the ledger's. CSV: `csv_format` says what the file shows (its columns, GDPR ones
    included, come from it); presets that show local time need `timezone`. XLSX: `gdpr` adds the
    GDPR columns after the standard ones; `time` is shown in `timezone` (UTC if None); `heading`
    (the ledger, topic and dates) tops every printed page. GBAT10 vouchers post to the ledger's
    `chart` (jobs.formats.gbat10); a camt.053 statement (jobs.formats.camt053) states its period in
    `timezone` from the chart's cutoff hour, and names the account by `iban` (the ledger's id without one).
    The Vipps settlement report is written per payout, not per date (jobs.settlements opens it).
    """
    if fmt == "csv":
        return CsvFile(path, mode, csv_format, timezone)
    if fmt == "xlsx":
        columns = COLUMNS + GDPR_COLUMNS if gdpr else COLUMNS
        return XlsxFile(path, mode, sheet_row_limit, columns, timezone or ZoneInfo("UTC"), heading)
    if fmt == "gbat10":
        return VoucherFile(path, mode, chart)
    if fmt == "camt053":
        return StatementFile(path, mode, timezone, chart, iban)
    raise ValueError(f"unknown report format {fmt!r}, expected one of {FORMATS + BOOKKEEPING}")
