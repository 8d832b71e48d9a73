import io

import numpy as np
from PIL import Image, ImageFilter

from jikimi.media.thumbnails import blurred_thumbnail
from media_helpers import astronaut


def test_thumbnail_is_a_small_jpeg_without_detail():
    thumb = Image.open(io.BytesIO(blurred_thumbnail(astronaut())))
    assert thumb.format == "JPEG" and thumb.size == (160, 160)
    sharp = astronaut((160, 160))
    edges = lambda img: np.asarray(img.convert("L").filter(ImageFilter.FIND_EDGES), dtype=float)[2:-2, 2:-2].mean()
    assert edges(thumb) < edges(sharp) / 10  # measured: 1.5 against 31


def test_extreme_aspect_ratios_stay_small():
    thumb = Image.open(io.BytesIO(blurred_thumbnail(Image.new("RGB", (2, 20_000)), width=100)))
    assert thumb.size == (100, 400)
