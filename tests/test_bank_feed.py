"""The banks' change feed on the real database: numbers visible in commit order, and (on
PostgreSQL) a NOTIFY heard by listeners when a change commits."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sqlalchemy import select

from conftest import ON_POSTGRES
from jikimi import bank_feed

HEARD_SECONDS = 1.0


def test_a_later_writer_waits_so_changes_become_visible_in_order(ws):
    """Writer 1 holds an uncommitted change; writer 2's change must not be visible before it
    (a reader that saw 2 first would never read 1)."""
    first_block = ws.session()  # entered by hand, to commit when the test says
    bank_feed.record(first_block.__enter__(), "bank", 1)
    second_done = threading.Event()

    def second_writer() -> None:
        with ws.session() as session:
            bank_feed.record(session, "bank", 2)
        second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)
    with ws.session() as reader:
        assert bank_feed.since(reader, 0) == []  # writer 2 is held back by writer 1
    first_block.__exit__(None, None, None)  # commits
    thread.join(30)
    assert second_done.is_set()
    with ws.session() as reader:
        assert [c.bank_id for c in bank_feed.since(reader, 0)] == [1, 2]


@pytest.mark.skipif(not ON_POSTGRES, reason="NOTIFY is PostgreSQL's")
def test_a_listener_hears_each_committed_change(ws):
    heard = threading.Event()
    listener = bank_feed.FeedListener(ws.engine.url, heard.set)
    assert listener.listening.wait(10)
    heard.clear()
    with ws.session() as session:
        bank_feed.record(session, "bank", 1)
        time.sleep(0.2)
        assert not heard.is_set()  # not before the commit
    assert heard.wait(HEARD_SECONDS)


def test_a_deleted_bank_leaves_the_index_even_when_a_new_bank_takes_its_id(ws):
    """Deleting a bank removes its hashes from a loaded index; on SQLite the next bank may get
    the same id, and must not inherit the deleted bank's hashes."""
    from jikimi import banks as bank_store
    from jikimi.core import Actor, Jikimi
    from jikimi.index.bank_pdq import BankPDQIndex
    from jikimi.store.models import Bank

    pdq = "f" * 16 + "0" * 48
    core, index = Jikimi(ws), BankPDQIndex()
    core.banks.create(Actor.cli(), "old")
    with ws.session() as session:
        index.catch_up(session)  # loaded before the hash exists: it must come through the feed
        old = session.scalar(select(Bank).where(Bank.name == "old"))
        bank_store.add_signal_rows(session, old, "image", "a picture", [("pdq", pdq, 100, None)])
    query = np.frombuffer(bytes.fromhex(pdq), dtype=np.uint8).reshape(1, -1)
    with ws.session() as session:
        index.catch_up(session)
    assert [hit.bank_id for hit in index.search(query)[0]] == [old.id]
    core.banks.delete(Actor.cli(), "old")
    core.banks.create(Actor.cli(), "new")
    with ws.session() as session:
        index.catch_up(session)
    assert index.search(query) == [[]] and index.live == 0
