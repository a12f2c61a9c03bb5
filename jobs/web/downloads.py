"""A run's files: only those the run recorded, under its folder, and listed in their manifest.

A download names a run and a file's place in that run's list, never a path: nothing from the request
is joined to the file system. A file is sent only from the folder its run wrote into (the output
folder, or a page export's own folder under [web] exports) and only if its manifest lists it with the
same SHA-256, so a file changed or replaced since the run is refused, not served. A page export's
files are kept [web] keep_days (jobs.web.exports); after that its links say it has expired. The zip is
streamed file by file. A HEAD request sends nothing and is not recorded as a download.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Response, abort, g, request, send_file

from jobs.manifest import SUFFIX, listed_files, manifest_path, sha256
from jobs.web.app import Web, the_web

blueprint = Blueprint("downloads", __name__)
CHUNK = 256 * 1024
PAYOUTS = {"payout-scheduled", "scheduled-for-payout", "payout-aborted"}
FEES = {"fees-retained"}
FEE_TOPIC_SETTLED = {"fees-retained", "fees-invoiced"}  # on topic fees: what settles the fees


def own_folder(web: Web, run: dict) -> Path | None:
    """The folder of its own a page export wrote into; None for a run that wrote into the output folder."""
    out = Path((run["request"] or {}).get("out") or "/")
    return out if out.parent == web.settings.web.exports.absolute() else None


def kept_until(web: Web, run: dict) -> dt.datetime | None:
    """Until when a page export's files are kept; None: not a page export, or still running."""
    if own_folder(web, run) is None or not run["endedAt"]:
        return None
    return dt.datetime.fromisoformat(run["endedAt"]) + dt.timedelta(days=web.settings.web.keep_days)


def expired(web: Web, run: dict) -> bool:
    until = kept_until(web, run)
    return until is not None and dt.datetime.fromtimestamp(web.now(), dt.UTC) >= until


def run_files(web: Web, run: dict, *, only: int | None = None) -> list[dict]:
    """Every file of the run with its manifests, in a fixed order, each marked whether it can be sent.
    With `only`, just that file is checked: sending one file hashes that file, not the whole run."""
    reports = [Path(p) for p in run["files"]]
    # One manifest lists every format of a date, named after the first of them: find each report's
    # digest in whichever of its folder's manifests lists it.
    listings = {m: listing(m) for m in {manifest_path(p) for p in reports} if m.is_file()}
    listed: dict[Path, str] = {}
    for manifest, entries in listings.items():
        listed.update({manifest.parent / name: digest for name, digest in (entries or {}).items()})
    out = os.path.realpath(own_folder(web, run) or web.settings.out)
    files = []
    for n, path in enumerate(sorted({*reports, *listings}, key=str)):
        real = os.path.realpath(path)
        name = os.path.relpath(real, out) if real.startswith(out + os.sep) else path.name
        checked = only is None or n == only
        files.append({"n": n, "path": path, "name": name,
                      "problem": problem(path, real, out, listed, listings) if checked else None})  # fmt: skip
    return files


def problem(path: Path, real: str, out: str, listed: dict[Path, str], listings: dict) -> str | None:
    """Why this file may not be sent, or None."""
    if not real.startswith(out + os.sep):
        return "not under the run's folder"
    if path.is_symlink() or not path.is_file():
        return "no longer there"
    if path.name.endswith(SUFFIX):
        return None if listings.get(path) is not None else "its manifest cannot be read"
    if path not in listed:
        return "in no manifest"
    if listed[path] != sha256(path):
        return "changed since it was written"
    return None


def listing(manifest: Path) -> dict[str, str] | None:
    try:
        return {entry["name"]: entry["sha256"] for entry in listed_files(manifest)}
    except (OSError, ValueError):
        return None


def the_run_files(run_id: int, only: int | None = None) -> tuple[Web, list[dict]]:
    web = the_web()
    with web.state(read_only=True) as state:
        runs = state.recent_runs(1, run_id=run_id)
    if not runs:
        abort(404, "No such run.")
    if expired(web, runs[0]):
        until = kept_until(web, runs[0])
        abort(410, f"This export has expired: the page keeps the files of each export for {web.settings.web.keep_days}"
                   f" days, and these expired on {until:%Y-%m-%d}. Export the period again.")  # fmt: skip
    return web, run_files(web, runs[0], only=only)


@blueprint.route("/runs/<int:run_id>/files/<int:n>")
def download(run_id: int, n: int):
    web, files = the_run_files(run_id, only=n)
    if not 0 <= n < len(files):
        abort(404, "This run has no such file.")
    file = files[n]
    if file["problem"]:
        abort(410, f"{file['name']} cannot be downloaded: {file['problem']}. Export the period again.")
    if request.method == "GET":  # HEAD asks whether it is there: nothing is downloaded
        with web.state() as state:
            state.audit(g.user, "download", run_id, file["name"])
    response = send_file(file["path"], as_attachment=True, download_name=file["path"].name, conditional=False,
                         etag=False, max_age=0)  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/runs/<int:run_id>/zip")
def download_zip(run_id: int):
    web, files = the_run_files(run_id)
    ready = [file for file in files if not file["problem"]]
    if not ready:
        abort(410, "None of this run's files can be downloaded any more. Export the period again.")
    if request.method == "GET":
        with web.state() as state:
            state.audit(g.user, "download", run_id, f"zip of {len(ready)} files")
    response = Response(zipped(ready), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="report-export-run-{run_id}.zip"'
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

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zipped(files: list[dict]) -> Iterator[bytes]:
    """The files as one zip, a chunk at a time: memory stays flat whatever the run wrote."""
    stream = Chunks()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            info = zipfile.ZipInfo(file["name"], date_time=modified(file["path"]))
            info.compress_type = zipfile.ZIP_DEFLATED
            with file["path"].open("rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield stream.take()
    yield stream.take()


def modified(path: Path) -> tuple[int, int, int, int, int, int]:
    return dt.datetime.fromtimestamp(path.stat().st_mtime).timetuple()[:6]


def reconciliation(files: list[dict]) -> list[dict]:
    """Per ledger and topic, the period's movements from the per-date manifests of the run's files."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for file in files:
        if not file["name"].endswith(SUFFIX) or file["problem"]:
            continue
        content = json.loads(file["path"].read_text(encoding="utf-8"))
        if content.get("dates", [None])[0] != content.get("dates", [None, None])[-1]:
            continue  # a --combine period file: its dates are already counted one by one
        groups.setdefault((content["ledgerId"], content["topic"]), []).append(content)
    rows = []
    for (ledger_id, topic), days in sorted(groups.items()):
        days.sort(key=lambda d: d["dates"][0])
        sums: dict[str, int] = {}
        for day in days:
            for entry_type, amount in day["sums"].items():
                sums[entry_type] = sums.get(entry_type, 0) + amount
        settled = PAYOUTS if topic == "funds" else FEE_TOPIC_SETTLED
        fees = FEES if topic == "funds" else {t for t in sums if t not in FEE_TOPIC_SETTLED}
        named = {"capture", "refund"} | settled | fees
        failed = [f"{c['date']} {c['name']}" for day in days for c in day["checks"] if not c["ok"]]
        rows.append({
            "ledgerId": ledger_id, "topic": topic, "currency": days[0].get("currency", ""),
            "first": days[0]["dates"][0], "last": days[-1]["dates"][0], "dates": len(days),
            # A date without entries has no balance of its own: the nearest date with one speaks for it.
            "opening": next((d["openingBalance"] for d in days if d["openingBalance"] is not None), None),
            "closing": next((d["closingBalance"] for d in reversed(days) if d["closingBalance"] is not None), None),
            "captures": sums.get("capture", 0), "refunds": sums.get("refund", 0),
            "fees": sum(sums.get(t, 0) for t in fees), "payouts": sum(sums.get(t, 0) for t in settled),
            "other": sum(amount for t, amount in sums.items() if t not in named), "failed": failed,
        })  # fmt: skip
    return rows
