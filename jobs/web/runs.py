"""A run's page (its downloads by purpose, its reconciliation, what was not closed) and the history of runs.

The reconciliation is the engine's own: the per-date sums in the run's manifests, put in the summary
sheet's columns by jobs.reconcile.categorize, so the page and the workbook cannot disagree. A period
with a date that has no file (missing, or not closed) is "incomplete", never "passed".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from jobs.manifest import SUFFIX
from jobs.reconcile import categorize
from jobs.state.runs import Left, Run
from jobs.web import language
from jobs.web.downloads import PURPOSES, RunFile, expired, kept_until, purpose_of, run_files
from jobs.web.site import page_asked, the_web

blueprint = Blueprint("runs", __name__)
PAGE_SIZE = 25
OUTCOME_FILTERS = ("ok", "pending", "nothing to do", "overdue", "waiting", "failed", "interrupted", "stopped")


@blueprint.route("/runs/<int:run_id>")
def run_page(run_id: int) -> ResponseReturnValue:
    web = the_web()
    with web.state(read_only=True) as state:
        run = state.runs.get(run_id)
        if run is None:
            abort(404, gettext("No such export."))
        pending = list(run.left) if run.left is not None else state.runs.left_pending(run_id)
        audit = state.runs.audit_of(run_id)
    gone = expired(web, run)
    files = [] if gone else run_files(web, run)
    ready = [file for file in files if not file.problem]
    counted = [(purpose, sum(1 for f in ready if purpose_of(f.path) == purpose)) for purpose in PURPOSES]
    failure = language.failure(run.exit_code) if run.outcome == "failed" else ""
    return render_template(
        "run.html",
        run=run,
        files=files,
        ready=ready,
        purposes=[(p, n) for p, n in counted if n],
        pending=pending,
        audit=audit,
        expired=gone,
        kept_until=kept_until(web, run),
        checks=reconciliation(files, run, pending),
        period=describe(run.request, run.command),
        failure=failure,
    )


def reconciliation(files: list[RunFile], run: Run, pending: list[Left]) -> list[dict[str, Any]]:
    """Per ledger and topic: the period's movements in the summary sheet's columns, from the per-date manifests
    of the run's files; "incomplete" when a date of the period has no file, "failed" when a check failed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for file in files:
        if not file.name.endswith(SUFFIX) or file.problem:
            continue
        content = json.loads(file.path.read_text(encoding="utf-8"))
        if content["dates"][0] != content["dates"][-1]:
            continue  # a --combine period file: its dates are counted one by one
        groups.setdefault((content["ledgerId"], content["topic"]), []).append(content)
    request_ = run.request or {}
    wanted = None
    if request_.get("from"):
        first, last = dt.date.fromisoformat(request_["from"]), dt.date.fromisoformat(request_["to"])
        wanted = (last - first).days + 1
    rows = []
    order = {"funds": 0, "fees": 1}  # settlements first, as the workbooks of a run are read
    for (ledger_id, topic), days in sorted(groups.items(), key=lambda item: (item[0][0], order.get(item[0][1], 2))):
        days.sort(key=lambda d: d["dates"][0])
        sums: dict[str, int] = {}
        for day in days:
            for entry_type, amount in day["sums"].items():
                sums[entry_type] = sums.get(entry_type, 0) + amount
        failed = [f"{c['date']} {c['name']}" for day in days for c in day["checks"] if not c["ok"]]
        open_ = [
            p.date
            for p in pending
            if p.ledger_id == ledger_id and p.topic == topic and p.status in ("open", "unavailable")
        ]  # a voucher that waits leaves the sums whole
        incomplete = bool(open_) or (wanted is not None and len(days) < wanted)
        rows.append(
            {
                "ledgerId": ledger_id,
                "topic": topic,
                "currency": days[0].get("currency", ""),
                "first": days[0]["dates"][0],
                "last": days[-1]["dates"][0],
                "dates": len(days),
                "wanted": wanted,
                # A date without entries has no balance of its own: the nearest date with one speaks for it.
                "opening": next((d["openingBalance"] for d in days if d["openingBalance"] is not None), None),
                "closing": next((d["closingBalance"] for d in reversed(days) if d["closingBalance"] is not None), None),
                "columns": categorize(topic, sums),
                "failed": failed,
                "open": open_,
                "status": "failed" if failed else "incomplete" if incomplete else "passed",
            }
        )
    return rows


@blueprint.route("/runs")
def history() -> ResponseReturnValue:
    web = the_web()
    args = request.args
    filters = {
        "user": args.get("user") or None,
        "ledger": args.get("ledger", "").strip() or None,
        "outcome": args.get("outcome") if args.get("outcome") in OUTCOME_FILTERS else None,
    }
    period = None
    try:
        if args.get("from") and args.get("to"):
            period = (dt.date.fromisoformat(args["from"]), dt.date.fromisoformat(args["to"]))
    except ValueError:
        period = None
    page = page_asked()
    with web.state(read_only=True) as state:
        runs, total = state.runs.find(
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            period=period,
            user=filters["user"],
            ledger=filters["ledger"],
            outcome=filters["outcome"],
        )
        downloads = state.runs.downloads([run.id for run in runs])
        users = [user.name for user in state.web.users()]
        wanted = filters["user"] and filters["user"].casefold()
        signins = [s for s in state.web.signin_log(200) if not wanted or s.user == wanted][:20]
    shown = [(run, downloads[run.id], expired(web, run)) for run in runs]
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "runs.html",
        runs=shown,
        describe=describe,
        total=total,
        page=page,
        pages=pages,
        filters={**filters, "from": args.get("from", ""), "to": args.get("to", "")},
        users=users,
        outcomes=OUTCOME_FILTERS,
        signins=signins,
    )


def describe(request: dict[str, Any] | None, command: str = "run") -> str:
    """Everything that shaped a run's files, in her words: period, ledgers, kinds, formats, CSV flavour, period file."""
    if command == "feed":
        what = gettext("the feed, from where the last run stopped")
    elif not request or not request.get("from"):
        what = gettext("the nightly catch-up through yesterday")
    else:
        what = gettext("%(first)s to %(last)s", first=language.day(request["from"]), last=language.day(request["to"]))
    ledgers = ", ".join(request.get("ledgers") or []) if request else ""
    parts = [what, gettext("ledgers %(ids)s", ids=ledgers) if ledgers else gettext("every ledger")]
    if request:
        parts.append(", ".join(str(language.TOPICS.get(t, t)) for t in request.get("topics", [])))
        parts.append(", ".join(str(language.FORMATS.get(f, f)) for f in request.get("formats", [])))
        if "csv" in request.get("formats", []):
            preset = request.get("csvPreset", "standard")
            parts.append(gettext("CSV: %(preset)s", preset=language.PRESETS.get(preset, preset)))
        if request.get("combine"):
            parts.append(gettext("also one file for the whole period"))
    return "; ".join(str(part) for part in parts)
