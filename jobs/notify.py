"""After every run: whether to tell anyone, and what. runner.execute calls this for every run, whoever
started it (cron, `schedule`, `serve --schedule`, the page), once the run is recorded.

When (README.md, Notifications):
- a run that fails is told, every time (a stop asked for, exit 130, is no failure);
- lasting conditions, a ledger date overdue, a voucher or statement that waits (jobs.output) or a ledger the
  keys can no longer read, are told by the first
  run that finds them, then once a day while they last (by the run's date, as the catch-up counts days),
  and once more when they clear; so is a command that failed and then succeeds again ("recovered");
- with [notify] on_success, the first successful run of each day says "all good" (or what still lasts).
A run sends at most one notice, with every fact at once. What has been told, and when, is kept in the
state (notify_conditions); delivery is the outbox's (jobs/outbox.py). Nothing here raises into the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from jobs import notice as notices
from jobs.config import Settings
from jobs.outbox import Outbox
from jobs.state import State

log = logging.getLogger(__name__)
LASTING = ("overdue", "withdrawn", "waiting")


@dataclass(frozen=True)
class Run:
    """What a notice says about the run that sends it."""

    id: int
    command: str
    trigger: str
    outcome: str
    code: int
    summary: str | None = None  # the summary line, when the run got that far
    error: str | None = None  # why it failed, when it raised
    request: dict | None = None  # what it covered (runner.describe_request); None: the feed

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


class Notifier:
    def __init__(self, settings: Settings, state: State, today: dt.date, outbox: Outbox) -> None:
        self.settings, self.state, self.today, self.outbox = settings, state, today.isoformat(), outbox

    def after_run(self, run: Run, result=None) -> None:
        """Queue the notice this run owes, if any, and deliver; never raises."""
        try:
            if self.settings.notify.channels:
                notice = self.decide(run, result)
                if notice is not None:
                    self.outbox.queue(notice, run.id)
        except Exception as exc:  # a bug must not turn a good export into a failed one
            log.warning("notifications: %s: %s; the export is not affected", type(exc).__name__,
                        self.outbox.hidden(exc))  # fmt: skip
        self.outbox.deliver()

    def decide(self, run: Run, result) -> dict | None:
        """The notice, or None; records what it tells as told today."""
        today, known = self.today, self.state.notices.conditions()
        overdue, withdrawn, waiting = self.overdue(), self.withdrawn(), self.waiting()
        lasting = {**overdue, **withdrawn, **waiting}
        failing_key = f"failing {run.command}"
        # A run that failed only because it found a ledger withdrawn is told as such; the withdrawal is what lasts.
        failing = run.failed and not (result is not None and set(failures(result)) <= {"withdrawn"})
        new = [key for key in lasting if key not in known]
        reminder = any(known[key][1] < today for key in lasting if key in known)
        cleared = [key for key in known if key.split(" ")[0] in LASTING and key not in lasting]
        back = failing_key in known and not run.failed
        daily = self.settings.notify.on_success and not run.failed and known.get("ok", ("", ""))[1] < today
        if not (run.failed or new or reminder or cleared or back or daily):
            return None
        for key, fact in lasting.items():
            fact["new"] = key not in known
        if run.failed:
            event, headline = "failed", f"{run.command} failed (exit {run.code})"
        elif new:
            event = next(kind for kind, facts in (("overdue", overdue), ("waiting", waiting), ("withdrawn", withdrawn))
                         if any(key in facts for key in new))  # fmt: skip
            headline = problems(*([k for k in new if k in facts] for facts in (overdue, withdrawn, waiting)))
        elif cleared or back:
            still = f"; still {problems(overdue, withdrawn, waiting)}" if lasting else ""
            event, headline = "recovered", "recovered" + still
        elif lasting:
            event, headline = "reminder", f"still {problems(overdue, withdrawn, waiting)}"
        else:
            event, headline = "ok", "all good"
        notice = notices.compose(
            event, self.settings.notify.installation, headline, run=self.describe(run),
            failed_dates=failed_dates(result), refused=refused(result), overdue=list(overdue.values()),
            withdrawn=list(withdrawn.values()), waiting=list(waiting.values()),
            recovered=[self.recovery(key) for key in cleared]
            + ([{"condition": "failing", "command": run.command}] if back else []),
            redo=redo(run, self.settings) if run.failed else None, warn_after_days=self.settings.warn_after_days,
        )  # fmt: skip
        told = {key: value for key, value in known.items() if key.startswith("failing ") and key != failing_key}
        told |= {key: (known[key][0] if key in known else today, today) for key in lasting}
        if failing:
            told[failing_key] = (known.get(failing_key, (today,))[0], today)
        elif run.failed and failing_key in known:
            told[failing_key] = known[failing_key]  # still failing, for another reason than a withdrawal
        if self.settings.notify.on_success and not run.failed:
            told["ok"] = ("", today)  # any notice of a good run is the day's sign of life
        elif "ok" in known:
            told["ok"] = known["ok"]
        self.state.notices.set_conditions(told)
        return notice

    def overdue(self) -> dict[str, dict]:
        facts, today = {}, dt.date.fromisoformat(self.today)
        for row in self.state.views.standings():
            for p in (p for p in row.pending if p.overdue(today, self.settings.warn_after_days)):
                ledger, topic, day = row.ledger_id, row.topic, p.date.isoformat()
                facts[f"overdue {ledger} {topic} {day}"] = {
                    "ledgerId": ledger, "topic": topic, "date": day, "status": p.status, "since": p.since,
                    "ageDays": p.age(today), "command": f"report-export run --ledger {ledger} --topic {topic} "
                    f"--from {day} --to {day}",
                }  # fmt: skip
        return facts

    def waiting(self) -> dict[str, dict]:
        return {f"waiting {ledger} {topic} {w.date} {w.format}": {
                    "ledgerId": ledger, "topic": topic, "date": w.date.isoformat(), "format": w.format,
                    "reason": w.reason, "since": w.since}
                for (ledger, topic), items in self.state.dates.waiting().items() for w in items}  # fmt: skip

    def withdrawn(self) -> dict[str, dict]:
        ledgers = sorted(self.state.ledgers.withdrawn().items())
        return {f"withdrawn {ledger}": {"ledgerId": ledger, "since": since} for ledger, since in ledgers}

    def recovery(self, key: str) -> dict:
        condition, ledger, *rest = key.split(" ")
        if condition == "withdrawn":
            return {"condition": condition, "ledgerId": ledger}
        if condition == "waiting":
            topic, day, fmt = rest
            return {"condition": condition, "ledgerId": ledger, "topic": topic, "date": day, "format": fmt}
        topic, day = rest
        exported = self.state.dates.statuses(ledger, topic).get(dt.date.fromisoformat(day)) == "exported"
        return {"condition": condition, "ledgerId": ledger, "topic": topic, "date": day, "exported": exported}

    def describe(self, run: Run) -> dict:
        return {"id": run.id, "command": run.command, "trigger": run.trigger, "date": self.today,
                "outcome": run.outcome, "exitCode": run.code, "summary": run.summary, "error": run.error}  # fmt: skip


def failures(result) -> list[str]:
    """What made a finished run fail (export.Result and feed.FeedResult alike)."""
    kinds = ("withdrawn", "refused", "unreconciled", "unfit")
    return [kind for kind in kinds if getattr(result, kind, None)]


def failed_dates(result) -> list[dict]:
    reasons = getattr(result, "reasons", {})
    failed = [(unit, reasons[unit]) for unit in getattr(result, "unreconciled", [])] + getattr(result, "unfit", [])
    return [{"ledgerId": unit.ledger_id, "topic": unit.topic, "date": unit.date.isoformat(), "reason": reason}
            for unit, reason in failed]  # fmt: skip


def refused(result) -> list[dict]:
    return [{"ledgerId": ledger, "reason": "not a plain identifier, so never a folder name; refused"}
            for ledger in getattr(result, "refused", [])]  # fmt: skip


def problems(overdue, withdrawn, waiting=()) -> str:
    parts = []
    if overdue:
        parts.append(f"{len(overdue)} ledger date{'s' if len(overdue) != 1 else ''} overdue")
    if waiting:
        parts.append(f"{len(waiting)} file{'s' if len(waiting) != 1 else ''} waiting")
    if withdrawn:
        parts.append("ledger " + ", ".join(key.split(" ")[1] for key in withdrawn) + " no longer readable")
    return "; ".join(parts)


def redo(run: Run, settings: Settings) -> str:
    """The command that does the failed run's work again, with what differs from config.toml."""
    request = run.request
    if request is None:
        return f"report-export {run.command}"
    words = ["report-export", "run"]
    if request["from"]:
        words += ["--from", request["from"], "--to", request["to"]]
    for ledger in request["ledgers"]:
        words += ["--ledger", ledger]
    if tuple(request["topics"]) != settings.topics:
        words += [word for topic in request["topics"] for word in ("--topic", topic)]
    if tuple(request["formats"]) != settings.formats:
        words += [word for fmt in request["formats"] for word in ("--format", fmt)]
    if request["csvPreset"] != settings.csv_preset:
        words += ["--csv-preset", request["csvPreset"]]
    # A page export's folder of its own belongs to the page (jobs.web.exports): from the command line the
    # work is redone where the nightly run writes.
    if request["out"] != str(settings.out.absolute()) and run.trigger != "web":
        words += ["--out", request["out"]]
    if request["combine"]:
        words.append("--combine")
    return " ".join(words)
