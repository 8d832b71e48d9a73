"""Matchers kept current by the banks' change feed: restart time, freshness, memory under load.

    python benchmarks/matcher_feed.py --size 1000000 --seconds 30

Stores `--size` random PDQ hashes in one bank (SQLite, or PostgreSQL when
JIKIMI_DATABASE_URL is set; `benchmarks/api_lookup.py` fills it), then starts two server
processes A and B on that database and measures:
- start to serving: from starting a server process to its first answer with the index loaded
  (`/m/index/status`), for A and B, and the index load alone;
- the baseline in the same run: the load the platform API did before the feed
  (`match.Matcher.refresh`, a Python object per row), in its own process, on the same database;
- a soak: `--clients` concurrent HTTP clients for `--seconds`, most looking up on B, a few
  adding hashes through A and timing each until B matches it (freshness: p50, p99, max);
  errors, lookups/s, and B's RSS after warm-up and at the end (growth in %). Under load, B's
  answers wait in its queue: the soak's freshness is mostly that wait;
- so freshness again without load: `--quiet-adds` hashes added one at a time through A, each
  timed until B's answer matches it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from api_lookup import SERVER, fill_workspace, free_port, make_hashes, rss_gb, until_serving

ADDERS = 5  # of the clients, these add through A and wait for B; the rest look up on B
WARM_UP_SECONDS = 5.0
PLANTED = 500  # near-duplicates of stored hashes looked up after a restart (--restart)
RADIUS = 31  # they are up to this many bits away: the bank's threshold
CHANGES_AFTER = 200  # hashes added (and half as many contents deleted) after the snapshot
LOOKUP_CLIENTS = 20
FILLED = ".bench-filled"  # in a kept --home: "size token" once the hashes are stored
FRESHNESS_POLL_SECONDS = 0.01
BASELINE = """
import json, sys, time
from pathlib import Path
from jikimi.match import Matcher
from jikimi.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
started = time.perf_counter()
matcher = Matcher()
with ws.session() as session:
    matcher.refresh(session)
load = time.perf_counter() - started
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024**2
print(json.dumps({"load_s": load, "rows": len(matcher.index), "peak_rss_gb": peak}))
"""


def fill(home: Path, stored: np.ndarray) -> str:
    """`fill_workspace`, with PostgreSQL's rows sent by COPY (10M rows in minutes, not an hour),
    and one change in the feed (the bank's creation) for a snapshot to be anchored to."""
    from jikimi import bank_feed
    from jikimi.workspace import Workspace

    ws = Workspace(home)
    if not ws.database_url.startswith("postgresql"):
        token = fill_workspace(home, stored)
    else:
        token = fill_workspace(home, stored[:0])
        with ws.engine.begin() as connection:
            cursor = connection.connection.driver_connection.cursor()
            with cursor.copy("COPY bank_contents (id, bank_id, kind, label, created_at, disable_until_ts) "
                             "FROM STDIN") as copy:
                for i in range(1, len(stored) + 1):
                    copy.write(f"{i}\t1\timage\t\t2026-01-01 00:00:00+00\t1\n")
            with cursor.copy("COPY bank_signals (id, bank_id, content_id, signal_type, value) FROM STDIN") as copy:
                for i, row in enumerate(stored, 1):
                    copy.write(f"{i}\t1\t{i}\tpdq\t{row.tobytes().hex()}\n")
            for table in ("bank_contents", "bank_signals"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with ws.session() as session:
        bank_feed.record(session, "bank", 1)
    ws.engine.dispose()
    return token


def planted(stored: np.ndarray, count: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Near-duplicates of `count` stored hashes (1 to RADIUS bits flipped), and which ones they are."""
    rows = rng.choice(len(stored), count, replace=False)
    near = stored[rows].copy()
    for row in near:
        for bit in rng.choice(256, rng.integers(1, RADIUS + 1), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    return [row.tobytes().hex() for row in near], [int(r) for r in rows]


def recall(base: str, token: str, queries: list[str], expected: list[int], absent: list[str]) -> tuple[float, int]:
    """(share of queries that find their content, how many of `absent` were found anyway)."""
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        def found(pdq: str) -> list[int]:
            answer = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq})
            answer.raise_for_status()
            return answer.json()["matches"]

        hits = sum(content in found(q) for q, content in zip(queries, expected))
        wrong = sum(bool(found(q)) for q in absent)
    return hits / len(queries), wrong


def restart(home: Path, env: dict, token: str, stored: np.ndarray, query_hex: list[str], seconds: float) -> None:
    """Start to serving without a snapshot and with one (before and after changes), recall after
    a snapshot load plus the feed's changes, then lookups for `seconds` (RSS growth)."""
    from jikimi.core import Actor, Jikimi
    from jikimi.index import bank_snapshot
    from jikimi.workspace import Workspace

    rng = np.random.default_rng(11)
    near, rows = planted(stored, PLANTED, rng)
    near_ids = [row + 1 for row in rows]  # content i holds stored[i - 1]
    snapshot = bank_snapshot.path_for(home)
    snapshot.unlink(missing_ok=True)

    def serve(label: str, keep: bool = False):
        started = time.perf_counter()
        process, base = start_server(home, env)
        serving, load = until_serving(base, token, started)
        print(f"{label}: serving {serving:.1f} s after start (index load {load:.1f} s), "
              f"RSS {rss_gb(process.pid, 'VmRSS'):.2f} GB, peak {rss_gb(process.pid, 'VmHWM'):.2f} GB", flush=True)
        if keep:
            return process, base
        process.terminate()
        process.wait(60)

    serve("no snapshot (full load, then the snapshot written)")
    print(f"  snapshot: {snapshot.stat().st_size / 1024**3:.2f} GB", flush=True)
    serve("from the snapshot")
    platform, actor = Jikimi(Workspace(home)).platform, Actor.cli()
    added = rng.integers(0, 256, (CHANGES_AFTER, 32), dtype=np.uint8)
    added_ids = [platform.add_signals(actor, "BENCH", {"pdq": code.tobytes().hex()}, None)["id"] for code in added]
    removed = [int(i) + 1 for i in rng.choice(len(stored), CHANGES_AFTER // 2, replace=False) if int(i) + 1 not in near_ids]
    deleted = sum(platform.delete_content(actor, "BENCH", content_id) for content_id in removed)
    print(f"after the snapshot: {len(added_ids)} hashes added, {deleted} contents deleted "
          "(a kept --home already lacks those an earlier run deleted)", flush=True)
    process, base = serve("from the snapshot + the feed's changes since", keep=True)
    try:
        added_near, rows = planted(added, len(added), rng)
        share, wrong = recall(base, token, near + added_near, near_ids + [added_ids[row] for row in rows],
                              [stored[i - 1].tobytes().hex() for i in removed])
        print(f"  recall at radius {RADIUS}: {share:.4f} of {len(near)} planted near-duplicates of stored hashes "
              f"and {len(added)} of hashes added after the snapshot; deleted contents found: {wrong}", flush=True)
        result = asyncio.run(soak(base, base, token, query_hex, LOOKUP_CLIENTS, seconds, process.pid))
        print(f"  lookups for {seconds:.0f} s ({LOOKUP_CLIENTS} clients, {ADDERS} of them adding): "
              f"{result['lookups_per_s']:.0f}/s, errors {result['errors']}, RSS {result['rss_warm_gb']:.2f} GB "
              f"after warm-up -> {result['rss_end_gb']:.2f} GB ({result['rss_growth_percent']:+.1f} %), "
              f"peak {rss_gb(process.pid, 'VmHWM'):.2f} GB", flush=True)
    finally:
        process.terminate()
        process.wait(60)


def start_server(home: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(home), str(port)], env=env)
    return process, f"http://127.0.0.1:{port}"


async def soak(a: str, b: str, token: str, queries: list[str], clients: int, seconds: float, b_pid: int) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    rng = np.random.default_rng(99)
    lookups, errors, freshness, asked_after, latencies = 0, 0, [], [], []
    rss = {}
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=b, headers=headers, limits=limits, timeout=60) as on_b, \
            httpx.AsyncClient(base_url=a, headers=headers, timeout=60) as on_a:

        async def looker(k: int) -> None:
            nonlocal lookups, errors
            i = k
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    answer = await on_b.get("/m/raw_lookup", params={"signal_type": "pdq",
                                                                     "signal": queries[i % len(queries)]})
                    errors += answer.status_code != 200
                except httpx.TransportError:
                    errors += 1
                latencies.append(time.perf_counter() - sent)
                lookups += 1
                i += clients

        async def adder() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                pdq = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
                try:
                    added = await on_a.post("/c/bank/BENCH/signal", json={"pdq": pdq})
                    added.raise_for_status()
                    content_id = added.json()["id"]
                    since = time.perf_counter()
                    while True:
                        sent = time.perf_counter()
                        seen = await on_b.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq})
                        seen.raise_for_status()
                        if content_id in seen.json()["matches"]:
                            break
                        await asyncio.sleep(FRESHNESS_POLL_SECONDS)
                    freshness.append(time.perf_counter() - since)
                    asked_after.append(sent - since)
                except (httpx.TransportError, httpx.HTTPStatusError):
                    errors += 1

        async def sample_rss() -> None:
            await asyncio.sleep(WARM_UP_SECONDS)
            rss["warm"] = rss_gb(b_pid, "VmRSS")

        started = time.perf_counter()
        await asyncio.gather(sample_rss(), *(adder() for _ in range(ADDERS)),
                             *(looker(k) for k in range(clients - ADDERS)))
        elapsed = time.perf_counter() - started
    rss["end"] = rss_gb(b_pid, "VmRSS")
    fresh, asked, latency = np.array(freshness), np.array(asked_after), np.array(latencies)
    return {"lookups_per_s": lookups / elapsed, "adds": len(fresh), "errors": errors,
            "lookup_p50_ms": 1000 * np.percentile(latency, 50), "lookup_p99_ms": 1000 * np.percentile(latency, 99),
            "asked_p50_ms": 1000 * np.percentile(asked, 50), "asked_p99_ms": 1000 * np.percentile(asked, 99),
            "freshness_p50_ms": 1000 * np.percentile(fresh, 50), "freshness_p99_ms": 1000 * np.percentile(fresh, 99),
            "freshness_max_ms": 1000 * fresh.max(), "rss_warm_gb": rss["warm"], "rss_end_gb": rss["end"],
            "rss_growth_percent": 100 * (rss["end"] - rss["warm"]) / rss["warm"]}


def quiet_freshness(a: str, b: str, token: str, adds: int) -> dict:
    """Adds through A one at a time, each timed until B matches it (no other load)."""
    import httpx

    rng = np.random.default_rng(100)
    delays = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(adds):
            pdq = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
            content_id = client.post(f"{a}/c/bank/BENCH/signal", json={"pdq": pdq}).json()["id"]
            since = time.perf_counter()
            while content_id not in client.get(f"{b}/m/raw_lookup",
                                               params={"signal_type": "pdq", "signal": pdq}).json()["matches"]:
                time.sleep(FRESHNESS_POLL_SECONDS)
            delays.append(time.perf_counter() - since)
    delays = np.array(delays)
    return {"p50_ms": 1000 * np.percentile(delays, 50), "p99_ms": 1000 * np.percentile(delays, 99),
            "max_ms": 1000 * delays.max()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--quiet-adds", type=int, default=50)
    parser.add_argument("--no-baseline", action="store_true", help="skip the old load (slow, ~0.9 KB per hash)")
    parser.add_argument("--load-only", action="store_true",
                        help="start one server, report its start to serving and RSS, and stop (large sizes)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--restart", action="store_true",
                        help="restarts with and without the index snapshot, recall after one, RSS under lookups")
    parser.add_argument("--home", type=Path, help="keep the filled workspace here and reuse it in later runs "
                        "(same --size and --seed, same JIKIMI_DATABASE_URL)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="jikimi-feed-bench-")) / "home"
    stored, queries = make_hashes(args.size, args.seed)
    filled = home / FILLED
    if filled.exists() and filled.read_text().split()[0] == str(args.size):
        token = filled.read_text().split()[1]
        print(f"reusing the {args.size:,} hashes stored in {home}", flush=True)
    else:
        started = time.perf_counter()
        token = fill(home, stored)
        filled.write_text(f"{args.size} {token}")
        print(f"stored {args.size:,} hashes in {time.perf_counter() - started:.0f} s", flush=True)
    query_hex = [row.tobytes().hex() for row in queries]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if args.restart:
        restart(home, env, token, stored, query_hex, args.seconds)
        return
    del stored

    if args.load_only:
        started = time.perf_counter()
        process, base = start_server(home, env)
        try:
            serving, load = until_serving(base, token, started)
            print(f"{args.size:,} stored hashes: serving {serving:.1f} s after start (index load {load:.1f} s), "
                  f"RSS {rss_gb(process.pid, 'VmRSS'):.2f} GB, peak {rss_gb(process.pid, 'VmHWM'):.2f} GB")
        finally:
            process.terminate()
            process.wait(60)
        return
    servers = []
    try:
        timings = {}
        for name in ("A", "B"):
            started = time.perf_counter()
            process, base = start_server(home, env)
            servers.append((process, base))
            timings[name] = until_serving(base, token, started)
            print(f"{name}: serving {timings[name][0]:.1f} s after start (index load {timings[name][1]:.1f} s), "
                  f"RSS {rss_gb(process.pid, 'VmRSS'):.2f} GB", flush=True)
        (_, a), (b_process, b) = servers
        result = asyncio.run(soak(a, b, token, query_hex, args.clients, args.seconds, b_process.pid))
        print(f"soak: {json.dumps(result)}", flush=True)
        quiet = quiet_freshness(a, b, token, args.quiet_adds)
        print(f"quiet: {json.dumps(quiet)}", flush=True)
        peak = rss_gb(b_process.pid, "VmHWM")
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(60)
    baseline = None
    if not args.no_baseline:
        baseline = json.loads(subprocess.run([sys.executable, "-c", BASELINE, str(home)], env=env, check=True,
                                             capture_output=True, text=True).stdout)
        print(f"baseline (Matcher.refresh, before the feed): {json.dumps(baseline)}", flush=True)

    load = min(t[1] for t in timings.values())
    print(f"\n{args.size:,} stored hashes; {args.clients} concurrent clients for {args.seconds:.0f} s "
          f"({ADDERS} adding through A, the rest looking up on B)")
    print(f"  start to serving   A {timings['A'][0]:.1f} s, B {timings['B'][0]:.1f} s (index load {load:.1f} s)")
    print(f"  soak               {result['lookups_per_s']:.0f} lookups/s on B, {result['adds']} adds, "
          f"errors {result['errors']}")
    print(f"  lookups on B       p50 {result['lookup_p50_ms']:.0f} ms, p99 {result['lookup_p99_ms']:.0f} ms "
          "(the queue every answer below also waits in)")
    print(f"  freshness A -> B   first matching answer p50 {result['freshness_p50_ms']:.0f} ms, "
          f"p99 {result['freshness_p99_ms']:.0f} ms, max {result['freshness_max_ms']:.0f} ms; "
          f"that request was sent after p50 {result['asked_p50_ms']:.0f} ms, p99 {result['asked_p99_ms']:.0f} ms")
    print(f"  freshness, quiet   {args.quiet_adds} adds one at a time: p50 {quiet['p50_ms']:.0f} ms, "
          f"p99 {quiet['p99_ms']:.0f} ms, max {quiet['max_ms']:.0f} ms")
    print(f"  B's RSS            {result['rss_warm_gb']:.2f} GB after warm-up, {result['rss_end_gb']:.2f} GB at the end "
          f"({result['rss_growth_percent']:+.1f} %), peak {peak:.2f} GB")
    if baseline:
        print(f"  baseline load      {baseline['load_s']:.1f} s, peak RSS {baseline['peak_rss_gb']:.2f} GB "
              f"(Matcher.refresh, the load before the feed)")
        print(f"  ratios             load {baseline['load_s'] / load:.1f}x faster, "
              f"peak RSS {peak / baseline['peak_rss_gb']:.2f}x")


if __name__ == "__main__":
    main()
