"""What a notice tells about that lasts, as typed values; in the state they are text keys (notify_conditions):

    overdue 302321 funds 2026-10-02          a ledger date pending longer than [state] warn_after_days
    waiting 302321 funds 2026-10-02 gbat10   a voucher or statement not written yet (jobs.output)
    withdrawn 5551234                        a ledger the keys can no longer read
    failing run 812 4 the token endpoint...  a command whose runs fail: since run 812, with exit 4, this error
    ok                                       [notify] on_success: the day's sign of life was sent

Each is told with the run's date it was first seen (since) and last named in a notice (told). A command has
one failure at a time: Failing compares by command only, and `same_as` says whether a failure repeats it.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, field
from typing import ClassVar, NamedTuple

NUMBERS = re.compile(r"\d+(?:[.:]\d+)*")


class Told(NamedTuple):
    since: str  # the run's date (YYYY-MM-DD) when it was first seen; "" for ok
    told: str  # the run's date of the last notice that named it


@dataclass(frozen=True)
class Overdue:
    ledger: str
    topic: str
    date: str
    kind: ClassVar[str] = "overdue"


@dataclass(frozen=True)
class Waiting:
    ledger: str
    topic: str
    date: str
    format: str
    kind: ClassVar[str] = "waiting"


@dataclass(frozen=True)
class Withdrawn:
    ledger: str
    kind: ClassVar[str] = "withdrawn"


@dataclass(frozen=True)
class Failing:
    """A command's runs fail, the same way each time: the same exit code and the same `gist` of the error."""

    command: str
    code: int = field(compare=False)
    gist: str = field(compare=False)
    first_run: int = field(compare=False)  # the run it began with: failed runs are counted from there
    kind: ClassVar[str] = "failing"

    def same_as(self, other: Failing) -> bool:
        return (self.command, self.code, self.gist) == (other.command, other.code, other.gist)


@dataclass(frozen=True)
class DailyOk:
    kind: ClassVar[str] = "ok"


Condition = Overdue | Waiting | Withdrawn | Failing | DailyOk
LASTING = (Overdue, Waiting, Withdrawn, Failing)  # what a notice lists while it lasts, and says "recovered" of


def gist(error: str) -> str:
    """The first line of an error without its numbers: the ledger date a run had reached, how many attempts it
    made, a port or a time differ from run to run, while the failure is the same."""
    lines = error.strip().splitlines()
    return NUMBERS.sub("#", lines[0]) if lines else ""


def key(condition: Condition) -> str:
    """Its text key in the state."""
    if isinstance(condition, Failing):
        return f"failing {condition.command} {condition.first_run} {condition.code} {condition.gist}"
    if isinstance(condition, DailyOk):
        return "ok"
    return " ".join((condition.kind, *astuple(condition)))


def parse(text: str) -> Condition:
    kind, _, rest = text.partition(" ")
    words = rest.split(" ")
    if kind == "failing":
        command, *more = rest.split(" ", 3)
        if len(more) < 3:  # "failing run", as releases before the daily summary wrote it: no failure repeats it
            return Failing(command, 0, "", 0)
        first_run, code, text = more
        return Failing(command, int(code), text, int(first_run))
    if kind == "overdue":
        return Overdue(*words)
    if kind == "waiting":
        return Waiting(*words)
    if kind == "withdrawn":
        return Withdrawn(*words)
    if kind == "ok":
        return DailyOk()
    raise ValueError(f"not a notify condition: {text!r}")
