"""The sample export is shaped like a real Telegram export, reproducible, and its ground
truth holds when checked with pdqhash and the face models directly (not with our own
scanner, which it tests)."""

import hashlib
import json
from functools import cache
from pathlib import Path

import av
import numpy as np
import pdqhash
import pytest
from PIL import Image

from jikimi.demo.sample_export import (
    KNOWN_VIDEO, NOT_INCLUDED, SUBJECT_NAME, TOO_LARGE, ExpectedMatch, build_sample_export,
)
from jikimi.signals.faces import FaceAnalyzer, face_distance
from jikimi.signals.pdq_variants import INNER, pdq_with_variants

PDQ_MATCH = 31  # the match threshold scanners use (threatexchange's PDQ_CONFIDENT_MATCH_THRESHOLD)
PDQ_QUALITY = 50  # below this, PDQ hashes are not used for matching
MATCH_MARGIN = 26  # intended matches stay this close, so small decoder differences do not matter
UNRELATED_MARGIN = 60  # unrelated pictures stay this far from every known picture and frame
MISS_MARGIN = 40  # "miss" copies are really out of PDQ's reach, not borderline
SUBJECT_MARGIN = 0.4  # posts showing the subject stay this close to her, well inside any model's threshold


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample_export(tmp_path_factory.mktemp("sample") / "case")


@pytest.fixture(scope="module")
def chat(sample):
    return json.loads((sample.export_dir / "result.json").read_text(encoding="utf-8"))


def pdq(image: Image.Image) -> tuple[np.ndarray, int]:
    return pdqhash.compute(np.ascontiguousarray(np.asarray(image.convert("RGB"))))


def distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(a != b))


@cache
def image_hash(path: Path) -> tuple[np.ndarray, int]:
    with Image.open(path) as image:
        return pdq(image)


@cache
def frame_hashes(path: Path) -> tuple[tuple[np.ndarray, int], ...]:
    """PDQ of one frame per second, as vPDQ samples them."""
    hashes, next_second = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= next_second:
                hashes.append(pdq(frame.to_image()))
                next_second += 1
    return tuple(hashes)


def known_hashes(sample) -> dict[str, list[np.ndarray]]:
    """Every hash a bank built from known/ would hold: one per image, one per video second."""
    banks = {}
    for name in sample.known_files:
        path = sample.known_dir / name
        banks[name] = [h for h, _ in hashes_of(path)]
    return banks


def nearest(hashes: list[np.ndarray], targets: list[np.ndarray]) -> int:
    return min(distance(a, b) for a in hashes for b in targets)


def hashes_of(path: Path) -> list[tuple[np.ndarray, int]]:
    return list(frame_hashes(path)) if path.suffix.lower() == ".mp4" else [image_hash(path)]


def inner_picture_hashes(path: Path) -> list[np.ndarray]:
    """The scan's query hashes of the picture found inside a screenshot, if any."""
    if path.suffix.lower() == ".mp4":
        return []
    _, variants = pdq_with_variants(np.asarray(Image.open(path).convert("RGB")))
    return [np.array([int(b) for b in bin(int(v["pdq"], 16))[2:].zfill(256)], np.uint8)
            for v in variants if v["variant"] == INNER]


def media_paths(message: dict) -> list[str]:
    return [message[key] for key in ("photo", "file", "thumbnail") if key in message]


# --- shape of the export --------------------------------------------------------------


def test_result_json_has_the_shape_of_a_telegram_export(chat):
    assert chat["name"] and chat["type"] == "private_supergroup" and chat["id"] == 1987654321
    messages = chat["messages"]
    assert 280 <= len(messages) <= 320
    assert [m["id"] for m in messages] == sorted({m["id"] for m in messages})
    for message in messages:
        assert message["type"] in ("message", "service")
        assert message["date_unixtime"].isdigit() and len(message["date"]) == 19
        assert isinstance(message["text"], (str, list))
        if message["type"] == "message":
            assert message["from"] and message["from_id"].startswith("user")
    with_media = [m for m in messages if "photo" in m or "file" in m]
    assert 0.4 <= len(with_media) / len(messages) <= 0.6
    assert sum(m["type"] == "service" for m in messages) >= 10
    assert any("forwarded_from" in m for m in messages)
    assert any(isinstance(m["text"], list) and any(isinstance(p, dict) and p["type"] == "link"
                                                    for p in m["text"]) for m in messages)
    media_types = {m.get("media_type") for m in with_media}
    assert {"video_file", "animation", "video_message"} <= media_types
    for message in with_media:
        if "photo" in message:
            assert message["width"] > 0 and message["height"] > 0
        if message.get("media_type"):
            assert message["mime_type"] == "video/mp4" and message["duration_seconds"] > 0


def test_every_referenced_file_exists_except_the_intended_ones(sample, chat):
    expected_errors = {e.path for e in sample.expectations if e.outcome == "error"}
    absent = {NOT_INCLUDED, TOO_LARGE, "../../etc/passwd"}
    referenced = set()
    for message in chat["messages"]:
        for path in media_paths(message):
            if path in absent:
                assert path in expected_errors
                continue
            assert (sample.export_dir / path).is_file(), path
            referenced.add(path)
    on_disk = {p.relative_to(sample.export_dir).as_posix() for p in sample.export_dir.rglob("*")
               if p.is_file() and p.name != "result.json"}
    assert on_disk == referenced
    assert {"photos", "video_files", "files", "round_video_messages"} <= {
        p.name for p in sample.export_dir.iterdir() if p.is_dir()}


def test_ground_truth_covers_every_posted_file(sample, chat):
    posted = {(m["id"], path) for m in chat["messages"] for path in media_paths(m)}
    assert {(e.message_id, e.path) for e in sample.expectations} == posted
    assert set(sample.by_message()) == {m["id"] for m in chat["messages"] if "photo" in m or "file" in m}
    written = json.loads((sample.root / "ground_truth.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(sample.to_json()))
    outcomes = [e.outcome for e in sample.by_message().values()]
    counts = {outcome: outcomes.count(outcome) for outcome in set(outcomes)}
    assert counts == {"match": 43, "miss": 2, "unrelated": 104, "subject": 7, "error": 7}
    assert written["subject_name"] == SUBJECT_NAME and written["subject_photos"] == ["astronaut.jpg"]
    for expectation in sample.expectations:
        if expectation.outcome == "subject":
            assert expectation.matches == (ExpectedMatch(SUBJECT_NAME, "face"),), expectation


def test_two_builds_are_identical(sample, tmp_path):
    again = build_sample_export(tmp_path / "again")

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digests(again.root) == digests(sample.root)


def test_refuses_to_write_into_a_folder_in_use(tmp_path):
    (tmp_path / "notes.txt").write_text("case notes")
    with pytest.raises(FileExistsError):
        build_sample_export(tmp_path)


# --- the ground truth holds under pdqhash --------------------------------------------


def test_known_files_hash_with_good_quality(sample):
    for name in sample.known_files:
        qualities = [q for _, q in hashes_of(sample.known_dir / name)]
        assert min(qualities) >= PDQ_QUALITY, name


def test_intended_matches_are_within_the_pdq_threshold(sample):
    banks = known_hashes(sample)
    for expectation in sample.expectations:
        if expectation.outcome != "match":
            continue
        path = sample.export_dir / expectation.path
        hashes = hashes_of(path)
        assert min(q for _, q in hashes) >= PDQ_QUALITY, expectation
        for match in expectation.matches:
            known = sample.known_dir / match.target
            if match.kind == "sha256":
                assert path.read_bytes() == known.read_bytes(), expectation
            elif match.kind == "vpdq":  # every sampled second of the copy is a known frame
                worst = max(nearest([h], banks[match.target]) for h, _ in hashes)
                assert worst <= MATCH_MARGIN, expectation
            else:  # an image (or the picture inside a screenshot), or some frame of a video, is close
                candidates = [h for h, _ in hashes] + inner_picture_hashes(path)
                assert nearest(candidates, banks[match.target]) <= MATCH_MARGIN, expectation


def test_unrelated_files_are_far_from_everything_known(sample):
    """Pictures of the subject too: her posts must not be found by hash."""
    every_known = [h for hashes in known_hashes(sample).values() for h in hashes]
    for expectation in sample.expectations:
        if expectation.outcome in ("unrelated", "subject"):
            hashes = [h for h, _ in hashes_of(sample.export_dir / expectation.path)]
            assert nearest(hashes, every_known) >= UNRELATED_MARGIN, expectation


def test_misses_are_really_beyond_pdq(sample):
    banks = known_hashes(sample)
    for expectation in sample.expectations:
        if expectation.outcome == "miss":
            (h, _), = hashes_of(sample.export_dir / expectation.path)
            assert nearest([h], banks[expectation.matches[0].target]) >= MISS_MARGIN, expectation


def test_bad_inputs_really_fail_to_decode(sample):
    for expectation in sample.expectations:
        path = sample.export_dir / expectation.path
        if expectation.outcome != "error" or not path.is_file():
            continue
        with pytest.raises((OSError, Image.DecompressionBombError)):
            with Image.open(path) as image:
                image.load()


def test_the_known_video_has_a_different_frame_every_second(sample):
    hashes = [h for h, _ in frame_hashes(sample.known_dir / KNOWN_VIDEO)]
    assert len(hashes) == 8
    assert all(distance(a, b) > 0 for a, b in zip(hashes, hashes[1:]))


# --- the ground truth holds under the face models ------------------------------------


def pictures_of(path: Path) -> list[np.ndarray]:
    """The picture, or one frame per second of a video, as RGB arrays."""
    if path.suffix.lower() != ".mp4":
        with Image.open(path) as image:
            return [np.asarray(image.convert("RGB"))]
    frames, next_second = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= next_second:
                frames.append(frame.to_ndarray(format="rgb24"))
                next_second += 1
    return frames


def test_posts_showing_the_subject_are_close_to_her_reference_photo(sample):
    analyzer = FaceAnalyzer()
    with Image.open(sample.subject_dir / "astronaut.jpg") as image:
        reference = analyzer.reference_face(np.asarray(image.convert("RGB")))
    people = [e for e in sample.expectations if e.outcome == "subject" or "Grace Hopper" in e.note]
    assert len(people) == 9  # 6 pictures, a video and its thumbnail of her; Grace Hopper alone
    for expectation in people:
        for rgb in pictures_of(sample.export_dir / expectation.path):
            distances = [face_distance(f.embedding, reference.embedding) for f in analyzer.faces(rgb)]
            if expectation.outcome == "subject":  # in every frame of the video too
                assert distances and min(distances) <= SUBJECT_MARGIN, (expectation, distances)
            else:
                assert distances and min(distances) > analyzer.embedder.match_threshold, (expectation, distances)


def test_posts_showing_people_carry_no_chatter(sample, chat):
    people = {e.message_id for e in sample.expectations if e.outcome == "subject" or "Grace Hopper" in e.note}
    texts = {m["id"]: m["text"] for m in chat["messages"] if m["id"] in people}
    assert len(texts) == 8 and set(texts.values()) == {""}
