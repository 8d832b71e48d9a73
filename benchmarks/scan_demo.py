"""Whole-scan throughput on the demo export: items/s with --jobs 1 and --jobs 2.

Each run uses a fresh workspace (so nothing is cached between them) and the same bank of
the demo's known files; the --jobs 1 run is the baseline.

    .venv/bin/python benchmarks/scan_demo.py
"""

import resource
import tempfile
import time
from pathlib import Path

from jikimi import banks
from jikimi.demo.sample_export import build_sample_export
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.workspace import Workspace


def timed_scan(root: Path, sample, jobs: int) -> tuple[float, dict]:
    ws = Workspace(root / f"jobs{jobs}")
    ws.init()
    with ws.session() as session:
        bank = banks.create_bank(session, "known")
        banks.add_files(session, bank, banks.files_under([sample.known_dir]))
    start = time.perf_counter()
    scan_id = start_scan(ws, sample.export_dir, ScanOptions(jobs=jobs))
    seconds = time.perf_counter() - start
    with ws.session() as session:
        return seconds, scan_report(session, scan_id)["scan"]["counts"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = build_sample_export(Path(tmp) / "sample")
        results = {jobs: timed_scan(Path(tmp), sample, jobs) for jobs in (1, 2)}
    base_seconds, counts = results[1]
    print(f"demo export: {counts['items']} unique items in {counts['locators']} posts "
          f"({counts['matched']} matched, {counts['errors']} errors)")
    for jobs, (seconds, _) in results.items():
        print(f"  --jobs {jobs}: {seconds:6.1f} s  {counts['items'] / seconds:6.1f} items/s  "
              f"x{base_seconds / seconds:.2f} vs --jobs 1")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak memory: main process {peak:.0f} MB, largest worker {children:.0f} MB")


if __name__ == "__main__":
    main()
