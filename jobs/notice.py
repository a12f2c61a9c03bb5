"""A notice: what one notification says, as named facts (the webhook's JSON) and as text for people.

The JSON is the notice: it is what the outbox keeps and the webhook posts, and the mail is made from its
`title` and `text`, so both channels always say the same. `text` holds every fact again in words, because
Slack and Teams show that field and nothing else. The shape is documented in README.md (Notifications).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

# failed: a run failed (told once while it fails the same way); overdue / waiting / withdrawn: a lasting condition
# appeared; reminder: what lasts, told again once a day; recovered: one cleared; ok: on_success; test: notify --test.
EVENTS = ("failed", "overdue", "waiting", "withdrawn", "reminder", "recovered", "ok", "test")
TEXT_ITEMS = 20  # lines per section of the text; the named fields hold every item
Fact = dict[str, Any]


def compose(
    event: str,
    installation: str,
    headline: str,
    *,
    run: Fact | None = None,
    failed_dates: Sequence[Fact] = (),
    refused: Sequence[Fact] = (),
    failing: Sequence[Fact] = (),
    overdue: Sequence[Fact] = (),
    withdrawn: Sequence[Fact] = (),
    waiting: Sequence[Fact] = (),
    recovered: Sequence[Fact] = (),
    redo: str | None = None,
    warn_after_days: int | None = None,
) -> Fact:
    """The notice; `text` first, so a person reading the raw JSON sees the message before the fields."""
    facts: Fact = {
        "title": f"report-export on {installation}: {headline}",
        "event": event,
        "installation": installation,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": run,
        "failedDates": list(failed_dates),
        "refusedLedgers": list(refused),
        "failing": list(failing),
        "overdue": list(overdue),
        "warnAfterDays": warn_after_days,
        "withdrawn": list(withdrawn),
        "waiting": list(waiting),
        "recovered": list(recovered),
        "redo": redo,
    }
    return {"text": text(facts), **facts}


def for_test(installation: str) -> Fact:
    notice = compose("test", installation, "test message")
    notice["text"] += (
        "\nThis is a test message from `report-export notify --test`: notices of failed runs will arrive here.\n"
    )
    return notice


def text(facts: Fact) -> str:
    lines = [facts["title"], ""]
    if run := facts["run"]:
        lines.append(
            f"Run #{run['id']}: report-export {run['command']} ({run['trigger']}) on {run['date']}: "
            f"{run['outcome']}, exit {run['exitCode']}"
        )
        if run["summary"]:
            lines.append(run["summary"])
        if run["error"]:
            lines.append(f"Error: {run['error']}")
    # A failure told before, and lasting; a new one is the run above.
    section(
        lines,
        "Failing (told when it began, then once a day while it lasts):",
        [
            f"report-export {f['command']}: exit {f['exitCode']} since {f['since']}, {failed_runs(f['failedRuns'])}: "
            f"{f['error']}"
            for f in facts["failing"]
            if not f["new"]
        ],
    )
    section(
        lines,
        "Failed ledger dates:",
        [f"ledger {d['ledgerId']} {d['topic']} {d['date']}: {d['reason']}" for d in facts["failedDates"]],
    )
    section(lines, "Refused ledgers:", [f"{r['ledgerId']!r}: {r['reason']}" for r in facts["refusedLedgers"]])
    section(
        lines,
        f"Overdue (pending longer than [state] warn_after_days, {facts['warnAfterDays']} days):",
        [
            f"ledger {o['ledgerId']} {o['topic']} {o['date']}{' (new)' if o['new'] else ''}: {o['status']} since "
            f"{o['since']}, {o['ageDays']} days; fetch it by hand with: {o['command']}"
            for o in facts["overdue"]
        ],
    )
    section(
        lines,
        "No longer readable with these keys (ask the merchant whether access was withdrawn):",
        [f"ledger {w['ledgerId']}{' (new)' if w['new'] else ''}, since {w['since']}" for w in facts["withdrawn"]],
    )
    section(
        lines,
        "Waiting (a voucher or statement not written; the date's other files are):",
        [
            f"ledger {w['ledgerId']} {w['topic']} {w['date']} {w['format']}{' (new)' if w['new'] else ''}: "
            f"{w['reason']}"
            for w in facts["waiting"]
        ],
    )
    section(lines, "Recovered:", [recovery(r) for r in facts["recovered"]])
    if facts["redo"]:
        lines += ["", f"To redo the work: {facts['redo']}"]
    return "\n".join(lines).rstrip() + "\n"


def failed_runs(n: int) -> str:
    return f"{n} failed run{'s' if n != 1 else ''}"


def section(lines: list[str], heading: str, items: list[str]) -> None:
    """A heading and its items; past TEXT_ITEMS, a count: chat tools cut long messages (Teams at 28 KB)."""
    if items:
        lines += ["", heading, *(f"  {item}" for item in items[:TEXT_ITEMS])]
        if len(items) > TEXT_ITEMS:
            lines.append(f"  ... and {len(items) - TEXT_ITEMS} more (report-export status lists all)")


def recovery(item: Fact) -> str:
    if item["condition"] == "overdue":
        done = "exported" if item["exported"] else "no longer overdue"
        return f"ledger {item['ledgerId']} {item['topic']} {item['date']}: {done}"
    if item["condition"] == "withdrawn":
        return f"ledger {item['ledgerId']}: readable again"
    if item["condition"] == "waiting":
        return f"ledger {item['ledgerId']} {item['topic']} {item['date']} {item['format']}: written"
    return f"report-export {item['command']}: runs succeed again"
