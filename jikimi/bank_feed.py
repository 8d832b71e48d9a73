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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import URL, func, insert, select, text
from sqlalchemy.orm import Session

from jikimi.audit import AUDIT_LOCK_KEY
from jikimi.store.models import BankChange, utcnow

KINDS = ("add", "remove", "state", "bank")
CHANNEL = "jikimi_bank_changes"  # PostgreSQL NOTIFY channel
# Any fixed 64-bit number: the advisory lock that orders the feed's writers.
FEED_LOCK = 0x4A494B494D49  # "JIKIMI"
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
