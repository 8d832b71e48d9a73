"""Background jobs started from the web: a scan or an evidence package, run by `jikimi worker`.

The row is the whole state a worker needs: what to do (`kind`, `args`), on whose behalf
(`user_id`, the web user whose rights are checked again when it runs and whose name goes
into the custody log), and how far it is (`phase`, `done`, `total`), written by the worker
about once a second. A job whose worker died still says running; `pid` and `host` tell.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jikimi.store.models import Base, utcnow

JOB_KINDS = ("scan", "evidence")
JOB_STATUSES = ("queued", "running", "complete", "failed", "interrupted", "cancelled")


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # scan | evidence
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued | running | complete | failed | ...
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", name="fk_jobs_user_id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # web | api: the face the job was asked through
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", name="fk_jobs_case_id"), index=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", name="fk_jobs_scan_id"), index=True)
    phase: Mapped[str | None] = mapped_column(String(40))
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    phase_started_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
