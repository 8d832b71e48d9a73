"""PDQ lookup benchmark: jikimi.index.pdq.PDQIndex against a FAISS brute-force scan.

    python benchmarks/pdq_lookup.py --sizes 1000000,10000000

Each size runs in its own subprocess so peak memory figures do not mix. Stored
hashes are random; each query has one stored copy at a random distance
0..radius (random bit flips). Recall is checked against
faiss.IndexBinaryFlat.range_search on the same queries and must be 1.0.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import faiss
import numpy as np

from jikimi.index.pdq import PDQIndex, TAIL_LIMIT


def planted_data(size: int, num_queries: int, radius: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random stored hashes and queries; each query has a stored copy 0..radius bits away."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(num_queries, 32), dtype=np.uint8)
    for i, row in enumerate(rng.choice(size, num_queries, replace=False)):
        bits = np.unpackbits(queries[i])
        bits[rng.choice(256, rng.integers(0, radius + 1), replace=False)] ^= 1
        codes[row] = np.packbits(bits)
    return codes, queries


def measure(size: int, num_queries: int, radius: int, seed: int) -> dict:
    faiss.omp_set_num_threads(1)  # single-query latency, one core, for both sides
    rng = np.random.default_rng(seed + 1)
    codes, queries = planted_data(size, num_queries, radius, seed)
    ids = np.arange(size, dtype=np.int64)
    rss_data = _maxrss_gb()

    start = time.perf_counter()
    index = PDQIndex(max_radius=radius)
    index.add(codes, ids)
    build_s = time.perf_counter() - start
    del codes, ids  # the index holds its own copy
    latencies, cpu, results = _time_searches(index.search, queries, radius)

    extra = rng.integers(0, 256, size=(TAIL_LIMIT + 100, 32), dtype=np.uint8)
    add_ms = []
    for i in range(100):  # the first one also grows the storage (capacity doubling)
        start = time.perf_counter()
        index.add(extra[i : i + 1], np.array([-1 - i]))
        add_ms.append((time.perf_counter() - start) * 1e3)
    found_next = index.search(extra[99:100], 0) == [[(-100, 0)]]
    start = time.perf_counter()
    index.add(extra[100:], np.full(TAIL_LIMIT, -1))  # fills the tail: merged into the tables
    merge_s = time.perf_counter() - start
    rss_index = _maxrss_gb()  # peak so far: data, index build, searches, adds, one merge
    del index, extra

    flat = faiss.IndexBinaryFlat(256)
    flat.add(planted_data(size, num_queries, radius, seed)[0])

    def flat_search(q: np.ndarray, r: int) -> list[list[tuple[int, int]]]:
        lims, dists, labels = flat.range_search(q, r + 1)  # FAISS keeps distance < radius
        pairs = zip(labels.tolist(), dists.astype(int).tolist())
        found = list(pairs)
        return [sorted(found[a:b], key=lambda p: (p[1], p[0])) for a, b in zip(lims[:-1], lims[1:])]

    flat_latencies, flat_cpu, truth = _time_searches(flat_search, queries, radius)
    true_hits = sum(len(t) for t in truth)
    found_hits = sum(len(set(t) & set(r)) for t, r in zip(truth, results))
    extra_hits = sum(len(set(r) - set(t)) for t, r in zip(truth, results))
    return {
        "size": size,
        "build_s": build_s,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "flat_p50_ms": float(np.percentile(flat_latencies, 50)),
        "flat_cpu_p50_ms": float(np.percentile(flat_cpu, 50)),
        "flat_p99_ms": float(np.percentile(flat_latencies, 99)),
        "recall": found_hits / true_hits,
        "true_hits": true_hits,
        "wrong_hits": extra_hits,
        "add_first_ms": add_ms[0],
        "add_p50_ms": float(np.median(add_ms[1:])),
        "found_next": found_next,
        "merge_s": merge_s,
        "rss_data_gb": rss_data,
        "rss_peak_gb": rss_index,
    }


def _time_searches(search, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Wall and CPU milliseconds per single-query search (CPU time is immune to a busy machine)."""
    wall, cpu, results = [], [], []
    for i in range(len(queries)):
        start, start_cpu = time.perf_counter(), time.thread_time()
        results.extend(search(queries[i : i + 1], radius))
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.thread_time() - start_cpu) * 1e3)
    return np.array(wall), np.array(cpu), results


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.queries, args.radius, args.seed)))
        return

    print(f"radius {args.radius}, {args.queries} single-query searches per size, 1 thread")
    print(
        f"{'size':>11} {'build s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu p50':>7} {'flat p50':>9} {'flat p99':>9} "
        f"{'speedup p50':>11} {'recall':>6} {'add1 ms':>13} {'merge s':>7} {'data GB':>7} {'peak GB':>7}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        child = [sys.executable, __file__, "--one", str(size), "--queries", str(args.queries),
                 "--radius", str(args.radius), "--seed", str(args.seed)]
        r = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        print(
            f"{r['size']:>11,} {r['build_s']:>8.1f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} {r['cpu_p50_ms']:>7.3f} "
            f"{r['flat_p50_ms']:>9.3f} {r['flat_p99_ms']:>9.3f} {r['flat_cpu_p50_ms']:>8.3f} {r['flat_p50_ms'] / r['p50_ms']:>10.1f}x "
            f"{r['recall']:>6.3f} {r['add_first_ms']:>6.1f}/{r['add_p50_ms']:<6.3f} {r['merge_s']:>7.2f} "
            f"{r['rss_data_gb']:>7.2f} {r['rss_peak_gb']:>7.2f}"
        )
        print(
            f"{'':>11} true hits {r['true_hits']}, hits beyond radius {r['wrong_hits']}, "
            f"added hash found by next search: {r['found_next']}; "
            f"add1 = first single add (grows storage) / median of the next 99; "
            f"merge = one add of {TAIL_LIMIT} hashes that fills the tail; "
            f"data GB = peak RSS before the build (stored hashes + queries), peak GB = after build, searches, adds"
        )


if __name__ == "__main__":
    main()
