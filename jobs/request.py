"""What a run is asked to do, whoever asks: one RunRequest per run.

It is built once: from the command line's options over config.toml (jobs.cli.run), from the page's
form (jobs.web.exports), or for the schedule from config.toml alone (`scheduled`). The engine reads it
(jobs.runner, jobs.export, jobs.feed); the run's row records it (`record`: the history and
`status --json` read that JSON, and rows written by older releases hold the same keys, fewer of them);
and a failed run's notice repeats it as the command that does the work again (`redo`).

An option is one field here, with its command-line option and its key in the record as the field's
metadata (`option`); argparse's definition of it in jobs.cli has the field's name as its dest.
tests/test_request.py fails for a field that does not come back through `redo` and the command line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.settings import Settings


def option(flag: str, key: str) -> dict[str, str]:
    """A field's command-line option and its key in the run's record."""
    return {"option": flag, "record": key}


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What to export and how, config.toml's choices filled in: request_for() builds one."""

    command: str  # "run" (ledger dates) or "feed"
    first: dt.date | None = field(default=None, metadata=option("--from", "from"))  # None, last None: catch-up
    last: dt.date | None = field(default=None, metadata=option("--to", "to"))
    ledgers: tuple[str, ...] = field(default=(), metadata=option("--ledger", "ledgers"))  # (): every readable one
    topics: tuple[str, ...] = field(metadata=option("--topic", "topics"))
    formats: tuple[str, ...] = field(metadata=option("--format", "formats"))
    csv_preset: str = field(metadata=option("--csv-preset", "csvPreset"))
    out: Path = field(metadata=option("--out", "out"))  # absolute: the state records where files are
    combine: bool = field(default=False, metadata=option("--combine", "combine"))  # also one file for the period
    strict: bool = field(metadata=option("--strict", "strict"))  # a date that does not add up gets no file
    concurrency: int = field(metadata=option("--concurrency", "concurrency"))  # ledger dates at once
    wait: bool = field(default=False, metadata=option("--wait", "wait"))  # queue behind a running export
    detailed_exit_codes: bool = field(default=False, metadata=option("--detailed-exit-codes", "detailedExitCodes"))
    # Who asks: the run row's own columns, never an option.
    trigger: str = "cli"  # cli, schedule or web
    user: str = ""

    @property
    def records_dates(self) -> bool:
        """False for the page's exports: they change nothing the catch-up reads (which ledgers it knows, which
        dates are exported or pending); the run's own row says what they wrote and left open."""
        return self.trigger != "web"

    def record(self) -> dict[str, Any]:
        """The JSON of the run's row: every option, by its key."""
        return {f.metadata["record"]: _json(getattr(self, f.name)) for f in OPTIONS}

    def redo(self, settings: Settings) -> str:
        """The command that does this run's work again: each option that differs from what config.toml gives,
        and the config file and a --state, absolute, so that it reads the same from any folder."""
        usual = request_for(settings, self.command)
        words = ["report-export", self.command]
        if settings.config_file is not None:
            words += ["--config", os.path.abspath(settings.config_file)]
        if settings.state_given:
            words += ["--state", os.path.abspath(settings.state_path)]
        for f in OPTIONS:
            value, default = getattr(self, f.name), getattr(usual, f.name)
            if value == default or (f.name in PAGES_OWN and self.trigger == "web"):
                continue
            flag = f.metadata["option"]
            if isinstance(value, bool):
                words.append(flag if value else f"--no-{flag[2:]}")
            elif isinstance(value, tuple):
                words += [word for item in value for word in (flag, item)]
            else:
                words += [flag, str(value)]
        return shlex.join(words)


OPTIONS = tuple(f for f in dataclasses.fields(RunRequest) if "option" in f.metadata)
# What a page export's request holds for the page alone (jobs.web.exports): from the command line its work is
# redone where the nightly run writes, and as a command line waits or not.
PAGES_OWN = ("out", "wait")


def request_for(settings: Settings, command: str = "run", **given: Any) -> RunRequest:
    """A request with config.toml's choices, and the `given` ones over them (None: config's)."""
    usual = RunRequest(
        command=command,
        topics=settings.topics,
        formats=settings.formats,
        csv_preset=settings.csv_preset,
        out=settings.out.absolute(),
        strict=settings.strict,
        concurrency=settings.concurrency,
    )
    chosen: dict[str, Any] = {
        name: tuple(dict.fromkeys(value)) if isinstance(value, list | tuple) else value
        for name, value in given.items()
        if value is not None
    }
    if "out" in chosen:
        chosen["out"] = Path(chosen["out"]).absolute()  # the state records where files are, whatever the cwd
    return dataclasses.replace(usual, **chosen)


def by_hand(settings: Settings, ledger_id: str, topic: str, day: dt.date) -> str:
    """The command that fetches one ledger date by hand (an overdue one), written as a redo line is."""
    return request_for(settings, "run", first=day, last=day, ledgers=(ledger_id,), topics=(topic,)).redo(settings)


def scheduled(settings: Settings, user: str) -> RunRequest:
    """What the schedule runs: the catch-up, as config.toml says."""
    return request_for(settings, "run", trigger="schedule", user=user)


def _json(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.date | Path):
        return str(value)
    return value
