"""A scan's matcher (match.Matcher) follows the banks' change feed: a content deleted or
disabled, or a bank's new threshold, made through the core by anyone while a scan runs, is
honoured at the matcher's next refresh (a removal by loading again); one that fell behind a compaction
of the feed loads in full instead of missing changes. On SQLite, and on PostgreSQL with
JIKIMI_TEST_DB=postgres."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from jikimi import bank_feed
from jikimi import banks as bank_store
from jikimi.core import Actor, Jikimi
from jikimi.index.bank_pdq import BankPDQIndex
from jikimi.match import Matcher
from jikimi.store.models import Bank, BankChange, Content, utcnow

# Four hashes at least 128 bits apart; each banked content lies 10 bits from its own.
QUERIES = {"deleted": "3" * 64, "disabled": "5" * 64, "loosened": "6" * 64, "kept": "9" * 64}


def _query(pdq: str, sha256: str = "0" * 64) -> Content:
    return Content(sha256=sha256, md5="0" * 32, size=1, kind="image", pdq=pdq, pdq_quality=100)


def _near(pdq: str, bits: int) -> str:
    return format(int(pdq, 16) ^ ((1 << bits) - 1), "064x")


def _bank_with_one_content_per_query(ws, core) -> dict[str, int]:
    core.banks.create(Actor.cli(), "known")
    with ws.session() as session:
        bank = session.scalar(select(Bank).where(Bank.name == "known"))
        return {name: bank_store.add_signal_rows(session, bank, "image", name, [("pdq", _near(pdq, 10), 100, None)]).id
                for name, pdq in QUERIES.items()}


def _found(ws, matcher: Matcher, pdq: str) -> list[tuple[str, int]]:
    with ws.session() as session:  # each refresh in its own transaction, as a scan's batches are
        return [(f.kind, f.content_id) for f in matcher.match(session, _query(pdq))]


def test_deletes_disables_and_thresholds_made_while_a_matcher_is_live_apply_at_its_next_refresh(ws):
    core = Jikimi(ws)
    ids = _bank_with_one_content_per_query(ws, core)
    matcher = Matcher()
    for name, pdq in QUERIES.items():
        assert _found(ws, matcher, pdq) == [("pdq", ids[name])]
    index = matcher.index

    core.platform.update_content(Actor.cli(), "known", ids["disabled"], {"disable_until_ts": 0})
    core.platform.update_bank(Actor.cli(), "known", {"pdq_threshold": 9})  # the hashes are 10 bits away
    assert _found(ws, matcher, QUERIES["disabled"]) == []
    assert _found(ws, matcher, QUERIES["loosened"]) == []
    assert matcher.index is index  # followed, not reloaded
    core.platform.delete_content(Actor.cli(), "known", ids["deleted"])
    assert _found(ws, matcher, QUERIES["deleted"]) == []
    assert matcher.index is not index  # a removal loads again in full
    index = matcher.index

    core.platform.update_bank(Actor.cli(), "known", {"pdq_threshold": 31})
    core.platform.update_content(Actor.cli(), "known", ids["disabled"], {"disable_until_ts": 1})
    assert _found(ws, matcher, QUERIES["disabled"]) == [("pdq", ids["disabled"])]
    assert _found(ws, matcher, QUERIES["loosened"]) == [("pdq", ids["loosened"])]
    assert _found(ws, matcher, QUERIES["deleted"]) == []
    assert matcher.index is index  # followed, not reloaded


def test_a_content_banked_after_a_deletion_is_not_found_for_the_deleted_hash(ws):
    """SQLite gives the deleted newest row's id to the next row: a matcher that kept the
    deleted hash's index row would now answer it with the new, unrelated content."""
    core = Jikimi(ws)
    core.banks.create(Actor.cli(), "known")

    def bank(name: str, pdq: str) -> int:
        with ws.session() as session:
            known = session.scalar(select(Bank).where(Bank.name == "known"))
            return bank_store.add_signal_rows(session, known, "image", name, [("pdq", pdq, 100, None)]).id

    first = bank("first", QUERIES["deleted"])
    matcher = Matcher()
    assert _found(ws, matcher, QUERIES["deleted"]) == [("pdq", first)]
    core.platform.delete_content(Actor.cli(), "known", first)
    second = bank("second", QUERIES["kept"])
    assert _found(ws, matcher, QUERIES["deleted"]) == []
    assert _found(ws, matcher, QUERIES["kept"]) == [("pdq", second)]


def test_a_disabled_content_is_not_matched_by_its_exact_hash_either(ws):
    core = Jikimi(ws)
    core.banks.create(Actor.cli(), "known")
    sha256 = "ab" * 32
    with ws.session() as session:
        bank = session.scalar(select(Bank).where(Bank.name == "known"))
        content_id = bank_store.add_signal_rows(session, bank, "other", "a file", [("sha256", sha256, None, None)]).id
    matcher = Matcher()
    with ws.session() as session:
        assert [f.kind for f in matcher.match(session, _query(None, sha256))] == ["sha256"]
    core.platform.update_content(Actor.cli(), "known", content_id, {"disable_until_ts": 0})
    with ws.session() as session:
        assert matcher.match(session, _query(None, sha256)) == []


def test_a_deleted_bank_leaves_a_live_matcher_even_when_a_new_bank_takes_its_id(ws):
    core = Jikimi(ws)
    ids = _bank_with_one_content_per_query(ws, core)
    matcher = Matcher()
    assert _found(ws, matcher, QUERIES["kept"]) == [("pdq", ids["kept"])]
    core.banks.delete(Actor.cli(), "known")
    core.banks.create(Actor.cli(), "new")
    assert _found(ws, matcher, QUERIES["kept"]) == []
    assert matcher.indexed == {}


def _compact_everything_but_the_newest(ws) -> int:
    """Compaction as `jikimi bank compact-feed --keep-days 0` does it, a day from now."""
    with ws.session() as session:
        return bank_feed.compact(session, keep_days=0, now=utcnow() + timedelta(days=1)).removed


def test_a_matcher_behind_a_compaction_of_the_feed_loads_in_full_and_misses_nothing(ws):
    """Two changes while the matcher was not reading, then a compaction: the change it never
    read (a deletion) is gone from the feed. Without noticing the gap it would go on matching
    the deleted content."""
    core = Jikimi(ws)
    ids = _bank_with_one_content_per_query(ws, core)
    matcher, index = Matcher(), BankPDQIndex()
    assert _found(ws, matcher, QUERIES["deleted"]) == [("pdq", ids["deleted"])]
    with ws.session() as session:
        index.catch_up(session)
    core.platform.delete_content(Actor.cli(), "known", ids["deleted"])
    core.platform.update_content(Actor.cli(), "known", ids["disabled"], {"disable_until_ts": 0})
    with ws.session() as session:
        behind = matcher.seq
        assert bank_feed.holds_changes_after(session, behind)
    assert _compact_everything_but_the_newest(ws) > 0
    with ws.session() as session:
        assert not bank_feed.holds_changes_after(session, behind)
        assert bank_feed.oldest_kept(session) == bank_feed.latest(session)  # the newest is always kept
    assert _found(ws, matcher, QUERIES["deleted"]) == []
    assert _found(ws, matcher, QUERIES["disabled"]) == []
    assert _found(ws, matcher, QUERIES["kept"]) == [("pdq", ids["kept"])]
    with ws.session() as session:  # the platform API's index, likewise
        index.catch_up(session)
        assert index.live == len(ids) - 1 and ids["disabled"] in index.disabled


def test_a_matcher_that_kept_up_is_not_reloaded_by_a_compaction(ws):
    core = Jikimi(ws)
    ids = _bank_with_one_content_per_query(ws, core)
    matcher = Matcher()
    assert _found(ws, matcher, QUERIES["kept"]) == [("pdq", ids["kept"])]
    core.platform.update_content(Actor.cli(), "known", ids["disabled"], {"disable_until_ts": 0})
    assert _found(ws, matcher, QUERIES["disabled"]) == []
    index = matcher.index
    _compact_everything_but_the_newest(ws)
    core.platform.update_content(Actor.cli(), "known", ids["disabled"], {"disable_until_ts": 1})
    assert _found(ws, matcher, QUERIES["disabled"]) == [("pdq", ids["disabled"])]
    assert matcher.index is index


def test_compaction_keeps_recent_changes_and_always_the_newest(ws):
    core = Jikimi(ws)
    _bank_with_one_content_per_query(ws, core)
    with ws.session() as session:
        count = session.scalar(select(func.count()).select_from(BankChange))
        assert bank_feed.compact(session, keep_days=7).removed == 0  # all made just now
        newest = bank_feed.latest(session)
        # The first two changes were made ten days ago.
        old = list(session.scalars(select(BankChange.seq).order_by(BankChange.seq).limit(2)))
        session.execute(update(BankChange).where(BankChange.seq.in_(old))
                        .values(created_at=utcnow() - timedelta(days=10)))
        result = bank_feed.compact(session, keep_days=7)
        assert (result.removed, result.oldest_kept) == (2, old[-1] + 1)
        assert session.scalar(select(func.count()).select_from(BankChange)) == count - 2
    core.banks.create(Actor.cli(), "after")
    with ws.session() as session:
        assert bank_feed.latest(session) == newest + 1  # numbers go on (SQLite would reuse a deleted newest)
