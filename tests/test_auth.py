"""The token flow stepped by hand: no network, an injected clock."""

import base64

import httpx
import pytest

from jobs.auth import TokenAuth
from jobs.config import Credentials
from jobs.errors import AuthError, TransientError

ACCOUNTING = Credentials("accounting", "client-1", "s3cret")
MERCHANT = Credentials("merchant", "client-2", "s3cret-2", subscription_key="sub-key", msn="123456")
TOKEN_URL = "https://api.example/miami/v1/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_response(token: str, expires_in=900, status=200) -> httpx.Response:
    return httpx.Response(status, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def api_request() -> httpx.Request:
    return httpx.Request("GET", "https://api.example/settlement/v1/ledgers")


def start(auth: TokenAuth):
    flow = auth.sync_auth_flow(api_request())
    return flow, next(flow)


def test_first_call_fetches_an_accounting_token_then_sends_the_request_with_it():
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=7, headers={"Vipps-System-Name": "t"}, clock=Clock())
    flow, token_request = start(auth)

    assert token_request.method == "POST"
    assert str(token_request.url) == TOKEN_URL
    assert token_request.extensions["timeout"] == httpx.Timeout(7).as_dict()
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"client-1:s3cret").decode()
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.content == b"grant_type=client_credentials"
    assert "Ocp-Apim-Subscription-Key" not in token_request.headers
    assert token_request.headers["Vipps-System-Name"] == "t"

    request = flow.send(token_response("tok-1"))
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert "Ocp-Apim-Subscription-Key" not in request.headers
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, json={}))
    assert auth.tokens_fetched == 1


def test_merchant_token_request_carries_keys_in_headers_and_an_empty_body():
    auth = TokenAuth(MERCHANT, "https://api.example/accesstoken/get", timeout=5, clock=Clock())
    flow, token_request = start(auth)
    assert token_request.headers["client_id"] == "client-2"
    assert token_request.headers["client_secret"] == "s3cret-2"
    assert token_request.headers["Ocp-Apim-Subscription-Key"] == "sub-key"
    assert token_request.headers["Merchant-Serial-Number"] == "123456"
    assert token_request.content == b""

    request = flow.send(token_response("m-tok", expires_in="86398"))  # guides show a string
    assert request.headers["Authorization"] == "Bearer m-tok"
    assert request.headers["Ocp-Apim-Subscription-Key"] == "sub-key"


def run_call(auth: TokenAuth, token_answer=None) -> str:
    """One API call; answers a token request if one comes; returns the bearer sent."""
    flow, request = start(auth)
    if "Authorization" in request.headers and request.headers["Authorization"].startswith("Basic"):
        request = flow.send(token_answer)
    sent = request.headers["Authorization"]
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))
    return sent


@pytest.mark.parametrize("lifetime, margin", [(900, 60), (2, 0.4), ("2", 0.4)])
def test_the_token_is_reused_until_a_margin_scaled_to_its_lifetime_before_expiry(lifetime, margin):
    clock = Clock()
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=clock)
    assert run_call(auth, token_response("t1", lifetime)) == "Bearer t1"
    clock.now += float(lifetime) - margin - 0.01
    assert run_call(auth) == "Bearer t1"
    assert auth.tokens_fetched == 1
    clock.now += 0.02  # now inside the margin: a fresh token before the old one expires
    assert run_call(auth, token_response("t2", lifetime)) == "Bearer t2"
    assert auth.tokens_fetched == 2


def test_lifetime_is_counted_from_before_the_token_request():
    clock = Clock()
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=clock)
    flow, _ = start(auth)
    clock.now += 1.0  # the token request took a second
    flow.send(token_response("t1", 2))
    clock.now = 1000.0 + 2 - 0.4  # 1.6 s after the request was sent, 0.6 s after the answer
    assert run_call(auth, token_response("t2", 2)) == "Bearer t2"


def test_a_401_gets_one_fresh_token_and_one_resend_then_the_401_is_returned():
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=Clock())
    flow, _ = start(auth)
    request = flow.send(token_response("t1"))
    token_request = flow.send(httpx.Response(401))
    assert str(token_request.url) == TOKEN_URL
    resent = flow.send(token_response("t2"))
    assert resent.headers["Authorization"] == "Bearer t2"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))  # the second 401 goes back to the caller
    assert auth.tokens_fetched == 2
    assert request is resent


@pytest.mark.parametrize("status, body", [(401, {"error": "invalid_client"}), (400, {"error": "invalid_client"})])
def test_refused_credentials_are_an_auth_error_without_the_secret(status, body):
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=Clock())
    flow, _ = start(auth)
    with pytest.raises(AuthError, match="invalid_client") as caught:
        flow.send(httpx.Response(status, json=body))
    assert "s3cret" not in str(caught.value)
    assert "VIPPS_CLIENT_SECRET" in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_token_endpoint_is_transient(status):
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=Clock())
    flow, _ = start(auth)
    with pytest.raises(TransientError) as caught:
        flow.send(httpx.Response(status, headers={"Retry-After": "3"}))
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    "body", [{"access_token": "x"}, {"access_token": "x", "expires_in": "soon"}, {"expires_in": 900}]
)
def test_a_token_answer_without_usable_token_or_lifetime_is_an_auth_error(body):
    auth = TokenAuth(ACCOUNTING, TOKEN_URL, timeout=5, clock=Clock())
    flow, _ = start(auth)
    with pytest.raises(AuthError, match="no usable token"):
        flow.send(httpx.Response(200, json=body))
