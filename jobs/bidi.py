"""Bidirectional control characters, listed once.

In text from the API (or anywhere) they reorder what is shown around them: with U+202E, "NO:666009"
reads "NO:900666". Voucher texts (jobs.formats.gbat10) and every value the page shows (jobs.web.app)
drop them.
"""

from __future__ import annotations

CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
DROPPED: dict[int, None] = dict.fromkeys(map(ord, CONTROLS))  # for str.translate: removes them
