"""The notifier's rules one by one, its conditions as text and back, and Notifier across injected days with a
fake state and outbox (tests/test_notify.py runs the same end to end, through the CLI, the sandbox and receivers)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from jobs import config
from jobs.conditions import DailyOk, Failing, Overdue, Told, Waiting, Withdrawn, gist, key, parse
from jobs.notify import RULES, Notifier, Run, Situation, appeared, daily_ok, failed, recovered, reminder

TODAY = "2026-11-20"
YESTERDAY = "2026-11-19"
DENIED = "the token endpoint refused the keys (invalid_client): check VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET"
OVERDUE = Overdue("302321", "funds", "2026-10-02")
OVERDUE_FACT = {"ledgerId": "302321", "topic": "funds", "date": "2026-10-02"}


def run(outcome: str = "failed", code: int = 4, error: str | None = DENIED, command: str = "run", id: int = 9) -> Run:
    return Run(id, command, "schedule", outcome, code, error=error)


def failing(fact: dict | None = None, **changes) -> tuple[Failing, dict]:
    made = {"command": "run", "code": 4, "gist": DENIED, "first_run": 1, **changes}
    return Failing(**made), {
        "command": made["command"],
        "exitCode": made["code"],
        "error": made["gist"],
        "since": YESTERDAY,
        "failedRuns": 8,
        **(fact or {}),
    }


def situation(the_run: Run, known=None, lasting=None, failure=None, on_success=False) -> Situation:
    return Situation(the_run, TODAY, known or {}, lasting or {}, failure, on_success)


# -- each rule --------------------------------------------------------------------------------------------


def test_failed_tells_a_failure_once_and_another_failure_at_once():
    first, fact = failing(first_run=9)
    assert failed(situation(run(), lasting={first: fact}, failure=first)) == ("failed", "run failed (exit 4)")
    told, _ = failing()
    again = situation(run(), known={told: Told(YESTERDAY, TODAY)}, lasting={told: fact}, failure=first)
    assert failed(again) is None
    other, _ = failing(code=5, gist="listing ledgers: HTTP #", first_run=9)
    assert failed(situation(run(code=5), known={told: Told(TODAY, TODAY)}, failure=other)) == (
        "failed",
        "run failed (exit 5)",
    )
    assert failed(situation(run(), failure=None)) == ("failed", "run failed (exit 4)")  # found a ledger withdrawn
    assert failed(situation(run("ok", 0))) is None


def test_appeared_names_the_event_by_the_first_new_kind_and_counts_only_what_is_new():
    waiting = {Waiting("302321", "funds", "2026-11-18", "gbat10"): {}, Withdrawn("5551234"): {"ledgerId": "5551234"}}
    assert appeared(situation(run("ok", 0), lasting=waiting)) == (
        "waiting",
        "1 file waiting; ledger 5551234 no longer readable",
    )
    old_and_new = {OVERDUE: OVERDUE_FACT, Overdue("302321", "funds", "2026-10-03"): OVERDUE_FACT}
    assert appeared(situation(run("ok", 0), known={OVERDUE: Told(YESTERDAY, YESTERDAY)}, lasting=old_and_new)) == (
        "overdue",
        "1 ledger date overdue",
    )
    new_failure, fact = failing()
    assert appeared(situation(run(), lasting={new_failure: fact}, failure=new_failure)) is None  # `failed` tells it


def test_recovered_names_what_still_lasts():
    told, fact = failing(command="feed")
    cleared = situation(
        run("ok", 0), known={OVERDUE: Told(YESTERDAY, TODAY), told: Told(YESTERDAY, TODAY)}, lasting={told: fact}
    )
    assert recovered(cleared) == ("recovered", "recovered; still feed failing since 2026-11-19 (exit 4, 8 failed runs)")
    back, _ = failing()
    assert recovered(situation(run("ok", 0), known={back: Told(YESTERDAY, TODAY)})) == ("recovered", "recovered")
    assert recovered(situation(run("ok", 0), known={DailyOk(): Told("", YESTERDAY)})) is None  # no condition


def test_reminder_once_a_day_for_what_was_told_on_an_earlier_day():
    told, fact = failing()
    lasting = {told: fact, OVERDUE: OVERDUE_FACT}
    yesterday = situation(run(), known={told: Told(YESTERDAY, YESTERDAY)}, lasting=lasting, failure=told)
    assert reminder(yesterday) == (
        "reminder",
        "still run failing since 2026-11-19 (exit 4, 8 failed runs); 1 ledger date overdue",
    )
    today = situation(run(), known={told: Told(YESTERDAY, TODAY)}, lasting=lasting, failure=told)
    assert reminder(today) is None


def test_daily_ok_says_all_good_or_what_lasts_once_a_day_after_a_good_run():
    assert daily_ok(situation(run("ok", 0), on_success=True)) == ("ok", "all good")
    lasting = {OVERDUE: OVERDUE_FACT}
    assert daily_ok(situation(run("pending", 0), lasting=lasting, on_success=True)) == (
        "reminder",
        "still 1 ledger date overdue",
    )
    assert daily_ok(situation(run("ok", 0), known={DailyOk(): Told("", TODAY)}, on_success=True)) is None
    assert daily_ok(situation(run(), on_success=True)) is None
    assert daily_ok(situation(run("ok", 0))) is None


def test_the_rules_are_tried_in_order_failure_first():
    new, fact = failing(first_run=9)
    both = situation(run(), known={OVERDUE: Told(YESTERDAY, YESTERDAY)}, lasting={new: fact}, failure=new)
    assert [rule(both) is not None for rule in RULES] == [True, False, True, False, False]  # failed wins


# -- conditions as the state keeps them --------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, text",
    [
        (Overdue("302321", "funds", "2026-10-02"), "overdue 302321 funds 2026-10-02"),
        (Waiting("302321", "fees", "2026-10-02", "camt053"), "waiting 302321 fees 2026-10-02 camt053"),
        (Withdrawn("5551234"), "withdrawn 5551234"),
        (
            Failing("feed", 5, "listing ledgers: HTTP #: check it", 812),
            "failing feed 812 5 listing ledgers: HTTP #: check it",
        ),
        (DailyOk(), "ok"),
    ],
)
def test_a_condition_is_stored_as_the_text_earlier_releases_wrote_and_read_back(condition, text):
    assert key(condition) == text
    back = parse(text)
    assert back == condition and key(back) == text


def test_a_failing_key_of_an_earlier_release_is_a_failure_no_later_one_repeats():
    old = parse("failing run")
    assert old == Failing("run", 4, DENIED, 7)  # the same command's failure, in its place
    assert not old.same_as(Failing("run", 4, DENIED, 7))
    with pytest.raises(ValueError, match="not a notify condition"):
        parse("lost 1 2")


def test_the_gist_of_an_error_is_its_first_line_without_numbers():
    assert gist("ledger 302321 funds 2026-10-05 page 3: HTTP 503, gave up after 5 attempts\nTraceback") == (
        "ledger # funds #-#-# page #: HTTP #, gave up after # attempts"
    )
    assert gist("webhook to 127.0.0.1:8443: timed out after 10.0 s") == "webhook to #: timed out after # s"
    assert gist("") == ""


# -- the notifier across days, with a fake state and outbox ---------------------------------------------------


class FakeState:
    """The stores the notifier reads and writes (jobs.state), in memory."""

    def __init__(self) -> None:
        self.conditions: dict[str, tuple[str, str]] = {}
        self.history: list[tuple[int, str, str]] = []  # (id, command, outcome), as runner.execute records them
        self.writes = 0
        self.notices = SimpleNamespace(conditions=lambda: dict(self.conditions), set_conditions=self.set_conditions)
        self.runs = SimpleNamespace(failed_since=self.failed_since)
        self.views = SimpleNamespace(standings=lambda: [])
        self.dates = SimpleNamespace(waiting=lambda: {})
        self.ledgers = SimpleNamespace(withdrawn=lambda: {})

    def set_conditions(self, conditions: dict[str, tuple[str, str]]) -> None:
        self.conditions, self.writes = dict(conditions), self.writes + 1

    def failed_since(self, command: str, since_run: int) -> int:
        return sum(1 for id, c, outcome in self.history if c == command and id >= since_run and outcome == "failed")


class FakeOutbox:
    def __init__(self) -> None:
        self.queued: list[dict] = []
        self.deliveries = 0

    def queue(self, notice: dict, run_id: int | None) -> None:
        self.queued.append(notice)

    def deliver(self) -> None:
        self.deliveries += 1

    def hidden(self, value: object) -> str:
        return str(value)


@pytest.fixture
def settings(workdir):
    return config.load(None, environ={"NOTIFY_WEBHOOK_URL": "https://hooks.example/T/B/x"})


def test_hourly_failures_over_two_days_are_told_once_summed_up_daily_then_recovered(settings):
    state, outbox = FakeState(), FakeOutbox()

    def hour(day: dt.date, outcome: str, error: str | None) -> str | None:
        run_id = len(state.history) + 1
        state.history.append((run_id, "run", outcome))
        before = len(outbox.queued)
        the_run = Run(run_id, "run", "schedule", outcome, 4 if outcome == "failed" else 0, error=error)
        Notifier(settings, state, day, outbox).after_run(the_run)
        return outbox.queued[-1]["event"] if len(outbox.queued) > before else None

    days = [dt.date(2026, 11, 20), dt.date(2026, 11, 21)]
    # The same failure, however many attempts it took: only the numbers differ from hour to hour.
    told = {day: [hour(day, "failed", f"{DENIED} ({n % 3 + 1} attempts)") for n in range(24)] for day in days}
    assert told == {days[0]: ["failed"] + [None] * 23, days[1]: ["reminder"] + [None] * 23}
    first, summary = outbox.queued
    assert first["title"].endswith(": run failed (exit 4)") and first["failing"][0]["new"]
    assert summary["title"].endswith(": still run failing since 2026-11-20 (exit 4, 25 failed runs)")
    assert summary["failing"] == [
        {
            "command": "run",
            "exitCode": 4,
            "error": f"{DENIED} (# attempts)",
            "since": "2026-11-20",
            "failedRuns": 25,
            "new": False,
        }
    ]
    assert summary["redo"] == "report-export run"
    assert [hour(days[1], "pending", None), hour(days[1], "ok", None)] == ["recovered", None]
    assert outbox.queued[-1]["recovered"] == [{"condition": "failing", "command": "run"}]
    assert state.conditions == {}
    assert outbox.deliveries == 50  # every run delivers what waits, told or not


@pytest.mark.parametrize("outcome", ["stopped", "interrupted"])
def test_a_run_stopped_on_request_tells_nothing_sends_nothing_and_records_nothing(settings, outcome):
    state, outbox = FakeState(), FakeOutbox()
    state.conditions = {"failing run 3 4 " + DENIED: (YESTERDAY, YESTERDAY), "withdrawn 5551234": (TODAY, TODAY)}
    state.history = [(3, "run", "failed"), (4, "run", outcome)]
    # Neither a failure (exit 130 is not 4: told at once) nor a success (the failure recovered), nor a new day.
    Notifier(settings, state, dt.date(2026, 11, 21), outbox).after_run(Run(4, "run", "cli", outcome, 130, error="x"))
    assert (outbox.queued, outbox.deliveries, state.writes) == ([], 0, 0)
