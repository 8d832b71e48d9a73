"""Face detection, enrolment refusals and identity matching, on public-domain portraits only."""

from __future__ import annotations

from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage import data

from conftest import jpeg_bytes
from jikimi.errors import JikimiError
from jikimi.signals.face_embedding import default_embedder
from jikimi.signals.face_detection import YuNetDetector
from jikimi.signals.faces import (
    MIN_REFERENCE_FACE_PX,
    FaceAnalyzer,
    FaceSignal,
    UnusableReferenceFace,
    face_distance,
)
from jikimi.signals.nudity import NudityClassifier

FACE_MATCH_THRESHOLD = default_embedder().match_threshold  # the shipped model's "possible" level
FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def hopper() -> Image.Image:
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return Image.open(path).convert("RGB")


@pytest.fixture(scope="module")
def astronaut_ref(analyzer, astronaut) -> FaceSignal:
    return analyzer.reference_face(np.asarray(astronaut))


@pytest.fixture(scope="module")
def hopper_ref(analyzer, hopper) -> FaceSignal:
    return analyzer.reference_face(np.asarray(hopper))


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def recompressed(image: Image.Image, quality: int) -> Image.Image:
    import io

    return Image.open(io.BytesIO(jpeg_bytes(image, quality))).convert("RGB")


def closest(template: FaceSignal, faces: list[FaceSignal]) -> float:
    return min(face_distance(template.embedding, f.embedding) for f in faces)


def refusal(analyzer, image: Image.Image, face_index=None) -> str:
    with pytest.raises(UnusableReferenceFace) as caught:
        analyzer.reference_face(rgb(image), face_index)
    assert isinstance(caught.value, JikimiError)
    return str(caught.value)


def test_reference_face_is_a_usable_template(astronaut_ref):
    assert astronaut_ref.embedding.shape == (128,)
    assert astronaut_ref.embedding.dtype == np.float32
    box = astronaut_ref.box
    assert 0 <= box.left < box.right <= 512 and 0 <= box.top < box.bottom <= 512
    assert astronaut_ref.size_px >= MIN_REFERENCE_FACE_PX
    assert astronaut_ref.detector == "hog"
    assert set(astronaut_ref.to_dict()) == {"box", "size_px", "sharpness", "detector"}  # no embedding


def test_face_distance_is_a_metric(astronaut_ref, hopper_ref):
    assert face_distance(astronaut_ref.embedding, astronaut_ref.embedding) == 0.0
    d = face_distance(astronaut_ref.embedding, hopper_ref.embedding)
    assert d == pytest.approx(face_distance(hopper_ref.embedding, astronaut_ref.embedding))
    assert d > FACE_MATCH_THRESHOLD


def test_astronaut_found_in_a_downscaled_recompressed_copy(analyzer, astronaut, astronaut_ref, hopper_ref):
    copy = recompressed(astronaut.resize((300, 300), Image.LANCZOS), quality=45)
    faces = analyzer.faces(rgb(copy))
    assert closest(astronaut_ref, faces) <= FACE_MATCH_THRESHOLD
    assert closest(hopper_ref, faces) > FACE_MATCH_THRESHOLD


def textured_720p(seed: int) -> Image.Image:
    """A 1280x720 background of smooth colour blotches and fine noise, as the benchmarks use."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(60, 200, (6, 10, 3), dtype=np.uint8)).resize((1280, 720), Image.BICUBIC)
    noise = rng.normal(0, 12, (720, 1280, 1))
    return Image.fromarray(np.clip(np.asarray(coarse, np.float32) + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("portrait", ["astronaut", "hopper"])
def test_face_36_px_wide_found_in_a_720p_picture(analyzer, request, portrait):
    image, reference = request.getfixturevalue(portrait), request.getfixturevalue(f"{portrait}_ref")
    scale = 36 / (reference.box.right - reference.box.left)
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    canvas = textured_720p(seed=36)
    canvas.paste(small, (700, 300))
    centre = (700 + (reference.box.left + reference.box.right) / 2 * scale, 300 + (reference.box.top + reference.box.bottom) / 2 * scale)
    faces = analyzer.faces(rgb(recompressed(canvas, 70)))
    assert len(faces) == 1
    face = faces[0]
    assert face.box.left <= centre[0] <= face.box.right and face.box.top <= centre[1] <= face.box.bottom
    assert 30 <= face.size_px <= 44 and face.detector == "yunet" and face.embedding.shape == (128,)


def test_detector_boxes_follow_dlib_convention_with_five_landmarks(astronaut, astronaut_ref):
    """The 5-point model that aligns faces for the embedding expects dlib-sized boxes."""
    (box,) = YuNetDetector().detect(rgb(astronaut))
    ref = astronaut_ref.box
    inter = max(0, min(box.right, ref.right) - max(box.left, ref.left)) * max(0, min(box.bottom, ref.bottom) - max(box.top, ref.top))
    union = (box.right - box.left) * (box.bottom - box.top) + (ref.right - ref.left) * (ref.bottom - ref.top) - inter
    assert inter / union >= 0.6
    assert len(box.landmarks) == 5
    assert all(ref.left - 10 <= x <= ref.right + 10 and ref.top - 20 <= y <= ref.bottom + 10 for x, y in box.landmarks)


def test_astronaut_found_small_inside_a_larger_picture(analyzer, astronaut, astronaut_ref):
    canvas = Image.new("RGB", (1280, 720), (90, 110, 100))
    canvas.paste(astronaut.resize((400, 400)), (800, 250))  # face ~75 px
    picture = rgb(recompressed(canvas, 60))
    faces = analyzer.faces(picture, NudityClassifier().classify(picture).face_boxes())
    assert closest(astronaut_ref, faces) <= FACE_MATCH_THRESHOLD
    assert faces[0].box.left >= 800


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_pictures_converted_by_the_caller_still_match(analyzer, astronaut, astronaut_ref, mode):
    converted = astronaut.convert(mode).convert("RGB")
    assert closest(astronaut_ref, analyzer.faces(rgb(converted))) <= FACE_MATCH_THRESHOLD


def test_rgba_and_16_bit_pictures_converted_by_the_caller_still_match(analyzer, astronaut, astronaut_ref):
    rgba = astronaut.convert("RGBA")
    assert closest(astronaut_ref, analyzer.faces(rgb(rgba))) <= FACE_MATCH_THRESHOLD
    sixteen = data.astronaut().astype(np.uint16) * 257  # what a 16-bit PNG decodes to
    eight = (sixteen >> 8).astype(np.uint8)
    assert closest(astronaut_ref, analyzer.faces(eight)) <= FACE_MATCH_THRESHOLD


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((64, 64), np.uint8),  # grayscale
        np.zeros((64, 64, 4), np.uint8),  # alpha
        np.zeros((64, 64, 3), np.uint16),  # 16-bit
        np.zeros((64, 64, 3), np.float32),
    ],
)
def test_only_rgb_uint8_arrays_are_accepted(analyzer, bad):
    with pytest.raises(ValueError, match="RGB uint8"):
        analyzer.faces(bad)
    with pytest.raises(ValueError, match="RGB uint8"):
        analyzer.reference_face(bad)


@pytest.mark.parametrize("side", ["left", "top"])
def test_face_cut_by_the_picture_border(analyzer, astronaut, astronaut_ref, side):
    box = astronaut_ref.box
    cut = (box.right - box.left) // 8  # an eighth of the face is outside the picture
    if side == "left":
        cropped = astronaut.crop((box.left + cut, 0, 512, 512))
    else:
        cropped = astronaut.crop((0, box.top + cut, 512, 512))
    faces = analyzer.faces(rgb(cropped))
    for f in faces:
        assert 0 <= f.box.left < f.box.right <= cropped.width
        assert 0 <= f.box.top < f.box.bottom <= cropped.height
    assert closest(astronaut_ref, faces) <= FACE_MATCH_THRESHOLD


def test_nudenet_proposals_add_faces_without_duplicates(analyzer, astronaut, astronaut_ref):
    picture = rgb(astronaut)
    proposals = NudityClassifier().classify(picture).face_boxes()
    assert proposals, "NudeNet finds the astronaut's face"
    keeps_no_box = YuNetDetector(min_score=1.01)  # scores are at most 1: only the proposals remain
    only_proposals = FaceAnalyzer(keeps_no_box).faces(picture, proposals)
    assert [f.detector for f in only_proposals] == ["nudenet"] * len(proposals)
    assert closest(astronaut_ref, only_proposals) <= FACE_MATCH_THRESHOLD
    both = analyzer.faces(picture, proposals)
    assert len(both) == len(analyzer.faces(picture))  # the proposal covers the detected face: dropped


def test_no_face_in_a_plain_picture(analyzer):
    noise = np.random.default_rng(0).integers(100, 140, (480, 640, 3), dtype=np.uint8)
    assert analyzer.faces(noise) == []
    assert refusal(analyzer, Image.fromarray(noise)) == "no face found"
    assert analyzer.faces(rgb(textured_720p(seed=1))) == []
    assert analyzer.faces(np.full((720, 1280, 3), 255, np.uint8)) == []


@pytest.mark.parametrize("scene", ["chelsea", "coffee", "rocket"])
def test_no_face_in_pictures_of_a_cat_a_cup_and_a_rocket(analyzer, scene):
    assert analyzer.faces(getattr(data, scene)()) == []


def test_no_face_in_a_picture_of_dogs(analyzer):
    dogs = FACES / "groups" / "dogs.jpg"
    if not dogs.exists():
        pytest.skip("../shared/data/faces is not on this machine")
    assert refusal(analyzer, Image.open(dogs)) == "no face found"
    assert analyzer.faces(rgb(Image.open(dogs))) == []


def two_portraits(astronaut: Image.Image, hopper: Image.Image) -> Image.Image:
    right = hopper.resize((round(hopper.width * 512 / hopper.height), 512))
    both = Image.new("RGB", (512 + right.width, 512))
    both.paste(astronaut, (0, 0))
    both.paste(right, (512, 0))
    return both


def test_several_faces_are_refused_unless_one_is_chosen(analyzer, astronaut, hopper, hopper_ref):
    both = two_portraits(astronaut, hopper)
    assert refusal(analyzer, both) == "2 faces found: choose one with --face N (1 to 2, left to right)"
    chosen = analyzer.reference_face(rgb(both), face_index=2)
    assert chosen.box.left >= 512
    assert face_distance(chosen.embedding, hopper_ref.embedding) <= FACE_MATCH_THRESHOLD
    assert refusal(analyzer, both, face_index=3) == "no face number 3: 2 found (1 to 2, left to right)"


def test_group_photo_is_refused_with_the_number_of_faces(analyzer):
    group = FACES / "groups" / "2007_007763.jpg"
    if not group.exists():
        pytest.skip("../shared/data/faces is not on this machine")
    message = refusal(analyzer, Image.open(group))
    assert message.split(" faces found: choose one with --face N")[0].isdigit()


def test_small_face_is_refused_with_its_size(analyzer, astronaut):
    small = astronaut.resize((220, 220), Image.LANCZOS)  # face ~40 px
    message = refusal(analyzer, small)
    assert message.startswith("face too small (") and message.endswith(f" px, need {MIN_REFERENCE_FACE_PX})")
    size = int(message.split("(")[1].split(" ")[0])
    assert 25 <= size < MIN_REFERENCE_FACE_PX


def test_blurred_face_is_refused(analyzer, hopper):
    blurred = hopper.filter(ImageFilter.GaussianBlur(6))
    assert refusal(analyzer, blurred).startswith("face too blurred (sharpness ")
