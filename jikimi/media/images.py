"""Open untrusted images safely: pixel limit from the header, then decode, orient, RGB."""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps
from pillow_heif import register_heif_opener

from jikimi.errors import MediaTooLarge, UnsupportedMedia
from jikimi.limits import Limits
from jikimi.text import plain_reason

register_heif_opener()  # HEIC from iPhones; AVIF is native in Pillow


def open_image(path: Path, limits: Limits, *, min_side: int | None = None) -> Image.Image:
    """Decode an image to RGB, upright as a viewer shows it (EXIF orientation applied).

    The pixel count is checked from the header before any pixel is decoded, so a small
    file declaring huge dimensions (a decompression bomb) costs nothing. Animations give
    their first frame. `min_side` lets JPEGs decode at a reduced scale (DCT scaling)
    while keeping both sides at least that long: much faster when only a hash is needed.
    """
    # We own the file handle, so it is closed even for animations Pillow keeps open.
    with open(path, "rb") as f:
        img = _open_header(f, limits)
        width, height = img.size
        if width * height > limits.max_image_pixels:
            raise MediaTooLarge(
                f"image is {width}x{height} pixels, more than the limit of {limits.max_image_pixels}"
            )
        if min_side and img.format == "JPEG":
            img.draft("RGB", (min_side, min_side))
        try:
            # WeasyPrint (PDF reports) sets Pillow's global LOAD_TRUNCATED_IMAGES when it is
            # imported; evidence must never be silently padded with grey, so refuse truncation.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            return _to_rgb(img)
        except Exception as e:  # OSError, SyntaxError, struct.error... on corrupt data
            raise UnsupportedMedia(f"image is truncated or corrupt ({img.format}: {_reason(e)})") from None


def _open_header(f, limits: Limits) -> Image.Image:
    with warnings.catch_warnings():
        # Our own pixel limit decides; Pillow's warning threshold would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(f)
        except Image.DecompressionBombError:  # Pillow's own cap, twice its warning threshold
            raise MediaTooLarge(f"image has more pixels than the limit of {limits.max_image_pixels} "
                                "(--max-pixels)") from None
        except Image.UnidentifiedImageError:
            raise UnsupportedMedia("not a readable image (its format is not recognised)") from None
        except Exception as e:  # Pillow raises many types on hostile headers
            raise UnsupportedMedia(f"not a readable image ({_reason(e)})") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with alpha dropped, not composited.

    Dropping alpha keeps the stored colour values, which is what threatexchange's
    PdqSignal hashes: our PDQ of a transparent PNG then equals the hashes in shared banks.
    """
    if img.mode.startswith("I;16"):
        # Pillow clips 16-bit samples to 255 when converting; scale them down instead.
        img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8))
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA")  # applies palette transparency without Pillow's warning
    return img if img.mode == "RGB" else img.convert("RGB")


def _reason(error: Exception) -> str:
    return plain_reason(error)
