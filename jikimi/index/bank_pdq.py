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

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import bank_feed
from jikimi.index.pdq import PDQ_BYTES, PDQIndex
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD
from jikimi.store.models import Bank, BankContent, BankSignal

ENABLED = 1  # BankContent.disable_until_ts of an enabled content (HMA's magic value)
LOAD_CHUNK = 200_000  # rows per step of the start-up read: bounded memory on the way in
INDEXED_TYPES = ("pdq", "vpdq")  # a picture is also found as a frame of a known video


@dataclass(frozen=True)
class BankHit:
    content_id: int
    bank_id: int
    distance: int


class BankPDQIndex:
    """Not thread-safe: the caller serialises `catch_up` and `search`."""

    def __init__(self) -> None:
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
                self.__init__()
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

    def _load(self, session: Session) -> None:
        seq = bank_feed.latest(session)  # changes after it are applied next; twice does no harm
        self._read_banks(session)
        self.disabled = dict(session.execute(select(BankContent.id, BankContent.disable_until_ts)
                                             .where(BankContent.disable_until_ts != ENABLED)).all())
        # Core rows (not the ORM's), gathered first: the index's tables are then built once.
        rows = session.connection().execute(_pdq_rows().execution_options(yield_per=LOAD_CHUNK))
        parts = [_columns(chunk) for chunk in rows.partitions()]
        if parts:
            self._add_columns(*(np.concatenate(column) for column in zip(*parts)))
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


def _columns(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PDQ rows as (hashes (n, 32) uint8, content ids, bank ids)."""
    codes = np.frombuffer(bytes.fromhex("".join(r.value for r in rows)), dtype=np.uint8).reshape(-1, PDQ_BYTES)
    return (codes, np.fromiter((r.content_id for r in rows), np.int64, len(rows)),
            np.fromiter((r.bank_id for r in rows), np.int32, len(rows)))


def _pdq_rows():
    """Bank PDQ rows worth matching: low-quality hashes (flat pictures) match too much."""
    return (select(BankSignal.content_id, BankSignal.bank_id, BankSignal.value)
            .where(BankSignal.signal_type.in_(INDEXED_TYPES))
            .where(BankSignal.quality.is_(None) | (BankSignal.quality >= PDQ_QUALITY_THRESHOLD)))
