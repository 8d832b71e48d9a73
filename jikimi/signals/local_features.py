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

# Features are found on the picture scaled to this long side: fast (~5 ms), and positions
# are then in the same units for every picture, so one RANSAC tolerance fits all.
FEATURE_SIDE = 640
MAX_FEATURES = 500
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


_ORB = cv2.ORB_create(nfeatures=MAX_FEATURES)


def local_features(rgb: np.ndarray) -> LocalFeatures:
    height, width = rgb.shape[:2]
    scale = min(1.0, FEATURE_SIDE / max(height, width))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    keypoints, descriptors = _ORB.detectAndCompute(grey, None)
    if descriptors is None:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), scale, width, height)
    points = np.array([k.pt for k in keypoints], np.float32)
    return LocalFeatures(points, descriptors, scale, width, height)
