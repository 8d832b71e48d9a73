"""The workspace database: banks, scans, items and what matched.

One SQLite file by default (PostgreSQL works through the same models). Media signals are
stored per content (keyed by SHA-256), so a file seen in many scans is hashed once.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


# Faces and templates stored before each recorded its model were all dlib's ResNet v1.
LEGACY_FACE_MODEL = "dlib_resnet_v1"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Bank(Base):
    """A named list of known content. An allow bank lists content that must never match."""

    __tablename__ = "banks"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    is_allow: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # a victim's own known files
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # HMA's switch: the share of lookups (by a seeded coin flip) that this bank answers; 0 turns it off.
    matching_enabled_ratio: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0")
    contents: Mapped[list[BankContent]] = relationship(back_populates="bank")


class BankContent(Base):
    """One known file (or one imported hash line) in a bank, with its signals."""

    __tablename__ = "bank_contents"
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # image | video | other
    label: Mapped[str] = mapped_column(Text)  # file name or import note
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # HMA's values: 1 enabled, 0 disabled, otherwise disabled until that Unix time.
    disable_until_ts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    bank: Mapped[Bank] = relationship(back_populates="contents")
    signals: Mapped[list[BankSignal]] = relationship(back_populates="content")


class BankFeatures(Base):
    """Local features of a banked picture whose file was seen (never its pixels): the second
    stage finds crops, turns and edited copies with them (jikimi/index/local_features.py)."""

    __tablename__ = "bank_features"
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    content_id: Mapped[int] = mapped_column(ForeignKey("bank_contents.id"), index=True)
    features: Mapped[bytes] = mapped_column(LargeBinary)  # LocalFeatures.to_bytes()
    # Spread features and region grid (match_edits.py): they find copies with a large region
    # replaced; None for rows stored before migration 0019, which the plain features still find.
    edit_features: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # LocalFeatures.to_bytes()
    regions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # RegionGrid.to_bytes()


class BankSignal(Base):
    """One hash of a bank content. Video frame hashes are `vpdq` rows with a timestamp."""

    __tablename__ = "bank_signals"
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    content_id: Mapped[int] = mapped_column(ForeignKey("bank_contents.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(16))  # sha256 | md5 | pdq | vpdq
    value: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[float | None] = mapped_column(Float)
    content: Mapped[BankContent] = relationship(back_populates="signals")
    __table_args__ = (Index("ix_bank_signals_type_value", "signal_type", "value"),)


class BankChange(Base):
    """The change feed of the banks (jikimi/bank_feed.py): one row per change, in commit order,
    so every matcher process keeps its in-memory index current by reading "changes since N"."""

    __tablename__ = "bank_changes"
    seq: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # add | remove | state | bank
    bank_id: Mapped[int] = mapped_column(Integer)  # no foreign key: a deleted bank's changes stay
    content_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    """A victim's case: the scans, subjects, decisions and notices that belong together."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subjects: Mapped[list[Subject]] = relationship(back_populates="case")


class Subject(Base):
    """A person to protect, enrolled with her consent. Removed subjects keep only this row."""

    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    consent: Mapped[dict] = mapped_column(JSON)  # who consented, to what, when, recorded by whom
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column()
    case: Mapped[Case] = relationship(back_populates="subjects")
    templates: Mapped[list[SubjectTemplate]] = relationship(cascade="all, delete-orphan")
    sources: Mapped[list[SubjectSource]] = relationship(cascade="all, delete-orphan", order_by="SubjectSource.id")


class SubjectTemplate(Base):
    """One identity embedding, AES-GCM encrypted with the workspace key (bound to its row)."""

    __tablename__ = "subject_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted float32 vector of `model`
    model: Mapped[str] = mapped_column(String(64), server_default=LEGACY_FACE_MODEL)  # never compared across models
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted JPEG, only with --keep-photos
    reference_crop: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted face JPEG, with --keep-reference-crops
    photo_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubjectSource(Base):
    """A photo of hers she fears was used to make fakes (registered with her consent): only its
    local features and region hashes, each AES-GCM encrypted and bound to the row, never pixels."""

    __tablename__ = "subject_sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    features: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted LocalFeatures.to_bytes()
    regions: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted RegionGrid.to_bytes()
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Content(Base):
    """Signals of one unique file (by SHA-256), computed once whatever scan saw it."""

    __tablename__ = "contents"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40))  # NCMEC lists still carry SHA-1; None if scanned before
    size: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    # Extra query hashes (turned, mirrored, the picture inside a screenshot): signals/pdq_variants.py
    pdq_variants: Mapped[list | None] = mapped_column(JSON)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)  # already blurred
    nudity: Mapped[dict | None] = mapped_column(JSON)  # max exposed score and classes
    provenance: Mapped[dict | None] = mapped_column(JSON)  # C2PA, generator metadata, EXIF Software
    error: Mapped[str | None] = mapped_column(Text)
    frames: Mapped[list[ContentFrame]] = relationship(order_by="ContentFrame.timestamp")
    faces: Mapped[list[ContentFace]] = relationship(order_by="ContentFace.id")


class ContentFrame(Base):
    __tablename__ = "content_frames"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    timestamp: Mapped[float] = mapped_column(Float)
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)


class ContentFace(Base):
    """A face found in a content (an image, or a video frame at `frame_time`)."""

    __tablename__ = "content_faces"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    frame_time: Mapped[float | None] = mapped_column(Float)
    box: Mapped[list] = mapped_column(JSON)  # [left, top, right, bottom] in pixels
    score: Mapped[float] = mapped_column(Float)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted float32 vector of `model`: biometric data
    model: Mapped[str] = mapped_column(String(64), server_default=LEGACY_FACE_MODEL)


class Scan(Base):
    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str | None] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # queued | running | interrupted | cancelled | complete | failed
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(200))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    enumerated: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    items: Mapped[list[Item]] = relationship(back_populates="scan")


class Item(Base):
    """One unique file in a scan (or one unreadable entry), with every place it was posted."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    first_ordinal: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)  # entry-level: missing, unsafe, unreadable
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_by: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher is more urgent
    reason: Mapped[str | None] = mapped_column(Text)  # one line: why this priority, in English
    reason_message: Mapped[dict | None] = mapped_column(JSON)  # the same as a code and parameters (jikimi.messages)
    scan: Mapped[Scan] = relationship(back_populates="items")
    locators: Mapped[list[ItemLocator]] = relationship(order_by="ItemLocator.ordinal")
    matches: Mapped[list[Match]] = relationship(order_by="Match.id")
    # The review queue reads items most urgent first and stops after a page.
    __table_args__ = (UniqueConstraint("scan_id", "sha256"), Index("ix_items_priority", "priority", "id"))


class ItemLocator(Base):
    __tablename__ = "item_locators"
    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict] = mapped_column(JSON)  # Locator.to_dict()
    # The review table filters by chat: on SQLite an index on the chat inside `fields` finds its
    # posts without reading every post (jikimi.core.review.chat_of writes the same expression).
    __table_args__ = (UniqueConstraint("scan_id", "ordinal"),
                      Index("ix_item_locators_chat", text("json_extract(fields, '$.chat')")).ddl_if(dialect="sqlite"))


# Matches that name a subject: they route an item to her case, and hide her name from others.
SUBJECT_MATCH_KINDS = ("face", "derived")


class Match(Base):
    """A hash match (bank, bank content) or a face match (subject, face)."""

    __tablename__ = "matches"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # md5 | sha256 | pdq | vpdq | face
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"))
    bank_content_id: Mapped[int | None] = mapped_column(ForeignKey("bank_contents.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), index=True)  # routes to her case
    face_id: Mapped[int | None] = mapped_column(ForeignKey("content_faces.id"))
    distance: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    bank: Mapped[Bank | None] = relationship()
    bank_content: Mapped[BankContent | None] = relationship()
    subject: Mapped[Subject | None] = relationship()
    face: Mapped[ContentFace | None] = relationship()


class Decision(Base):
    """A reviewer's verdict on an item, from the web queue or `jikimi review`."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(20))  # confirm | not_subject | not_abusive | unsure
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
