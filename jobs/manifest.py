"""Manifests: a JSON file beside each set of report files that says what they hold.

Anyone can later check that a file is final (closed), complete (row count, sums,
checks) and untouched (SHA-256): `report-export verify DIR`. Files are named
relative to the manifest's folder, so a folder can be moved or archived whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs import __version__
from jobs.formats.base import ReportFile
from jobs.formats.spill import fsync_folder, write_atomically
from jobs.reconcile import DateSummary

SUFFIX = ".manifest.json"
REPORT_SUFFIXES = (".csv", ".xlsx", ".xml")  # GBAT10 vouchers are .csv, camt.053 statements .xml


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def manifest_path(report: Path) -> Path:
    """`.../302321_funds_2026-11-19.csv` -> `.../302321_funds_2026-11-19.manifest.json`."""
    return report.with_name(report.stem + SUFFIX)


def describe(summaries: list[DateSummary], *, closed: bool) -> dict[str, Any]:
    """What a set of files holds: one ledger date, a period, or a feed batch."""
    first, last = summaries[0], summaries[-1]
    sums: dict[str, int] = {}
    for summary in summaries:
        for entry_type, amount in summary.sums.items():
            sums[entry_type] = sums.get(entry_type, 0) + amount
    return {
        "ledgerId": first.ledger_id,
        "topic": first.topic,
        "dates": [first.date.isoformat(), last.date.isoformat()],
        "closed": closed,
        "rows": sum(s.entries for s in summaries),
        "currency": next((s.currency for s in summaries if s.currency), ""),
        "openingBalance": first.opening,
        "closingBalance": last.closing,
        "sums": dict(sorted(sums.items())),  # minor units, per entry type
        "replacedCharacters": sum(s.replaced for s in summaries),  # lone surrogates written as U+FFFD
        "checks": [
            {"date": s.date.isoformat(), "name": c.name, "ok": c.ok, "detail": c.detail}
            for s in summaries
            for c in s.checks
        ],
    }


def write_manifest(
    reports: Sequence[ReportFile],
    content: dict[str, Any],
    *,
    api_base_url: str,
    run_id: int,
    mode: int,
    path: Path | None = None,
    merge: bool = False,
) -> dict[Path, str]:
    """Write the manifest of `reports` (committed) atomically; returns the SHA-256 of each file and its own.
    `path`: the manifest's (default: beside the first report). `merge`: keep what the manifest at `path`
    lists and checks besides these reports (a file that waited, written later, joins its date's manifest)."""
    path = path or manifest_path(reports[0].path)
    files = [{"name": r.path.name, "bytes": r.size, "sha256": r.sha256} for r in reports]
    if merge:
        old = _readable(path)
        names, checks = {f["name"] for f in files}, {(c["date"], c["name"]) for c in content["checks"]}
        files = [f for f in old.get("files", []) if f.get("name") not in names] + files
        content = {
            **content,
            "checks": [c for c in old.get("checks", []) if (c.get("date"), c.get("name")) not in checks]
            + content["checks"],
        }
    document = {
        "tool": "report-export",
        "toolVersion": __version__,
        "apiBaseUrl": api_base_url,
        "runId": run_id,
        **content,
        "files": files,
    }
    digest = write_atomically(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(), mode)
    fsync_folder(path.parent)  # one sync makes this rename and the report files' renames durable
    return {**{r.path: r.sha256 for r in reports}, path: digest}


def _readable(path: Path) -> dict[str, Any]:
    """A manifest to merge into; {} if there is none (or it cannot be read: it is replaced)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


@dataclass(frozen=True)
class Finding:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def listed_files(manifest: Path) -> list[dict[str, str]]:
    """The manifest's `files`, each a plain file name beside it and a SHA-256; ValueError says what is wrong."""
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    entries = content.get("files") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise ValueError('no "files" list, so it is not a report-export manifest')
    for entry in entries:
        name, digest = (entry.get("name"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f'a file without a plain "name": {str(entry)[:80]}')
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError(f'{name} has no "sha256" digest')
    return entries


def verify(folder: Path) -> tuple[int, int, list[Finding]]:
    """Check every manifest under `folder`; returns (manifests, files checked, findings)."""
    findings: list[Finding] = []
    covered: set[Path] = set()
    manifests = sorted(folder.rglob("*" + SUFFIX))
    for manifest in manifests:
        try:
            entries = listed_files(manifest)
        except (OSError, ValueError) as exc:
            findings.append(Finding(manifest, f"unreadable manifest: {exc}"))
            continue
        for entry in entries:
            path = manifest.parent / entry["name"]
            covered.add(path)
            if not path.is_file():
                findings.append(Finding(path, "missing"))
            elif sha256(path) != entry["sha256"]:
                findings.append(Finding(path, "changed since it was written (SHA-256 differs from its manifest)"))
    for path in sorted(folder.rglob("*")):
        if path.suffix in REPORT_SUFFIXES and not path.name.startswith(".") and path not in covered:
            findings.append(Finding(path, "not in any manifest"))
    return len(manifests), len(covered), findings
