"""`jikimi demo`: the whole flow on a harmless sample export, with its accuracy checked.

The sample export knows which posts are altered copies of the known files and which show
the demo subject, so the demo can say not only what it found but how many of the findable
copies that is, how many of the posts showing her were found, and whether any unrelated
picture was wrongly reported.

The demo subject is enrolled once per workspace, in a case of her own, from the sample's
public-domain portrait; later demos reuse her. The scan matches faces against that case's
subjects only, so the demo never compares real subjects' templates with its pictures.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import banks, cases
from jikimi.audit import operator_name
from jikimi.errors import JikimiError
from jikimi.demo.sample_export import SUBJECT_NAME, SampleExport, build_sample_export
from jikimi.reports import render
from jikimi.reports.data import scan_report
from jikimi.scan import Progress, ScanOptions, start_scan
from jikimi.store.models import Bank, Case, Subject
from jikimi.workspace import Workspace

DEMO_BANK = "demo-known"
DEMO_CASE = "Demo case"


@dataclass
class Evaluation:
    found: int  # expected matches found
    expected: int  # expected matches in the export
    false_matches: int  # unrelated posts, or posts of the subject, reported as hash matches
    errors_expected: int
    errors_reported: int
    subject_found: int  # posts showing the subject with a face match to her
    subject_expected: int  # posts showing the subject
    subject_reported: int  # posts with a face match to her, showing her or not

    @property
    def subject_recall(self) -> float:
        return self.subject_found / self.subject_expected if self.subject_expected else 1.0

    @property
    def subject_precision(self) -> float:
        return self.subject_found / self.subject_reported if self.subject_reported else 0.0


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
    case_id: int
    subject_id: int
    subject_name: str
    subject_found: int  # posts showing the subject that the scan matched to her
    subject_expected: int  # posts showing the subject
    subject_reported: int  # posts the scan matched to her
    subject_recall: float  # subject_found / subject_expected
    subject_precision: float  # subject_found / subject_reported (0.0 when none reported)


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
        photos = [sample.subject_dir / name for name in sample.subject_photos]
        case, subject = demo_subject(ws, session, photos, sample.subject_name)
        case_id, subject_id = case.id, subject.id
    options = ScanOptions(jobs=jobs, banks=[DEMO_BANK], case_id=case_id, only_case=True)
    scan_id = start_scan(ws, sample.export_dir, options, progress)
    with ws.session() as session:
        report = scan_report(session, scan_id)
        media = render.report_media(ws, session, report, operator_name(), lambda face_id: True)  # the operator reviews
    report_path = render.write(report, "html", ws.reports / f"scan-{scan_id}.html", media)
    evaluation = evaluate(sample, report)
    return DemoResult(
        scan_id, report_path, report["scan"], case_id=case_id, subject_id=subject_id,
        subject_name=sample.subject_name, subject_recall=evaluation.subject_recall,
        subject_precision=evaluation.subject_precision, **asdict(evaluation),
    )


def demo_subject(ws: Workspace, session: Session, photos: list[Path],
                 name: str = SUBJECT_NAME) -> tuple[Case, Subject]:
    """The demo case and its subject, found by title and name, or created and enrolled from
    the sample's portrait on the first demo in this workspace."""
    actor = operator_name()
    case = session.scalar(select(Case).where(Case.title == DEMO_CASE).order_by(Case.id))
    if case is None:
        case = cases.create_case(ws, session, DEMO_CASE, actor)
    subject = session.scalar(
        select(Subject)
        .where(Subject.case_id == case.id, Subject.name == name, Subject.removed_at.is_(None))
        .order_by(Subject.id)
    )
    if subject is None:
        consent = cases.Consent(
            consented_by="nobody: a demo with a public-domain NASA portrait, not a real case",
            scope="jikimi demo: face matching on the demo's own sample export only",
            consented_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            recorded_by=actor,
        )
        subject = cases.enrol_subject(ws, session, case, name, consent, photos)
    return case, subject


def evaluate(sample: SampleExport, report: dict) -> Evaluation:
    """Compare a scan report with the sample's ground truth, post by post."""
    posts = {(loc.get("message_id"), loc["path"]): item for item in report["items"] for loc in item["locators"]}
    result = Evaluation(0, 0, 0, 0, 0, 0, 0, 0)
    for truth in sample.expectations:
        item = posts.get((truth.message_id, truth.path))
        if item is None:
            continue  # e.g. a thumbnail the source skips because its video is present
        shows_her = any(m["kind"] == "face" and m["target"] == sample.subject_name for m in item["matches"])
        hash_matches = [m for m in item["matches"] if m["kind"] != "face"]
        result.subject_reported += shows_her
        if truth.outcome == "match":
            result.expected += 1
            seen = {(m["target"], m["kind"]) for m in item["matches"]}
            result.found += all((m.target, m.kind) in seen for m in truth.matches)
        elif truth.outcome == "unrelated":
            result.false_matches += bool(item["matches"])
        elif truth.outcome == "subject":
            result.subject_expected += 1
            result.subject_found += shows_her
            result.false_matches += bool(hash_matches)
        elif truth.outcome == "error":
            result.errors_expected += 1
            result.errors_reported += item["error"] is not None
    return result
