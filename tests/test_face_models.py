"""Templates know their model: never compared across models, re-enrolment from consented crops."""


import numpy as np
import pytest

from conftest import picture, save_jpeg
from jikimi import cases, keys
from jikimi.errors import JikimiError
from jikimi.match import SubjectMatcher, face_associated_data
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.signals.face_embedding import DEFAULT_FACE_MODEL, EMBEDDERS, DlibResNetEmbedder, embedder
from jikimi.signals.faces import FaceAnalyzer
from jikimi.store.models import ContentFace, SubjectTemplate
from test_subjects import CONSENT, suspect_folder

OTHER_MODEL = next(m for m in EMBEDDERS if m != DEFAULT_FACE_MODEL)


class _Content:
    def __init__(self, faces):
        self.faces = faces


def test_a_face_is_never_compared_with_a_template_of_another_model():
    key = bytes(32)
    vector = np.random.default_rng(0).normal(size=128).astype(np.float32)
    vector /= np.linalg.norm(vector)
    template = cases.Template(1, "Eileen", 1, vector, OTHER_MODEL)

    def face_of(model: str) -> ContentFace:
        face = ContentFace(id=7, sha256="0" * 64, frame_time=None, box={}, score=1.0, model=model)
        face.embedding = keys.encrypt(key, vector.tobytes(), face_associated_data(7))
        return face

    matcher = SubjectMatcher([template], key)
    assert matcher.match(_Content([face_of(DEFAULT_FACE_MODEL)])) == []  # the very same vector
    [found] = matcher.match(_Content([face_of(OTHER_MODEL)]))
    assert found.distance == 0 and found.detail["level"] == "confident" and found.detail["model"] == OTHER_MODEL


def test_every_model_puts_the_confident_level_inside_the_possible_one():
    for model_id in EMBEDDERS:
        model = embedder(model_id)
        assert 0 < model.confident_threshold < model.match_threshold


@pytest.fixture
def enrolled_with_old_model(ws, tmp_path):
    """Eileen enrolled by dlib's model while scans use another, her reference crops kept."""
    assert DEFAULT_FACE_MODEL != DlibResNetEmbedder.model_id
    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case A", "counsellor-park")
        subject = cases.enrol_subject(ws, s, case, "Eileen", CONSENT, [photo], keep_reference_crops=True,
                                      analyzer=FaceAnalyzer(embedder=DlibResNetEmbedder()))
    return case.id, subject.id


def face_matches(ws, scan_id):
    with ws.session() as s:
        report = scan_report(s, scan_id)
    return {item["locators"][0]["path"]: m for item in report["items"] for m in item["matches"] if m["kind"] == "face"}


def test_a_subject_of_an_old_model_is_reenrolled_from_her_kept_crops(ws, tmp_path, enrolled_with_old_model):
    case_id, subject_id = enrolled_with_old_model
    with ws.session() as s:
        assert [t.model for t in s.query(SubjectTemplate)] == [DlibResNetEmbedder.model_id]
        assert [x.id for x in cases.subjects_needing_reenrolment(s, DEFAULT_FACE_MODEL)] == [subject_id]
    assert face_matches(ws, start_scan(ws, suspect_folder(tmp_path), ScanOptions(jobs=1))) == {}

    with ws.session() as s:
        cases.reenrol_subject(ws, s, subject_id, "counsellor-park")
    with ws.session() as s:
        assert [t.model for t in s.query(SubjectTemplate)] == [DEFAULT_FACE_MODEL]
        assert cases.subjects_needing_reenrolment(s, DEFAULT_FACE_MODEL) == []
    found = face_matches(ws, start_scan(ws, suspect_folder(tmp_path / "again"), ScanOptions(jobs=1)))
    assert set(found) == {"small_recompressed.jpg", "grayscale.jpg", "cropped_rotated.jpg", "inside_a_bigger_picture.jpg"}
    assert {m["level"] for m in found.values()} <= {"possible", "confident"}
    assert all(m["model"] == DEFAULT_FACE_MODEL for m in found.values())


def test_reference_crops_are_small_and_encrypted(ws, enrolled_with_old_model):
    raw = ws.engine.connect().exec_driver_sql("select reference_crop from subject_templates").scalar()  # as stored
    assert raw and not raw.startswith(b"\xff\xd8")  # not a readable JPEG
    with ws.session() as s:
        template = s.query(SubjectTemplate).one()
        jpeg = keys.decrypt(keys.workspace_key(ws.home), template.reference_crop, f"subject_crop:{template.id}".encode())
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(jpeg)).size) <= cases.CROP_SIDE


def test_without_kept_crops_or_photos_reenrolment_asks_for_new_photos(ws, tmp_path):
    photo = save_jpeg(picture("astronaut"), tmp_path / "astronaut.jpg", quality=95)
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case", "me")
        subject = cases.enrol_subject(ws, s, case, "X", CONSENT, [photo],
                                      analyzer=FaceAnalyzer(embedder=DlibResNetEmbedder()))
    with ws.session() as s, pytest.raises(JikimiError, match="re-enrolment needs new photos"):
        cases.reenrol_subject(ws, s, subject.id, "me")
    with ws.session() as s:
        assert [t.model for t in s.query(SubjectTemplate)] == [DlibResNetEmbedder.model_id]


def test_the_cli_warns_about_and_reenrols_a_subject_of_another_model(tmp_path):
    """`subject add --keep-reference-crops` with the old model, a scan that says she will not
    be found, `subject reenrol`, and a scan that finds her."""
    import json
    import os
    import subprocess
    import sys

    def run(*args, model=None):
        env = {**os.environ, "JIKIMI_HOME": str(tmp_path / "home")}
        env.pop("JIKIMI_FACE_MODEL", None)
        if model:
            env["JIKIMI_FACE_MODEL"] = model
        result = subprocess.run([sys.executable, "-m", "jikimi", *map(str, args)], env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return result

    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    suspect = tmp_path / "suspect"
    save_jpeg(picture("astronaut").resize((320, 320)), suspect / "her.jpg", quality=50)
    run("init")
    run("case", "create", "Case A")
    added = json.loads(run("subject", "add", 1, photo, "--name", "Eileen", "--consent", "search for me",
                           "--keep-reference-crops", "--json", model=DlibResNetEmbedder.model_id).stdout)
    assert added["models"] == [DlibResNetEmbedder.model_id] and added["reference_crops_kept"] == 1
    scan = run("scan", suspect, "--jobs", "1", "--json")
    assert f"Subject {added['id']} (Eileen) was enrolled with another face model" in scan.stderr
    assert json.loads(scan.stdout)["counts"]["matched"] == 0
    reenrolled = run("subject", "reenrol", added["id"])
    assert f"now of model {DEFAULT_FACE_MODEL}" in reenrolled.stdout
    scan = run("scan", suspect, "--jobs", "1", "--json")
    assert "another face model" not in scan.stderr and json.loads(scan.stdout)["counts"]["matched"] == 1
