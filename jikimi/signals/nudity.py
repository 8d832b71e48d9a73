"""Nudity classes and scores from NudeNet's 320n detector (weights ship in the `nudenet` package).

NudeNet is an object detector: it returns boxes for body parts, each EXPOSED or COVERED, and
for faces (FACE_FEMALE, FACE_MALE). We keep every class with its best score so a reviewer sees
*why* an item ranks high, and summarise the sexual ones in `max_exposed` for triage. The face
boxes come for free with the same inference and serve as extra face proposals
(`NuditySummary.face_boxes`, used by `jikimi.signals.faces.FaceAnalyzer.faces`).

The scan parallelises across processes, so the ONNX session is limited to one thread: more
threads per process would only fight each other for the same cores.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from jikimi.signals.faces import FaceBox, check_rgb

# Exposed classes that make an image sexual content for triage. FEET, ARMPITS, BELLY and
# MALE_BREAST exposed are kept in `classes` but are ordinary in holiday photos.
SEXUAL_EXPOSED_CLASSES = frozenset(
    {
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
FACE_CLASSES = frozenset({"FACE_FEMALE", "FACE_MALE"})
# NudeNet reports boxes from 0.2; faces below this score are mostly hair, hands or pets
# (measured in benchmarks/face_detection.py), and each proposal costs an embedding.
FACE_PROPOSAL_MIN_SCORE = 0.3
# NudeNet pads every image to a square of its longest side before shrinking it to its
# 320-px input: a 1 x 65,500 JPEG became a 12.9 GB square. Images are first scaled down to
# this longest side (four times the model's input, so the model sees the same picture) and
# the boxes scaled back, which bounds the classifier's memory to ~10 MB whatever the input.
MAX_CLASSIFIED_SIDE = 1280


@dataclass
class NudityDetection:
    label: str  # a NudeNet class, e.g. FEMALE_BREAST_EXPOSED
    score: float
    box: tuple[int, int, int, int]  # left, top, right, bottom in pixels of the classified image

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 4), "box": list(self.box)}


@dataclass
class NuditySummary:
    max_exposed: float  # best score among SEXUAL_EXPOSED_CLASSES, 0.0 if none
    classes: dict[str, float] = field(default_factory=dict)  # best score per detected class
    detections: list[NudityDetection] = field(default_factory=list)

    def face_boxes(self, min_score: float = FACE_PROPOSAL_MIN_SCORE) -> list[FaceBox]:
        """NudeNet's face detections, as proposals for the face analyzer."""
        return [
            FaceBox(*d.box, score=d.score)
            for d in self.detections
            if d.label in FACE_CLASSES and d.score >= min_score
        ]

    def to_dict(self) -> dict:
        return {
            "max_exposed": round(self.max_exposed, 4),
            "classes": {label: round(score, 4) for label, score in sorted(self.classes.items())},
            "detections": [d.to_dict() for d in self.detections],
        }


def summarise(detections: list[NudityDetection]) -> NuditySummary:
    classes: dict[str, float] = {}
    for d in detections:
        classes[d.label] = max(d.score, classes.get(d.label, 0.0))
    exposed = [score for label, score in classes.items() if label in SEXUAL_EXPOSED_CLASSES]
    return NuditySummary(max_exposed=max(exposed, default=0.0), classes=classes, detections=detections)


class NudityClassifier:
    """Loads NudeNet once per process, on first use."""

    def __init__(self) -> None:
        self._detector = None
        self._lock = threading.Lock()

    def classify(self, rgb: np.ndarray) -> NuditySummary:
        check_rgb(rgb)
        height, width = rgb.shape[:2]
        scale = min(1.0, MAX_CLASSIFIED_SIDE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
        # NudeNet 3.4's preprocessing swaps red and blue twice, so the model sees the array's own
        # channel order. Its YOLOv8 was trained on RGB, and face scores on our portraits are
        # higher with RGB than with the BGR its file-path reader would give.
        raw = self._load().detect(np.ascontiguousarray(rgb))
        detections = [
            NudityDetection(label=r["class"], score=float(r["score"]), box=_box_in(r["box"], scale, width, height))
            for r in raw
        ]
        detections.sort(key=lambda d: d.score, reverse=True)
        return summarise(detections)

    def _load(self):
        with self._lock:
            if self._detector is None:
                self._detector = _single_thread_nudenet()
            return self._detector


def _box_in(box: list, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """NudeNet's (x, y, w, h) in the classified copy as (left, top, right, bottom) in the original."""
    x, y, w, h = (value / scale for value in box)
    return (max(0, int(x)), max(0, int(y)), min(width, int(x + w)), min(height, int(y + h)))


def _single_thread_nudenet():
    """NudeNet's detector (its own pre- and post-processing) on a one-thread ONNX session."""
    import cv2
    import nudenet
    import onnxruntime

    cv2.setNumThreads(1)  # NudeNet resizes with OpenCV; same reason as the session below

    class SingleThreadNudeDetector(nudenet.NudeDetector):
        def __init__(self) -> None:  # replaces the parent's, which uses every core
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            model = Path(nudenet.__file__).parent / "320n.onnx"
            self.onnx_session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
            self.input_width = self.input_height = 320
            self.input_name = self.onnx_session.get_inputs()[0].name

    return SingleThreadNudeDetector()
