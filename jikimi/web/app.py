"""The web app: `create_app(ws)` serves one workspace to case workers and reviewers.

Pages are drawn on the server and work without JavaScript; each has a JSON twin under
/api/ with the same data. Only /healthz, the login form and the stylesheet are public.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jikimi.core import Jikimi, NotAllowed
from jikimi.errors import JikimiError, WorkspaceError
from jikimi import accounts
from jikimi.web import auth
from jikimi.web.auth import Caller, Forbidden, NotAuthenticated
from jikimi.web.forms import body as _body, flag as _flag, safe_next as _safe_next
from jikimi.web.render import done, is_api, page, respond
from jikimi.web.security import SecurityHeaders
from jikimi.web.uploads import UploadTooLarge
from jikimi.web.views import admin, banks, cases, evidence, media, review, scans
from jikimi.workspace import Workspace

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
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_core_routes(app)
    for module in (cases, scans, banks, review, media, admin, evidence):
        app.include_router(module.router)
    return app


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
        address = auth.client_address(request)
        with app.state.ws.session() as session:
            if accounts.locked_out(session, name, address):
                return _login_page(request, next_path, "locked", 429)
            user = accounts.check_password(session, name, password, address)
            token = accounts.open_session(session, user) if user else None
        if token is None:
            return _login_page(request, next_path, "wrong", 401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(auth.SESSION_COOKIE, token, max_age=accounts.SESSION_HOURS * 3600, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
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
    @app.post("/api/preferences", tags=["review"], summary="Review display: grayscale and reduced size")
    async def preferences(request: Request, caller: Caller = Depends(auth.read)):
        form = await _body(request)
        prefs = {"grayscale": _flag(form.get("grayscale")), "small": _flag(form.get("small"))}
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


def _login_page(request: Request, next_path: str, problem: str | None = None, status: int = 200) -> Response:
    secret = auth.login_secret(request)
    response = page(request, "login.html", status, next=_safe_next(next_path), problem=problem, login_csrf=secret)
    response.set_cookie(auth.LOGIN_COOKIE, secret, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "authentication required"}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, exc.reason)

    @app.exception_handler(NotAllowed)
    def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return _problem(request, 403, str(exc))

    @app.exception_handler(WorkspaceError)
    def not_found(request: Request, exc: WorkspaceError) -> Response:
        return _problem(request, 404, str(exc))

    @app.exception_handler(UploadTooLarge)
    def too_large(request: Request, exc: UploadTooLarge) -> Response:
        return _problem(request, 413, str(exc))

    @app.exception_handler(JikimiError)
    def refused(request: Request, exc: JikimiError) -> Response:
        return _problem(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(request, exc.status_code, str(exc.detail))


def _problem(request: Request, status: int, reason: str) -> Response:
    if is_api(request) or not hasattr(request.state, "caller"):
        return JSONResponse({"detail": reason}, status)
    return page(request, "error.html", status, code=status, reason=reason)
