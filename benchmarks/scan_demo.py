"""Whole-scan throughput on the demo export: items/s with --jobs 1 and --jobs 2.

Each run uses a fresh workspace (so nothing is cached between them) and the same bank of
the demo's known files, with faces, nudity and provenance on; the --jobs 1 run is the
baseline. Peak memory is that of the whole process tree (main process and workers).

    .venv/bin/python benchmarks/scan_demo.py
    .venv/bin/python benchmarks/scan_demo.py --compare-with /path/to/other/checkout [--rounds 2]

`--compare-with` times the --jobs 1 scan with this checkout's jikimi and with another's (e.g.
the commit before a change), alternating, in fresh processes, and prints the ratio of the
best times: how much slower or faster the change made a whole scan.
"""

import argparse
import os
import subprocess
import sys

import tempfile
import time
from pathlib import Path

from process_memory import TreeMemory  # benchmarks/ is on the path when run as a script

from jikimi import banks
from jikimi.demo.sample_export import build_sample_export
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.workspace import Workspace


def timed_scan(root: Path, sample, jobs: int) -> tuple[float, dict, int]:
    ws = Workspace(root / f"jobs{jobs}")
    ws.init()
    with ws.session() as session:
        bank = banks.create_bank(session, "known")
        banks.add_files(session, bank, banks.files_under([sample.known_dir]))
    with TreeMemory() as memory:
        start = time.perf_counter()
        scan_id = start_scan(ws, sample.export_dir, ScanOptions(jobs=jobs))
        seconds = time.perf_counter() - start
    with ws.session() as session:
        return seconds, scan_report(session, scan_id)["scan"]["counts"], memory.peak


def seconds_only(jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = build_sample_export(Path(tmp) / "sample")
        print(timed_scan(Path(tmp), sample, jobs)[0])


def compare(other: Path, rounds: int) -> None:
    trees = {"this checkout": Path(__file__).resolve().parents[1], "other": other.resolve()}
    best = {name: float("inf") for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run([sys.executable, __file__, "--seconds-only"], env=env, check=True,
                                 capture_output=True, text=True).stdout
            best[name] = min(best[name], float(out.split()[-1]))
    print(f"demo scan, --jobs 1, best of {rounds}: this checkout {best['this checkout']:.1f} s, "
          f"{other} {best['other']:.1f} s: x{best['this checkout'] / best['other']:.2f} the time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare-with", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds_only:
        return seconds_only(1)
    if args.compare_with:
        return compare(args.compare_with, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        sample = build_sample_export(Path(tmp) / "sample")
        results = {jobs: timed_scan(Path(tmp), sample, jobs) for jobs in (1, 2)}
    base_seconds, counts, _ = results[1]
    print(f"demo export: {counts['items']} unique items in {counts['locators']} posts "
          f"({counts['matched']} matched, {counts['errors']} errors)")
    for jobs, (seconds, _, peak) in results.items():
        print(f"  --jobs {jobs}: {seconds:6.1f} s  {counts['items'] / seconds:6.1f} items/s  "
              f"x{base_seconds / seconds:.2f} vs --jobs 1  peak memory {peak / 2**20:,.0f} MB")


if __name__ == "__main__":
    main()
