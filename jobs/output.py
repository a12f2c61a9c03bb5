"""The files of one ledger date, or of a period: writers, summary, checks, manifest.

Rows stream from the API's pages into every format at once (and into the period
files of a --combine run), while a DateSummary adds the date up. Only a closed
date whose pages all arrived is committed; its manifest is written last, after
the files it describes are in place.

The bookkeeping formats (GBAT10 vouchers, camt.053 statements) are per topic funds:
the fees topic gets the other formats, and a run asked for bookkeeping formats
alone leaves fees out; a voucher also books the same date's fees entries, fetched
for it. They are proven (jobs.proof) before anything is committed, and a date
without entries gets neither: nothing moved, and no balance is known. One that
cannot be written (its chart lacks a key, its balances do not add up, or an entry
says it belongs to another ledger date than the one asked for) waits: it is left
out, its reason returned, and the date's other files are written. A date's
manifest is named after the first format the run asked for, so a waiting file
written later joins the manifest of its date (write_manifest(..., merge=True)).

Text the API sends never stops a date: a lone surrogate (which no file can hold)
is written as U+FFFD, counted in the summary and the manifest, and named in a
warning (``read_page``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jobs.api import ReportApi
from jobs.chart_of_accounts import Chart, Charts
from jobs.entries import EntryError, Row, replace_lone_surrogates, to_row
from jobs.errors import ConfigError, OutputError, ProtocolError, Unreconciled, UsageError
from jobs.formats.base import ReportFile
from jobs.formats.open import BOOKKEEPING as BOOKKEEPING  # re-exported: the feed may not import the door
from jobs.formats.open import FORMATS, open_report
from jobs.formats.proof import NEVER_WRITTEN, BookkeepingFile
from jobs.manifest import describe, manifest_path, write_manifest
from jobs.merchants import Merchant
from jobs.presets import CsvFormat
from jobs.reconcile import DateSummary

log = logging.getLogger(__name__)
ZONES = {"NO": "Europe/Oslo", "DK": "Europe/Copenhagen", "FI": "Europe/Helsinki"}
CURRENCY_COUNTRY = {"NOK": "NO", "DKK": "DK", "EUR": "FI"}  # Vipps MobilePay's EUR merchants are Finnish
# File name part and suffix per format: <ledgerId>_<part>_<label>.<suffix>; the others use the topic and format.
FILE_NAMES = {"gbat10": ("vouchers", "csv"), "camt053": ("camt053", "xml"), "vipps-xml": ("settlement", "xml")}
# Written per payout after the run's dates, not per date (jobs.settlements); for topic funds, with fees joined.
SETTLEMENTS = ("vipps-xml",)


@dataclass(frozen=True)
class Output:
    out: Path
    formats: tuple[str, ...]
    mode: int
    csv_format: CsvFormat
    gdpr: bool
    sheet_row_limit: int
    strict: bool
    api_base_url: str
    charts: Charts | None = None  # [accounts], [clients], [ledgers]: how each ledger is booked
    merchants: Mapping[str, Merchant] = field(default_factory=dict)  # [merchants], for the Vipps settlement XML

    def open(self, fmt: str, path: Path, ledger: Ledger, heading: str = "") -> ReportFile:
        return open_report(
            fmt,
            path,
            mode=self.mode,
            sheet_row_limit=self.sheet_row_limit,
            csv_format=self.csv_format,
            timezone=ledger.zone,
            gdpr=self.gdpr,
            chart=ledger.chart,
            iban=ledger.iban,
            heading=heading,
        )

    def formats_for(self, topic: str) -> tuple[str, ...]:
        """In one order whatever the command line's, so a set of formats always gets the same manifest name."""
        usable = FORMATS + (BOOKKEEPING if topic == "funds" else ())
        return tuple(fmt for fmt in usable if fmt in self.formats)


@dataclass(frozen=True)
class Ledger:
    """What one ledger's files need besides its entries."""

    id: str
    zone: ZoneInfo
    chart: Chart | None = None  # None: no [accounts], [clients] or [ledgers] at all
    iban: str | None = None  # the payout account's, which its statement names
    skip: frozenset[str] = frozenset()  # formats it gets none of: vouchers in a currency its client's books are not


@dataclass(frozen=True)
class Retry:
    """Files of an exported date that wait (jobs.state), written on their own into their folder."""

    formats: tuple[str, ...]  # the waiting ones
    planned: tuple[str, ...]  # every format of the run that found them: the first names the date's manifest
    out: Path


@dataclass(frozen=True)
class Written:
    summary: DateSummary
    digests: dict[Path, str]  # every file written, its manifest last
    waiting: dict[str, str]  # format -> why it is not written
    formats: tuple[str, ...]  # the formats tried: those not waiting were written (or had no entries)
    planned: tuple[str, ...]  # every format of the run: the first names the date's manifest
    out: Path


def usable_topics(output: Output, topics: tuple[str, ...]) -> tuple[str, ...]:
    """The topics that get a file in a format asked for; says once which formats a topic does not get."""
    if "gbat10" in output.formats and not (output.charts and output.charts.any):
        source = output.charts.source if output.charts else "config.toml"
        raise ConfigError(
            f"--format gbat10 needs an [accounts] table in {source}: copy the example from the "
            "committed config.toml and change it to your chart of accounts"
        )
    skipped = [f for f in output.formats if f in BOOKKEEPING + SETTLEMENTS]
    if skipped and "fees" in topics:
        log.info(
            "%s: written for topic funds only; fees dates get %s",
            " and ".join(skipped),
            " and ".join(output.formats_for("fees")) or "no file this run",
        )
    settled = any(f in SETTLEMENTS for f in output.formats)  # its funds dates are read even when no other file is
    usable = tuple(topic for topic in topics if output.formats_for(topic) or (settled and topic == "funds"))
    if not usable:
        raise UsageError(
            f"--format {' and '.join(skipped)} is written for topic funds only: add --topic funds, "
            "or --format csv or xlsx for fees"
        )
    return usable


def owner(ledger: dict[str, Any]) -> str:
    """The ledger's client: its owner's organisation number, as the API gives it."""
    return str((ledger.get("owner") or {}).get("id", ""))


def ledger_zone(ledger: dict[str, Any], default: ZoneInfo) -> ZoneInfo:
    """The ledger's local time zone: from its owner's country, else its currency, else the configured one."""
    scheme = str((ledger.get("owner") or {}).get("scheme", ""))  # e.g. business:NO:ORG
    country = scheme.split(":")[1] if scheme.count(":") >= 2 else CURRENCY_COUNTRY.get(ledger.get("currency", ""))
    return ZoneInfo(ZONES[country]) if country in ZONES else default


def format_of(path: Path) -> str | None:
    """The format a report file was written in, read back from its name (report_path's rule); None: a manifest
    or another file."""
    ledger_id = path.parent.parent.name
    for fmt, (part, suffix) in FILE_NAMES.items():
        if path.name.startswith(f"{ledger_id}_{part}_") and path.suffix == f".{suffix}":
            return fmt
    return path.suffix[1:] if path.suffix[1:] in FORMATS else None


def report_path(out: Path, ledger_id: str, topic: str, label: str, fmt: str) -> Path:
    part, suffix = FILE_NAMES.get(fmt, (topic, fmt))
    path = out / ledger_id / topic / f"{ledger_id}_{part}_{label}.{suffix}"
    # Belt and braces after check_identifier, on the text alone: resolve() would cost a syscall
    # per folder level for every file of a run.
    if not Path(os.path.normpath(path)).is_relative_to(os.path.normpath(out)):
        raise ProtocolError(f"ledger {ledger_id[:40]!r}: its file name would leave the output folder; refused")
    return path


def read_page(items: list[dict[str, Any]], ledger_id: str, summary: DateSummary) -> list[Row]:
    """A page's rows, added to `summary`; lone surrogates in its text become U+FFFD and are counted there."""
    summary.replaced += replace_lone_surrogates(items)
    rows = [to_row(entry, ledger_id) for entry in items]
    for entry in items:
        summary.add(entry)
    return rows


def warn_replaced(what: str, summary: DateSummary) -> None:
    if summary.replaced:
        log.warning(
            "%s: the API sent %d character(s) that are not valid Unicode (lone surrogates); written as U+FFFD "
            "(\ufffd), counted in the manifest's replacedCharacters",
            what,
            summary.replaced,
        )


def write_date(
    api: ReportApi,
    output: Output,
    ledger: Ledger,
    topic: str,
    date: dt.date,
    run_id: int,
    also: Sequence[ReportFile] = (),
    retry: Retry | None = None,
) -> Written | None:
    """Files and manifest of a closed date, with their SHA-256; None (and no file) when the date is open.
    With `retry`, only the formats waiting, into the folder and manifest of the run that found them."""
    what = f"ledger {ledger.id} {topic} {date}"
    planned = retry.planned if retry else output.formats_for(topic)
    out = retry.out if retry else output.out
    formats = [fmt for fmt in (retry.formats if retry else planned) if fmt not in ledger.skip]
    paths = [report_path(out, ledger.id, topic, date.isoformat(), fmt) for fmt in formats]
    summary = DateSummary(ledger.id, topic, date)
    heading = f"Ledger {ledger.id} {topic} {date}"
    with file_errors(what, out), ExitStack() as stack:
        reports = [stack.enter_context(output.open(f, p, ledger, heading)) for f, p in zip(formats, paths, strict=True)]
        if not fetch(api, output, ledger.id, topic, date, summary, [*reports, *also]):
            return None  # open: the writers abort on the way out
        warn_replaced(what, summary)
        waiting = prove(reports, [summary], what)
        reports = keep_bookkeeping([r for r in reports if r.path.name not in waiting], what)
        if not summary.ok:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in summary.checks if not c.ok)
            if output.strict or any(c.name in NEVER_WRITTEN for c in summary.checks if not c.ok):
                why = "--strict" if output.strict else "a voucher that does not balance is never written"
                raise Unreconciled(f"{what} does not reconcile ({failed}); no file written ({why})")
            log.warning("%s does not reconcile: %s (files written; --strict refuses them)", what, failed)
        for report in reports:
            report.commit([summary], sync_folder=False)  # the manifest, written last, syncs the folder
        digests = {}
        if reports:  # none, when the run asked for settlements only (jobs.settlements writes those after the dates)
            manifest = manifest_path(report_path(out, ledger.id, topic, date.isoformat(), planned[0]))
            digests = write_manifest(
                reports,
                describe([summary], closed=True),
                api_base_url=output.api_base_url,
                run_id=run_id,
                mode=output.mode,
                path=manifest,
                merge=retry is not None,
            )
    waits = {fmt: why for fmt, why in waiting.items() if fmt in formats}
    return Written(summary, digests, waits, tuple(formats), tuple(planned), out)


def fetch(
    api: ReportApi,
    output: Output,
    ledger_id: str,
    topic: str,
    date: dt.date,
    summary: DateSummary,
    reports: Sequence[ReportFile],
) -> bool:
    """The date's pages into every report; a voucher also gets the date's fees entries. False: not closed."""
    for page in api.date_pages(ledger_id, topic, date, gdpr=output.gdpr):
        if page.try_later:
            return False
        rows = read_page(page.items, ledger_id, summary)
        elsewhere = next((row for row in rows if row.ledgerDate != date), None)
        for report in reports:
            if elsewhere is not None and isinstance(report, BookkeepingFile):
                report.waiting = (
                    f"the API sent an entry ({elsewhere.pspReference}) whose ledgerDate is "
                    f"{elsewhere.ledgerDate}, on the page of {date}: no voucher or statement books "
                    "a guess; ask Vipps MobilePay, then export the date again"
                )
            report.write(rows)
    vouchers = [r for r in reports if hasattr(r, "write_fees")]
    if vouchers:
        summary.fees = DateSummary(ledger_id, "fees", date)
        for page in api.date_pages(ledger_id, "fees", date, gdpr=False):
            if page.try_later:
                return False
            rows = read_page(page.items, ledger_id, summary.fees)
            for voucher in vouchers:
                voucher.write_fees(rows)
    return True


def prove(reports: Sequence[ReportFile], summaries: list[DateSummary], what: str) -> dict[str, str]:
    """Prove the bookkeeping files; those that wait are aborted and named. Returns {format: why} of those,
    each also under its file name (so callers can leave it out). Proofs of the others join the last date's."""
    waiting: dict[str, str] = {}
    for report in reports:
        if not isinstance(report, BookkeepingFile) or not report.has_entries:
            continue  # nothing moved: no file to wait for
        proofs = report.proofs(summaries)
        if why := report.hold_back(proofs):
            waiting[report.format] = waiting[report.path.name] = why
            log.error("waiting: %s: no %s: %s", what, report.format, why)
            report.abort()
        else:
            summaries[-1].proofs += proofs
    return waiting


def keep_bookkeeping(reports: list[ReportFile], what: str) -> list[ReportFile]:
    """The reports to commit: a voucher or statement only for entries (the others are abandoned)."""
    empty = [r for r in reports if isinstance(r, BookkeepingFile) and not r.has_entries]
    for report in empty:
        report.abort()
    if empty:
        log.debug("%s: no entries, so no %s (nothing moved)", what, " and ".join(r.path.name for r in empty))
    return [r for r in reports if r not in empty]


class PeriodFiles:
    """One file per format for a whole --from/--to period of a ledger and topic; only if every date closed."""

    def __init__(self, output: Output, ledger: Ledger, topic: str, first: dt.date, last: dt.date):
        self.output, self.what = output, f"ledger {ledger.id} {topic} {first}..{last}"
        label = f"{first.isoformat()}_{last.isoformat()}"
        formats = [fmt for fmt in output.formats_for(topic) if fmt not in ledger.skip]
        paths = [report_path(output.out, ledger.id, topic, label, fmt) for fmt in formats]
        heading = f"Ledger {ledger.id} {topic} {first} to {last}"
        with file_errors(self.what, output.out):
            self.reports = [output.open(fmt, path, ledger, heading) for fmt, path in zip(formats, paths, strict=True)]
        self.summaries: list[DateSummary] = []
        self.missing: str | None = None
        self.failed: str | None = None  # why a file of the period was refused: its balances do not add up

    def skip(self, why: str) -> None:
        """A date of the period is not exported: the period file would be incomplete."""
        if self.missing is None:
            self.missing = why
            self.abort()

    def abort(self) -> None:
        for report in self.reports:
            report.abort()

    def commit(self, run_id: int) -> list[Path]:
        if self.missing is not None:
            log.warning("no period file for %s: %s", self.what, self.missing)
            return []
        with file_errors(self.what, self.output.out):
            content = describe(self.summaries, closed=True)
            reports = self._proven(keep_bookkeeping(self.reports, self.what), content)
            for report in reports:
                report.commit(self.summaries, sync_folder=False)
            if not reports:
                return []
            digests = write_manifest(
                reports, content, api_base_url=self.output.api_base_url, run_id=run_id, mode=self.output.mode
            )
        return list(digests)

    def _proven(self, reports: list[ReportFile], content: dict[str, Any]) -> list[ReportFile]:
        """The period's vouchers and statement proven against its dates: across dates too, a statement's
        opening balance plus its entries must give its closing one, or it is not written, and the run fails
        (a period is not queued: run it again once the API's balances add up). A voucher that waits for a key
        of its chart waits with its dates. A failure is in the manifest; under --strict, or for a voucher
        that does not balance, that file is not written either."""
        period = "..".join(content["dates"])
        kept = []
        for report in reports:
            if not isinstance(report, BookkeepingFile):
                kept.append(report)
                continue
            earlier = report.waiting  # a key its chart lacks: named with its dates already
            proofs = report.proofs(self.summaries)
            content["checks"] += [{"date": period, "name": c.name, "ok": c.ok, "detail": c.detail} for c in proofs]
            failed = "; ".join(f"{c.name}: {c.detail}" for c in proofs if not c.ok)
            refused = failed and (self.output.strict or any(c.name in NEVER_WRITTEN for c in proofs if not c.ok))
            if report.hold_back(proofs) or refused:
                why = earlier or failed
                (log.warning if earlier else log.error)("no %s for %s: %s", report.path.name, self.what, why)
                if not earlier:
                    self.failed = f"{self.what}: no {report.path.name}: {why}"
                report.abort()
                continue
            if failed:
                log.warning(
                    "%s does not reconcile: %s (%s written; --strict refuses it)", self.what, failed, report.path.name
                )
            kept.append(report)
        return kept


@contextmanager
def file_errors(what: str, out: Path) -> Iterator[None]:
    """Turn what can go wrong while writing into the errors the run reports."""
    try:
        yield
    except EntryError as exc:
        raise ProtocolError(f"{what}: {exc}") from None
    except OSError as exc:
        raise OutputError(
            f"cannot write {what} under {out}: {exc.strerror or exc}; check --out and free space"
        ) from None
