"""Platform API benchmark: HMA's `/m/raw_lookup` and our batch lookup over loopback HTTP,
against HMA's own matcher (threatexchange's PDQ index) on the same hashes in the same run.

    python benchmarks/api_lookup.py --size 1000000 --seconds 20 [--compare-with /path/to/older/tree]
    python benchmarks/api_lookup.py --size 1000000 --seconds 20 --workers 1 2 --no-baseline

Stores `--size` random PDQ hashes in one bank of a fresh workspace (SQLite, or PostgreSQL
when JIKIMI_DATABASE_URL is set), serves the app with uvicorn in its own process (one
worker; with `--workers 1 2` once per count, several as `jikimi serve --workers N` runs them),
and measures:
- single lookups: 50 concurrent clients (httpx, asyncio) for `--seconds`, half the queries
  a stored hash with 1-15 bits flipped, half random; lookups/s, p50 and p99 latency;
- batch lookups: `POST /m/lookup/batch` with 1,000 hashes from 4 clients at once, hashes/s;
- the server's peak RSS (VmHWM) and its RSS after warm-up;
- the CPU the server and the clients used (cores, and server CPU per lookup or per hash: on a
  machine shared with other work, what a lookup costs is the steadier figure);
- with `--compare-with TREE`: the same against the code of another checkout (e.g. the main
  branch before a change), served on the same workspace as it was before httptools and uvloop
  were dependencies (`--http h11 --loop asyncio`), in the same run;
- the baseline: threatexchange's `PDQIndex` (faiss `IndexBinaryMultiHash`, radius 31, what
  HMA's matcher serves from) built from the same hashes in its own process, queried in
  process (no HTTP) with the same queries: lookups/s on one thread, build time, peak RSS.
The clients share the machine's cores with the server (their CPU is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

CLIENTS = 50
BATCH = 1000
BATCH_CLIENTS = 4
QUERY_POOL = 20000
SERVER = """
import sys, uvicorn
from pathlib import Path
from jikimi.web import create_app
from jikimi.workspace import Workspace
uvicorn.run(create_app(Workspace(Path(sys.argv[1]))), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", access_log=False, timeout_keep_alive=120,
            http=(sys.argv[3:] or ["auto"])[0], loop=(sys.argv[4:] or ["auto"])[0])
"""
# Several processes as `jikimi serve --workers N` runs them: uvicorn's supervisor, one socket,
# each process's app made by the factory on $JIKIMI_HOME.
SERVERS = """
import sys, uvicorn
uvicorn.run("jikimi.web.app:create_app_for_server", factory=True, workers=int(sys.argv[2]), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning", access_log=False, timeout_keep_alive=120)
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


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process and its server processes (this one when None) so far."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    total = 0.0
    for one in [pid, *server_processes(pid)]:
        with open(f"/proc/{one}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def server_processes(pid: int) -> list[int]:
    """uvicorn's worker processes under the supervisor `pid` (none when it serves alone)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            command = (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == pid and b"multiprocessing.spawn" in command:
            found.append(int(proc.name))
    return found


def memory_gb(pid: int) -> dict:
    """RSS and PSS (resident pages shared with other processes counted in part) of one process."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        kb = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split(":")[0] in ("Rss", "Pss")}
    return {"rss": kb["Rss"] / 1024**2, "pss": kb["Pss"] / 1024**2}


def measured(pid: int, run, count: str) -> dict:
    """`run()`'s figures with the CPU the server (`pid`) and this process (the clients) used meanwhile."""
    server, clients, started = cpu_seconds(pid), cpu_seconds(), time.perf_counter()
    figures = run()
    elapsed = time.perf_counter() - started
    server, clients = cpu_seconds(pid) - server, cpu_seconds() - clients
    return {**figures, "server_cores": server / elapsed, "client_cores": clients / elapsed,
            "server_cpu_ms_each": 1000 * server / max(figures[count], 1)}


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
    """One bank holding every hash (one content each), and an admin API token. The first
    server loads every hash and writes the index snapshot; the next ones start from it, as a
    restart does (with several processes, mapping its pages once for all)."""
    from sqlalchemy import insert

    from jikimi import accounts, bank_feed
    from jikimi.store.models import Bank, BankContent, BankSignal
    from jikimi.workspace import Workspace

    ws = Workspace(home)
    ws.init()
    with ws.session() as session:
        user = accounts.add_user(session, "bench", "admin", "correct horse battery")
        token = accounts.create_token(session, user, "bench", scopes=("lookup", "curate"))
        session.add(Bank(id=1, name="BENCH", pdq_threshold=31))
        bank_feed.record(session, "bank", 1)  # as creating it through the API does: a snapshot is anchored to it
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
    """CLIENTS keep-alive connections, each asking one lookup after the other.

    A few lines of HTTP/1.1 over asyncio streams rather than httpx: httpx's client spends
    several milliseconds of CPU per request with 50 connections, more than the server, so
    on a shared 2-core machine it measured itself. The answers are still parsed and checked.
    """
    latencies, matched, errors = [], 0, 0
    host, port = base.removeprefix("http://").split(":")
    deadline = time.perf_counter() + seconds

    async def one_client(k: int) -> None:
        nonlocal matched, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = k
        try:
            while time.perf_counter() < deadline:
                query = urlencode({"signal_type": "pdq", "signal": queries[i % len(queries)]})
                i += CLIENTS
                started = time.perf_counter()
                writer.write(f"GET /m/raw_lookup?{query} HTTP/1.1\r\nHost: {host}\r\n"
                             f"Authorization: Bearer {token}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status, length = int(head.split(b" ", 2)[1]), 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
                else:
                    matched += bool(json.loads(body)["matches"])
        except (ConnectionError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(k) for k in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    times = np.array(latencies)
    return {"lookups": len(times), "lookups_per_s": len(times) / elapsed, "p50_ms": 1000 * np.percentile(times, 50),
            "p99_ms": 1000 * np.percentile(times, 99), "errors": errors, "matched": matched / len(times)}


def batch_lookups(base: str, token: str, queries: list[str], seconds: float) -> dict:
    """BATCH_CLIENTS clients, each posting one batch after the other (several, so that several
    server processes can be busy at once; the same count for every run)."""
    import httpx
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.perf_counter() + seconds

    def one_client(k: int) -> tuple[int, int]:
        done, matched, i = 0, 0, k * BATCH
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            while time.perf_counter() < deadline:
                batch = [queries[(i + j) % len(queries)] for j in range(BATCH)]
                answer = client.post("/m/lookup/batch", json={"signal_type": "pdq", "signals": batch})
                answer.raise_for_status()
                matched += sum(bool(r.get("matches")) for r in answer.json()["results"])
                done, i = done + BATCH, i + BATCH * BATCH_CLIENTS
        return done, matched

    started = time.perf_counter()
    with ThreadPoolExecutor(BATCH_CLIENTS) as pool:
        counts = list(pool.map(one_client, range(BATCH_CLIENTS)))
    elapsed = time.perf_counter() - started
    done, matched = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return {"hashes": done, "hashes_per_s": done / elapsed, "matched": matched / done}


def serve_and_measure(tree: Path, home: Path, token: str, queries: list[str], seconds: float,
                      http: str, loop: str, workers: int = 1) -> dict:
    """Serve the workspace with the code of `tree` (in `workers` processes), then single and
    batch lookups against it."""
    port = free_port()
    script = [SERVER, str(home), str(port), http, loop] if workers == 1 else [SERVERS, str(port), str(workers)]
    server = subprocess.Popen([sys.executable, "-c", *script],
                              env={**os.environ, "PYTHONPATH": str(tree), "JIKIMI_HOME": str(home)})
    base = f"http://127.0.0.1:{port}"
    try:
        _, load = until_serving(base, token, time.perf_counter())
        while len(serving := server_processes(server.pid) or [server.pid]) < workers:
            time.sleep(0.1)
        warm_up(base, token, queries, len(serving))
        memory = {pid: memory_gb(pid) for pid in serving}
        warm_rss = sum(m["rss"] for m in memory.values())
        print(f"{tree}: {workers} server process(es), index loaded in {load:.1f} s, per process "
              + ", ".join(f"RSS {m['rss']:.2f} GB PSS {m['pss']:.2f} GB" for m in memory.values()), flush=True)
        single = measured(server.pid, lambda: asyncio.run(single_lookups(base, token, queries, seconds)), "lookups")
        print(f"single: {json.dumps(single)}", flush=True)
        batch = measured(server.pid, lambda: batch_lookups(base, token, queries, seconds), "hashes")
        print(f"batch: {json.dumps(batch)}", flush=True)
        after = {pid: memory_gb(pid) for pid in serving}
        return {"single": single, "batch": batch, "load": load, "warm_rss": warm_rss, "workers": workers,
                "peak": max(rss_gb(pid, "VmHWM") for pid in serving), "after": sum(m["rss"] for m in after.values()),
                "pss": sum(m["pss"] for m in after.values()), "per_process": list(after.values())}
    finally:
        server.terminate()
        server.wait(30)


def warm_up(base: str, token: str, queries: list[str], processes: int) -> None:
    """Enough lookups on fresh connections that every server process has loaded its index
    (each loads on its first lookup; the kernel spreads new connections over the processes)."""
    import httpx

    for i in range(20 * processes):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=3600) as client:
            client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": queries[i]}).raise_for_status()


def report(name: str, run: dict) -> None:
    single, batch = run["single"], run["batch"]
    print(f"  {name}")
    print(f"    /m/raw_lookup     {single['lookups_per_s']:8.0f} lookups/s  p50 {single['p50_ms']:.1f} ms  "
          f"p99 {single['p99_ms']:.1f} ms  errors {single['errors']}  matched {single['matched']:.1%}  "
          f"server CPU {single['server_cpu_ms_each']:.2f} ms/lookup ({single['server_cores']:.2f} cores), "
          f"clients {single['client_cores']:.2f} cores")
    print(f"    /m/lookup/batch   {batch['hashes_per_s']:8.0f} hashes/s  matched {batch['matched']:.1%}  "
          f"server CPU {1000 * batch['server_cpu_ms_each']:.0f} us/hash ({batch['server_cores']:.2f} cores), "
          f"client {batch['client_cores']:.2f} cores")
    print(f"    server RSS        warm {run['warm_rss']:.2f} GB, after load {run['after']:.2f} GB, "
          f"peak {run['peak']:.2f} GB; index load {run['load']:.1f} s")
    print(f"    {run['workers']} process(es): RSS " + " + ".join(f"{m['rss']:.2f}" for m in run["per_process"])
          + f" GB, PSS total {run['pss']:.2f} GB; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare-with", type=Path, help="another checkout, served as before (h11, asyncio)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="server processes (as `jikimi serve --workers N`); several: one run each")
    parser.add_argument("--no-baseline", action="store_true", help="skip threatexchange's matcher")
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

    this = Path(__file__).resolve().parents[1]
    runs = {("this tree" if n == 1 else f"this tree, {n} processes"):
            serve_and_measure(this, root / "home", token, query_hex, args.seconds, "auto", "auto", n)
            for n in args.workers}
    if args.compare_with:
        runs[f"{args.compare_with} (h11, asyncio)"] = serve_and_measure(
            args.compare_with.resolve(), root / "home", token, query_hex, args.seconds, "h11", "asyncio")
    print(f"\n{args.size:,} stored hashes; {CLIENTS} concurrent HTTP clients; {BATCH_CLIENTS} batch clients, "
          f"batch of {BATCH}")
    for name, run in runs.items():
        report(name, run)
    ours_name, ours = next(iter(runs.items()))
    for name, run in list(runs.items())[1:len(args.workers)]:
        print(f"  {name} vs {ours_name}: single {run['single']['lookups_per_s'] / ours['single']['lookups_per_s']:.2f}x "
              f"lookups/s, batch {run['batch']['hashes_per_s'] / ours['batch']['hashes_per_s']:.2f}x hashes/s, "
              f"PSS {run['pss'] / ours['pss']:.2f}x")
    if not args.no_baseline:
        baseline = json.loads(subprocess.run(
            [sys.executable, "-c", BASELINE, str(root / "stored.npy"), str(root / "queries.npy"), str(args.seconds)],
            check=True, capture_output=True, text=True).stdout)
        print(f"  threatexchange    {baseline['lookups_per_s']:8.0f} lookups/s in process (one thread)  "
              f"p50 {baseline['p50_ms']:.2f} ms  p99 {baseline['p99_ms']:.2f} ms  build {baseline['build_s']:.0f} s  "
              f"peak RSS {baseline['peak_rss_gb']:.2f} GB  matched {baseline['matched']:.1%}")
        print(f"  ratios vs baseline: HTTP single {ours['single']['lookups_per_s'] / baseline['lookups_per_s']:.2f}x, "
              f"HTTP batch {ours['batch']['hashes_per_s'] / baseline['lookups_per_s']:.2f}x, "
              f"peak RSS {ours['peak'] / baseline['peak_rss_gb']:.2f}x")
    for name, run in list(runs.items())[len(args.workers):]:
        print(f"  this tree vs {name}: single {ours['single']['lookups_per_s'] / run['single']['lookups_per_s']:.1f}x "
              f"lookups/s, {run['single']['server_cpu_ms_each'] / ours['single']['server_cpu_ms_each']:.1f}x less "
              f"server CPU per lookup; batch {ours['batch']['hashes_per_s'] / run['batch']['hashes_per_s']:.1f}x "
              f"hashes/s, {run['batch']['server_cpu_ms_each'] / ours['batch']['server_cpu_ms_each']:.1f}x less "
              f"server CPU per hash")


if __name__ == "__main__":
    main()
