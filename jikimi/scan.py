"""Scan orchestration: collect a source into the vault, hash every unique file, match.

A scan is two resumable phases. Collecting walks the source in its fixed order, copies each
file into the vault and records where it was posted; each batch commits together with the
ordinals it covered, so a resumed scan skips exactly what was stored. Hashing and matching
then works through the unique files not yet done, in parallel worker processes or on the
workers of a Dask cluster (`scan_cluster`); each result commits with its matches, so a kill
loses only the work in flight and a resume redoes it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from jikimi.errors import JikimiError, StorageError, WorkspaceError
from jikimi.limits import Limits
from jikimi.audit import AuditLog
from jikimi.cases import get_case, load_templates
from jikimi.keys import encrypt, workspace_key
from jikimi.match import Found, Matcher, SubjectMatcher, face_associated_data
from jikimi import messages
from jikimi.match_sources import SourceMatcher
from jikimi.media.images import open_image
from jikimi.subject_sources import load_sources
from jikimi.triage import DerivedMatch, FaceMatch, triage
from jikimi.signals.content import MEDIA_SUFFIXES, ContentSignals, compute_signals
from jikimi.signals.crypto import file_digests
from jikimi.sources import open_source
from jikimi.sources.base import SourceEntry
from jikimi.store.audit_models import AuditEntry
from jikimi.text import one_line
from jikimi.store.models import Content, ContentFace, ContentFrame, Item, ItemLocator, Match, Scan, utcnow
from jikimi.store.vault import Vault
from jikimi.webhooks import outbox
from jikimi.workspace import Workspace, database_problem
from jikimi.banks import get_bank
from jikimi.scan_cluster import ClusterLost, cluster_executor, cluster_result

COMMIT_EVERY_SECONDS = 2.0
IN_FLIGHT_PER_WORKER = 4
SCANNER_WATCH_SECONDS = 2.0  # how often a worker process checks that its scanner still runs
# Telegram media types that promise a picture or a video: a post that promises one (by this
# or by its file name) but holds bytes no decoder recognises is reported, not filed as "other".
MEDIA_TYPES = {"photo", "thumbnail", "video_file", "animation", "video_message", "round_video_message"}
# Scan options that change what an item matches: a re-scan reuses items only of scans alike in these.
MATCHING_OPTIONS = ("banks", "only_case", "analyse")


@dataclass
class ScanOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    banks: list[str] | None = None  # None: every bank
    limits: Limits = field(default_factory=Limits)
    case_id: int | None = None  # the case the scan and its items belong to
    only_case: bool = False  # match only the case's own subjects (default: every subject)
    analyse: bool = True  # faces, nudity and provenance besides the hashes
    started_by: str | None = None  # the person credited in the custody log (default: the OS user)
    cluster: str | None = None  # a Dask scheduler's address: files are hashed on its workers

    def to_json(self) -> dict:
        return {**asdict(self), "limits": asdict(self.limits)}

    @classmethod
    def from_json(cls, data: dict, jobs: int | None = None, cluster: str | None = None) -> ScanOptions:
        return cls(**{**data, "jobs": jobs or data["jobs"], "cluster": cluster or data.get("cluster"),
                      "limits": Limits(**data["limits"])})


class ScanInterrupted(JikimiError):
    def __init__(self, scan_id: int, reason: str | None = None):
        why = f"{reason}; " if reason else ""
        super().__init__(f"scan {scan_id} interrupted: {why}resume it with `jikimi scan --resume {scan_id}`")
        self.scan_id = scan_id


class Progress:
    """What the scan reports while it runs; the CLI draws it, tests may ignore it."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...


def effective_status(scan: Scan) -> str:
    """A scan whose process died (SIGKILL, power loss) still says running: call it interrupted."""
    if scan.status == "running" and scan.host == socket.gethostname() and not process_alive(scan.pid):
        return "interrupted"
    return scan.status


def start_scan(ws: Workspace, source: Path, options: ScanOptions, progress: Progress = Progress(),
               on_start: Callable[[int], None] = lambda _: None) -> int:
    scan_id, bank_ids = _create(ws, source, options, "running")
    on_start(scan_id)
    _run(ws, scan_id, source.resolve(), options, bank_ids, progress)
    return scan_id


def queue_scan(ws: Workspace, source: Path, options: ScanOptions) -> int:
    """Record a scan for a worker to run (`run_queued_scan`): the web answers at once with its id."""
    return _create(ws, source, options, "queued")[0]


def run_queued_scan(ws: Workspace, scan_id: int, progress: Progress = Progress(), cluster: str | None = None) -> int:
    """Run a queued scan in this process (hashing on `cluster` if given); of two workers only one gets it."""
    with ws.session() as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise WorkspaceError(f"no scan with id {scan_id}: see `jikimi scans`")
        options = ScanOptions.from_json(scan.options, cluster=cluster)
        bank_ids = _bank_ids(session, options.banks)
        claimed = session.execute(update(Scan).where(Scan.id == scan_id, Scan.status == "queued").values(
            status="running", pid=os.getpid(), host=socket.gethostname(), started_at=utcnow())).rowcount
        if not claimed:
            raise JikimiError(f"scan {scan_id} was started by another process")
    _run(ws, scan_id, Path(scan.source), options, bank_ids, progress)
    return scan_id


def _create(ws: Workspace, source: Path, options: ScanOptions, status: str) -> tuple[int, set[int] | None]:
    source = source.resolve()
    ws.refuse_as_source(source)
    source_kind = open_source(source, options.limits).kind  # a source that cannot open makes no scan
    with ws.session() as session:
        bank_ids = _bank_ids(session, options.banks)
        if options.case_id is not None:
            get_case(session, options.case_id)
        running = status == "running"
        scan = Scan(source=str(source), source_kind=source_kind, status=status, options=options.to_json(),
                    pid=os.getpid() if running else None, host=socket.gethostname() if running else None,
                    case_id=options.case_id)
        session.add(scan)
        session.flush()
        AuditLog(session, ws.home).append("scan", f"scan:{scan.id}", {"source": str(source), "kind": source_kind},
                                          case_id=options.case_id, actor=options.started_by)
        return scan.id, bank_ids


def resume_scan(ws: Workspace, scan_id: int, progress: Progress = Progress(), jobs: int | None = None,
                actor: str | None = None, cluster: str | None = None) -> int:
    """Go on with an interrupted scan (on its cluster, or on `cluster` if given); what it
    collects from now on is credited to `actor`."""
    with ws.session() as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise WorkspaceError(f"no scan with id {scan_id}: see `jikimi scans`")
        status = effective_status(scan)
        if status == "running":
            raise _already_running(session, scan)
        if status == "complete":
            return scan_id
        options = ScanOptions.from_json(scan.options, jobs, cluster)
        options.started_by = actor or options.started_by
        bank_ids = _bank_ids(session, options.banks)
        seen = (scan.status, scan.pid)
    _claim(ws, scan_id, seen, options.started_by)
    _run(ws, scan_id, Path(scan.source), options, bank_ids, progress)
    return scan_id


def _claim(ws: Workspace, scan_id: int, seen: tuple[str, int | None], actor: str | None) -> None:
    """Mark the scan as ours, only if nobody changed it since we looked: of two resumes started
    together exactly one gets it. The conditional update is the first statement of its
    transaction, so it waits for the write lock and then sees the latest row."""
    with ws.session() as session:
        claimed = session.execute(
            update(Scan).where(Scan.id == scan_id, Scan.status == seen[0], Scan.pid.is_not_distinct_from(seen[1]))
            .values(status="running", pid=os.getpid(), host=socket.gethostname(), error=None)
        ).rowcount
        scan = session.get(Scan, scan_id)
        if not claimed:
            raise _already_running(session, scan)
        AuditLog(session, ws.home).append("scan_resume", f"scan:{scan_id}", {"source": scan.source},
                                          case_id=scan.case_id, actor=actor)


def _already_running(session: Session, scan: Scan) -> JikimiError:
    resumed = session.scalar(select(AuditEntry.seq).where(AuditEntry.action == "scan_resume",
                                                          AuditEntry.subject == f"scan:{scan.id}").limit(1))
    if resumed is None:
        return JikimiError(f"scan {scan.id} is still running (process {scan.pid})")
    return JikimiError(f"scan {scan.id} is being resumed by process {scan.pid}")


def _run(ws: Workspace, scan_id: int, source_path: Path, options: ScanOptions,
         bank_ids: set[int] | None, progress: Progress) -> None:
    try:
        source = open_source(source_path, options.limits)
        _collect(ws, scan_id, source.entries(), options, progress)
        _hash_and_match(ws, scan_id, options, bank_ids, progress)
    except KeyboardInterrupt:
        _finish(ws, scan_id, "interrupted")
        raise ScanInterrupted(scan_id) from None
    except (StorageError, OperationalError, ClusterLost) as e:
        # Our own disk, database or cluster failed, not the items: stop, and let a resume redo them.
        reason = database_problem(e) if isinstance(e, OperationalError) else str(e)
        _finish(ws, scan_id, "interrupted", reason)
        raise ScanInterrupted(scan_id, reason) from None
    except JikimiError as e:
        _finish(ws, scan_id, "failed", str(e))
        raise
    _finish(ws, scan_id, "complete")


FINISH_LOCK_TIMEOUT = "10s"  # PostgreSQL's lock_timeout for recording how a scan ended


def _finish(ws: Workspace, scan_id: int, status: str, error: str | None = None) -> None:
    """Record how the scan ended. If even that cannot be written, the scan row still says
    running with this process's id, which `effective_status` reads as interrupted once it exits."""
    try:
        with ws.session() as session:
            if session.get_bind().dialect.name == "postgresql":  # never wait forever on a row lock
                session.execute(select(func.set_config("lock_timeout", FINISH_LOCK_TIMEOUT, True)))
            scan = session.get(Scan, scan_id)
            scan.status, scan.error = status, error
            if status == "complete":
                scan.finished_at = utcnow()
    except OperationalError:
        if status == "complete":
            raise


def _collect(ws: Workspace, scan_id: int, entries: Iterator[SourceEntry], options: ScanOptions,
             progress: Progress) -> None:
    with ws.session() as session:
        scan = session.get(Scan, scan_id)
        if scan.enumerated:
            return
        done_upto = session.scalar(select(func.max(ItemLocator.ordinal)).where(ItemLocator.scan_id == scan_id))
        items = dict(session.execute(select(Item.sha256, Item.id).where(Item.scan_id == scan_id,
                                                                         Item.sha256.is_not(None))).all())
        items.update(_case_items(session, scan))  # and those this scan already met again
    done_upto = -1 if done_upto is None else done_upto
    progress.phase("Collecting", None)
    with _BatchedSession(ws) as session:
        log = AuditLog(session, ws.home)
        for entry in entries:
            if entry.ordinal <= done_upto:
                continue
            _store_entry(ws, session, scan_id, entry, items, options, log)
            progress.advance()
            session.maybe_commit()
        session.get(Scan, scan_id).enumerated = True


def _case_items(session: Session, scan: Scan) -> dict[str, int]:
    """The files the case's earlier scans found (SHA-256 -> item), once each: posted again,
    a file is the same item with one more locator, so a decision on it stands. Only scans that
    matched the same way count (the same banks, the same subjects): another scope, other matches."""
    if scan.case_id is None:
        return {}
    scope = {key: scan.options.get(key) for key in MATCHING_OPTIONS}
    alike = [s.id for s in session.scalars(select(Scan).where(Scan.case_id == scan.case_id, Scan.id != scan.id))
             if {key: s.options.get(key) for key in MATCHING_OPTIONS} == scope]
    earlier = session.execute(
        select(Item.sha256, func.min(Item.id))
        .where(Item.scan_id.in_(alike), Item.sha256.is_not(None), Item.done.is_(True))
        .group_by(Item.sha256))
    return dict(earlier.all())


def _store_entry(ws: Workspace, session: Session, scan_id: int, entry: SourceEntry,
                 items: dict[str, int], options: ScanOptions, log: AuditLog) -> None:
    """Store one posted file in the vault and record where it was posted.

    Each new file's ingest goes into the custody log in the same transaction as its item. A
    file an earlier scan of the case found gets this post as one more locator of its item.
    """
    error, sha256 = entry.error, None
    if entry.open is not None:  # also entries kept but not analysed (an archive nested too deep)
        try:
            with entry.open() as stream:
                sha256 = ws.vault.ingest(stream, options.limits.max_file_bytes).sha256
        except StorageError:
            raise
        except JikimiError as e:
            error = str(e)
        except OSError as e:
            error = f"cannot read the file ({e.strerror or type(e).__name__})"
    error = one_line(error) if error is not None else None  # it may quote a hostile name
    if sha256 is not None and sha256 in items:
        item_id = items[sha256]
    else:
        item = Item(scan_id=scan_id, first_ordinal=entry.ordinal, sha256=sha256, error=error,
                    done=error is not None)
        session.add(item)
        session.flush()
        item_id = item.id
        if sha256 is not None:
            items[sha256] = item_id
            log.append("ingest", f"item:{item_id}",
                       {"sha256": sha256, "scan_id": scan_id, "path": entry.locator.path},
                       case_id=options.case_id, actor=options.started_by)
    session.add(ItemLocator(scan_id=scan_id, item_id=item_id, ordinal=entry.ordinal,
                            fields=entry.locator.to_dict()))


def _hash_and_match(ws: Workspace, scan_id: int, options: ScanOptions, bank_ids: set[int] | None,
                    progress: Progress) -> None:
    matcher = Matcher(bank_ids)
    with ws.session() as session:
        templates = load_templates(ws, session, options.case_id, options.only_case)
        subjects = SubjectMatcher(templates, workspace_key(ws.home) if templates else b"")
        sources = load_sources(ws, session, options.case_id, options.only_case)
        # A reason is read by every case the item reaches: it names only the scanning case's subjects.
        other = messages.message("subject.other_case")
        names = {t.subject_id: t.subject_name if t.case_id == options.case_id else other for t in templates + sources}
        own = {t.subject_id for t in templates + sources if t.case_id == options.case_id}
        rows = session.execute(  # "known": hashed already, by an earlier scan
            select(Item.id, Item.sha256, Content.sha256.is_not(None))
            .outerjoin(Content, Content.sha256 == Item.sha256)
            .where(Item.scan_id == scan_id, Item.done.is_(False))
            .order_by(Item.first_ordinal)
        ).all()
        reused = session.execute(  # items of the case's earlier scans this scan met again
            select(Item.id, Item.sha256)
            .where(Item.id.in_(select(ItemLocator.item_id).where(ItemLocator.scan_id == scan_id)),
                   Item.scan_id != scan_id, Item.done.is_(True), Item.error.is_(None), Item.sha256.is_not(None))
            .order_by(Item.id)
        ).all()
    pending = [(item_id, sha) for item_id, sha, _ in rows]
    known = {sha for _, sha, is_known in rows if is_known}
    progress.phase("Hashing and matching", len(pending) + len(reused))
    to_hash = [(item_id, sha) for item_id, sha in pending if sha not in known]
    with _BatchedSession(ws, COMMIT_EVERY_SECONDS / 4) as session:
        writer = _ResultWriter(session, matcher, subjects, names, own, ws, progress, SourceMatcher(sources), options.limits)
        for item_id, sha in reused:
            writer.rematch(item_id, sha)
        for item_id, sha in pending:
            if sha in known:
                writer.write(item_id, sha, None)
        for item_id, sha, signals in _compute_all(ws, to_hash, options):
            writer.write(item_id, sha, signals)


class _BatchedSession(Session):
    """Commits every few seconds; on any exception the open batch is rolled back.

    Each batch holds only whole entries or whole results, so what is committed is always
    consistent and what is rolled back is redone by a resume.
    """

    def __init__(self, ws: Workspace, every_seconds: float = COMMIT_EVERY_SECONDS):
        super().__init__(ws.engine, expire_on_commit=False)
        self.every_seconds = every_seconds
        self.last_commit = time.monotonic()

    def maybe_commit(self) -> None:
        if time.monotonic() - self.last_commit > self.every_seconds:
            self.commit()
            self.last_commit = time.monotonic()

    def __exit__(self, kind, value, traceback) -> None:
        # close() even when the last commit is interrupted (Ctrl-C): a transaction left open
        # would hold its row locks, and on PostgreSQL `_finish` would wait for them forever.
        try:
            if kind is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()


class _ResultWriter:
    """Stores each content's signals and the item's matches in the same transaction."""

    def __init__(self, session: Session, matcher: Matcher, subjects: SubjectMatcher, names: dict[int, str | dict],
                 own: set[int], ws: Workspace, progress: Progress, sources: SourceMatcher, limits: Limits):
        self.session, self.matcher, self.subjects, self.ws, self.progress = session, matcher, subjects, ws, progress
        self.names, self.own, self.sources, self.limits = names, own, sources, limits
        self.key: bytes | None = None

    def write(self, item_id: int, sha256: str, signals: ContentSignals | None) -> None:
        session = self.session
        content = session.get(Content, sha256)
        if content is None:
            content = self._store_content(sha256, signals)
        else:
            self._backfill_sha1(content)
        item = session.get(Item, item_id)
        if content.kind == "other" and content.error is None and _posted_as_media(item):
            item.error = "not a readable image or video, although it was posted as one"
        features = signals.local_features if signals else self._known_features(content)
        found, allow = self._found(content, features)
        if allow:  # known harmless (e.g. her own public photos): neither hashes nor faces are reported
            item.allowed_by = ", ".join(allow)
        self._add(item, found)
        item.done = True
        self.progress.advance()
        session.maybe_commit()

    def rematch(self, item_id: int, sha256: str) -> None:
        """Match an item an earlier scan of the case found against today's subjects and banks:
        a subject enrolled since (or a bank grown since) is found in it too. Only new matches are
        added, so a resume may run this again; its decisions, if any, stand."""
        item = self.session.get(Item, item_id)
        content = self.session.get(Content, sha256)
        if content is not None and item.allowed_by is None:
            self._backfill_sha1(content)
            found, allow = self._found(content, None)
            if allow:  # listed in an allow bank since: cleared as a new item would be
                item.allowed_by = ", ".join(allow)
            had = {_match_key(m) for m in item.matches}
            self._add(item, [f for f in found if _match_key(f) not in had])
        self.progress.advance()
        self.session.maybe_commit()

    def _known_features(self, content: Content) -> bytes | None:
        """Local features of a picture hashed before (another post of the same file, maybe before
        a kill and resume): not stored, so computed again from its vault copy when a second
        stage will ask. Else a resumed scan would miss the partial matches an uninterrupted
        one finds in the second post of a file."""
        if content.kind != "image" or content.error is not None:
            return None
        self.matcher.refresh(self.session)
        if not len(self.matcher.partial) and not len(self.sources.index):
            return None
        return _vault_features(self.ws.vault, content.sha256, self.limits)

    def _backfill_sha1(self, content: Content) -> None:
        """A content hashed before SHA-1 was kept (migration 0016) gets it from the vault when
        a scan meets it again, so NCMEC's SHA-1 lists match it too; one whose file is gone
        from the vault stays without."""
        if content.sha1 is None:
            content.sha1 = self.ws.vault.digest(content.sha256, "sha1")

    def _found(self, content: Content, features: bytes | None) -> tuple[list[Found], list[str]]:
        """What the content matches, and the allow banks that clear it (then nothing else counts)."""
        if content.error is not None:
            return [], []
        pixels = _once(lambda: _post_pixels(self.ws.vault, content.sha256, self.limits))
        found = self.matcher.match(self.session, content, features, pixels)
        banks = self.matcher.banks
        allow = sorted({banks[f.bank_id].name for f in found if banks[f.bank_id].is_allow})
        if allow:
            return [], allow
        # Only a confident match reaches another case's team: a merely possible one could put
        # a stranger's picture in front of another victim's case workers (docs/faces.md).
        found += [f for f in self.subjects.match(content)
                  if f.subject_id in self.own or f.detail["level"] == "confident"]
        if features:
            found += self.sources.match(features, pixels)
        return found, []

    def _add(self, item: Item, found: list[Found]) -> None:
        """Store the item's new matches (with their webhook event) and triage it on all its matches."""
        rows = [_match_row(item.id, f) for f in found]
        if item.done and not rows:
            return
        earlier = list(item.matches) if item.done else []
        self.session.add_all(rows)
        if rows:  # the webhook event is committed with the matches, or not at all
            outbox.match_created(self.session, item.scan_id, item.scan.case_id, item.id, rows)
        banks, other = self.matcher.banks, messages.message("subject.other_case")
        every = [*earlier, *found]
        content = self.session.get(Content, item.sha256) if item.sha256 else None
        result = triage(
            [FaceMatch(self.names.get(m.subject_id, other), m.distance, m.detail["threshold"], m.detail["level"])
             for m in every if m.kind == "face"],
            [(banks[m.bank_id].name if m.bank_id in banks else m.bank.name, m.kind, m.distance)
             for m in every if m.bank_id is not None],
            ((content.nudity if content else None) or {}).get("max_exposed", 0.0),
            [DerivedMatch(self.names.get(m.subject_id, other), m.detail["source"] if m.subject_id in self.own else other,
                          m.detail["changed_fraction"])
             for m in every if m.kind == "derived"],
        )
        item.priority, item.reason, item.reason_message = result.priority, result.reason, result.message

    def _store_content(self, sha256: str, signals: ContentSignals) -> Content:
        """The content's signals; face embeddings are encrypted, bound to their row."""
        digests = signals.digests
        content = Content(sha256=sha256, md5=digests.md5, sha1=digests.sha1, size=digests.size, kind=signals.kind,
                          mime_type=signals.mime_type, width=signals.width, height=signals.height,
                          duration=signals.duration, pdq=signals.pdq, pdq_quality=signals.pdq_quality,
                          pdq_variants=signals.pdq_variants or None,
                          thumbnail=self.ws.vault.seal_thumbnail(sha256, signals.thumbnail) if signals.thumbnail else None,
                          nudity=signals.nudity, provenance=signals.provenance,
                          error=signals.error)
        content.frames = [ContentFrame(timestamp=f.timestamp, pdq=f.pdq, quality=f.quality) for f in signals.frames]
        self.session.add(content)
        for found in signals.faces:
            face = ContentFace(sha256=sha256, frame_time=found.frame_time, box=found.box,
                               score=found.box.get("score", 0.0), embedding=b"", model=found.model_id)
            content.faces.append(face)
            self.session.flush()
            self.key = self.key or workspace_key(self.ws.home)
            face.embedding = encrypt(self.key, found.embedding, face_associated_data(face.id))
        self.session.flush()
        return content


def _vault_features(vault: Vault, sha256: str, limits: Limits) -> bytes | None:
    """The local features the scan computed when it first hashed this picture (the same code
    on the same bytes); None when it cannot be decoded."""
    try:
        with vault.plain_file(sha256) as path:
            return compute_signals(path, limits, analyse=False).local_features
    except StorageError:
        raise
    except (JikimiError, OSError):
        return None


def _once(decode: Callable[[], np.ndarray | None]) -> Callable[[], np.ndarray | None]:
    """`decode` run at most once: edited copies of banked pictures and of source photos both look."""
    done: list = []

    def pixels():
        if not done:
            done.append(decode())
        return done[0]
    return pixels


def _post_pixels(vault: Vault, sha256: str, limits: Limits):
    """The post's pixels, to see what changed in a source photo it was made from; None when
    it cannot be decoded (its signals were computed, so this is rare)."""
    try:
        with vault.plain_file(sha256) as path:
            return np.asarray(open_image(path, limits))
    except StorageError:
        raise
    except (JikimiError, OSError):
        return None


def _posted_as_media(item: Item) -> bool:
    return any(
        Path(locator.fields.get("path", "")).suffix.lower() in MEDIA_SUFFIXES
        or locator.fields.get("media_type") in MEDIA_TYPES
        for locator in item.locators
    )


def _match_key(match: Found | Match) -> tuple:
    """What makes a match the same one again: a subject is matched once per item (by its best face),
    a source photo of hers once."""
    if match.kind == "face":
        return ("face", match.subject_id)
    if match.kind == "derived":
        return ("derived", match.subject_id, match.detail["source_id"])
    content_id = match.content_id if isinstance(match, Found) else match.bank_content_id
    return (match.kind, match.bank_id, content_id)


def _match_row(item_id: int, found: Found) -> Match:
    return Match(item_id=item_id, kind=found.kind, bank_id=found.bank_id, bank_content_id=found.content_id,
                 subject_id=found.subject_id, face_id=found.face_id, distance=found.distance, detail=found.detail)


def _compute_all(ws: Workspace, work: list[tuple[int, str]], options: ScanOptions
                 ) -> Iterator[tuple[int, str, ContentSignals]]:
    """Compute signals for each (item, sha256): on the cluster, in this process for one job,
    else in worker processes."""
    limits, analyse = options.limits, options.analyse
    if options.cluster:
        with cluster_executor(options.cluster) as (pool, slots):
            for item_id, sha, future in _in_flight(pool, slots * IN_FLIGHT_PER_WORKER, ws.vault, work, options):
                signals = cluster_result(future, options.cluster)
                yield item_id, sha, signals or _crashed_decoder(ws.vault, sha)
        return
    if options.jobs <= 1:
        for item_id, sha in work:
            yield item_id, sha, stored_signals(ws.vault, sha, limits, analyse)
        return
    finished: set[int] = set()
    with ProcessPoolExecutor(options.jobs, mp_context=_worker_context(), initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        try:
            for item_id, sha, future in _in_flight(pool, options.jobs * IN_FLIGHT_PER_WORKER, ws.vault, work, options):
                signals = future.result()
                finished.add(item_id)
                yield item_id, sha, signals
        except BrokenProcessPool:
            pass  # a decoder crashed a worker: the unfinished files are retried one at a time below
        except BaseException:
            _terminate_workers(pool)
            raise
    for item_id, sha in work:  # none left unless a worker crashed
        if item_id not in finished:
            yield item_id, sha, _compute_isolated(ws.vault, sha, limits, analyse)


def _in_flight(pool: Executor, slots: int, vault: Vault, work: list[tuple[int, str]], options: ScanOptions
               ) -> Iterator[tuple[int, str, Future]]:
    """Keep `slots` files in flight on the pool, in the work's order; yield each as it is done."""
    queue = list(reversed(work))
    running: dict[Future, tuple[int, str]] = {}
    while queue or running:
        while queue and len(running) < slots:
            item_id, sha = queue.pop()
            running[pool.submit(stored_signals, vault, sha, options.limits, options.analyse)] = (item_id, sha)
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            yield *running.pop(future), future


def stored_signals(vault: Vault, sha256: str, limits: Limits, analyse: bool) -> ContentSignals:
    """Signals of a vault original, decoded from a private plain copy that is deleted after."""
    with vault.plain_file(sha256) as path:
        return compute_signals(path, limits, analyse)


def _compute_isolated(vault: Vault, sha256: str, limits: Limits, analyse: bool) -> ContentSignals:
    with ProcessPoolExecutor(1, mp_context=_worker_context(), initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        try:
            return pool.submit(stored_signals, vault, sha256, limits, analyse).result()
        except BrokenProcessPool:
            return _crashed_decoder(vault, sha256)


def _crashed_decoder(vault: Vault, sha256: str) -> ContentSignals:
    """What is known of a file whose decoder crashed its worker: its digests, and the error."""
    with vault.plain_file(sha256) as path, open(path, "rb") as f:
        digests = file_digests(f)
    return ContentSignals(kind="other", mime_type="application/octet-stream", digests=digests,
                          error="the decoder crashed on this file")


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a clean server that has the decoders loaded: fast to start, and they
    inherit none of this process's threads (FAISS) or database connections."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["jikimi.signals.content"])
    _start_forkserver_ignoring_ctrl_c()
    return context


def _start_forkserver_ignoring_ctrl_c() -> None:
    """Ctrl-C is the main process's to handle: a server that got it while loading the decoders
    would print a traceback. The server inherits the ignored signal from this process."""
    if threading.current_thread() is not threading.main_thread():
        return  # a web scan's thread: no terminal, and only the main thread may set handlers
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_init(scanner_pid: int) -> None:
    """Workers leave Ctrl-C to the main process, which stops them cleanly, and exit when it is
    gone: a scanner killed outright (SIGKILL, out of memory) cannot stop them, and they and
    the forkserver hold each other's pipes open, so nothing else would end them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(scanner_pid,), name="jikimi-scanner-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    while process_alive(pid) and not _zombie(pid):
        time.sleep(SCANNER_WATCH_SECONDS)
    os._exit(1)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers `kill(pid, 0)`."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    for child in multiprocessing.active_children():
        child.terminate()


def _bank_ids(session: Session, names: list[str] | None) -> set[int] | None:
    return None if names is None else {get_bank(session, name).id for name in names}


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
