"""A run's files: only those the run recorded, under its folder, and listed in their manifest.

A download names a run and a file's place in that run's list, never a path: nothing from the request
is joined to the file system. A file is sent only from the folder its run wrote into (the output
folder, or a page export's own folder under [web] exports) and only if its manifest lists it with the
same SHA-256, so a file changed or replaced since the run is refused, not served. A page export's
files are kept [web] keep_days (jobs.web.export_jobs); after that its links say it has expired. The zip is
streamed file by file. A HEAD request sends nothing and is not recorded as a download.
"""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, g, request, send_file
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext

from jobs.manifest import SUFFIX, listed_files, manifest_path, sha256
from jobs.output import format_of
from jobs.state.runs import Run
from jobs.web.language import day
from jobs.web.site import Web, the_web

blueprint = Blueprint("downloads", __name__)
CHUNK = 256 * 1024
# One download per purpose, each a zip with the manifests of its files; the format each one holds.
PURPOSES = {
    "spreadsheets": "xlsx",
    "vouchers": "gbat10",
    "statements": "camt053",
    "settlements": "vipps-xml",
    "csv": "csv",
}
EVERYTHING = "everything"


def purpose_of(path: Path) -> str | None:
    fmt = format_of(path)
    return next((purpose for purpose, held in PURPOSES.items() if held == fmt), None)


def own_folder(web: Web, run: Run) -> Path | None:
    """The folder of its own a page export wrote into; None for a run that wrote into the output folder."""
    out = Path((run.request or {}).get("out") or "/")
    return out if out.parent == web.settings.web.exports.absolute() else None


def kept_until(web: Web, run: Run) -> dt.datetime | None:
    """Until when a page export's files are kept; None: not a page export, or still running."""
    if own_folder(web, run) is None or not run.ended_at:
        return None
    return dt.datetime.fromisoformat(run.ended_at) + dt.timedelta(days=web.settings.web.keep_days)


def expired(web: Web, run: Run) -> bool:
    until = kept_until(web, run)
    return until is not None and dt.datetime.fromtimestamp(web.now(), dt.UTC) >= until


@dataclass(frozen=True)
class RunFile:
    """One of a run's files as the page lists it: its place in the list, where it is, its name under the run's
    folder, the manifest that lists it, and why it may not be sent (a key of PROBLEMS), if it may not."""

    n: int
    path: Path
    name: str
    manifest: Path | None
    problem: str | None


def run_files(web: Web, run: Run, *, only: int | None = None) -> list[RunFile]:
    """Every file of the run with its manifests, in a fixed order, each marked whether it can be sent.
    With `only`, just that file is checked: sending one file hashes that file, not the whole run."""
    reports = list(run.files)
    # One manifest lists every format of a date, named after the first of them: find each report's
    # digest in whichever of its folder's manifests lists it.
    listings = {m: listing(m) for m in {manifest_path(p) for p in reports} if m.is_file()}
    listed: dict[Path, str] = {}
    for manifest, entries in listings.items():
        listed.update({manifest.parent / name: digest for name, digest in (entries or {}).items()})
    out = os.path.realpath(own_folder(web, run) or web.settings.out)
    files: list[RunFile] = []
    lister = {manifest.parent / name: manifest for manifest, entries in listings.items() for name in entries or {}}
    for n, path in enumerate(sorted({*reports, *listings}, key=str)):
        real = os.path.realpath(path)
        name = os.path.relpath(real, out) if real.startswith(out + os.sep) else path.name
        checked = only is None or n == only
        files.append(
            RunFile(n, path, name, lister.get(path), problem(path, real, out, listed, listings) if checked else None)
        )
    return files


# Why a file may not be sent: a key the page shows in her words.
PROBLEMS = {
    "outside": lazy_gettext("it is not in the folder its export wrote"),
    "gone": lazy_gettext("it is no longer there"),
    "manifest": lazy_gettext("its manifest cannot be read"),
    "unlisted": lazy_gettext("it is in no manifest"),
    "changed": lazy_gettext("it was changed after it was written"),
}


def problem(
    path: Path, real: str, out: str, listed: dict[Path, str], listings: dict[Path, dict[str, str] | None]
) -> str | None:
    """Why this file may not be sent (a key of PROBLEMS), or None."""
    if not real.startswith(out + os.sep):
        return "outside"
    if path.is_symlink() or not path.is_file():
        return "gone"
    if path.name.endswith(SUFFIX):
        return None if listings.get(path) is not None else "manifest"
    if path not in listed:
        return "unlisted"
    if listed[path] != sha256(path):
        return "changed"
    return None


def listing(manifest: Path) -> dict[str, str] | None:
    try:
        return {entry["name"]: entry["sha256"] for entry in listed_files(manifest)}
    except (OSError, ValueError):
        return None


def the_run_files(run_id: int, only: int | None = None) -> tuple[Web, list[RunFile]]:
    web = the_web()
    with web.state(read_only=True) as state:
        run = state.runs.get(run_id)
    if run is None:
        abort(404, gettext("No such export."))
    until = kept_until(web, run)
    if until is not None and expired(web, run):
        abort(
            410,
            gettext(
                "This export has expired: the page keeps the files of each export for %(days)s days, "
                "and these expired on %(date)s. Export the period again.",
                days=web.settings.web.keep_days,
                date=day(until.date()),
            ),
        )
    return web, run_files(web, run, only=only)


@blueprint.route("/runs/<int:run_id>/files/<int:n>")
def download(run_id: int, n: int) -> ResponseReturnValue:
    web, files = the_run_files(run_id, only=n)
    if not 0 <= n < len(files):
        abort(404, gettext("This export has no such file."))
    file = files[n]
    if file.problem:
        abort(
            410,
            gettext(
                "%(name)s cannot be downloaded: %(problem)s. Export the period again.",
                name=file.name,
                problem=PROBLEMS[file.problem],
            ),
        )
    if request.method == "GET":  # HEAD asks whether it is there: nothing is downloaded
        with web.state() as state:
            state.runs.audit(g.user, "download", run_id, file.name)
    response = send_file(
        file.path, as_attachment=True, download_name=file.path.name, conditional=False, etag=False, max_age=0
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/runs/<int:run_id>/zip")
def download_zip(run_id: int) -> ResponseReturnValue:
    """The run's files of one purpose (?purpose=spreadsheets, vouchers, statements, csv) with their manifests,
    or all of them."""
    purpose = request.args.get("purpose", EVERYTHING)
    if purpose != EVERYTHING and purpose not in PURPOSES:
        abort(404, gettext("There is no such download."))
    web, files = the_run_files(run_id)
    ready = [file for file in files if not file.problem]
    if purpose != EVERYTHING:
        chosen = [file for file in ready if purpose_of(file.path) == purpose]
        manifests = {file.manifest for file in chosen}
        ready = chosen + [file for file in ready if file.path in manifests]
    if not ready:
        abort(410, gettext("None of these files can be downloaded any more. Export the period again."))
    if request.method == "GET":
        with web.state() as state:
            state.runs.audit(g.user, "download", run_id, f"{purpose} zip of {len(ready)} files")
    response = Response(zipped(sorted(ready, key=lambda file: file.name)), mimetype="application/zip")
    name = f"report-export-run-{run_id}" + ("" if purpose == EVERYTHING else f"-{purpose}")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    response.headers["Cache-Control"] = "no-store"
    return response


class Chunks:
    """A write-only stream zipfile writes into; the response takes what was written so far."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zipped(files: list[RunFile]) -> Iterator[bytes]:
    """The files as one zip, a chunk at a time: memory stays flat whatever the run wrote."""
    stream = Chunks()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            info = zipfile.ZipInfo(file.name, date_time=modified(file.path))
            info.compress_type = zipfile.ZIP_DEFLATED
            with file.path.open("rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield stream.take()
    yield stream.take()


def modified(path: Path) -> tuple[int, int, int, int, int, int]:
    return dt.datetime.fromtimestamp(path.stat().st_mtime).timetuple()[:6]
