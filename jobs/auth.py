"""Tokens for the Report API, as httpx.Auth flows.

One token serves the whole run. It is replaced before it expires, with a margin
scaled to its lifetime (60 s of a 15-minute token, 0.4 s of a 2-second one),
counted from before the token request was sent so network time never eats into it.
A 401 from the API gets one fresh token and one resend; a second 401 is returned
to the caller, which reports it as an auth error.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

from jobs.config import Credentials
from jobs.errors import AuthError, TransientError
from jobs.retry import retry_after

MAX_MARGIN = 60.0
MARGIN_SHARE = 0.2


class TokenAuth(httpx.Auth):
    requires_response_body = True  # the token response is read inside the flow

    def __init__(
        self,
        credentials: Credentials,
        token_url: str,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.clock = clock
        self.tokens_fetched = 0
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._valid_token(stale=None)
        self._authorize(request, token)
        response = yield request
        if response.status_code == 401:
            token = yield from self._valid_token(stale=token)
            self._authorize(request, token)
            yield request

    def _valid_token(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        # The lock serialises refreshes only: threads that find the token fresh share
        # it at once; threads that find it expiring wait for the one refresh.
        with self._lock:
            if self._token is None or self._token == stale or self.clock() >= self._refresh_at:
                requested_at = self.clock()
                response = yield self._token_request()
                self._token, lifetime = self._parse(response)
                self.tokens_fetched += 1
                self._refresh_at = requested_at + lifetime - min(MAX_MARGIN, lifetime * MARGIN_SHARE)
            return self._token

    def _authorize(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"
        if self.credentials.key_type == "merchant":
            request.headers["Ocp-Apim-Subscription-Key"] = self.credentials.subscription_key
            if self.credentials.msn:
                request.headers["Merchant-Serial-Number"] = self.credentials.msn

    def _token_request(self) -> httpx.Request:
        # A request yielded from an auth flow gets neither the client's base_url nor
        # its timeout: the URL is absolute and the timeout is set here.
        c = self.credentials
        extensions = {"timeout": httpx.Timeout(self.timeout).as_dict()}
        if c.key_type == "accounting":
            basic = base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()
            headers = {**self.headers, "Authorization": f"Basic {basic}"}
            data = {"grant_type": "client_credentials"}
            return httpx.Request("POST", self.token_url, headers=headers, data=data, extensions=extensions)
        headers = {
            **self.headers,
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "Ocp-Apim-Subscription-Key": c.subscription_key,
        }
        if c.msn:
            headers["Merchant-Serial-Number"] = c.msn
        return httpx.Request("POST", self.token_url, headers=headers, content=b"", extensions=extensions)

    def _parse(self, response: httpx.Response) -> tuple[str, float]:
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"the token endpoint answered {status}", retry_after(response), status)
        body = _json(response)
        if status in (400, 401, 403):
            error = body.get("error") or body.get("code") or f"HTTP {status}"
            raise AuthError(f"the token endpoint refused the keys ({error}): {self._hint()}")
        if status == 404:
            raise AuthError(f"no token endpoint at {self.token_url} (404): check VIPPS_BASE_URL and [api] token_path")
        if status != 200:
            raise AuthError(f"the token endpoint answered {status}: check VIPPS_BASE_URL and [api] token_path")
        token, expires_in = body.get("access_token"), body.get("expires_in")
        try:  # the spec says string, the guides say number
            lifetime = float(expires_in) if isinstance(expires_in, str | int | float) else 0.0
        except ValueError:
            lifetime = 0.0
        if not isinstance(token, str) or not token or not lifetime > 0:
            raise AuthError(f"the token endpoint at {self.token_url} sent no usable token: check VIPPS_BASE_URL")
        return token, lifetime

    def _hint(self) -> str:
        if self.credentials.key_type == "accounting":
            return "check VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET (accounting keys), or set VIPPS_KEY_TYPE=merchant"
        return "check VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET and VIPPS_SUBSCRIPTION_KEY (sales-unit keys)"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
