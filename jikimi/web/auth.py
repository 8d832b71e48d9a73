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
from jikimi.store.web_models import WebUser
from jikimi import accounts

SESSION_COOKIE = "jikimi_session"
LOGIN_COOKIE = "jikimi_login"  # the login form's CSRF secret, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_LIMITS = {"max_files": 200, "max_fields": 100, "max_part_size": 1024 * 1024}


class NotAuthenticated(Exception):
    """No valid session or token: the API answers 401, pages redirect to the login form."""


class Forbidden(Exception):
    """Authenticated, but the role lacks the permission, or the CSRF token is wrong."""

    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class Caller:
    user: WebUser
    csrf: str | None  # None for API tokens, which are not sent by browsers on their own
    session_token: str | None

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def actor(self) -> Actor:
        return Actor.of_user(self.user, "web" if self.csrf is not None else "api")

    def can(self, permission: str) -> bool:
        """Whether the workspace role has the permission somewhere (menus and forms only)."""
        return self.user.role in PERMISSIONS[permission]


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
        if not caller.can(self.permission):
            raise Forbidden(f"the {caller.user.role} role may not do this")
        if request.method in UNSAFE and caller.csrf is not None:
            if self.streamed and CSRF_HEADER not in request.headers and is_multipart(request):
                request.state.csrf_expected = caller.csrf
            else:
                await check_csrf(request, caller.csrf)
        return caller


read, review, manage, admin = (Need(p) for p in ("read", "review", "manage", "admin"))
read_upload, manage_upload = Need("read", streamed=True), Need("manage", streamed=True)


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def authenticate(request: Request) -> Caller | None:
    if hasattr(request.state, "caller"):
        return request.state.caller
    ws = request.app.state.ws
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    with ws.session() as session:
        if scheme.lower() == "bearer" and credential:
            user = accounts.find_token(session, credential.strip())
            if user is None:
                return None
            session.expunge(user)
            return Caller(user, None, None)
        token = request.cookies.get(SESSION_COOKIE)
        found = accounts.find_session(session, token) if token else None
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
        raise Forbidden("the form has expired or did not come from this site: reload the page and try again")


def login_secret(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
