"""Users, their roles and API tokens, and the server paths allowed for scanning: an admin's
work (and each user's own tokens), every change in the custody log."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from jikimi.core.access import NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.serialize import iso
from jikimi.store.models import utcnow
from jikimi.store.web_models import ROLES, AllowedPath, ApiToken, WebUser
from jikimi import accounts


class Accounts(Part):
    def users(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require_admin("list users")
            return [{"id": u.id, "name": u.name, "role": u.role, "created_at": iso(u.created_at),
                     "disabled": u.disabled_at is not None} for u in accounts.list_users(session)]

    def add_user(self, actor: Actor, name: str, role: str, password: str) -> dict:
        with self._open(actor) as (session, access):
            access.require_admin("add users")
            user = accounts.add_user(session, name, role, password)
            self._log(session, actor, "user_add", f"user:{user.name}", {"role": user.role})
            return {"id": user.id, "name": user.name, "role": user.role}

    def set_role(self, actor: Actor, name: str, role: str) -> dict:
        if role not in ROLES:
            raise JikimiError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        with self._open(actor) as (session, access):
            access.require_admin("change roles")
            user = accounts.get_user(session, name)
            before, user.role = user.role, role
            self._log(session, actor, "user_role", f"user:{user.name}", {"from": before, "to": role})
            return {"id": user.id, "name": user.name, "role": role}

    def tokens(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, _):
            rows = session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id))
            return [{"id": t.id, "label": t.label, "created_at": iso(t.created_at),
                     "last_used_at": iso(t.last_used_at), "revoked": t.revoked_at is not None} for t in rows]

    def create_token(self, actor: Actor, user_name: str, label: str) -> str:
        """A token for oneself, or (admins) for any user; shown once, its creation logged."""
        with self._open(actor) as (session, access):
            if user_name != actor.name or actor.user_id is None:
                access.require_admin("create tokens for others")
            user = accounts.get_user(session, user_name)
            token = accounts.create_token(session, user, label.strip()[:200])
            self._log(session, actor, "token_create", f"user:{user.name}", {"label": label.strip()[:200]})
            return token

    def revoke_token(self, actor: Actor, token_id: int) -> dict:
        with self._open(actor) as (session, _):
            token = session.get(ApiToken, token_id)
            if token is None or token.user_id != actor.user_id:
                raise NotFound(f"you have no token with id {token_id}")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                self._log(session, actor, "token_revoke", f"user:{actor.name}", {"token_id": token_id,
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
            raise JikimiError("give an absolute path that exists on the server")
        self.ws.refuse_as_source(path)
        with self._open(actor) as (session, access):
            access.require_admin("allow server paths")
            resolved = str(path.resolve())
            if session.scalar(select(AllowedPath).where(AllowedPath.path == resolved)):
                raise JikimiError(f"{resolved} is already allowed")
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
                raise NotFound(f"no allowed path with id {path_id}")
            self._log(session, actor, "path_remove", f"path:{row.id}", {"path": row.path})
            session.delete(row)
            return {"removed": path_id}

    def allowed_path(self, actor: Actor, path_id: int) -> Path:
        with self._open(actor) as (session, access):
            access.require("manage")
            row = session.get(AllowedPath, path_id)
            if row is None:
                raise NotFound("that server path is not allowed for scanning: ask an admin")
            return Path(row.path)

    def set_preferences(self, actor: Actor, prefs: dict) -> dict:
        """The review display options (grayscale, small pictures) of the actor's own account."""
        with self._open(actor) as (session, _):
            session.get(WebUser, actor.user_id).preferences = prefs
            return prefs
