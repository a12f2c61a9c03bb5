"""The writers' shared parts on their own: text passed on a chunk at a time, and text made fit for XML.
(Saving and spilling to disk is tested through every writer: tests/test_writers.py.)"""

from __future__ import annotations

import errno
import io
import os

import pytest
from test_writers import make_row

from jobs.formats.open import open_report
from jobs.formats.spill import CHUNK, UTF8_OR_FFFD, TextBuffer, write_atomically
from jobs.formats.xmltext import escape, xml_chars


class Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.writes.append(data)
        return len(data)


def test_text_is_passed_on_as_utf8_once_a_chunk_is_full_and_when_asked():
    sink = Sink()
    text = TextBuffer(sink)
    text.write("å" * CHUNK)
    text.pass_on_if_full()
    assert sink.writes == []  # a chunk, not more: kept
    text.write("ø")
    text.pass_on_if_full()
    assert sink.writes == [("å" * CHUNK + "ø").encode()]
    text.write("x\r\n")
    text.pass_on()
    assert sink.writes[1:] == [b"x\r\n"]  # as written: no newline translation
    text.write("dropped")
    text.clear()
    text.pass_on()
    assert sink.writes[2:] == [b""] and text.getvalue() == ""


def test_a_buffer_may_write_what_utf8_cannot_hold_as_a_replacement_character():
    sink = io.BytesIO()
    text = TextBuffer(sink, UTF8_OR_FFFD)
    text.write("a\ud800b")
    text.pass_on()
    assert sink.getvalue() == "a\ufffdb".encode()


def test_xml_text_keeps_what_xml_can_hold_and_escapes_the_rest():
    assert escape("order-1 æøå 😀\t\n") == "order-1 æøå 😀\t\n"
    assert escape('a<b & "c" > d\r') == 'a&lt;b &amp; "c" &gt; d&#13;'
    assert escape('say "hi"', quote=True) == "say &quot;hi&quot;"
    assert escape("\x00\x1f\ufffe\uffff\ud800 ok") == "\ufffd" * 5 + " ok"
    assert xml_chars("tab\tbell\x07") == "tab\tbell\ufffd"


def test_a_file_that_fails_while_it_is_saved_leaves_nothing_behind(tmp_path, monkeypatch):
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the temp file is written; syncing it fails, as on a full disk
    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "report.manifest.json", b"{}\n", 0o600)

    assert list(tmp_path.iterdir()) == []


def test_rows_passed_on_a_chunk_at_a_time_make_the_same_file_as_rows_written_one_by_one(tmp_path):
    rows = [make_row(f"order-{n}-" + "x" * 90) for n in range(3 * CHUNK // 100)]  # three chunks in one write
    with open_report("csv", tmp_path / "whole.csv") as whole:
        whole.write(rows)
        whole.commit()
    with open_report("csv", tmp_path / "one-by-one.csv") as single:
        for row in rows:
            single.write([row])
        single.commit()

    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "one-by-one.csv").read_bytes()
    assert whole.rows == single.rows == len(rows) and whole.size > 3 * CHUNK
