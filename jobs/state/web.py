"""The page's part of the state: its users (password hashes only), their sessions and sign-ins, the key that signs
its cookies, and each ledger's description as last seen, for pages shown while the API cannot be reached."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from jobs import users
from jobs.state.db import Db, now_utc


@dataclass(frozen=True)
class User:
    name: str
    created_at: str
    password_changed_at: str


class Login(NamedTuple):
    name: str  # as stored
    password_hash: str


class Session(NamedTuple):
    user: str
    created_at: float  # seconds on the web server's clock
    seen_at: float


class Signin(NamedTuple):
    at: float  # seconds on the web server's clock
    user: str  # the name as compared: normalised and case-folded
    address: str
    ok: bool


class LedgerName(NamedTuple):
    description: dict[str, Any]  # jobs.api.describe_ledger's
    seen_at: str


class WebState:
    def __init__(self, db: Db) -> None:
        self.db = db

    # -- users --------------------------------------------------------------------------------------------------

    def users(self) -> list[User]:
        return [User(*row) for row in self.db.execute("SELECT name, created_at, changed_at FROM users ORDER BY name")]

    def password_hash(self, name: str) -> str | None:
        found = self.db.value("SELECT password_hash FROM users WHERE name = ?", (name,))
        return None if found is None else str(found)

    def find_user(self, name: str) -> Login | None:
        """The user `name` means, compared as users.canonical says."""
        key = users.canonical(name)
        for stored, hashed in self.db.execute("SELECT name, password_hash FROM users"):
            if users.canonical(stored) == key:
                return Login(stored, hashed)
        return None

    def add_user(self, name: str, password_hash: str) -> None:
        now = now_utc()
        self.db.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (name, password_hash, now, now))

    def change_password(self, name: str, password_hash: str) -> int:
        """A new password ends every session of the user and forgives its failed sign-ins; returns the
        number of sessions ended."""
        with self.db.transaction():
            self.db.execute(
                "UPDATE users SET password_hash = ?, changed_at = ? WHERE name = ?", (password_hash, now_utc(), name)
            )
            self.db.execute("UPDATE signins SET counted = 0 WHERE user = ?", (users.canonical(name),))
            return self.db.execute("DELETE FROM web_sessions WHERE user = ?", (name,)).rowcount

    def remove_user(self, name: str) -> bool:
        with self.db.transaction():
            self.db.execute("DELETE FROM web_sessions WHERE user = ?", (name,))
            return self.db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    # -- sessions ----------------------------------------------------------------------------------------------

    def start_session(self, key: str, user: str, at: float, address: str) -> None:
        self.db.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)", (key, user, at, at, address))

    def session(self, key: str) -> Session | None:
        """A live session record, by the SHA-256 of its id."""
        row = self.db.execute("SELECT user, created_at, seen_at FROM web_sessions WHERE id = ?", (key,)).fetchone()
        return Session(*row) if row else None

    def touch_session(self, key: str, at: float) -> None:
        self.db.execute("UPDATE web_sessions SET seen_at = ? WHERE id = ?", (at, key))

    def end_session(self, key: str) -> None:
        self.db.execute("DELETE FROM web_sessions WHERE id = ?", (key,))

    def end_sessions(self, user: str | None = None) -> int:
        """End every session of `user`, or of everyone; returns how many."""
        return self.db.execute("DELETE FROM web_sessions WHERE ? IS NULL OR user = ?", (user, user)).rowcount

    # -- sign-ins ----------------------------------------------------------------------------------------------

    def record_signin(self, at: float, user: str, address: str, ok: bool, forget_before: float) -> None:
        """A sign-in: a success forgives the failures of its name from its address; the log keeps what is
        newer than `forget_before`."""
        with self.db.transaction():
            self.db.execute("DELETE FROM signins WHERE at < ?", (forget_before,))
            if ok:
                self.db.execute("UPDATE signins SET counted = 0 WHERE user = ? AND address = ?", (user, address))
            self.db.execute(
                "INSERT INTO signins (at, user, address, ok) VALUES (?, ?, ?, ?)", (at, user, address, int(ok))
            )

    def signin_failures(self, user: str, address: str, since: float) -> tuple[int, float, int]:
        """Failed sign-ins still counted: (for this name from this address, the last one's time, from this
        address since `since`)."""
        count, last = self.db.execute(
            "SELECT count(*), coalesce(max(at), 0) FROM signins WHERE NOT ok AND counted AND user = ? AND address = ?",
            (user, address),
        ).fetchone()
        by_address = self.db.value(
            "SELECT count(*) FROM signins WHERE NOT ok AND counted AND address = ? AND at >= ?", (address, since)
        )
        return int(count), float(last), int(by_address)

    def signin_log(self, limit: int) -> list[Signin]:
        """The last sign-ins, newest first."""
        rows = self.db.execute(
            "SELECT at, user, address, ok FROM signins ORDER BY at DESC, rowid DESC LIMIT ?", (limit,)
        )
        return [Signin(at, user, address, bool(ok)) for at, user, address, ok in rows]

    # -- the key that signs the cookies ------------------------------------------------------------------------

    def secret(self, make: Callable[[], str]) -> str:
        """The key that signs the page's cookies, made once and kept, so sessions outlive a restart."""
        self.db.execute("INSERT OR IGNORE INTO web VALUES ('session_secret', ?)", (make(),))
        return str(self.db.value("SELECT value FROM web WHERE key = 'session_secret'"))

    def rotate_secret(self, secret: str) -> int:
        """A new signing key; every session ends with the old one. Returns how many sessions ended."""
        with self.db.transaction():
            self.db.execute("INSERT OR REPLACE INTO web VALUES ('session_secret', ?)", (secret,))
            return self.db.execute("DELETE FROM web_sessions").rowcount

    # -- ledgers as last seen ----------------------------------------------------------------------------------

    def remember_ledgers(self, descriptions: Sequence[Mapping[str, Any]]) -> None:
        """What the API said of each readable ledger (jobs.api.describe_ledger), for pages shown while it
        cannot be reached."""
        now = now_utc()
        self.db.executemany(
            "INSERT INTO ledger_names VALUES (?, ?, ?) ON CONFLICT (ledger_id) DO UPDATE SET"
            " description = excluded.description, seen_at = excluded.seen_at",
            [(d["ledgerId"], json.dumps(d, sort_keys=True), now) for d in descriptions],
        )

    def ledger_names(self) -> list[LedgerName]:
        """Each ledger's description as last seen, with when, by ledger id."""
        rows = self.db.execute("SELECT description, seen_at FROM ledger_names ORDER BY ledger_id")
        return [LedgerName(json.loads(description), seen) for description, seen in rows]
