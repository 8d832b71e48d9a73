"""Our feedback on imported hashes (confirmed / not matching), to send back to their source.

A reviewer's decision on an item that matched an imported hash records it at once: a
confirmed item confirms the hash, an item found not abusive says it did not match what the
list promised. "Not the subject" and "unsure" say nothing about the hash itself.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi.store.exchange_models import FEEDBACK_STATES, ExchangeRecord
from jikimi.store.models import Match, utcnow
from jikimi.errors import JikimiError

VERDICT_FEEDBACK = {"confirm": "confirmed", "not_abusive": "not_matching"}


def set_feedback(record: ExchangeRecord, state: str, actor: str) -> None:
    if state not in FEEDBACK_STATES:
        raise JikimiError(f"unknown feedback {state!r}: use {' or '.join(FEEDBACK_STATES)}")
    record.feedback, record.feedback_by, record.feedback_at = state, actor, utcnow()


def from_decision(session: Session, item_id: int, verdict: str, actor: str) -> list[int]:
    """Record the verdict's feedback on every imported hash the item matched; their content ids."""
    state = VERDICT_FEEDBACK.get(verdict)
    if state is None:
        return []
    # IN rather than a DISTINCT join: PostgreSQL cannot compare the records' JSON columns.
    matched = select(Match.bank_content_id).where(Match.item_id == item_id)
    records = session.scalars(select(ExchangeRecord).where(ExchangeRecord.content_id.in_(matched))).all()
    for record in records:
        set_feedback(record, state, actor)
    return [r.content_id for r in records]
