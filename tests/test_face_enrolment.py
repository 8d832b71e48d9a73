"""A subject enrolled from several photos is matched against her mean template, with the
thresholds measured for that many photos (docs/faces.md); public-domain faces only."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from jikimi import cases, keys
from jikimi.match import SubjectMatcher, face_associated_data
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.signals.face_embedding import DEFAULT_FACE_MODEL, EMBEDDERS, embedder, mean_template
from jikimi.store.models import ContentFace
from test_face_models import _Content
from test_subjects import CONSENT

JOHNS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "johns"
if not JOHNS.is_dir():
    JOHNS = Path("/work/shared/data/faces/johns")


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_more_reference_photos_never_loosen_a_models_thresholds():
    for model_id in EMBEDDERS:
        model = embedder(model_id)
        assert model.thresholds(1) == (model.match_threshold, model.confident_threshold)
        levels = [model.thresholds(n) for n in range(1, 12)]
        assert all(0 < confident < possible for possible, confident in levels)
        assert [p for p, _ in levels] == sorted((p for p, _ in levels), reverse=True)
        assert levels[-1] == model.thresholds(max(model.subject_thresholds))  # 4 or more: one entry


def test_the_mean_template_of_unit_vectors_is_a_unit_vector_between_them():
    rng = np.random.default_rng(1)
    templates = np.stack([unit(rng.normal(size=128)) for _ in range(3)])
    mean = mean_template(templates)
    assert np.linalg.norm(mean) == pytest.approx(1.0, abs=1e-5)
    assert all(np.linalg.norm(mean - t) < np.linalg.norm(templates[0] - templates[1]) + 1e-6 for t in templates)


def face_at(key: bytes, vector: np.ndarray, face_id: int = 7) -> ContentFace:
    face = ContentFace(id=face_id, sha256="0" * 64, frame_time=None, box={}, score=1.0, model=DEFAULT_FACE_MODEL)
    face.embedding = keys.encrypt(key, vector.astype(np.float32).tobytes(), face_associated_data(face_id))
    return face


def test_a_subject_of_several_photos_is_matched_against_her_mean_with_their_threshold():
    key, model = bytes(32), embedder(DEFAULT_FACE_MODEL)
    rng = np.random.default_rng(2)
    centre = unit(rng.normal(size=128))
    # Three templates spread around her centre, and a probe at the centre: closer to their mean
    # than the 3-photo threshold, further from every single template than the 1-photo one.
    templates = [unit(centre + 2.2 * unit(rng.normal(size=128))) for _ in range(3)]
    mean = mean_template(np.stack(templates))
    probe = centre
    to_mean = float(np.linalg.norm(probe - mean))
    assert to_mean < model.thresholds(3)[0]
    assert min(np.linalg.norm(probe - t) for t in templates) > model.thresholds(1)[0]
    subject = [cases.Template(1, "Eileen", 1, t, DEFAULT_FACE_MODEL) for t in templates]
    [found] = SubjectMatcher(subject, key).match(_Content([face_at(key, probe)]))
    assert found.subject_id == 1 and found.distance == pytest.approx(to_mean, abs=1e-4)
    assert found.detail["threshold"] == model.thresholds(3)[0]
    # The same probe is not her when she gave only one of those photos.
    assert SubjectMatcher(subject[:1], key).match(_Content([face_at(key, probe)])) == []


def test_each_subject_keeps_the_threshold_of_her_own_number_of_photos():
    key, model = bytes(32), embedder(DEFAULT_FACE_MODEL)
    rng = np.random.default_rng(3)
    one = unit(rng.normal(size=128))
    between = (model.thresholds(4)[0] + model.thresholds(1)[0]) / 2  # loose enough for 1 photo, not for 4
    side = rng.normal(size=128)
    side = unit(side - np.dot(side, one) * one)
    angle = 2 * np.arcsin(between / 2)  # a probe at chordal distance `between` from `one`
    probe = unit(np.cos(angle) * one + np.sin(angle) * side)
    assert np.linalg.norm(probe - one) == pytest.approx(between, abs=1e-4)
    subjects = [cases.Template(1, "one photo", 1, one, DEFAULT_FACE_MODEL)]
    subjects += [cases.Template(2, "four photos", 1, one, DEFAULT_FACE_MODEL) for _ in range(4)]
    found = SubjectMatcher(subjects, key).match(_Content([face_at(key, probe)]))
    assert [f.subject_id for f in found] == [1]


@pytest.mark.skipif(not JOHNS.is_dir(), reason="needs ../shared/data/faces/johns")
def test_a_man_enrolled_from_five_photos_is_found_in_his_others_and_no_one_else(ws, tmp_path):
    mine = sorted((JOHNS / "John_Simm").glob("*.jpg"))
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case J", "counsellor-park")
        cases.enrol_subject(ws, s, case, "J", CONSENT, mine[:5])
    suspect = tmp_path / "suspect"
    suspect.mkdir()
    for photo in mine[5:8]:
        shutil.copy(photo, suspect / f"simm_{photo.name}")
    others = [sorted((JOHNS / name).glob("*.jpg"))[0] for name in ("John_Salley", "John_Savage", "John_Schneider", "John_Shimkus")]
    for photo in others:
        shutil.copy(photo, suspect / f"other_{photo.name}")
    scan_id = start_scan(ws, suspect, ScanOptions(jobs=1))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    found = {item["locators"][0]["path"]: [m for m in item["matches"] if m["kind"] == "face"] for item in report["items"]}
    assert len(found) == 7
    possible = embedder(DEFAULT_FACE_MODEL).thresholds(5)[0]
    for path, matches in found.items():
        if path.startswith("simm_"):
            assert len(matches) == 1 and matches[0]["threshold"] == possible, (path, matches)
        else:
            assert matches == [], (path, matches)


def test_the_case_worker_is_told_to_enrol_from_three_to_five_photos(tmp_path):
    import json

    from conftest import picture, save_jpeg
    from test_cli import run

    home = tmp_path / "home"
    run(home, "init")
    words = lambda text: " ".join(text.replace("│", " ").split())
    assert "3-5 clear photos of her face from different occasions" in words(run(home, "subject", "add", "--help").stdout)
    case_id = json.loads(run(home, "case", "create", "Case A", "--json").stdout)["id"]
    photo = save_jpeg(picture("astronaut"), tmp_path / "astronaut.jpg", quality=95)
    coffee = save_jpeg(picture("coffee"), tmp_path / "coffee.jpg")
    refused = run(home, "subject", "add", case_id, photo, coffee, "--name", "E", "--consent", "search", check=False)
    assert refused.returncode != 0
    assert "coffee.jpg: no face found; leave it out or use another clear photo of her face" in words(refused.stderr)
    enrolled = run(home, "subject", "add", case_id, photo, "--name", "E", "--consent", "search").stdout
    assert "Note: enrolled from 1 photo(s): add more with her consent; 3-5 clear photos" in words(enrolled)
