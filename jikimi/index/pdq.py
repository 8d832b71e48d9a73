"""Exact in-memory PDQ index: every stored hash within a Hamming radius of a query.

Why it is exact (multi-index hashing, Norouzi et al. 2014): the first
``NUM_SUBSTRINGS * bits`` bits of a 256-bit hash are cut into ``NUM_SUBSTRINGS``
disjoint substrings of ``bits`` bits. If two hashes differ in at most ``r`` bits,
the pigeonhole principle says at least one substring differs in at most
``r // NUM_SUBSTRINGS`` bits. So looking up, for every substring, each bucket
whose key is within ``r // NUM_SUBSTRINGS`` bit flips of the query's key yields
a superset of the true matches; each candidate's full 256-bit distance is then
computed and the ones above ``r`` are dropped. Rows not yet in the tables (the
recent-add "tail") and radii where the tables would cost more than a scan are
handled by a FAISS brute-force Hamming scan. No path is approximate.

Why not ``faiss.IndexBinaryMultiHash``, which implements the same idea: its
tables are ``unordered_map``s of ``std::vector``s. With 16 x 16-bit substrings
a lookup at 1M hashes is slower than a flat scan; with ~23-bit substrings a
lookup is fast but 1M hashes take ~1 GB. Here the tables are two int32 arrays
(bucket offsets and row numbers): 44 bytes per hash plus the bucket array
(370 MB at 23 bits, used from a few million hashes). Figures: ``benchmarks/pdq_lookup.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import faiss
import numpy as np

PDQ_BITS = 256
PDQ_BYTES = PDQ_BITS // 8

# 11 substrings let radius 31 (the PDQ default threshold) be answered with at
# most 2 bit flips per substring: 11 * 277 bucket probes per query.
NUM_SUBSTRINGS = 11
# Substring width follows the index size (about one stored row per bucket),
# within these bounds. 23 bits * 11 substrings = 253 of the 256 bits are keyed.
MIN_SUBSTRING_BITS = 16
MAX_SUBSTRING_BITS = 23
# Rebuild the tables when the ideal width has grown by this many bits
# (the index has grown about 4x); smaller growth is merged in place.
REBUILD_BITS_STEP = 2
# Recent adds are scanned brute force (~0.1 ms at this size) until there are
# this many, then merged into the tables. Smaller indexes are only scanned.
TAIL_LIMIT = 32768
# Storage grows by this factor: amortized O(1) adds, small copy peak at 10M.
GROWTH_FACTOR = 1.25
# A flat scan compares one hash in ~1.5 ns; a table probe or candidate check
# costs about this many times more (measured, numpy). Picks tables vs scan.
TABLE_WORK_VS_SCAN = 60
# A batch of queries is searched this many at a time: bounded temporary arrays (about
# 20 MB of candidates per chunk at 10M hashes), numpy's per-call cost paid once per chunk.
BATCH_CHUNK = 128
# Row numbers and offsets are int32.
MAX_ROWS = (2**31 - 1) // NUM_SUBSTRINGS


def pdq_hex_to_bytes(hexes: Sequence[str]) -> np.ndarray:
    """Turn PDQ hex strings (64 hex digits each) into an (n, 32) uint8 array."""
    out = np.empty((len(hexes), PDQ_BYTES), dtype=np.uint8)
    for i, h in enumerate(hexes):
        if len(h) != 2 * PDQ_BYTES:
            raise ValueError(f"PDQ hash must be {2 * PDQ_BYTES} hex digits, got {len(h)}: {h!r}")
        out[i] = np.frombuffer(bytes.fromhex(h), dtype=np.uint8)
    return out


class PDQIndex:
    """Exact Hamming range search over PDQ hashes, with incremental adds.

    Not thread-safe: serialise ``add`` with searches running in other threads.

    ``ids`` are the caller's int64 labels; the same id or the same hash may be
    added several times, and each stored (hash, id) row is reported separately.
    """

    def __init__(self, max_radius: int = 31) -> None:
        self.max_radius = 0
        self.ensure_radius(max_radius)
        self._codes = np.empty((0, PDQ_BYTES), dtype=np.uint8)
        self._ids = np.empty(0, dtype=np.int64)
        self._size = 0
        self._tables: _SubstringTables | None = None

    def __len__(self) -> int:
        return self._size

    def ensure_radius(self, radius: int) -> None:
        """Allow searches up to ``radius`` (e.g. a bank with a looser threshold)."""
        if not 0 <= radius <= PDQ_BITS:
            raise ValueError(f"radius must be between 0 and {PDQ_BITS}, got {radius}")
        self.max_radius = max(self.max_radius, radius)

    def add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Store hashes (n, 32) uint8 under ids (n,); searchable immediately."""
        hashes = _as_codes(hashes)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(hashes):
            raise ValueError(f"got {len(hashes)} hashes but {len(ids)} ids")
        new_size = self._size + len(hashes)
        if new_size > MAX_ROWS:
            raise ValueError(f"a PDQIndex holds at most {MAX_ROWS} hashes")
        if new_size > len(self._codes):
            self._grow(new_size)
        self._codes[self._size : new_size] = hashes
        self._ids[self._size : new_size] = ids
        self._size = new_size
        if self._size - self._indexed > TAIL_LIMIT:
            self._index_tail()

    def search(self, queries: np.ndarray, radius: int) -> list[list[tuple[int, int]]]:
        """Per query, every stored (id, distance) with distance <= radius,
        sorted by distance then id."""
        if radius > self.max_radius:
            raise ValueError(
                f"radius {radius} exceeds this index's max_radius {self.max_radius}; "
                "call ensure_radius() first"
            )
        queries = _as_codes(queries)
        codes = self._codes[: self._size]
        if self._tables is None or not self._tables.worth_it(radius):
            return [self._results(rows, dists) for rows, dists in _scan(queries, codes, radius)]
        tail = _scan(queries, codes[self._indexed :], radius, first_row=self._indexed)
        if len(queries) > 1:
            found = self._tables.search_many(queries, codes, radius)
        else:
            found = [self._tables.search(queries[0], codes, radius)]
        return [self._results(np.concatenate([rows, tail_rows]), np.concatenate([dists, tail_dists]))
                for (rows, dists), (tail_rows, tail_dists) in zip(found, tail)]

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """The index as arrays and numbers, for a snapshot on disk (`from_arrays` takes them back)."""
        arrays = {"codes": self._codes[: self._size], "ids": self._ids[: self._size]}
        numbers = {"max_radius": self.max_radius, "table_bits": 0, "table_size": 0}
        if self._tables is not None:
            arrays |= {"offsets": self._tables.offsets, "rows": self._tables.rows}
            numbers |= {"table_bits": self._tables.bits, "table_size": self._tables.size}
        return arrays, numbers

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], numbers: dict[str, int]) -> PDQIndex:
        """The index `arrays()` described, its tables taken as they are (nothing re-sorted);
        without tables (`table_bits` 0), they are built as `add` would."""
        index = cls(numbers["max_radius"])
        index._codes, index._ids, index._size = _as_codes(arrays["codes"]), arrays["ids"], len(arrays["ids"])
        if numbers["table_bits"]:
            index._tables = _SubstringTables(numbers["table_bits"], numbers["table_size"],
                                             arrays["offsets"], arrays["rows"])
        if index._size - index._indexed > TAIL_LIMIT:
            index._index_tail()
        return index

    @property
    def _indexed(self) -> int:
        """Rows [0, _indexed) are in the tables; the rest are scanned."""
        return 0 if self._tables is None else self._tables.size

    def _grow(self, min_capacity: int) -> None:
        capacity = max(min_capacity, int(GROWTH_FACTOR * len(self._codes)))
        codes = np.empty((capacity, PDQ_BYTES), dtype=np.uint8)
        ids = np.empty(capacity, dtype=np.int64)
        codes[: self._size] = self._codes[: self._size]
        ids[: self._size] = self._ids[: self._size]
        self._codes, self._ids = codes, ids

    def _index_tail(self) -> None:
        codes = self._codes[: self._size]
        bits = _substring_bits(self._size)
        if self._tables is None or bits >= self._tables.bits + REBUILD_BITS_STEP:
            self._tables = _SubstringTables.build(codes, bits)
        else:
            self._tables.merge(codes)

    def _results(self, rows: np.ndarray, dists: np.ndarray) -> list[tuple[int, int]]:
        ids = self._ids[rows]
        order = np.lexsort((ids, dists))
        return list(zip(ids[order].tolist(), dists[order].tolist()))


class _SubstringTables:
    """For each substring, stored rows grouped by the substring's value (CSR).

    Bucket ``g = j * 2**bits + key`` of substring ``j`` holds the row numbers
    ``rows[offsets[g]:offsets[g + 1]]``.
    """

    def __init__(self, bits: int, size: int, offsets: np.ndarray, rows: np.ndarray) -> None:
        self.bits = bits
        self.size = size
        self.offsets = offsets
        self.rows = rows
        self._bucket_base = np.arange(NUM_SUBSTRINGS, dtype=np.int64)[:, None] << bits

    @classmethod
    def build(cls, codes: np.ndarray, bits: int) -> _SubstringTables:
        n, buckets = len(codes), 1 << bits
        offsets = np.zeros(NUM_SUBSTRINGS * buckets + 1, dtype=np.int32)
        rows = np.empty(NUM_SUBSTRINGS * n, dtype=np.int32)
        # Sorting (key, row) packed in one uint64 is twice as fast as a stable argsort of keys.
        row_bits = max(1, (n - 1).bit_length())
        packed_rows = np.arange(n, dtype=np.uint64)
        for j in range(NUM_SUBSTRINGS):
            keys = _substring_keys(codes, j, bits)
            packed = (keys.view(np.uint64) << np.uint64(row_bits)) | packed_rows
            packed.sort()
            rows[j * n : (j + 1) * n] = packed & np.uint64((1 << row_bits) - 1)
            ends = np.cumsum(np.bincount(keys, minlength=buckets))
            offsets[j * buckets + 1 : (j + 1) * buckets + 1] = j * n + ends
        return cls(bits, n, offsets, rows)

    def merge(self, codes: np.ndarray) -> None:
        """Insert rows [size, len(codes)) into their buckets (no re-sort)."""
        new_rows = np.arange(self.size, len(codes), dtype=np.int32)
        tail, buckets = codes[self.size :], 1 << self.bits
        keys = [_substring_keys(tail, j, self.bits) for j in range(NUM_SUBSTRINGS)]
        insert_at = np.concatenate([self.offsets[j * buckets + k + 1] for j, k in enumerate(keys)])
        for j, k in enumerate(keys):
            inserted = j * len(new_rows) + np.cumsum(np.bincount(k, minlength=buckets))
            self.offsets[j * buckets + 1 : (j + 1) * buckets + 1] += inserted.astype(np.int32)
        self.rows = np.insert(self.rows, insert_at, np.tile(new_rows, NUM_SUBSTRINGS))
        self.size = len(codes)

    def worth_it(self, radius: int) -> bool:
        """Whether probing the tables is expected to beat scanning every row."""
        probes = NUM_SUBSTRINGS * _ball_size(self.bits, radius // NUM_SUBSTRINGS)
        candidates = probes * self.size / (1 << self.bits)
        return TABLE_WORK_VS_SCAN * (probes + candidates) < self.size

    def search(self, query: np.ndarray, codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows within ``radius`` of one query, and their distances."""
        keys = _query_keys(query, self.bits)
        flips = _flip_masks(self.bits, radius // NUM_SUBSTRINGS)
        probes = ((keys ^ flips) + self._bucket_base).ravel()
        # ndarray.take: about twice as fast as fancy indexing for these random gathers.
        starts = self.offsets.take(probes)
        lengths = self.offsets.take(probes + 1) - starts
        # Concatenate the bucket ranges [start, start + length) without a Python loop.
        skip = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        candidates = self.rows.take(skip + np.arange(len(skip)))
        dists = _distances(query, codes.take(candidates, axis=0))
        hit = dists <= radius
        rows, first = np.unique(candidates[hit], return_index=True)
        return rows, dists[hit][first]


    def search_many(self, queries: np.ndarray, codes: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """`search` for many queries at once: the same probes and checks as whole-array
        operations, in chunks of BATCH_CHUNK queries (a batch lookup pays numpy's per-call
        overhead once per chunk, not once per query)."""
        out = []
        for start in range(0, len(queries), BATCH_CHUNK):
            out.extend(self._search_chunk(queries[start : start + BATCH_CHUNK], codes, radius))
        return out

    def _search_chunk(self, queries: np.ndarray, codes: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        keys = np.stack([_substring_keys(queries, j, self.bits) for j in range(NUM_SUBSTRINGS)], axis=1)
        flips = _flip_masks(self.bits, radius // NUM_SUBSTRINGS)
        probes = ((keys[:, :, None] ^ flips[None, None, :]) + self._bucket_base[None, :, :]).reshape(len(queries), -1)
        starts = self.offsets.take(probes)
        lengths = (self.offsets.take(probes + 1) - starts).ravel()
        starts = starts.ravel()
        skip = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        candidates = self.rows.take(skip + np.arange(len(skip)))
        owner = np.repeat(np.arange(len(queries)), lengths.reshape(len(queries), -1).sum(axis=1))
        dists = _distances(queries[owner], codes.take(candidates, axis=0))
        hit = dists <= radius
        # One (query, row) per hit: a row found through several substrings is counted once.
        pairs, first = np.unique(owner[hit] * len(codes) + candidates[hit], return_index=True)
        hit_dists = dists[hit][first]
        bounds = np.searchsorted(pairs, np.arange(len(queries) + 1) * len(codes))
        return [(pairs[a:b] - q * len(codes), hit_dists[a:b]) for q, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def _as_codes(hashes: np.ndarray) -> np.ndarray:
    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    if hashes.ndim != 2 or hashes.shape[1] != PDQ_BYTES:
        raise ValueError(f"PDQ hashes must be an (n, {PDQ_BYTES}) uint8 array, got shape {hashes.shape}")
    return hashes


def _substring_bits(size: int) -> int:
    return min(MAX_SUBSTRING_BITS, max(MIN_SUBSTRING_BITS, math.ceil(math.log2(size)) + 1))


def _substring_keys(codes: np.ndarray, j: int, bits: int) -> np.ndarray:
    """Substring ``j``: bits [j*bits, (j+1)*bits) of each code, bit 0 being the
    most significant bit of byte 0 (the order of the hex string)."""
    first_byte, shift = divmod(j * bits, 8)
    acc = np.zeros(len(codes), dtype=np.int64)
    # shift + bits <= 7 + 23 < 32, so four bytes hold the substring; a byte past
    # the end is never part of it (clamped only to stay in bounds).
    for k in range(4):
        acc = (acc << 8) | codes[:, min(first_byte + k, PDQ_BYTES - 1)]
    return (acc >> (32 - shift - bits)) & ((1 << bits) - 1)


def _query_keys(query: np.ndarray, bits: int) -> np.ndarray:
    """The same substrings as ``_substring_keys`` for one query, as an (n, 1) column."""
    value = int.from_bytes(query.tobytes(), "big")
    mask = (1 << bits) - 1
    keys = [(value >> (PDQ_BITS - (j + 1) * bits)) & mask for j in range(NUM_SUBSTRINGS)]
    return np.array(keys, dtype=np.int64)[:, None]


@lru_cache(maxsize=None)
def _flip_masks(bits: int, max_flips: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``max_flips`` bits set."""
    masks = [
        sum(1 << b for b in chosen)
        for flips in range(min(max_flips, bits) + 1)
        for chosen in itertools.combinations(range(bits), flips)
    ]
    return np.array(masks, dtype=np.int64)


def _ball_size(bits: int, max_flips: int) -> int:
    return sum(math.comb(bits, f) for f in range(min(max_flips, bits) + 1))


def _distances(query: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Hamming distances of codes (n, 32) to one query (32,) or to one query each (n, 32)."""
    counts = np.bitwise_count(codes.view(np.uint64) ^ query.view(np.uint64))
    # Four columns added by hand: numpy's sum over a 4-wide axis costs five times more.
    return counts[:, 0].astype(np.int64) + counts[:, 1] + counts[:, 2] + counts[:, 3]


def _scan(
    queries: np.ndarray, codes: np.ndarray, radius: int, first_row: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brute-force range search with FAISS; per query, (rows, distances).

    ``faiss.match_hamming_thres`` is inclusive and single-threaded: for one query,
    OpenMP start-up in ``hamming_range_search`` costs more than the scan on a busy machine.
    """
    if len(codes) == 0:
        return [(np.empty(0, np.int64), np.empty(0, np.int64)) for _ in queries]
    pairs = np.empty((len(codes), 2), dtype=np.int64)  # (query, row) per match
    dists = np.empty(len(codes), dtype=np.int32)
    out = []
    for query in queries:
        found = faiss.match_hamming_thres(
            faiss.swig_ptr(query), faiss.swig_ptr(codes), 1, len(codes), radius,
            PDQ_BYTES, faiss.swig_ptr(pairs), faiss.swig_ptr(dists),
        )
        out.append((pairs[:found, 1] + first_row, dists[:found].astype(np.int64)))
    return out
