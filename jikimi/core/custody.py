"""The custody log as each actor may read it: entries of their cases (admins: all)."""

from __future__ import annotations

from sqlalchemy import select

from jikimi import keys
from jikimi.audit import AuditLog, VerifyResult
from jikimi.audit_heads import HeadReceipt, sign_head, witness_problem
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

    def witness_problems(self, actor: Actor, receipts: list[HeadReceipt]) -> list[str | None]:
        """For each receipt kept elsewhere, why the log no longer holds its head (None: it does)."""
        with self._open(actor) as (session, access):
            access.require("read")
            public_key = keys.public_key(self.ws.home)
            return [witness_problem(session, receipt, public_key) for receipt in receipts]

    def anchor(self, actor: Actor) -> HeadReceipt:
        """A signed receipt for the log's current head, to keep off this machine."""
        with self._open(actor) as (session, access):
            access.require("read")
            return sign_head(session, self.ws.home)

    def seal_plain_vault(self, actor: Actor) -> int:
        """Encrypt the vault files written before encryption; the change is logged when there was one."""
        with self._open(actor) as (session, access):
            access.require("admin")
            sealed = self.ws.vault.seal_plain_files()
            if sealed:
                AuditLog(session, self.ws.home).append("vault_encrypt", "vault", {"files": sealed},
                                                       actor=actor.log_name)
            return sealed
