"""The web app: `create_app(ws)` serves one workspace to case workers and reviewers.

Pages are drawn on the server and work without JavaScript; each has a JSON twin under
/api/ with the same data. Only /healthz, the login form and the stylesheet are public.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jikimi.core import Jikimi, NotAllowed
from jikimi.errors import JikimiError, WorkspaceError
from jikimi import accounts, messages
from jikimi.web import auth
from jikimi.web.auth import Caller, Forbidden, MustChangePassword, NotAuthenticated
from jikimi.web.body_limits import BodyLimit
from jikimi.web.forms import body as _body, flag as _flag, safe_next as _safe_next
from jikimi.web.render import done, is_api, language, page, respond
from jikimi.web.password_checks import Busy, PasswordChecks
from jikimi.web.security import SecurityHeaders
from jikimi.web.uploads import UploadTooLarge
from jikimi.web.views import (admin, audit, banks, cases, evidence, hma, items, media, review, scans, subject_sources,
                              takedown, webhooks)
from jikimi.workspace import DATABASE_FILE, Workspace

STATIC = Path(__file__).parent / "static"
PUBLIC_PATHS = ("/healthz", "/login", "/static")


def create_app(ws: Workspace, max_upload_bytes: int = scans.MAX_SOURCE_BYTES,
               max_package_bytes: int = evidence.MAX_PACKAGE_BYTES) -> FastAPI:
    app = FastAPI(title="Jikimi", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None,
                  description="Cases, scans, banks and the review queue of one Jikimi workspace. "
                  "Authenticate with `Authorization: Bearer <token>` (`jikimi token create NAME`).")
    app.state.ws = ws
    app.state.core = Jikimi(ws)
    app.state.max_upload_bytes, app.state.max_package_bytes = max_upload_bytes, max_package_bytes
    app.state.reveals = review.RevealGrants()
    app.state.password_checks = PasswordChecks()
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_core_routes(app)
    # The platform API first: routes are tried in order, and its lookups are the busiest calls.
    for module in (hma, cases, scans, banks, review, media, admin, audit, evidence, takedown, webhooks, items,
                   subject_sources):
        app.include_router(module.router)
    return app


def create_app_for_server() -> FastAPI:
    """The app of one of `jikimi serve --workers N`'s processes, on the workspace at $JIKIMI_HOME
    (the parent set it up before starting them: no schema upgrade runs N times at once)."""
    ws = Workspace()
    database = ws.home / DATABASE_FILE
    if ws.database_url == f"sqlite:///{database}" and not os.access(database, os.W_OK):
        ws.open_read_only(database)
    return create_app(ws)


def _add_core_routes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/"):
        return _login_page(request, next)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form(**auth.FORM_LIMITS)
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        next_path = _safe_next(str(form.get("next", "/")))
        secret = request.cookies.get(auth.LOGIN_COOKIE, "")
        if not secret or not accounts.same(str(form.get(auth.CSRF_FIELD, "")), secret):
            return _login_page(request, next_path, "expired", 403)
        try:
            outcome = await app.state.password_checks.run(_attempt_login, app.state.ws, name, password,
                                                          auth.client_address(request))
        except Busy:
            return _login_page(request, next_path, "busy", 429, retry_after=1)
        if outcome.wait:
            return _login_page(request, next_path, "wait", 429, retry_after=outcome.wait)
        if outcome.token is None:
            return _login_page(request, next_path, "wrong", 401)
        if outcome.must_change:
            next_path = "/account"
        response = RedirectResponse(next_path, status_code=303)
        auth.set_session_cookie(request, response, outcome.token)
        response.delete_cookie(auth.LOGIN_COOKIE)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, caller: Caller = Depends(auth.read)):
        with app.state.ws.session() as session:
            accounts.close_session(session, caller.session_token or "")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE)
        return response

    @app.get("/", include_in_schema=False)
    @app.get("/api/dashboard", tags=["dashboard"], summary="Open cases, items awaiting review, recent scans")
    def dashboard(request: Request, caller: Caller = Depends(auth.read)):
        core, actor = app.state.core, caller.actor
        data = {"cases": cases.case_rows(core.cases.list(actor)), **core.review.awaiting(actor),
                "scans": scans.with_progress(request, core.scans.list(actor, limit=10))}
        return respond(request, "dashboard.html", data)

    @app.post("/preferences", include_in_schema=False)
    @app.post("/api/preferences", tags=["review"], summary="Review display: grayscale, reduced size, gradual unblur")
    async def preferences(request: Request, caller: Caller = Depends(auth.read)):
        form = await _body(request)
        prefs = {"grayscale": _flag(form.get("grayscale")), "small": _flag(form.get("small")),
                 "gradual": _flag(form.get("gradual"))}
        app.state.core.accounts.set_preferences(caller.actor, prefs)
        return done(request, _safe_next(str(form.get("next", "/review"))), {"preferences": prefs})

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(caller: Caller = Depends(auth.read)):
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def docs(request: Request, caller: Caller = Depends(auth.read)):
        schema = app.openapi()
        operations = [(method.upper(), path, op.get("summary", ""), op.get("tags", [""])[0])
                      for path, methods in schema["paths"].items() for method, op in methods.items()]
        return page(request, "api_docs.html", operations=operations)


@dataclass(frozen=True)
class _LoginOutcome:
    token: str | None  # the new session's, when the password was right
    wait: int = 0
    must_change: bool = False


def _attempt_login(ws: Workspace, name: str, password: str, address: str) -> _LoginOutcome:
    """Throttle, verify and open the session: one database transaction, run off the event loop."""
    with ws.session() as session:
        login = accounts.attempt_login(session, name, password, address)
        if login.user is None:
            return _LoginOutcome(None, login.wait)
        return _LoginOutcome(accounts.open_session(session, login.user), must_change=login.user.must_change_password)


def _login_page(request: Request, next_path: str, problem: str | None = None, status: int = 200,
                retry_after: int = 0) -> Response:
    secret = auth.login_secret(request)
    response = page(request, "login.html", status, next=_safe_next(next_path), problem=problem, login_csrf=secret,
                    retry_after=retry_after)
    response.set_cookie(auth.LOGIN_COOKIE, secret, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "authentication required"}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Busy)
    def busy(request: Request, _exc: Busy) -> Response:
        response = _problem(request, 429, "the server is busy checking passwords: try again in a moment")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(MustChangePassword)
    def must_change_password(request: Request, _exc: MustChangePassword) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "change your temporary password first (POST /api/account/password)"}, 403)
        return RedirectResponse("/account", status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, exc.reason, exc.message)

    @app.exception_handler(NotAllowed)
    def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return _problem(request, 403, str(exc), exc.message)

    @app.exception_handler(WorkspaceError)
    def not_found(request: Request, exc: WorkspaceError) -> Response:
        return _problem(request, 404, str(exc), exc.message)

    @app.exception_handler(UploadTooLarge)
    def too_large(request: Request, exc: UploadTooLarge) -> Response:
        return _problem(request, 413, str(exc))

    @app.exception_handler(JikimiError)
    def refused(request: Request, exc: JikimiError) -> Response:
        return _problem(request, 400, str(exc), exc.message)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(request, exc.status_code, str(exc.detail))


def _problem(request: Request, status: int, reason: str, message: dict | None = None) -> Response:
    """The reason in English for scripts (with its code, when it has one); in the reader's language on pages."""
    if is_api(request) or not hasattr(request.state, "caller"):
        said = {"message": message, "text": messages.render_message(message, language(request))} if message else {}
        return JSONResponse({"detail": reason, **said}, status)
    if message:
        reason = messages.render_message(message, language(request))
    return page(request, "error.html", status, code=status, reason=reason)
