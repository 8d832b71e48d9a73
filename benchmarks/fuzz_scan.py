"""Fuzzing scans end to end: crashes, hangs, lost items and peak memory per worker.

Seeded hostile sources from tests/fuzz_inputs.py (file names that are not UTF-8 or are
255 bytes long, FIFOs and links, nested ZIPs, result.json values of every wrong type, media
with flipped bits, cuts and headers declaring 1 x 65,500 pixels) are scanned by the real
`jikimi scan` command, one process per source, in one workspace. Then each scan's report is
rendered as JSON, CSV and HTML.

- crash: the command exits non-zero or prints a traceback, the scan does not end complete,
  or a report cannot be rendered;
- hang: the scan takes longer than --timeout seconds;
- lost item: an entry the source holds that the scan did not record (as an item or an error);
- peak RSS per worker: the highest VmHWM of any process under the scan (workers and their
  fork server), read from /proc every 50 ms; the main process is shown apart.

The baseline, measured in the same run, is a source of the same size made of the unmutated
seed files: the ratio says what hostile input costs in time per input.

    .venv/bin/python benchmarks/fuzz_scan.py [--inputs 5000] [--per-source 100] [--jobs 2] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_inputs import FuzzCase, fuzz_export, fuzz_folder, fuzz_zip, seed_media  # noqa: E402
from process_memory import TreePeaks  # noqa: E402
from jikimi.reports import render  # noqa: E402
from jikimi.reports.data import scan_report  # noqa: E402
from jikimi.workspace import Workspace  # noqa: E402

WORKER_TARGET_BYTES = 1.5 * 1024**3  # issue 10's target for one worker


def scan(home: Path, case: FuzzCase, jobs: int, timeout: float) -> dict:
    env = {**os.environ, "JIKIMI_HOME": str(home)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "jikimi", "scan", str(case.source), "--jobs", str(jobs),
                                "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    with TreePeaks(process.pid) as peaks:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            hung = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            stdout, stderr = process.communicate()
            hung = True
    workers = [peak for pid, peak in peaks.peaks.items() if pid != process.pid]
    return {"seconds": time.perf_counter() - started, "hung": hung, "code": process.returncode,
            "stdout": stdout, "stderr": stderr, "main_peak": peaks.peaks.get(process.pid, 0),
            "worker_peak": max(workers, default=0)}


def check(ws: Workspace, result: dict, case: FuzzCase) -> tuple[str | None, int]:
    """(why it crashed or None, items lost)."""
    if result["hung"]:
        return None, 0
    if result["code"] != 0 or "Traceback" in result["stderr"]:
        return f"exit {result['code']}: {result['stderr'].strip().splitlines()[-1:]}", 0
    summary = json.loads(result["stdout"])
    if summary["status"] != "complete":
        return f"scan ended {summary['status']}", 0
    try:
        with ws.session() as session:
            report = scan_report(session, summary["id"])
            media = render.report_media(ws, session, report, "fuzz", lambda face_id: True)
        for fmt in ("json", "csv", "html"):
            render.render(report, fmt, media).encode("utf-8")
    except Exception as error:  # a report that cannot be written is a crash too
        return f"report: {type(error).__name__}: {error}", 0
    return None, max(0, case.expected_entries - summary["counts"]["locators"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=5000, help="hostile inputs to try (at least)")
    parser.add_argument("--per-source", type=int, default=100, help="inputs per scanned source")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a scan counts as hung")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seeds = seed_media()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        ws = Workspace(home)
        ws.init()
        clean = tmp / "clean"
        clean.mkdir()
        for n in range(args.per_source):
            suffix, content = rng.choice(sorted(seeds.items()))
            (clean / f"{n}{suffix}").write_bytes(content)
        baseline = scan(home, FuzzCase(clean, args.per_source, args.per_source), args.jobs, args.timeout)
        tried = crashes = hangs = lost = sources = 0
        hostile_seconds, worker_peak, main_peak, failures = 0.0, baseline["worker_peak"], baseline["main_peak"], []
        while tried < args.inputs:
            make = (fuzz_folder, fuzz_export, fuzz_zip)[sources % 3]
            case = make(tmp / f"source-{sources}", rng, seeds, args.per_source)
            result = scan(home, case, args.jobs, args.timeout)
            crash, missing = check(ws, result, case)
            sources += 1
            tried += case.inputs
            hangs += result["hung"]
            crashes += crash is not None
            lost += missing
            hostile_seconds += result["seconds"]
            worker_peak, main_peak = max(worker_peak, result["worker_peak"]), max(main_peak, result["main_peak"])
            if crash:
                failures.append(f"source {sources - 1} ({make.__name__}): {crash}")
            print(f"\r{tried} inputs, {sources} sources, {crashes} crashes, {hangs} hangs, {lost} lost",
                  end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    per_input = hostile_seconds / tried
    clean_per_input = baseline["seconds"] / args.per_source
    print(f"seed {args.seed}, {args.jobs} jobs, {args.per_source} inputs per source")
    print(f"inputs tried:            {tried} in {sources} sources")
    print(f"crashes:                 {crashes}")
    print(f"hangs (> {args.timeout:g} s):        {hangs}")
    print(f"lost items:              {lost}")
    print(f"peak RSS per worker:     {worker_peak / 2**20:.0f} MiB (target < {WORKER_TARGET_BYTES / 2**20:.0f} MiB)")
    print(f"peak RSS, main process:  {main_peak / 2**20:.0f} MiB")
    print(f"seconds per input:       {per_input:.3f} hostile vs {clean_per_input:.3f} clean "
          f"(ratio {per_input / clean_per_input:.2f}, process start included)")
    for failure in failures:
        print("  " + failure)


if __name__ == "__main__":
    main()
