"""The two token flows (accounting keys and merchant keys) and bearer checks."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

from .messages import Reply, Request, invalid_client, unauthorized

ACCOUNTING_CLIENT = ("sandbox-client", "sandbox-secret")
# (client_id, client_secret, Ocp-Apim-Subscription-Key, Merchant-Serial-Number)
MERCHANT_CLIENT = ("sandbox-merchant", "sandbox-merchant-secret", "sandbox-subscription-key", "123456")
ACCOUNTING, MERCHANT = "accounting", "merchant"


class TokenStore:
    """Issued tokens with their expiry on the injected clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, tuple[str, float]] = {}  # token -> (kind, expires at)
        self.issued: list[str] = []

    def issue(self, kind: str, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[token] = (kind, self._clock() + ttl)
            self.issued.append(token)
        return token

    def kind_of(self, token: str | None) -> str | None:
        """The key type behind a live token; None for unknown or expired ones."""
        with self._lock:
            kind, expires = self._expiry.get(token or "", ("", 0.0))
        return kind if kind and self._clock() < expires else None

    def expire_all(self) -> None:
        with self._lock:
            self._expiry = {t: (kind, float("-inf")) for t, (kind, _) in self._expiry.items()}


def oauth_token(req: Request, store: TokenStore, ttl: int) -> Reply:
    """POST /miami/v1/token (and its announced successor /authentication/v1/token)."""
    if "ocp-apim-subscription-key" in req.headers:
        return invalid_client(400, "Ocp-Apim-Subscription-Key must not be sent with accounting keys")
    form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return invalid_client(400, "grant_type must be client_credentials")
    if _basic(req.headers.get("authorization", "")) != ACCOUNTING_CLIENT:
        return invalid_client(401, "Unknown client_id or wrong client_secret")
    token = store.issue(ACCOUNTING, ttl)
    return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})


def merchant_token(req: Request, store: TokenStore, ttl: int) -> Reply:
    """POST /accesstoken/get: keys in headers, empty body, numbers as strings."""
    client_id, secret, key, msn = MERCHANT_CLIENT
    given = (req.headers.get("client_id"), req.headers.get("client_secret"))
    if given != (client_id, secret) or req.headers.get("ocp-apim-subscription-key") != key:
        return invalid_client(401, "Unknown client_id, wrong client_secret or subscription key")
    if req.headers.get("merchant-serial-number", msn) != msn:
        return invalid_client(401, "Merchant-Serial-Number does not belong to these keys")
    token = store.issue(MERCHANT, ttl)
    now = int(time.time())
    return Reply(
        200,
        {
            "token_type": "Bearer",
            "expires_in": str(ttl),
            "ext_expires_in": str(ttl),
            "expires_on": str(now + ttl),
            "not_before": str(now),
            "resource": "00000002-0000-0000-c000-000000000000",
            "access_token": token,
        },
    )


def authorize(req: Request, store: TokenStore) -> tuple[str | None, Reply | None]:
    """(key type, None) for a valid Report API call, else (None, the 401 reply)."""
    kind = store.kind_of(req.bearer)
    if kind is None:
        return None, unauthorized()
    if kind == MERCHANT and req.headers.get("ocp-apim-subscription-key") != MERCHANT_CLIENT[2]:
        return None, unauthorized()
    return kind, None


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None
