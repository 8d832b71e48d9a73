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

# Analysed at this long side: fast, the rectangle placed within ~0.2 % of a side, and a 10 px
# margin between a picture and its bubble in a 1080 x 2400 screenshot still shows as a gap.
ANALYSIS_SIDE = 800
# A pixel is flat when no channel varies by more than this (0-255) in its 3 x 3 neighbourhood.
# JPEG noise on flat app chrome stays under it; photo texture at this scale rarely does.
FLAT_LEVEL = 6
# App chrome is one colour (JPEG noise aside); a smooth part of a photo (sky, skin, an upscaled
# picture) is flat pixel to pixel but drifts in colour across its area. Flat areas whose colour
# spreads more than this (standard deviation, 0-255) are part of the picture, not chrome.
CHROME_COLOUR_STD = 4.0
SPREAD_STEP = 4
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
# Around a picture in chrome there is little solid detail (text and icons are thin); a photo
# whose flat sky made a region look like an inner picture has the rest of the scene around it.
MAX_DETAIL_AROUND = 0.2
# Chrome left inside the region (a bubble's margin made noisy by JPEG, a caption inside the
# bubble, the line of background the 3 x 3 spread adds) is trimmed row by row from each side:
# a row is chrome when this share of it is within the tolerance of a chrome colour (the flat
# areas along the region's border), the rest being text or icons.
CHROME_TOLERANCE = 14
CHROME_ROW_SHARE = 0.7
MAX_TRIM_FRACTION = 0.4
EDGE_BAND = 3
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
                       interpolation=cv2.INTER_LINEAR) if scale < 1 else rgb
    free, flat_labels = _background_free(small)
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
    around = detail.sum() - detail[y:y + h, x:x + w].sum()
    if around > MAX_DETAIL_AROUND * (area - w * h):
        return None
    x, y, w, h = _trim_chrome(small, flat_labels, x, y, w, h)
    if w <= 0 or h <= 0:
        return None
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
    """The row nearest to `start` that is a line of detail across the span, looking first a
    few rows inward (bits of chrome beside the picture can widen the region slightly), then
    outward by `step` (a flat margin can make it stop short); `start` when there is none."""
    coverage = free.mean(axis=1)
    inward = range(start, start - step * THIN_DETAIL, -step)
    outward = range(start + step, start + step * int(EDGE_SEARCH_FRACTION * span), step)
    for row in (*inward, *outward):
        if 0 <= row < len(coverage) and coverage[row] >= EDGE_LINE_COVERAGE:
            return row
    return start


def _trim_chrome(small: np.ndarray, flat_labels: np.ndarray, x: int, y: int, w: int, h: int
                 ) -> tuple[int, int, int, int]:
    """Trim chrome rows and columns from each side; chrome colours are those of the flat
    areas along the region's edge, a few pixels either side of it."""
    x0, y0 = max(0, x - EDGE_BAND), max(0, y - EDGE_BAND)
    band = np.zeros(flat_labels.shape, bool)
    band[y0:y + h + EDGE_BAND, x0:x + w + EDGE_BAND] = True
    band[y + EDGE_BAND:y + h - EDGE_BAND, x + EDGE_BAND:x + w - EDGE_BAND] = False
    labels = np.unique(flat_labels[band])
    colours = [np.array(cv2.mean(small, (flat_labels == label).astype(np.uint8))[:3]) for label in labels if label > 0]
    region = small[y:y + h, x:x + w]
    near = np.zeros((h, w), np.uint8)
    for colour in colours:
        near |= cv2.inRange(region, colour - CHROME_TOLERANCE, colour + CHROME_TOLERANCE)
    near = near > 0
    top, bottom, left, right = 0, h, 0, w
    while top < MAX_TRIM_FRACTION * h and near[top, left:right].mean() >= CHROME_ROW_SHARE:
        top += 1
    while h - bottom < MAX_TRIM_FRACTION * h and near[bottom - 1, left:right].mean() >= CHROME_ROW_SHARE:
        bottom -= 1
    while left < MAX_TRIM_FRACTION * w and near[top:bottom, left].mean() >= CHROME_ROW_SHARE:
        left += 1
    while w - right < MAX_TRIM_FRACTION * w and near[top:bottom, right - 1].mean() >= CHROME_ROW_SHARE:
        right -= 1
    return x + left, y + top, right - left, bottom - top


def _background_free(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True where a pixel is not part of a large flat area; and the large flat areas' labels
    (0 elsewhere)."""
    kernel = np.ones((3, 3), np.uint8)
    spread = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, kernel)
    if spread.ndim == 3:
        spread = cv2.max(cv2.max(spread[:, :, 0], spread[:, :, 1]), spread[:, :, 2])
    flat = spread <= FLAT_LEVEL
    count, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    large = stats[:, cv2.CC_STAT_AREA] >= MIN_BACKGROUND_FRACTION * flat.size
    large[0] = False  # label 0 is the detail itself
    large &= _colour_spread(small, labels, count) <= CHROME_COLOUR_STD
    labels[~large[labels]] = 0
    return labels == 0, labels


def _colour_spread(small: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Per label, the largest standard deviation of a colour channel over its pixels,
    estimated on every SPREAD_STEP-th pixel across and down (large areas only are judged)."""
    step = SPREAD_STEP
    sample_labels = labels[::step, ::step].ravel()
    pixels = np.maximum(np.bincount(sample_labels, minlength=count), 1).astype(np.float64)
    spread = np.zeros(count)
    sample = small[::step, ::step]
    for channel in sample.reshape(len(sample_labels), -1).T:
        values = channel.astype(np.float64)
        mean = np.bincount(sample_labels, values, count) / pixels
        variance = np.bincount(sample_labels, values * values, count) / pixels - mean * mean
        spread = np.maximum(spread, np.sqrt(np.maximum(variance, 0)))
    return spread
