import numpy as np
import pytest

from jikimi.index import pdq
from jikimi.index.pdq import PDQIndex, pdq_hex_to_bytes


def random_hashes(rng, n):
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip_bits(code, positions):
    bits = np.unpackbits(code)
    bits[positions] ^= 1
    return np.packbits(bits)


def spread_positions(distance, substring_bits=23):
    """Flip positions spread evenly over the substrings: the pigeonhole worst case."""
    n = pdq.NUM_SUBSTRINGS
    return [(i % n) * substring_bits + i // n for i in range(distance)]


def brute_force(codes, ids, queries, radius):
    diff = queries.view(np.uint64)[:, None, :] ^ codes.view(np.uint64)[None, :, :]
    dists = np.bitwise_count(diff).sum(axis=2)
    out = []
    for row in dists:
        hits = np.flatnonzero(row <= radius)
        out.append(sorted((int(ids[h]), int(row[h])) for h in hits))
    return [sorted(r, key=lambda t: (t[1], t[0])) for r in out]


@pytest.fixture(params=["scan", "tables"])
def mode(request, monkeypatch):
    """Run each test on the flat scan and on the substring tables (forced at small sizes)."""
    if request.param == "tables":
        monkeypatch.setattr(pdq, "TAIL_LIMIT", 500)
        monkeypatch.setattr(pdq, "TABLE_WORK_VS_SCAN", 0)
    return request.param


@pytest.mark.parametrize("radius", [31, 45, 63])
def test_search_is_exact_against_brute_force(mode, radius):
    rng = np.random.default_rng(radius)
    base = random_hashes(rng, 2000)
    queries = base[rng.choice(len(base), 12, replace=False)]
    planted = []
    for q in queries:
        for d in range(radius + 2):  # radius + 1 must not be returned
            planted.append(flip_bits(q, rng.choice(256, d, replace=False)))
            planted.append(flip_bits(q, spread_positions(d, 16)))
            planted.append(flip_bits(q, spread_positions(d, 23)))
    codes = np.concatenate([base, np.array(planted)])
    ids = rng.permutation(len(codes)).astype(np.int64)
    index = PDQIndex(max_radius=radius)
    index.add(codes, ids)
    assert len(index) == len(codes)
    if mode == "tables":
        assert index._tables is not None

    got = index.search(queries, radius)

    assert got == brute_force(codes, ids, queries, radius)
    assert all(len(r) >= 3 * (radius + 1) for r in got)
    assert all(d <= radius for r in got for _, d in r)


def test_added_hash_is_found_by_the_next_search(mode, monkeypatch):
    monkeypatch.setattr(pdq, "MIN_SUBSTRING_BITS", 8)  # let growth trigger table rebuilds
    rng = np.random.default_rng(1)
    index = PDQIndex()
    codes, ids = np.empty((0, 32), np.uint8), np.empty(0, np.int64)
    for step in range(40):
        chunk = random_hashes(rng, int(rng.integers(1, 200)))
        chunk_ids = np.arange(len(codes), len(codes) + len(chunk))
        index.add(chunk, chunk_ids)
        codes, ids = np.concatenate([codes, chunk]), np.concatenate([ids, chunk_ids])
        query = flip_bits(chunk[-1], spread_positions(31))[None, :]
        got = index.search(query, 31)
        assert (int(chunk_ids[-1]), 31) in got[0]
        assert got == brute_force(codes, ids, query, 31)


def test_ids_with_duplicates(mode):
    rng = np.random.default_rng(2)
    a, b = random_hashes(rng, 2)
    near_a = flip_bits(a, [0, 100, 200])
    index = PDQIndex()
    index.add(np.stack([a, a, near_a, b]), np.array([7, 3, 7, 9]))
    index.add(random_hashes(rng, 1000), np.arange(100, 1100))

    assert index.search(a[None, :], 31) == [[(3, 0), (7, 0), (7, 3)]]
    assert index.search(np.stack([b, a]), 2) == [[(9, 0)], [(3, 0), (7, 0)]]


def test_empty_index_and_empty_queries():
    rng = np.random.default_rng(3)
    index = PDQIndex()
    assert len(index) == 0
    assert index.search(random_hashes(rng, 2), 31) == [[], []]
    index.add(random_hashes(rng, 5), np.arange(5))
    assert index.search(np.empty((0, 32), np.uint8), 31) == []


def test_radius_beyond_max_radius_needs_ensure_radius():
    rng = np.random.default_rng(4)
    q = random_hashes(rng, 1)
    index = PDQIndex(max_radius=31)
    index.add(q, np.array([1]))
    with pytest.raises(ValueError, match="ensure_radius"):
        index.search(q, 40)
    index.ensure_radius(40)
    assert index.search(q, 40) == [[(1, 0)]]


def test_pdq_hex_to_bytes():
    h = "f" * 8 + "0" * 54 + "a5"
    out = pdq_hex_to_bytes([h, h.upper()])
    assert out.shape == (2, 32) and out.dtype == np.uint8
    assert out[0, 0] == 0xFF and out[0, 31] == 0xA5 and (out[0] == out[1]).all()
    with pytest.raises(ValueError, match="64 hex digits"):
        pdq_hex_to_bytes(["abc"])


def test_bad_shapes_are_rejected():
    index = PDQIndex()
    with pytest.raises(ValueError, match="uint8 array"):
        index.add(np.zeros((2, 31), np.uint8), np.arange(2))
    with pytest.raises(ValueError, match="ids"):
        index.add(np.zeros((2, 32), np.uint8), np.arange(3))


def test_a_batch_finds_what_each_query_finds_alone(monkeypatch):
    """The batch path (whole-array probes, in chunks) answers as one query at a time does."""
    monkeypatch.setattr(pdq, "TAIL_LIMIT", 500)
    monkeypatch.setattr(pdq, "TABLE_WORK_VS_SCAN", 0)
    monkeypatch.setattr(pdq, "BATCH_CHUNK", 5)
    rng = np.random.default_rng(3)
    codes = random_hashes(rng, 3000)
    index = PDQIndex()
    index.add(codes, np.arange(len(codes)) * 7)
    index.add(codes[:100], np.arange(100) + 10**6)  # a tail not yet in the tables, and duplicate hashes
    queries = np.array([flip_bits(codes[i], rng.choice(256, i % 40, replace=False)) for i in range(23)]
                       + [random_hashes(rng, 1)[0], codes[5]])
    assert index._tables is not None and index._tables.size < len(index)

    batch = index.search(queries, 31)

    assert batch == [index.search(q[None], 31)[0] for q in queries]
    assert batch == brute_force(index._codes[:len(index)], index._ids[:len(index)], queries, 31)
    assert sum(map(len, batch)) > 20
