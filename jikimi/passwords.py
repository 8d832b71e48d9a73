"""Passwords: argon2id hashes, and a strength estimate instead of a length rule.

A length rule accepts `aaaaaaaaaa`; zxcvbn (Dropbox's estimator, maintained as the `zxcvbn`
package) scores a password by the guesses an attacker with common-password lists, names,
keyboard patterns and l33t substitutions would need, as Django's and OWASP's guidance
suggests. A refusal carries a `code` so the web can say it in the reader's language.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from jikimi.errors import JikimiError

MIN_LENGTH = 10
MAX_LENGTH = 1000  # argon2 takes any length; this only bounds the work of a request
# zxcvbn's score 3 means "safely unguessable" (about 10^8-10^10 guesses): argon2 makes each
# offline guess slow, so that is enough; 4 would refuse many good passphrases.
MIN_SCORE = 3
ESTIMATE_CHARS = 100  # zxcvbn's matching grows faster than linearly; the first 100 characters decide
TEMPORARY_BYTES = 12  # a temporary password from an admin reset: 16 URL-safe characters

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

MESSAGES = {
    "too_short": f"the password must have at least {MIN_LENGTH} characters",
    "too_long": f"the password may have at most {MAX_LENGTH} characters",
    "common": "this is one of the most common passwords: choose another",
    "weak": "this password is too easy to guess: use a longer phrase of unrelated words",
    "wrong_current": "the current password is wrong",
}


class PasswordRefused(JikimiError):
    """A new password the policy refuses, or a wrong current one; `code` names the reason
    (a key of MESSAGES)."""

    def __init__(self, code: str):
        super().__init__(MESSAGES[code])
        self.code = code


def check_strength(password: str, user_inputs: list[str] = ()) -> None:
    """Refuse a password that is short, common, or guessable (also from the user's own name)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused("too_short")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused("too_long")
    sample = password[:ESTIMATE_CHARS]
    estimate = zxcvbn(sample, user_inputs=[u for u in user_inputs if u])
    if any(m["pattern"] == "dictionary" and m.get("dictionary_name") == "passwords" and m["token"] == sample
           for m in estimate["sequence"]):
        raise PasswordRefused("common")
    if estimate["score"] < MIN_SCORE:
        raise PasswordRefused("weak")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Right or wrong, in the same time whether or not there is a hash (no such user)."""
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def temporary_password() -> str:
    return secrets.token_urlsafe(TEMPORARY_BYTES)
