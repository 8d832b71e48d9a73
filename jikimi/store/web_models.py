"""Accounts of the web app: users, login sessions, API tokens, failed logins, allowed paths.

Secrets are never stored: passwords as argon2 hashes, session and API tokens as their
SHA-256 (a token is 32 random bytes, so a plain hash is enough and lookups stay indexed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import Base, utcnow

ROLES = ("admin", "caseworker", "reviewer", "viewer")
CASE_ROLES = ("caseworker", "reviewer", "viewer")  # a member's role within one case


class WebUser(Base):
    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | caseworker | reviewer | viewer
    password_hash: Mapped[str] = mapped_column(Text)
    preferences: Mapped[dict] = mapped_column(JSON, default=dict)  # review display: grayscale, small
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()
    # Set by an admin's password reset: the temporary password only opens the change form.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default="0")


class WebSession(Base):
    """A browser login. The cookie holds the token; the row holds its hash and the CSRF token."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", name="fk_web_sessions_user_id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", name="fk_api_tokens_user_id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated: read review lookup curate admin
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginFailure(Base):
    """One failed login, counted per user name and per client address for throttling."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_login_failures_name_address_at", "name", "address", "at"),
                      Index("ix_login_failures_address_at", "address", "at"))


class AllowedPath(Base):
    """A folder or file on the server that an admin allowed case workers to scan."""

    __tablename__ = "allowed_paths"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseMember(Base):
    """A user's membership of a case: who may see it (need-to-know) and in which role."""

    __tablename__ = "case_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", name="fk_case_members_case_id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", name="fk_case_members_user_id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # caseworker | reviewer | viewer
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_members_case_user"),)


class WorkspaceSetting(Base):
    """A workspace-wide setting an admin chose (e.g. the reviewers' break interval); absent: the default."""

    __tablename__ = "workspace_settings"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
