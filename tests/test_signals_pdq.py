import numpy as np
import pytest
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file as threatexchange_pdq
from threatexchange.signal_type.pdq.signal import PdqSignal

from jikimi.limits import Limits
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD, hamming, pdq_from_array, pdq_from_file, pdq_from_image
from media_helpers import astronaut
from skimage import data


@pytest.mark.parametrize(
    "name, picture, fmt",
    [
        ("astronaut.jpg", lambda: astronaut(), "JPEG"),
        ("coffee.png", lambda: Image.fromarray(data.coffee()), "PNG"),
        ("camera.png", lambda: Image.fromarray(data.camera()), "PNG"),  # grayscale
        ("rocket.webp", lambda: Image.fromarray(data.rocket()), "WEBP"),
    ],
)
def test_same_hash_and_quality_as_threatexchange(tmp_path, name, picture, fmt):
    path = tmp_path / name
    picture().save(path, fmt)
    ours = pdq_from_file(path, Limits())
    assert (ours.hex, ours.quality) == threatexchange_pdq(path)
    assert ours.hex == PdqSignal.hash_from_file(path)
    assert ours.quality >= PDQ_QUALITY_THRESHOLD


def test_large_jpegs_hash_at_reduced_scale_close_to_the_canonical_hash(tmp_path):
    path = tmp_path / "phone.jpg"
    astronaut((4032, 3024)).save(path, "JPEG", quality=90)
    fast = pdq_from_file(path, Limits())
    assert 0 < hamming(fast.hex, threatexchange_pdq(path)[0]) <= 10


def test_array_and_image_agree():
    img = astronaut()
    assert pdq_from_array(np.asarray(img)) == pdq_from_image(img) == pdq_from_image(img.convert("RGBA"))


def test_hamming():
    assert hamming("0" * 64, "0" * 64) == 0
    assert hamming("0" * 64, "f" * 64) == 256
    assert hamming("0" * 63 + "7", "0" * 64) == 3
