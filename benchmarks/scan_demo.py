"""Whole-scan throughput on the demo export: items/s with --jobs 1 and --jobs 2.

Each run uses a fresh workspace (so nothing is cached between them) and the same bank of
the demo's known files, with faces, nudity and provenance on; the --jobs 1 run is the
baseline. Peak memory is that of the whole process tree (main process and workers).

    .venv/bin/python benchmarks/scan_demo.py
"""

import tempfile
import time
from pathlib import Path

from pipeline_throughput import TreeMemory  # benchmarks/ is on the path when run as a script

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


def main() -> None:
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
