"""The banks' change feed on the real database: numbers visible in commit order, and (on
PostgreSQL) a NOTIFY heard by listeners when a change commits."""

from __future__ import annotations

import threading
import time

import pytest

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
