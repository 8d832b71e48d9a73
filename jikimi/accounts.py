"""Web accounts as a Python API: users, passwords, login sessions, API tokens, rate limits.

The CLI (`jikimi user add`, `jikimi token create`) and the web app both use these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jikimi.errors import JikimiError
from jikimi.store.models import utcnow
from jikimi.store.web_models import ROLES, ApiToken, LoginFailure, WebSession, WebUser

SESSION_HOURS = 12  # a working day; a stolen laptop's session ends overnight
MIN_PASSWORD = 10
# Five wrong passwords for one name from one address lock that pair for a quarter hour:
# enough for typos, far too few for guessing.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "jk_"
# A token's last use is written at most this often: a platform API lookup stays a read, not a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(JikimiError):
    """A user cannot be created or found, or a password is too weak."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, name: str, role: str, password: str) -> WebUser:
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if session.scalar(select(WebUser).where(WebUser.name == name)):
        raise AccountError(f"a user named {name!r} already exists")
    user = WebUser(name=name, role=role, password_hash=_hasher.hash(password), preferences={})
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> WebUser:
    user = session.scalar(select(WebUser).where(WebUser.name == name))
    if user is None:
        raise AccountError(f"no user named {name!r}: add one with `jikimi user add`")
    return user


def list_users(session: Session) -> list[WebUser]:
    return list(session.scalars(select(WebUser).order_by(WebUser.name)))


def locked_out(session: Session, name: str, address: str) -> bool:
    since = utcnow() - FAILURE_WINDOW
    failures = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.name == name, LoginFailure.address == address, LoginFailure.at > since))
    return failures >= MAX_FAILURES


def check_password(session: Session, name: str, password: str, address: str) -> WebUser | None:
    """The user if the password is right; a wrong one is counted against name and address."""
    user = session.scalar(select(WebUser).where(WebUser.name == name, WebUser.disabled_at.is_(None)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        session.add(LoginFailure(name=name[:200], address=address[:100]))
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.address == address))
    return user


def open_session(session: Session, user: WebUser) -> str:
    """Start a browser session; the returned token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=hash_token(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                           expires_at=utcnow() + timedelta(hours=SESSION_HOURS)))
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    return token


def find_session(session: Session, token: str) -> tuple[WebSession, WebUser] | None:
    row = session.execute(select(WebSession, WebUser).join(WebUser).where(
        WebSession.token_hash == hash_token(token), WebUser.disabled_at.is_(None))).first()
    if row is None or _aware(row[0].expires_at) < utcnow():
        return None
    return row[0], row[1]


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


def create_token(session: Session, user: WebUser, label: str) -> str:
    """A new API token for scripts; only its hash is kept, so it is shown this once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label or "token"))
    session.flush()
    return token


def find_token(session: Session, token: str) -> WebUser | None:
    row = session.execute(select(ApiToken, WebUser).join(WebUser).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
        WebUser.disabled_at.is_(None))).first()
    if row is None:
        return None
    now = utcnow()
    last = row[0].last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=timezone.utc)) > TOKEN_USE_RESOLUTION:
        row[0].last_used_at = now
    return row[1]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _aware(moment: datetime) -> datetime:
    """SQLite forgets time zones; every time we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
