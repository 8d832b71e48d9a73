"""The banks' change feed's locks and its admin command, on the real database: the custody
log's lock is taken before the feed's (else two bank writes deadlock on PostgreSQL); `bank add`
hashes every file before it records one run of changes, holding neither lock while it hashes;
`jikimi bank compact-feed` compacts and is in the custody log."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from conftest import ON_POSTGRES
from jikimi import bank_feed
from jikimi.audit import AUDIT_LOCK_KEY, AuditLog
from jikimi.core import Actor, Jikimi
from jikimi.demo.sample_export import build_sample_export
from jikimi.store.models import Bank, BankChange, BankContent, utcnow
from test_cli import run

LOCK_TIMEOUT = "5s"  # a wrong lock order fails the test (deadlock error or timeout), never hangs it
WAIT_SECONDS = 10.0


def _waiting_advisory_locks(ws) -> int:
    with ws.engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))


@pytest.mark.skipif(not ON_POSTGRES, reason="the advisory locks are PostgreSQL's (SQLite has one writer)")
def test_a_feed_record_takes_the_custody_logs_lock_before_the_feeds(ws):
    """A bank write holds the custody log's lock (it appended its entry first) and then records
    its change. Another writer recording meanwhile waits for the log's lock; had it taken the
    feed's lock first, the two would wait for each other."""
    holder = ws.new_session()
    holder.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    holder.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))  # as AuditLog.append does
    errors: list[Exception] = []

    def other_writer() -> None:
        try:
            with ws.session() as session:
                session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                bank_feed.record(session, "bank", 2)
        except Exception as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while _waiting_advisory_locks(ws) == 0:  # the other writer queues behind the holder
            assert time.monotonic() < deadline and thread.is_alive(), errors
            time.sleep(0.05)
        bank_feed.record(holder, "bank", 1)  # takes the feed's lock: free, since the other writer waits before it
        holder.commit()
    finally:
        holder.close()
        thread.join(30)
    assert not thread.is_alive() and errors == []
    with ws.session() as session:
        assert [c.bank_id for c in bank_feed.since(session, 0)] == [1, 2]


def test_bank_add_hashes_every_file_before_it_records_one_run_of_changes(ws, tmp_path):
    """`jikimi bank add` (core Banks.add_files): while a file is hashed no lock of the feed or
    the custody log is held (on PostgreSQL, another connection takes both), and the files'
    changes are written together at the end, one after the other in file order."""
    sample = build_sample_export(tmp_path / "sample")
    core = Jikimi(ws)
    core.banks.create(Actor.cli(), "known")
    with ws.session() as session:
        before = bank_feed.latest(session)
    hashed: list[str] = []

    def locks_are_free(path) -> None:
        hashed.append(path.name)
        if ON_POSTGRES:
            with ws.engine.connect() as other:
                for key in (AUDIT_LOCK_KEY, bank_feed.FEED_LOCK):
                    assert other.scalar(select(func.pg_try_advisory_xact_lock(key))), f"lock {key:#x} held while hashing"
                other.rollback()

    files = sorted(p for p in sample.known_dir.iterdir() if p.is_file())
    result = core.banks.add_files(Actor.cli(), "known", files, on_file=locks_are_free)
    assert result["added"] == len(files) > 1 and hashed == [p.name for p in files]
    with ws.session() as session:
        changes = bank_feed.since(session, before)
        contents = list(session.scalars(select(BankContent.id).join(Bank).where(Bank.name == "known")
                                        .order_by(BankContent.id)))
    assert [c.kind for c in changes] == ["add"] * len(files)
    assert [c.content_id for c in changes] == contents
    assert [c.seq for c in changes] == list(range(before + 1, before + 1 + len(files)))


def test_compact_feed_on_the_command_line_is_in_the_custody_log(ws):
    core = Jikimi(ws)
    for name in ("a", "b", "c"):
        core.banks.create(Actor.cli(), name)
    with ws.session() as session:
        session.execute(update(BankChange).values(created_at=utcnow() - timedelta(days=30)))
        newest = bank_feed.latest(session)
    output = run(ws.home, "bank", "compact-feed", "--keep-days", "7").stdout
    assert f"Removed 2 change(s) older than 7 day(s); the feed now starts at change {newest}" in output
    with ws.session() as session:
        assert bank_feed.oldest_kept(session) == newest
        [entry] = [e for e in AuditLog(session, ws.home).entries() if e.action == "bank_feed_compact"]
        assert entry.details == {"keep_days": 7.0, "removed": 2, "oldest_kept": newest}
