"""Sign-in, sessions the server can end, throttling, the origin check, and changing one's password.

Users are made by an administrator with `report-export users add NAME`; the page has no sign-up. The
rules for names and passwords are jobs.users'.

A session is a record in the state, found by the SHA-256 of a random id that only the browser's cookie
holds (the state holds no usable session). Each sign-in makes a new one (an id planted before it is
worth nothing). It ends at sign-out; for every session of a user, with a new password, `users remove`
or `users sign-out`; for everyone, with `users sign-out --all` or `users rotate-key`; and by itself,
[web] session_hours after sign-in or idle_minutes after the last request. The cookie is Flask's,
signed with the key in the state, and carries that id and the CSRF token of the page's forms.

Throttling slows guessing without locking anyone out. A name tried from one address gets
FREE_FAILURES failures, then waits 1, 2, 4, ... seconds (at most MAX_DELAY) before the next try
from there; the right password from her own address still gets her in, whatever others try. Past
ADDRESS_FAILURES failures from one address within ADDRESS_WINDOW, that address waits out the window.
A success forgives that name's failures from that address; a new password forgives all of the name's.
Every sign-in is kept SIGNIN_LOG_DAYS days (`report-export users log`).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext, ngettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from jobs import users
from jobs.state import State
from jobs.web.site import Web, the_web

FREE_FAILURES = 3
MAX_DELAY = 15 * 60
ADDRESS_FAILURES = 20
ADDRESS_WINDOW = 15 * 60
SIGNIN_LOG_DAYS = 90
TOUCH_SECONDS = 60  # a session's last request is written at most once a minute
OPEN = {"auth.signin", "auth.favicon", "auth.language", "static"}  # the only endpoints for people who are not signed in
# Where sign-in may send her on: a path of this page, in plain characters (no scheme, no host, no "//",
# no backslash, no control character that a browser would drop to make "//host" of it).
LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/._~%-]{0,500}")
DEFAULT_PORTS = {"http": 80, "https": 443}

blueprint = Blueprint("auth", __name__)
CSRF_MESSAGE = lazy_gettext(
    "The form had expired or was not sent from this page. Go back, reload the page and try again."
)


def same_origin() -> None:
    """CSRF defence beside the token: a form must be sent from this page's own origin. Browsers send Origin
    with every form (Referrer-Policy same-origin keeps it real); Referer is the fallback. Over HTTPS one of
    them must be there, as Flask-WTF's own check wanted; tools without either may use plain HTTP on this
    machine, with the token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if sent is None and not request.is_secure:
        return
    if sent is None or origin(sent) != origin(request.host_url):
        raise CSRFError(str(CSRF_MESSAGE))


def origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        return parts.scheme, (parts.hostname or ""), parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # a port that is no number
        return None


def require_signed_in() -> ResponseReturnValue | None:
    """Every page but sign-in needs a live session of a user who still exists."""
    if request.endpoint in OPEN:
        return None
    user = live_session(the_web())
    if user is not None:
        g.user = user
        return None
    return redirect(url_for("auth.signin", next=request.path if request.method == "GET" else None))


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def live_session(web: Web) -> str | None:
    """The user of this request's session, if it is live; a dead one is ended here."""
    session_id = session.get("sid")
    if not session_id:
        return None
    key, now, settings = session_key(session_id), web.now(), web.settings.web
    with web.state(read_only=True) as state:
        found = state.web.session(key)
        exists = found is not None and state.web.password_hash(found.user) is not None
    if found is not None:
        user, created, seen = found
        if exists and now - created < settings.session_hours * 3600 and now - seen < settings.idle_minutes * 60:
            if now - seen >= TOUCH_SECONDS:
                with web.state() as state:
                    state.web.touch_session(key, now)
            return user
        with web.state() as state:
            state.web.end_session(key)
    session.pop("sid", None)  # the anonymous session keeps its CSRF token: a form open in another tab still works
    return None


def new_session(state: State, user: str, now: float) -> None:
    """A new session for `user` in this browser, ending the one it had."""
    if old := session.get("sid"):
        state.web.end_session(session_key(old))
    session_id = secrets.token_urlsafe(32)
    state.web.start_session(session_key(session_id), user, now, request.remote_addr or "?")
    session.clear()  # and a new CSRF token with it
    session.permanent = True
    session["sid"] = session_id


def throttled(state: State, name: str, address: str, now: float) -> float:
    """Seconds until `name` may be tried again from `address`; 0: now."""
    failures, last, by_address = state.web.signin_failures(name, address, since=now - ADDRESS_WINDOW)
    if by_address >= ADDRESS_FAILURES:
        return ADDRESS_WINDOW
    if failures < FREE_FAILURES:
        return 0
    return max(0.0, last + min(1 << (failures - FREE_FAILURES), MAX_DELAY) - now)


def local_target(value: str | None) -> str | None:
    """`next` if it is a page of this site that a signed-in user may be sent to; else None."""
    if not value or not LOCAL_PATH.fullmatch(value):
        return None
    try:
        endpoint, _ = current_app.url_map.bind("localhost").match(value, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    return None if endpoint in OPEN else value


@blueprint.route("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """Browsers ask for it on every page, signed in or not: nothing to send, and no redirect to sign-in."""
    return "", 204


@blueprint.route("/signin", methods=["GET", "POST"])
def signin() -> ResponseReturnValue:
    web = the_web()
    if request.method == "GET":
        return render_template("signin.html", error=None)
    typed, password = request.form.get("user", "").strip(), request.form.get("password", "")
    name, address, now = users.canonical(typed)[: 4 * users.MAX_NAME], request.remote_addr or "?", web.now()
    with web.state() as state:
        if wait := throttled(state, name, address, now):
            error = gettext(
                "Too many failed sign-ins: try again in %(wait)s. IT can reset your password.", wait=waiting(wait)
            )
            response = make_response(render_template("signin.html", error=error), 429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        found = state.web.find_user(typed)
        ok = users.password_ok(found.password_hash if found else None, password)
        state.web.record_signin(now, name, address, ok, forget_before=now - SIGNIN_LOG_DAYS * 86400)
        if not ok or found is None:
            return render_template("signin.html", error=gettext("Wrong name or password.")), 401
        new_session(state, found.name, now)
    return redirect(local_target(request.args.get("next")) or url_for("overview.overview"))


def waiting(seconds: float) -> str:
    if seconds < 120:
        return str(ngettext("%(num)s second", "%(num)s seconds", math.ceil(seconds)))
    return str(ngettext("%(num)s minute", "%(num)s minutes", math.ceil(seconds / 60)))


@blueprint.route("/signout", methods=["POST"])
def signout() -> ResponseReturnValue:
    with the_web().state() as state:
        state.web.end_session(session_key(session["sid"]))
        state.runs.audit(g.user, "sign-out")
    session.clear()
    return redirect(url_for("auth.signin"))


@blueprint.route("/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    """Her own new password: every other session of hers ends, this browser gets a new one."""
    if request.method == "GET":
        return render_template("password.html", error=None, done=False)
    web = the_web()
    now = web.now()
    current, new, again = (request.form.get(field, "") for field in ("current", "new", "again"))
    name, address = users.canonical(g.user), request.remote_addr or "?"
    with web.state() as state:
        if wait := throttled(state, name, address, now):
            error = gettext("Too many wrong passwords: try again in %(wait)s.", wait=waiting(wait))
            return render_template("password.html", error=error, done=False), 429
        if not users.password_ok(state.web.password_hash(g.user), current):
            state.web.record_signin(now, name, address, False, forget_before=now - SIGNIN_LOG_DAYS * 86400)
            return render_template("password.html", error=gettext("The current password is wrong."), done=False), 400
        problem = "differ" if new != again else users.password_problem(new, g.user)
        if problem:
            return render_template("password.html", error=password_words(problem), done=False), 400
        state.web.change_password(g.user, users.hash_password(new))
        state.runs.audit(g.user, "password changed")
        new_session(state, g.user, now)
    return render_template("password.html", error=None, done=True)


def password_words(problem: str) -> str:
    """Why a new password is refused (a key of jobs.users.PASSWORD_PROBLEMS, or "differ"), in her words."""
    words = {
        "differ": gettext("The two new passwords differ."),
        "short": gettext("The password is shorter than %(n)s characters: choose a longer one.", n=users.MIN_PASSWORD),
        "repeated": gettext("The password is one character repeated: choose one that is hard to guess."),
        "name": gettext("The password is your name: choose one that is hard to guess."),
        "common": gettext("The password is in a list of common passwords that attackers try first: choose another."),
    }
    return str(words[problem])


@blueprint.route("/language/<code>")
def language(code: str) -> ResponseReturnValue:
    """Her choice of language, kept in a cookie for a year; back to where she was."""
    from jobs.web.language import COOKIE, LANGUAGES

    response = redirect(local_target(request.args.get("next")) or url_for("overview.overview"))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 86400, httponly=True, samesite="Lax", secure=request.is_secure)
    return response
