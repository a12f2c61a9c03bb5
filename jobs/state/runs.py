"""Runs: who started each one and what it covered, how it ended, what it wrote and left open; and what users of the
page did (the audit: exports started and stopped, downloads, sign-outs, new passwords)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.state.db import Db, now_utc

UNFINISHED = "unfinished (killed, or still running)"  # the outcome of a run that recorded none


@dataclass(frozen=True)
class Left:
    """A date a run left behind: open, unavailable, or a file of it waiting, unsettled or refused (with its format)."""

    ledger_id: str
    topic: str
    date: dt.date
    status: str
    detail: str
    format: str | None = None


@dataclass(frozen=True)
class Run:
    id: int
    command: str
    trigger: str  # cli, schedule or web
    started_at: str
    ended_at: str | None
    outcome: str  # ok, pending, nothing to do, overdue, waiting, failed, interrupted, stopped; or UNFINISHED
    exit_code: int | None
    counts: dict[str, int]
    error: str | None
    user: str | None
    request: dict[str, Any] | None  # what it covered (jobs.runner.describe_request); None: the feed, a catch-up
    files: tuple[Path, ...]  # the report files it wrote
    left: tuple[Left, ...] | None  # None: a run from before schema 5 (Runs.left_pending tells)


@dataclass(frozen=True)
class Audit:
    at: str
    user: str
    action: str  # export, stop, download, sign-out, password changed
    run_id: int | None
    detail: str


class Runs:
    def __init__(self, db: Db) -> None:
        self.db = db

    def start(
        self, command: str, trigger: str, *, user: str = "", request: Mapping[str, Any] | None = None, after: int = 0
    ) -> int:
        """A new run's id: one more than any before it, and than `after` (the last id the files know of)."""
        cursor = self.db.execute(
            "INSERT INTO runs (id, command, trigger, started_at, user, request)"
            " VALUES (max(coalesce((SELECT max(id) FROM runs), 0), ?) + 1, ?, ?, ?, ?, ?)",
            (after, command, trigger, now_utc(), user, json.dumps(request) if request else None),
        )
        return int(cursor.lastrowid or 0)

    def end(
        self,
        run_id: int,
        outcome: str,
        exit_code: int,
        counts: Mapping[str, int],
        error: str | None = None,
        files: Sequence[Path] | None = None,
        left: Sequence[Left] | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ?, counts = ?, error = ?, files = ?,"
            " left_pending = ? WHERE id = ?",
            (
                now_utc(),
                outcome,
                exit_code,
                json.dumps(dict(counts), sort_keys=True),
                error,
                json.dumps([str(path) for path in files]) if files is not None else None,
                json.dumps([as_json(item) for item in left]) if left is not None else None,
                run_id,
            ),
        )

    def get(self, run_id: int) -> Run | None:
        found = self.find(limit=1, run_id=run_id)[0]
        return found[0] if found else None

    def recent(self, limit: int | None = 10, *, trigger: str | None = None) -> list[Run]:
        """The last runs, newest first (or those of one trigger); `limit` None: all."""
        return self.find(limit=limit, trigger=trigger)[0]

    def find(
        self,
        *,
        limit: int | None,
        offset: int = 0,
        run_id: int | None = None,
        trigger: str | None = None,
        user: str | None = None,
        ledger: str | None = None,
        period: tuple[dt.date, dt.date] | None = None,
        outcome: str | None = None,
    ) -> tuple[list[Run], int]:
        """Runs newest first, filtered, a page at a time; and how many match. `ledger`: runs that covered it (a
        run without a ledger list covered every ledger); `period`: runs of dates in it, and catch-ups run then."""
        where: list[str] = []
        args: list[object] = []
        for column, value in (("id", run_id), ("trigger", trigger), ("user", user), ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if ledger is not None:
            where.append(
                "(request IS NULL OR json_array_length(request, '$.ledgers') = 0"
                " OR EXISTS (SELECT 1 FROM json_each(request, '$.ledgers') WHERE value = ?))"
            )
            args.append(ledger)
        if period is not None:
            first, last = period[0].isoformat(), period[1].isoformat()
            where.append(
                "(CASE WHEN json_extract(request, '$.from') IS NULL THEN substr(started_at, 1, 10) BETWEEN ?"
                " AND date(?, '+1 day') ELSE json_extract(request, '$.from') <= ?"
                " AND json_extract(request, '$.to') >= ? END)"
            )
            args += [first, last, last, first]
        condition = " AND ".join(where) or "1"
        total = int(self.db.value(f"SELECT count(*) FROM runs WHERE {condition}", args))
        rows = self.db.execute(
            "SELECT id, command, trigger, started_at, ended_at, outcome, exit_code, counts, error, user, request,"
            f" files, left_pending FROM runs WHERE {condition} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        )
        return [run_of(*row) for row in rows], total

    def failed_since(self, command: str, since_run: int) -> int:
        """How many runs of `command` failed, from run `since_run` on (the notifier's count of a lasting failure)."""
        return int(
            self.db.value(
                "SELECT count(*) FROM runs WHERE command = ? AND id >= ? AND outcome = 'failed'", (command, since_run)
            )
        )

    def left_pending(self, run_id: int) -> list[Left]:
        """The dates a run found open or unavailable that are still pending (for runs from before schema 5)."""
        rows = self.db.execute(
            "SELECT ledger_id, topic, ledger_date, status, detail FROM dates WHERE run_id = ?"
            " AND status IN ('open', 'unavailable') ORDER BY ledger_id, ledger_date, topic",
            (run_id,),
        )
        return [
            Left(lid, topic, dt.date.fromisoformat(day), status, detail) for lid, topic, day, status, detail in rows
        ]

    def audit(self, user: str, action: str, run_id: int | None = None, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO audit (at, user, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now_utc(), user, action, run_id, detail),
        )

    def audit_of(self, run_id: int) -> list[Audit]:
        rows = self.db.execute(
            "SELECT at, user, action, run_id, detail FROM audit WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [Audit(*row) for row in rows]

    def downloads(self, run_ids: list[int]) -> dict[int, list[Audit]]:
        """Who downloaded what of each run, oldest first."""
        found: dict[int, list[Audit]] = {run_id: [] for run_id in run_ids}
        for row in self.db.execute(
            "SELECT at, user, action, run_id, detail FROM audit WHERE action = 'download' AND run_id IN"
            " (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(run_ids),),
        ):
            found[row[3]].append(Audit(*row))
        return found


def run_of(
    run_id: int,
    command: str,
    trigger: str,
    started_at: str,
    ended_at: str | None,
    outcome: str | None,
    exit_code: int | None,
    counts: str | None,
    error: str | None,
    user: str | None,
    request: str | None,
    files: str | None,
    left: str | None,
) -> Run:
    return Run(
        run_id,
        command,
        trigger,
        started_at,
        ended_at,
        outcome or UNFINISHED,
        exit_code,
        json.loads(counts) if counts else {},
        error,
        user,
        json.loads(request) if request else None,
        tuple(Path(path) for path in json.loads(files)) if files else (),
        None if left is None else tuple(left_of(item) for item in json.loads(left)),
    )


# What a run left is kept as the JSON it was always kept as: these two translate.
def as_json(item: Left) -> dict[str, str]:
    found = {
        "ledgerId": item.ledger_id,
        "topic": item.topic,
        "date": item.date.isoformat(),
        "status": item.status,
        "detail": item.detail,
    }
    return found if item.format is None else {**found, "format": item.format}


def left_of(item: Mapping[str, str]) -> Left:
    return Left(
        item["ledgerId"],
        item["topic"],
        dt.date.fromisoformat(item["date"]),
        item["status"],
        item["detail"],
        item.get("format"),
    )
