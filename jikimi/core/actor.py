"""Who is acting: a person, their role, and the face they came through (cli, web, api)."""

from __future__ import annotations

from dataclasses import dataclass

from jikimi.audit import operator_name
from jikimi.store.web_models import WebUser

CHANNELS = ("cli", "web", "api")


@dataclass(frozen=True)
class Actor:
    """The acting person. Every core operation takes one and checks it there, once.

    A web or API actor is a web user (`user_id`). A CLI actor runs on the workspace's own
    machine with its keys, so it has the admin role; `claimed` is the name given with
    `--actor` (a shared service account), recorded as claimed next to the OS user.
    `scopes` is None for sessions and the CLI (the role's rights), an API token's scopes
    otherwise (the role's rights cut down to them, decided in `access.allows`).
    """

    name: str
    role: str
    channel: str
    user_id: int | None = None
    os_user: str | None = None
    claimed: bool = False
    scopes: frozenset[str] | None = None

    @classmethod
    def cli(cls, claimed_name: str | None = None) -> Actor:
        os_user = operator_name()
        if claimed_name and claimed_name.strip():
            return cls(claimed_name.strip(), "admin", "cli", os_user=os_user, claimed=True)
        return cls(os_user, "admin", "cli", os_user=os_user)

    @classmethod
    def of_user(cls, user: WebUser, channel: str, scopes: frozenset[str] | None = None) -> Actor:
        assert channel in CHANNELS
        return cls(user.name, user.role, channel, user_id=user.id, scopes=scopes)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def log_name(self) -> str:
        """The name written into the custody log and decisions."""
        if self.claimed:
            return f"{self.name} (claimed; OS user {self.os_user})"
        return self.name
