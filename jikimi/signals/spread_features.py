"""Local features spread over the whole picture: what finds a source photo after a large edit.

ORB keeps the strongest corners of the whole picture. A region filled with noise or pasted
from another photo is all corners, so a post's 500 features went almost all (up to 100 %)
into the edit and none to the part of her photo that was kept (benchmarks/derived_eval.py
--mode sources, 40 % edits). Here the picture is cut into CELLS x CELLS cells and each keeps
its own strongest corners, so the share of features on the unchanged part is about the share
of the picture left unchanged, whatever the edit put in.

Same format and units as ``jikimi.signals.local_features`` (positions at FEATURE_SIDE), so
``LocalFeatureIndex`` matches them and source photos stored with plain features still match.
"""

from __future__ import annotations

import cv2
import numpy as np

from jikimi.signals.local_features import DESCRIPTOR_BYTES, FEATURE_SIDE, LocalFeatures

CELLS = 8  # cells along each side
# Per cell, on a source photo (a subject has a handful: up to 2,048 features each) and on a
# post (computed only when the scan looks for source photos). Measured with
# benchmarks/derived_eval.py --mode sources: see docs/scanning.md.
SOURCE_PER_CELL = 32
POST_PER_CELL = 16
# Per cell on a banked picture, in an index of its own (jikimi/match_edits.py): 378 features
# a picture on average over derived_eval.py's known pictures, so at 100,000 banked pictures
# its hash tables take about 300 MB (2 x 4 bytes a feature) on top of the plain ones.
# Measured (derived_eval.py's known pictures, 3 copies each, 40 % / 60 % replaced): 8 per
# cell 0.98 / 0.80, 4 per cell 0.92 / 0.68; plain features on the banked side 0.52 / 0.14.
BANK_PER_CELL = 8
# ORB finds no corner within 31 px of the border (its patch must fit): on a 450-px photo whose
# middle 40 % was replaced, that left 7 features on the kept frame around it. The picture is
# mirrored out by MARGIN first, and only corners inside the picture are kept.
MARGIN = 32
_DETECTOR = cv2.ORB_create(nfeatures=20000)


def spread_features(rgb: np.ndarray, per_cell: int) -> LocalFeatures:
    height, width = rgb.shape[:2]
    scale = min(1.0, FEATURE_SIDE / max(height, width))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(grey, MARGIN, MARGIN, MARGIN, MARGIN, cv2.BORDER_REFLECT_101)
    inside = [k for k in _DETECTOR.detect(padded, None)
              if MARGIN <= k.pt[0] < MARGIN + grey.shape[1] and MARGIN <= k.pt[1] < MARGIN + grey.shape[0]]
    keypoints = _strongest_per_cell(inside, grey.shape, per_cell)
    keypoints, descriptors = _DETECTOR.compute(padded, keypoints)
    if descriptors is None or not len(keypoints):
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), scale, width, height)
    points = np.array([k.pt for k in keypoints], np.float32) - MARGIN
    return LocalFeatures(points, descriptors, scale, width, height)


def _strongest_per_cell(keypoints, shape: tuple[int, int], per_cell: int) -> list:
    if not keypoints:
        return []
    points = np.array([k.pt for k in keypoints], np.float32) - MARGIN
    response = np.array([k.response for k in keypoints], np.float32)
    column = np.minimum((points[:, 0] * CELLS / shape[1]).astype(int), CELLS - 1)
    row = np.minimum((points[:, 1] * CELLS / shape[0]).astype(int), CELLS - 1)
    cell = row * CELLS + column
    order = np.lexsort((-response, cell))  # by cell, strongest first
    sorted_cells = cell[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_cells, sorted_cells)
    return [keypoints[i] for i in order[rank < per_cell]]
