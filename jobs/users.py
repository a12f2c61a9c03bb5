"""Who may sign in to the export page: the rules for user names and passwords, and password hashes.

One home for them, used by `report-export users` and by the page (its password form):
- a name is compared after Unicode normalisation (NFKC) and case folding, so `kari`, `Kari` and a
  fullwidth `ｋａｒｉ` are one user; a name mixing scripts (a Cyrillic `а` among Latin letters) is refused,
  so no two users can look the same;
- a password has at least MIN_PASSWORD characters, is not one character repeated, not the name, and
  not in the list of common passwords shipped beside this module (common-passwords.NOTICE says whose);
- only argon2id hashes are stored.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argon2

MIN_PASSWORD = 12
MAX_NAME = 64
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
NAME_MARKS = "._-"


def canonical(name: str) -> str:
    """The form two names are compared in: `Kari`, `KARI` and `ｋａｒｉ` are the same user."""
    return unicodedata.normalize("NFKC", name).casefold()


def stored_name(name: str) -> str:
    """How a new user's name is kept and shown: normalised (fullwidth letters become plain), case kept."""
    return unicodedata.normalize("NFKC", name.strip())


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a new user's name, or None."""
    name = stored_name(name)
    if not name or len(name) > MAX_NAME:
        return f"a name has 1 to {MAX_NAME} characters"
    if not name[0].isalnum() or not all(
        c.isalnum() or c in NAME_MARKS or unicodedata.category(c)[0] == "M" for c in name
    ):
        return f"a name is letters and digits, with '.', '_' or '-' after the first character: {name!r} is not"
    scripts = sorted({script(c) for c in name if c.isalpha()})
    if len(scripts) > 1:
        return f"{name!r} mixes {' and '.join(s.title() for s in scripts)} letters, so it could pass for another name"
    return None


def script(letter: str) -> str:
    """The script a letter belongs to, by its Unicode name: LATIN, CYRILLIC, GREEK, ..."""
    return unicodedata.name(letter, "UNKNOWN").split(" ")[0]


# Why a password may not be used: keys, in the command line's words (the page has its own, in her language).
PASSWORD_PROBLEMS = {
    "short": f"the password is shorter than {MIN_PASSWORD} characters: choose a longer one",
    "repeated": "the password is one character repeated: choose one that is hard to guess",
    "name": "the password is the user's name: choose one that is hard to guess",
    "common": "the password is in a list of common passwords that attackers try first: choose another",
}


def password_problem(password: str, name: str = "") -> str | None:
    """Why `password` may not be used (a key of PASSWORD_PROBLEMS), or None."""
    if len(password) < MIN_PASSWORD:
        return "short"
    if len(set(password)) == 1:
        return "repeated"
    if name and canonical(password.strip()) == canonical(name):
        return "name"
    if password.strip().lower() in common_passwords():
        return "common"
    return None


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines)


@functools.cache
def _hasher() -> argon2.PasswordHasher:
    import argon2  # only the page and `users` need it

    return argon2.PasswordHasher()  # argon2id with the library's current parameters


@functools.cache
def _unknown() -> str:
    """Checked when a name is unknown, so an unknown name costs as long as a wrong password. Made on first
    use, not at import: hashing takes about a quarter of a second."""
    return _hasher().hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_ok(stored: str | None, password: str) -> bool:
    import argon2

    try:
        return _hasher().verify(stored or _unknown(), password) and stored is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
