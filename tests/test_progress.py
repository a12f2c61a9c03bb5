"""Progress: a bar on a terminal, one log line per ledger elsewhere."""

import io
import logging

from jobs.progress import Progress


def test_a_terminal_gets_a_bar_and_no_ledger_lines(caplog):
    stream = io.StringIO()
    progress = Progress(4, bar=True, stream=stream)
    with caplog.at_level(logging.INFO, logger="jobs"):
        for ledger, rows in [("a", 3), ("a", None), ("b", 0), ("b", 5)]:
            progress.unit_done(ledger, rows)
        progress.close()
    assert stream.getvalue().endswith("\r[" + "#" * 30 + "] 4/4 ledger dates\n")
    assert "\r[" + "#" * 15 + " " * 15 + "] 2/4 ledger dates" in stream.getvalue()
    assert not caplog.records


def test_cron_gets_a_line_per_ledger_and_no_bar(caplog):
    stream = io.StringIO()
    progress = Progress(4, bar=False, stream=stream)
    with caplog.at_level(logging.INFO, logger="jobs"):
        for ledger, rows in [("a", 3), ("a", None), ("b", 0), ("b", 5)]:
            progress.unit_done(ledger, rows)
        progress.close()
    assert stream.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == [
        "ledger a: 1 dates written (3 rows), 1 pending",
        "ledger b: 2 dates written (5 rows), 0 pending",
    ]
