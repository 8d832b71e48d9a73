"""Users, their roles and API tokens, and the server paths allowed for scanning: an admin's
work (and each user's own tokens), every change in the custody log."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from jikimi.core.access import NotAllowed, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.serialize import iso
from jikimi.store.models import utcnow
from jikimi.store.web_models import ROLES, AllowedPath, ApiToken, WebUser
from jikimi import accounts, login_throttle, passwords


class Accounts(Part):
    """Users are named by name (CLI) or id (web); refusals that would lock the workspace out
    (an admin disabling or demoting herself) are refused here, once."""

    def users(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require_admin("list users")
            return [_user_json(session, u) for u in accounts.list_users(session)]

    def user(self, actor: Actor, who: str | int) -> dict:
        """One user with their API tokens (an admin's view)."""
        with self._open(actor) as (session, access):
            access.require_admin("see users")
            user = _find(session, who)
            return {**_user_json(session, user), "tokens": _tokens_json(session, user.id)}

    def add_user(self, actor: Actor, name: str, role: str, password: str) -> dict:
        with self._open(actor) as (session, access):
            access.require_admin("add users")
            user = accounts.add_user(session, name, role or accounts.DEFAULT_ROLE, password)
            self._log(session, actor, "user_add", f"user:{user.name}", {"role": user.role})
            return {"id": user.id, "name": user.name, "role": user.role}

    def set_role(self, actor: Actor, who: str | int, role: str) -> dict:
        if role not in ROLES:
            raise JikimiError.coded("error.role", role=repr(role), roles=", ".join(ROLES))
        with self._open(actor) as (session, access):
            access.require_admin("change roles")
            user = _find(session, who)
            if user.id == actor.user_id and role != user.role:
                raise JikimiError.coded("error.own_role")
            before, user.role = user.role, role
            self._log(session, actor, "user_role", f"user:{user.name}", {"from": before, "to": role})
            return {"id": user.id, "name": user.name, "role": role}

    def disable(self, actor: Actor, who: str | int) -> dict:
        """The user can no longer log in; their sessions and API tokens end at once."""
        with self._open(actor) as (session, access):
            access.require_admin("disable users")
            user = _find(session, who)
            if user.id == actor.user_id:
                raise JikimiError.coded("error.own_disable")
            if user.disabled_at is None:
                user.disabled_at = utcnow()
                accounts.end_sessions(session, user)
                accounts.revoke_tokens(session, user)
                self._log(session, actor, "user_disable", f"user:{user.name}", {})
            return _user_json(session, user)

    def enable(self, actor: Actor, who: str | int) -> dict:
        """The user may log in again (their old tokens stay revoked)."""
        with self._open(actor) as (session, access):
            access.require_admin("enable users")
            user = _find(session, who)
            if user.disabled_at is not None:
                user.disabled_at = None
                self._log(session, actor, "user_enable", f"user:{user.name}", {})
            return _user_json(session, user)

    def reset_password(self, actor: Actor, who: str | int) -> dict:
        """A temporary password, shown this once: it only lets the user choose a new one."""
        with self._open(actor) as (session, access):
            access.require_admin("reset passwords")
            user = _find(session, who)
            if user.id == actor.user_id:
                raise JikimiError.coded("error.own_reset")
            temporary = passwords.temporary_password()
            accounts.set_password(session, user, temporary, must_change=True)
            login_throttle.unlock(session, user.name)
            self._log(session, actor, "user_password_reset", f"user:{user.name}", {})
            return {**_user_json(session, user), "temporary_password": temporary}

    def change_password(self, actor: Actor, current: str, new: str) -> dict:
        """One's own password, given the current one; every session of the user ends."""
        if actor.user_id is None or actor.scopes is not None:
            raise NotAllowed("log in to the web app to change your password")
        with self._open(actor) as (session, _):
            user = session.get(WebUser, actor.user_id)
            if not passwords.verify(user.password_hash, current):
                raise passwords.PasswordRefused("wrong_current")
            accounts.set_password(session, user, new)
            self._log(session, actor, "user_password_change", f"user:{user.name}", {})
            return {"id": user.id, "name": user.name}

    def unlock(self, actor: Actor, who: str | int) -> dict:
        """Forget the failed logins counted against the account, so no delay remains."""
        with self._open(actor) as (session, access):
            access.require_admin("unlock users")
            user = _find(session, who)
            cleared = login_throttle.unlock(session, user.name)
            self._log(session, actor, "user_unlock", f"user:{user.name}", {"failures": cleared})
            return {**_user_json(session, user), "failures_cleared": cleared}

    def tokens(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, _):
            return _tokens_json(session, actor.user_id)

    def create_token(self, actor: Actor, user_name: str, label: str, scopes: list[str] | tuple[str, ...] = ("read",),
                     days: int = accounts.TOKEN_DAYS) -> str:
        """A token for oneself, or (admins) for any user; shown once, its creation logged.
        A token never creates tokens: a leaked one cannot make itself a successor."""
        if actor.scopes is not None:
            raise NotAllowed("an API token cannot create tokens: log in to create one")
        with self._open(actor) as (session, access):
            if user_name != actor.name or actor.user_id is None:
                access.require_admin("create tokens for others")
            user = accounts.get_user(session, user_name)
            token = accounts.create_token(session, user, label.strip()[:200], scopes, days)
            self._log(session, actor, "token_create", f"user:{user.name}",
                      {"label": label.strip()[:200], "scopes": sorted(set(scopes)), "days": days})
            return token

    def revoke_token(self, actor: Actor, token_id: int) -> dict:
        """The owner revokes their token; an admin any token."""
        with self._open(actor) as (session, access):
            token = session.get(ApiToken, token_id)
            if token is None or (token.user_id != actor.user_id and not access.can("admin")):
                raise NotFound.coded("notfound.token", id=token_id)
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                owner = session.get(WebUser, token.user_id)
                self._log(session, actor, "token_revoke", f"user:{owner.name}", {"token_id": token_id,
                                                                                "label": token.label})
            return {"revoked": token_id}

    def allowed_paths(self, actor: Actor) -> list[dict]:
        """Server paths case workers may scan (every user who may scan sees the list)."""
        with self._open(actor) as (session, access):
            access.require("manage")
            return [{"id": p.id, "path": p.path, "added_by": p.added_by, "created_at": iso(p.created_at)}
                    for p in session.scalars(select(AllowedPath).order_by(AllowedPath.path))]

    def allow_path(self, actor: Actor, path: Path) -> dict:
        if not path.is_absolute() or not path.exists():
            raise JikimiError.coded("error.path_absolute")
        self.ws.refuse_as_source(path)
        with self._open(actor) as (session, access):
            access.require_admin("allow server paths")
            resolved = str(path.resolve())
            if session.scalar(select(AllowedPath).where(AllowedPath.path == resolved)):
                raise JikimiError.coded("error.path_allowed", path=resolved)
            row = AllowedPath(path=resolved, added_by=actor.log_name)
            session.add(row)
            session.flush()
            self._log(session, actor, "path_allow", f"path:{row.id}", {"path": resolved})
            return {"id": row.id, "path": row.path}

    def remove_path(self, actor: Actor, path_id: int) -> dict:
        with self._open(actor) as (session, access):
            access.require_admin("change server paths")
            row = session.get(AllowedPath, path_id)
            if row is None:
                raise NotFound.coded("notfound.allowed_path", id=path_id)
            self._log(session, actor, "path_remove", f"path:{row.id}", {"path": row.path})
            session.delete(row)
            return {"removed": path_id}

    def set_preferences(self, actor: Actor, prefs: dict) -> dict:
        """The review display options (grayscale, small pictures) of the actor's own account."""
        with self._open(actor) as (session, _):
            session.get(WebUser, actor.user_id).preferences = prefs
            return prefs


def _find(session, who: str | int) -> WebUser:
    try:
        return accounts.get_user(session, who)
    except accounts.AccountError:
        raise NotFound.coded("notfound.user", name=repr(who)) from None


def _user_json(session, user: WebUser) -> dict:
    return {"id": user.id, "name": user.name, "role": user.role, "created_at": iso(user.created_at),
            "disabled": user.disabled_at is not None, "disabled_at": iso(user.disabled_at),
            "must_change_password": user.must_change_password,
            "recent_failures": login_throttle.recent_failures(session, user.name)}


def _tokens_json(session, user_id: int | None) -> list[dict]:
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    now = utcnow()
    return [{"id": t.id, "label": t.label, "scopes": t.scopes.split(), "created_at": iso(t.created_at),
             "expires_at": iso(t.expires_at), "last_used_at": iso(t.last_used_at),
             "revoked": t.revoked_at is not None, "expired": accounts.as_utc(t.expires_at) < now} for t in rows]
