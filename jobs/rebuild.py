"""A lost or replaced state: noticed before a run records into it, and rebuilt from the manifests on request.

Beside every set of report files lies its manifest (jobs.manifest): the ledger, topic and date, rows, sums,
checks, each file's SHA-256, the run that wrote it, and for a feed batch (since this release) the feed's
cursor after it. A state that was lost (deleted, a disk replaced) or replaced (an older backup put back)
no longer knows what those say, and would silently drop pending dates and write feed entries twice.

Noticed:
- a `run` or `feed` into a state that knows no exported date and no feed position, while the output folder
  holds manifests written by runs the state does not know, stops with StateLost (exit 15), saying so in one
  line with the command that rebuilds it (a page export writes a folder of its own and is not stopped);
- the feed never writes a batch over files the state does not know: a feed folder with batches beyond the
  state's position stops that feed the same way.
Why stop rather than rebuild by itself: a state that is suddenly empty is more often elsewhere than lost (a
[state] path or --state that changed, a volume not mounted, cron in another working folder), and a rebuild
would hide that behind a second state. And a backup brings back what no manifest holds, a rebuild only the
rest: whoever runs the installation chooses, once, and the nightly run never guesses.

Rebuilt (`report-export state rebuild`), what the state lacks, from manifests whose files are all there with
their SHA-256 (a date with a file missing or changed is left for the catch-up, which exports it again):
- each exported date: rows, sums, files with SHA-256, checks failed (a date the state knows stays as it is);
- each ledger the state lacks: its catch-up starts at its earliest exported date ([state] start_date if
  earlier), so no date since then is dropped (those without files, pending ones among them, are asked for
  again); first seen in the order of the runs that wrote its files, so a shared voucher series stays where it was;
- each feed's cursor and next batch number, from its last batch's manifest, where the state is behind it;
- the run numbers: the rebuild is recorded as a run numbered after every run the manifests name.
Not in any manifest, so not rebuilt: pending dates outside the restored catch-up (an on-demand period's), files
that waited (vouchers, statements, settlements), the run history, the page's users, sessions and signing key,
what the notifier told and its outbox, and the cursor of a feed whose manifests predate this release.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError, StateLost
from jobs.manifest import SUFFIX, listed_files, sha256
from jobs.state import State
from jobs.state.feeds import FeedPosition

COMMAND = "state rebuild"


@dataclass(frozen=True)
class DateFiles:
    """What one date's manifest says, its files checked against it."""

    ledger_id: str
    topic: str
    date: dt.date
    rows: int
    sums: dict[str, int]
    files: dict[Path, str]  # path -> SHA-256, the manifest among them
    checks_failed: int
    run_id: int
    written_at: float  # the manifest's modification time


@dataclass(frozen=True)
class Batch:
    """What a feed batch's manifest says."""

    ledger_id: str
    topic: str
    number: int
    rows: int
    cursor: str | None  # after this batch; None in manifests from before this release
    run_id: int
    manifest: Path


@dataclass
class Rebuilt:
    manifests: int = 0
    dates: int = 0  # exported dates added
    ledgers: list[tuple[str, dt.date]] = field(default_factory=list)  # ledgers added, with their catch-up's start
    feeds: int = 0  # feed positions taken
    run_id: int = 0
    problems: list[str] = field(default_factory=list)  # what could not be rebuilt, one line each


def rebuild_command(state: State, out: Path) -> str:
    return f"report-export {COMMAND} --state {state.path.absolute()} --out {out}"


def check_known(state: State, out: Path, run_id: int) -> None:
    """StateLost if the state knows no export, yet `out` holds manifests of runs it does not know. A state rebuilt
    from them knows what they hold, even when none of it could be taken (a feed's position it could not find: the
    feed says so itself, check_feed)."""
    if state.views.knows_exports():
        return
    runs = [run for run in state.runs.recent(None) if run.id != run_id]
    if any(run.command == COMMAND for run in runs):
        return
    earlier = {run.id for run in runs}
    for manifest in manifests(out):
        try:
            written_by = read(manifest).get("runId")
        except ValueError:
            written_by = None  # not readable: whoever wrote it, this state does not know of it
        if written_by not in earlier:  # not a first run killed before it recorded its dates
            raise StateLost(
                f"the state {state.path} knows no exported date and no feed, yet {out} holds report files with "
                f"manifests (e.g. {manifest}): the state was lost or replaced. Restore it from a backup, or rebuild "
                f"it from the manifests with: {rebuild_command(state, out)}; then run again"
            )


def check_feed(state: State, out: Path, folder: Path, position: FeedPosition, start: str, what: str) -> None:
    """StateLost before the feed writes a batch over files the state does not know. The batch at the state's
    position may be there (a run killed before it stored the cursor past it): it is written again from the
    same cursor, unless the state has no cursor and would start from now."""
    batches = feed_batches(folder)
    last = max(batches, default=0)
    if last < position.next_batch or last == position.next_batch and (position.cursor or start != "now"):
        return
    told = f"{what} has batch files up to {last:06d} in {folder}, but the state {state.path} knows "
    told += f"{position.batches} batches: it was lost or replaced, and following the feed would write entries twice"
    try:
        cursor = batch_of(batches[last]).cursor
    except ValueError:
        cursor = None  # a manifest that cannot be read tells no position either
    if cursor is None:
        raise StateLost(
            f"{told}. Their manifests were written before the feed recorded its position in them, so no rebuild "
            f"can find where it stood: restore the state from a backup, or move {folder} aside to follow the feed "
            "again from its beginning into new batch files"
        )
    raise StateLost(f"{told}. Rebuild the state from the manifests with: {rebuild_command(state, out)}")


def rebuild(state: State, out: Path, start_date: dt.date | None, *, user: str = "") -> Rebuilt:
    """Add to the state what the manifests under `out` say and it lacks (see the module's docstring)."""
    found: dict[tuple[str, str], list[DateFiles]] = {}
    feeds: dict[tuple[str, str], list[Batch]] = {}
    done, last_run = Rebuilt(), 0
    for manifest in manifests(out):
        done.manifests += 1
        try:
            if manifest.parent.name == "feed":
                batch = batch_of(manifest)
                feeds.setdefault((batch.ledger_id, batch.topic), []).append(batch)
                last_run = max(last_run, batch.run_id)
            elif (files := date_files(manifest)) is not None:
                found.setdefault((files.ledger_id, files.topic), []).append(files)
                last_run = max(last_run, files.run_id)
        except ValueError as exc:
            done.problems.append(f"not rebuilt: {manifest}: {exc}")
    if not done.manifests:
        raise ConfigError(
            f"no manifest under {out}, so nothing to rebuild the state from: give the output folder "
            "the runs wrote to with --out (or [export] out)"
        )
    done.run_id = state.runs.start(COMMAND, "cli", user=user, after=last_run)
    with state.batched():
        restore_ledgers(state, [files for listed in found.values() for files in listed], start_date, done)
        for (ledger_id, topic), listed in sorted(found.items()):
            known = state.dates.statuses(ledger_id, topic)
            for files in sorted(listed, key=lambda f: f.date):
                if known.get(files.date) != "exported":
                    state.dates.record_exported(
                        (ledger_id, topic, files.date),
                        files.rows,
                        files.sums,
                        files.files,
                        done.run_id,
                        files.checks_failed,
                    )
                    done.dates += 1
        for batches in feeds.values():
            restore_feed(state, max(batches, key=lambda b: b.number), sum(b.rows for b in batches), done)
    counts = {
        "manifests": done.manifests,
        "dates": done.dates,
        "ledgers": len(done.ledgers),
        "feeds": done.feeds,
        "problems": len(done.problems),
    }
    state.runs.end(done.run_id, "ok", 0, counts, files=[], left=[])
    return done


def restore_ledgers(state: State, found: list[DateFiles], start_date: dt.date | None, done: Rebuilt) -> None:
    """The ledgers the state lacks, first seen in the order of the runs that first wrote their files: the ledgers
    of one run at one moment (the state orders those by id), each later run's at a later one."""
    first: dict[str, DateFiles] = {}
    earliest: dict[str, dt.date] = {}
    for files in found:
        lid = files.ledger_id
        if lid not in first or files.run_id < first[lid].run_id:
            first[lid] = files
        earliest[lid] = min(earliest.get(lid, files.date), files.date)
    by_run: dict[int, list[str]] = {}
    for lid in sorted(first):
        by_run.setdefault(first[lid].run_id, []).append(lid)
    seen = dt.datetime.min.replace(tzinfo=dt.UTC)
    for _, ledger_ids in sorted(by_run.items()):
        # When its files were written, to the microsecond: runs a second apart are told apart too.
        written = dt.datetime.fromtimestamp(min(first[lid].written_at for lid in ledger_ids), dt.UTC)
        seen = max(written, seen + dt.timedelta(microseconds=1))
        for lid in ledger_ids:
            start = min(earliest[lid], start_date or earliest[lid])
            if state.ledgers.restore(lid, start, seen.isoformat(timespec="microseconds")):
                done.ledgers.append((lid, start))


def restore_feed(state: State, last: Batch, entries: int, done: Rebuilt) -> None:
    """A feed's position after its last batch, where the state is behind it."""
    if state.feeds.position(last.ledger_id, last.topic).next_batch > last.number:
        return  # the state is as far on
    if last.cursor is None:
        done.problems.append(
            f"not rebuilt: where the feed of ledger {last.ledger_id} {last.topic} stands: the manifest of its last "
            f"batch ({last.manifest}) was written before manifests recorded the cursor; the feed stops there and "
            "says what to do"
        )
        return
    if state.feeds.restore(last.ledger_id, last.topic, last.cursor, last.number + 1, entries):
        done.feeds += 1


def manifests(out: Path) -> Iterator[Path]:
    """The manifests of the dates and feed batches under `out`: <ledger>/<topic>/ and <ledger>/<topic>/feed/."""
    yield from sorted(out.glob(f"*/*/*{SUFFIX}"))
    yield from sorted(out.glob(f"*/*/feed/*{SUFFIX}"))


def read(manifest: Path) -> dict[str, Any]:
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot be read ({exc})") from None
    if not isinstance(content, dict) or content.get("tool") != "report-export":
        raise ValueError("not a report-export manifest")
    return content


def date_files(manifest: Path) -> DateFiles | None:
    """What a date's manifest says, its files checked; None for a period's, a settlement's, or another folder's.
    ValueError: the date is left for the catch-up, and why."""
    ledger_id, topic = manifest.parent.parent.name, manifest.parent.name
    content = read(manifest)
    dates = content.get("dates")
    first, last = dates if isinstance(dates, list) and len(dates) == 2 else (None, "")
    stem = manifest.name.removesuffix(SUFFIX)
    if (
        (content.get("ledgerId"), content.get("topic")) != (ledger_id, topic)
        or first != last
        or content.get("closed") is not True
        or "settlements" in content
        or not re.fullmatch(rf"{re.escape(ledger_id)}_[a-z0-9]+_{re.escape(str(first))}", stem)
    ):
        return None
    files = {manifest: sha256(manifest)}
    for entry in listed_files(manifest):
        path = manifest.parent / entry["name"]
        if not path.is_file():
            raise ValueError(f"{entry['name']} is missing; the catch-up exports {first} again")
        if sha256(path) != entry["sha256"]:
            raise ValueError(f"{entry['name']} changed since it was written; the catch-up exports {first} again")
        files[path] = entry["sha256"]
    try:
        failed = sum(1 for check in content.get("checks", []) if not check.get("ok"))
        sums = {str(entry_type): int(amount) for entry_type, amount in content["sums"].items()}
        return DateFiles(
            ledger_id,
            topic,
            dt.date.fromisoformat(first),
            int(content["rows"]),
            sums,
            files,
            failed,
            int(content["runId"]),
            manifest.stat().st_mtime,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field missing, or of another kind
        raise ValueError(f"not a manifest this release can read ({type(exc).__name__}: {exc})") from None


def feed_batches(folder: Path) -> dict[int, Path]:
    """Batch number -> its manifest, in a feed folder."""
    found = {}
    for manifest in folder.glob(f"*_feed_*{SUFFIX}"):
        number = manifest.name.removesuffix(SUFFIX).rpartition("_feed_")[2]
        if number.isdigit():
            found[int(number)] = manifest
    return found


def batch_of(manifest: Path) -> Batch:
    """A feed batch's manifest, read; ValueError if it is not one of its folder (<ledger>/<topic>/feed/)."""
    ledger_id, topic = manifest.parent.parent.parent.name, manifest.parent.parent.name
    content = read(manifest)
    number = manifest.name.removesuffix(SUFFIX).removeprefix(f"{ledger_id}_{topic}_feed_")
    if not number.isdigit() or (content.get("ledgerId"), content.get("topic")) != (ledger_id, topic):
        raise ValueError("not the manifest of a feed batch of its folder")
    cursor = content.get("cursor")
    try:
        rows, run_id = int(content.get("rows", 0)), int(content.get("runId", 0))
    except (TypeError, ValueError):
        raise ValueError("its rows or runId is not a number") from None
    return Batch(ledger_id, topic, int(number), rows, cursor if isinstance(cursor, str) else None, run_id, manifest)
