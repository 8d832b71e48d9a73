"""The custody log table: one row per action on evidence, chained by hashes and signed.

Rows are only ever inserted. `case_id` is a plain column, not a foreign key: the log must
keep its record of a case or subject after they are deleted.
"""

from __future__ import annotations

import json

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from jikimi.store.models import Base

CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class CanonicalJSON(TypeDecorator):
    """JSON stored as canonical text (sorted keys, no spaces), the exact bytes that are hashed.

    Verification then hashes the stored text as it is, without parsing and re-encoding it.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else CANONICAL_JSON.encode(value)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(40))  # UTC ISO 8601, exactly as hashed
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text, index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict] = mapped_column(CanonicalJSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
