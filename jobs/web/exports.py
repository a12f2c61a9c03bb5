"""The export form, exports running in the background, their live progress, and stopping one.

An export is a thread running runner.execute, the same code as `report-export run --from --to`,
with the same lock: behind the nightly run it waits (and says so), and while it runs, cron and
the command line queue or skip exactly as they do for each other. Closing the browser stops nothing;
the Stop button does, after the ledger date in progress (files are written whole or not at all).

Each export writes into a folder of its own under [web] exports, never into the output folder the
nightly run and the bookkeeping imports read, and records nothing the catch-up reads (see
RunRequest.records_dates): two accountants exporting the same dates with other choices each get
their own files. A folder is kept unchanged for [web] keep_days after its export ended, then removed;
from then on its links say that it has expired.

Progress is a request that waits: the page asks "anything after version N?" and is answered the
moment something changes (or after WAIT_SECONDS), so the run page opens as soon as the export ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from jobs import config, export, runner
from jobs.api import ReportApi
from jobs.errors import ReportExportError
from jobs.presets import PRESETS
from jobs.request import RunRequest, request_for
from jobs.web import language
from jobs.web.downloads import expired, own_folder
from jobs.web.ledgers import Listing
from jobs.web.overview import merchant
from jobs.web.runs import describe
from jobs.web.site import Web, the_web

log = logging.getLogger("jobs")
blueprint = Blueprint("exports", __name__)
LARGE_EXPORT = 3000  # ledger dates: above this the form asks her to confirm (e.g. 50 ledgers, a month, 2 topics)
WAIT_SECONDS = 15  # a progress request waits at most this long for news
WAITERS = 4  # progress requests waiting at once; more are answered at once (waitress has 8 threads)
PERIODS = ("last-month", "this-month", "month", "range")
SCOPES = ("chosen", "merchant", "all")
Form = dict[str, Any]  # the export form's fields, as read (read_form) or proposed (defaults)


@dataclass
class Job:
    """One export started from the page, from submit to its run's end."""

    id: str
    request: RunRequest
    status: str = "queued"  # queued, waiting (behind another run), running, stopping, finished, failed
    holder: str = ""  # who held the lock while this one waited (for IT)
    done: int = 0
    total: int = 0
    ledger: str = ""
    run_id: int | None = None
    code: int | None = None
    message: str = ""  # the engine's last line, for IT
    started: float | None = None  # time.monotonic() when it began to run
    stopped_by: str = ""  # who pressed Stop
    version: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    api: ReportApi | None = field(default=None, repr=False)

    def update(self, **changes: object) -> None:
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1
            self.changed.notify_all()

    def wait(self, seen: int, seconds: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.version > seen, seconds)

    def view(self) -> dict[str, object]:
        remaining = None
        if self.started is not None and 0 < self.done < self.total:
            remaining = round((time.monotonic() - self.started) / self.done * (self.total - self.done))
        return {
            "version": self.version,
            "status": self.status,
            "statusText": status_text(self),
            "done": self.done,
            "total": self.total,
            "ledger": self.ledger,
            "remaining": remaining,
            "remainingText": str(gettext("about %(n)s s left", n=remaining)) if remaining is not None else "",
            "retries": self.api.retrier.retries if self.api else 0,
            "runId": self.run_id,
            "failure": language.failure(self.code) if self.status == "failed" else "",
            "details": self.message or self.holder,
            "runUrl": url_for("runs.run_page", run_id=self.run_id) if self.run_id else None,
        }


def status_text(job: Job) -> str:
    text = {
        "queued": gettext("Starting."),
        "waiting": gettext("Waiting for the nightly export to finish; this one starts right after."),
        "running": gettext("Exporting."),
        "stopping": gettext("Stopping after the date in progress."),
        "finished": gettext("Finished."),
        "failed": gettext("Failed."),
    }
    return str(text.get(job.status, job.status))


class Exports:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.jobs: dict[str, Job] = {}
        self.threads: list[threading.Thread] = []
        self.waiters = threading.BoundedSemaphore(WAITERS)

    def folder(self) -> tuple[str, Path]:
        """A new export's id and the folder of its own its files go to."""
        job_id = secrets.token_urlsafe(12)  # letters, digits, '-' and '_': a plain folder name
        return job_id, (self.web.settings.web.exports / job_id).absolute()

    def start(self, job_id: str, request: RunRequest) -> Job:
        web = self.web
        self.remove_expired()
        job = Job(job_id, request)

        def watch(done: int, total: int, ledger: str) -> None:
            job.update(done=done, total=total, ledger=ledger)

        def waiting(holder: str) -> None:
            job.update(status="waiting", holder=holder)

        def started(run_id: int) -> None:
            job.update(run_id=run_id, status="stopping" if job.stop.is_set() else "running", started=time.monotonic())
            with web.state() as state:
                state.runs.audit(request.user, "export", run_id, describe(request.record()))
                if job.stopped_by:  # Stop was pressed while it waited for its run to begin
                    state.runs.audit(job.stopped_by, "stop", run_id)

        def connected(api: ReportApi) -> None:
            job.api = api  # for its retry count

        # Its own Stop button, and the page's own state
        context = dataclasses.replace(
            web.context,
            stop=job.stop,
            today=web.day(),
            watch=watch,
            on_wait=waiting,
            on_start=started,
            on_connect=connected,
        )
        settings = dataclasses.replace(web.settings, state_path=web.state_path)

        def work() -> None:
            try:
                finished = runner.execute(request, settings, context)
                job.update(code=finished.code, message=finished.summary, status="finished")
            except ReportExportError as exc:
                job.update(code=exc.exit_code, message=str(exc), status="failed")
            except Exception as exc:  # a bug: the page says so; the log has the traceback
                log.exception("export %s failed", job.id)
                job.update(code=70, message=f"internal error: {type(exc).__name__}", status="failed")

        self.jobs[job.id] = job
        thread = threading.Thread(target=work, name=f"web-export-{job.id}", daemon=False)
        self.threads.append(thread)
        thread.start()
        return job

    def join(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Every export stops after its ledger date in progress (the server is stopping)."""
        for job in self.jobs.values():
            job.stop.set()
        self.join(timeout)

    def remove_expired(self) -> None:
        """The folders of page exports that ended more than [web] keep_days ago."""
        web = self.web
        with web.state(read_only=True) as state:
            runs = state.runs.recent(None, trigger="web")
        for run in runs:
            folder = own_folder(web, run)
            if folder is not None and expired(web, run) and folder.is_dir():
                shutil.rmtree(folder)
                log.info(
                    "web: removed %s, the files of run %d, kept %d days", folder, run.id, web.settings.web.keep_days
                )


@blueprint.route("/export", methods=["GET", "POST"])
def export_form() -> ResponseReturnValue:
    web = the_web()
    listing = web.ledgers.listing()
    if request.method == "GET":
        return form_page(listing, defaults(web))
    form = read_form()
    job_id, folder = web.exports.folder()
    try:
        wanted, size = parse_form(form, web, listing.ledgers, folder, g.user)
    except ValueError as exc:
        return form_page(listing, form, error=str(exc)), 400
    if size > LARGE_EXPORT and not form["confirmed"]:
        return form_page(listing, form, large=size)
    job = web.exports.start(job_id, wanted)
    return redirect(url_for("exports.job_page", job_id=job.id), code=303)


def form_page(listing: Listing, form: Form, *, error: str | None = None, large: int | None = None) -> str:
    owners = sorted({ledger["owner"] for ledger in listing.ledgers if ledger["owner"]})
    merchants = [(org, merchant(org)) for org in owners]
    choices = {"topics": config.TOPICS, "formats": config.FORMATS, "presets": PRESETS, "merchants": merchants}
    today = the_web().day()
    months = {"this": today.replace(day=1), "last": (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)}
    return render_template(
        "export.html",
        form=form,
        choices=choices,
        listing=listing,
        error=error,
        large=large,
        limit=LARGE_EXPORT,
        months=months,
        today=today,
    )


def defaults(web: Web) -> Form:
    last_month = web.day().replace(day=1) - dt.timedelta(days=1)
    chosen = request.args.getlist("ledger")
    return {
        "period": "last-month",
        "month": last_month.strftime("%Y-%m"),
        "from": "",
        "to": "",
        "scope": "chosen" if chosen else "all",
        "merchant": request.args.get("merchant", ""),
        "ledgers": chosen,
        "topics": list(web.settings.topics),
        "formats": list(web.settings.formats),
        "preset": web.settings.csv_preset,
        "combine": False,
        "confirmed": False,
    }


def read_form() -> Form:
    get = request.form.get
    return {
        "period": get("period", ""),
        "month": get("month", ""),
        "from": get("from", ""),
        "to": get("to", ""),
        "scope": get("scope", ""),
        "merchant": get("merchant", ""),
        "ledgers": [x for x in request.form.getlist("ledger") if x],
        "topics": request.form.getlist("topic"),
        "formats": request.form.getlist("format"),
        "preset": get("preset", ""),
        "combine": get("combine") == "on",
        "confirmed": get("confirmed") == "yes",
    }


def period_of(form: Form, day: dt.date) -> tuple[dt.date, dt.date]:
    """The form's period choice as dates; ValueError saying what to fix."""
    if form["period"] == "this-month":
        if day.day == 1:
            raise ValueError(gettext("No day of this month is over yet: choose last month."))
        return day.replace(day=1), day - dt.timedelta(days=1)
    if form["period"] in ("last-month", "month"):
        text = form["month"] if form["period"] == "month" else (day.replace(day=1) - dt.timedelta(days=1)).isoformat()
        try:
            first = dt.date.fromisoformat(text[:7] + "-01")
        except ValueError:
            raise ValueError(gettext("Choose a month.")) from None
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, min(following - dt.timedelta(days=1), day)
    try:
        return dt.date.fromisoformat(form["from"]), dt.date.fromisoformat(form["to"])
    except ValueError:
        raise ValueError(gettext("Give the period as two dates.")) from None


def parse_form(form: Form, web: Web, known: list[dict[str, Any]], out: Path, user: str) -> tuple[RunRequest, int]:
    """The form's choices as an export into `out`, and its size in ledger dates; or ValueError saying what to fix."""
    day = web.day()
    first, last = period_of(form, day)
    if first > last:
        raise ValueError(
            gettext(
                "The period starts (%(first)s) after it ends (%(last)s): swap the dates.",
                first=language.day(first),
                last=language.day(last),
            )
        )
    if last > day:
        raise ValueError(
            gettext(
                "%(last)s is in the future (today is %(today)s): there is no report for it yet.",
                last=language.day(last),
                today=language.day(day),
            )
        )
    if (last - first).days > 366:
        raise ValueError(gettext("Choose at most a year at a time."))
    topics = [t for t in form["topics"] if t in config.TOPICS]
    formats = [f for f in form["formats"] if f in config.FORMATS]
    if not topics or not formats or form["preset"] not in PRESETS:
        raise ValueError(gettext("Choose at least one kind of entries and one format, and a CSV flavour."))
    if form["scope"] == "all":
        ledgers: list[str] = []  # every ledger the keys can read when it runs
        count = len(known)
    elif form["scope"] == "merchant":
        ledgers = [ledger["ledgerId"] for ledger in known if ledger["owner"] == form["merchant"]]
        if not ledgers:
            raise ValueError(gettext("Choose a merchant."))
        count = len(ledgers)
    else:
        ledgers = list(dict.fromkeys(form["ledgers"]))
        if not ledgers or not all(export.PLAIN_ID.fullmatch(lid) for lid in ledgers):
            raise ValueError(gettext("Choose at least one ledger."))
        count = len(ledgers)
    wanted = request_for(
        web.settings,
        "run",
        first=first,
        last=last,
        ledgers=ledgers,
        topics=topics,
        formats=formats,
        csv_preset=form["preset"],
        out=out,
        combine=form["combine"],
        wait=True,
        trigger="web",
        user=user,
    )
    return wanted, count * ((last - first).days + 1) * len(topics)


@blueprint.route("/jobs/<job_id>")
def job_page(job_id: str) -> ResponseReturnValue:
    job = the_web().exports.jobs.get(job_id)
    if job is None:
        abort(
            404,
            gettext(
                "This export is no longer running here (the server may have restarted): look for it in the history."
            ),
        )
    if job.run_id is not None and job.status in ("finished", "failed"):
        return redirect(url_for("runs.run_page", run_id=job.run_id))
    return render_template("job.html", job=job, view=job.view(), period=describe(job.request.record()))


@blueprint.route("/jobs/<job_id>/progress")
def job_progress(job_id: str) -> ResponseReturnValue:
    """The export's progress once it differs from version `seen` (at once without `seen`, or when the
    server already has WAITERS requests waiting, or after WAIT_SECONDS)."""
    exports: Exports = the_web().exports
    job = exports.jobs.get(job_id)
    if job is None:
        abort(404, gettext("No such export."))
    seen = request.args.get("seen", "")
    if seen.isdigit() and exports.waiters.acquire(blocking=False):
        try:
            job.wait(int(seen), WAIT_SECONDS)
        finally:
            exports.waiters.release()
    return jsonify(job.view())


@blueprint.route("/jobs/<job_id>/stop", methods=["POST"])
def stop_job(job_id: str) -> ResponseReturnValue:
    web = the_web()
    job = web.exports.jobs.get(job_id)
    if job is None:
        abort(404, gettext("No such export."))
    if job.status in ("queued", "waiting", "running"):
        job.stopped_by = g.user
        job.stop.set()
        job.update(status="stopping")
        if job.run_id is not None:  # else recorded when its run begins, on that run
            with web.state() as state:
                state.runs.audit(g.user, "stop", job.run_id)
    return redirect(url_for("exports.job_page", job_id=job.id), code=303)
