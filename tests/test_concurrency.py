"""Many workers, one token, one backoff, the same files; and a large date streamed page by page."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import threading
import time
import tracemalloc

import httpx
from conftest import TODAY
from expected import HEADER, csv_rows, read_csv, report

from jobs.auth import TokenAuth
from jobs.config import Credentials, RetryPolicy
from jobs.errors import TransientError
from jobs.retry import Retrier

DAY = dt.timedelta(days=1)


def tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def exported(state_path) -> list[tuple]:
    with sqlite3.connect(state_path) as db:
        return db.execute(
            "SELECT ledger_id, topic, ledger_date, status, rows, sums, files FROM dates ORDER BY 1, 2, 3"
        ).fetchall()


def test_concurrency_8_writes_exactly_what_concurrency_1_writes(sandbox, use_sandbox, run_cli, workdir):
    use_sandbox(sandbox)
    period = ("--from", str(TODAY - 4 * DAY), "--to", str(TODAY - DAY))
    runs = {}
    for n in ("1", "8"):
        result = run_cli("run", *period, "--concurrency", n, "--out", f"out{n}", "--state", f"state{n}.sqlite3")
        assert result.code == 0, result.err
        runs[n] = (tree(workdir / f"out{n}"), exported(workdir / f"state{n}.sqlite3"))
        assert "1 token," in result.out
    files1, files8 = runs["1"][1], runs["8"][1]
    assert runs["1"][0] == runs["8"][0]  # every CSV, XLSX and manifest, byte for byte
    assert [row[:6] for row in files1] == [row[:6] for row in files8]
    assert len(runs["1"][0]) == 5 * 2 * 4 * 3


def test_many_workers_finding_the_token_expiring_make_exactly_one_token_request():
    token_requests = []
    gate = threading.Barrier(8)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/miami/v1/token":
            token_requests.append(time.monotonic())
            time.sleep(0.05)  # a slow token endpoint: the others pile up behind the one refresh
            return httpx.Response(200, json={"access_token": f"t{len(token_requests)}", "expires_in": 900})
        return httpx.Response(200, json={"token": request.headers["Authorization"]})

    now = [0.0]
    auth = TokenAuth(
        Credentials("accounting", "id", "secret"), "https://api.test/miami/v1/token", timeout=5, clock=lambda: now[0]
    )
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth, base_url="https://api.test") as client:
        assert client.get("/x").json() == {"token": "Bearer t1"}
        now[0] = 900 - 30  # inside the 60 s margin: every worker finds the token expiring
        seen = []

        def worker() -> None:
            gate.wait()
            seen.append(client.get("/x").json()["token"])

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(token_requests) == 2  # the first token, then exactly one refresh for all eight
    assert seen == ["Bearer t2"] * 8  # nobody sent the expiring token


def test_a_429_pauses_every_worker_not_just_the_one_that_saw_it():
    retrier = Retrier(RetryPolicy(base_delay=0.01), rng=random.Random(1))
    limited = threading.Event()
    sent_at: dict[str, float] = {}

    def first() -> str:
        if not limited.is_set():
            limited.set()
            sent_at["429"] = time.monotonic()
            raise TransientError("HTTP 429", retry_after=0.2, status=429)
        return "ok"

    def second() -> str:
        sent_at["other"] = time.monotonic()
        return "ok"

    a = threading.Thread(target=retrier.call, args=(first, "a"))
    a.start()
    limited.wait()
    time.sleep(0.02)  # the 429 is being handled: the other worker now asks to send
    assert retrier.call(second, "b") == "ok"
    a.join()
    assert sent_at["other"] - sent_at["429"] >= 0.19  # it waited for the shared pause
    assert retrier.retries == 1


def test_a_large_date_is_written_while_it_is_still_being_fetched(make_sandbox, use_sandbox, run_cli, workdir):
    day = TODAY - DAY
    entries, page = 3_000, 100
    pages = -(-entries // page)
    seen_rows = []

    def sleep(seconds: float) -> None:
        if seconds == 0.001:  # the slow fault on the last page: look at the files being written
            temp = [p for p in workdir.rglob(".*.csv.*.tmp")]
            seen_rows.append(sum(p.read_bytes().count(b"\r\n") for p in temp))

    sandbox = make_sandbox(
        page_size=page,
        sleep=sleep,
        big_dates={("302321", "funds", day): entries},
        faults=[f"slow:path=/302321/funds/dates/,nth={pages},ms=1"],
    )
    use_sandbox(sandbox)
    result = run_cli("run", "--to", str(day), "--ledger", "302321", "--topic", "funds", "--concurrency", "1")
    assert result.code == 0, result.err
    # On disk already, but for the page being written, the one read ahead, the last one and a buffer.
    assert seen_rows and seen_rows[0] >= entries - 4 * page
    rows = read_csv(report(workdir / "reports", "302321", "funds", day, "csv"))
    assert rows == [HEADER] + csv_rows(list(sandbox.iter_entries("302321", "funds", day)), "302321")


def test_memory_does_not_grow_with_the_size_of_a_date(make_sandbox, use_sandbox, run_cli, workdir):
    day = TODAY - DAY
    peaks = {}
    for entries in (2_000, 20_000):
        sandbox = make_sandbox(page_size=500, big_dates={("302321", "funds", day): entries})
        use_sandbox(sandbox)
        tracemalloc.start()
        result = run_cli(
            "run",
            "--to",
            str(day),
            "--ledger",
            "302321",
            "--topic",
            "funds",
            "--out",
            f"out{entries}",
            "--state",
            f"s{entries}.sqlite3",
        )
        peaks[entries] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.code == 0, result.err
    assert peaks[20_000] < 2 * peaks[2_000], peaks  # ten times the rows, not ten times the memory
