"""Face detection for scans: where the faces are, down to ~24 px wide, on one core.

The production detector is YuNet, the small CNN of libfacedetection (BSD-3-Clause; its weights
are compiled into the library that the `yuface` wheel ships). Measured by
benchmarks/face_detection.py (figures in docs/faces.md): on 1280x720 pictures scanned as a
960x540 copy it finds 0.93 of faces 32-48 px wide for ~75 ms CPU on a quiet machine, where
dlib's HOG on a 960-px copy (the previous detector, 50 ms) found nothing under ~64 px.

Boxes come back in dlib's frontal-face convention (cheeks to cheeks, brows to chin), because
the rest of Jikimi measures face sizes that way (MIN_SCAN_FACE_PX, the size buckets of the
evaluations) and dlib's 5-point shape predictor, which aligns faces for the embedding,
expects such boxes. YuNet's own five landmarks ride along for models that align with them.

YuNet takes some animal faces for human ones (a dog of dlib's dogs.jpg at score 0.87, a cat at
0.5-0.56, whose embedding came within 0.57 of the demo subject's). dlib's HOG, trained on
human faces, rejects them: each box is kept only if HOG also finds a face on an enlarged crop
around it. On the benchmark's probes this kept every human face YuNet found; it costs faces
turned too far for HOG's frontal model, which the previous HOG-only detector missed too.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

# Pixels of the copy YuNet scans (960x540 for a 16:9 picture). The cost grows with the area:
# 105 ms CPU at 960x540 against 155 ms at 1280x720 on the busy benchmark machine, and a
# 32-px face, shrunk to 24 px, is still found (0.93 at 32-48 px, see docs/faces.md).
YUNET_MAX_PIXELS = 960 * 540
MAX_UPSCALE = 2.0  # small pictures are enlarged at most this much, as for HOG
# YuNet's confidence (0-1) at or above which a box is a face. Above libfacedetection's default
# 0.5, at which it took the demo's cat for a face; 0.6 loses almost no recall (sweep in
# docs/faces.md).
YUNET_MIN_SCORE = 0.6

# YuNet's boxes are confirmed by dlib's HOG on a crop around them, scaled so the face is this
# wide: HOG's 80-px window then sees it whole without upsampling (~3 ms a box).
CONFIRM_FACE_PX = 90

# From a YuNet box (x, y, w, h) to dlib's box: left, top, right, bottom as fractions of w and h.
# Medians over 100 faces found by both (benchmarks/face_detection.py --fit-box): YuNet's box
# has the same width but reaches higher up the forehead.
YUNET_TO_DLIB_BOX = (0.03, 0.16, 1.0, 0.95)


@dataclass
class FaceBox:
    left: int
    top: int
    right: int
    bottom: int
    score: float
    # Five (x, y) points when the detector gives them: eyes, nose tip, mouth corners.
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def size(self) -> int:
        return min(self.right - self.left, self.bottom - self.top)

    def to_dict(self) -> dict:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom, "score": round(self.score, 3)}


class FaceDetector(Protocol):
    """Finds face boxes in an RGB uint8 picture, in its own pixel coordinates."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[FaceBox]: ...


class YuNetDetector:
    """YuNet via libfacedetection (`yuface`) on a copy of at most `max_pixels` pixels, each box
    confirmed by dlib's HOG (see the module's docstring)."""

    name = "yunet"

    def __init__(self, max_pixels: int = YUNET_MAX_PIXELS, min_score: float = YUNET_MIN_SCORE) -> None:
        self.max_pixels = max_pixels
        self.min_score = min_score
        self._models = None
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        height, width = rgb.shape[:2]
        scale = min((self.max_pixels / (height * width)) ** 0.5, MAX_UPSCALE)
        small, scale = scaled(rgb, scale)
        detect, hog = self._load()
        rows = detect(np.ascontiguousarray(small[:, :, ::-1]))  # the library takes BGR
        boxes = []
        for row in rows.astype(np.float64):
            score = row[0] / 100
            if score < self.min_score:
                continue
            box = FaceBox(
                *_dlib_box(*(row[1:5] / scale)),
                score=float(score),
                landmarks=tuple((float(px / scale), float(py / scale)) for px, py in row[5:15].reshape(5, 2)),
            )
            box.left, box.top = max(0, box.left), max(0, box.top)
            box.right, box.bottom = min(width, box.right), min(height, box.bottom)
            if box.right > box.left and box.bottom > box.top and _confirmed(hog, rgb, box):
                boxes.append(box)
        return boxes

    def _load(self):
        with self._lock:
            if self._models is None:
                # libfacedetection parallelises with its own OpenMP runtime, which reads this once
                # when the library loads; scans parallelise across processes, so one thread each.
                os.environ.setdefault("OMP_NUM_THREADS", "1")
                import dlib
                from yuface import c_detect

                self._models = (c_detect, dlib.get_frontal_face_detector())
            return self._models


def _confirmed(hog, rgb: np.ndarray, box: FaceBox) -> bool:
    """dlib's HOG also finds a face in a crop twice the box's size around it, scaled so the
    face is CONFIRM_FACE_PX wide."""
    side = max(box.right - box.left, box.bottom - box.top)
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    crop = rgb[max(0, round(cy - side)) : round(cy + side), max(0, round(cx - side)) : round(cx + side)]
    factor = CONFIRM_FACE_PX / side
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    return len(hog(np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR)), 0)) > 0


def _dlib_box(x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
    """YuNet's box (x, y, w, h) as dlib's (left, top, right, bottom).

    YuNet does not extend a box above the picture when a crop cuts the forehead: its top is
    then wrong by the part that is cut, so the square dlib box is measured up from the chin.
    """
    fl, ft, fr, fb = YUNET_TO_DLIB_BOX
    left, right, bottom = x + fl * w, x + fr * w, y + fb * h
    top = y + ft * h if y > 0 else bottom - (right - left)
    return round(left), round(top), round(right), round(bottom)


def scaled(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """`rgb` resized by `scale`, and the scale applied (1.0 when it is too close to be worth it)."""
    if abs(scale - 1.0) <= 0.02:
        return rgb, 1.0
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR)), scale
