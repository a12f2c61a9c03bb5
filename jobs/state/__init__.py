"""What has been done, in SQLite: one connection (jobs.state.db) and its migrations, and small stores over it.

    with State(path) as state:          the engine, the page's writes, `users`
        state.ledgers                   ledgers.py   which ledgers, since when, where their catch-up starts
        state.dates                     dates.py     dates exported and pending; files of them that wait
        state.feeds                     feeds.py     each feed's cursor and next batch
        state.runs                      runs.py      runs, and what users of the page did (audit)
        state.web                       web.py       the page's users, sessions, sign-ins, signing key, ledger names
        state.notices                   notices.py   what the notifier told, and its outbox
        state.views                     views.py     where each ledger stands, read across the stores
    State.reading(path)                 read-only, beside a run that writes (the page)
    State.snapshot(path)                a copy in memory: `status` never creates, upgrades or locks the file

Stores take and return typed rows (dataclasses); JSON is kept inside the tables where a column holds a document,
and shaped for people and machines only by `status --json` and the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from jobs.state import db
from jobs.state.dates import Dates
from jobs.state.feeds import Feeds
from jobs.state.ledgers import Ledgers
from jobs.state.notices import Notices
from jobs.state.runs import Runs
from jobs.state.views import Views
from jobs.state.web import WebState


class State:
    def __init__(self, path: Path, connection: db.Db | None = None) -> None:
        self.path = Path(path)
        self.db = connection or db.open_db(self.path)
        self.ledgers = Ledgers(self.db)
        self.dates = Dates(self.db)
        self.feeds = Feeds(self.db)
        self.runs = Runs(self.db)
        self.web = WebState(self.db)
        self.notices = Notices(self.db)
        self.views = Views(self.db, self.dates, self.feeds)

    @classmethod
    def reading(cls, path: Path) -> State:
        """Read-only, for many short reads while a run writes (WAL lets readers in beside the writer)."""
        return cls(path, db.reading(Path(path)))

    @classmethod
    def snapshot(cls, path: Path) -> State:
        """The state as it is, copied into memory: looking never creates, upgrades or locks the file."""
        return cls(path, db.snapshot(Path(path)))

    def batched(
        self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> AbstractContextManager[Callable[[], None]]:
        """Writes grouped into one commit per `seconds` (jobs.state.db.Db.batched)."""
        return self.db.batched(seconds, clock)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
