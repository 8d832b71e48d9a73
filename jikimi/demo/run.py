"""`jikimi demo`: the whole flow on a harmless sample export, with its accuracy checked.

The sample export knows which posts are altered copies of the known files, so the demo can
say not only what it found but how many of the findable copies that is, and whether any
unrelated picture was wrongly reported.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from jikimi import banks
from jikimi.audit import operator_name
from jikimi.errors import JikimiError
from jikimi.demo.sample_export import SampleExport, build_sample_export
from jikimi.reports import render
from jikimi.reports.data import scan_report
from jikimi.scan import Progress, ScanOptions, start_scan
from jikimi.store.models import Bank
from jikimi.workspace import Workspace

DEMO_BANK = "demo-known"


@dataclass
class DemoResult:
    scan_id: int
    report_path: Path
    summary: dict
    found: int  # expected matches found
    expected: int  # expected matches in the export
    false_matches: int  # unrelated posts reported as matches
    errors_expected: int
    errors_reported: int


def run_demo(ws: Workspace, dest: Path, jobs: int, progress: Progress = Progress()) -> DemoResult:
    if (dest / "ground_truth.json").exists():  # a previous demo: build it afresh
        shutil.rmtree(dest)
    elif dest.exists() and any(dest.iterdir()):
        raise JikimiError(f"{dest} is not empty: choose an empty folder for the demo")
    sample = build_sample_export(dest)
    with ws.session() as session:
        if not session.scalar(select(Bank).where(Bank.name == DEMO_BANK)):
            bank = banks.create_bank(session, DEMO_BANK)
            banks.add_files(session, bank, banks.files_under([sample.known_dir]))
    scan_id = start_scan(ws, sample.export_dir, ScanOptions(jobs=jobs, banks=[DEMO_BANK]), progress)
    with ws.session() as session:
        report = scan_report(session, scan_id)
        media = render.report_media(ws, session, report, operator_name())
    report_path = render.write(report, "html", ws.reports / f"scan-{scan_id}.html", media)
    return DemoResult(scan_id, report_path, report["scan"], *evaluate(sample, report))


def evaluate(sample: SampleExport, report: dict) -> tuple[int, int, int, int, int]:
    """Compare a scan report with the sample's ground truth, post by post."""
    posts = {(loc.get("message_id"), loc["path"]): item for item in report["items"] for loc in item["locators"]}
    found = expected = false_matches = errors_expected = errors_reported = 0
    for truth in sample.expectations:
        item = posts.get((truth.message_id, truth.path))
        if item is None:
            continue  # e.g. a thumbnail the source skips because its video is present
        if truth.outcome == "match":
            expected += 1
            seen = {(m["target"], m["kind"]) for m in item["matches"]}
            found += all((m.target, m.kind) in seen for m in truth.matches)
        elif truth.outcome == "unrelated":
            false_matches += bool(item["matches"])
        elif truth.outcome == "error":
            errors_expected += 1
            errors_reported += item["error"] is not None
    return found, expected, false_matches, errors_expected, errors_reported
