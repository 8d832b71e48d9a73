"""Finding the picture inside screenshots, borders and caption bars, on real drawings."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from conftest import picture
from jikimi.signals.inner_picture import find_inner_picture
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD, hamming
from jikimi.signals.pdq_fast import fast_pdq
from jikimi.signals.pdq_variants import pdq_with_variants
from media_helpers import phone_screenshot

# The found rectangle may be off by this many pixels on a side (it is located at ~800 px).
EDGE_TOLERANCE = 4


def assert_found(image: Image.Image, truth: tuple, original: Image.Image):
    rgb = np.asarray(image)
    box = find_inner_picture(rgb)
    assert box is not None
    x, y, w, h = truth
    assert abs(box.x - x) <= EDGE_TOLERANCE and abs(box.y - y) <= EDGE_TOLERANCE
    assert abs(box.x + box.width - x - w) <= EDGE_TOLERANCE and abs(box.y + box.height - y - h) <= EDGE_TOLERANCE
    inner = rgb[box.y:box.y + box.height, box.x:box.x + box.width]
    assert hamming(fast_pdq(inner).hex, fast_pdq(np.asarray(original)).hex) <= PDQ_DEFAULT_THRESHOLD


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_finds_the_picture_in_a_chat_screenshot(theme, name):
    shot, truth = phone_screenshot(picture(name), theme)
    assert_found(shot, truth, picture(name))


def test_finds_the_picture_inside_letterboxing_and_a_border():
    original = picture("astronaut")
    letterboxed = Image.new("RGB", (512, 900), "black")
    letterboxed.paste(original, (0, 194))
    assert_found(letterboxed, (0, 194, 512, 512), original)
    bordered = ImageOps.expand(original, border=40, fill=(250, 230, 200))
    assert_found(bordered, (40, 40, 512, 512), original)


def test_finds_the_picture_under_a_caption_bar():
    original = picture("coffee")
    captioned = Image.new("RGB", (original.width, original.height + 90), "white")
    captioned.paste(original, (0, 90))
    ImageDraw.Draw(captioned).text((20, 30), "when the coffee hits different", fill="black")
    assert_found(captioned, (0, 90, original.width, original.height), original)


def test_a_plain_photo_has_no_inner_picture():
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        assert find_inner_picture(np.asarray(picture(name))) is None


def test_variants_include_the_inner_picture_with_its_box():
    shot, (x, y, w, h) = phone_screenshot(picture("astronaut"), "dark")
    pdq, variants = pdq_with_variants(np.asarray(shot))
    inner = [v for v in variants if v["variant"] == "inner"]
    assert len(inner) == 1 and abs(inner[0]["box"]["x"] - x) <= EDGE_TOLERANCE
    assert {v["variant"] for v in variants} >= {"mirror", "rot90", "inner", "inner+mirror"}
    assert hamming(inner[0]["pdq"], fast_pdq(np.asarray(picture("astronaut"))).hex) <= PDQ_DEFAULT_THRESHOLD
    assert hamming(pdq.hex, fast_pdq(np.asarray(picture("astronaut"))).hex) > PDQ_DEFAULT_THRESHOLD
