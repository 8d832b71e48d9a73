"""Administration (users and their lifecycle, server paths allowed for scanning), one's own
password and API tokens, the custody log."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from jikimi.accounts import DEFAULT_ROLE, TOKEN_DAYS, TOKEN_SCOPES
from jikimi.passwords import PasswordRefused
from jikimi.store.web_models import ROLES
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, is_api, page, respond

router = APIRouter()


@router.get("/admin", include_in_schema=False)
@router.get("/api/admin", tags=["admin"], summary="Users and server paths allowed for scanning")
def overview(request: Request, caller: Caller = Depends(auth.admin)):
    return respond(request, "admin.html", _admin_data(request, caller))


@router.post("/admin/users", include_in_schema=False)
@router.post("/api/admin/users", tags=["admin"], status_code=201,
             summary="Add a user (`name`, `password`, `role`: viewer unless given)")
async def add_user(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    try:
        data = await _hashing(request, request.app.state.core.accounts.add_user, caller.actor,
                              str(form.get("name", "")), str(form.get("role", "")), str(form.get("password", "")))
    except PasswordRefused as refused:  # the form comes back with the name kept, the password not
        typed = {"typed_name": form.get("name", ""), "typed_role": form.get("role", "")}
        return _refused(request, refused, "admin.html", {**_admin_data(request, caller), **typed})
    return done(request, f"/admin/users/{data['id']}", data, 201)


@router.get("/admin/users/{user_id}", include_in_schema=False)
@router.get("/api/admin/users/{user_id}", tags=["admin"], summary="One user: role, state, failed logins, API tokens")
def user_page(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    return respond(request, "admin_user.html", _user_data(request, caller, user_id))


@router.post("/admin/users/{user_id}/role", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/role", tags=["admin"], summary="Change a user's workspace role (`role`)")
async def set_role(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    data = request.app.state.core.accounts.set_role(caller.actor, user_id, str(form.get("role", "")))
    return done(request, f"/admin/users/{user_id}", data)


@router.post("/admin/users/{user_id}/disable", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/disable", tags=["admin"],
             summary="Disable a user: their sessions and API tokens end at once")
async def disable_user(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    return done(request, f"/admin/users/{user_id}", request.app.state.core.accounts.disable(caller.actor, user_id))


@router.post("/admin/users/{user_id}/enable", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/enable", tags=["admin"], summary="Let a disabled user log in again")
async def enable_user(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    return done(request, f"/admin/users/{user_id}", request.app.state.core.accounts.enable(caller.actor, user_id))


@router.post("/admin/users/{user_id}/unlock", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/unlock", tags=["admin"],
             summary="Forget a user's failed logins (no login delay remains)")
async def unlock_user(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    return done(request, f"/admin/users/{user_id}", request.app.state.core.accounts.unlock(caller.actor, user_id))


@router.post("/admin/users/{user_id}/password", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/password", tags=["admin"],
             summary="Reset a user's password: a temporary one, shown once, to be replaced at login")
async def reset_password(request: Request, user_id: int, caller: Caller = Depends(auth.admin)):
    data = await _hashing(request, request.app.state.core.accounts.reset_password, caller.actor, user_id)
    # Shown on the answer itself, never redirected to: the password must not land in a URL or history.
    return respond(request, "admin_user.html", {**_user_data(request, caller, user_id),
                                                "temporary_password": data["temporary_password"]})


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke", include_in_schema=False)
@router.post("/api/admin/users/{user_id}/tokens/{token_id}/revoke", tags=["admin"],
             summary="Revoke one of a user's API tokens")
async def revoke_user_token(request: Request, user_id: int, token_id: int, caller: Caller = Depends(auth.admin)):
    data = request.app.state.core.accounts.revoke_token(caller.actor, token_id)
    return done(request, f"/admin/users/{user_id}", data)


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
    return respond(request, "account.html", _account_data(request, caller))


@router.post("/account/password", include_in_schema=False)
@router.post("/api/account/password", tags=["account"],
             summary="Change my password (`current`, `new`); my other sessions end")
async def change_password(request: Request, caller: Caller = Depends(auth.read)):
    form = await forms.body(request)
    try:
        data = await _hashing(request, request.app.state.core.accounts.change_password, caller.actor,
                              str(form.get("current", "")), str(form.get("new", "")))
    except PasswordRefused as refused:
        return _refused(request, refused, "account.html", _account_data(request, caller))
    response = done(request, "/account?changed=1", data)
    auth.renew_session(request, response, caller)  # the change ended every session, this one too
    return response


@router.post("/account/tokens", include_in_schema=False)
@router.post("/api/account/tokens", tags=["account"], status_code=201,
             summary="Create an API token for me (`label`, `scopes`, `days`), shown once")
async def create_token(request: Request, caller: Caller = Depends(auth.read)):
    form, scopes = await _token_form(request)
    days = forms.number(form.get("days"), "days") or TOKEN_DAYS
    token = request.app.state.core.accounts.create_token(caller.actor, caller.name, str(form.get("label", "")),
                                                         scopes, days)
    # Shown on the answer itself, never redirected to: the token must not land in a URL or history.
    return respond(request, "account.html", {**_account_data(request, caller), "new_token": token}, 201)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
@router.post("/api/account/tokens/{token_id}/revoke", tags=["account"], summary="Revoke one of my API tokens")
async def revoke_token(request: Request, token_id: int, caller: Caller = Depends(auth.read)):
    return done(request, "/account", request.app.state.core.accounts.revoke_token(caller.actor, token_id))


def _admin_data(request: Request, caller: Caller) -> dict:
    core, actor = request.app.state.core, caller.actor
    return {"users": core.accounts.users(actor), "paths": core.accounts.allowed_paths(actor), "roles": ROLES,
            "default_role": DEFAULT_ROLE, "typed_name": "", "typed_role": ""}


def _user_data(request: Request, caller: Caller, user_id: int) -> dict:
    return {"user": request.app.state.core.accounts.user(caller.actor, user_id), "roles": ROLES,
            "temporary_password": None, "me": caller.user.id}


def _account_data(request: Request, caller: Caller) -> dict:
    return {"user": {"name": caller.name, "role": caller.user.role,
                     "must_change_password": caller.user.must_change_password},
            "tokens": request.app.state.core.accounts.tokens(caller.actor), "scopes": TOKEN_SCOPES,
            "token_days": TOKEN_DAYS, "new_token": None, "changed": request.query_params.get("changed") == "1"}


async def _token_form(request: Request) -> tuple[dict, list[str]]:
    """The form or JSON object, and its scopes (checkboxes in a form, a list in JSON)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        form = await forms.body(request)
        scopes = form.get("scopes", ["read"])
        return form, [str(s) for s in scopes] if isinstance(scopes, list) else [str(scopes)]
    data = await request.form(**auth.FORM_LIMITS)
    return dict(data), [str(s) for s in data.getlist("scopes")]


async def _hashing(request: Request, operation, *args):
    """A core operation that hashes a password, run in the password pool off the event loop."""
    return await request.app.state.password_checks.run(operation, *args)


def _refused(request: Request, refused: PasswordRefused, template: str, data: dict):
    """A refused password: JSON with its code, or the form again with the reason in the reader's language."""
    if is_api(request):
        return JSONResponse({"detail": str(refused), "code": refused.code}, 400)
    return page(request, template, 400, **{**data, "password_problem": refused.code})

