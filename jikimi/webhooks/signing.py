"""Signatures on webhook bodies, as Stripe and GitHub sign theirs.

The header is `Jikimi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC keyed with
the target's secret over `<t>.<raw body>`. Signing the timestamp with the body lets a
receiver refuse a replayed old delivery: it recomputes the HMAC over the bytes it received,
compares in constant time, and refuses a `t` more than `TOLERANCE_SECONDS` from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from jikimi.errors import JikimiError

HEADER = "Jikimi-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300  # Stripe's default: long enough for clock drift, short enough against replays


class SignatureError(JikimiError):
    """A webhook body whose signature is missing, wrong or too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, sent now (or at `timestamp`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, tolerance: int = TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """What a receiver does: check the header against the raw body; returns the timestamp."""
    parts: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("the signature header has no timestamp t=") from None
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get(SCHEME, [])):
        raise SignatureError("the signature does not match the body")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"the signature is {abs(now - timestamp):.0f} s old (more than {tolerance} s)")
    return timestamp
