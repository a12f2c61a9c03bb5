"""After every run: whether to tell anyone, and what. runner.execute hands every run to Notifier.after_run,
whoever started it (cron, `schedule`, `serve --schedule`, the page), once the run is recorded.

A run stopped on request (exit 130: SIGTERM, Ctrl-C) is no failure: it tells nothing and sends nothing, and the
next run tells what it finds. Any other run is weighed by RULES, in order; the first that has something to say
names the notice's event and headline, and the notice holds every fact at once (README.md, Notifications):

- failed: the run failed, and not the way its command is already known to fail;
- appeared: a lasting condition is new: a ledger date overdue, a voucher or statement that waits (jobs.output),
  a ledger the keys can no longer read;
- recovered: one cleared, or a command that failed ran without failing;
- reminder: what lasts, once a day (by the run's date, as the catch-up counts days): the run finds something
  that was last told on an earlier day;
- daily_ok: with [notify] on_success, the first run of the day that did not fail says "all good".

A failure that repeats is told once, then in the daily reminder while it lasts (with how many runs failed since
it began), then "recovered" by the first run of its command that does not fail. Two failures are the same when
they are of the same command, with the same exit code and the same first line of the error once its numbers are
taken out (conditions.gist: the ledger date a run had reached, a count of attempts, a port differ from run to
run); a run that failed by what it found rather than by an error is known by what failed (dates that do not
reconcile, ledgers refused, period files that do not add up). Another failure of the command is told at once,
and replaces it. A run that failed only because it found a ledger withdrawn is told as such: the withdrawal is
what lasts.

What has been told, and when, is kept in the state (notify_conditions, typed by jobs.conditions); delivery is
the outbox's (jobs/outbox.py). Nothing here raises into the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from jobs import notice as notices
from jobs.conditions import LASTING, Condition, DailyOk, Failing, Overdue, Told, Waiting, Withdrawn, gist, key, parse
from jobs.config import Settings
from jobs.errors import EXIT_INTERRUPTED
from jobs.notice import Fact
from jobs.outbox import Outbox
from jobs.request import RunRequest, by_hand
from jobs.state import State

log = logging.getLogger(__name__)
Said = tuple[str, str]  # a notice's event and headline
# A notice of several new conditions is named after the first kind here that has one.
APPEARING: tuple[type[Overdue] | type[Waiting] | type[Withdrawn], ...] = (Overdue, Waiting, Withdrawn)


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
    request: RunRequest | None = None  # what it was asked to do

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"

    @property
    def interrupted(self) -> bool:
        return self.code == EXIT_INTERRUPTED


@dataclass(frozen=True)
class Situation:
    """What the rules weigh: the run, what was told before it, and what lasts after it."""

    run: Run
    today: str  # the run's date, YYYY-MM-DD
    known: dict[Condition, Told]
    lasting: dict[Condition, Fact]  # each condition that lasts after this run, with what a notice says of it
    failure: Failing | None = None  # this run's failure, unless it failed only by finding a ledger withdrawn
    on_success: bool = False

    @cached_property
    def told_keys(self) -> dict[str, Told]:
        return {key(condition): told for condition, told in self.known.items()}

    @property
    def repeats(self) -> bool:
        """The run failed the way its command is already known to fail."""
        failure = self.failure
        return failure is not None and any(isinstance(c, Failing) and c.same_as(failure) for c in self.known)

    @property
    def new(self) -> list[Condition]:
        return [condition for condition in self.lasting if condition not in self.known]

    @property
    def cleared(self) -> list[Condition]:
        return [c for c in self.known if isinstance(c, LASTING) and c not in self.lasting]

    def since(self, condition: Condition) -> str:
        """When it was first told; today if never, or if a command now fails in another way."""
        told = self.told_keys.get(key(condition))
        return told.since if told else self.today


def failed(s: Situation) -> Said | None:
    if s.run.failed and not s.repeats:
        return "failed", f"{s.run.command} failed (exit {s.run.code})"
    return None


def appeared(s: Situation) -> Said | None:
    # A new failure is told by `failed`.
    new: dict[Condition, Fact] = {c: s.lasting[c] for c in s.new if not isinstance(c, Failing)}
    kind = next((kind for kind in APPEARING if any(isinstance(c, kind) for c in new)), None)
    return (kind.kind, problems(new)) if kind else None


def recovered(s: Situation) -> Said | None:
    if s.cleared:
        return "recovered", "recovered" + (f"; still {problems(s.lasting)}" if s.lasting else "")
    return None


def reminder(s: Situation) -> Said | None:
    if any(s.known[c].told < s.today for c in s.lasting if c in s.known):
        return "reminder", f"still {problems(s.lasting)}"
    return None


def daily_ok(s: Situation) -> Said | None:
    if s.on_success and not s.run.failed and s.known.get(DailyOk(), Told("", "")).told < s.today:
        return ("reminder", f"still {problems(s.lasting)}") if s.lasting else ("ok", "all good")
    return None


RULES: tuple[Callable[[Situation], Said | None], ...] = (failed, appeared, recovered, reminder, daily_ok)


class Notifier:
    def __init__(self, settings: Settings, state: State, today: dt.date, outbox: Outbox) -> None:
        self.settings, self.state, self.today, self.outbox = settings, state, today.isoformat(), outbox

    def after_run(self, run: Run, result: object = None) -> None:
        """Queue the notice this run owes, if any, and deliver; never raises."""
        if run.interrupted:  # a stop asked for: what waits goes out with the next run, not while stopping
            return
        try:
            if self.settings.notify.channels:
                notice = self.decide(run, result)
                if notice is not None:
                    self.outbox.queue(notice, run.id)
        except Exception as exc:  # a bug must not turn a good export into a failed one
            log.warning(
                "notifications: %s: %s; the export is not affected", type(exc).__name__, self.outbox.hidden(exc)
            )
        self.outbox.deliver()

    def decide(self, run: Run, result: object) -> Fact | None:
        """The notice, or None; records what it tells as told today."""
        s = self.situation(run, result)
        said = next(filter(None, (rule(s) for rule in RULES)), None)
        if said is None:
            return None
        event, headline = said
        notice = notices.compose(
            event,
            self.settings.notify.installation,
            headline,
            run=self.describe(run),
            failed_dates=failed_dates(result),
            refused=refused(result),
            failing=facts(s.lasting, Failing),
            overdue=facts(s.lasting, Overdue),
            withdrawn=facts(s.lasting, Withdrawn),
            waiting=facts(s.lasting, Waiting),
            recovered=[self.recovery(c) for c in s.cleared],
            redo=redo(run, self.settings) if run.failed else None,
            warn_after_days=self.settings.warn_after_days,
        )
        told: dict[str, tuple[str, str]] = {key(c): (s.since(c), s.today) for c in s.lasting}
        if s.on_success and not run.failed:
            told["ok"] = ("", s.today)  # any notice of a good run is the day's sign of life
        elif DailyOk() in s.known:
            told["ok"] = s.known[DailyOk()]
        self.state.notices.set_conditions(told)
        return notice

    def situation(self, run: Run, result: object) -> Situation:
        known = {parse(text): Told(*told) for text, told in self.state.notices.conditions().items()}
        failing = {c.command: c for c in known if isinstance(c, Failing)}
        failure, before = failure_of(run, result), failing.get(run.command)
        if failure is not None:
            failing[run.command] = before if before is not None and before.same_as(failure) else failure
        elif not run.failed:
            failing.pop(run.command, None)  # it ran without failing: recovered
        # (A run that failed only by finding a ledger withdrawn leaves its command's failure as it was.)
        lasting: dict[Condition, Fact] = {c: self.failure_fact(c) for c in failing.values()}
        lasting |= {**self.overdue(), **self.waiting(), **self.withdrawn()}
        s = Situation(run, self.today, known, lasting, failure, self.settings.notify.on_success)
        for condition, fact in lasting.items():
            fact["new"] = key(condition) not in s.told_keys
            if isinstance(condition, Failing):
                fact["since"] = s.since(condition)
        return s

    def failure_fact(self, c: Failing) -> Fact:
        return {
            "command": c.command,
            "exitCode": c.code,
            "error": c.gist,
            "since": None,
            "failedRuns": self.state.runs.failed_since(c.command, c.first_run),
        }

    def overdue(self) -> dict[Condition, Fact]:
        found: dict[Condition, Fact] = {}
        today = dt.date.fromisoformat(self.today)
        for row in self.state.views.standings():
            for p in (p for p in row.pending if p.overdue(today, self.settings.warn_after_days)):
                ledger, topic, day = row.ledger_id, row.topic, p.date.isoformat()
                found[Overdue(ledger, topic, day)] = {
                    "ledgerId": ledger,
                    "topic": topic,
                    "date": day,
                    "status": p.status,
                    "since": p.since,
                    "ageDays": p.age(today),
                    "command": by_hand(self.settings, ledger, topic, p.date),
                }
        return found

    def waiting(self) -> dict[Condition, Fact]:
        return {
            Waiting(ledger, topic, w.date.isoformat(), w.format): {
                "ledgerId": ledger,
                "topic": topic,
                "date": w.date.isoformat(),
                "format": w.format,
                "reason": w.reason,
                "since": w.since,
            }
            for (ledger, topic), items in self.state.dates.waiting().items()
            for w in items
        }

    def withdrawn(self) -> dict[Condition, Fact]:
        ledgers = sorted(self.state.ledgers.withdrawn().items())
        return {Withdrawn(ledger): {"ledgerId": ledger, "since": since} for ledger, since in ledgers}

    def recovery(self, c: Condition) -> Fact:
        if isinstance(c, Failing):
            return {"condition": "failing", "command": c.command}
        if isinstance(c, Withdrawn):
            return {"condition": "withdrawn", "ledgerId": c.ledger}
        if isinstance(c, Waiting):
            return {"condition": "waiting", "ledgerId": c.ledger, "topic": c.topic, "date": c.date, "format": c.format}
        assert isinstance(c, Overdue)
        exported = self.state.dates.statuses(c.ledger, c.topic).get(dt.date.fromisoformat(c.date)) == "exported"
        return {"condition": "overdue", "ledgerId": c.ledger, "topic": c.topic, "date": c.date, "exported": exported}

    def describe(self, run: Run) -> Fact:
        return {
            "id": run.id,
            "command": run.command,
            "trigger": run.trigger,
            "date": self.today,
            "outcome": run.outcome,
            "exitCode": run.code,
            "summary": run.summary,
            "error": run.error,
        }


def failure_of(run: Run, result: object) -> Failing | None:
    """The run's failure as it lasts; None if it did not fail, or failed only by finding a ledger withdrawn."""
    if not run.failed:
        return None
    kinds = failures(result)
    if result is not None and set(kinds) <= {"withdrawn"}:
        return None
    return Failing(run.command, run.code, gist(run.error or "; ".join(FAILURES[kind] for kind in kinds)), run.id)


# What can make a finished run fail (result.Result and feed.FeedResult alike), in words.
FAILURES = {
    "withdrawn": "ledgers no longer readable",
    "refused": "ledgers refused",
    "unreconciled": "ledger dates that do not reconcile",
    "periods_failed": "period files that do not add up",
    "unfit": "payouts the Vipps settlement XML cannot hold",
}


def failures(result: object) -> list[str]:
    return [kind for kind in FAILURES if getattr(result, kind, None)]


def failed_dates(result: object) -> list[Fact]:
    reasons = getattr(result, "reasons", {})
    failed = [(unit, reasons[unit]) for unit in getattr(result, "unreconciled", [])] + getattr(result, "unfit", [])
    return [
        {"ledgerId": unit.ledger_id, "topic": unit.topic, "date": unit.date.isoformat(), "reason": reason}
        for unit, reason in failed
    ]


def refused(result: object) -> list[Fact]:
    return [
        {"ledgerId": ledger, "reason": "not a plain identifier, so never a folder name; refused"}
        for ledger in getattr(result, "refused", [])
    ]


def facts(lasting: dict[Condition, Fact], kind: type) -> list[Fact]:
    return [fact for condition, fact in lasting.items() if isinstance(condition, kind)]


def problems(lasting: dict[Condition, Fact]) -> str:
    parts = [
        f"{f['command']} failing since {f['since']} (exit {f['exitCode']}, {notices.failed_runs(f['failedRuns'])})"
        for f in facts(lasting, Failing)
    ]
    if overdue := facts(lasting, Overdue):
        parts.append(f"{len(overdue)} ledger date{'s' if len(overdue) != 1 else ''} overdue")
    if waiting := facts(lasting, Waiting):
        parts.append(f"{len(waiting)} file{'s' if len(waiting) != 1 else ''} waiting")
    if withdrawn := facts(lasting, Withdrawn):
        parts.append("ledger " + ", ".join(fact["ledgerId"] for fact in withdrawn) + " no longer readable")
    return "; ".join(parts)


def redo(run: Run, settings: Settings) -> str:
    """The command that does the failed run's work again, with what differs from config.toml."""
    return run.request.redo(settings) if run.request is not None else f"report-export {run.command}"
