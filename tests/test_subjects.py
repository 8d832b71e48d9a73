"""Enrolment with consent and finding the subject in scans, on public-domain portraits only."""


import matplotlib.cbook
import pytest
from PIL import Image, ImageOps

from conftest import picture, save_jpeg
from jikimi import cases, keys
from jikimi.errors import JikimiError
from jikimi.reports.data import scan_report
from jikimi.reports.render import render, report_media
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import Subject, SubjectTemplate

CONSENT = cases.Consent("Eileen", "search for sexual deepfakes of me", "2024-09-01T10:00:00+00:00", "counsellor-park")


def grace_hopper() -> Image.Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    both = Image.new("RGB", (left.width + right.width, max(left.height, right.height)))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    return both


@pytest.fixture
def enrolled(ws, tmp_path):
    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case A", "counsellor-park")
        subject = cases.enrol_subject(ws, s, case, "Eileen", CONSENT, [photo])
    return case.id, subject.id


def test_templates_are_encrypted_and_need_the_key(ws, enrolled, monkeypatch):
    with ws.session() as s:
        templates = cases.load_templates(ws, s)
        stored = s.query(SubjectTemplate).one().embedding
    assert [t.subject_name for t in templates] == ["Eileen"] and templates[0].embedding.shape == (128,)
    assert templates[0].embedding.tobytes() not in stored
    raw = ws.engine.connect().exec_driver_sql("select embedding from subject_templates").scalar()  # as stored
    assert templates[0].embedding.tobytes()[:16] not in raw
    monkeypatch.setenv("JIKIMI_KEY", "00" * 32)  # a copy of the database with another key
    with ws.session() as s, pytest.raises(keys.WorkspaceKeyError, match="wrong workspace key"):
        cases.load_templates(ws, s)


@pytest.mark.parametrize("make, reason", [
    (lambda: picture("coffee"), "no face found"),
    (lambda: side_by_side(picture("astronaut"), ImageOps.mirror(picture("astronaut"))), r"\d faces found: choose one with --face N"),
    (lambda: picture("astronaut").resize((96, 96)), "no face found|face too small"),
])
def test_unusable_reference_photos_are_refused_and_nothing_is_stored(ws, tmp_path, make, reason):
    good = save_jpeg(picture("astronaut"), tmp_path / "good.jpg")
    bad = save_jpeg(make(), tmp_path / "bad.jpg")
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case", "me")
    with ws.session() as s, pytest.raises(JikimiError, match=f"^bad.jpg: ({reason})"):
        cases.enrol_subject(ws, s, s.merge(case), "X", CONSENT, [good, bad])
    with ws.session() as s:
        assert s.query(Subject).count() == 0 and s.query(SubjectTemplate).count() == 0


def test_a_non_image_is_refused_by_name(ws, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo")
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case", "me")
        with pytest.raises(JikimiError, match="^notes.jpg: "):
            cases.enrol_subject(ws, s, case, "X", CONSENT, [tmp_path / "notes.jpg"])


def suspect_folder(tmp_path):
    astronaut = picture("astronaut")
    src = tmp_path / "suspect"
    save_jpeg(astronaut.resize((320, 320)), src / "small_recompressed.jpg", quality=45)
    save_jpeg(ImageOps.grayscale(astronaut).convert("RGB"), src / "grayscale.jpg", quality=60)
    save_jpeg(astronaut.crop((60, 0, 400, 340)).rotate(10, expand=True), src / "cropped_rotated.jpg")
    canvas = picture("coffee").resize((1280, 900))
    canvas.paste(astronaut.resize((400, 400)), (700, 400))  # her face ~100 px of 1280
    save_jpeg(canvas, src / "inside_a_bigger_picture.jpg")
    save_jpeg(grace_hopper(), src / "someone_else.jpg")
    save_jpeg(picture("chelsea"), src / "cat.jpg")
    return src


def test_scan_finds_the_subject_and_ranks_her_first(ws, tmp_path, enrolled):
    case_id, subject_id = enrolled
    scan_id = start_scan(ws, suspect_folder(tmp_path), ScanOptions(jobs=1, case_id=case_id))
    with ws.session() as s:
        report = scan_report(s, scan_id)
        media = report_media(ws, s, report, "tester", lambda face_id: True)
    items = {item["locators"][0]["path"]: item for item in report["items"]}
    showing_her = {"small_recompressed.jpg", "grayscale.jpg", "cropped_rotated.jpg", "inside_a_bigger_picture.jpg"}
    found = {path for path, item in items.items() if any(m["kind"] == "face" for m in item["matches"])}
    assert found == showing_her
    first = [item["locators"][0]["path"] for item in report["items"][:4]]
    assert set(first) == showing_her
    match = next(m for m in items["grayscale.jpg"]["matches"] if m["kind"] == "face")
    assert match["target"] == "Eileen" and match["subject_id"] == subject_id
    assert match["distance"] <= match["threshold"] and match["level"] == "confident"
    assert set(match["box"]) == {"left", "top", "right", "bottom", "score"}
    assert items["grayscale.jpg"]["reason"].startswith("face matches subject 'Eileen' (confident match, distance 0.")
    assert items["someone_else.jpg"]["faces"] and not items["someone_else.jpg"]["matches"]
    assert items["cat.jpg"]["nudity"]["max_exposed"] < 0.5 and items["cat.jpg"]["priority"] == 0
    assert report["scan"]["case_id"] == case_id
    html = render(report, "html", media)
    assert html.count("matched face of Eileen") == 4


def test_removed_subject_is_no_longer_found_and_removal_is_logged(ws, tmp_path, enrolled):
    case_id, subject_id = enrolled
    with ws.session() as s:
        cases.remove_subject(ws, s, subject_id, "counsellor-park")
    with ws.session() as s:
        assert s.query(SubjectTemplate).count() == 0
        assert s.get(Subject, subject_id).consent["scope"] == CONSENT.scope
        from jikimi.audit import AuditLog
        actions = [e.action for e in AuditLog(s, ws.home).entries(case_id=case_id)]
    assert actions == ["case_create", "subject_add", "subject_remove"]
    scan_id = start_scan(ws, suspect_folder(tmp_path), ScanOptions(jobs=1))
    with ws.session() as s:
        assert scan_report(s, scan_id)["scan"]["counts"]["matched"] == 0


def test_only_case_limits_matching_to_the_case_s_subjects(ws, tmp_path, enrolled):
    with ws.session() as s:
        other = cases.create_case(ws, s, "Case B", "me").id
    scan_id = start_scan(ws, suspect_folder(tmp_path), ScanOptions(jobs=1, case_id=other, only_case=True))
    with ws.session() as s:
        assert scan_report(s, scan_id)["scan"]["counts"]["matched"] == 0
    scan_id = start_scan(ws, suspect_folder(tmp_path / "again"), ScanOptions(jobs=1, case_id=other))
    with ws.session() as s:
        assert scan_report(s, scan_id)["scan"]["counts"]["matched"] == 4
