"""Hash banks: lists of known content that scans match against.

Adding files keeps only their hashes, never the files (the StopNCII model). Each bank has
its own PDQ distance threshold, because a bank of confirmed abuse and a bank of loose leads
deserve different trade-offs; an allow bank lists content that must never be reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from jikimi import bank_feed, hashlists
from jikimi.errors import ExportFormatError, JikimiError, WorkspaceError
from jikimi.exchange.records import FrameSignal, ListedContent, Origin
from jikimi.limits import Limits
from jikimi.signals.content import ContentSignals, compute_signals
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.store.exchange_models import ExchangeRecord
from jikimi.store.models import Bank, BankContent, BankFeatures, BankSignal, Content, utcnow
from jikimi.store.vault import Vault


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
    bank_feed.record(session, "bank", bank.id)
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
            session.add(BankFeatures(bank_id=bank.id, content_id=content.id, features=signals.local_features,
                                     edit_features=signals.edit_features, regions=signals.regions))
        if signals.error:
            result.warnings.append(f"{path}: added by exact hash only ({signals.error})")
        result.added += 1
        result.content_ids.append(content.id)
    bank_feed.record(session, "add", bank.id, result.content_ids)  # last: the feed's lock is held only until commit
    return result


@dataclass
class ImportResult:
    imported: int  # new bank contents
    updated: int  # records seen before (same id at the same source): status and case numbers refreshed
    skipped: list[str]  # "record 4: ..." for records that cannot be used (deleted, no usable hash)


def import_list(session: Session, bank: Bank, text: str, fmt: str) -> ImportResult:
    """Import a hash list in any format (hashlists.FORMATS); nothing is imported if any line
    or record is malformed. A record imported before is updated, never duplicated."""
    parsed = hashlists.parse_contents(text, fmt)
    known = _exchange_records(session, bank, fmt)
    result = ImportResult(0, 0, parsed.skipped)
    new: list[ListedContent] = []
    listed_ids: set[str] = set()
    for listed in parsed.contents:
        origin = listed.origin
        external_id = origin.external_id if origin else None
        if external_id in known:
            record = known[external_id]
            record.status, record.case_numbers, record.extra = origin.status, origin.case_numbers, origin.extra
            result.updated += 1
        elif external_id in listed_ids:
            result.updated += 1  # listed twice: the first is kept
        else:
            new.append(listed)
            if external_id is not None:
                listed_ids.add(external_id)
    added: list[int] = []
    for start in range(0, len(new), IMPORT_BATCH):
        added += _insert_batch(session, bank, new[start:start + IMPORT_BATCH])
    bank_feed.record(session, "add", bank.id, added)  # last: the feed's lock is held only until commit
    result.imported = len(new)
    return result


IMPORT_BATCH = 5000  # contents per round of bulk INSERTs (executemany), not one statement per row


def _insert_batch(session: Session, bank: Bank, batch: list[ListedContent]) -> list[int]:
    now = utcnow()
    ids = session.scalars(
        insert(BankContent).returning(BankContent.id, sort_by_parameter_order=True),
        [{"bank_id": bank.id, "kind": c.kind, "label": c.label, "created_at": now} for c in batch]).all()
    signals = [{"bank_id": bank.id, "content_id": content_id, "signal_type": t, "value": v, "quality": None,
                "timestamp": None} for content_id, c in zip(ids, batch) for t, v in c.signals]
    signals += [{"bank_id": bank.id, "content_id": content_id, "signal_type": "vpdq", "value": f.pdq,
                 "quality": f.quality, "timestamp": f.timestamp} for content_id, c in zip(ids, batch) for f in c.frames]
    records = [{"content_id": content_id, "source_format": c.origin.source_format, "external_id": c.origin.external_id,
                "case_numbers": c.origin.case_numbers, "status": c.origin.status, "extra": c.origin.extra,
                "created_at": now} for content_id, c in zip(ids, batch) if c.origin]
    if signals:
        session.execute(insert(BankSignal), signals)
    if records:
        session.execute(insert(ExchangeRecord), records)
    return list(ids)


def _exchange_records(session: Session, bank: Bank, fmt: str) -> dict[str, ExchangeRecord]:
    rows = session.scalars(select(ExchangeRecord).join(BankContent, BankContent.id == ExchangeRecord.content_id)
                           .where(BankContent.bank_id == bank.id, ExchangeRecord.source_format == fmt,
                                  ExchangeRecord.external_id.is_not(None)))
    return {r.external_id: r for r in rows}


def export_list(session: Session, bank: Bank, fmt: str) -> str:
    """The bank in any format, with where imported records came from and our feedback on them."""
    if fmt not in hashlists.FORMATS:
        raise ExportFormatError(f"unknown hash-list format {fmt!r}: use {', '.join(hashlists.FORMATS)}")
    contents = session.scalars(
        select(BankContent).where(BankContent.bank_id == bank.id).order_by(BankContent.id)
    ).all()
    records = {r.content_id: r for r in session.scalars(
        select(ExchangeRecord).join(BankContent, BankContent.id == ExchangeRecord.content_id)
        .where(BankContent.bank_id == bank.id))}
    by_content: dict[int, list[BankSignal]] = {}
    for signal in session.scalars(select(BankSignal).where(BankSignal.bank_id == bank.id).order_by(BankSignal.id)):
        by_content.setdefault(signal.content_id, []).append(signal)
    listed = []
    for content in contents:
        signals = by_content.get(content.id, [])
        frames = [FrameSignal(s.value, s.quality or 0, s.timestamp or 0.0) for s in signals if s.signal_type == "vpdq"]
        record = records.get(content.id)
        origin = Origin(record.source_format, record.external_id, record.case_numbers, record.status, record.extra,
                        record.feedback) if record else None
        listed.append(ListedContent(content.kind, content.label,
                                    [(s.signal_type, s.value) for s in signals if s.signal_type != "vpdq"],
                                    frames, origin, int(_aware(content.created_at).timestamp()), content.id))
    return hashlists.format_contents(listed, fmt, bank.name)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def case_bank(session: Session, case_id: int) -> Bank:
    """The bank of a case's own known content, created on first use."""
    bank = session.scalar(select(Bank).where(Bank.case_id == case_id, Bank.is_allow.is_(False)))
    if bank is None:
        bank = create_bank(session, f"case-{case_id}")
        bank.case_id = case_id
    return bank


def add_content(session: Session, bank: Bank, content: Content, label: str,
                signals: ContentSignals | None = None) -> BankContent:
    """Bank a scanned file's hashes (a confirmed item), so re-uploads match from now on; with
    its local features (`signals` from `vault_signals`), its crops, turns, screenshots and
    edited copies match as well (the second stage)."""
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
    if signals and signals.local_features:
        session.add(BankFeatures(bank_id=bank.id, content_id=banked.id, features=signals.local_features,
                                 edit_features=signals.edit_features, regions=signals.regions))
    bank_feed.record(session, "add", bank.id, [banked.id])
    return banked


def vault_signals(vault: Vault, content: Content) -> ContentSignals | None:
    """Local features and region grid of a scanned picture from its vault copy; None when the vault does not
    hold it (a scan that kept no originals) or it cannot be decoded: its hashes still count."""
    if content.kind != "image":
        return None
    try:
        with vault.plain_file(content.sha256) as path:
            return compute_signals(path, Limits(), analyse=False, for_bank=True)
    except (JikimiError, OSError):
        return None


def add_signal_rows(session: Session, bank: Bank, kind: str, label: str, rows: list[tuple]) -> BankContent:
    """A new bank content from hashes alone: rows of (signal_type, value, quality, timestamp)."""
    content = BankContent(bank=bank, kind=kind, label=label)
    _add_signals(session, bank, content, rows)
    bank_feed.record(session, "add", bank.id, [content.id])
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
