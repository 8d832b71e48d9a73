"""/healthz latency while many bad logins arrive at once: Argon2 on the event loop vs in the pool.

    python benchmarks/healthz_under_login_load.py --logins 50 --seconds 10

Serves a fresh workspace with uvicorn as `jikimi serve --forwarded-allow-ips 127.0.0.1`
does, in a child process, over real loopback HTTP. The client keeps `--logins` bad logins
in flight (made-up names, each from its own forwarded address, so throttling does not
answer for the pool) and asks /healthz every 50 ms meanwhile; the attackers run in a
child process of their own and /healthz is probed from this one, so neither client's
event loop skews the figure. Two servers are measured in the same run: the baseline
verifies passwords on the event loop (the code before this change, obtained by running
the pool's work inline) and the current one uses `jikimi.web.password_checks`. The target is a /healthz p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

HEALTH_INTERVAL = 0.05
TARGET_P95 = 0.100
CSRF = "t" * 43


def serve(mode: str, port: int) -> None:
    """The child process: one workspace, one server, until killed."""
    from jikimi.cli_web import server_config
    from jikimi.web import create_app
    from jikimi.web.password_checks import PasswordChecks
    from jikimi.workspace import open_workspace

    if mode == "event-loop":
        async def inline(self, work, *args):  # the baseline: verification blocks the loop
            return work(*args)
        PasswordChecks.run = inline
    import uvicorn

    uvicorn.Server(server_config(create_app(open_workspace()), "127.0.0.1", port, "127.0.0.1")).run()


async def attack(base: str, logins: int, seconds: float) -> Counter:
    """Keep `logins` bad logins in flight for `seconds`; the answers' status counts."""
    statuses: Counter = Counter()
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=logins, max_keepalive_connections=logins)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits, cookies={"jikimi_login": CSRF}) as client:
        async def attacker(n: int) -> None:
            i = 0
            while time.monotonic() < stop:
                i += 1
                answer = await client.post(
                    "/login", data={"name": f"nobody-{n}-{i}", "password": "not a password", "csrf_token": CSRF},
                    headers={"X-Forwarded-For": f"10.{n}.{i // 250}.{i % 250}"})
                statuses[answer.status_code] += 1

        await asyncio.gather(*(attacker(n) for n in range(logins)))
    return statuses


def probe(base: str, seconds: float) -> list[float]:
    """/healthz every HEALTH_INTERVAL from this process (the attackers' own loop would skew it)."""
    times, stop = [], time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < stop:
            start = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            times.append(time.perf_counter() - start)
            time.sleep(HEALTH_INTERVAL)
    return times


def measure(mode: str, home: Path, logins: int, seconds: float) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    child = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"the {mode} server did not start")
                time.sleep(0.1)
        idle = probe(base, 1.0)
        attackers = subprocess.Popen([sys.executable, __file__, "--attack", base, "--logins", str(logins),
                                      "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # let the logins pile up first
        times = probe(base, seconds - 2)
        statuses = json.loads(attackers.communicate(timeout=seconds + 300)[0])
    finally:
        child.terminate()
        child.wait(10)
    return {"mode": mode, "idle_p95": _p95(idle), "p50": statistics.median(times), "p95": _p95(times),
            "max": max(times), "samples": len(times), "statuses": dict(sorted(statuses.items()))}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=50, help="bad logins kept in flight")
    parser.add_argument("--seconds", type=float, default=10, help="how long each server is loaded")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    if args.attack:
        return print(json.dumps(asyncio.run(attack(args.attack, args.logins, args.seconds))))
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for mode in ("event-loop", "thread-pool"):
            home = Path(tmp) / mode
            subprocess.run([sys.executable, "-m", "jikimi", "init"], env={**os.environ, "JIKIMI_HOME": str(home)},
                           check=True, capture_output=True)
            rows.append(measure(mode, home, args.logins, args.seconds))
    print(f"/healthz under {args.logins} concurrent bad logins, {args.seconds:.0f} s each, over loopback HTTP")
    print(f"{'verification':<13} {'idle p95':>9} {'p50':>8} {'p95':>8} {'max':>8} {'samples':>8}  login answers")
    for r in rows:
        print(f"{r['mode']:<13} {r['idle_p95'] * 1000:>7.1f}ms {r['p50'] * 1000:>6.1f}ms {r['p95'] * 1000:>6.1f}ms "
              f"{r['max'] * 1000:>6.0f}ms {r['samples']:>8}  {r['statuses']}")
    baseline, current = rows
    print(f"p95 ratio event-loop / thread-pool: {baseline['p95'] / current['p95']:.1f}x; "
          f"target p95 < {TARGET_P95 * 1000:.0f} ms: {'met' if current['p95'] < TARGET_P95 else 'NOT met'}")


if __name__ == "__main__":
    main()
