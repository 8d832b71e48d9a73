"""A bounded fuzz run in every test run: hostile names, result.json values and media headers.

Seeded (JIKIMI_FUZZ_SEED, default fixed) so a failure replays; JIKIMI_FUZZ_ROUNDS widens it.
benchmarks/fuzz_scan.py runs the same generator over thousands of inputs and measures memory.
"""

import json
import os
import random
import re

import pytest

from fuzz_inputs import fuzz_export, fuzz_folder, fuzz_zip, seed_media
from jikimi.reports import render
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan

SEED = int(os.environ.get("JIKIMI_FUZZ_SEED", "20261130"))
ROUNDS = int(os.environ.get("JIKIMI_FUZZ_ROUNDS", "10"))  # ~800 inputs, about a minute
INPUTS_PER_CASE = 40
# What an error shown to a person must never contain: a Python object, a traceback, our paths.
LEAKS = re.compile(r"object at 0x|<_io\.|<built-in|Traceback|/vault/|\bat at\b")


def check_report(ws, scan_id, expected_entries):
    with ws.session() as session:
        report = scan_report(session, scan_id)
        media = render.report_media(ws, session, report, "fuzz", lambda face_id: True)
    counts = report["scan"]["counts"]
    assert report["scan"]["status"] == "complete", report["scan"]
    assert counts["locators"] == expected_entries and counts["pending"] == 0, counts
    for item in report["items"]:
        error = item["error"]
        assert error is None or (error.strip() and "\n" not in error and not LEAKS.search(error)), error
        assert (item["error_code"] is None) == (error is None) and item["error_code"] != "other", error
    for fmt in ("json", "csv", "html"):
        render.render(report, fmt, media).encode("utf-8")
    json.loads(render.render(report, "json"))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_fuzzed_folders_and_exports_scan_without_crash_or_loss(ws, tmp_path, round_):
    rng = random.Random(SEED + round_)
    seeds = seed_media()
    for make in (fuzz_folder, fuzz_export, fuzz_zip):
        case = make(tmp_path / make.__name__, rng, seeds, INPUTS_PER_CASE)
        scan_id = start_scan(ws, case.source, ScanOptions(jobs=1))
        check_report(ws, scan_id, case.expected_entries)
