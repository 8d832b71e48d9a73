"""Web accounts as a Python API: users, passwords, login sessions, API tokens.

The core (`jikimi.core.accounts`) decides who may call these; the CLI and the web app go
through it. Passwords are checked by `jikimi.passwords`, failed logins throttled by
`jikimi.login_throttle`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.orm import Session

from jikimi import login_throttle, passwords
from jikimi.errors import JikimiError
from jikimi.store.models import utcnow
from jikimi.store.web_models import ROLES, ApiToken, WebSession, WebUser

SESSION_HOURS = 12  # a working day; a stolen laptop's session ends overnight
DEFAULT_ROLE = "viewer"  # the least privileged: an admin raises it on purpose
TOKEN_PREFIX = "jk_"
TOKEN_SCOPES = ("read", "review", "lookup", "curate", "admin")
TOKEN_DAYS = 90  # a script's token is renewed each quarter unless chosen otherwise
MAX_TOKEN_DAYS = 366
# A token's last use is written at most this often: a platform API lookup stays a read, not a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class AccountError(JikimiError):
    """A user cannot be created or found."""


@dataclass(frozen=True)
class Login:
    """The outcome of a login attempt: the user, or how long to wait (0: wrong name or password)."""

    user: WebUser | None
    wait: int = 0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, name: str, role: str, password: str) -> WebUser:
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    passwords.check_strength(password, [name])
    if session.scalar(select(WebUser).where(WebUser.name == name)):
        raise AccountError(f"a user named {name!r} already exists")
    user = WebUser(name=name, role=role, password_hash=passwords.hash_password(password), preferences={})
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, who: str | int) -> WebUser:
    """A user by name, or by id when given a number (web addresses use ids)."""
    if isinstance(who, int):
        user = session.get(WebUser, who)
    else:
        user = session.scalar(select(WebUser).where(WebUser.name == who))
    if user is None:
        raise AccountError(f"no user {who!r}: add one with `jikimi user add`")
    return user


def list_users(session: Session) -> list[WebUser]:
    return list(session.scalars(select(WebUser).order_by(WebUser.name)))


def attempt_login(session: Session, name: str, password: str, address: str) -> Login:
    """Check a password unless the name or the address must wait; a failure counts against both."""
    wait = login_throttle.wait_seconds(session, name, address)
    if wait:
        return Login(None, wait)
    user = session.scalar(select(WebUser).where(WebUser.name == name, WebUser.disabled_at.is_(None)))
    if not passwords.verify(user.password_hash if user else None, password):
        login_throttle.record_failure(session, name, address)
        return Login(None)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    login_throttle.forgive(session, name, address)
    return Login(user)


def set_password(session: Session, user: WebUser, password: str, must_change: bool = False) -> None:
    """A new password (checked unless temporary); every session of the user ends with the old one."""
    if not must_change:
        passwords.check_strength(password, [user.name])
    user.password_hash = passwords.hash_password(password)
    user.must_change_password = must_change
    end_sessions(session, user)


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
    if row is None or as_utc(row[0].expires_at) < utcnow():
        return None
    return row[0], row[1]


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


def end_sessions(session: Session, user: WebUser) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def create_token(session: Session, user: WebUser, label: str, scopes: list[str] | tuple[str, ...] = ("read",),
                 days: int = TOKEN_DAYS) -> str:
    """A new API token for scripts; only its hash is kept, so it is shown this once."""
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if not scopes or unknown:
        raise AccountError(f"give a token one or more scopes of: {', '.join(TOKEN_SCOPES)}")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AccountError(f"a token lasts from 1 to {MAX_TOKEN_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label or "token",
                         scopes=" ".join(scopes), expires_at=utcnow() + timedelta(days=days)))
    session.flush()
    return token


# A live token (not revoked, owner enabled) and its owner, in one indexed read. Built once:
# building a select costs several times more than running it, and every API request runs it.
_USER_COLUMNS = [column.key for column in WebUser.__table__.columns]
_LIVE_TOKEN = (select(ApiToken.id.label("token_id"), ApiToken.expires_at.label("token_expires_at"),
                      ApiToken.last_used_at.label("token_last_used_at"), ApiToken.scopes.label("token_scopes"),
                      *WebUser.__table__.columns)
               .join_from(ApiToken, WebUser, ApiToken.user_id == WebUser.id)
               .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                      WebUser.disabled_at.is_(None)))


def find_token(db: Session | Connection, token: str) -> tuple[WebUser, frozenset[str]] | None:
    """The owner of a live token (not revoked, not expired, owner enabled) and its scopes.

    Read afresh on every call (no cache: a revoked token or a disabled owner is refused on the
    very next request); the owner comes back as a detached copy, never written through.
    """
    row = db.execute(_LIVE_TOKEN, {"token_hash": hash_token(token)}).first()
    now = utcnow()
    if row is None or as_utc(row.token_expires_at) < now:
        return None
    last = row.token_last_used_at
    if last is None or now - as_utc(last) > TOKEN_USE_RESOLUTION:
        db.execute(update(ApiToken).where(ApiToken.id == row.token_id).values(last_used_at=now))
    return WebUser(**{key: getattr(row, key) for key in _USER_COLUMNS}), frozenset(row.token_scopes.split())


def revoke_tokens(session: Session, user: WebUser) -> None:
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def as_utc(moment: datetime) -> datetime:
    """SQLite forgets time zones; every time we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
