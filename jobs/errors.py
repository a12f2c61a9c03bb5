"""Known failures, grouped by what the person running the tool should do.

    ReportExportError          exit 1: base, never raised itself
    ├── UsageError             exit 2: the command line is wrong
    ├── ConfigError            exit 3: config.toml, .env or the environment is wrong
    ├── AuthError              exit 4: the keys were refused
    ├── ApiError               exit 5: the API could not be used as needed
    │   ├── TransientError         retried; only escapes as ApiError
    │   ├── NotAvailable           404: date not available or no access
    │   ├── ProtocolError          the API answered something we cannot trust
    │   └── Unreconciled           --strict: a date's balances do not add up
    ├── OutputError            exit 6: a report file could not be written
    │   └── DiskFull               the file system under the state is full: "disk full"
    ├── LockHeld               exit 7: another run holds the lock; try again later or --wait
    ├── StateLost              exit 15: the state knows nothing of the report files the output folder holds:
    │                                   lost or replaced; restore it, or `state rebuild` (jobs/rebuild.py)
    ├── Unfit                  exit 14: vipps-xml: a settlement that format cannot hold; that file is not
    │                                   written, every other one is (jobs/settlements.py)
    └── NotDelivered           exit 12: a notification channel did not take a notice (notify --test);
                                        after a run it is logged and kept for the next run, never raised

Every message is one line that names the problem and the fix, and holds no secret.
Exit codes are documented in README.md; tests pin them.
"""

from __future__ import annotations

from typing import Any, overload

EXIT_OK = 0
# Outcomes that are normal every hour exit 0; these two distinct codes only with --detailed-exit-codes:
EXIT_PENDING = 8  # files for every closed date were written, but some dates are still open or unavailable
EXIT_NOTHING_TO_DO = 9  # every ledger date through yesterday was already exported
EXIT_VERIFY_FAILED = 10  # verify: a file is missing, changed, or in no manifest, or there is no manifest
EXIT_OVERDUE = 11  # a date has been pending longer than [state] warn_after_days: still queued, look at it
EXIT_NOT_DELIVERED = 12  # notify --test: a configured channel did not accept the test message
# A voucher or statement of a closed date waits: its chart lacks a key, or the API's balances do not add up.
# The date's other files were written, and it stays queued for the file that waits.
EXIT_WAITING = 13
# 14, not 13: issue 18's files that wait (for a key in the chart) take 13; these never will be written.
EXIT_UNFIT = 14  # a Vipps settlement XML that would not add up to its payout was not written (Unfit)
EXIT_STATE_LOST = 15  # the state does not know the files the output folder holds: lost or replaced (StateLost)
EXIT_INTERNAL = 70  # a bug: EX_SOFTWARE from sysexits.h
EXIT_INTERRUPTED = 130  # stopped by a signal or Ctrl-C, as a shell reports SIGINT: no failure, nothing partial
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE: the reader closed the pipe


class ReportExportError(Exception):
    exit_code = 1


class UsageError(ReportExportError):
    exit_code = 2


class ConfigError(ReportExportError):
    exit_code = 3


class AuthError(ReportExportError):
    exit_code = 4


class ApiError(ReportExportError):
    exit_code = 5


class TransientError(ApiError):
    """A 429, a 5xx or a dropped connection: worth another try after a pause."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # 429 slows every worker down, not just the one that saw it


class NotAvailable(ApiError):
    """404: the API does not say whether the date is not ready or the keys lack access."""


class ProtocolError(ApiError):
    pass


class OutputError(ReportExportError):
    exit_code = 6


class DiskFull(OutputError):
    """SQLite's "database or disk is full", or no room left for the state or its lock: free space, run again."""


class LockHeld(ReportExportError):
    exit_code = 7


class StateLost(ReportExportError):
    """A run would record into a state that does not know the report files under its output folder, dropping
    pending dates or writing feed entries twice: it stops, saying how to restore or rebuild the state."""

    exit_code = EXIT_STATE_LOST


class Unreconciled(ApiError):
    """--strict: a ledger date whose balances do not add up gets no file."""


class Unfit(ReportExportError):
    """A settlement the Vipps settlement XML cannot hold so that it adds up to the payout: no file for it.
    Caught per settlement and named after the run; the run's other files are written."""

    exit_code = EXIT_UNFIT


class NotDelivered(ReportExportError):
    """A mail server or webhook refused a notice, or could not be reached even after retries."""

    exit_code = EXIT_NOT_DELIVERED


@overload
def hide(value: str, secrets: tuple[str, ...]) -> str: ...
@overload
def hide(value: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]: ...
def hide(value: object, secrets: tuple[str, ...]) -> object:
    """The value (text, or JSON-like data) with every secret replaced, the longest first: for what others
    wrote into a message (a webhook receiver that echoes its URL), and for anything stored or logged."""
    if isinstance(value, str):
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            value = value.replace(secret, "[hidden]")
        return value
    if isinstance(value, dict):
        return {key: hide(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [hide(item, secrets) for item in value]
    return value
