"""The demo export scanned on a Dask cluster with 1 and 2 workers vs the local `--jobs` path.

Every scan uses a fresh workspace and the same bank of the demo's known files, with faces,
nudity and provenance on (`--hashes-only` to leave them out, which shows the cluster's own
cost per file more plainly); the local `--jobs 1` scan is the baseline, measured in the same
run. Each cluster is a `distributed.LocalCluster` of single-threaded worker processes on this
machine, started before its scan is timed (its start-up time is printed apart); the first file
on each worker pays for loading the models, as a fresh local worker process does. The scans
must agree: each prints its counts of items, matches and errors. Memory: the peak summed RSS
of this process tree (client, scheduler, workers) and the largest peak of one worker process.

    nice -n 10 .venv/bin/python benchmarks/cluster_scan.py [--hashes-only]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from distributed import LocalCluster
from process_memory import TreeMemory, TreePeaks  # benchmarks/ is on the path when run as a script

from jikimi import banks
from jikimi.demo.sample_export import build_sample_export
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.workspace import Workspace

NOOP_TASKS = 2000  # trivial tasks timed for the cluster's own cost per task
RUNS = (("local --jobs 1", 1, 0), ("local --jobs 2", 2, 0), ("cluster, 1 worker", 1, 1), ("cluster, 2 workers", 1, 2))


def timed_scan(root: Path, sample, options: ScanOptions) -> tuple[float, dict, int, int]:
    ws = Workspace(root)
    ws.init()
    with ws.session() as session:
        bank = banks.create_bank(session, "known")
        banks.add_files(session, bank, banks.files_under([sample.known_dir]))
    with TreeMemory() as memory, TreePeaks(os.getpid()) as peaks:
        start = time.perf_counter()
        scan_id = start_scan(ws, sample.export_dir, options)
        seconds = time.perf_counter() - start
    worker_peak = max((peak for pid, peak in peaks.peaks.items() if pid != os.getpid()), default=0)
    with ws.session() as session:
        return seconds, scan_report(session, scan_id)["scan"]["counts"], memory.peak, worker_peak


def task_overhead(address: str, workers: int) -> float:
    """Seconds per trivial task through the scan's executor, with the scan's window in flight."""
    from concurrent.futures import FIRST_COMPLETED, wait

    from jikimi.scan import IN_FLIGHT_PER_WORKER
    from jikimi.scan_cluster import cluster_executor

    with cluster_executor(address) as (pool, slots):
        start, submitted, running = time.perf_counter(), 0, set()
        while submitted < NOOP_TASKS or running:
            while submitted < NOOP_TASKS and len(running) < slots * IN_FLIGHT_PER_WORKER:
                running.add(pool.submit(abs, submitted))
                submitted += 1
            done, running = wait(running, return_when=FIRST_COMPLETED)
        return (time.perf_counter() - start) / NOOP_TASKS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hashes-only", action="store_true", help="skip faces, nudity and provenance")
    args = parser.parse_args()
    analyse = not args.hashes_only
    with tempfile.TemporaryDirectory() as tmp:
        sample = build_sample_export(Path(tmp) / "sample")
        results = {}
        for name, jobs, workers in RUNS:
            root = Path(tmp) / name.replace(" ", "_")
            if not workers:
                results[name] = timed_scan(root, sample, ScanOptions(jobs=jobs, analyse=analyse))
                continue
            started = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, scheduler_port=0) as cluster:
                print(f"{name}: cluster started in {time.perf_counter() - started:.1f} s")
                options = ScanOptions(jobs=jobs, analyse=analyse, cluster=cluster.scheduler_address)
                results[name] = timed_scan(root, sample, options)
                overhead = task_overhead(cluster.scheduler_address, workers)
    base = results["local --jobs 1"][0]
    print(f"demo export, {'hashes only' if args.hashes_only else 'faces, nudity and provenance on'}:")
    for name, (seconds, counts, tree, worker) in results.items():
        print(f"  {name:20} {seconds:6.1f} s  {counts['items'] / seconds:5.2f} items/s  x{base / seconds:.2f} "
              f"the speed of local --jobs 1  (items {counts['items']}, matched {counts['matched']}, "
              f"errors {counts['errors']}; peak RSS {tree / 2**20:.0f} MiB in all, "
              f"{worker / 2**20:.0f} MiB the largest worker)")
    two_local, two_cluster = results["local --jobs 2"][0], results["cluster, 2 workers"][0]
    print(f"  cluster with 2 workers vs local --jobs 2: x{two_cluster / two_local:.2f} the time")
    print(f"  the cluster's own cost: {overhead * 1000:.2f} ms per trivial task ({NOOP_TASKS} tasks, "
          f"2 workers), vs {two_cluster / results['cluster, 2 workers'][1]['items'] * 1000:.0f} ms per item of the scan")


if __name__ == "__main__":
    main()
