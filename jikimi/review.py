"""Review decisions: the same verdict and audit entry from the web queue and `jikimi review`.

Confirming an item banks its hashes in the case's own bank, so the next scan flags a
re-upload of it even when the copy is altered (PDQ) or cut from a video (frames).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jikimi import bank_feed, banks
from jikimi.audit import AuditLog
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.exchange import feedback
from jikimi.store.models import (Bank, BankContent, BankFeatures, BankSignal, Case, Content, Decision, Item,
                                 Match)
from jikimi.store.vault import Vault
from jikimi.webhooks import outbox

VERDICTS = ("confirm", "not_subject", "not_abusive", "unsure")


def record_decision(session: Session, home: Path, item_id: int, verdict: str, actor: str,
                    note: str | None = None, case_id: int | None = None) -> Decision:
    if verdict not in VERDICTS:
        raise JikimiError(f"unknown decision {verdict!r}: use one of {', '.join(VERDICTS)}")
    item = session.get(Item, item_id)
    if item is None:
        raise WorkspaceError(f"no item with id {item_id}")
    case_id = case_id or item.scan.case_id
    if case_id is not None and session.get(Case, case_id) is None:
        raise WorkspaceError(f"no case with id {case_id}: see `jikimi case list`")
    banking = verdict == "confirm" and case_id is not None and item.sha256
    content = session.get(Content, item.sha256) if banking else None
    # Decoded before the custody log's lock is taken (it is held to the commit): seconds on a big picture.
    signals = banks.vault_signals(Vault(home / "vault", home), content) if content is not None else None
    decision = Decision(item_id=item_id, case_id=case_id, verdict=verdict, note=note, actor=actor)
    session.add(decision)
    session.flush()
    outbox.decision_made(session, decision)
    fed_back = feedback.from_decision(session, item_id, verdict, actor)
    AuditLog(session, home).append(
        "decision", f"item:{item_id}",
        {"verdict": verdict, "note": note, "sha256": item.sha256, "decision_id": decision.id,
         **({"exchange_feedback": fed_back} if fed_back else {})},
        case_id=case_id, actor=actor,
    )
    if content is not None:
        banks.add_content(session, banks.case_bank(session, case_id), content, f"confirmed item {item_id}", signals)
    return decision


def withdraw_decision(session: Session, home: Path, decision: Decision, actor: str) -> None:
    """Take back a decision just made (the reviewer's undo). The custody log keeps both the
    decision and its withdrawal; a confirmation's banked hashes go too, unless they were in
    the bank before or a scan has matched them since."""
    if decision.verdict == "confirm" and decision.case_id is not None:
        banked = session.scalar(select(BankContent).join(Bank).where(
            Bank.case_id == decision.case_id, BankContent.label == f"confirmed item {decision.item_id}"))
        if banked is not None and not session.scalar(select(Match.id).where(Match.bank_content_id == banked.id)):
            session.execute(delete(BankSignal).where(BankSignal.content_id == banked.id))
            session.execute(delete(BankFeatures).where(BankFeatures.content_id == banked.id))
            session.delete(banked)
            bank_feed.record(session, "remove", banked.bank_id, [banked.id])
    AuditLog(session, home).append(
        "decision_undo", f"item:{decision.item_id}", {"decision_id": decision.id, "verdict": decision.verdict},
        case_id=decision.case_id, actor=actor)
    session.delete(decision)
    session.flush()
