"""The banks' change feed: what changed in the banks, in the order it was committed.

Every process that matches keeps its in-memory PDQ index current by reading "changes since
N" (HMA instead rebuilds its whole index every few minutes, and every matcher at once).
A change names what changed, not how: the reader reads the current rows, so applying a
change twice does no harm.

- `add`: a new bank content (its hashes are read with it);
- `remove`: a content deleted (its hashes leave the index);
- `state`: a content disabled or enabled (`disable_until_ts`);
- `bank`: a bank created, renamed, deleted, or its threshold or switches changed.

Commit order: on PostgreSQL two transactions can take sequence numbers 7 and 8 and commit
8 first; a reader that saw 8 would never look at 7 again. So writers take one transaction
lock (`pg_advisory_xact_lock`) before they take a number, and hold it until they commit:
numbers become visible in order. Bank writes are rare and short (the lock is taken at the
end of a large import or `bank add`), so the cost is small. SQLite has one writer at a time anyway.
PostgreSQL also gets a `NOTIFY` with each commit, so listeners need not poll.

Compaction (`compact`): old changes are deleted, oldest first, the newest always kept (SQLite
would otherwise give its number to the next change, and a reader past it would never read
that one). A reader behind the oldest kept change cannot know what it missed: `follow` raises
`FeedGap` and the reader loads in full again. Kafka's key compaction (keep the last record per
key) would not help here: each content is its own key, and the banks' tables already are the
compacted state a reader loads from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import URL, delete, func, insert, select, text
from sqlalchemy.orm import Session

from jikimi.audit import AUDIT_LOCK_KEY
from jikimi.store.models import BankChange, BankContent, utcnow

KINDS = ("add", "remove", "state", "bank")
CHANNEL = "jikimi_bank_changes"  # PostgreSQL NOTIFY channel
# Any fixed 64-bit number: the advisory lock that orders the feed's writers.
FEED_LOCK = 0x4A494B494D49  # "JIKIMI"
CHANGE_BATCH = 1000  # content ids per `apply` call of `follow`: one query each for the reader
ENABLED, DISABLED = 1, 0  # BankContent.disable_until_ts magic values, as in HMA
RECONNECT_SECONDS = 2.0  # a listener that lost its connection tries again this often (readers also poll)


def record(session: Session, kind: str, bank_id: int, content_ids: Iterable[int | None] = (None,)) -> None:
    """Append changes to the feed, in the caller's transaction (they commit with the change)."""
    if kind not in KINDS:
        raise ValueError(f"unknown bank change {kind!r}")
    rows = [{"kind": kind, "bank_id": bank_id, "content_id": c, "created_at": utcnow()} for c in content_ids]
    if not rows:
        return
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # The custody log's lock first, as every bank write also appends to the log: writers
        # that took the two locks in opposite orders would deadlock each other.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})
        session.execute(text(f"NOTIFY {CHANNEL}"))
    session.execute(insert(BankChange), rows)


def latest(session: Session) -> int:
    """The last change committed (0 for none): a snapshot taken now is current up to it."""
    return session.scalar(select(func.max(BankChange.seq))) or 0


def since(session: Session, seq: int, limit: int = 10000) -> list[BankChange]:
    """Changes after `seq`, oldest first (at most `limit`: call again for the rest)."""
    return list(session.execute(
        select(BankChange.seq, BankChange.kind, BankChange.bank_id, BankChange.content_id)
        .where(BankChange.seq > seq).order_by(BankChange.seq).limit(limit)).all())


class FeedGap(Exception):
    """The feed was compacted past a reader's position: changes it never read are gone."""


def oldest_kept(session: Session) -> int | None:
    """The oldest change the feed still holds (None while it holds none)."""
    return session.scalar(select(func.min(BankChange.seq)))


def holds_changes_after(session: Session, seq: int) -> bool:
    """Whether every change after `seq` is still in the feed; if not, a reader at `seq` (an
    index, a snapshot of one) must load in full. Compaction deletes a prefix of the feed and
    keeps the newest change, so it holds them all unless its oldest is past seq + 1 (numbers
    PostgreSQL skipped may make this say no when nothing was lost: a reload too many, never
    a change missed)."""
    oldest = oldest_kept(session)
    return oldest is None or oldest <= seq + 1


def follow(session: Session, seq: int, apply: Callable[[str, list[int]], None]) -> tuple[int, int]:
    """Apply the changes after `seq`, in feed order, as runs of one kind (SQLite may give a
    deleted content's id to a new one): `apply(kind, ids)` with at most CHANGE_BATCH content
    ids (bank ids for `bank` changes). Returns the new position and how many changes were
    applied; raises FeedGap when changes after `seq` were compacted away."""
    applied = 0
    while changes := since(session, seq):
        # Read before the check: a compaction that commits in between is then seen by it.
        if changes[0].seq != seq + 1 and not holds_changes_after(session, seq):
            raise FeedGap(f"the feed no longer holds the changes after {seq}: load in full")
        start = 0
        for end in range(1, len(changes) + 1):
            if end == len(changes) or changes[end].kind != changes[start].kind or end - start == CHANGE_BATCH:
                run = changes[start:end]
                apply(run[0].kind, [c.bank_id if c.kind == "bank" else c.content_id for c in run
                                    if c.kind == "bank" or c.content_id is not None])
                start = end
        seq = changes[-1].seq
        applied += len(changes)
    return seq, applied


def read_states(session: Session, content_ids: list[int], disabled: dict[int, int]) -> list[int]:
    """Bring `disabled` (content -> disable_until_ts, for contents not plainly enabled) up to
    date for these contents; returns those deleted since (their rows leave the reader too)."""
    states = dict(session.execute(select(BankContent.id, BankContent.disable_until_ts)
                                  .where(BankContent.id.in_(content_ids))).all())
    for content_id in content_ids:
        state = states.get(content_id)
        if state is None or state == ENABLED:
            disabled.pop(content_id, None)
        else:
            disabled[content_id] = state
    return [c for c in content_ids if c not in states]


def disabled_contents(session: Session) -> dict[int, int]:
    """Content -> disable_until_ts, for every content not plainly enabled (few: read at a load)."""
    return dict(session.execute(select(BankContent.id, BankContent.disable_until_ts)
                                .where(BankContent.disable_until_ts != ENABLED)).all())


def is_enabled(disable_until_ts: int, now: float) -> bool:
    """HMA's switch: 1 enabled, 0 disabled, otherwise disabled until that Unix time."""
    if disable_until_ts in (ENABLED, DISABLED):
        return disable_until_ts == ENABLED
    return disable_until_ts <= now


@dataclass(frozen=True)
class Compacted:
    removed: int
    oldest_kept: int | None


def compact(session: Session, keep_days: float, now: datetime | None = None) -> Compacted:
    """Delete the changes older than `keep_days` days, the newest change always kept.

    Only a reader that read nothing for that long notices (it loads in full, see FeedGap): every
    serving matcher reads the feed at least every few seconds, and a scan at each item."""
    if keep_days < 0:
        raise ValueError("keep_days cannot be negative")
    horizon = (now or utcnow()) - timedelta(days=keep_days)
    newest = latest(session)
    cutoff = session.scalar(select(func.max(BankChange.seq))
                            .where(BankChange.created_at < horizon, BankChange.seq < newest))
    removed = 0
    if cutoff is not None:  # a prefix, by number: `created_at` may be a little out of order
        removed = session.execute(delete(BankChange).where(BankChange.seq <= cutoff)).rowcount
    return Compacted(removed, oldest_kept(session))


class FeedListener:
    """Calls `on_change()` from a daemon thread on each NOTIFY of the feed (PostgreSQL only),
    and once after each (re)connection, for what was missed while not listening."""

    def __init__(self, url: URL, on_change: Callable[[], None]) -> None:
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_change = on_change
        self.listening = threading.Event()
        threading.Thread(target=self._run, name="jikimi-bank-feed", daemon=True).start()

    def _run(self) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.on_change()
                    for _ in connection.notifies():
                        self.on_change()
            except psycopg.Error:
                self.listening.clear()
                time.sleep(RECONNECT_SECONDS)
