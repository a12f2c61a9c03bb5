"""What the page's routes share: the settings, the state, the clocks, the exports and the ledgers' listing.

Below the app and its blueprints, so that each imports it and none imports the app (jobs.web.app builds the
Flask app from the blueprints).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flask import current_app, request

from jobs.config import Settings
from jobs.runner import Context
from jobs.state import State

if TYPE_CHECKING:
    from jobs.web.export_jobs import Exports
    from jobs.web.ledgers import Ledgers


@dataclass
class Web:
    """One per `serve`: what every request needs; create_app sets the exports and the ledgers' listing."""

    settings: Settings
    state_path: Path
    context: Context = field(default_factory=Context)
    now: Callable[[], float] = time.time  # wall-clock seconds: sessions, sign-in throttling
    today: Callable[[], dt.date] | None = None  # None: today in the configured zone
    exports: Exports = field(init=False)
    ledgers: Ledgers = field(init=False)

    @contextmanager
    def state(self, *, read_only: bool = False) -> Iterator[State]:
        """The state for one request; read-only ones never wait for a running export's writes."""
        with State.reading(self.state_path) if read_only else State(self.state_path) as state:
            yield state

    def day(self) -> dt.date:
        return self.today() if self.today else self.settings.today()


def the_web() -> Web:
    return cast(Web, current_app.extensions["report_export"])


def page_asked() -> int:
    """The page of a long list asked for with ?page=: 1 unless it is a plain number of a few digits."""
    text = request.args.get("page", "")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1
