"""The one place that wires plan -> pages -> rows -> files.

A ledger date gets its files only when the API calls it closed; open (tryLater)
and unavailable (404) dates are named in the result and leave no file behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jobs.api import ReportApi
from jobs.auth import TokenAuth
from jobs.config import Settings
from jobs.entries import EntryError, to_row
from jobs.errors import NotAvailable, OutputError, ProtocolError
from jobs.retry import Retrier
from jobs.writers import open_report

log = logging.getLogger(__name__)
PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Unit:
    ledger_id: str
    topic: str
    date: dt.date

    def __str__(self) -> str:
        return f"ledger {self.ledger_id} {self.topic} {self.date}"


@dataclass
class Result:
    written: list[tuple[Unit, int]] = field(default_factory=list)  # (unit, rows)
    files: list[Path] = field(default_factory=list)
    open: list[Unit] = field(default_factory=list)
    unavailable: list[tuple[Unit, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.open and not self.unavailable


@contextmanager
def connect(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[ReportApi, TokenAuth]]:
    """An API client with one token for the whole run."""
    credentials = settings.require_credentials()
    auth = TokenAuth(
        credentials, settings.token_url, timeout=settings.timeout, headers=dict(settings.system_headers), clock=clock
    )
    with httpx.Client(
        base_url=settings.base_url,
        auth=auth,
        headers=dict(settings.system_headers),
        timeout=settings.timeout,
        follow_redirects=False,
    ) as client:
        yield ReportApi(client, Retrier(settings.retry, clock=clock, sleep=sleep)), auth


def check_identifier(ledger_id: str) -> str:
    """Ledger ids become folder and file names: refuse anything but a plain identifier."""
    if not PLAIN_ID.fullmatch(ledger_id):
        raise ProtocolError(f"the API sent ledger id {ledger_id[:40]!r}, which is not a plain identifier; refused")
    return ledger_id


def report_path(out: Path, unit: Unit, fmt: str) -> Path:
    name = f"{unit.ledger_id}_{unit.topic}_{unit.date.isoformat()}.{fmt}"
    path = out / unit.ledger_id / unit.topic / name
    if not path.resolve().is_relative_to(out.resolve()):  # belt and braces after check_identifier
        raise ProtocolError(f"{unit}: file name would leave the output folder; refused")
    return path


def export(api: ReportApi, units: Iterable[Unit], settings: Settings, formats: tuple[str, ...], out: Path) -> Result:
    result = Result()
    for unit in units:
        try:
            rows = export_unit(api, unit, formats, out, settings.file_mode, result)
        except NotAvailable as exc:
            log.warning("unavailable: %s", exc)
            result.unavailable.append((unit, str(exc)))
            continue
        if rows is None:
            log.warning("open: %s is not closed yet (tryLater); no file written, run again later", unit)
            result.open.append(unit)
        else:
            log.info("written: %s, %d rows", unit, rows)
            result.written.append((unit, rows))
    return result


def export_unit(
    api: ReportApi, unit: Unit, formats: tuple[str, ...], out: Path, mode: int, result: Result
) -> int | None:
    """Write the files of one closed ledger date; None (and no file) when it is open."""
    paths = [report_path(out, unit, fmt) for fmt in formats]
    try:
        with ExitStack() as stack:
            reports = [
                stack.enter_context(open_report(fmt, path, mode=mode)) for fmt, path in zip(formats, paths, strict=True)
            ]
            for page in api.date_pages(unit.ledger_id, unit.topic, unit.date):
                if page.try_later:
                    return None  # open: the writers abort on the way out
                rows = [to_row(entry, unit.ledger_id) for entry in page.items]
                for report in reports:
                    report.write(rows)
            counts = [report.commit() for report in reports]
    except EntryError as exc:
        raise ProtocolError(f"{unit}: {exc}") from None
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape cannot be UTF-8
        raise ProtocolError(f"{unit}: the API sent text that is not valid Unicode; no file written") from None
    except OSError as exc:
        raise OutputError(
            f"cannot write {unit} under {out}: {exc.strerror or exc}; check --out and free space"
        ) from None
    result.files.extend(paths)
    return counts[0] if counts else 0


def dates(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan(ledger_ids: Iterable[str], topics: Iterable[str], days: Iterable[dt.date]) -> list[Unit]:
    """Ledger by ledger, date by date, so a ledger's files are complete early in a long run."""
    topics, days = tuple(topics), tuple(days)
    return [Unit(ledger, topic, day) for ledger in ledger_ids for day in days for topic in topics]
