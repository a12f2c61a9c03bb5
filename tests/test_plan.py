"""The plan of a period: ledger dates in the order a long run completes a ledger's files early."""

import datetime as dt

from jobs.plan import plan


def test_the_plan_goes_ledger_by_ledger_then_date_then_topic():
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    assert [(u.ledger_id, u.date.day, u.topic) for u in plan(["a", "b"], ["funds", "fees"], days)] == [
        ("a", 1, "funds"),
        ("a", 1, "fees"),
        ("a", 2, "funds"),
        ("a", 2, "fees"),
        ("b", 1, "funds"),
        ("b", 1, "fees"),
        ("b", 2, "funds"),
        ("b", 2, "fees"),
    ]
