"""Dates that serve exactly the entries a test wrote by hand (Sandbox.serve_entries).

A hand-computed example needs entries whose every amount, balance and reference is
known before the exporter runs; generated dates cannot give that. A scripted date
is served like any other: paged, open until it closes (a prefix by `time` while
open), on the feed, with defects on request. Its entries are served as written,
whether or not their balances add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .messages import JsonObject


class ScriptedDate:
    def __init__(self, entries: Iterable[JsonObject]) -> None:
        self._entries = tuple(dict(entry) for entry in entries)
        self.count = len(self._entries)

    def window(self, start: int, stop: int, *, until: str | None, gdpr: bool) -> tuple[list[JsonObject], int]:
        """Fresh copies of entries [start:stop], and how many there are (with `until`: stamped before it)."""
        chosen = [e for e in self._entries if until is None or e["time"] < until]
        return [dict(entry) for entry in chosen[start:stop]], len(chosen)

    def iter_entries(self, *, gdpr: bool = False) -> Iterator[JsonObject]:
        return (dict(entry) for entry in self._entries)
