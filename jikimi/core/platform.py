"""The platform API's work, in HMA's vocabulary: hash, look up, compare, curate banks by name.

Platforms call Meta's Hasher-Matcher-Actioner (HMA) routes; `web/views/hma.py` translates
them to these operations and back. What HMA lacks stays on: each bank's own PDQ threshold,
and allow banks (a hit on one silences every match of that hash, as in scans).

Lookups go through one in-memory PDQ index per process (`index/bank_pdq.py`), loaded once and
then kept current from the banks' change feed (`bank_feed.py`), never rebuilt: a hash added,
deleted or disabled through any process, or a bank's new threshold, applies in every process
within a second, and at once in the process that made the change.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jikimi import bank_feed
from jikimi import banks as bank_store
from jikimi.core.access import NotFound
from jikimi.core.actor import Actor
from jikimi.core.banks import Banks
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.index import bank_snapshot
from jikimi.index.bank_pdq import BankPDQIndex
from jikimi.index.pdq import pdq_hex_to_bytes
from jikimi.limits import Limits
from jikimi.signals.content import compute_signals
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.store.models import Bank, BankContent, BankFeatures, BankSignal, Match

# HMA signal type -> the signal_type Jikimi stores. `video_md5` is the MD5 of a video file;
# `md5` and `sha256` (any file) are Jikimi's exact hashes, offered as extra signal types.
SIGNAL_TYPES = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "sha256": "sha256"}
EXACT_LENGTHS = {"video_md5": 32, "md5": 32, "sha256": 64}
# Without a NOTIFY (SQLite, or a lost connection) the feed is read at most this often: a
# change made through any process is matched by every process well within a second.
FEED_POLL_SECONDS = 0.2
# While a PostgreSQL listener hears every change, the feed is read on each NOTIFY, and this
# often only as a safety net.
FEED_POLL_LISTENING_SECONDS = 5.0
# HMA's limits: at most 1,000 hashes per batch here; a content disabled for at most 5 years.
BATCH_LIMIT = 1000
MAX_DISABLE_SECONDS = 5 * 365 * 24 * 3600
NOTE_MAX = 255
NO_DISTANCE = "-"  # threatexchange's distance string for exact signal types
ALL_ZERO_PDQ = "0" * 64


class BadSignal(JikimiError):
    """A hash that is malformed, or one no lookup should use (an all-zero PDQ)."""


def check_signal(signal_type: str, value: object) -> str:
    """The hash in canonical form (lower-case hex), or a one-line reason it is refused."""
    if signal_type not in SIGNAL_TYPES:
        raise BadSignal(f"no such signal type {signal_type!r}: use one of {', '.join(SIGNAL_TYPES)}")
    if not isinstance(value, str):
        raise BadSignal(f"a {signal_type} hash is a hex string, not {type(value).__name__}")
    value = value.strip().lower()
    length = 64 if signal_type == "pdq" else EXACT_LENGTHS[signal_type]
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
        raise BadSignal(f"invalid {signal_type} hash {value[:80]!r}: it must be {length} hex digits")
    if signal_type == "pdq" and value == ALL_ZERO_PDQ:
        # What a blank, one-colour or corrupt picture hashes to (StopNCII feeds have carried them):
        # it would match every other blank picture, so it is refused rather than looked up.
        raise BadSignal("invalid pdq hash: all zeros is the hash of a blank or corrupt picture, not of content")
    return value


@dataclass
class Hit:
    content_id: int
    bank_id: int
    distance: int | None  # None for exact signal types

    @property
    def distance_str(self) -> str:
        return NO_DISTANCE if self.distance is None else str(self.distance)


class LookupIndex:
    """The process's PDQ index of every bank, shared by all requests (one lock: the index
    is not thread-safe, and a lookup takes well under a millisecond).

    It reads the banks' change feed at most every FEED_POLL_SECONDS, at once after a change
    made through this process, and at once after a PostgreSQL NOTIFY (`FeedListener`)."""

    def __init__(self, snapshot: Path | None = None) -> None:
        self.index = BankPDQIndex(snapshot)
        self.lock = threading.Lock()
        self.polled_at = 0.0  # time.time() of the last read of the feed, HMA's `built_to`
        self.stale = threading.Event()
        self.listener: bank_feed.FeedListener | None = None

    def mark_stale(self) -> None:
        """After a change through this process, or a NOTIFY: the next lookup reads the feed."""
        self.stale.set()

    def banks(self, session: Session) -> dict[int, Bank]:
        """Every bank by id, as of the last read of the feed (detached rows: read, never written)."""
        with self.lock:
            self._catch_up(session)
            return self.index.banks

    def _catch_up(self, session: Session) -> None:
        bind = session.get_bind()
        if self.listener is None and bind.dialect.name == "postgresql":
            self.listener = bank_feed.FeedListener(bind.url, self.mark_stale)
        if self._feed_due():
            self.stale.clear()
            applied = self.index.catch_up(session)  # may set the count itself (a load from the snapshot)
            self.index.changes_since_snapshot += applied
            self.index.snapshot_if_behind(session)
            self.polled_at = time.time()

    def _feed_due(self) -> bool:
        listening = self.listener is not None and self.listener.listening.is_set()
        every = FEED_POLL_LISTENING_SECONDS if listening else FEED_POLL_SECONDS
        return self.stale.is_set() or time.time() - self.polled_at >= every

    def search(self, session: Session, pdqs: list[str]) -> list[list[Hit]]:
        """Per hash, every banked PDQ within its own bank's threshold."""
        with self.lock:
            self._catch_up(session)
            found = self.index.search(pdq_hex_to_bytes(pdqs)) if pdqs else []
        return [[Hit(h.content_id, h.bank_id, h.distance) for h in hits] for hits in found]

    def ready(self) -> bool:
        """Loaded, not in use and the feed not due: a lookup now takes well under a millisecond,
        without waiting (reading the feed may mean writing a snapshot, or a full load)."""
        return self.index.loaded and not self.lock.locked() and not self._feed_due()

    def enabled(self, hits: list[Hit]) -> list[Hit]:
        """Hits whose content is enabled now (HMA's disable_until_ts), from the feed's state."""
        now, disabled = time.time(), self.index.disabled
        return [h for h in hits if bank_feed.is_enabled(disabled.get(h.content_id, bank_feed.ENABLED), now)]

    def size(self) -> int:
        return self.index.live


class Platform(Part):
    """HMA's hashing, matching and curation over the workspace's banks."""

    def __init__(self, ws) -> None:
        super().__init__(ws)
        self.index = LookupIndex(bank_snapshot.path_for(ws.home))

    # Hashing

    def hash_file(self, actor: Actor, path: Path, content_type: str) -> dict[str, str]:
        """HMA signal type -> hash of an uploaded file (`photo` or `video`); the file is not kept."""
        with self._open(actor) as (_, access):
            access.require("lookup")
        return _hashes(path, content_type)

    # Matching

    def lookup(self, actor: Actor, signal_type: str, signals: list[str], banks: set[str] | None = None,
               enabled_only: bool = True, seed: str | None = None, bypass_coinflip: bool = False) -> list[dict]:
        """Per hash: {"matches": [Hit, bank name] ..., "allowed_by": [allow bank names]} or {"error"}.

        A hit on an allow bank silences the others (content that must never be reported).
        `enabled_only` applies HMA's switches: disabled content and the bank's coin flip.
        """
        with self._open(actor) as (session, access):
            access.require("lookup")
            checked: list[str | BadSignal] = []
            for value in signals:
                try:
                    checked.append(check_signal(signal_type, value))
                except BadSignal as error:
                    checked.append(error)
            good = [v for v in checked if isinstance(v, str)]
            hits = iter(self._hits(session, signal_type, good))
            visible = {i: b for i, b in self.index.banks(session).items() if b.case_id is None or access.sees(b.case_id)}
            flip = random.Random(seed).random() if enabled_only and not bypass_coinflip else 0.0
            out = []
            for value in checked:
                if isinstance(value, BadSignal):
                    out.append({"error": str(value)})
                    continue
                found = [h for h in next(hits) if h.bank_id in visible]
                if enabled_only:
                    found = self.index.enabled(found)
                allowed_by = sorted({visible[h.bank_id].name for h in found if visible[h.bank_id].is_allow})
                found = [] if allowed_by else found
                found = [h for h in found if banks is None or visible[h.bank_id].name in banks]
                if enabled_only:
                    found = [h for h in found if visible[h.bank_id].matching_enabled_ratio >= flip]
                out.append({"signal": value, "matches": [(h, visible[h.bank_id].name) for h in found],
                            "allowed_by": allowed_by})
            return out

    def compare(self, actor: Actor, signal_type: str, left: object, right: object) -> tuple[bool, dict]:
        """HMA's comparison result: (match, {"distance": bits}) for PDQ, (equal, {}) for exact types."""
        with self._open(actor) as (_, access):
            access.require("lookup")
        left, right = check_signal(signal_type, left), check_signal(signal_type, right)
        if signal_type != "pdq":
            return left == right, {}
        distance = int((int(left, 16) ^ int(right, 16)).bit_count())
        return distance <= PDQ_DEFAULT_THRESHOLD, {"distance": distance}

    def index_status(self, actor: Actor) -> dict[str, dict]:
        with self._open(actor) as (session, access):
            access.require("lookup")
            self.index.search(session, [])  # refresh
            counts = dict(session.execute(select(BankSignal.signal_type, func.count())
                                          .group_by(BankSignal.signal_type)).all())
        built_to = int(self.index.polled_at)
        status = {"pdq": {"present": True, "built_to": built_to, "size": self.index.size()}}
        for name in ("video_md5", "md5", "sha256"):  # exact types are answered by the database itself
            status[name] = {"present": True, "built_to": built_to, "size": counts.get(SIGNAL_TYPES[name], 0)}
        return status

    # Curation

    def banks(self, actor: Actor) -> list[Bank]:
        with self._open(actor) as (session, access):
            access.require("curate")
            return list(session.scalars(select(Bank).order_by(Bank.name)))

    def bank(self, actor: Actor, name: str) -> Bank:
        with self._open(actor) as (session, access):
            access.require("curate")
            return _bank(session, name)

    def create_bank(self, actor: Actor, name: object, enabled_ratio: float = 1.0,
                    pdq_threshold: int = PDQ_DEFAULT_THRESHOLD, allow: bool = False) -> Bank:
        with self._open(actor) as (session, access):
            access.require("curate")
            if not isinstance(name, str) or not name.strip():
                raise JikimiError("a bank needs a name")
            bank = bank_store.create_bank(session, name.strip(), _threshold(pdq_threshold), bool(allow))
            bank.matching_enabled_ratio = _ratio(enabled_ratio)
            self._log(session, actor, "bank_create", f"bank:{bank.id}",
                      {"name": bank.name, "allow": bank.is_allow, "pdq_threshold": bank.pdq_threshold})
        self.index.mark_stale()
        return bank

    def update_bank(self, actor: Actor, name: str, changes: dict) -> Bank:
        """HMA's fields (`name`, `enabled`, `enabled_ratio`) and ours (`pdq_threshold`)."""
        with self._open(actor) as (session, access):
            access.require("curate")
            bank = _bank(session, name)
            if changes.get("name") is not None:
                new = str(changes["name"]).strip()
                if not new:
                    raise JikimiError("a bank needs a name")
                if new != bank.name and session.scalar(select(Bank.id).where(Bank.name == new)):
                    raise JikimiError(f"a bank named {new!r} already exists")
                bank.name = new
            if changes.get("enabled") is not None:
                bank.matching_enabled_ratio = 1.0 if changes["enabled"] else 0.0
            if changes.get("enabled_ratio") is not None:
                bank.matching_enabled_ratio = _ratio(changes["enabled_ratio"])
            if changes.get("pdq_threshold") is not None:
                bank.pdq_threshold = _threshold(changes["pdq_threshold"])
            bank_feed.record(session, "bank", bank.id)
            self._log(session, actor, "bank_update", f"bank:{bank.id}",
                      {"name": bank.name, "matching_enabled_ratio": bank.matching_enabled_ratio,
                       "pdq_threshold": bank.pdq_threshold}, bank.case_id)
        self.index.mark_stale()
        return bank

    def delete_bank(self, actor: Actor, name: str) -> None:
        """As in HMA, deleting a bank that does not exist succeeds."""
        with self._open(actor) as (session, access):
            access.require("curate")
            bank_id = session.scalar(select(Bank.id).where(Bank.name == name))
        if bank_id is None:
            return
        Banks(self.ws).delete(actor, bank_id)  # one way to delete a bank: the core's, with its refusals
        self.index.mark_stale()

    def add_file(self, actor: Actor, name: str, path: Path, content_type: str, note: str | None) -> dict:
        """Hash a file into the bank and forget the file (only hashes are kept)."""
        hashes = _hashes(path, content_type)
        with self._open(actor) as (session, access):
            access.require("curate")
            bank = _bank(session, name)
            result = bank_store.add_files(session, bank, [path])
            content = session.get(BankContent, result.content_ids[0])
            content.label = _note(note) or content.label
            self._log(session, actor, "bank_add", f"bank:{bank.id}",
                      {"name": bank.name, "content": content.id, "via": "api"}, bank.case_id)
        self.index.mark_stale()
        return {"id": content.id, "signals": hashes}

    def add_signals(self, actor: Actor, name: str, signals: dict, note: str | None) -> dict:
        if not signals:
            raise JikimiError("No signals given")
        checked = {signal_type: check_signal(signal_type, value) for signal_type, value in signals.items()}
        with self._open(actor) as (session, access):
            access.require("curate")
            bank = _bank(session, name)
            kind = "video" if "video_md5" in checked else "image" if "pdq" in checked else "other"
            rows = [(SIGNAL_TYPES[t], v, None, None) for t, v in checked.items()]
            content = bank_store.add_signal_rows(session, bank, kind, _note(note) or "added through the API", rows)
            self._log(session, actor, "bank_add", f"bank:{bank.id}",
                      {"name": bank.name, "content": content.id, "via": "api", "signals": sorted(checked)},
                      bank.case_id)
        self.index.mark_stale()
        return {"id": content.id, "signals": checked}

    def content(self, actor: Actor, name: str, content_id: int) -> tuple[BankContent, Bank, dict[str, str]]:
        with self._open(actor) as (session, access):
            access.require("curate")
            content, bank = _content(session, name, content_id)
            return content, bank, _signals_of(session, content)

    def update_content(self, actor: Actor, name: str, content_id: int, changes: dict) -> None:
        with self._open(actor) as (session, access):
            access.require("curate")
            content, bank = _content(session, name, content_id)
            if "disable_until_ts" in changes:
                content.disable_until_ts = _disable_until(changes["disable_until_ts"])
            if "note" in changes:
                content.label = _note(changes["note"]) or ""
            bank_feed.record(session, "state", bank.id, [content.id])
            self._log(session, actor, "bank_content_update", f"bank:{bank.id}",
                      {"name": bank.name, "content": content.id, "disable_until_ts": content.disable_until_ts},
                      bank.case_id)
        self.index.mark_stale()

    def delete_content(self, actor: Actor, name: str, content_id: int) -> int:
        with self._open(actor) as (session, access):
            access.require("curate")
            bank = _bank(session, name)
            content = session.get(BankContent, content_id)
            if content is None or content.bank_id != bank.id:
                return 0
            if session.scalar(select(func.count()).where(Match.bank_content_id == content.id)):
                raise JikimiError(f"content {content_id} has matches in scans: they would lose what they matched")
            session.execute(delete(BankSignal).where(BankSignal.content_id == content.id))
            session.execute(delete(BankFeatures).where(BankFeatures.content_id == content.id))
            session.delete(content)
            bank_feed.record(session, "remove", bank.id, [content_id])
            self._log(session, actor, "bank_content_delete", f"bank:{bank.id}",
                      {"name": bank.name, "content": content_id}, bank.case_id)
        self.index.mark_stale()
        return 1

    def _hits(self, session: Session, signal_type: str, values: list[str]) -> list[list[Hit]]:
        if signal_type == "pdq":
            return self.index.search(session, values)
        query = select(BankSignal.value, BankSignal.content_id, BankSignal.bank_id).where(
            BankSignal.signal_type == SIGNAL_TYPES[signal_type], BankSignal.value.in_(set(values)))
        if signal_type == "video_md5":
            query = query.join(BankContent, BankContent.id == BankSignal.content_id).where(BankContent.kind == "video")
        by_value: dict[str, dict[int, Hit]] = {}
        for value, content_id, bank_id in session.execute(query):
            by_value.setdefault(value, {})[content_id] = Hit(content_id, bank_id, None)
        return [list(by_value.get(v, {}).values()) for v in values]


def _hashes(path: Path, content_type: str) -> dict[str, str]:
    if content_type not in ("photo", "video"):
        raise JikimiError(f"no such content_type: {content_type!r} (use photo or video)")
    signals = compute_signals(path, Limits(), analyse=False, for_bank=True)
    if signals.digests is None or signals.kind != ("image" if content_type == "photo" else "video"):
        raise JikimiError(f"the uploaded file is not a readable {content_type}"
                          + (f" ({signals.error})" if signals.error else ""))
    if content_type == "video":
        return {"video_md5": signals.digests.md5}
    if not signals.pdq:
        raise JikimiError(f"the picture could not be hashed ({signals.error or 'no PDQ hash'})")
    return {"pdq": signals.pdq}


def _bank(session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise NotFound(f"bank '{name}' not found")
    return bank


def _content(session: Session, name: str, content_id: int) -> tuple[BankContent, Bank]:
    bank = _bank(session, name)
    content = session.get(BankContent, content_id)
    if content is None or content.bank_id != bank.id:
        raise NotFound(f"content '{content_id}' not found")
    return content, bank


def _signals_of(session: Session, content: BankContent) -> dict[str, str]:
    """The content's hashes under HMA's names (a video's MD5 is `video_md5`)."""
    out = {}
    for s in session.scalars(select(BankSignal).where(BankSignal.content_id == content.id).order_by(BankSignal.id)):
        if s.signal_type == "md5":
            out["video_md5" if content.kind == "video" else "md5"] = s.value
        elif s.signal_type in ("pdq", "sha256"):
            out.setdefault(s.signal_type, s.value)
    return out


def _ratio(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise JikimiError("enabled_ratio must be a number from 0.0 to 1.0")
    return float(value)


def _threshold(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 128:
        raise JikimiError("pdq_threshold must be a whole number of bits from 0 to 128")
    return value


def _note(value: object) -> str | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise JikimiError("note should be a string")
    if len(value) > NOTE_MAX:
        raise JikimiError(f"note must be at most {NOTE_MAX} characters")
    return value


def _disable_until(value: object) -> int:
    try:
        ts = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        ts = None
    if ts is None or ts < 0:
        raise JikimiError("disable_until_ts must be a non-negative integer")
    if ts > time.time() + MAX_DISABLE_SECONDS:
        raise JikimiError("disable_until_ts must be less than 5 years in the future")
    return ts
