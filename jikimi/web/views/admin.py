"""Administration (users, server paths allowed for scanning), one's own API tokens, the custody log."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request

from jikimi.store.web_models import ROLES
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()


@router.get("/admin", include_in_schema=False)
@router.get("/api/admin", tags=["admin"], summary="Users and server paths allowed for scanning")
def overview(request: Request, caller: Caller = Depends(auth.admin)):
    core, actor = request.app.state.core, caller.actor
    return respond(request, "admin.html", {"users": core.accounts.users(actor),
                                           "paths": core.accounts.allowed_paths(actor), "roles": ROLES})


@router.post("/admin/users", include_in_schema=False)
@router.post("/api/admin/users", tags=["admin"], status_code=201, summary="Add a user")
async def add_user(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    data = request.app.state.core.accounts.add_user(caller.actor, str(form.get("name", "")), str(form.get("role", "")),
                                                    str(form.get("password", "")))
    return done(request, "/admin", data, 201)


@router.post("/admin/users/{name}/role", include_in_schema=False)
@router.post("/api/admin/users/{name}/role", tags=["admin"], summary="Change a user's workspace role (`role`)")
async def set_role(request: Request, name: str, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    data = request.app.state.core.accounts.set_role(caller.actor, name, str(form.get("role", "")))
    return done(request, "/admin", data)


@router.post("/admin/paths", include_in_schema=False)
@router.post("/api/admin/paths", tags=["admin"], status_code=201, summary="Allow a server path for scanning")
async def allow_path(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    data = request.app.state.core.accounts.allow_path(caller.actor, Path(str(form.get("path", "")).strip()))
    return done(request, "/admin", data, 201)


@router.post("/admin/paths/{path_id}/remove", include_in_schema=False)
@router.post("/api/admin/paths/{path_id}/remove", tags=["admin"], summary="No longer allow a server path")
async def remove_path(request: Request, path_id: int, caller: Caller = Depends(auth.admin)):
    return done(request, "/admin", request.app.state.core.accounts.remove_path(caller.actor, path_id))


@router.get("/account", include_in_schema=False)
@router.get("/api/account", tags=["account"], summary="Who I am, my API tokens")
def account(request: Request, caller: Caller = Depends(auth.read)):
    return respond(request, "account.html", {**_account_data(request, caller), "new_token": None})


@router.post("/account/tokens", include_in_schema=False)
@router.post("/api/account/tokens", tags=["account"], status_code=201,
             summary="Create an API token for me (shown once)")
async def create_token(request: Request, caller: Caller = Depends(auth.read)):
    form = await forms.body(request)
    token = request.app.state.core.accounts.create_token(caller.actor, caller.name, str(form.get("label", "")))
    # Shown on the answer itself, never redirected to: the token must not land in a URL or history.
    return respond(request, "account.html", {**_account_data(request, caller), "new_token": token}, 201)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
@router.post("/api/account/tokens/{token_id}/revoke", tags=["account"], summary="Revoke one of my API tokens")
async def revoke_token(request: Request, token_id: int, caller: Caller = Depends(auth.read)):
    return done(request, "/account", request.app.state.core.accounts.revoke_token(caller.actor, token_id))


def _account_data(request: Request, caller: Caller) -> dict:
    return {"user": {"name": caller.name, "role": caller.user.role},
            "tokens": request.app.state.core.accounts.tokens(caller.actor)}

