"""The custody log as each actor may read it: entries of their cases (admins: all)."""

from __future__ import annotations

from sqlalchemy import select

from jikimi.audit import AuditLog, VerifyResult
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.serialize import audit_json
from jikimi.store.audit_models import AuditEntry


class Custody(Part):
    def entries(self, actor: Actor, case_id: int | None = None, limit: int | None = None,
                newest_first: bool = False) -> list[dict]:
        """Entries of one case, or of every case the actor sees; workspace entries are an admin's."""
        with self._open(actor) as (session, access):
            if case_id is not None:
                access.case(case_id)
            query = select(AuditEntry).order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
            if case_id is not None:
                query = query.where(AuditEntry.case_id == case_id)
            elif (visible := access.visible_cases()) is not None:
                query = query.where(AuditEntry.case_id.in_(visible))
            return [audit_json(e) for e in session.scalars(query.limit(limit))]

    def verify(self, actor: Actor) -> VerifyResult:
        with self._open(actor) as (session, access):
            access.require("read")
            return AuditLog(session, self.ws.home).verify()
