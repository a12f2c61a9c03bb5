"""Crontab expressions: APScheduler's trigger for one, refusing what cron and APScheduler read differently, and
this installation's own minute of the hour."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jobs.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger  # 3.x has no type hints: Any (pyproject: [tool.mypy])


def cron_trigger(cron: str, timezone: ZoneInfo, source: str = "") -> CronTrigger:
    """APScheduler's trigger for a crontab expression; a ConfigError naming what to write instead."""
    from apscheduler.triggers.cron import CronTrigger  # about 0.1 s: only for a cron that is configured

    where = f"[schedule] cron {cron!r}" + (f" in {source}" if source else "")
    fields = cron.split()
    # APScheduler 3.x counts weekdays from Monday=0, cron from Sunday=0: a number would
    # silently run on the wrong day.
    if len(fields) == 5 and any(c.isdigit() for c in fields[4]):
        raise ConfigError(f"{where}: write the day of week as names (mon-fri, sun), not numbers")
    try:
        return CronTrigger.from_crontab(cron, timezone=timezone)
    except (ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f'{where} is not a crontab expression ({reason}): use five fields like "23 * * * *"'
        ) from None


def installation_minute(seed: str) -> int:
    """A minute from 11 to 59, the same for one set of keys across restarts and machines: the API asks
    each installation to run hourly at a minute of its own, never :00-:10, so that they spread."""
    return 11 + int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % 49
