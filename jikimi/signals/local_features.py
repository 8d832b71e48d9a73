"""Local features (ORB keypoints and descriptors) of a picture: what finds partial copies.

PDQ summarises the whole picture, so a 5 % crop, a 5-degree turn or a replaced region moves
it as far as an unrelated picture. ORB describes a few hundred small patches (corners) each
by 256 bits, independent of where they are; a crop or turn keeps most patches, and a
consistent geometric transform between the patches of two pictures (RANSAC homography in
``jikimi.index.local_features``) says one is a copy of part of the other.

Only these features are kept for a banked picture, never its pixels: positions and 32-byte
descriptors of small patches (about 20 KB per picture), from which the picture cannot be
redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from jikimi.signals.inner_picture import Rect

# Features are found on the picture scaled to this long side: fast (~5 ms), and positions
# are then in the same units for every picture, so one RANSAC tolerance fits all.
FEATURE_SIDE = 640
# Smaller pictures are enlarged towards FEATURE_SIDE, up to this factor: ORB's corners need a
# 31-pixel patch. Enlarged 4 times, a small picture's keypoints fall apart by more than the
# RANSAC tolerance (some 10 % crops fitted 0 pairs); twice fits as well as unenlarged.
MAX_ENLARGE = 2.0
MAX_FEATURES = 500
# FAST's corner threshold (OpenCV's default is 20). A 150 x 150 profile photo or a smooth
# retina scan gave 50-90 keypoints at 20, and their 10 % crops or 5-degree turns 20-60
# inliers: the misses of benchmarks/derived_eval.py. At 5 they give 450-500 keypoints and
# 170-310 inliers; textured pictures keep the same 500 strongest corners either way.
FAST_THRESHOLD = 5
DESCRIPTOR_BYTES = 32


@dataclass(frozen=True)
class LocalFeatures:
    points: np.ndarray  # (n, 2) float32, x and y on the picture scaled to FEATURE_SIDE
    descriptors: np.ndarray  # (n, 32) uint8 ORB descriptors
    scale: float  # points / scale = pixels of the original picture
    width: int  # of the original picture
    height: int

    def to_bytes(self) -> bytes:
        header = np.array([len(self.points), self.width, self.height], np.uint32).tobytes()
        return (header + np.array([self.scale], np.float32).tobytes() + self.points.astype(np.float32).tobytes()
                + self.descriptors.tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        n, width, height = (int(v) for v in np.frombuffer(data[:12], np.uint32))
        scale = float(np.frombuffer(data[12:16], np.float32)[0])
        points = np.frombuffer(data[16:16 + 8 * n], np.float32).reshape(n, 2)
        descriptors = np.frombuffer(data[16 + 8 * n:16 + 8 * n + DESCRIPTOR_BYTES * n], np.uint8)
        return cls(points, descriptors.reshape(n, DESCRIPTOR_BYTES), scale, width, height)


_ORB = cv2.ORB_create(nfeatures=MAX_FEATURES, fastThreshold=FAST_THRESHOLD)


def local_features(rgb: np.ndarray, inner: Rect | None = None) -> LocalFeatures:
    """`inner`: the picture inside a screenshot or border (signals/inner_picture.py), whose
    own features are added, placed in the whole image's frame. In a phone screenshot the
    picture is a third of the width at FEATURE_SIDE and the chrome's text takes many of the
    MAX_FEATURES corners: 20-75 inliers for a copy of a banked picture, 100-400 with these."""
    height, width = rgb.shape[:2]
    scale = _feature_scale(width, height)
    points, descriptors = _orb(rgb, scale)
    if inner is not None:
        inner_scale = _feature_scale(inner.width, inner.height)
        inner_points, inner_descriptors = _orb(rgb[inner.y:inner.y + inner.height, inner.x:inner.x + inner.width], inner_scale)
        points = np.concatenate([points, (inner_points / inner_scale + [inner.x, inner.y]) * scale]).astype(np.float32)
        descriptors = np.concatenate([descriptors, inner_descriptors])
    return LocalFeatures(points, descriptors, scale, width, height)


def _feature_scale(width: int, height: int) -> float:
    return min(MAX_ENLARGE, FEATURE_SIDE / max(height, width))


def _orb(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    height, width = rgb.shape[:2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale != 1:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    keypoints, descriptors = _ORB.detectAndCompute(grey, None)
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    return np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2), descriptors
