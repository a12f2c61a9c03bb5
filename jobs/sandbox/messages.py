"""Requests and replies as plain values, so the endpoint code never touches sockets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

# A JSON object as it goes over the wire (an entry, a ledger, a reply body): its values' types vary by field.
JsonObject = dict[str, Any]

PROBLEM_TYPE = "https://developer.vippsmobilepay.com/docs/APIs/report-api/api-guide/errors"


class RequestRecord(NamedTuple):
    """One request as the sandbox saw it; status 0 means the connection was dropped."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    status: int
    token: str | None  # the bearer token presented, if any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[len("Bearer ") :] if value.startswith("Bearer ") else None


@dataclass(frozen=True)
class Reply:
    status: int
    body: JsonObject | None = None
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False  # close the connection without answering

    def encode(self) -> bytes:
        # Compact, key order as built, UTF-8 as is: the same data gives the same bytes.
        text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (defects.py): only a JSON escape can carry it
            return json.dumps(self.body, separators=(",", ":")).encode("ascii")


def problem(status: int, title: str, detail: str, instance: str) -> Reply:
    """An RFC 7807 body, the Report API's own error format."""
    body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail, "instance": instance}
    return Reply(status, body, content_type="application/problem+json; charset=utf-8")


def unauthorized() -> Reply:
    # Azure API Management answers 401 before the API sees the call: not problem+json.
    return Reply(401, {"code": "Unauthorized", "message": "Please check your API keys"})


def invalid_client(status: int, description: str) -> Reply:
    return Reply(status, {"error": "invalid_client", "error_description": description})
