"""Sign-in: argon2 password hashes in the state, a signed session cookie, throttling after failures.

Users are made by an administrator with `report-export users add NAME`; the page has no sign-up.
After FAILURES_PER_USER failed sign-ins for one name, or FAILURES_PER_ADDRESS from one address,
within THROTTLE_SECONDS, sign-in is refused for that name or address (even with the right password)
until the window has passed: guessing costs hours, a mistyped password costs nothing.
"""

from __future__ import annotations

import argon2
from flask import Blueprint, redirect, render_template, request, session, url_for

from jobs.web.app import the_web

FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20
THROTTLE_SECONDS = 15 * 60
OPEN = {"auth.signin", "auth.favicon", "static"}  # the only endpoints for people who are not signed in

blueprint = Blueprint("auth", __name__)
_hasher = argon2.PasswordHasher()  # argon2id with the library's current parameters
# Checked when a name is unknown, so an unknown name costs as long as a wrong password.
_UNKNOWN = _hasher.hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_ok(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _UNKNOWN, password) and stored is not None
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


def require_signed_in():
    """Every page but sign-in needs a live session of a user who still exists."""
    if request.endpoint in OPEN:
        return None
    web = the_web()
    user, since = session.get("user"), session.get("since", 0)
    lifetime = web.settings.web.session_hours * 3600
    if user and web.now() - since < lifetime:
        with web.state(read_only=True) as state:
            if state.password_hash(user) is not None:
                return None
    if user:  # expired, or the user was removed: end it. A session without a user keeps its CSRF token,
        session.clear()  # or a second tab's sign-in page would invalidate the form in the first
    return redirect(url_for("auth.signin", next=request.path if request.method == "GET" else None))


@blueprint.route("/favicon.ico")
def favicon():
    """Browsers ask for it on every page, signed in or not: nothing to send, and no redirect to sign-in."""
    return "", 204


@blueprint.route("/signin", methods=["GET", "POST"])
def signin():
    web = the_web()
    if request.method == "GET":
        return render_template("signin.html", error=None)
    name, password = request.form.get("user", "").strip(), request.form.get("password", "")
    address = request.remote_addr or "?"
    with web.state() as state:
        by_user, by_address = state.signin_failures(name, address, since=web.now() - THROTTLE_SECONDS)
        if by_user >= FAILURES_PER_USER or by_address >= FAILURES_PER_ADDRESS:
            minutes = THROTTLE_SECONDS // 60
            error = f"Too many failed sign-ins. Wait {minutes} minutes, or ask IT to reset your password."
            return render_template("signin.html", error=error), 429
        if not password_ok(state.password_hash(name), password):
            state.record_signin_failure(name, address, web.now())
            return render_template("signin.html", error="Wrong name or password."), 401
        state.audit(name, "sign-in", detail=address)
    session.clear()  # a fresh session, never one an attacker planted
    session.permanent = True
    session.update(user=name, since=web.now())
    target = request.args.get("next", "")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target  # never another site
    return redirect(target if local else url_for("exports.ledgers"))


@blueprint.route("/signout", methods=["POST"])
def signout():
    with the_web().state() as state:
        state.audit(session.get("user", "?"), "sign-out")
    session.clear()
    return redirect(url_for("auth.signin"))
