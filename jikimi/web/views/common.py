"""Rows shared by several pages, as plain data for templates and JSON alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from jikimi.reports.data import scan_summary
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Decision, Scan


def scan_row(session: Session, scan: Scan, runner) -> dict:
    return {**scan_summary(session, scan), "case_id": scan.case_id, "progress": runner.progress(scan.id)}


def decision_row(decision: Decision) -> dict:
    return {"id": decision.id, "item_id": decision.item_id, "case_id": decision.case_id,
            "verdict": decision.verdict, "note": decision.note, "actor": decision.actor,
            "created_at": decision.created_at}


def audit_row(entry: AuditEntry) -> dict:
    return {"seq": entry.seq, "time": entry.time, "at": datetime.fromisoformat(entry.time), "actor": entry.actor, "action": entry.action,
            "subject": entry.subject, "case_id": entry.case_id, "details": entry.details}
