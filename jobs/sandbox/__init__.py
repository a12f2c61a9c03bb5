"""A local stand-in for the Vipps MobilePay Report API, which has no test environment.

It speaks the real protocol over HTTP on 127.0.0.1, awkward parts included:
both token flows, bearer checks and expiry, ledger paging, date pages with
hasMore/cursor/tryLater, the never-ending feed, GDPR opt-in fields,
injectable faults, and dates whose balances do not add up or whose text is not
valid Unicode, on request. It also
does what the real API does that its docs play down: yesterday stays open until
a closing hour in each ledger's own zone, one ledger's dates run 04:00-04:00, a
negative balance keeps dates open for weeks, Norwegian payouts come without a
usable reference, fees are invoiced monthly on a gross-settled ledger, a ledger
settled weekly pays a week out at once (granted on request), and
/authentication/v1/token, announced but not live, answers 404 unless asked to
serve. The exporter never imports it; the demo and the integration tests do.

    modules      what they hold
    ledgers.py   the ledgers (five readable by default, one more when granted) and their traps
    catalog.py   one sandbox's ledgers: grants, added ledgers, big and corrupted dates
    events.py    what happens on a ledger date, before times and balances
    data.py      deterministic entries per (ledger, date): times, balances, settlement
    closing.py   the sandbox's clock: which dates exist, which are open, when they close
    bulk.py      very large dates, generated a page at a time
    scripted.py  dates that serve exactly the entries a test wrote (hand-computed examples)
    defects.py   dates served with a defect (Sandbox.corrupt), and what fails
    faults.py    fault specs (grammar in its docstring) and their counters
    tokens.py    token endpoints, credentials, bearer checks
    routes.py    Report API endpoints and cursors
    messages.py  request/reply values and error bodies
    server.py    the Sandbox: HTTP server, dispatch, request log
"""

from .faults import Fault, parse_fault
from .ledgers import LEDGERS
from .messages import RequestRecord
from .server import Sandbox
from .tokens import ACCOUNTING_CLIENT, MERCHANT_CLIENT

__all__ = [
    "ACCOUNTING_CLIENT",
    "LEDGERS",
    "MERCHANT_CLIENT",
    "Fault",
    "RequestRecord",
    "Sandbox",
    "parse_fault",
]
