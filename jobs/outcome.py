"""How a run ends: its exit code, decided in one order for the ledger dates' runs and the feed's alike, and the
word the run's row and the page show for it."""

from __future__ import annotations

from jobs.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOTHING_TO_DO,
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_PENDING,
    EXIT_UNFIT,
    EXIT_WAITING,
    ApiError,
)

OUTCOMES = {
    EXIT_OK: "ok",
    EXIT_PENDING: "pending",
    EXIT_NOTHING_TO_DO: "nothing to do",
    EXIT_OVERDUE: "overdue",
    EXIT_WAITING: "waiting",
    EXIT_INTERRUPTED: "stopped",
}


def exit_code(
    *,
    stopped: bool,
    failed: bool,
    pending: bool,
    did_work: bool,
    overdue: bool = False,
    waiting: bool = False,
    unfit: bool = False,
) -> int:
    """How a run ended, in detail: failures first, then settlements a format could not hold, files that wait,
    overdue dates, dates still pending, and whether anything was done. The command line turns pending and
    nothing to do into 0 unless asked."""
    if stopped:
        return EXIT_INTERRUPTED
    if failed:
        return ApiError.exit_code
    if unfit:
        return EXIT_UNFIT
    if waiting:
        return EXIT_WAITING
    if overdue:
        return EXIT_OVERDUE
    if pending:
        return EXIT_PENDING
    return EXIT_OK if did_work else EXIT_NOTHING_TO_DO
