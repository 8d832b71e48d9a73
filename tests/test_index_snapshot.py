"""The matcher's index snapshot (jikimi/index/bank_snapshot.py): a restart from it answers as a
full load does, applies what changed after it, and a doubtful snapshot is never used."""

from __future__ import annotations

import json
import logging
import struct

import numpy as np
import pytest

from jikimi.core import Actor, Jikimi
from jikimi.index import bank_snapshot
from jikimi.index.bank_pdq import BankPDQIndex
from jikimi.workspace import Workspace

HASHES = 300
TAIL_HASHES = 40_000  # past the index's TAIL_LIMIT: the multi-index tables exist and are stored
NEAR_BITS = 20  # a query this many bits from a stored hash: found at 31, not at 10


def _codes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def _near(code: np.ndarray, rng: np.random.Generator, bits: int = NEAR_BITS) -> np.ndarray:
    near = code.copy()
    for bit in rng.choice(256, bits, replace=False):
        near[bit // 8] ^= 1 << (bit % 8)
    return near


@pytest.fixture
def filled(ws: Workspace):
    """A bank of HASHES hashes added through the platform API, and queries near some of them."""
    core, rng = Jikimi(ws), np.random.default_rng(5)
    core.platform.create_bank(Actor.cli(), "BANK")
    codes = _codes(rng, HASHES)
    ids = [core.platform.add_signals(Actor.cli(), "BANK", {"pdq": c.tobytes().hex()}, None)["id"] for c in codes]
    queries = np.stack([_near(codes[i], rng) for i in range(0, HASHES, 7)] + list(_codes(rng, 20)))
    return core, codes, ids, queries


def _loaded(ws: Workspace, path) -> BankPDQIndex:
    index = BankPDQIndex(path)
    with ws.session() as session:
        index.catch_up(session)
    return index


def _answers(index: BankPDQIndex, queries: np.ndarray) -> list:
    return [sorted((h.content_id, h.bank_id, h.distance) for h in hits) for hits in index.search(queries)]


def test_a_restart_from_the_snapshot_answers_as_a_full_load(ws, filled, tmp_path, caplog):
    _, _, _, queries = filled
    path = tmp_path / "snap" / bank_snapshot.FILE_NAME
    full = _loaded(ws, path)  # no snapshot yet: loads in full, then writes one
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    caplog.clear()
    restored = _loaded(ws, path)
    assert not caplog.records  # used without a word
    assert _answers(restored, queries) == _answers(full, queries)
    assert sum(map(len, _answers(full, queries))) >= HASHES // 7
    assert (restored.live, restored.seq) == (full.live, full.seq)


def test_the_stored_tables_are_used_as_they_are(ws, tmp_path):
    """Past the index's tail limit the multi-index tables exist: they are stored and loaded."""
    from sqlalchemy import insert

    from jikimi import banks as bank_store
    from jikimi.store.models import Bank, BankContent, BankSignal

    core, rng = Jikimi(ws), np.random.default_rng(6)
    core.platform.create_bank(Actor.cli(), "BIG")
    codes = _codes(rng, TAIL_HASHES)
    with ws.session() as session:
        bank = session.query(Bank).filter_by(name="BIG").one()
        for code in codes[:2]:
            bank_store.add_signal_rows(session, bank, "image", "x", [("pdq", code.tobytes().hex(), None, None)])
    # The rest in bulk (no feed change each: a full load reads them all anyway).
    first = 1000
    with ws.engine.begin() as connection:
        connection.execute(insert(BankContent), [{"id": first + i, "bank_id": bank.id, "kind": "image", "label": ""}
                                                 for i in range(2, TAIL_HASHES)])
        connection.execute(insert(BankSignal), [{"bank_id": bank.id, "content_id": first + i, "signal_type": "pdq",
                                                 "value": codes[i].tobytes().hex()} for i in range(2, TAIL_HASHES)])
    path = tmp_path / bank_snapshot.FILE_NAME
    full = _loaded(ws, path)
    arrays, numbers = full.index.arrays()
    assert numbers["table_size"] == TAIL_HASHES and "rows" in arrays
    queries = np.stack([_near(codes[i], rng) for i in range(0, TAIL_HASHES, 997)])
    restored = _loaded(ws, path)
    assert restored.index.arrays()[1] == numbers
    answers = _answers(restored, queries)
    assert answers == _answers(full, queries) and all(answers)


def test_changes_after_the_snapshot_are_applied(ws, filled, tmp_path):
    """Adds, removals, a disabled content and a bank's new threshold, made after the snapshot."""
    core, codes, ids, queries = filled
    path = tmp_path / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    rng = np.random.default_rng(8)
    added = _codes(rng, 3)
    added_ids = [core.platform.add_signals(Actor.cli(), "BANK", {"pdq": c.tobytes().hex()}, None)["id"]
                 for c in added]
    core.platform.delete_content(Actor.cli(), "BANK", ids[0])
    core.platform.update_content(Actor.cli(), "BANK", ids[7], {"disable_until_ts": 0})
    restored = _loaded(ws, path)
    fresh = BankPDQIndex()  # no snapshot: what a full load says now
    with ws.session() as session:
        fresh.catch_up(session)
    assert _answers(restored, queries) == _answers(fresh, queries)
    found = _answers(restored, np.concatenate([added, codes[:1]]))
    assert [[hit[0] for hit in hits] for hits in found] == [[i] for i in added_ids] + [[]]
    assert restored.disabled == fresh.disabled == {ids[7]: 0}
    assert [h[0] for h in _answers(restored, queries[1:2])[0]] == [ids[7]]  # found at 31 (disabled: filtered later)

    core.platform.update_bank(Actor.cli(), "BANK", {"pdq_threshold": 10})
    tight = _loaded(ws, path)
    assert all(h[2] <= 10 for hits in _answers(tight, queries) for h in hits)
    assert [[h[0] for h in hits] for hits in _answers(tight, codes[1:2])] == [[ids[1]]]
    assert not _answers(tight, queries[1:2])[0]  # NEAR_BITS away: beyond the new threshold


def test_a_deleted_bank_after_the_snapshot_takes_its_hashes_with_it(ws, filled, tmp_path):
    core, codes, _, _ = filled
    path = tmp_path / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    core.platform.delete_bank(Actor.cli(), "BANK")
    restored = _loaded(ws, path)
    assert _answers(restored, codes[:5]) == [[]] * 5 and restored.live == 0


def _damage_cut(path):
    path.write_bytes(path.read_bytes()[:-100])


def _damage_flip(path):
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite_header(path, change):
    data = path.read_bytes()
    start = len(bank_snapshot.MAGIC)
    (length,) = struct.unpack("<I", data[start:start + 4])
    header = json.loads(data[start + 4:start + 4 + length])
    change(header)
    encoded = json.dumps(header).encode()
    path.write_bytes(data[:start] + struct.pack("<I", len(encoded)) + encoded + data[start + 4 + length:])


def _other_version(path):
    _rewrite_header(path, lambda h: h.update(version=bank_snapshot.VERSION + 1))


def _other_layout(path):
    _rewrite_header(path, lambda h: h["layout"].update(num_substrings=8))


def _other_database(path):
    _rewrite_header(path, lambda h: h["anchor"].update(created_at="2020-01-01T00:00:00"))


def _not_a_snapshot(path):
    path.write_bytes(b"PK\x03\x04 something else entirely")


def _absurd_shape(path):
    _rewrite_header(path, lambda h: h["arrays"][0].update(shape=[10 ** 15, 32]))  # must not be allocated


def _writable_by_others(path):
    path.chmod(0o666)


def _a_link(path):
    """A link planted in its place (to a snapshot that would otherwise be good)."""
    target = path.with_name("elsewhere")
    path.rename(target)
    path.symlink_to(target)


@pytest.mark.parametrize("damage", [_damage_cut, _damage_flip, _other_version, _other_layout, _other_database,
                                    _not_a_snapshot, _absurd_shape, _writable_by_others, _a_link])
def test_a_doubtful_snapshot_is_not_used(ws, filled, tmp_path, caplog, damage):
    core, codes, ids, queries = filled
    path = tmp_path / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    core.platform.delete_content(Actor.cli(), "BANK", ids[1])  # what the snapshot would not know
    damage(path)
    caplog.clear()
    restored = _loaded(ws, path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not used" in warnings[0] and "\n" not in warnings[0]
    assert _answers(restored, codes[1:2]) == [[]]
    fresh = BankPDQIndex()
    with ws.session() as session:
        fresh.catch_up(session)
    assert _answers(restored, queries) == _answers(fresh, queries)
    caplog.clear()
    _loaded(ws, path)  # the full load wrote a good one again
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_snapshot_the_feed_has_moved_past_is_not_used(ws, filled, tmp_path, caplog):
    """A feed compacted past the snapshot's change no longer holds it: changes may be missing."""
    from sqlalchemy import delete

    from jikimi.store.models import BankChange

    core, codes, ids, _ = filled
    path = tmp_path / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    core.platform.delete_content(Actor.cli(), "BANK", ids[2])
    with ws.session() as session:  # what a compaction does: the oldest changes go, the newest stays
        newest = session.query(BankChange).order_by(BankChange.seq.desc()).first().seq
        session.execute(delete(BankChange).where(BankChange.seq < newest))
    restored = _loaded(ws, path)
    assert "feed does not hold" in caplog.text
    assert _answers(restored, codes[2:3]) == [[]]


def test_a_snapshot_of_another_workspace_is_not_used(ws, tmp_path, caplog, second_database):
    """Two workspaces with the same feed numbers: the anchor's time tells them apart."""
    homes = [ws, Workspace(tmp_path / "two", second_database)]
    homes[1].init()
    rng = np.random.default_rng(9)
    for ws in homes:
        Jikimi(ws).platform.create_bank(Actor.cli(), "BANK")
        Jikimi(ws).platform.add_signals(Actor.cli(), "BANK", {"pdq": _codes(rng, 1)[0].tobytes().hex()}, None)
    path = tmp_path / bank_snapshot.FILE_NAME
    first = _loaded(homes[0], path)
    second = _loaded(homes[1], path)
    assert "feed does not hold" in caplog.text
    first_code = first.index.arrays()[0]["codes"]
    assert _answers(second, first_code) == [[]]
    homes[1].engine.dispose()


def test_an_unwritable_snapshot_place_leaves_the_matcher_serving(ws, filled, tmp_path, caplog):
    _, codes, ids, _ = filled
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    index = _loaded(ws, blocker / bank_snapshot.FILE_NAME)
    assert "not written" in caplog.text
    assert [[h[0] for h in hits] for hits in _answers(index, codes[:1])] == [[ids[0]]]


def test_the_changes_replayed_at_a_restart_count_towards_the_next_snapshot(ws, filled, tmp_path):
    """Else a server restarted more often than every SNAPSHOT_AFTER_CHANGES changes would never
    write its snapshot again, and each restart would replay more."""
    from jikimi.core.platform import LookupIndex

    core, codes, ids, queries = filled
    path = tmp_path / "snap" / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    for content_id in ids[:3]:
        core.platform.delete_content(Actor.cli(), "BANK", content_id)
    restarted = LookupIndex(path)
    assert not restarted.ready()  # not loaded: the first lookup loads in the threadpool
    with ws.session() as session:
        restarted.search(session, [codes[10].tobytes().hex()])
    assert restarted.index.changes_since_snapshot == 3
    restarted.mark_stale()  # a change through this process: the next lookup reads the feed,
    assert not restarted.ready()  # which may write a snapshot, so not on the event loop


def test_two_matchers_map_one_snapshot_and_their_changes_stay_their_own(ws, filled, tmp_path):
    """Restored arrays are the file's pages mapped copy-on-write (shared by the processes of
    `jikimi serve --workers N`): a deletion applied after the restore marks rows dead in this
    matcher only, never in the file or in another matcher that mapped it."""
    core, codes, ids, _ = filled
    path = tmp_path / bank_snapshot.FILE_NAME
    _loaded(ws, path)
    written = path.read_bytes()
    first, second = _loaded(ws, path), _loaded(ws, path)
    assert all(_mapped(array) for array in (first._alive, first._content, first.index._codes, first.index._ids))
    core.platform.delete_content(Actor.cli(), "BANK", ids[0])
    with ws.session() as session:
        first.catch_up(session)
    assert _answers(first, codes[:1]) == [[]] and [h[0] for h in _answers(second, codes[:1])[0]] == [ids[0]]
    assert path.read_bytes() == written


def _mapped(array: np.ndarray) -> bool:
    """Whether the array's memory is a file mapping (itself, or what it is a view of)."""
    while array is not None and not isinstance(array, np.memmap):
        array = getattr(array, "base", None)
    return array is not None
