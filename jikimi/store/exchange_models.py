"""Where an imported hash came from, and what we say back about it.

One row per bank content imported from an exchange list (StopNCII, NCMEC, HMA): its id at
the source (StopNCII case numbers, an NCMEC entry id, an HMA content id), its status there,
and our feedback (confirmed / not matching) so it can be exported back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import Base, utcnow

FEEDBACK_STATES = ("confirmed", "not_matching")


class ExchangeRecord(Base):
    __tablename__ = "exchange_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("bank_contents.id"), unique=True)
    source_format: Mapped[str] = mapped_column(String(20))  # stopncii | ncmec | hma
    external_id: Mapped[str | None] = mapped_column(String(200))
    case_numbers: Mapped[dict] = mapped_column(JSON, default=dict)  # StopNCII: case number -> status
    status: Mapped[str | None] = mapped_column(String(40))  # at the source, e.g. Active
    extra: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. NCMEC classification, HMA note
    feedback: Mapped[str | None] = mapped_column(String(20))  # confirmed | not_matching
    feedback_by: Mapped[str | None] = mapped_column(String(200))
    feedback_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
