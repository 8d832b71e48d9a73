"""Blurred thumbnails: the only picture of an item that reports and review lists embed."""

import io

from PIL import Image, ImageFilter

# About 10 blocks across keeps the layout and colours a reviewer needs to tell items apart,
# while no face, body or act can be recognised; the blur then hides the block edges.
GRID_WIDTH = 10
BLUR_FRACTION = 1 / 12  # Gaussian radius as a share of the thumbnail width
MAX_ASPECT = 4  # a 1x10000 strip must not become a huge thumbnail
JPEG_QUALITY = 70


def blurred_thumbnail(img: Image.Image, width: int = 160) -> bytes:
    """A JPEG `width` pixels wide, so pixelated and blurred that nothing intimate is visible."""
    src_width, src_height = img.size
    height = max(1, min(round(width * src_height / src_width), MAX_ASPECT * width))
    grid = (GRID_WIDTH, max(1, round(GRID_WIDTH * height / width)))
    small = img.convert("RGB").resize(grid, Image.Resampling.BOX)
    blurred = small.resize((width, height), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(width * BLUR_FRACTION)
    )
    out = io.BytesIO()
    blurred.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
