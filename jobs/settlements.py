"""Settlements: a payout and the payments it pays out, written as the Vipps settlement XML (--format vipps-xml).

What a settlement is, and which dates it pays out, is jobs.settlement_dates' business; here is
when and where it is written.

When a run exports a funds date that holds a payout and vipps-xml is asked for, the date is queued
for the format in the state, in the same commit as its 'exported' row (owed()). After the run's
dates, settle() writes what is queued: for each payout one file
`<out>/<ledger>/funds/<ledger>_settlement_<first date>_<payout date>.xml`, or with --combine one per
ledger for the period (`..._settlement_<from>_<to>.xml`), holding every payout whose date lies in
it. A payout's date lands in one of three places:

- written: the file and its manifest are in place, and the date leaves the queue;
- waiting: a date of the settlement is not closed yet (tryLater) or not served (404). The payout
  stays queued (the state's table of files that wait, shared with issue 18's vouchers and
  statements), and every catch-up that writes vipps-xml tries it again, into the folder of the run
  that found it, until it is written, however long that takes; `status` names it;
- refused (Unfit, exit 14): the settlement cannot be written so that the file adds up to the payout.
  No file; the reason goes to the log, to the run's notice and to its row in the state (the page's
  run history); every other file is written. It leaves the queue, as nothing later would change it;
  a run that exports the date again tries it again.

A page export (record=False) writes what this run's dates pay out into its own folder, and neither
reads nor writes the queue.

Rules for what the format cannot hold; each refuses the settlement, naming what it found:

- entries other than captures, refunds, fees-retained and the payout: disputes (retained- and
  returned-disputed-capture), corrections, top-ups, credit notes, types new to us. The format has
  no place for them, and without them the file would not add up to the payout;
- payout-aborted: the money of a payout that never reached the bank comes back and goes out with a
  later one. That later one is refused (as above), and its message says that the aborted payout's
  own file, written when its date closed, paid nothing: its import must be reversed by hand;
- a pspReference that is not a whole number (no sign, no leading zero) within xs:long: TransactionID
  is one, and a made-up number would match nothing in Vipps' own reports;
- a net settlement (it holds fees-retained) whose fees retained are not its payments' fees, e.g. a
  service-fee or credit-note on the fees topic, or a fee booked on another date than its payment;
- a payout that is not the last entry of its date, a payout without a number in its pspReference
  (`<ledgerId>-<number>`; SettlementID is that number), a date whose balances do not add up;
- a capture below zero, a refund above zero, a payment whose fees are in its favour, two payments
  with one pspReference.

And what it can hold, by rule: a payment without a reference (a Vippsnummer sale) has an empty
OrderID, as in Vipps' own reports, so Tripletex books it without closing an invoice; a gross-settled
ledger's settlement (no fees-retained) is Gross: its fees, from the fees topic, are shown per payment
and not deducted, SettledAmount is the gross amount the payout paid, and the monthly fees-invoiced is
not in the file (it is an invoice).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from jobs.api import ReportApi
from jobs.errors import Unfit
from jobs.fees import DuplicatePayment, FeeIndex
from jobs.formats.settlement_xml import LONG_MAX, Details, Head, Ledger, SettlementFile
from jobs.manifest import describe, write_manifest
from jobs.money import format_minor
from jobs.output import Output, file_errors, report_path
from jobs.reconcile import CAPTURE, FEES_RETAINED, REFUND, Check, DateSummary, Payout
from jobs.settlement_dates import PAYMENTS, TOPIC, Days, NotClosed, Settlement, check, find, pages
from jobs.state import State
from jobs.state.dates import Exported

log = logging.getLogger(__name__)
FORMAT = "vipps-xml"
P = ParamSpec("P")
R = TypeVar("R")


class Paid(Protocol):
    """A funds date of this run that holds a payout (jobs.export's Unit, which imports this module)."""

    @property
    def ledger_id(self) -> str: ...

    @property
    def date(self) -> dt.date: ...


@dataclass
class Settled:
    """What settle() did, for the run's result and summary."""

    files: list[Path] = field(default_factory=list)  # the XML files written
    waiting: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (ledger, payout date, what it waits for)
    refused: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (ledger, payout date, why never)


def owed(state: State, key: tuple[str, str, dt.date], out: Path, run_id: int, today: dt.date) -> None:
    """Queue a funds date that holds a payout, for its settlement's file in `out`: called with its 'exported'
    row, so a run killed before settle() leaves it queued for the next."""
    state.dates.record_waiting(
        key, {FORMAT: "its settlement is not written yet"}, [FORMAT], [FORMAT], str(out), run_id, today
    )


def settle(
    api: ReportApi,
    state: State,
    output: Output,
    ledgers: Mapping[str, dict[str, Any]],
    ledger_ids: Sequence[str],
    payouts: Sequence[Paid],
    period: tuple[dt.date, dt.date] | None,
    *,
    combine: bool,
    record: bool,
    run_id: int,
    today: dt.date,
    stop: threading.Event,
    workers: int,
    missing: Mapping[str, str] | None = None,
) -> Settled:
    """Write the settlements of `ledger_ids` paid out on this run's `payouts` (funds units), and with `record`
    those queued in the state (in `period`; all of them in a catch-up), recording what became of each. Without
    `record` (a page export) the state's queue is neither read nor written. With `combine`, a ledger a date of
    which this run did not export (`missing`: ledger -> that date) gets no period file: it would lack that
    date's payout."""
    settled = Settled()
    jobs: list[tuple[str, list[dt.date], tuple[dt.date, dt.date] | None, Output]] = []
    known: dict[str, dict[dt.date, Exported]] = {}
    for ledger_id in ledger_ids:
        # Payout date -> the output folder its file belongs in: a queued one's, found by whichever run.
        queued = state.dates.waiting(ledger_id, TOPIC).get((ledger_id, TOPIC), []) if record else []
        found = {
            item.date: Path(item.out)
            for item in queued
            if item.format == FORMAT and (period is None or period[0] <= item.date <= period[1])
        }
        found |= {unit.date: output.out for unit in payouts if unit.ledger_id == ledger_id}
        if not found:
            continue
        if combine and missing and ledger_id in missing:  # that date is named, and pending, already
            log.warning("no vipps-xml period file for ledger %s: %s", ledger_id, missing[ledger_id])
            continue
        known[ledger_id] = state.dates.exported(ledger_id, TOPIC)  # read here: the state is this thread's
        if combine:
            jobs.append((ledger_id, sorted(found), period, output))
        else:
            jobs += [
                (ledger_id, [day], None, dataclasses.replace(output, out=out)) for day, out in sorted(found.items())
            ]
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="settle") as pool:
        futures = [
            pool.submit(_unless_stopped, stop, _write, api, out, ledgers[lid], dates, label, known[lid], run_id)
            for lid, dates, label, out in jobs
        ]
        for (ledger_id, _, _, out), future in zip(jobs, futures, strict=True):
            outcomes = future.result()
            if outcomes is None:
                continue  # stopped: what is left stays queued for the next run
            unfinished = any(status != "written" for status, _, _ in outcomes.values())
            if combine and period is not None and unfinished:  # --combine always comes with a period
                log.warning(
                    "no vipps-xml period file for ledger %s %s..%s: it would lack the payout named below; "
                    "the period's other payouts stay queued",
                    ledger_id,
                    *period,
                )
            for day, (status, detail, files) in outcomes.items():
                key, what = (ledger_id, TOPIC, day), f"ledger {ledger_id} vipps-xml of the payout on {day}"
                if record:  # only what can still be written waits: a refused payout is told, not tried again
                    waits = {FORMAT: detail} if status == "waiting" else {}
                    state.dates.record_waiting(key, waits, [FORMAT], [FORMAT], str(out.out), run_id, today)
                if status == "written":
                    settled.files += [path for path in files if path.suffix == ".xml"]
                    continue
                if status == "waiting":
                    log.warning("waiting: %s: %s; a later run writes it", what, detail)
                    settled.waiting.append((ledger_id, day, detail))
                else:
                    log.error("not written: %s: %s", what, detail)
                    settled.refused.append((ledger_id, day, detail))
    return settled


def _unless_stopped(stop: threading.Event, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    return None if stop.is_set() else work(*args, **kwargs)


Outcomes = dict[dt.date, tuple[str, str, list[Path]]]  # payout date -> (written|waiting|refused, why, files)


class _Failed(Exception):
    """One settlement of a file could not be written: which, and why (NotClosed or Unfit)."""

    def __init__(self, payout_date: dt.date, cause: NotClosed | Unfit) -> None:
        super().__init__(str(cause))
        self.payout_date, self.status = payout_date, "waiting" if isinstance(cause, NotClosed) else "refused"


def _write(
    api: ReportApi,
    output: Output,
    ledger: dict[str, Any],
    payout_dates: list[dt.date],
    period: tuple[dt.date, dt.date] | None,
    known: Mapping[dt.date, Exported],
    run_id: int,
) -> Outcomes:
    """One file: the settlement of one payout, or (with `period`) of every payout in it."""
    day = Days(api, ledger["ledgerId"], known)
    outcomes: Outcomes = {}
    settlements = []
    for payout_date in payout_dates:
        try:
            settlements.append(find(ledger["ledgerId"], payout_date, day))
        except (NotClosed, Unfit) as exc:
            outcomes[payout_date] = ("waiting" if isinstance(exc, NotClosed) else "refused", str(exc), [])
    if not outcomes:
        # The report's dates are its payouts' (as in Vipps' own reports, whose payments may come before them).
        first, last = period or (settlements[0].dates[0], settlements[0].dates[-1])
        try:
            files = write_file(api, output, ledger, settlements, first, last, run_id)
            return {s.dates[-1]: ("written", "", files) for s in settlements}
        except _Failed as exc:
            outcomes[exc.payout_date] = (exc.status, str(exc), [])
    return outcomes  # with --combine, the period's other payouts stay queued as they were


def write_file(
    api: ReportApi,
    output: Output,
    ledger: dict[str, Any],
    settlements: list[Settlement],
    first: dt.date,
    last: dt.date,
    run_id: int,
) -> list[Path]:
    """The file of `settlements` (in order), proven, and its manifest; _Failed (and no file) if one cannot be."""
    ledger_id = ledger["ledgerId"]
    details = Details.of(ledger, output.merchants)
    path = report_path(output.out, ledger_id, TOPIC, f"{first}_{last}", FORMAT)
    summaries: list[DateSummary] = []
    checks: list[dict[str, str | bool]] = []
    paid: list[dict[str, str | int]] = []
    with (
        file_errors(f"ledger {ledger_id} settlements {first}..{last}", output.out),
        SettlementFile(path, output.mode, details, first, last) as file,
    ):
        for settlement in settlements:
            try:
                if not details.account:
                    raise Unfit("the API gives no payout bank account for the ledger (SettlementAccountNum)")
                head, days, proofs = _write_settlement(api, file, settlement)
                failed = "; ".join(f"{c.name}: {c.detail}" for c in proofs if not c.ok)
                if failed:
                    raise Unfit(f"its file would not add up ({failed})")
            except (NotClosed, Unfit) as exc:
                raise _Failed(settlement.dates[-1], exc) from None
            payout = days[-1].payout
            assert payout is not None  # _write_settlement refuses a settlement whose last date holds none
            summaries += days
            checks += [{"date": str(head.date), "name": c.name, "ok": c.ok, "detail": c.detail} for c in proofs]
            paid.append(
                {
                    "settlementId": head.settlement_id,
                    "date": str(head.date),
                    "type": "Net" if head.net else "Gross",
                    "paidOut": -payout.amount,
                }
            )
        content = describe(summaries, closed=True)
        content["checks"] += checks
        content["settlements"] = paid  # minor units, as every amount of a manifest
        file.commit(summaries, sync_folder=False)
        digests = write_manifest([file], content, api_base_url=output.api_base_url, run_id=run_id, mode=output.mode)
    return list(digests)


def _write_settlement(
    api: ReportApi, file: SettlementFile, settlement: Settlement
) -> tuple[Head, list[DateSummary], list[Check]]:
    """One SettlementInfo: its payments with their fees, and the proofs of what it states."""
    ledger_id, payout_date = settlement.ledger_id, settlement.dates[-1]
    net = FEES_RETAINED in settlement.sums  # fees kept back from the payout: net settlement
    with FeeIndex() as fees:
        for date in settlement.dates:
            for rows in pages(api, ledger_id, "fees", date, DateSummary(ledger_id, "fees", date)):
                fees.add(rows)
        file.begin(payout_date, net)
        days, count = [], 0
        for date in settlement.dates:
            summary = DateSummary(ledger_id, TOPIC, date)
            for rows in pages(api, ledger_id, TOPIC, date, summary):
                payments = [row for row in rows if row.entryType in PAYMENTS]
                try:
                    found = fees.fees([row.pspReference for row in payments])
                except DuplicatePayment as exc:
                    raise Unfit(str(exc)) from None
                for row in payments:
                    file.add(row, found.get(row.pspReference, 0))
                count += len(payments)
            check(summary)
            days.append(summary)
        payout = days[-1].payout
        if payout is None:  # the date changed since it was queued
            raise Unfit(f"{payout_date} holds no payout now")
        untaken = fees.untaken() if net else []  # kept back from the payout, yet tied to none of its payments
        if untaken:
            found_text = ", ".join(f"{n} {t} {format_minor(fee)}" for t, n, fee in untaken)
            raise Unfit(
                f"its fees retained include fees tied to none of its payments ({found_text}), which the "
                "format has no place for: the file would not add up to the payout; book this payout from the "
                "CSV or camt.053 files"
            )
        head = file.end(_settlement_id(payout), -payout.amount)
        streamed: Counter[str] = Counter()  # the entries as they came, added up apart from the writer
        for summary in days:
            streamed.update(summary.sums)  # update(), not +: a Counter's + drops amounts below zero
        ledger_side = Ledger(
            transactions=count,
            captures=streamed[CAPTURE],
            refunds=streamed[REFUND],
            fees=fees.taken_total(),
            fees_retained=-streamed[FEES_RETAINED],
            paid=-payout.amount,
        )
        return head, days, file.proofs(ledger_side)


def _settlement_id(payout: Payout) -> int:
    """The payout number, from its pspReference `<ledgerId>-<number>`: what the bank text shows, and stable."""
    if not payout.number or int(payout.number) > LONG_MAX:
        raise Unfit(
            f"the payout's pspReference {payout.psp_reference[:40]!r} holds no payout number "
            "(<ledgerId>-<number>) to be its SettlementID"
        )
    return int(payout.number)
