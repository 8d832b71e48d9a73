"""Who is asking: sessions and API tokens, CSRF, and the core `Actor` they act as.

Every route except /healthz and the login page depends on a `Need`; the route-table test
checks that, so a new route without one fails the tests. A `Need` only turns away roles
that can never do the thing (a viewer posting a decision); what a user may see and do in
each case is decided by the core, where every face gets the same answer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request

from jikimi.core import PERMISSIONS, Actor
from jikimi.core.access import allows
from jikimi.store.web_models import WebUser
from jikimi import accounts, messages

SESSION_COOKIE = "jikimi_session"
LOGIN_COOKIE = "jikimi_login"  # the login form's CSRF secret, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_LIMITS = {"max_files": 200, "max_fields": 100, "max_part_size": 1024 * 1024}
# What a user with a temporary password (an admin's reset) may open: the form to replace it.
PASSWORD_CHANGE_PATHS = ("/account", "/api/account", "/account/password", "/api/account/password", "/logout")


class NotAuthenticated(Exception):
    """No valid session or token: the API answers 401, pages redirect to the login form."""


class MustChangePassword(Exception):
    """Logged in with a temporary password: pages go to the account page, the API answers 403."""


class Forbidden(Exception):
    """Authenticated, but the role lacks the permission, or the CSRF token is wrong."""

    def __init__(self, reason: str, message: dict | None = None):
        self.reason, self.message = reason, message  # message: the reason as a code (jikimi.messages)

    @classmethod
    def coded(cls, code: str, **params) -> Forbidden:
        return cls(messages.english(code, params), messages.message(code, **params))


@dataclass
class Caller:
    user: WebUser
    csrf: str | None  # None for API tokens, which are not sent by browsers on their own
    session_token: str | None
    scopes: frozenset[str] | None = None  # an API token's scopes; None for a browser session

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def actor(self) -> Actor:
        return Actor.of_user(self.user, "web" if self.csrf is not None else "api", self.scopes)

    def can(self, permission: str) -> bool:
        """Whether the role (cut to the token's scope) has the permission somewhere (menus, forms, Need)."""
        return allows(self.actor, permission)


class Need:
    """A route dependency: an authenticated caller with `permission`, and a CSRF check on writes."""

    def __init__(self, permission: str, streamed: bool = False):
        assert permission in PERMISSIONS
        self.permission = permission
        # An upload streamed to disk (`web.uploads`) checks a form's CSRF field itself, before
        # any file byte is written: reading the form here would first spool the whole body.
        self.streamed = streamed

    async def __call__(self, request: Request) -> Caller:
        caller = authenticate(request)
        if caller is None:
            raise NotAuthenticated()
        request.state.caller = caller
        if caller.user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
            raise MustChangePassword()
        if not caller.can(self.permission):
            raise Forbidden.coded("refusal.role", role=messages.message(f"role.{caller.user.role}"))
        if request.method in UNSAFE and caller.csrf is not None:
            if self.streamed and CSRF_HEADER not in request.headers and is_multipart(request):
                request.state.csrf_expected = caller.csrf
            else:
                await check_csrf(request, caller.csrf)
        return caller


read, review, manage, admin, lookup, curate = (Need(p) for p in ("read", "review", "manage", "admin", "lookup",
                                                                   "curate"))
read_upload, manage_upload = Need("read", streamed=True), Need("manage", streamed=True)


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def authenticate(request: Request) -> Caller | None:
    if hasattr(request.state, "caller"):
        return request.state.caller
    ws = request.app.state.ws
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        # A plain connection, not an ORM session: a platform's lookups call this thousands of times a second.
        with ws.engine.begin() as connection:
            found = accounts.find_token(connection, credential.strip())
        if found is None:
            return None
        user, scopes = found
        return Caller(user, None, None, scopes)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with ws.session() as session:
        found = accounts.find_session(session, token)
        if found is None:
            return None
        web_session, user = found
        session.expunge(user)
        return Caller(user, web_session.csrf_token, token)


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form(**FORM_LIMITS)
        sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not accounts.same(sent, expected):
        raise Forbidden.coded("refusal.csrf")


def login_secret(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def client_address(request: Request) -> str:
    """The peer's address; uvicorn replaces it from X-Forwarded-For only for the proxies named
    with `jikimi serve --forwarded-allow-ips`, so a client cannot choose its own address."""
    return request.client.host if request.client else "unknown"


def set_session_cookie(request: Request, response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=accounts.SESSION_HOURS * 3600, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def renew_session(request: Request, response, caller: Caller) -> None:
    """A fresh session for the caller after their password changed (which ended the old ones)."""
    if caller.csrf is None:
        return
    with request.app.state.ws.session() as session:
        token = accounts.open_session(session, session.get(WebUser, caller.user.id))
    set_session_cookie(request, response, token)
