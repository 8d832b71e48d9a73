"""The custody log as each actor may read it: entries of their cases (admins: all)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import clock, keys
from jikimi.audit import AuditLog, VerifyResult
from jikimi.audit_heads import HeadReceipt, sign_head, witness_problem
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.listing import Page, csv_text, read_page
from jikimi.errors import JikimiError
from jikimi.serialize import audit_json
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Bank, Case, Item, Scan, Subject

CSV_COLUMNS = ["seq", "time_utc", "actor", "action", "target", "target_name", "case_id", "details", "entry_hash"]


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

    def search(self, actor: Actor, filters: dict, page: Page) -> dict:
        """One page of the entries the actor may read, newest first, filtered by `actor`
        (a part of the name), `action`, `case` and a UTC date range (`since`, `until`:
        YYYY-MM-DD in the server's time zone, both days included); each target named (`target_name`)."""
        with self._open(actor) as (session, access):
            query = select(AuditEntry).order_by(AuditEntry.seq.desc())
            if filters.get("case") is not None:
                access.case(filters["case"])
                query = query.where(AuditEntry.case_id == filters["case"])
            elif (visible := access.visible_cases()) is not None:
                query = query.where(AuditEntry.case_id.in_(visible))
            if filters.get("actor"):
                query = query.where(AuditEntry.actor.ilike(f"%{filters['actor']}%"))
            if filters.get("action"):
                query = query.where(AuditEntry.action == filters["action"])
            if filters.get("since"):
                query = query.where(AuditEntry.time >= _day(filters["since"]))
            if filters.get("until"):
                query = query.where(AuditEntry.time < _day(filters["until"], next_day=True))
            entries, pager = read_page(session, query, page)
            names = target_names(session, [e.subject for e in entries])
            rows = [{**audit_json(e), "target_name": names.get(e.subject)} for e in entries]
            return {"entries": rows, "pager": pager, "filters": filters}

    def actions(self, actor: Actor) -> list[str]:
        """The kinds of action in the log, for the filter menu."""
        with self._open(actor) as (session, access):
            access.require("read")
            return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))

    def export_csv(self, actor: Actor, filters: dict) -> str:
        """The filtered entries as CSV; the export itself is written to the log."""
        data = self.search(actor, filters, Page.everything())
        rows = [[e["seq"], e["time"], e["actor"], e["action"], e["subject"], e["target_name"] or "", e["case_id"],
                 _details(e["details"]), e["entry_hash"]] for e in data["entries"]]
        with self._open(actor) as (session, _):
            self._log(session, actor, "list_export", "audit", {"filters": _plain(filters), "rows": len(rows)},
                      filters.get("case"))
        return csv_text(CSV_COLUMNS, rows)

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

def target_names(session: Session, targets: list[str]) -> dict[str, str]:
    """What `item:244`, `case:3`, `subject:5`, `scan:7` or `bank:2` name, in words: the file's
    name and chat, the case title, the subject's name, the scanned source, the bank's name."""
    wanted: dict[str, set[int]] = {}
    for target in targets:
        kind, _, number = target.partition(":")
        if number.isdigit():
            wanted.setdefault(kind, set()).add(int(number))
    names = {}
    for item in session.scalars(select(Item).where(Item.id.in_(wanted.get("item", ())))):
        first = item.locators[0].fields if item.locators else {}
        where = [PurePath(first.get("path", "")).name or None, first.get("chat")]
        names[f"item:{item.id}"] = " · ".join(w for w in where if w) or f"#{item.id}"
    for model, kind, label in ((Case, "case", lambda c: c.title), (Subject, "subject", lambda s: s.name),
                               (Scan, "scan", lambda s: PurePath(s.source).name or s.source),
                               (Bank, "bank", lambda b: b.name)):
        for row in session.scalars(select(model).where(model.id.in_(wanted.get(kind, ())))):
            names[f"{kind}:{row.id}"] = label(row)
    return names


def _day(text: str, next_day: bool = False) -> str:
    """The start of a YYYY-MM-DD day in the workspace's time zone (as pages show times), as the
    log's UTC time text, to compare with `AuditEntry.time`."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise JikimiError.coded("error.not_a_date", text=repr(text)) from None
    start = datetime.combine(day + timedelta(days=1) if next_day else day, time.min, tzinfo=clock.workspace_zone())
    return start.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _details(details: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(details.items()) if v not in (None, ""))


def _plain(filters: dict) -> dict:
    return {k: v for k, v in filters.items() if v not in (None, "")}
