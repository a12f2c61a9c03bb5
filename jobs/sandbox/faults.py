"""Fault injection: what can go wrong, on which request, and how often.

Spec grammar: ``KIND[:key=value,...]``, e.g. ``429:path=/dates/,nth=2,retry-after=1``.

    KIND   429 | 500 | 503 | drop | slow | 401 | 404 | empty-page | repeat-cursor
    path   substring of the request path (default: every known API and token path)
    nth    trigger on the Nth matching request, counting from 1 (default 1)
    count  trigger K requests in a row from the Nth; 0 = every one from the Nth (default 1)
    retry-after  seconds in the Retry-After header (429 only, default 1)
    ms     milliseconds to stall before answering normally (slow only, default 2000)

`404` answers "report for this date not available yet", as the date endpoint does for a
date it does not serve; give it `count=0` (and a path) for a date that is never served.
`empty-page` only matches date and feed page requests; `repeat-cursor` only
those that carry a cursor (a first page has no cursor to repeat). Each fault
counts its own matches, so one request may advance several counters, but at
most one fault (the first listed) acts on it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = ("429", "500", "503", "drop", "slow", "401", "404", "empty-page", "repeat-cursor")
PAGE_KINDS = frozenset({"empty-page", "repeat-cursor"})
_KIND_KEYS = {"429": {"retry-after"}, "slow": {"ms"}}
_COMMON_KEYS = {"path", "nth", "count"}


@dataclass(frozen=True)
class Fault:
    kind: str
    path: str | None = None
    nth: int = 1
    count: int = 1
    retry_after: int = 1
    ms: int = 2000

    def matches(self, path: str, *, known: bool, page: bool, has_cursor: bool) -> bool:
        if self.kind in PAGE_KINDS and not page:
            return False
        if self.kind == "repeat-cursor" and not has_cursor:
            return False
        return known if self.path is None else self.path in path


def parse_fault(spec: str) -> Fault:
    """Parse ``KIND[:key=value,...]``; a bad spec raises ValueError with a one-line message."""
    kind, _, rest = spec.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"fault {spec!r}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    allowed = _COMMON_KEYS | _KIND_KEYS.get(kind, set())
    values: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"fault {spec!r}: {item!r} is not key=value")
        if key not in allowed:
            raise ValueError(
                f"fault {spec!r}: key {key!r} not allowed for {kind} (allowed: {', '.join(sorted(allowed))})"
            )
        if key in values:
            raise ValueError(f"fault {spec!r}: key {key!r} given twice")
        values[key] = value.strip()
    path = values.get("path")
    if path == "":
        raise ValueError(f"fault {spec!r}: path must not be empty")
    return Fault(
        kind=kind,
        path=path,
        nth=_number(spec, values, "nth", 1, minimum=1),
        count=_number(spec, values, "count", 1, minimum=0),
        retry_after=_number(spec, values, "retry-after", 1, minimum=0),
        ms=_number(spec, values, "ms", 2000, minimum=0),
    )


def _number(spec: str, values: dict[str, str], key: str, default: int, *, minimum: int) -> int:
    if key not in values:
        return default
    text = values[key]
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(f"fault {spec!r}: {key} must be an integer >= {minimum}, got {text!r}")
    return int(text)


class FaultBook:
    """The faults of one sandbox with their match counters (shared by all handler threads)."""

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seen: list[int] = []
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault | str) -> Fault:
        fault = parse_fault(fault) if isinstance(fault, str) else fault
        with self._lock:
            self._faults.append(fault)
            self._seen.append(0)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._seen.clear()

    def pick(self, path: str, *, known: bool, page: bool, has_cursor: bool) -> Fault | None:
        """Count this request against every fault it matches; return the one that acts, if any."""
        chosen = None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if not fault.matches(path, known=known, page=page, has_cursor=has_cursor):
                    continue
                self._seen[i] += 1
                n = self._seen[i]
                due = n >= fault.nth and (fault.count == 0 or n < fault.nth + fault.count)
                if due and chosen is None:
                    chosen = fault
        return chosen
