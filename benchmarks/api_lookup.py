"""Platform API benchmark: HMA's `/m/raw_lookup` and our batch lookup over loopback HTTP,
against HMA's own matcher (threatexchange's PDQ index) on the same hashes in the same run.

    python benchmarks/api_lookup.py --size 1000000 --seconds 20

Stores `--size` random PDQ hashes in one bank of a fresh workspace (SQLite, or PostgreSQL
when JIKIMI_DATABASE_URL is set), serves the app with uvicorn in its own process (one
worker), and measures:
- single lookups: 50 concurrent clients (httpx, asyncio) for `--seconds`, half the queries
  a stored hash with 1-15 bits flipped, half random; lookups/s, p50 and p99 latency;
- batch lookups: `POST /m/lookup/batch` with 1,000 hashes, hashes/s;
- the server's peak RSS (VmHWM) and its RSS after warm-up;
- the baseline: threatexchange's `PDQIndex` (faiss `IndexBinaryMultiHash`, radius 31, what
  HMA's matcher serves from) built from the same hashes in its own process, queried in
  process (no HTTP) with the same queries: lookups/s on one thread, build time, peak RSS.
The client shares the machine's cores with the server: on 2 cores it takes about one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLIENTS = 50
BATCH = 1000
QUERY_POOL = 20000
SERVER = """
import sys, uvicorn
from pathlib import Path
from jikimi.web import create_app
from jikimi.workspace import Workspace
uvicorn.run(create_app(Workspace(Path(sys.argv[1]))), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", access_log=False, timeout_keep_alive=120)
"""
BASELINE = """
import json, sys, time, resource
import numpy as np
from threatexchange.signal_type.pdq.pdq_index import PDQIndex
stored, queries = np.load(sys.argv[1]), np.load(sys.argv[2])
hexes = [row.tobytes().hex() for row in stored]
started = time.perf_counter()
index = PDQIndex([(h, i) for i, h in enumerate(hexes)])
build = time.perf_counter() - started
del hexes
qhex = [row.tobytes().hex() for row in queries]
times, found = [], 0
deadline = time.perf_counter() + float(sys.argv[3])
while time.perf_counter() < deadline:
    for q in qhex[:2000]:
        t = time.perf_counter()
        found += bool(index.query(q))
        times.append(time.perf_counter() - t)
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024**2
times = np.array(times)
print(json.dumps({"build_s": build, "lookups_per_s": len(times) / times.sum(), "p50_ms": 1000 * np.percentile(times, 50),
                  "p99_ms": 1000 * np.percentile(times, 99), "matched": found / len(times), "peak_rss_gb": peak}))
"""


def until_serving(base: str, token: str, started: float) -> tuple[float, float]:
    """(seconds from `started` to the first answer with the index loaded, of which the load)."""
    import httpx

    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    asked = time.perf_counter()
    answer = httpx.get(f"{base}/m/index/status", headers={"Authorization": f"Bearer {token}"}, timeout=3600)
    answer.raise_for_status()
    done = time.perf_counter()
    return done - started, done - asked


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_gb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024**2


def make_hashes(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stored hashes, and queries: half a stored hash with 1-15 bits flipped, half random."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    near = stored[rng.integers(0, size, QUERY_POOL // 2)].copy()
    for row in near:
        for bit in rng.choice(256, rng.integers(1, 16), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    queries = np.concatenate([near, rng.integers(0, 256, (QUERY_POOL - len(near), 32), dtype=np.uint8)])
    rng.shuffle(queries)
    return stored, queries


def fill_workspace(home: Path, stored: np.ndarray) -> str:
    """One bank holding every hash (one content each), and an admin API token."""
    from sqlalchemy import insert

    from jikimi import accounts
    from jikimi.store.models import Bank, BankContent, BankSignal
    from jikimi.workspace import Workspace

    ws = Workspace(home)
    ws.init()
    with ws.session() as session:
        user = accounts.add_user(session, "bench", "admin", "correct horse battery")
        token = accounts.create_token(session, user, "bench", scopes=("lookup", "curate"))
        session.add(Bank(id=1, name="BENCH", pdq_threshold=31))
    chunk = 50000
    with ws.engine.begin() as connection:
        for start in range(0, len(stored), chunk):
            ids = range(start + 1, min(start + chunk, len(stored)) + 1)
            connection.execute(insert(BankContent), [{"id": i, "bank_id": 1, "kind": "image", "label": ""} for i in ids])
            connection.execute(insert(BankSignal), [
                {"id": i, "bank_id": 1, "content_id": i, "signal_type": "pdq", "value": stored[i - 1].tobytes().hex()}
                for i in ids])
        if connection.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("bank_contents", "bank_signals"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    ws.engine.dispose()
    return token


async def single_lookups(base: str, token: str, queries: list[str], seconds: float) -> dict:
    import httpx

    latencies, matched, errors = [], 0, 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) as client:

        async def one_client(k: int) -> None:
            nonlocal matched, errors
            i = k
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    answer = await client.get("/m/raw_lookup",
                                              params={"signal_type": "pdq", "signal": queries[i % len(queries)]})
                except httpx.TransportError:
                    errors += 1
                    continue
                finally:
                    latencies.append(time.perf_counter() - started)
                    i += CLIENTS
                if answer.status_code != 200:
                    errors += 1
                else:
                    matched += bool(answer.json()["matches"])

        started = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    times = np.array(latencies)
    return {"lookups": len(times), "lookups_per_s": len(times) / elapsed, "p50_ms": 1000 * np.percentile(times, 50),
            "p99_ms": 1000 * np.percentile(times, 99), "errors": errors, "matched": matched / len(times)}


def batch_lookups(base: str, token: str, queries: list[str], seconds: float) -> dict:
    import httpx

    done, matched, deadline = 0, 0, time.perf_counter() + seconds
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        started, i = time.perf_counter(), 0
        while time.perf_counter() < deadline:
            batch = [queries[(i + k) % len(queries)] for k in range(BATCH)]
            answer = client.post("/m/lookup/batch", json={"signal_type": "pdq", "signals": batch})
            answer.raise_for_status()
            matched += sum(bool(r.get("matches")) for r in answer.json()["results"])
            done, i = done + BATCH, i + BATCH
        elapsed = time.perf_counter() - started
    return {"hashes": done, "hashes_per_s": done / elapsed, "matched": matched / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jikimi-api-bench-"))
    stored, queries = make_hashes(args.size, args.seed)
    started = time.perf_counter()
    token = fill_workspace(root / "home", stored)
    print(f"stored {args.size:,} hashes in {time.perf_counter() - started:.0f} s", flush=True)
    np.save(root / "stored.npy", stored)
    np.save(root / "queries.npy", queries)
    query_hex = [row.tobytes().hex() for row in queries]
    del stored

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(root / "home"), str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _, load = until_serving(base, token, time.perf_counter())
        warm_rss = rss_gb(server.pid, "VmRSS")
        print(f"server index loaded in {load:.1f} s, RSS {warm_rss:.2f} GB", flush=True)
        single = asyncio.run(single_lookups(base, token, query_hex, args.seconds))
        print(f"single: {json.dumps(single)}", flush=True)
        batch = batch_lookups(base, token, query_hex, args.seconds)
        print(f"batch: {json.dumps(batch)}", flush=True)
        peak = rss_gb(server.pid, "VmHWM")
        after = rss_gb(server.pid, "VmRSS")
    finally:
        server.terminate()
        server.wait(30)
    baseline = json.loads(subprocess.run(
        [sys.executable, "-c", BASELINE, str(root / "stored.npy"), str(root / "queries.npy"), str(args.seconds)],
        check=True, capture_output=True, text=True).stdout)
    print(f"baseline threatexchange PDQIndex (in process, no HTTP): {json.dumps(baseline)}")
    print(f"\n{args.size:,} stored hashes; 50 concurrent HTTP clients; batch of {BATCH}")
    print(f"  /m/raw_lookup     {single['lookups_per_s']:8.0f} lookups/s  p50 {single['p50_ms']:.1f} ms  "
          f"p99 {single['p99_ms']:.1f} ms  errors {single['errors']}  matched {single['matched']:.1%}")
    print(f"  /m/lookup/batch   {batch['hashes_per_s']:8.0f} hashes/s  matched {batch['matched']:.1%}")
    print(f"  server RSS        warm {warm_rss:.2f} GB, after load {after:.2f} GB, peak {peak:.2f} GB; "
          f"index load {load:.1f} s")
    print(f"  threatexchange    {baseline['lookups_per_s']:8.0f} lookups/s in process (one thread)  "
          f"p50 {baseline['p50_ms']:.2f} ms  p99 {baseline['p99_ms']:.2f} ms  build {baseline['build_s']:.0f} s  "
          f"peak RSS {baseline['peak_rss_gb']:.2f} GB  matched {baseline['matched']:.1%}")
    print(f"  ratios vs baseline: HTTP single {single['lookups_per_s'] / baseline['lookups_per_s']:.2f}x, "
          f"HTTP batch {batch['hashes_per_s'] / baseline['lookups_per_s']:.2f}x, "
          f"peak RSS {peak / baseline['peak_rss_gb']:.2f}x")


if __name__ == "__main__":
    main()
