"""The second stage's shortlist at scale: past FLAT_LIMIT banked pictures, candidates come
from hash keys of the descriptors, and the answers stay those of the flat search."""

import io

import numpy as np
import pytest
from PIL import Image

from conftest import picture
from jikimi.index.local_features import FLAT_LIMIT, MERGE_AT, LocalFeatureIndex
from jikimi.signals.local_features import DESCRIPTOR_BYTES, LocalFeatures, local_features

BANKED = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "immunohistochemistry", "brick", "page")


def posted(image: Image.Image) -> LocalFeatures:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return local_features(np.asarray(Image.open(buffer).convert("RGB")))


def stand_in(number: int) -> LocalFeatures:
    """Another banked picture's features (random descriptors and places: matches nothing)."""
    rng = np.random.default_rng(number)
    descriptors = rng.integers(0, 256, (500, DESCRIPTOR_BYTES), dtype=np.uint8)
    return LocalFeatures((rng.random((500, 2)) * 640).astype(np.float32), descriptors, 1.0, 640, 640)


def altered() -> dict[str, tuple[str, LocalFeatures]]:
    astronaut, coffee = picture("astronaut"), picture("coffee")
    return {
        "astronaut cropped 8 %": ("astronaut", posted(astronaut.crop((30, 10, 501, 482)))),
        "astronaut turned 5°": ("astronaut", posted(astronaut.rotate(5, Image.BICUBIC))),
        "coffee cropped and turned": ("coffee", posted(coffee.crop((40, 0, 600, 380)).rotate(-4, Image.BICUBIC))),
    }


@pytest.fixture(scope="module")
def banked() -> dict[str, LocalFeatures]:
    return {name: local_features(np.asarray(picture(name))) for name in BANKED}


def test_copies_are_found_among_hundreds_of_banked_pictures_and_unrelated_ones_are_not(banked):
    index = LocalFeatureIndex()
    for number in range(300):
        index.add(1000 + number, stand_in(number))
    for key, name in enumerate(BANKED):
        index.add(key, banked[name])
    assert len(index) == 300 + len(BANKED) > FLAT_LIMIT
    assert index._index is None  # the flat search is gone: this is the shortlist at scale
    for query, (name, features) in altered().items():
        assert [m.key for m in index.search(features)] == [BANKED.index(name)], query
    for unrelated in ("horse", "clock", "hubble_deep_field"):
        assert index.search(posted(picture(unrelated))) == []


def test_the_shortlist_answers_as_the_flat_search_does(banked):
    flat, hashed = LocalFeatureIndex(), LocalFeatureIndex(flat_limit=0)
    for key, name in enumerate(BANKED):
        flat.add(key, banked[name])
        hashed.add(key, banked[name])
    assert flat._index is not None and hashed._index is None
    queries = dict(altered(), grass=("", posted(picture("grass"))), moon=("", posted(picture("moon"))))
    for query, (_, features) in queries.items():
        expected, got = flat.search(features), hashed.search(features)
        assert [m.key for m in got] == [m.key for m in expected], query
        for a, b in zip(expected, got):  # the ratio test sees only the candidates' descriptors
            assert abs(a.inliers - b.inliers) <= 0.05 * a.inliers and a.box.keys() == b.box.keys()


def test_pictures_banked_after_searches_are_found_without_a_rebuild(banked):
    index = LocalFeatureIndex(flat_limit=0)
    index.add(0, banked["chelsea"])
    _, astronaut_copy = altered()["astronaut turned 5°"]
    assert index.search(astronaut_copy) == []
    index.add(1, banked["astronaut"])  # a scan banks a picture while running
    assert [m.key for m in index.search(astronaut_copy)] == [1]
    for number in range(MERGE_AT // 500 + 20):  # enough adds that the next search merges them in
        index.add(1000 + number, stand_in(number))
    assert [m.key for m in index.search(astronaut_copy)] == [1]
    assert all(len(table._pictures) > MERGE_AT for table in index._tables)  # merged, sorted by key
    index.add(2, banked["coffee"])  # found among the recent adds, before they are merged
    assert [m.key for m in index.search(altered()["coffee cropped and turned"][1])] == [2]
    assert all(0 < table._recent <= MERGE_AT for table in index._tables)


@pytest.mark.parametrize("flat_limit", [FLAT_LIMIT, 0])
def test_one_picture_banked_twice_is_found_under_both_keys(banked, flat_limit):
    """As two pictures, each twin would be the other's second-nearest neighbour for every
    descriptor, and the ratio test would refuse them both: the copy would be found by neither."""
    index = LocalFeatureIndex(flat_limit=flat_limit)
    for key, name in enumerate(BANKED):
        index.add(key, banked[name])
    index.add(100, banked["astronaut"])  # the same file, in another bank
    assert len(index) == len(BANKED)
    for query, (name, features) in altered().items():
        expected = [BANKED.index(name), 100] if name == "astronaut" else [BANKED.index(name)]
        assert sorted(m.key for m in index.search(features)) == expected, query
