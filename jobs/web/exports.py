"""The ledgers page, the export form, exports running in the background, their progress and history.

An export is a thread running runner.execute, the same code as `report-export run --from --to`,
with the same lock: behind the nightly run it waits (and says so), and while it runs, cron and
the command line queue or skip exactly as they do for each other. Closing the browser stops nothing.

Each export writes into a folder of its own under [web] exports, never into the output folder the
nightly run and the bookkeeping imports read, and records nothing the catch-up reads (see
export.Request.records_dates): two accountants exporting the same dates with other choices each get
their own files. A folder is kept unchanged for [web] keep_days after its export ended, then removed;
from then on its links say that it has expired.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for

from jobs import config, export, runner
from jobs.errors import ReportExportError
from jobs.presets import PRESETS
from jobs.web.app import Web, the_web
from jobs.web.downloads import expired, kept_until, own_folder, reconciliation, run_files

log = logging.getLogger("jobs")
blueprint = Blueprint("exports", __name__)


@dataclass
class Job:
    """One export started from the page, from submit to its run's end."""

    id: str
    user: str
    request: dict
    status: str = "queued"  # queued, waiting (behind another run), running, finished, failed
    holder: str = ""  # who held the lock while this one waited
    done: int = 0
    total: int = 0
    ledger: str = ""
    run_id: int | None = None
    code: int | None = None
    message: str = ""
    api: object = field(default=None, repr=False)

    def view(self) -> dict:
        return {
            "status": self.status, "holder": self.holder, "done": self.done, "total": self.total,
            "ledger": self.ledger, "retries": self.api.retrier.retries if self.api else 0, "runId": self.run_id,
            "message": self.message,
            "runUrl": url_for("exports.run_page", run_id=self.run_id) if self.run_id else None,
        }  # fmt: skip


class Exports:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.jobs: dict[str, Job] = {}
        self.threads: list[threading.Thread] = []

    def folder(self) -> tuple[str, Path]:
        """A new export's id and the folder of its own its files go to."""
        job_id = secrets.token_urlsafe(12)  # letters, digits, '-' and '_': a plain folder name
        return job_id, (self.web.settings.web.exports / job_id).absolute()

    def start(self, job_id: str, user: str, request: export.Request) -> Job:
        web = self.web
        self.remove_expired()
        job = Job(job_id, user, runner.describe_request(request))

        def watch(done: int, total: int, ledger: str) -> None:
            job.done, job.total, job.ledger = done, total, ledger

        def waiting(holder: str) -> None:
            job.status, job.holder = "waiting", holder

        def started(run_id: int) -> None:
            job.run_id, job.status = run_id, "running"
            with web.state() as state:
                state.audit(user, "export", run_id, describe_period(job.request))

        body = runner.export_period(web.settings, request, web.day(), web.context, watch=watch)

        def with_api(api, state, run_id):
            job.api = api  # for its retry count
            return body(api, state, run_id)

        def work() -> None:
            try:
                finished = runner.execute(
                    "run", "web", web.settings, with_api, out=request.output.out, context=web.context,
                    state_path=web.state_path, wait=True, user=user, request=job.request,
                    on_wait=waiting, on_start=started, today=web.day(),
                )  # fmt: skip
                job.code, job.message, job.status = finished.code, finished.summary, "finished"
            except ReportExportError as exc:
                job.code, job.message, job.status = exc.exit_code, str(exc), "failed"
            except Exception as exc:  # a bug: the page says so; the log has the traceback
                log.exception("export %s failed", job.id)
                job.code, job.message, job.status = 70, f"internal error: {type(exc).__name__}", "failed"

        self.jobs[job.id] = job
        thread = threading.Thread(target=work, name=f"web-export-{job.id}", daemon=False)
        self.threads.append(thread)
        thread.start()
        return job

    def join(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def remove_expired(self) -> None:
        """The folders of page exports that ended more than [web] keep_days ago."""
        web = self.web
        with web.state(read_only=True) as state:
            runs = state.recent_runs(None, trigger="web")
        for run in runs:
            folder = own_folder(web, run)
            if folder is not None and expired(web, run) and folder.is_dir():
                shutil.rmtree(folder)
                log.info("web: removed %s, the files of run %d, kept %d days", folder, run["id"],
                         web.settings.web.keep_days)  # fmt: skip


@blueprint.route("/")
def ledgers():
    web = the_web()
    listing = web.ledgers.listing()
    return render_template("ledgers.html", ledgers=with_progress(web, listing.ledgers), listing=listing)


def with_progress(web: Web, listed: list[dict]) -> list[dict]:
    """The ledgers as last seen, with what the state knows of each: last exported date, pending dates, warnings."""
    with web.state(read_only=True) as state:
        known = state.overview(web.day(), web.settings.warn_after_days)
    latest = max((ledger["seenAt"] for ledger in listed), default=None)
    listed = [dict(ledger) for ledger in listed]
    ids = {ledger["ledgerId"] for ledger in listed}
    for ledger_id in dict.fromkeys(row["ledgerId"] for row in known if row["ledgerId"] not in ids):
        listed.append({"ledgerId": ledger_id, "owner": "", "currency": "", "salesUnits": "", "payoutAccount": "",
                       "seenAt": None})  # fmt: skip
    for ledger in listed:
        topics = [row for row in known if row["ledgerId"] == ledger["ledgerId"]]
        ledger["lastExported"] = max((row["lastExported"] or "" for row in topics), default="") or None
        ledger["pending"] = [{**p, "topic": row["topic"]} for row in topics for p in row["pending"]]
        warnings = [f"not readable since {row['withdrawnAt']}" for row in topics[:1] if row["withdrawnAt"]]
        if ledger["seenAt"] and ledger["seenAt"] != latest:
            warnings.append(f"not listed by Vipps MobilePay since {ledger['seenAt']}")
        warnings += [f"{p['date']} {p['topic']} overdue ({p['ageDays']} days)"
                     for p in ledger["pending"] if p["overdue"]]  # fmt: skip
        warnings += [f"{row['topic']} {day}: reconciliation failed" for row in topics for day in row["checksFailed"]]
        ledger["warnings"] = warnings
    return listed


@blueprint.route("/export", methods=["GET", "POST"])
def export_form():
    web = the_web()
    day = web.day()
    last_month_end = day.replace(day=1) - dt.timedelta(days=1)
    defaults = {"from": last_month_end.replace(day=1).isoformat(), "to": last_month_end.isoformat(),
                "topics": list(web.settings.topics), "formats": list(web.settings.formats),
                "preset": web.settings.csv_preset, "ledgers": request.args.getlist("ledger"),
                "combine": False}  # fmt: skip
    choices = {"topics": config.TOPICS, "formats": config.FORMATS, "presets": PRESETS}
    if request.method == "GET":
        listing = web.ledgers.listing()
        return render_template("export.html", form=defaults, choices=choices, listing=listing, error=None)
    form = {"from": request.form.get("from", ""), "to": request.form.get("to", ""),
            "topics": request.form.getlist("topic"), "formats": request.form.getlist("format"),
            "preset": request.form.get("preset", ""), "ledgers": [x for x in request.form.getlist("ledger") if x],
            "combine": request.form.get("combine") == "on"}  # fmt: skip
    job_id, folder = web.exports.folder()
    try:
        wanted = parse_form(form, web, day, folder)
    except ValueError as exc:  # only now the ledger list: a valid form goes straight to the export
        listing = web.ledgers.listing()
        return render_template("export.html", form=form, choices=choices, listing=listing, error=str(exc)), 400
    job = web.exports.start(job_id, g.user, wanted)
    return redirect(url_for("exports.job_page", job_id=job.id), code=303)


def parse_form(form: dict, web: Web, day: dt.date, out: Path) -> export.Request:
    """The form's choices as an export into `out`, or ValueError saying what to fix."""
    try:
        first, last = dt.date.fromisoformat(form["from"]), dt.date.fromisoformat(form["to"])
    except ValueError:
        raise ValueError("Give the period as two dates, YYYY-MM-DD.") from None
    if first > last:
        raise ValueError(f"The period starts ({first}) after it ends ({last}): swap the dates.")
    if last > day:
        raise ValueError(f"{last} is in the future (today is {day}): the API has no report for it yet.")
    if (last - first).days > 366:
        raise ValueError("Choose at most a year at a time.")
    topics = [t for t in form["topics"] if t in config.TOPICS]
    formats = [f for f in form["formats"] if f in config.FORMATS]
    if not topics or not formats or form["preset"] not in PRESETS:
        raise ValueError("Choose at least one topic and one format, and a CSV preset.")
    if not form["ledgers"] or not all(export.PLAIN_ID.fullmatch(lid) for lid in form["ledgers"]):
        raise ValueError("Choose at least one ledger.")
    output = runner.output_for(web.settings, out=out, formats=tuple(formats), csv_preset=form["preset"])
    return export.Request(first, last, tuple(dict.fromkeys(form["ledgers"])), tuple(topics), output,
                          combine=form["combine"], records_dates=False)  # fmt: skip


@blueprint.route("/jobs/<job_id>")
def job_page(job_id: str):
    job = the_web().exports.jobs.get(job_id)
    if job is None:
        abort(404, "No such export is running here (the server may have restarted): see the history.")
    if job.run_id is not None and job.status in ("finished", "failed"):
        return redirect(url_for("exports.run_page", run_id=job.run_id))
    return render_template("job.html", job=job, period=describe_period(job.request))


@blueprint.route("/jobs/<job_id>/progress")
def job_progress(job_id: str):
    job = the_web().exports.jobs.get(job_id)
    if job is None:
        abort(404, "No such export.")
    return jsonify(job.view())


@blueprint.route("/runs/<int:run_id>")
def run_page(run_id: int):
    web = the_web()
    with web.state(read_only=True) as state:
        runs = state.recent_runs(1, run_id=run_id)
        if not runs:
            abort(404, "No such run.")
        run = runs[0]
        pending = run["left"] if run["left"] is not None else state.left_pending(run_id)
        audit = state.audit_of_run(run_id)
    gone = expired(web, run)
    files = [] if gone else run_files(web, run)
    return render_template("run.html", run=run, files=files, pending=pending, audit=audit, expired=gone,
                           kept_until=kept_until(web, run), checks=reconciliation(files),
                           period=describe_period(run["request"]))  # fmt: skip


@blueprint.route("/runs")
def history():
    with the_web().state(read_only=True) as state:
        runs = state.recent_runs(100)
        for run in runs:
            run["downloads"] = [a["user"] for a in state.audit_of_run(run["id"]) if a["action"] == "download"]
    return render_template("runs.html", runs=runs, describe=describe_period)


def describe_period(request: dict | None) -> str:
    """Everything that shaped a run's files, in one line for the history and the run's page."""
    if not request:
        return "catch-up through yesterday"
    period = f"{request['from']} to {request['to']}" if request.get("from") else "catch-up through yesterday"
    ledgers = ", ".join(request.get("ledgers") or ["every ledger"])
    shape = [", ".join(request["formats"])]
    if "csv" in request["formats"]:
        shape.append(f"CSV preset {request.get('csvPreset', 'standard')}")
    if request.get("combine"):
        shape.append("also one file for the whole period")
    return f"{period}; {ledgers}; {' and '.join(request['topics'])}; {'; '.join(shape)}"
