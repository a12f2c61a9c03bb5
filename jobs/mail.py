"""Notices by mail: one plain-text message per notice, over SMTP with STARTTLS, implicit TLS or neither.

The server's certificate is checked against the system's CAs, or [notify] smtp_ca_file for an internal
relay; the login (when [notify] smtp_user is set) only ever goes over TLS (jobs.channels refuses it with
smtp_security = "none"). What is worth another try (no connection, a timeout, a 4xx answer) goes through
the same Retrier as the API's requests; what is not (a refused login or address, an untrusted
certificate) fails at once with the setting to fix.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

from jobs.config import NotifySettings
from jobs.errors import ApiError, NotDelivered, TransientError, hide
from jobs.retry import Retrier

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class _SMTP(smtplib.SMTP):
    """Keeps the server's answer to the message itself (e.g. "250 2.0.0 Ok: queued as 4F2K1"), which
    smtplib's send_message drops: `notify --test` shows it, and a mail admin can trace the message by it."""

    answer: tuple[int, bytes] = (0, b"")

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.answer = super().data(msg)
        return self.answer


class _SMTPS(_SMTP, smtplib.SMTP_SSL):  # its data() is _SMTP's, its connection SMTP_SSL's
    pass


def describe(settings: NotifySettings) -> str:
    login = f", login {settings.smtp_user}" if settings.smtp_user else ""
    return (
        f"email to {', '.join(settings.email_to)} via {settings.smtp_host}:{settings.smtp_port} "
        f"({settings.smtp_security}{login})"
    )


def send(settings: NotifySettings, notice: dict[str, Any], retrier: Retrier) -> str:
    """Mail the notice; return what the server answered, or raise NotDelivered saying why."""
    message = build(settings, notice)
    where = f"mail via {settings.smtp_host}:{settings.smtp_port}"
    try:
        return hide(retrier.call(lambda: attempt(settings, message, where), where), settings.secrets)
    except ApiError as exc:  # the retrier gave up
        raise NotDelivered(str(exc)) from None


def build(settings: NotifySettings, notice: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = notice["title"]
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message["Date"] = format_datetime(dt.datetime.fromisoformat(notice["at"]))  # when it happened, not when sent
    message["Message-ID"] = make_msgid("report-export", domain=settings.email_from.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    # quoted-printable: 7-bit safe for any relay, and still readable as it is for ASCII text.
    message.set_content(notice["text"], cte="quoted-printable")
    return message


def attempt(settings: NotifySettings, message: EmailMessage, where: str) -> str:
    """One try. NotDelivered is final and says where and what to fix; a TransientError names no place,
    as the Retrier puts `where` before it when it gives up."""
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout
    smtp: _SMTP
    try:
        if settings.smtp_security == "tls":
            smtp = _SMTPS(host, port, timeout=timeout, context=context)
        else:
            smtp = _SMTP(host, port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            refused = smtp.send_message(message)
            code, text = smtp.answer
    except ssl.SSLCertVerificationError as exc:
        raise NotDelivered(
            f"{where}: its TLS certificate is not trusted ({exc.verify_message}): set [notify] "
            "smtp_ca_file to your relay's CA certificate, or check smtp_host"
        ) from None
    except ssl.SSLError as exc:
        raise NotDelivered(
            f"{where}: TLS failed ({exc.reason}): check [notify] smtp_security "
            '("tls" for port 465, "starttls" for 587) and smtp_port'
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise NotDelivered(f"{where}: {exc}: check [notify] smtp_security and smtp_user") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NotDelivered(
            f"{where}: the server refused the login of {settings.smtp_user} ({said(exc)}): "
            "check [notify] smtp_user and NOTIFY_SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        every = "; ".join(f"{rcpt} ({said(code, text)})" for rcpt, (code, text) in exc.recipients.items())
        raise NotDelivered(f"{where}: every recipient was refused: {every}: check [notify] email_to") from None
    except smtplib.SMTPSenderRefused as exc:
        raise NotDelivered(
            f"{where}: the sender {settings.email_from} was refused ({said(exc)}): check [notify] email_from"
        ) from None
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:  # "try again later", in SMTP's words
            raise TransientError(said(exc)) from None
        raise NotDelivered(f"{where}: {said(exc)}") from None
    except smtplib.SMTPServerDisconnected:
        raise TransientError("connection dropped") from None
    except TimeoutError:
        raise TransientError("timed out") from None
    except OSError as exc:  # refused, unreachable, unknown host
        raise TransientError(f"cannot connect ({exc.strerror or exc})") from None
    answer = said(code, text)
    if refused:
        answer += "; refused: " + ", ".join(f"{rcpt} ({said(*reply)})" for rcpt, reply in refused.items())
    return answer


def said(reply: int | smtplib.SMTPResponseException, text: bytes | str | None = None) -> str:
    """An SMTP answer on one line, e.g. "535 5.7.8 Authentication credentials invalid"."""
    if isinstance(reply, smtplib.SMTPResponseException):
        code, text = reply.smtp_code, reply.smtp_error
    else:
        code = reply
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text or "")
    return " ".join(f"{code} {words}".split())
