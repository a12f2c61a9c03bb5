"""Dates served with a defect, made on request (Sandbox.corrupt): balances that do not add up, for
reconciliation tests, and text that is not valid Unicode.

The real API's own examples hold such inconsistencies. A defect changes one or
two entries of one (ledger, topic, date), at positions fixed by how many entries
the closed date holds, so the date endpoint, the feed and entries() all serve
the same corrupted entries and a big date is still made a page at a time. An
open date (today) serves a prefix of what the closed date will serve, defect
included where it falls within that prefix.

Which reconciliation checks fail, for a date of n entries and m = n // 2:

    kind               what changes                          balance  chain         sums  payout last
    "balance"          entry m: balanceAfter is               fails    fails (m+1)   holds holds
                       balanceBefore + amount + 1; entry m+1
                       still starts from the correct value
    "chain"            entry m: balanceBefore and             holds    fails (m      holds holds
                       balanceAfter both + 100                         and m+1)
    "amount"           entry m: amount + 100, its balances    fails    holds         fails holds
                       as they were (the amounts no longer
                       add up to the balance change)
    "payout-not-last"  the payout (entry n-1, funds only)     holds    holds         holds fails
                       swaps places and times with entry n-2;
                       balances recomputed along the new order
    "lone-surrogate"   entry m: its reference ends in half    holds    holds         holds holds
                       an emoji, a lone surrogate, which
                       JSON can only carry as an escape
                       ("\\ud83d"), so the whole reply is
                       served with non-ASCII escaped

Entry numbers count from 0. balance, chain and amount need n >= 3, so the
corrupted entry has a neighbour on each side, is not the payout, and the opening
and closing balances stay true. A "sums" defect cannot be made on its own: when
every entry has balanceAfter = balanceBefore + amount and each balanceBefore is
the previous balanceAfter, the amounts telescope to closing minus opening, by
construction; "amount" breaks the first of those to break the sums.
"""

from __future__ import annotations

from .messages import JsonObject

KINDS = ("balance", "chain", "amount", "payout-not-last", "lone-surrogate")
BALANCE_OFF = 1  # øre added to the balanceAfter of a "balance" entry
CHAIN_SHIFT = 100  # øre added to both balances of a "chain" entry
AMOUNT_OFF = 100  # øre added to the amount of an "amount" entry
HALF_EMOJI = "\ud83d"  # the first half of U+1F4B8 (money with wings) without its second
PAYOUT_TYPES = frozenset({"payout-scheduled", "scheduled-for-payout"})


def check_kind(kind: str) -> None:
    if kind == "sums":
        raise ValueError(
            'a "sums" defect cannot be made: with every entry\'s balances right and chained, the amounts '
            'add up to closing minus opening by construction (an "amount" defect breaks both)'
        )
    if kind not in KINDS:
        raise ValueError(f"defect kind must be one of {KINDS}, got {kind!r}")


def check_date(kind: str, topic: str, count: int, last_type: str | None, where: str) -> None:
    """ValueError unless `kind` can be made on a closed date of `count` entries ending in `last_type`."""
    check_kind(kind)
    if count == 0:
        raise ValueError(f"{where} has no entries: nothing to corrupt")
    if kind in ("balance", "chain", "amount") and count < 3:
        raise ValueError(f"a {kind!r} defect needs 3 entries or more; {where} has {count}")
    if kind == "payout-not-last":
        if topic != "funds":
            raise ValueError(f"a 'payout-not-last' defect needs a funds date, got {topic!r}")
        if count < 2 or last_type not in PAYOUT_TYPES:
            raise ValueError(f"{where} has no payout with an entry before it")


def touched(kind: str, count: int) -> tuple[int, ...]:
    """Positions the defect changes in a closed date of `count` entries."""
    if kind == "payout-not-last":
        return (count - 2, count - 1)
    return (count // 2,)


def apply(kind: str, originals: dict[int, JsonObject]) -> dict[int, JsonObject]:
    """The served entries at the touched positions, from fresh copies of the untouched ones."""
    if kind == "balance":
        ((i, entry),) = originals.items()
        return {i: {**entry, "balanceAfter": entry["balanceAfter"] + BALANCE_OFF}}
    if kind == "amount":
        ((i, entry),) = originals.items()
        return {i: {**entry, "amount": entry["amount"] + AMOUNT_OFF}}
    if kind == "lone-surrogate":
        ((i, entry),) = originals.items()
        return {i: {**entry, "reference": f"{entry.get('reference') or ''} {HALF_EMOJI}"}}
    if kind == "chain":
        ((i, entry),) = originals.items()
        shifted = {"balanceBefore": entry["balanceBefore"] + CHAIN_SHIFT}
        shifted["balanceAfter"] = entry["balanceAfter"] + CHAIN_SHIFT
        return {i: {**entry, **shifted}}
    (i, before), (j, payout) = sorted(originals.items())
    start = before["balanceBefore"]
    moved = {**payout, "time": before["time"], "balanceBefore": start, "balanceAfter": start + payout["amount"]}
    mid = moved["balanceAfter"]
    after = {**before, "time": payout["time"], "balanceBefore": mid, "balanceAfter": mid + before["amount"]}
    return {i: moved, j: after}
