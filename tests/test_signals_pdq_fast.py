"""The fast PDQ hasher against pdqhash, on public-domain pictures at the sizes scans meet."""

import matplotlib.cbook
import numpy as np
import pdqhash
import pytest
from PIL import Image

from conftest import picture
from jikimi.signals.pdq import hamming, pdq_from_array
from jikimi.signals.pdq_fast import DIHEDRAL_VARIANTS, dihedral_hashes, dihedral_hashes_of_pixels, fast_pdq, pdq_dct

# The bound the fast hasher must keep (issue 12): mean and largest distance to pdqhash's hash.
MAX_MEAN_BITS = 1.0
MAX_BITS = 4


def pictures() -> list[Image.Image]:
    found = [picture(name) for name in ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry")]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        found.append(Image.open(f).convert("RGB"))
    return found


def test_fast_hash_stays_within_the_bound_of_pdqhash():
    sizes = [(1280, 960), (1280, 853), (960, 1280), (4032, 3024), (333, 1017), (129, 300), (64, 64), (100, 70)]
    distances, quality_gaps = [], []
    for image in pictures():
        for size in sizes:
            rgb = np.asarray(image.resize(size))
            canonical, fast = pdq_from_array(rgb), fast_pdq(rgb)
            distances.append(hamming(canonical.hex, fast.hex))
            quality_gaps.append(abs(canonical.quality - fast.quality))
    assert np.mean(distances) <= MAX_MEAN_BITS
    assert max(distances) <= MAX_BITS
    assert max(quality_gaps) <= 1


def test_images_too_small_to_hash_give_pdqhashs_empty_hash():
    rgb = np.zeros((4, 40, 3), np.uint8)
    assert fast_pdq(rgb) == pdq_from_array(rgb)


def test_dihedral_variants_are_pdqhashs():
    rgb = np.asarray(picture("astronaut").resize((1280, 960)))
    hashes, _ = pdqhash.compute_dihedral(rgb)
    canonical = [np.packbits(bits.astype(np.uint8)).tobytes().hex() for bits in hashes[1:]]
    ours = dihedral_hashes(pdq_dct(rgb)[0])
    pdqhash_order = ["rot90", "rot180", "rot270", "flip", "mirror", "transpose", "transverse"]
    assert [hamming(c, ours[name]) for c, name in zip(canonical, pdqhash_order)] == [0] * 7


@pytest.mark.parametrize("variant, turn", [
    ("rot90", lambda a: np.rot90(a, -1)),  # np.rot90 turns counter-clockwise
    ("rot180", lambda a: np.rot90(a, 2)),
    ("rot270", lambda a: np.rot90(a, 1)),
    ("mirror", lambda a: a[:, ::-1]),
    ("flip", lambda a: a[::-1]),
    ("transpose", lambda a: a.transpose(1, 0, 2)),
    ("transverse", lambda a: np.rot90(a, 2).transpose(1, 0, 2)),
])
def test_a_turned_or_mirrored_copy_gives_back_the_original_hash_under_its_variant(variant, turn):
    original = np.asarray(picture("chelsea"))
    posted = np.ascontiguousarray(turn(original))
    variants = dihedral_hashes(pdq_dct(posted)[0])
    original_hash = fast_pdq(original).hex
    assert hamming(variants[variant], original_hash) <= 16  # box windows are not symmetric
    assert min(hamming(h, original_hash) for name, h in variants.items() if name != variant) > 64
    assert hamming(fast_pdq(posted).hex, original_hash) > 64
    assert set(variants) == set(DIHEDRAL_VARIANTS)


def test_small_pictures_get_exact_turned_variants():
    original = np.asarray(picture("astronaut").resize((150, 150)))
    for variant, turn in [("mirror", lambda a: a[:, ::-1]), ("rot90", lambda a: np.rot90(a, -1))]:
        posted = np.ascontiguousarray(turn(original))
        assert dihedral_hashes_of_pixels(posted)[variant] == fast_pdq(original).hex
