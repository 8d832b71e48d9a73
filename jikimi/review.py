"""Review decisions: the same verdict and audit entry from the web queue and `jikimi review`.

Confirming an item banks its hashes in the case's own bank, so the next scan flags a
re-upload of it even when the copy is altered (PDQ) or cut from a video (frames).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from jikimi import banks
from jikimi.audit import AuditLog
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.exchange import feedback
from jikimi.store.models import Case, Content, Decision, Item
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
    if verdict == "confirm" and case_id is not None and item.sha256:
        content = session.get(Content, item.sha256)
        banks.add_content(session, banks.case_bank(session, case_id), content, f"confirmed item {item_id}")
    return decision
