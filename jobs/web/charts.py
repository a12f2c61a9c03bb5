"""A ledger's last days at a glance: daily captures, fees and payouts as small bar rows, drawn as inline SVG.

From the state's per-date sums (what the nightly run and exports recorded), never from new API calls.
Each row has its own scale, so a day of fees is visible beside a day of captures; the numbers are in
the chart's text, for screen readers and for anyone who wants them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jobs.reconcile import categorize

ROWS = (("captures", "captures"), ("fees", "fees retained"), ("payouts", "payouts"))  # (row, funds category)
BAR_WIDTH = {30: 6, 90: 2}  # pixels per day: both charts are 180 px wide
ROW_HEIGHT = 14


@dataclass(frozen=True)
class Row:
    name: str
    total: int  # minor units over the days
    bars: list[tuple[int, int]]  # (x, height) per day with a movement


@dataclass(frozen=True)
class Chart:
    days: int
    width: int
    height: int
    rows: list[Row]


def chart(daily: dict[dt.date, dict[str, int]], last: dt.date, days: int) -> Chart:
    """The `days` ending with `last`, from {ledger date: {entry type: sum}} of the funds topic."""
    width = BAR_WIDTH[days]
    first = last - dt.timedelta(days=days - 1)
    amounts = {name: [0] * days for name, _ in ROWS}
    for day, sums in daily.items():
        offset = (day - first).days
        if 0 <= offset < days:
            totals = categorize("funds", sums)
            for name, category in ROWS:
                amounts[name][offset] = totals[category]
    rows = []
    for name, _ in ROWS:
        values = amounts[name]
        top = max((abs(v) for v in values), default=0) or 1
        bars = [(n * width, max(1, round(abs(v) / top * (ROW_HEIGHT - 2)))) for n, v in enumerate(values) if v]
        rows.append(Row(name, sum(values), bars))
    return Chart(days, days * width, len(ROWS) * ROW_HEIGHT, rows)
