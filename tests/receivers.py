"""Real receivers on 127.0.0.1 for the notification tests: an SMTP server (aiosmtpd) with STARTTLS,
implicit TLS and login as configured, its certificate from a test CA (trustme); and an HTTP receiver
that records each POST and answers as told, including not at all (for timeouts)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation chatter about itself


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's Controller needs a port number before it listens
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage
    login: str | None  # who logged in, None: nobody
    tls: str | None  # the TLS version the message came over, None: plain text

    @property
    def body(self) -> str:
        return self.message.get_content().replace("\r\n", "\n")  # SMTP's line ends are CRLF


@dataclass
class MailServer:
    """security: "starttls" (offered and required), "tls" (implicit) or "none"; login: (user, password)."""

    ca: trustme.CA
    ca_file: Path
    security: str = "starttls"
    login: tuple[str, str] | None = None
    answer: str = "250 2.0.0 Ok: queued as 4F2K1"
    mails: list[Mail] = field(default_factory=list)
    port: int = 0

    def start(self) -> MailServer:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(server_context)
        options = {"authenticator": self.authenticate} if self.login else {}
        if self.security == "starttls":
            options |= {"tls_context": server_context, "require_starttls": True}
        elif self.security == "tls":  # aiosmtpd does not see implicit TLS as TLS: allow AUTH on it
            options |= {"ssl_context": server_context, "auth_require_tls": False}
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            self.login
        )
        if not ok:  # handled=False: aiosmtpd answers 535 itself
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    async def handle_DATA(self, server, session, envelope) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object")
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,
                session.auth_data if session.authenticated else None,
                ssl_object.version() if ssl_object else None,
            )
        )
        return self.answer


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: dict


class Receiver:
    """Answers each POST with the next planned answer, (status, body, headers) or "hang", then 200 ok."""

    def __init__(self, token_path: str = "/hooks/T0/B0/x") -> None:
        self.posts: list[Post] = []
        self.answers: deque = deque()
        self.release = threading.Event()  # lets hanging answers go when the test ends
        self.token_path = token_path
        self.on_post = lambda: None  # called as each POST arrives, to see what else had happened by then
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.on_post()
                receiver.posts.append(Post(self.path, dict(self.headers), json.loads(body)))
                answer = receiver.answers.popleft() if receiver.answers else (200, "ok", {})
                if answer == "hang":
                    receiver.release.wait(10)
                    return
                status, text, headers = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args) -> None:  # no request lines on the test's stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.token_path}"

    def answer(self, *answers) -> None:
        self.answers.extend(answers)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
