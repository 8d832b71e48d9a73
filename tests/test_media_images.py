import struct
import time
import zlib

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from jikimi.errors import MediaTooLarge, UnsupportedMedia
from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.signals.pdq import hamming, pdq_from_image
from media_helpers import astronaut

LIMITS = Limits()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header claiming width x height RGB pixels, with a valid IHDR CRC and no data."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


def test_a_png_declaring_gigantic_dimensions_is_refused_fast(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(100_000, 100_000))
    start = time.perf_counter()
    with pytest.raises(MediaTooLarge):
        open_image(path, LIMITS)
    assert time.perf_counter() - start < 1


def test_our_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_declaring(5000, 5000))  # no pixel data at all: decoding would fail
    with pytest.raises(MediaTooLarge, match="5000x5000"):
        open_image(path, Limits(max_image_pixels=1_000_000))


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    astronaut((300, 200)).save(path, "JPEG", exif=exif, quality=95)
    upright = open_image(path, LIMITS)
    assert upright.size == (200, 300)
    rotated = Image.open(path).transpose(Image.Transpose.ROTATE_270)
    assert pdq_from_image(upright) == pdq_from_image(rotated)


def test_truncated_jpeg_is_unsupported_with_one_clear_sentence(tmp_path):
    whole = tmp_path / "whole.jpg"
    astronaut().save(whole, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnsupportedMedia, match=r"^image is truncated or corrupt \(JPEG: .+\)$"):
        open_image(cut, LIMITS)


def test_garbage_is_unsupported(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(UnsupportedMedia):
        open_image(path, LIMITS)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray((np.arange(256 * 64).reshape(64, 256) * 4).astype(np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    img = open_image(path, LIMITS)
    pixels = np.asarray(img)
    assert img.mode == "RGB" and pixels.min() == 0 and 250 <= pixels.max() <= 255
    assert len(np.unique(pixels)) > 200  # a gradient, not a white image


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    astronaut().convert("CMYK").save(path, "JPEG", quality=95)
    img = open_image(path, LIMITS)
    assert img.mode == "RGB"
    assert hamming(pdq_from_image(img).hex, pdq_from_image(astronaut()).hex) <= 16


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    path = tmp_path / f"{mode}.png"
    astronaut().convert(mode).save(path)
    img = open_image(path, LIMITS)
    assert img.mode == "RGB" and img.size == (512, 512)


def test_alpha_is_dropped_keeping_stored_colours(tmp_path):
    path = tmp_path / "transparent.png"
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red, fully transparent
    Image.fromarray(rgba).save(path)
    assert np.asarray(open_image(path, LIMITS))[0, 0].tolist() == [200, 0, 0]


def test_animated_gif_gives_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    red, blue = Image.new("RGB", (32, 32), "red"), Image.new("RGB", (32, 32), "blue")
    red.save(path, save_all=True, append_images=[blue], duration=100, loop=0)
    assert open_image(path, LIMITS).getpixel((0, 0)) == (255, 0, 0)


def test_heic_round_trip(tmp_path):
    pillow_heif.register_heif_opener()
    path = tmp_path / "iphone.heic"
    astronaut().save(path, "HEIF", quality=90)
    img = open_image(path, LIMITS)
    assert img.mode == "RGB" and img.size == (512, 512)
    assert hamming(pdq_from_image(img).hex, pdq_from_image(astronaut()).hex) <= 16
