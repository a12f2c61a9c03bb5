"""Text in XML: the one rule the XML writers share (camt.053, the Vipps settlement report, SpreadsheetML).

Characters XML 1.0 cannot hold (controls other than tab, LF and CR; U+FFFE, U+FFFF, lone
surrogates) become U+FFFD: an escape would not make them legal. `&`, `<` and `>` are escaped,
and CR as ``&#13;``, which a parser keeps, where a raw one would be read back as a line feed.
In an attribute value `"` is escaped too (SpreadsheetML escapes it everywhere).
"""

from __future__ import annotations

import re

NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#13;"}
_QUOTED = {**_ESCAPES, ord('"'): "&quot;"}
# Anything escape() changes: cheap to search for, rarely found (most ids and references need nothing).
_CARE = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CARE_QUOTED = re.compile(r'[&<>\r"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def xml_chars(text: str) -> str:
    """`text` with each character XML cannot hold replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def escape(text: str, *, quote: bool = False) -> str:
    """Text for an XML element (or, with `quote`, an attribute value): see the module docstring."""
    if not (_CARE_QUOTED if quote else _CARE).search(text):
        return text
    return xml_chars(text).translate(_QUOTED if quote else _ESCAPES)
