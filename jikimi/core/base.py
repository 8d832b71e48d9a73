"""What every part of the core shares: a session with the actor's access, and the custody log."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from jikimi.audit import AuditLog
from jikimi.core.access import Access
from jikimi.core.actor import Actor
from jikimi.workspace import Workspace


class Part:
    """One concept of the core (cases, scans, banks...). Methods take the actor first."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    @contextmanager
    def _open(self, actor: Actor) -> Iterator[tuple[Session, Access]]:
        with self.ws.session() as session:
            yield session, Access(session, self.ws.home, actor)

    def _log(self, session: Session, actor: Actor, action: str, subject: str, details: dict,
             case_id: int | None = None) -> None:
        AuditLog(session, self.ws.home).append(action, subject, details, case_id=case_id, actor=actor.log_name)
