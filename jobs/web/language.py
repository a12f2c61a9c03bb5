"""The page in the reader's language: which one, the words of the trade, and dates and money as she writes them.

Norwegian (bokmål) first, then English; Danish and Finnish can follow from the same gettext catalogues
(jobs/web/translations/<lang>/LC_MESSAGES/messages.po, compiled to .mo when the project is installed).
The language is the one she picked on the page (a cookie), else the best her browser asks for, else
Norwegian. Every text is an English msgid in a template or here, never a string chosen in code.

Formatting for people has this one home: dates as 31.10.2026 (nb) or 31/10/2026 (en), money as exact
minor units in the reader's digits (1 234,50 or 1,234.50), through Babel.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import request
from flask_babel import get_locale, lazy_gettext

LANGUAGES = {"nb": "Norsk", "en": "English"}  # shown in their own language, in this order
# Formatting locales: English readers of this page are in Europe, so 31/10/2026 and a 24-hour clock.
FORMATTING = {"nb": "nb_NO", "en": "en_GB"}
ALIASES = {"no": "nb", "nn": "nb"}  # a browser asking for Norwegian or Nynorsk gets bokmål
COOKIE = "report_export_language"

_ = lazy_gettext
TOPICS = {"funds": _("Settlements (funds)"), "fees": _("Fees (fees)")}
FORMATS = {
    "xlsx": _("Spreadsheet for people (XLSX)"),
    "csv": _("CSV for import tools"),
    "gbat10": _("Vouchers for Tripletex, PowerOffice and Visma (GBAT10)"),
    "camt053": _("Bank statement for bank reconciliation (camt.053)"),
    "vipps-xml": _("Settlement report for Tripletex's Vipps import (Vipps XML)"),
}
PRESETS = {
    "standard": _("International (UTF-8, comma, amounts with a point)"),
    "no": _("Norway (semicolon, decimal comma)"),
    "dk": _("Denmark (semicolon, decimal comma)"),
    "fi": _("Finland (semicolon, decimal comma)"),
}
# What a run's outcome and a failed run's exit code mean to her; the engine's own words go under "for IT".
OUTCOMES = {
    "ok": _("Done"),
    "pending": _("Done; some dates are not closed yet"),
    "nothing to do": _("Nothing new"),
    "overdue": _("Done; some dates are long overdue"),
    "waiting": _("Done; some vouchers or statements are not written yet"),
    "failed": _("Failed"),
    "interrupted": _("Stopped"),
    "stopped": _("Stopped"),
}
FAILURES = {
    2: _("The export was asked for in a way the tool does not understand. Ask IT."),
    3: _("The tool is not set up completely. Ask IT to run report-export check."),
    4: _("Vipps MobilePay did not accept the keys. Ask IT to check them."),
    5: _("Vipps MobilePay did not answer as expected, or a date did not add up. Try again later; if it lasts, ask IT."),
    6: _("The files could not be written (the disk may be full). Ask IT."),
    7: _("Another export is running. Try again when it has finished."),
    14: _(
        "Some payouts got no settlement report for Tripletex: they hold entries it has no place for. The list "
        "below says which; book them from the spreadsheet or the bank statement."
    ),
    130: _("The export was stopped before it finished. Nothing half-written was kept."),
}
INTERNAL = _("Something went wrong on our side. Try again; if it lasts, ask IT.")
HTTP_ERRORS = {  # for Werkzeug's own answers, whose texts are English and technical
    400: _("The page could not understand what was sent. Go back and try again."),
    404: _("There is no such page. Check the address, or start from the overview."),
    405: _("This page cannot be used that way. Start from the overview."),
    413: _("What was sent is too large for this page."),
}


def select_language() -> str:
    """Her pick on the page, else her browser's best, else Norwegian."""
    picked = request.cookies.get(COOKIE)
    if picked in LANGUAGES:
        return picked
    for asked, _quality in request.accept_languages:
        code = asked.split("-")[0].split("_")[0].lower()
        code = ALIASES.get(code, code)
        if code in LANGUAGES:
            return code
    return "nb"


def language() -> str:
    return str(get_locale() or "nb")


def formatting_locale() -> str:
    return FORMATTING.get(language(), "nb_NO")


def day(value: dt.date | str | None) -> str:
    """A date as she writes it: 31.10.2026."""
    if not value:
        return "–"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return format_date(value, "dd.MM.y" if language() == "nb" else "dd/MM/y", locale=formatting_locale())


def month(value: dt.date) -> str:
    """A month as she names it: oktober 2026."""
    return format_date(value, "LLLL y", locale=formatting_locale())


def moment(stamp: str | float | None, zone: dt.tzinfo) -> str:
    """A moment from the state (a UTC ISO timestamp, or seconds) as her wall-clock time: 02.12.2026 01:31."""
    if not stamp:
        return "–"
    if isinstance(stamp, str):
        when = dt.datetime.fromisoformat(stamp).astimezone(zone)
    else:
        when = dt.datetime.fromtimestamp(stamp, zone)
    pattern = "dd.MM.y HH:mm" if language() == "nb" else "dd/MM/y HH:mm"
    return format_datetime(when, pattern, tzinfo=zone, locale=formatting_locale())


def money(minor: int | None) -> str:
    """Minor units in her digits, exact: 1 234 567,89."""
    if minor is None:
        return "–"
    return format_decimal(Decimal(minor).scaleb(-2), format="#,##0.00", locale=formatting_locale())


def number(value: int) -> str:
    return format_decimal(value, locale=formatting_locale())


def failure(code: int | None) -> str:
    return str(FAILURES.get(code, INTERNAL)) if code else ""
