"""Events into the outbox, in the caller's transaction: committed with the match or the
decision they announce, or rolled back with it. Payloads carry ids and kinds only, never a
name, a note or media: the receiver asks the API for more with its own rights."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi.store.models import Decision, Match
from jikimi.store.webhook_models import WebhookDelivery, WebhookTarget

EVENTS = ("match.created", "decision.made")


def enqueue(session: Session, event: str, data: dict) -> int:
    """One delivery per enabled target subscribed to `event`; returns how many."""
    targets = [t for t in session.scalars(select(WebhookTarget).where(WebhookTarget.enabled.is_(True)))
               if event in t.events]
    if not targets:
        return 0
    payload = {"id": f"evt_{uuid.uuid4().hex}", "type": event, "created": int(time.time()), "data": data}
    session.add_all(WebhookDelivery(target_id=t.id, event=event, payload=payload) for t in targets)
    return len(targets)


def match_created(session: Session, scan_id: int, case_id: int | None, item_id: int, matches: list[Match]) -> int:
    """A scan found matches for an item: banks and subjects by id only."""
    return enqueue(session, "match.created", {
        "item_id": item_id, "scan_id": scan_id, "case_id": case_id,
        "matches": [{"kind": m.kind, "bank_id": m.bank_id, "bank_content_id": m.bank_content_id,
                     "subject_id": m.subject_id, "distance": m.distance} for m in matches],
    })


def decision_made(session: Session, decision: Decision) -> int:
    return enqueue(session, "decision.made", {
        "decision_id": decision.id, "item_id": decision.item_id, "case_id": decision.case_id,
        "verdict": decision.verdict,
    })
