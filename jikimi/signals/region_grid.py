"""A grid of small region hashes of a subject's source photo: which part of it a post changed.

Once the second stage has aligned a post with a source photo (a homography), the post is
warped into the source's frame and both are cut into the same GRID x GRID cells. Each cell is
summarised by a 64-bit difference hash (signs of horizontal grey steps on 9 x 8 samples), its
mean grey and its grey contrast. A cell changed when its texture differs (hash far apart), or
when a textured cell became flat or a flat one textured, or a flat cell changed its brightness:
repainted flat, blurred, filled with noise or pasted over. The largest connected group of
unchanged cells is also the check that the post is an edit of this photo at all: an edit
keeps much of her photo in one piece, another photo of the same person or place does not.

Only these numbers are kept for a source photo (about 2.5 KB, encrypted like face templates),
never its pixels: 64 signs per cell, and a grey level and contrast per cell of a 16 x 16 grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GRID = 16  # cells along each side of the source photo
CELL_W, CELL_H = 18, 16  # pixels per cell of the normalised frame (twice the 9 x 8 hash samples)
FRAME = (GRID * CELL_W, GRID * CELL_H)
# Measured on public-domain photos (tests/test_subject_sources.py, benchmarks/derived_eval.py
# --mode sources): an unedited re-encoded, resized copy warped back differs by 0-14 bits per
# textured cell; a repainted, blurred, noisy or pasted cell by 22-40.
CHANGED_BITS = 20
FLAT_CONTRAST = 6.0  # grey standard deviation (0-255) below which a cell is flat
CHANGED_BRIGHTNESS = 24  # grey levels between two flat cells
CONTRAST_RATIO = 3.0  # a cell whose contrast fell or rose this many times changed
MIN_COVERED = 0.5  # a cell counts only when the post shows at least this share of it
MIN_CHANGED_NEIGHBOURS = 2  # of 8
_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)


@dataclass(frozen=True)
class RegionGrid:
    hashes: np.ndarray  # (GRID, GRID, 8) uint8: each cell's 64-bit difference hash
    brightness: np.ndarray  # (GRID, GRID) uint8 mean grey
    contrast: np.ndarray  # (GRID, GRID) uint8 grey standard deviation

    def to_bytes(self) -> bytes:
        return self.hashes.tobytes() + self.brightness.tobytes() + self.contrast.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> RegionGrid:
        cells = GRID * GRID
        hashes = np.frombuffer(data[:8 * cells], np.uint8).reshape(GRID, GRID, 8)
        brightness = np.frombuffer(data[8 * cells:9 * cells], np.uint8).reshape(GRID, GRID)
        contrast = np.frombuffer(data[9 * cells:10 * cells], np.uint8).reshape(GRID, GRID)
        return cls(hashes, brightness, contrast)


@dataclass(frozen=True)
class Change:
    changed_fraction: float  # of the source's area the post shows
    shown_fraction: float  # of the source's area the post shows at all (a crop shows less)
    box: dict | None  # the changed cells' bounding box in post pixels, None when nothing changed
    kept_fraction: float = 0.0  # of the source's area: its largest connected part the post shows unchanged


def region_grid(rgb: np.ndarray) -> RegionGrid:
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), FRAME, interpolation=cv2.INTER_AREA)
    return _grid(grey.astype(np.float32))


def _grid(grey: np.ndarray) -> RegionGrid:
    cells = grey.reshape(GRID, CELL_H, GRID, CELL_W).transpose(0, 2, 1, 3)
    brightness = cells.mean(axis=(2, 3))
    contrast = cells.std(axis=(2, 3))
    samples = cv2.resize(grey, (GRID * 9, GRID * 8), interpolation=cv2.INTER_AREA)
    samples = samples.reshape(GRID, 8, GRID, 9).transpose(0, 2, 1, 3)
    bits = samples[..., 1:] > samples[..., :-1]
    hashes = np.packbits(bits.reshape(GRID, GRID, 64), axis=-1)
    return RegionGrid(hashes, np.clip(brightness, 0, 255).astype(np.uint8), np.clip(contrast, 0, 255).astype(np.uint8))


def compare(source: RegionGrid, source_size: tuple[int, int], post_rgb: np.ndarray,
            post_to_source: np.ndarray) -> Change:
    """Warp the post into the source's frame (`post_to_source`: 3 x 3, original pixels of
    both) and compare cell by cell."""
    width, height = source_size
    frame_w, frame_h = FRAME
    shrink = min(1.0, 2 * max(frame_w, frame_h) / max(post_rgb.shape[:2]))  # avoid aliasing in the warp
    grey = cv2.cvtColor(post_rgb, cv2.COLOR_RGB2GRAY)
    if shrink < 1:
        grey = cv2.resize(grey, (max(1, round(grey.shape[1] * shrink)), max(1, round(grey.shape[0] * shrink))),
                          interpolation=cv2.INTER_AREA)
    to_frame = np.diag([frame_w / width, frame_h / height, 1.0]) @ np.asarray(post_to_source) @ np.diag([1 / shrink, 1 / shrink, 1.0])
    warped = cv2.warpPerspective(grey, to_frame, FRAME, flags=cv2.INTER_AREA).astype(np.float32)
    shown = cv2.warpPerspective(np.ones_like(grey, np.float32), to_frame, FRAME, flags=cv2.INTER_NEAREST)
    covered = shown.reshape(GRID, CELL_H, GRID, CELL_W).mean(axis=(1, 3)) >= MIN_COVERED
    post = _grid(warped)
    changed = _without_strays(covered & _changed_cells(source, post))
    if not covered.any():
        return Change(0.0, 0.0, None)
    fraction = round(float(changed.sum() / covered.sum()), 3)
    return Change(fraction, round(float(covered.mean()), 3), _box(changed, to_frame, grey.shape, shrink),
                  _largest_part(covered & ~changed))


def _changed_cells(source: RegionGrid, post: RegionGrid) -> np.ndarray:
    bits = _BITS[source.hashes ^ post.hashes].sum(axis=-1)
    a, b = source.contrast.astype(np.float32), post.contrast.astype(np.float32)
    flat_a, flat_b = a < FLAT_CONTRAST, b < FLAT_CONTRAST
    both_textured = ~flat_a & ~flat_b
    brightness = np.abs(source.brightness.astype(np.int16) - post.brightness.astype(np.int16))
    ratio = np.maximum(a, 1) / np.maximum(b, 1)
    return ((both_textured & (bits >= CHANGED_BITS))
            | (flat_a != flat_b)
            | (flat_a & flat_b & (brightness >= CHANGED_BRIGHTNESS))
            | (both_textured & ((ratio >= CONTRAST_RATIO) | (ratio <= 1 / CONTRAST_RATIO))))


def _without_strays(changed: np.ndarray) -> np.ndarray:
    """Drop changed cells with fewer than MIN_CHANGED_NEIGHBOURS changed neighbours: an edit
    covers a connected region, while resampling and JPEG flip single cells here and there."""
    counts = cv2.filter2D(changed.astype(np.float32), -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT)
    return changed & (counts - 1 >= MIN_CHANGED_NEIGHBOURS)


def _largest_part(cells: np.ndarray) -> float:
    """The largest 4-connected group of `cells`, as a share of the grid."""
    count, labels = cv2.connectedComponents(cells.astype(np.uint8), connectivity=4)
    if count < 2:
        return 0.0
    return round(float(np.bincount(labels[labels > 0]).max() / cells.size), 3)


def _box(changed: np.ndarray, to_frame: np.ndarray, shrunk_shape: tuple[int, int], shrink: float) -> dict | None:
    """The changed cells' bounding rectangle mapped back into the post, in post pixels."""
    if not changed.any():
        return None
    rows, cols = np.nonzero(changed)
    x0, x1 = cols.min() * CELL_W, (cols.max() + 1) * CELL_W
    y0, y1 = rows.min() * CELL_H, (rows.max() + 1) * CELL_H
    corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
    inside = cv2.perspectiveTransform(corners, np.linalg.inv(to_frame))[0] / shrink
    limit = np.array([shrunk_shape[1], shrunk_shape[0]]) / shrink
    low, high = np.clip(inside.min(axis=0), 0, limit), np.clip(inside.max(axis=0), 0, limit)
    return {"x": int(low[0]), "y": int(low[1]), "width": int(high[0] - low[0]), "height": int(high[1] - low[1])}
