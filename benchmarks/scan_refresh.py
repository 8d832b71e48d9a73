"""A scan's matcher between items: `Matcher.refresh` when no bank changed, at N stored hashes.

A scan refreshes its matcher before every item. This checkout's matcher reads the banks'
change feed (one query when nothing changed). `--compare-with TREE` times another checkout's
matcher (e.g. the lead's tree, which topped up by row id with three queries) on the same
workspace in the same run, each in a fresh process, alternating, best of `--rounds`.

    python benchmarks/scan_refresh.py --size 200000 --calls 2000 --compare-with /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from api_lookup import fill_workspace, make_hashes  # benchmarks/ is on the path when run as a script

TIMER = """
import json, sys, time
from pathlib import Path
from jikimi.match import Matcher
from jikimi.workspace import Workspace
ws, calls = Workspace(Path(sys.argv[1])), int(sys.argv[2])
matcher = Matcher()
with ws.session() as session:  # one session, as a scan's batch has
    started = time.perf_counter()
    matcher.refresh(session)
    load = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(calls):
        matcher.refresh(session)
    refresh = (time.perf_counter() - started) / calls
print(json.dumps({"load_s": load, "refresh_ms": refresh * 1000}))
"""


def timed(tree: Path, home: Path, calls: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", TIMER, str(home), str(calls)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200_000, help="PDQ hashes in the bank")
    parser.add_argument("--calls", type=int, default=2000, help="refreshes timed after the load")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare-with", type=Path, required=True)
    args = parser.parse_args()
    trees = {"this checkout": Path(__file__).resolve().parents[1], str(args.compare_with): args.compare_with.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        fill_workspace(home, make_hashes(args.size, 1)[0])
        best = {name: {"load_s": float("inf"), "refresh_ms": float("inf")} for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                result = timed(tree, home, args.calls)
                best[name] = {k: min(best[name][k], result[k]) for k in result}
    this, other = best["this checkout"], best[str(args.compare_with)]
    print(f"{args.size:,} hashes, best of {args.rounds}:")
    for name, result in best.items():
        print(f"  {name}: load {result['load_s']:.2f} s, refresh with no change {result['refresh_ms']:.3f} ms")
    print(f"  this checkout vs {args.compare_with}: refresh x{this['refresh_ms'] / other['refresh_ms']:.2f} the time, "
          f"load x{this['load_s'] / other['load_s']:.2f}")


if __name__ == "__main__":
    main()
