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


def test_astronaut_found_small_inside_a_larger_picture(analyzer, astronaut, astronaut_ref):
    canvas = Image.new("RGB", (1280, 720), (90, 110, 100))
    canvas.paste(astronaut.resize((400, 400)), (800, 250))  # face ~75 px: too small for HOG here
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
    only_proposals = FaceAnalyzer(hog_side=None).faces(picture, proposals)
    assert [f.detector for f in only_proposals] == ["nudenet"] * len(proposals)
    assert closest(astronaut_ref, only_proposals) <= FACE_MATCH_THRESHOLD
    both = analyzer.faces(picture, proposals)
    assert len(both) == len(analyzer.faces(picture))  # the proposal covers HOG's face: dropped


def test_no_face_in_a_plain_picture(analyzer):
    noise = np.random.default_rng(0).integers(100, 140, (480, 640, 3), dtype=np.uint8)
    assert analyzer.faces(noise) == []
    assert refusal(analyzer, Image.fromarray(noise)) == "no face found"


def test_no_face_in_a_picture_of_dogs(analyzer):
    dogs = FACES / "groups" / "dogs.jpg"
    if not dogs.exists():
        pytest.skip("../shared/data/faces is not on this machine")
    assert refusal(analyzer, Image.open(dogs)) == "no face found"


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
