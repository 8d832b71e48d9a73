"""`run_demo` end to end: bank the known files, enrol the demo subject, scan the sample
export and check the report against its ground truth."""

from pathlib import Path

from sqlalchemy import select

from jikimi.demo.run import DEMO_CASE, demo_subject, evaluate, run_demo
from jikimi.demo.sample_export import SUBJECT_NAME, ExpectedMatch, Expectation, SampleExport
from jikimi.store.models import Case, Subject


def test_demo_finds_the_known_copies_and_the_subject_and_nothing_else(ws, tmp_path):
    result = run_demo(ws, tmp_path / "demo", jobs=1)

    assert result.expected == 43 and result.found == result.expected  # incl. 4 phone screenshots
    assert result.false_matches == 0
    assert result.subject_expected == 7 and result.subject_found == 7 and result.subject_reported == 7
    assert result.subject_recall == 1.0 and result.subject_precision == 1.0
    assert result.errors_expected > 0 and result.errors_reported == result.errors_expected
    assert result.summary["status"] == "complete" and result.summary["case_id"] == result.case_id
    assert result.summary["counts"]["errors"] >= result.errors_expected
    assert result.report_path.is_file()

    photo = tmp_path / "demo" / "subject" / "astronaut.jpg"
    with ws.session() as session:  # a second demo in this workspace reuses her
        case, subject = demo_subject(ws, session, [photo])
        assert (case.id, subject.id) == (result.case_id, result.subject_id)
        assert session.scalars(select(Case).where(Case.title == DEMO_CASE)).all() == [case]
        assert session.scalars(select(Subject)).all() == [subject]
        assert subject.name == SUBJECT_NAME == result.subject_name and len(subject.templates) == 1
        assert subject.consent["recorded_by"] and "demo" in subject.consent["scope"]


def post(message_id: int, outcome: str, matches=()) -> Expectation:
    return Expectation(message_id, f"photos/photo_{message_id}.jpg", "photo", outcome, tuple(matches))


def item(message_id: int, *matches: dict, error: str | None = None) -> dict:
    return {"locators": [{"message_id": message_id, "path": f"photos/photo_{message_id}.jpg"}],
            "matches": list(matches), "error": error}


def test_evaluate_counts_subject_recall_and_precision_post_by_post():
    her = {"kind": "face", "target": SUBJECT_NAME}
    pdq = {"kind": "pdq", "target": "coffee.png"}
    sample = SampleExport(
        root=Path("."), export_dir=Path("export"), known_dir=Path("known"), known_files=("coffee.png",),
        subject_dir=Path("subject"), subject_photos=("astronaut.jpg",),
        expectations=(
            post(1, "subject", [ExpectedMatch(SUBJECT_NAME, "face")]),
            post(2, "subject", [ExpectedMatch(SUBJECT_NAME, "face")]),
            post(3, "unrelated"),
            post(4, "match", [ExpectedMatch("coffee.png", "pdq")]),
            post(5, "subject", [ExpectedMatch(SUBJECT_NAME, "face")]),
            post(6, "error"),
            post(7, "unrelated"),  # not in the report: skipped
        ),
    )
    report = {"items": [
        item(1, her),
        item(2),  # missed
        item(3, her),  # someone else taken for her
        item(4, pdq, her),  # a hash match also taken for her
        item(5, her, pdq),  # found, but also a false hash match
        item(6, error="truncated JPEG"),
    ]}
    result = evaluate(sample, report)
    assert (result.found, result.expected) == (1, 1)
    assert result.false_matches == 2  # post 3 (a face match) and post 5 (a hash match)
    assert (result.errors_reported, result.errors_expected) == (1, 1)
    assert (result.subject_found, result.subject_expected, result.subject_reported) == (2, 3, 4)
    assert result.subject_recall == 2 / 3 and result.subject_precision == 0.5
