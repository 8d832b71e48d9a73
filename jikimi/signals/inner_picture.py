"""Find the picture inside a screenshot, a letterboxed frame or a bordered or captioned image.

Whole-image PDQ of a phone screenshot is as far from the photo's hash as an unrelated picture
(status bar, chat bubbles and app chrome take 10-60 % of the screen). But app chrome is made
of flat colour areas (bars, bubbles, borders, letterboxing, caption bars) with small things
drawn on them (text, icons), while a photo has detail almost everywhere. So: mark the large
flat areas, and the picture is the largest nearly rectangular region of detail left between
them. A photo's own flat areas (a clear sky) stay inside it because its edge against the app's
background is a line of detail that keeps the region whole.

Works on light and dark themes alike (flatness, not colour). Not found: pictures on patterned
chat wallpapers (the wallpaper is detail too), and pictures whose edge melts into a background
of exactly the same colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Analysed at this long side: fast, and the rectangle is still placed within ~0.3 % of a side.
ANALYSIS_SIDE = 480
# A pixel is flat when no channel varies by more than this (0-255) in its 3 x 3 neighbourhood.
# JPEG noise on flat app chrome stays under it; photo texture at this scale rarely does.
FLAT_LEVEL = 6
# Detail thinner than this (analysis pixels) is drawn on chrome, not a picture: text strokes,
# icons, bubble outlines. Removing it keeps a caption touching the picture out of its rectangle.
THIN_DETAIL = 5
# A flat area counts as background (chrome, border, bubble) from this fraction of the image;
# smaller flat specks are part of whatever surrounds them.
MIN_BACKGROUND_FRACTION = 0.004
# The picture must cover at least this fraction of the image and fill at least this fraction
# of its bounding rectangle (rounded bubble corners and a flat sky inside a photo are allowed).
MIN_PICTURE_FRACTION = 0.12
MIN_FILL = 0.6
# A picture's flat margin (a plain backdrop, a clear sky) is not detail, so the region can stop
# short of the picture's edge. Each side is pushed out to the nearest line of detail running
# along at least this share of it (the edge between picture and chrome), within this reach.
EDGE_LINE_COVERAGE = 0.9
EDGE_SEARCH_FRACTION = 0.25
# A rectangle this close to the whole image is the image itself: no extra hash.
MAX_SIDE_FRACTION = 0.97


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    def to_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def find_inner_picture(rgb: np.ndarray) -> Rect | None:
    """The rectangle of the picture inside `rgb`, or None when the image is the picture."""
    height, width = rgb.shape[:2]
    scale = min(1.0, ANALYSIS_SIDE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    free = _background_free(small)
    detail = cv2.morphologyEx(free.astype(np.uint8), cv2.MORPH_OPEN,
                              np.ones((THIN_DETAIL, THIN_DETAIL), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(detail, connectivity=8)
    area = small.shape[0] * small.shape[1]
    best = None
    for i in range(1, count):
        x, y, w, h, pixels = stats[i]
        if w * h < MIN_PICTURE_FRACTION * area or pixels < MIN_FILL * w * h:
            continue
        if best is None or w * h > best[2] * best[3]:
            best = (x, y, w, h)
    if best is None:
        return None
    x, y, w, h = _to_edge_lines(free, *best)
    if w >= MAX_SIDE_FRACTION * small.shape[1] and h >= MAX_SIDE_FRACTION * small.shape[0]:
        return None
    # The 3 x 3 spread marks one pixel of background along the picture's edge: leave it out.
    x, y, w, h = x + (x > 0), y + (y > 0), w - (x > 0) - (x + w < small.shape[1]), h - (y > 0) - (y + h < small.shape[0])
    left, top = round(x / scale), round(y / scale)
    right, bottom = min(width, round((x + w) / scale)), min(height, round((y + h) / scale))
    return Rect(left, top, right - left, bottom - top)


def _to_edge_lines(free: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
    top = _edge_line(free[:, x:x + w], y, -1, h)
    bottom = _edge_line(free[:, x:x + w], y + h - 1, 1, h)
    left = _edge_line(free[top:bottom + 1].T, x, -1, w)
    right = _edge_line(free[top:bottom + 1].T, x + w - 1, 1, w)
    return left, top, right - left + 1, bottom - top + 1


def _edge_line(free: np.ndarray, start: int, step: int, span: int) -> int:
    """The row nearest to `start` going by `step` (start itself first) that is a line of
    detail across the span; `start` when there is none within reach."""
    coverage = free.mean(axis=1)
    reach = int(EDGE_SEARCH_FRACTION * span)
    for row in range(start, start + step * reach, step):
        if not 0 <= row < len(coverage):
            break
        if coverage[row] >= EDGE_LINE_COVERAGE:
            return row
    return start


def _background_free(small: np.ndarray) -> np.ndarray:
    """True where a pixel is not part of a large flat area."""
    kernel = np.ones((3, 3), np.uint8)
    spread = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, kernel)
    flat = (spread.max(axis=2) if spread.ndim == 3 else spread) <= FLAT_LEVEL
    count, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    large = stats[:, cv2.CC_STAT_AREA] >= MIN_BACKGROUND_FRACTION * flat.size
    large[0] = False  # label 0 is the detail itself
    return ~large[labels]
