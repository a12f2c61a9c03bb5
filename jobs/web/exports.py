"""The export form, and the pages of an export while it runs: its live progress, and its Stop button.

The export itself runs in the background (jobs.web.export_jobs): closing the browser stops nothing; the Stop
button does, after the ledger date in progress (files are written whole or not at all).

Progress is a request that waits: the page asks "anything after version N?" and is answered the
moment something changes (or after WAIT_SECONDS), so the run page opens as soon as the export ends.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from jobs import config
from jobs.ledgers import PLAIN_ID
from jobs.presets import PRESETS
from jobs.request import RunRequest, request_for
from jobs.web import language
from jobs.web.ledgers import Listing
from jobs.web.overview import merchant
from jobs.web.runs import describe
from jobs.web.site import Web, the_web

blueprint = Blueprint("exports", __name__)
LARGE_EXPORT = 3000  # ledger dates: above this the form asks her to confirm (e.g. 50 ledgers, a month, 2 topics)
WAIT_SECONDS = 15  # a progress request waits at most this long for news
Form = dict[str, Any]  # the export form's fields, as read (read_form) or proposed (defaults)


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
    months = {"this": today.replace(day=1), "last": end_of_last_month(today).replace(day=1)}
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
    last_month = end_of_last_month(web.day())
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


def end_of_last_month(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


def period_of(form: Form, day: dt.date) -> tuple[dt.date, dt.date]:
    """The form's period choice as dates; ValueError saying what to fix."""
    if form["period"] == "this-month":
        if day.day == 1:
            raise ValueError(gettext("No day of this month is over yet: choose last month."))
        return day.replace(day=1), day - dt.timedelta(days=1)
    if form["period"] in ("last-month", "month"):
        text = form["month"] if form["period"] == "month" else end_of_last_month(day).isoformat()
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
        if not ledgers or not all(PLAIN_ID.fullmatch(lid) for lid in ledgers):
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
    server already has WAITERS (jobs.web.export_jobs) requests waiting, or after WAIT_SECONDS)."""
    exports = the_web().exports
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
