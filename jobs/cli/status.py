"""`status --json`: the state's typed rows shaped as the JSON monitoring reads (and `status` prints)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobs.state.runs import Run, as_json
from jobs.state.views import Standing


def ledgers_json(standings: list[Standing], today: dt.date, warn_after_days: int) -> list[dict[str, Any]]:
    return [
        {
            "ledgerId": row.ledger_id,
            "topic": row.topic,
            "lastExported": iso(row.last_exported),
            "pending": [
                {
                    "date": p.date.isoformat(),
                    "status": p.status,
                    "since": p.since,
                    "tries": p.tries,
                    "lastTry": iso(p.last_try),
                    "ageDays": p.age(today),
                    "overdue": p.overdue(today, warn_after_days),
                }
                for p in row.pending
            ],
            "waiting": [
                {"date": w.date.isoformat(), "format": w.format, "reason": w.reason, "since": w.since, "tries": w.tries}
                for w in row.waiting
            ],
            "withdrawnAt": row.withdrawn_at,
            "checksFailed": [day.isoformat() for day in row.checks_failed],
            "feed": (
                {"batches": row.feed.batches, "entries": row.feed.entries, "updatedAt": row.feed.updated_at}
                if row.feed
                else None
            ),
        }
        for row in standings
    ]


def runs_json(runs: list[Run]) -> list[dict[str, Any]]:
    return [
        {
            "id": run.id,
            "command": run.command,
            "trigger": run.trigger,
            "startedAt": run.started_at,
            "endedAt": run.ended_at,
            "outcome": run.outcome,
            "exitCode": run.exit_code,
            "counts": run.counts,
            "error": run.error,
            "user": run.user,
            "request": run.request,
            "files": [str(path) for path in run.files],
            "left": None if run.left is None else [as_json(item) for item in run.left],
        }
        for run in runs
    ]


def iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()
