"""The Flask app: one per `serve`, built from the settings like every other command."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from jobs import bidi, config
from jobs.errors import ReportExportError
from jobs.web.site import Web

log = logging.getLogger("jobs")
# No inline script or style anywhere: the page's own script and style sheet only.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class Sessions(SecureCookieSessionInterface):
    """Cookies marked Secure whenever the page is reached over HTTPS (directly or through the proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def create_app(web: Web) -> Flask:
    from jobs.web import auth, downloads, export_jobs, exports, language, ledgers, overview, runs

    settings = web.settings.web
    app = Flask(__name__)
    with web.state() as state:
        secret = state.web.secret(lambda: secrets.token_hex(32))
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="report_export_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: with Strict a link to the page from mail or the intranet arrives without the
        # cookie, and the sign-in page's new one would replace it. Forms are guarded by the CSRF token and
        # the origin check (auth.same_origin), which Lax leaves to do their work.
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the cookie; sessions end on the server
        WTF_CSRF_SSL_STRICT=False,  # its Referer check refused every form over HTTPS: auth.same_origin instead
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only
    )
    app.session_interface = Sessions()
    CSRFProtect(app)
    Babel(app, locale_selector=language.select_language)
    app.extensions["report_export"] = web
    app.jinja_env.finalize = shown
    app.jinja_env.filters.update(
        money=language.money,
        day=language.day,
        number=language.number,
        month=language.month,
        local=lambda stamp: language.moment(stamp, web.settings.timezone),
    )
    app.jinja_env.globals.update(
        LANGUAGES=language.LANGUAGES,
        TOPICS=language.TOPICS,
        FORMATS=language.FORMATS,
        PRESETS=language.PRESETS,
        OUTCOMES=language.OUTCOMES,
        PROBLEMS=downloads.PROBLEMS,
        language=language.language,
    )
    web.exports = export_jobs.Exports(web)
    web.exports.remove_expired()
    web.ledgers = ledgers.Ledgers(web)
    for module in (auth, overview, exports, runs, downloads):
        app.register_blueprint(module.blueprint)
    app.before_request(auth.same_origin)
    app.before_request(auth.require_signed_in)
    app.after_request(secure_headers)
    app.register_error_handler(CSRFError, lambda e: error_page(400, str(auth.CSRF_MESSAGE)))
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(ReportExportError, lambda e: error_page(502, language.failure(e.exit_code), str(e)))
    app.register_error_handler(Exception, internal_error)
    return app


def server_options(settings: config.WebSettings) -> dict[str, object]:
    """waitress's options. Behind a reverse proxy, the X-Forwarded-Proto and -For it sets are believed when
    they come from its address, for [web] proxy_hops proxies (so the page knows it is served over HTTPS and
    whom it serves); from anyone else, and without behind_proxy, waitress drops them."""
    options: dict[str, object] = {"threads": 8, "ident": "report-export"}
    if settings.behind_proxy:
        options.update(
            trusted_proxy=settings.proxy_address,
            trusted_proxy_count=settings.proxy_hops,
            trusted_proxy_headers={"x-forwarded-proto", "x-forwarded-for"},
            clear_untrusted_proxy_headers=True,
        )
    return options


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" with the page's own forms,
    # and the origin check could not tell them from another site's. Other sites still learn nothing.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")  # pages and files hold financial data
    return response


def http_error(exc: HTTPException) -> tuple[str, int]:
    """Our own messages as they are; Werkzeug's English defaults (a mistyped address, a wrong method, ...) in
    her words."""
    from jobs.web.language import HTTP_ERRORS

    code = exc.code or 500
    if exc.description == type(exc).description:
        return error_page(code, str(HTTP_ERRORS.get(code, HTTP_ERRORS[400])))
    return error_page(code, str(exc.description))


def internal_error(exc: Exception) -> tuple[str, int]:
    from jobs.web.language import INTERNAL

    log.error("web: internal error on %s %s", request.method, request.path, exc_info=exc)  # for IT, not the page
    return error_page(500, str(INTERNAL))


def shown(value: object) -> object:
    """Every value a template shows, without bidirectional controls."""
    return value.translate(bidi.DROPPED) if isinstance(value, str) else value


def error_page(status: int, message: str, details: str = "") -> tuple[str, int]:
    """An error in her words; what IT needs (the engine's own line) under "Details for IT"."""
    return render_template("error.html", status=status, message=message, details=details), status
