"""Faces: detection and an identity embedding, to find an enrolled subject in suspect media.

A sexual deepfake has no original to hash, but it keeps the victim's identity: that is what we
match. Detection uses dlib's models (weights ship in `face_recognition_models`): the HOG
frontal face detector and the 5-point landmark model (never the 68-point one, whose training
data forbids commercial use). The identity embedding comes from the model chosen in
`jikimi.signals.face_embedding` (its id travels with every face and template).

Detection is jikimi.signals.face_detection's (YuNet; why, with figures, there and in
docs/faces.md); its boxes follow dlib's convention, so the 5-point model aligns them as it
aligns HOG's. Enrolment keeps dlib's HOG on a copy of up to 1280 px with one upsampling:
reference faces are large, and it rejects what it cannot see clearly.
NudeNet already runs on every image for nudity and returns FACE_FEMALE / FACE_MALE boxes;
passing them as `proposals` adds some faces the detector misses (cut by a crop, turned) at no cost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from jikimi.errors import JikimiError
from jikimi.signals.face_detection import FaceBox, FaceDetector, YuNetDetector, scaled
from jikimi.signals.face_embedding import FaceEmbedder, default_embedder

MAX_UPSCALE = 2.0  # small images are enlarged at most this much before HOG
# Smaller faces carry too little identity to be worth an embedding. A face 32 px wide gets a
# box of 26-30 px (p10-median; benchmarks/face_detection.py), and found faces of 32-34 px still
# match their portrait (median distance 0.33), so the cut sits below that.
MIN_SCAN_FACE_PX = 24
SCAN_JITTERS = 1

MIN_REFERENCE_FACE_PX = 80
MIN_REFERENCE_SHARPNESS = 3.0  # see sharpness(); our sharp portraits give >= 3.8, blurred ones less
REFERENCE_HOG_SIDE = 1280
REFERENCE_JITTERS = 10  # dlib's model: a better template is worth ~1 s once per photo (SFace ignores it)

CHIP_SIZE = 150  # the aligned chip sharpness is measured on


class UnusableReferenceFace(JikimiError):
    """A reference photo for enrolment has no usable face, or more than one."""


@dataclass
class FaceSignal:
    box: FaceBox
    embedding: np.ndarray  # float32, of the model `model_id`
    size_px: int  # the box's shorter side in pixels of the analysed image
    sharpness: float  # see sharpness(); low means blurred or enlarged from a tiny face
    detector: str  # "yunet", "hog" (enrolment) or "nudenet"
    model_id: str  # the embedding's model: only embeddings of one model are comparable

    def to_dict(self) -> dict:
        """Everything but the embedding, which is biometric data and belongs in the encrypted store."""
        return {"box": self.box.to_dict(), "size_px": self.size_px, "sharpness": round(self.sharpness, 1), "detector": self.detector}


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


def check_rgb(rgb: np.ndarray) -> None:
    """Signals take RGB uint8 arrays; jikimi.media converts grayscale, CMYK, 16-bit and alpha."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected an RGB uint8 array of shape (height, width, 3), got {got}")


class FaceAnalyzer:
    """Loads the dlib models once per process, on first use; `embedder` gives the identity."""

    def __init__(self, detector: FaceDetector | None = None, embedder: FaceEmbedder | None = None) -> None:
        self.detector = detector or YuNetDetector()
        self.embedder = embedder or default_embedder()
        self._models = None
        self._lock = threading.Lock()

    def faces(self, rgb: np.ndarray, proposals: Iterable[FaceBox] = ()) -> list[FaceSignal]:
        """Every face big enough to identify, with its embedding.

        `proposals` are extra face boxes from another detector, normally
        `NuditySummary.face_boxes()`; those overlapping a detected face are dropped.
        """
        check_rgb(rgb)
        rgb = np.ascontiguousarray(rgb)
        found = [(box, self.detector.name) for box in self.detect(rgb)]
        found += [(box, "nudenet") for box in proposals if not any(_overlap(box, h) for h, _ in found)]
        found = [(box, name) for box, name in found if box.size >= MIN_SCAN_FACE_PX]
        return self._describe(rgb, found, SCAN_JITTERS)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """The detector's face boxes, in pixels of `rgb`."""
        return self.detector.detect(rgb)

    def reference_face(self, rgb: np.ndarray, face_index: int | None = None) -> FaceSignal:
        """The one usable face of an enrolment photo, or a refusal saying why.

        `face_index` picks a face in a photo with several, counting from 1, left to right
        (the CLI's `--face N`).
        """
        check_rgb(rgb)
        rgb = np.ascontiguousarray(rgb)
        boxes = self.reference_boxes(rgb)
        if not boxes:
            raise UnusableReferenceFace.coded("enrol.no_face")
        if face_index is None and len(boxes) > 1:
            raise UnusableReferenceFace.coded("enrol.several_faces", count=len(boxes))
        if face_index is not None and not 1 <= face_index <= len(boxes):
            raise UnusableReferenceFace.coded("enrol.no_such_face", index=face_index, count=len(boxes))
        box = boxes[(face_index or 1) - 1]
        if box.size < MIN_REFERENCE_FACE_PX:
            raise UnusableReferenceFace.coded("enrol.face_too_small", size=box.size, need=MIN_REFERENCE_FACE_PX)
        face = self._describe(rgb, [(box, "hog")], REFERENCE_JITTERS)[0]
        if face.sharpness < MIN_REFERENCE_SHARPNESS:
            raise UnusableReferenceFace.coded("enrol.face_blurred", sharpness=round(face.sharpness, 2),
                                              need=MIN_REFERENCE_SHARPNESS)
        return face

    def reference_boxes(self, rgb: np.ndarray) -> list[FaceBox]:
        """The faces of an enrolment photo a person could choose from, left to right (numbered from 1)."""
        check_rgb(rgb)
        boxes = self._hog(np.ascontiguousarray(rgb), REFERENCE_HOG_SIDE, 1)
        # Faces less than half the size of the largest are background (or HOG mistaking a
        # badge for a face): a portrait with a passer-by behind is still one person's photo.
        largest = max((b.size for b in boxes), default=0)
        return sorted((b for b in boxes if b.size >= largest / 2), key=lambda b: b.left)

    def _hog(self, rgb: np.ndarray, side: int, upsample: int) -> list[FaceBox]:
        detector, _ = self._load()
        height, width = rgb.shape[:2]
        scale = min(side / max(height, width), MAX_UPSCALE)
        small, scale = scaled(rgb, scale)
        rects, scores, _ = detector.run(small, upsample, 0.0)
        boxes = []
        for r, s in zip(rects, scores):
            box = FaceBox(
                left=max(0, round(r.left() / scale)),
                top=max(0, round(r.top() / scale)),
                right=min(width, round((r.right() + 1) / scale)),
                bottom=min(height, round((r.bottom() + 1) / scale)),
                score=float(s),
            )
            if box.right > box.left and box.bottom > box.top:
                boxes.append(box)
        return boxes

    def _describe(self, rgb: np.ndarray, found: list[tuple[FaceBox, str]], jitters: int) -> list[FaceSignal]:
        import dlib

        if not found:
            return []
        _, landmarks = self._load()
        shapes = [landmarks(rgb, dlib.rectangle(b.left, b.top, b.right - 1, b.bottom - 1)) for b, _ in found]
        embeddings = self.embedder.embed(rgb, [(b.left, b.top, b.right, b.bottom) for b, _ in found], jitters)
        signals = []
        for (box, name), shape, embedding in zip(found, shapes, embeddings):
            quality = face_quality(rgb, shape, (box.left, box.top, box.right, box.bottom))
            signals.append(
                FaceSignal(
                    box=box,
                    embedding=embedding,
                    size_px=box.size,
                    sharpness=quality.sharpness,
                    detector=name,
                    model_id=self.embedder.model_id,
                )
            )
        return signals

    def _load(self):
        with self._lock:
            if self._models is None:
                import dlib
                import face_recognition_models as weights

                self._models = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(weights.pose_predictor_five_point_model_location()),
                )
            return self._models


@dataclass
class FaceQuality:
    """What decides whether a face carries enough identity to be compared."""

    size_px: int
    sharpness: float  # see sharpness()
    yaw: float  # the nose's offset from the eyes' midpoint along the eye line, in eye distances (0 = frontal)
    roll: float  # the eye line's angle, degrees


def face_quality(rgb: np.ndarray, shape, box: tuple[int, int, int, int]) -> FaceQuality:
    """The quality of the face in `box`, from dlib's 5-point `shape` of it (eye corners 0-1 and
    2-3, nose tip 4)."""
    import dlib

    points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
    eyes = sorted((points[0:2].mean(axis=0), points[2:4].mean(axis=0)), key=lambda e: e[0])
    line = eyes[1] - eyes[0]
    spread = max(float(np.linalg.norm(line)), 1e-6)
    yaw = float(np.dot(points[4] - (eyes[0] + eyes[1]) / 2, line / spread) / spread)
    chip = dlib.get_face_chip(rgb, shape, CHIP_SIZE, 0.0)  # the face alone, no background
    left, top, right, bottom = box
    return FaceQuality(min(right - left, bottom - top), sharpness(chip), yaw, float(np.degrees(np.arctan2(line[1], line[0]))))


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian over the middle of a tightly aligned 150-px face chip.

    Only the middle (eyes, nose, mouth) counts: the chip's edges can fall outside the photo,
    and the hard border of that black padding would read as sharp detail.
    """
    gray = chip[30:120, 30:120].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    laplacian = (
        gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    )
    return float(laplacian.var())


def _overlap(a: FaceBox, b: FaceBox) -> bool:
    """True when the boxes cover the same face: either box's centre lies inside the other."""

    def centre_inside(p: FaceBox, q: FaceBox) -> bool:
        cx, cy = (p.left + p.right) / 2, (p.top + p.bottom) / 2
        return q.left <= cx <= q.right and q.top <= cy <= q.bottom

    return centre_inside(a, b) or centre_inside(b, a)
