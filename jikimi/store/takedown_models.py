"""Takedown tables: who receives notices (hosts), the notices sent, and what each asked removed.

A notice keeps every status time, not only the current status, so response times per host
can be measured (`jikimi takedown stats`) and a notice is re-sent until it is removed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jikimi.store.models import Base, utcnow

NOTICE_STATUSES = ("drafted", "sent", "acknowledged", "removed", "refused")


class Host(Base):
    """A recipient of notices: a platform's abuse desk or a regulator. Built-ins ship with Jikimi."""

    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # None: report through `url` by hand
    url: Mapped[str | None] = mapped_column(Text)  # web form or page on how to report
    languages: Mapped[list] = mapped_column(JSON, default=list)  # languages the host reads, best first
    kind: Mapped[str] = mapped_column(String(10), default="custom")  # builtin | custom
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("name", name="uq_hosts_name"),)


class Notice(Base):
    """One takedown request to one host about items of one case, as an RFC 5322 message."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", name="fk_notices_case_id"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", name="fk_notices_host_id"), index=True)
    reference: Mapped[str] = mapped_column(String(40))  # e.g. JKM-2024-000123
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="drafted", index=True)
    message_id: Mapped[str] = mapped_column(String(200))  # the Message-ID header
    eml_path: Mapped[str | None] = mapped_column(Text)  # where the draft was written, if anywhere
    eml: Mapped[bytes] = mapped_column(LargeBinary)  # the exact message bytes, so sending needs no file
    drafted_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()  # first sent
    last_sent_at: Mapped[datetime | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    removed_at: Mapped[datetime | None] = mapped_column()
    refused_at: Mapped[datetime | None] = mapped_column()
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. the host's reason for refusing
    host: Mapped[Host] = relationship()
    items: Mapped[list[NoticeItem]] = relationship(order_by="NoticeItem.id", back_populates="notice")
    __table_args__ = (UniqueConstraint("reference", name="uq_notices_reference"),)


class NoticeItem(Base):
    """One item (by its SHA-256, and the message link when known) that a notice asks removed."""

    __tablename__ = "notice_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", name="fk_notice_items_notice_id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", name="fk_notice_items_item_id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    link: Mapped[str | None] = mapped_column(Text)
    notice: Mapped[Notice] = relationship(back_populates="items")
