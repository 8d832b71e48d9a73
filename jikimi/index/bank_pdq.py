"""Every bank's PDQ hashes in memory, kept current from the banks' change feed.

Loaded once when the process starts (one streaming read of the PDQ rows), then only the
changes since (jikimi/bank_feed.py) are applied: a content added anywhere is added here, a
content deleted has its rows marked dead, a disabled content is remembered, a bank's new
threshold applies at once. Nothing is ever rebuilt from the database after the start.

What a row needs is kept in numpy arrays beside the PDQ index (its content, its bank,
whether it is alive), about 100 bytes per hash with the index itself, not Python objects
(which cost ~0.9 KB per hash: 9 GB at 10M). A dead row stays in the index, skipped, until
the process restarts: removals are rare next to additions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import bank_feed
from jikimi.index import bank_snapshot
from jikimi.index.pdq import PDQ_BYTES, PDQIndex
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD
from jikimi.store.models import Bank, BankSignal

LOAD_CHUNK = 200_000  # rows per step of the start-up read: bounded memory on the way in
LOAD_CURSOR = "jikimi_pdq_load"  # PostgreSQL server-side cursor of the start-up read
INDEXED_TYPES = ("pdq", "vpdq")  # a picture is also found as a frame of a known video
# A snapshot is written again once this many changes were applied since the last one
# (at start, or by `snapshot_if_behind`): a restart then replays at most about this many.
SNAPSHOT_AFTER_CHANGES = 100_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BankHit:
    content_id: int
    bank_id: int
    distance: int


class BankPDQIndex:
    """Not thread-safe: the caller serialises `catch_up` and `search`."""

    def __init__(self, snapshot: Path | None = None) -> None:
        self.snapshot = snapshot  # where the built index is kept between runs (None: never)
        self.changes_since_snapshot = 0
        self.index = PDQIndex()
        self.banks: dict[int, Bank] = {}
        self.disabled: dict[int, int] = {}  # content -> disable_until_ts, for contents not plainly enabled
        self.seq: int | None = None  # the last change applied; None until loaded
        self.live = 0
        self._content = np.empty(0, dtype=np.int64)  # per index row
        self._bank = np.empty(0, dtype=np.int32)
        self._alive = np.empty(0, dtype=bool)

    @property
    def loaded(self) -> bool:
        return self.seq is not None

    def catch_up(self, session: Session) -> int:
        """Load on first use, then apply the changes since the last call; how many were applied.
        A process that fell behind a compaction of the feed loads in full again."""
        if self.seq is not None:
            try:
                self.seq, applied = bank_feed.follow(session, self.seq, lambda kind, ids: self._apply(session, kind, ids))
                return applied
            except bank_feed.FeedGap:
                self.__init__(self.snapshot)
        self._load(session)
        return 0

    def search(self, queries: np.ndarray) -> list[list[BankHit]]:
        """Per query, each live content within its own bank's threshold, at its closest distance."""
        if not self.banks or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        thresholds = {bank_id: bank.pdq_threshold for bank_id, bank in self.banks.items()}
        radius = max(thresholds.values())
        out = []
        for hits in self.index.search(queries, radius):
            best: dict[int, BankHit] = {}
            for row, distance in hits:  # sorted by distance: the first per content is its closest
                if not self._alive[row]:
                    continue
                content_id, bank_id = int(self._content[row]), int(self._bank[row])
                if distance <= thresholds.get(bank_id, -1) and content_id not in best:
                    best[content_id] = BankHit(content_id, bank_id, distance)
            out.append(list(best.values()))
        return out

    def snapshot_if_behind(self, session: Session) -> None:
        """Write the snapshot again when many changes were applied since the last one."""
        if self.snapshot and self.changes_since_snapshot >= SNAPSHOT_AFTER_CHANGES:
            self._write_snapshot(session)

    def _load(self, session: Session) -> None:
        """From the snapshot and the feed's changes since it when it is good, else in full."""
        if self.snapshot and self._restore(session):
            self.changes_since_snapshot = self.catch_up(session)
            self.snapshot_if_behind(session)
            return
        self._load_in_full(session)
        if self.snapshot:
            self._write_snapshot(session)

    def _restore(self, session: Session) -> bool:
        try:
            arrays, numbers = bank_snapshot.read(self.snapshot, session)
            size = numbers["pdq"]["table_size"]
            if not all(len(arrays[name]) == len(arrays["ids"]) for name in ("codes", "content", "bank", "alive")) \
                    or size > len(arrays["ids"]) or len(arrays["disabled_content"]) != len(arrays["disabled_until"]):
                raise bank_snapshot.Unusable("arrays of different lengths")
            self.index = PDQIndex.from_arrays(arrays, numbers["pdq"])
        except (bank_snapshot.Unusable, KeyError, ValueError) as why:
            log.warning("index snapshot %s not used, loading every hash instead: %s", self.snapshot, why)
            return False
        self._content, self._bank, self._alive = arrays["content"], arrays["bank"], arrays["alive"]
        self.disabled = dict(zip(arrays["disabled_content"].tolist(), arrays["disabled_until"].tolist()))
        self.live, self.seq = numbers["live"], numbers["seq"]
        self._read_banks(session)  # banks are few: read as they are now (the feed's `bank` changes too)
        self._kill_banks_gone()
        return True

    def _write_snapshot(self, session: Session) -> None:
        anchor = bank_snapshot.anchor(session, self.seq)
        if anchor is None:  # an empty feed: nothing to anchor a snapshot to
            return
        size = len(self.index)
        arrays, numbers = self.index.arrays()
        arrays |= {"content": self._content[:size], "bank": self._bank[:size], "alive": self._alive[:size],
                   "disabled_content": np.fromiter(self.disabled.keys(), np.int64, len(self.disabled)),
                   "disabled_until": np.fromiter(self.disabled.values(), np.int64, len(self.disabled))}
        started = time.perf_counter()
        try:
            bank_snapshot.write(self.snapshot, arrays, {"pdq": numbers, "live": self.live, "seq": self.seq}, anchor)
        except OSError as error:
            log.warning("index snapshot %s not written: %s", self.snapshot, error)
            return
        self.changes_since_snapshot = 0
        log.info("index snapshot of %d hashes written to %s in %.1f s", size, self.snapshot,
                 time.perf_counter() - started)

    def _load_in_full(self, session: Session) -> None:
        seq = bank_feed.latest(session)  # changes after it are applied next; twice does no harm
        self._read_banks(session)
        self.disabled = bank_feed.disabled_contents(session)
        parts = list(_read_columns(session))
        if parts:
            # Each column joined, its parts freed, and the arrays taken as they are (no copy
            # into the index while the tables are built): 10M hashes peak at ~2 GB, not ~2.9.
            codes, contents, banks = (np.concatenate([part[k] for part in parts]) for k in range(3))
            del parts
            n = len(codes)
            self._content, self._bank, self._alive = contents, banks, np.ones(n, dtype=bool)
            self.index = PDQIndex.from_arrays({"codes": codes, "ids": np.arange(n, dtype=np.int64)},
                                              {"max_radius": self.index.max_radius, "table_bits": 0, "table_size": 0})
            self.live = n
        self.seq = seq

    def _read_banks(self, session: Session) -> None:
        self.banks = {bank.id: bank for bank in session.scalars(select(Bank))}
        if self.banks:
            self.index.ensure_radius(max(b.pdq_threshold for b in self.banks.values()))

    def _apply(self, session: Session, kind: str, ids: list[int]) -> None:
        if kind == "bank":
            self._read_banks(session)
            self._kill_banks_gone()
            return
        if kind == "remove":
            self._kill(ids)
        elif kind == "add":
            self._add(session.execute(_pdq_rows().where(BankSignal.content_id.in_(ids))).all())
        gone = bank_feed.read_states(session, ids, self.disabled)
        if gone and kind != "remove":  # deleted since: their rows go too
            self._kill(gone)

    def _add(self, rows) -> None:
        if rows:
            self._add_columns(*_columns(rows))

    def _add_columns(self, codes: np.ndarray, contents: np.ndarray, banks: np.ndarray) -> None:
        first, n = len(self.index), len(codes)
        self._grow(first + n)
        self._content[first:first + n] = contents
        self._bank[first:first + n] = banks
        self._alive[first:first + n] = True
        self.index.add(codes, np.arange(first, first + n, dtype=np.int64))
        self.live += n

    def _kill(self, content_ids: list[int]) -> None:
        size = len(self.index)
        rows = np.flatnonzero(np.isin(self._content[:size], content_ids) & self._alive[:size])
        self._alive[rows] = False
        self.live -= len(rows)

    def _kill_banks_gone(self) -> None:
        """Rows of a deleted bank go with it (SQLite may give its id to the next bank)."""
        size = len(self.index)
        rows = np.flatnonzero(~np.isin(self._bank[:size], list(self.banks)) & self._alive[:size])
        self._alive[rows] = False
        self.live -= len(rows)

    def _grow(self, capacity: int) -> None:
        if capacity <= len(self._content):
            return
        capacity = max(capacity, len(self._content) * 5 // 4)  # amortised O(1) adds, as PDQIndex grows
        size = len(self.index)
        for name in ("_content", "_bank", "_alive"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[:size] = old[:size]
            setattr(self, name, new)


def _read_columns(session: Session) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every indexed PDQ row, LOAD_CHUNK rows at a time, as columns. The driver's own cursor
    (SQLAlchemy's Row objects cost as much as the read), on PostgreSQL a server-side one
    (a client-side cursor would hold every row in memory at once); gathered first by the
    caller, so the index's tables are built once."""
    connection = session.connection()
    sql = str(_pdq_rows().compile(connection, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    cursor = driver.cursor(LOAD_CURSOR) if connection.dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(LOAD_CHUNK):
            contents, banks, values = zip(*chunk)
            codes = np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(-1, PDQ_BYTES)
            yield codes, np.array(contents, dtype=np.int64), np.array(banks, dtype=np.int32)
    finally:
        cursor.close()


def _columns(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PDQ rows as (hashes (n, 32) uint8, content ids, bank ids)."""
    codes = np.frombuffer(bytes.fromhex("".join(r.value for r in rows)), dtype=np.uint8).reshape(-1, PDQ_BYTES)
    return (codes, np.fromiter((r.content_id for r in rows), np.int64, len(rows)),
            np.fromiter((r.bank_id for r in rows), np.int32, len(rows)))


def _pdq_rows():
    """Bank PDQ rows worth matching: low-quality hashes (flat pictures) match too much."""
    # `signal_type || ''`: SQLite would otherwise walk the (signal_type, value) index and fetch
    # each row from the table at random (10 s instead of 2 s at 1M); adds use content_id's index.
    return (select(BankSignal.content_id, BankSignal.bank_id, BankSignal.value)
            .where((BankSignal.signal_type + "").in_(INDEXED_TYPES))
            .where(BankSignal.quality.is_(None) | (BankSignal.quality >= PDQ_QUALITY_THRESHOLD)))
