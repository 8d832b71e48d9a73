"""Hash banks: lists of known content that scans match against.

Adding files keeps only their hashes, never the files (the StopNCII model). Each bank has
its own PDQ distance threshold, because a bank of confirmed abuse and a bank of loose leads
deserve different trade-offs; an allow bank lists content that must never be reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jikimi import hashlists
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.hashlists import FrameSignal, ListedSignal
from jikimi.limits import Limits
from jikimi.signals.content import compute_signals
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.store.models import Bank, BankContent, BankFeatures, BankSignal, Content

VIDEO_NAMES = {"md5": "video_md5", "sha256": "video_sha256"}


@dataclass
class BankSummary:
    bank: Bank
    contents: int
    signals: int


@dataclass
class AddResult:
    added: int
    warnings: list[str]  # "path: reason" for files added by exact hash only or skipped
    content_ids: list[int] = field(default_factory=list)  # of the files added, in order


def create_bank(
    session: Session, name: str, pdq_threshold: int = PDQ_DEFAULT_THRESHOLD, allow: bool = False
) -> Bank:
    if not 0 <= pdq_threshold <= 128:
        raise JikimiError("the PDQ threshold must be between 0 and 128 bits")
    if session.scalar(select(Bank).where(Bank.name == name)):
        raise JikimiError(f"a bank named {name!r} already exists")
    bank = Bank(name=name, pdq_threshold=pdq_threshold, is_allow=allow)
    session.add(bank)
    session.flush()
    return bank


def get_bank(session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise WorkspaceError(f"no bank named {name!r}: see `jikimi bank list`")
    return bank


def list_banks(session: Session) -> list[BankSummary]:
    contents = dict(session.execute(select(BankContent.bank_id, func.count()).group_by(BankContent.bank_id)).all())
    signals = dict(session.execute(select(BankSignal.bank_id, func.count()).group_by(BankSignal.bank_id)).all())
    banks = session.scalars(select(Bank).order_by(Bank.name))
    return [BankSummary(b, contents.get(b.id, 0), signals.get(b.id, 0)) for b in banks]


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, and every file inside named folders, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise JikimiError(f"{path}: no such file or folder")
    return found


def add_files(
    session: Session,
    bank: Bank,
    files: list[Path],
    limits: Limits = Limits(),
    on_file: Callable[[Path], None] = lambda _: None,
) -> AddResult:
    """Hash each file into the bank. A file that cannot be decoded still adds its exact hashes."""
    result = AddResult(0, [])
    for path in files:
        signals = compute_signals(path, limits, analyse=False, for_bank=True)
        on_file(path)
        if signals.digests is None:
            result.warnings.append(f"{path}: {signals.error}")
            continue
        digests = signals.digests
        content = BankContent(bank=bank, kind=signals.kind, label=path.name)
        rows = [("sha256", digests.sha256, None, None), ("md5", digests.md5, None, None)]
        if signals.pdq:
            rows.append(("pdq", signals.pdq, signals.pdq_quality, None))
        rows += [("vpdq", f.pdq, f.quality, f.timestamp) for f in signals.frames]
        _add_signals(session, bank, content, rows)
        if signals.local_features:  # the second stage's features; the file itself is not kept
            session.add(BankFeatures(bank_id=bank.id, content_id=content.id, features=signals.local_features))
        if signals.error:
            result.warnings.append(f"{path}: added by exact hash only ({signals.error})")
        result.added += 1
        result.content_ids.append(content.id)
    return result


def import_list(session: Session, bank: Bank, text: str, fmt: str) -> int:
    """Import a tx or CSV hash list; nothing is imported if any line is malformed."""
    listed = hashlists.parse(text, fmt)
    for signal in listed:
        kind = "video" if signal.signal_type in ("vpdq", "video_md5", "video_sha256") else "image"
        if signal.signal_type in ("md5", "sha256"):
            kind = "other"
        label = signal.note or f"imported {signal.signal_type}"
        content = BankContent(bank=bank, kind=kind, label=label)
        if signal.frames:
            rows = [("vpdq", f.pdq, f.quality, f.timestamp) for f in signal.frames]
        else:
            stored_type = signal.signal_type.removeprefix("video_")
            rows = [(stored_type, signal.value, None, None)]
        _add_signals(session, bank, content, rows)
    return len(listed)


def export_list(session: Session, bank: Bank, fmt: str) -> str:
    contents = session.scalars(
        select(BankContent).where(BankContent.bank_id == bank.id).order_by(BankContent.id)
    )
    listed: list[ListedSignal] = []
    for content in contents:
        frames = [
            FrameSignal(s.value, s.quality or 0, s.timestamp or 0.0)
            for s in content.signals
            if s.signal_type == "vpdq"
        ]
        for s in content.signals:
            if s.signal_type == "vpdq":
                continue
            name = VIDEO_NAMES.get(s.signal_type, s.signal_type) if content.kind == "video" else s.signal_type
            listed.append(ListedSignal(name, s.value, content.label))
        if frames:
            listed.append(ListedSignal("vpdq", "", content.label, frames))
    return hashlists.format_list(listed, fmt)


def case_bank(session: Session, case_id: int) -> Bank:
    """The bank of a case's own known content, created on first use."""
    bank = session.scalar(select(Bank).where(Bank.case_id == case_id, Bank.is_allow.is_(False)))
    if bank is None:
        bank = create_bank(session, f"case-{case_id}")
        bank.case_id = case_id
    return bank


def add_content(session: Session, bank: Bank, content: Content, label: str) -> BankContent:
    """Bank a scanned file's hashes (a confirmed item), so re-uploads match from now on."""
    existing = session.scalar(
        select(BankContent).join(BankSignal)
        .where(BankContent.bank_id == bank.id, BankSignal.signal_type == "sha256", BankSignal.value == content.sha256)
    )
    if existing:
        return existing
    rows = [("sha256", content.sha256, None, None), ("md5", content.md5, None, None)]
    if content.pdq:
        rows.append(("pdq", content.pdq, content.pdq_quality, None))
    rows += [("vpdq", f.pdq, f.quality, f.timestamp) for f in content.frames]
    banked = BankContent(bank=bank, kind=content.kind, label=label)
    _add_signals(session, bank, banked, rows)
    return banked


def add_signal_rows(session: Session, bank: Bank, kind: str, label: str, rows: list[tuple]) -> BankContent:
    """A new bank content from hashes alone: rows of (signal_type, value, quality, timestamp)."""
    content = BankContent(bank=bank, kind=kind, label=label)
    _add_signals(session, bank, content, rows)
    return content


def _add_signals(session: Session, bank: Bank, content: BankContent, rows: list[tuple]) -> None:
    session.add(content)
    for signal_type, value, quality, timestamp in rows:
        session.add(
            BankSignal(
                bank_id=bank.id,
                content=content,
                signal_type=signal_type,
                value=value,
                quality=quality,
                timestamp=timestamp,
            )
        )
    session.flush()
