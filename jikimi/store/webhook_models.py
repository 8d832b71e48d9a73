"""Webhooks: hosts an admin allowed, targets, the outbox of deliveries and each attempt.

A delivery row is written in the same transaction as the event it announces (a scan's
match, a reviewer's decision), so an event is never lost and never sent for a rolled-back
change; a separate sender posts due rows (jikimi/webhooks/sender.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jikimi.store.models import Base, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "dead")


class WebhookHost(Base):
    """A host name an admin allowed as a webhook destination; `addresses` are the private or
    loopback addresses (or networks) it may resolve to, each allowed explicitly."""

    __tablename__ = "webhook_hosts"
    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    addresses: Mapped[list] = mapped_column(JSON, default=list)
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookTarget(Base):
    """A URL that receives events, signed with its own secret (encrypted with the workspace key)."""

    __tablename__ = "webhook_targets"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list] = mapped_column(JSON)  # e.g. ["match.created", "decision.made"]
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM, bound to "webhook_target:<id>"
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one target: the outbox row, then its state (pending, delivered, dead)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("webhook_targets.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    target: Mapped[WebhookTarget] = relationship()
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    """The delivery log: one row per try, with the receiver's status code or the error."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column()
