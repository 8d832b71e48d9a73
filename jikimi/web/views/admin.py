"""Administration (users, server paths allowed for scanning), one's own API tokens, the custody log."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from jikimi.audit import AuditLog
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import utcnow
from jikimi.store.web_models import ROLES, AllowedPath, ApiToken
from jikimi.web import accounts, auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond
from jikimi.web.views.common import audit_row

router = APIRouter()
AUDIT_ROWS = 200


@router.get("/admin", include_in_schema=False)
@router.get("/api/admin", tags=["admin"], summary="Users and server paths allowed for scanning")
def overview(request: Request, caller: Caller = Depends(auth.admin)):
    with request.app.state.ws.session() as session:
        data = {"users": [{"id": u.id, "name": u.name, "role": u.role, "created_at": u.created_at,
                           "disabled": u.disabled_at is not None} for u in accounts.list_users(session)],
                "paths": [{"id": p.id, "path": p.path, "added_by": p.added_by, "created_at": p.created_at}
                          for p in session.scalars(select(AllowedPath).order_by(AllowedPath.path))],
                "roles": ROLES}
    return respond(request, "admin.html", data)


@router.post("/admin/users", include_in_schema=False)
@router.post("/api/admin/users", tags=["admin"], status_code=201, summary="Add a user")
async def add_user(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    ws = request.app.state.ws
    with ws.session() as session:
        user = accounts.add_user(session, str(form.get("name", "")), str(form.get("role", "")),
                                 str(form.get("password", "")))
        data = {"id": user.id, "name": user.name, "role": user.role}
        AuditLog(session, ws.home).append("user_add", f"user:{user.name}", {"role": user.role}, actor=caller.name)
    return done(request, "/admin", data, 201)


@router.post("/admin/paths", include_in_schema=False)
@router.post("/api/admin/paths", tags=["admin"], status_code=201, summary="Allow a server path for scanning")
async def allow_path(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    path = Path(str(form.get("path", "")).strip())
    if not path.is_absolute() or not path.exists():
        raise JikimiError("give an absolute path that exists on the server")
    with request.app.state.ws.session() as session:
        resolved = str(path.resolve())
        if session.scalar(select(AllowedPath).where(AllowedPath.path == resolved)):
            raise JikimiError(f"{resolved} is already allowed")
        row = AllowedPath(path=resolved, added_by=caller.name)
        session.add(row)
        session.flush()
        data = {"id": row.id, "path": row.path}
    return done(request, "/admin", data, 201)


@router.post("/admin/paths/{path_id}/remove", include_in_schema=False)
@router.post("/api/admin/paths/{path_id}/remove", tags=["admin"], summary="No longer allow a server path")
async def remove_path(request: Request, path_id: int, caller: Caller = Depends(auth.admin)):
    with request.app.state.ws.session() as session:
        row = session.get(AllowedPath, path_id)
        if row is None:
            raise WorkspaceError(f"no allowed path with id {path_id}")
        session.delete(row)
    return done(request, "/admin", {"removed": path_id})


@router.get("/account", include_in_schema=False)
@router.get("/api/account", tags=["account"], summary="Who I am, my API tokens")
def account(request: Request, caller: Caller = Depends(auth.read)):
    return respond(request, "account.html", {**_account_data(request, caller), "new_token": None})


@router.post("/account/tokens", include_in_schema=False)
@router.post("/api/account/tokens", tags=["account"], status_code=201,
             summary="Create an API token for me (shown once)")
async def create_token(request: Request, caller: Caller = Depends(auth.read)):
    form = await forms.body(request)
    with request.app.state.ws.session() as session:
        user = accounts.get_user(session, caller.name)
        token = accounts.create_token(session, user, str(form.get("label", "")).strip()[:200])
    # Shown on the answer itself, never redirected to: the token must not land in a URL or history.
    return respond(request, "account.html", {**_account_data(request, caller), "new_token": token}, 201)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
@router.post("/api/account/tokens/{token_id}/revoke", tags=["account"], summary="Revoke one of my API tokens")
async def revoke_token(request: Request, token_id: int, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != caller.user.id:
            raise WorkspaceError(f"you have no token with id {token_id}")
        token.revoked_at = token.revoked_at or utcnow()
    return done(request, "/account", {"revoked": token_id})


def _account_data(request: Request, caller: Caller) -> dict:
    with request.app.state.ws.session() as session:
        tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == caller.user.id).order_by(ApiToken.id))
        return {"user": {"name": caller.name, "role": caller.user.role},
                "tokens": [{"id": t.id, "label": t.label, "created_at": t.created_at, "last_used_at": t.last_used_at,
                            "revoked": t.revoked_at is not None} for t in tokens]}


@router.get("/audit", include_in_schema=False)
@router.get("/api/audit", tags=["audit"], summary="The custody log, newest first (optionally of one case)")
def audit(request: Request, case: int | None = None, caller: Caller = Depends(auth.read)):
    ws = request.app.state.ws
    with ws.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(AUDIT_ROWS)
        if case is not None:
            query = query.where(AuditEntry.case_id == case)
        data = {"entries": [audit_row(e) for e in session.scalars(query)], "case": case}
    return respond(request, "audit.html", data)
