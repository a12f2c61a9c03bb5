"""What a run of ledger dates found: Result, filled in by jobs.export as the run goes, read by its summary,
its row in the state (counts and the dates it left) and its notice."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobs import settlements
from jobs.outcome import OUTCOMES, exit_code
from jobs.plan import Unit
from jobs.state.dates import Pending, Waiting
from jobs.state.runs import Left


@dataclass
class Result:
    ledgers: int = 0
    planned: int = 0
    written: list[tuple[Unit, int]] = field(default_factory=list)  # (unit, rows)
    files: list[Path] = field(default_factory=list)
    open: list[Unit] = field(default_factory=list)
    unavailable: list[tuple[Unit, str]] = field(default_factory=list)
    overdue: list[tuple[Unit, Pending]] = field(default_factory=list)  # pending past [state] warn_after_days
    unreconciled: list[Unit] = field(default_factory=list)
    reasons: dict[Unit, str] = field(default_factory=dict)  # why each unreconciled date got no file
    waiting: list[tuple[Unit, Waiting]] = field(default_factory=list)  # files still waiting, after the run
    periods_failed: list[str] = field(default_factory=list)  # period files refused: their balances do not add up
    withdrawn: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Vipps settlement XML (jobs.settlements), per payout's date: found this run, waiting for a date to close
    # (so unsettled; issue 18's `waiting` are files waiting for their chart), or never written
    payouts: list[Unit] = field(default_factory=list)
    unsettled: list[tuple[Unit, str]] = field(default_factory=list)
    unfit: list[tuple[Unit, str]] = field(default_factory=list)
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        failed = self.refused or self.withdrawn or self.unreconciled or self.periods_failed
        return exit_code(
            stopped=self.stopped,
            failed=bool(failed),
            unfit=bool(self.unfit),
            pending=bool(self.open or self.unavailable or self.unsettled),
            did_work=bool(self.planned),
            overdue=bool(self.overdue),
            waiting=bool(self.waiting),
        )

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.exit_code, "failed")

    def left(self) -> list[Left]:
        """The dates this run found open or unavailable, the files it names as waiting (with their format), and the
        settlements it could not write yet or ever, for its row in the state."""
        found: list[tuple[Unit, str, str, str | None]] = [(unit, "open", "tryLater", None) for unit in self.open]
        found += [(unit, "unavailable", why, None) for unit, why in self.unavailable]
        found += [(unit, "waiting", item.reason, item.format) for unit, item in self.waiting]
        found += [(unit, "unsettled", why, settlements.FORMAT) for unit, why in self.unsettled]
        found += [(unit, "refused", why, settlements.FORMAT) for unit, why in self.unfit]
        return [Left(unit.ledger_id, unit.topic, unit.date, status, detail, fmt) for unit, status, detail, fmt in found]

    def counts(self) -> dict[str, int]:
        return {
            "ledgers": self.ledgers,
            "dates": self.planned,
            "written": len(self.written),
            "rows": sum(rows for _, rows in self.written),
            "files": len(self.files),
            "open": len(self.open),
            "unavailable": len(self.unavailable),
            "overdue": len(self.overdue),
            "withdrawn": len(self.withdrawn),
            "unreconciled": len(self.unreconciled) + len(self.periods_failed),
            "waiting": len(self.waiting),
            "unsettled": len(self.unsettled),
            "unfit": len(self.unfit),
        }
