"""Banks with owners: a case's banks belong to its members; workspace-wide banks and every
allow bank (which silence matches in everyone's scans) are an admin's. Every change and
export is in the custody log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, func, select

from jikimi import bank_feed
from jikimi import banks as bank_store
from jikimi.core.access import Access, NotFound, allows
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.serialize import bank_json
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.exchange.feedback import set_feedback
from jikimi.store.exchange_models import ExchangeRecord
from jikimi.store.models import Bank, BankContent, BankFeatures, BankSignal, Match


class Banks(Part):
    def list(self, actor: Actor) -> list[dict]:
        """Workspace banks and the banks of the actor's cases."""
        with self._open(actor) as (session, access):
            return [bank_json(s.bank, s.contents, s.signals) for s in bank_store.list_banks(session)
                    if s.bank.case_id is None or access.sees(s.bank.case_id)]

    def create(self, actor: Actor, name: str, pdq_threshold: int = PDQ_DEFAULT_THRESHOLD, allow: bool = False,
               case_id: int | None = None) -> dict:
        with self._open(actor) as (session, access):
            _may_change(access, case_id, allow)
            if not name.strip():
                raise JikimiError.coded("error.bank_name")
            bank = bank_store.create_bank(session, name.strip(), pdq_threshold, allow)
            bank.case_id = case_id
            self._log(session, actor, "bank_create", f"bank:{bank.id}",
                      {"name": bank.name, "allow": allow, "pdq_threshold": pdq_threshold}, case_id)
            return bank_json(bank, 0, 0)

    def add_files(self, actor: Actor, bank: int | str, files: list[Path],
                  on_file: Callable[[Path], None] = lambda _: None, shown_names: dict[Path, str] | None = None
                  ) -> dict:
        """Hash files into a bank (only hashes are kept)."""
        with self._open(actor) as (session, access):
            row = self._bank(access, bank, change=True)
            if not files:
                raise JikimiError.coded("error.choose_files")
            result = bank_store.add_files(session, row, files, on_file=on_file)
            self._log(session, actor, "bank_add", f"bank:{row.id}",
                      {"name": row.name, "files": [(shown_names or {}).get(p, p.name) for p in files],
                       "added": result.added}, row.case_id)
            return {"bank": row.name, "added": result.added, "warnings": result.warnings}

    def import_list(self, actor: Actor, bank: int | str, text: str, fmt: str) -> dict:
        with self._open(actor) as (session, access):
            row = self._bank(access, bank, change=True)
            result = bank_store.import_list(session, row, text, fmt)
            self._log(session, actor, "bank_import", f"bank:{row.id}",
                      {"name": row.name, "format": fmt, "signals": result.imported, "updated": result.updated,
                       "skipped": len(result.skipped)}, row.case_id)
            return {"bank": row.name, "imported": result.imported, "updated": result.updated,
                    "skipped": result.skipped}

    def feedback(self, actor: Actor, bank: int | str, ref: str, state: str) -> dict:
        """Our feedback on an imported record, found by its id at the source or one of its hashes."""
        with self._open(actor) as (session, access):
            row = self._bank(access, bank, change=True)
            ref = ref.strip()
            by_hash = select(BankSignal.content_id).where(BankSignal.bank_id == row.id, BankSignal.value == ref.lower())
            records = session.scalars(
                select(ExchangeRecord).join(BankContent, BankContent.id == ExchangeRecord.content_id)
                .where(BankContent.bank_id == row.id,
                       (ExchangeRecord.external_id == ref) | ExchangeRecord.content_id.in_(by_hash))).all()
            if not records:
                raise NotFound(f"no imported record {ref!r} in bank {row.name!r}")
            for record in records:
                set_feedback(record, state, actor.log_name)
            self._log(session, actor, "exchange_feedback", f"bank:{row.id}",
                      {"name": row.name, "ref": ref, "feedback": state,
                       "contents": [r.content_id for r in records]}, row.case_id)
            return {"bank": row.name, "ref": ref, "feedback": state, "records": len(records)}

    def export_list(self, actor: Actor, bank: int | str, fmt: str) -> tuple[str, str]:
        """The bank's name and its hash list; exporting is logged, since hashes leave the machine."""
        with self._open(actor) as (session, access):
            row = self._bank(access, bank)
            if row.case_id is not None:
                access.case(row.case_id, "manage")
            else:
                access.require("manage")
            text = bank_store.export_list(session, row, fmt)
            self._log(session, actor, "bank_export", f"bank:{row.id}", {"name": row.name, "format": fmt},
                      row.case_id)
            return row.name, text

    def delete(self, actor: Actor, bank: int | str) -> dict:
        """Delete a bank and its hashes; refused while scans' matches still point at it."""
        with self._open(actor) as (session, access):
            row = self._bank(access, bank, change=True)
            if session.scalar(select(func.count()).where(Match.bank_id == row.id)):
                raise JikimiError.coded("error.bank_in_use", bank=repr(row.name))
            content_ids = list(session.scalars(select(BankContent.id).where(BankContent.bank_id == row.id)))
            session.execute(delete(ExchangeRecord).where(
                ExchangeRecord.content_id.in_(select(BankContent.id).where(BankContent.bank_id == row.id))))
            session.execute(delete(BankSignal).where(BankSignal.bank_id == row.id))
            session.execute(delete(BankFeatures).where(BankFeatures.bank_id == row.id))
            session.execute(delete(BankContent).where(BankContent.bank_id == row.id))
            self._log(session, actor, "bank_delete", f"bank:{row.id}", {"name": row.name, "contents": len(content_ids)},
                      row.case_id)
            session.delete(row)
            bank_feed.record(session, "remove", row.id, content_ids)  # its hashes leave every index
            bank_feed.record(session, "bank", row.id)
            return {"deleted": row.name}

    def compact_feed(self, actor: Actor, keep_days: float) -> dict:
        """Delete the banks' change feed older than `keep_days` days (bank_feed.compact). An
        admin's act on every matcher, so it is in the custody log."""
        with self._open(actor) as (session, access):
            access.require_admin("compact the banks' change feed")
            if keep_days < 0:
                raise JikimiError("--keep-days cannot be negative")
            result = bank_feed.compact(session, keep_days)
            details = {"keep_days": keep_days, "removed": result.removed, "oldest_kept": result.oldest_kept}
            self._log(session, actor, "bank_feed_compact", "bank_feed", details, None)
            return details

    def _bank(self, access: Access, bank: int | str, change: bool = False) -> Bank:
        session = access.session
        row = session.get(Bank, bank) if isinstance(bank, int) else session.scalar(select(Bank).where(Bank.name == bank))
        if row is None or (row.case_id is not None and not access.sees(row.case_id)):
            raise NotFound(f"no bank named {bank!r}: see `jikimi bank list`" if isinstance(bank, str)
                           else f"no bank with id {bank}")
        if change:
            _may_change(access, row.case_id, row.is_allow)
        return row


def _may_change(access: Access, case_id: int | None, allow: bool) -> None:
    """Workspace-wide and allow banks: an admin's, or an admin's token scoped to curate them."""
    if allow or case_id is None:
        if not allows(access.actor, "curate"):
            access.require_admin("change workspace-wide and allow banks")
        return
    access.case(case_id, "manage")
