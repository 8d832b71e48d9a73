"""Evaluate face detection and identity matching on public-domain portraits, and time each stage.

    cd /work/main && .venv/bin/python benchmarks/faces_eval.py [--data ../shared/data/faces]

Identities: the 5 people x 11 photos in `faces/johns` plus scikit-image's astronaut and
matplotlib's grace_hopper. Each photo is enrolled as a reference (as `jikimi subject add` does)
and degraded the way shared pictures are: recompression at JPEG quality 40-70, resizing,
crops, grayscale, rotation up to 15 degrees, the face small inside a larger picture, and a
phone screenshot of a chat. The script prints detector recall by face size for each detector
option, genuine and impostor distance percentiles, the recommended FACE_MATCH_THRESHOLD, the
true-match rate at a false-match rate of 1e-3, and per-stage timings. It writes nothing.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dlib
import matplotlib.cbook
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from skimage import data as skdata

from jikimi.signals import faces as F
from jikimi.signals.nudity import NudityClassifier

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "faces"
TARGET_FMR = 1e-3
DLIB_OPERATING_POINT = 0.6  # dlib's published threshold for this model (99.38% on LFW)
SMALL_FACE_SIZES = (16, 24, 32, 40, 56, 80, 112)
SIZE_BUCKETS = ((0, 24), (24, 32), (32, 48), (48, 64), (64, 96), (96, 160), (160, 10_000))


@dataclass
class Source:
    identity: str
    photo: str
    rgb: np.ndarray
    box: F.FaceBox  # the face, found by HOG on the clean photo


@dataclass
class Probe:
    source: Source
    kind: str
    rgb: np.ndarray
    centre: tuple[float, float]  # where the source face's centre went
    size: float  # the source face's size in the probe, pixels
    found: dict[str, list[F.FaceBox]] = field(default_factory=dict)
    faces: list[F.FaceSignal] = field(default_factory=list)


# ---------------------------------------------------------------- degradations
# Each returns the new picture and the 3x3 affine map from old to new pixel coordinates.


def jpeg(rgb, quality):
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def scale_to(rgb, factor):
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out = np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))
    return out, np.diag([size[0] / w, size[1] / h, 1.0])


def translate(dx, dy):
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])


def crop(rgb, box, rng):
    """A random crop that keeps the whole face, cutting 10-45% of the picture."""
    h, w = rgb.shape[:2]
    keep = rng.uniform(0.55, 0.9)
    cw, ch = max(box.right - box.left, round(w * keep)), max(box.bottom - box.top, round(h * keep))
    left = rng.integers(max(0, box.right - cw), min(box.left, w - cw) + 1)
    top = rng.integers(max(0, box.bottom - ch), min(box.top, h - ch) + 1)
    return rgb[top : top + ch, left : left + cw].copy(), translate(-left, -top)


def grayscale(rgb):
    return np.asarray(Image.fromarray(rgb).convert("L").convert("RGB")), np.eye(3)


def rotate(rgb, degrees):
    h, w = rgb.shape[:2]
    image = Image.fromarray(rgb).rotate(degrees, Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    nw, nh = image.size
    a = np.deg2rad(degrees)  # PIL rotates counter-clockwise on screen
    turn = np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return np.asarray(image), translate(nw / 2, nh / 2) @ turn @ translate(-w / 2, -h / 2)


def texture(width, height, rng):
    """A neutral textured background: smooth colour blotches plus fine noise."""
    coarse = Image.fromarray(rng.integers(60, 200, (6, 10, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    noise = rng.normal(0, 12, (height, width, 1))
    return np.clip(np.asarray(coarse, np.float32) + noise, 0, 255).astype(np.uint8)


def small_in_large(rgb, box, face_px, rng):
    """The photo shrunk so the face is `face_px` wide, pasted into a 1280x720 picture."""
    small, m = scale_to(rgb, face_px / box.size)
    canvas = texture(1280, 720, rng)
    h, w = small.shape[:2]
    x, y = rng.integers(0, 1280 - w), rng.integers(0, 720 - h)
    canvas[y : y + h, x : x + w] = small
    return canvas, translate(x, y) @ m


def phone_screenshot(rgb, rng):
    """The photo as shown in a messenger on a 1080x2340 phone, then shared at 720x1560."""
    screen = Image.new("RGB", (1080, 2340), (236, 229, 221))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 1080, 90), fill=(20, 20, 20))  # status bar
    draw.rectangle((0, 90, 1080, 260), fill=(37, 99, 146))  # chat header
    draw.ellipse((40, 120, 150, 230), fill=(200, 200, 200))
    for y in (320, 440):  # text bubbles above the picture
        draw.rounded_rectangle((40, y, int(rng.integers(500, 900)), y + 90), 30, fill=(255, 255, 255))
    draw.rectangle((0, 2180, 1080, 2340), fill=(250, 250, 250))  # input bar
    width = int(rng.integers(700, 1000))
    photo, m = scale_to(rgb, width / rgb.shape[1])
    if photo.shape[0] > 1500:
        photo, m2 = scale_to(photo, 1500 / photo.shape[0])
        m = m2 @ m
    x, y = 1080 - 40 - photo.shape[1], 600
    screen.paste(Image.fromarray(photo), (x, y))
    shot, m3 = scale_to(np.asarray(screen), 720 / 1080)
    return shot, m3 @ translate(x, y) @ m


def probes_of(src: Source, rng) -> list[Probe]:
    centre = np.array([(src.box.left + src.box.right) / 2, (src.box.top + src.box.bottom) / 2, 1.0])
    rgb, out = src.rgb, []

    def add(kind, image, m):
        c = m @ centre
        size = src.box.size * np.sqrt(abs(np.linalg.det(m[:2, :2])))
        out.append(Probe(src, kind, jpeg(image, rng.integers(40, 71)), (c[0], c[1]), size))

    add("jpeg", rgb, np.eye(3))
    add("resize", *scale_to(rgb, rng.integers(320, 1281) / max(rgb.shape[:2])))
    add("crop", *crop(rgb, src.box, rng))
    add("gray", *grayscale(rgb))
    add("rotate", *rotate(rgb, rng.choice([-1, 1]) * rng.uniform(5, 15)))
    for px in SMALL_FACE_SIZES:
        add(f"small{px}", *small_in_large(rgb, src.box, px, rng))
    add("screenshot", *phone_screenshot(rgb, rng))
    return out


# ---------------------------------------------------------------- data


def load_sources(root: Path, analyzer: F.FaceAnalyzer, per_person: int) -> list[Source]:
    pictures = []
    if root.is_dir():
        for path in sorted(p for folder in (root / "johns").iterdir() for p in sorted(folder.glob("*.jpg"))[:per_person]):
            pictures.append((path.parent.name, path.name, np.asarray(Image.open(path).convert("RGB"))))
    else:
        print(f"note: {root} not found; using only the two packaged portraits", file=sys.stderr)
    pictures.append(("astronaut", "skimage", skdata.astronaut()))
    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    pictures.append(("grace_hopper", "matplotlib", np.asarray(Image.open(hopper).convert("RGB"))))
    sources = []
    for identity, photo, rgb in pictures:
        boxes = analyzer._hog(rgb, F.REFERENCE_HOG_SIDE, 1)
        if not boxes:
            print(f"note: no face in {identity}/{photo}, skipped", file=sys.stderr)
            continue
        sources.append(Source(identity, photo, rgb, max(boxes, key=lambda b: b.size)))
    return sources


# ---------------------------------------------------------------- detection


def hits(boxes: list[F.FaceBox], probe: Probe) -> bool:
    """A box finds the face when it contains the face's centre and has about its size."""
    cx, cy = probe.centre
    return any(
        b.left <= cx <= b.right and b.top <= cy <= b.bottom and 0.5 <= (b.right - b.left) / probe.size <= 2.0
        for b in boxes
    )


def union(hog: list[F.FaceBox], proposals: list[F.FaceBox]) -> list[F.FaceBox]:
    return hog + [p for p in proposals if not any(F._overlap(p, h) for h in hog)]


def full_resolution_hog(rgb: np.ndarray, detector) -> list[F.FaceBox]:
    """The naive baseline: dlib HOG with one upsampling on the picture as it is."""
    return [F.FaceBox(r.left(), r.top(), r.right() + 1, r.bottom() + 1, 1.0) for r in detector(rgb, 1)]


def detect_all(probes: list[Probe], nudity: NudityClassifier, options: dict) -> dict[str, float]:
    """Fills probe.found for every detector option; returns mean ms per probe for each."""
    ms = {name: 0.0 for name in options}
    for i, probe in enumerate(probes):
        if i % 100 == 0:
            print(f"  detecting {i}/{len(probes)}", file=sys.stderr)
        for name, run in options.items():
            t = time.perf_counter()
            probe.found[name] = run(probe.rgb)
            ms[name] += (time.perf_counter() - t) * 1000
    combos = [n for n in options if n.startswith("hog") and "full" not in n]
    for probe in probes:
        for name in combos:
            probe.found[f"{name}+nudenet"] = union(probe.found[name], probe.found["nudenet"])
    for name in combos:
        ms[f"{name}+nudenet"] = ms[name] + ms["nudenet"]
    return {name: total / len(probes) for name, total in ms.items()}


def bucket_of(size: float) -> str:
    for lo, hi in SIZE_BUCKETS:
        if lo <= size < hi:
            return f"{lo}-{hi}" if hi < 10_000 else f">={lo}"
    raise AssertionError(size)


def print_recall(probes: list[Probe], ms: dict[str, float]) -> None:
    names = list(ms)
    buckets = [bucket_of((lo + hi) / 2 if hi < 10_000 else lo) for lo, hi in SIZE_BUCKETS]
    print("\n## Detector recall by face size (face width in the probe, px)\n")
    print("| detector | " + " | ".join(buckets) + " | all | extra boxes/probe | ms/probe |")
    print("|---" * (len(buckets) + 4) + "|")
    counts = {b: sum(bucket_of(p.size) == b for p in probes) for b in buckets}
    for name in names:
        cells = []
        for b in buckets:
            inside = [p for p in probes if bucket_of(p.size) == b]
            cells.append(f"{np.mean([hits(p.found[name], p) for p in inside]):.2f}" if inside else "-")
        overall = np.mean([hits(p.found[name], p) for p in probes])
        extra = np.mean([max(0, len(p.found[name]) - hits(p.found[name], p)) for p in probes])
        print(f"| {name} | " + " | ".join(cells) + f" | {overall:.3f} | {extra:.2f} | {ms[name]:.0f} |")
    print("| probes | " + " | ".join(str(counts[b]) for b in buckets) + f" | {len(probes)} | | |")
    kinds = sorted({p.kind for p in probes}, key=lambda k: [p.kind for p in probes].index(k))
    print("\nRecall by degradation:\n")
    print("| detector | " + " | ".join(kinds) + " |")
    print("|---" * (len(kinds) + 1) + "|")
    for name in names:
        cells = [f"{np.mean([hits(p.found[name], p) for p in probes if p.kind == k]):.2f}" for k in kinds]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_groups(root: Path, nudity: NudityClassifier, options: dict) -> None:
    """Group photos have no labels: count faces per option, and how many of the naive
    full-resolution HOG faces each option also finds."""
    paths = sorted((root / "groups").glob("*.jpg"))
    if not paths:
        return
    print("\n## Group photos (no labels: agreement with full-resolution HOG, upsample 1)\n")
    print("| picture | " + " | ".join(options) + " |")
    print("|---" * (len(options) + 1) + "|")
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found = {name: run(rgb) for name, run in options.items()}
        for name in [n for n in options if n.startswith("hog") and "full" not in n]:
            found[name] = union(found[name], found["nudenet"])
        base = found["hog_full_up1"]
        cells = []
        for name in options:
            same = sum(any(F._overlap(b, o) for o in found[name]) for b in base)
            cells.append(f"{len(found[name])} ({same}/{len(base)})")
        print(f"| {path.name} {rgb.shape[1]}x{rgb.shape[0]} | " + " | ".join(cells) + " |")
    print("\nCells: faces found (of which coincide with full-resolution HOG faces / that many). "
          "Downscaled-HOG columns include NudeNet proposals.")


# ---------------------------------------------------------------- identity


def min_distance(template: np.ndarray, probe: Probe) -> float:
    return min((F.face_distance(template, f.embedding) for f in probe.faces), default=np.inf)


def percentiles(values) -> str:
    values = np.asarray([v for v in values if np.isfinite(v)])
    if not len(values):
        return "-"
    return " / ".join(f"{np.percentile(values, q):.3f}" for q in (1, 5, 25, 50, 75, 95, 99))


def threshold_at_fmr(impostors: np.ndarray, fmr: float) -> float:
    """The largest distance, to 0.01, at which at most `fmr` of impostor pairs match."""
    ordered = np.sort(impostors)
    allowed = int(np.floor(fmr * len(ordered)))  # false matches we may accept
    limit = ordered[allowed]  # a threshold strictly below this keeps <= `allowed` false matches
    return float(np.floor((limit - 1e-9) * 100) / 100)


def identity_eval(sources, probes, refs: dict[str, list[np.ndarray]]) -> float:
    pairs = {"genuine, other photo": [], "genuine, same photo": [], "impostor": []}
    by_size: dict[str, list[float]] = {}
    for s_index, src in enumerate(sources):
        template = refs["jitter"][s_index]
        for probe in probes:
            d = min_distance(template, probe)
            if probe.source.identity != src.identity:
                pairs["impostor"].append(d)
            elif probe.source is src:
                pairs["genuine, same photo"].append(d)
                by_size.setdefault(bucket_of(probe.size), []).append(d)
            else:
                pairs["genuine, other photo"].append(d)
    impostors = np.array(pairs["impostor"])
    identities = sorted({s.identity for s in sources})
    print("\n## Distances (reference photo vs probe; a probe's distance is its closest face)\n")
    print(f"{len(sources)} reference photos of {len(identities)} people, {len(probes)} probes.")
    print("Percentiles 1 / 5 / 25 / 50 / 75 / 95 / 99 (probes with no face detected excluded here):\n")
    print("| pairs | count | no face | percentiles |")
    print("|---|---|---|---|")
    for name, values in pairs.items():
        missing = sum(not np.isfinite(v) for v in values)
        print(f"| {name} | {len(values)} | {missing} | {percentiles(values)} |")
    fmr_threshold = threshold_at_fmr(impostors, TARGET_FMR)
    recommended = min(fmr_threshold, DLIB_OPERATING_POINT)
    n_ids = len(identities)
    print(f"\nImpostor pairs: {len(impostors)}, but from only {n_ids} people ({n_ids * (n_ids - 1) // 2} pairs of "
          f"identities), so they are far from independent: FMR 1e-3 here means at most "
          f"{int(TARGET_FMR * len(impostors))} false matches, and the true FMR on a large population "
          "(and on East Asian faces, absent from this set) may be higher.")
    print(f"Distance at FMR <= 1e-3: {fmr_threshold:.2f}; dlib's operating point: {DLIB_OPERATING_POINT}.")
    print(f"\nRECOMMENDED FACE_MATCH_THRESHOLD = {recommended:.2f}  (code has {F.FACE_MATCH_THRESHOLD})")
    print("\nTMR, other photo: the reference is one photo, the probe a degraded copy of *another* photo")
    print("of the same person. All probes count (an undetected face is a miss); >= 64 px keeps probes")
    print("whose face is at least 64 px wide; 'detected' keeps probes where the pipeline found a face.\n")
    print("| threshold | FMR | TMR other photo | >= 64 px | detected | TMR same photo | other photo, reference jitters=1 |")
    print("|---|---|---|---|---|---|---|")
    other, other_j1, other_size = [], [], []
    for i, src in enumerate(sources):
        for p in probes:
            if p.source.identity == src.identity and p.source is not src:
                other.append(min_distance(refs["jitter"][i], p))
                other_j1.append(min_distance(refs["plain"][i], p))
                other_size.append(p.size)
    other, other_j1, other_size = np.array(other), np.array(other_j1), np.array(other_size)
    same = np.array(pairs["genuine, same photo"])
    for t in sorted({0.5, 0.55, 0.6, recommended, fmr_threshold}):
        mark = " (recommended)" if t == recommended else ""
        cells = [
            np.mean(impostors <= t),
            np.mean(other <= t),
            np.mean(other[other_size >= 64] <= t),
            np.mean(other[np.isfinite(other)] <= t),
            np.mean(same <= t),
            np.mean(other_j1 <= t),
        ]
        print(f"| {t:.2f}{mark} | {cells[0]:.5f} | " + " | ".join(f"{c:.3f}" for c in cells[1:]) + " |")
    print("\nTMR, other photo, by degradation (at the recommended threshold):\n")
    kinds = list(dict.fromkeys(p.kind for p in probes))
    print("| " + " | ".join(kinds) + " |")
    print("|---" * len(kinds) + "|")
    cells = []
    for kind in kinds:
        values = [
            min_distance(refs["jitter"][i], p) <= recommended
            for i, src in enumerate(sources)
            for p in probes
            if p.kind == kind and p.source.identity == src.identity and p.source is not src
        ]
        cells.append(f"{np.mean(values):.2f}" if values else "-")
    print("| " + " | ".join(cells) + " |")
    print("\nTMR of the same photo by face size in the probe (misses include undetected faces):\n")
    print("| face px | probes | TMR | median distance |")
    print("|---|---|---|---|")
    for lo, hi in SIZE_BUCKETS:
        b = bucket_of(lo)
        values = np.array(by_size.get(b, []))
        if len(values):
            med = np.median(values[np.isfinite(values)]) if np.isfinite(values).any() else np.inf
            print(f"| {b} | {len(values)} | {np.mean(values <= recommended):.2f} | {med:.3f} |")
    return recommended


def subject_eval(sources, probes, refs, threshold: float, enrolled: int = 3) -> None:
    """As `jikimi subject add` is meant to be used: a few reference photos per person, and a
    probe matches when its closest face is within the threshold of any of them."""
    subjects: dict[str, list[int]] = {}
    for i, src in enumerate(sources):
        subjects.setdefault(src.identity, []).append(i)
    subjects = {name: ids[:enrolled] for name, ids in subjects.items() if len(ids) > enrolled}
    if not subjects:
        return
    genuine, impostor = [], []
    for name, ids in subjects.items():
        templates = [refs["jitter"][i] for i in ids]
        enrolled_photos = {id(sources[i]) for i in ids}
        for probe in probes:
            if id(probe.source) in enrolled_photos:
                continue
            d = min(min_distance(t, probe) for t in templates)
            (genuine if probe.source.identity == name else impostor).append(d)
    genuine, impostor = np.array(genuine), np.array(impostor)
    print(f"\n## Subjects enrolled from {enrolled} photos each ({len(subjects)} people)\n")
    print("Probes are degraded copies of their other photos; a probe matches when its closest face is")
    print("within the threshold of any reference.\n")
    print("| threshold | genuine probes | TMR | impostor pairs | FMR |")
    print("|---|---|---|---|---|")
    for t in sorted({0.5, 0.55, threshold}):
        print(f"| {t:.2f} | {len(genuine)} | {np.mean(genuine <= t):.3f} | {len(impostor)} | {np.mean(impostor <= t):.4f} |")
    found = np.isfinite(genuine)
    print(f"\nTMR counting only probes where a face was detected: {np.mean(genuine[found] <= threshold):.3f} "
          f"({found.sum()} probes)")


def sharpness_eval(sources, analyzer) -> None:
    print("\n## Reference sharpness (variance of the Laplacian on the aligned chip)\n")
    print(f"| picture | min | p5 | median | max | refused at 2 | refused at {F.MIN_REFERENCE_SHARPNESS} (ours) | at 4 |")
    print("|---|---|---|---|---|---|---|---|")
    for radius in (0, 1, 2, 4):
        values = []
        for src in sources:
            rgb = src.rgb
            if radius:
                rgb = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius * src.box.size / 100)))
            values.append(analyzer._describe(rgb, [(src.box, "hog")], 1)[0].sharpness)
        values = np.array(values)
        refused = " | ".join(f"{np.mean(values < t):.2f}" for t in (2, F.MIN_REFERENCE_SHARPNESS, 4))
        label = "clean" if not radius else f"gaussian blur {radius}% of face width"
        print(f"| {label} | {values.min():.1f} | {np.percentile(values, 5):.1f} | {np.median(values):.1f} | {values.max():.1f} | {refused} |")


# ---------------------------------------------------------------- speed


def cost_ms(fn, repeats=5) -> str:
    """Median CPU ms of one call (wall ms in brackets). Every stage runs on one thread, so CPU
    time is what the stage costs a worker; wall time also counts other load on the machine."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return f"{np.median(cpu):.0f} ({np.median(wall):.0f})"


def speed_pictures(rng) -> dict[str, np.ndarray]:
    astronaut = skdata.astronaut()
    pictures = {}
    canvas = texture(1280, 720, rng)
    canvas[104:616, 384:896] = astronaut  # face ~95 px
    pictures["1280x720, face 95 px"] = canvas
    canvas = texture(1280, 720, rng)
    canvas[:, 280:1000] = np.asarray(Image.fromarray(astronaut).resize((720, 720)))
    pictures["1280x720, face 130 px"] = canvas
    group = DEFAULT_DATA / "groups" / "2008_002470.jpg"
    if group.exists():
        pictures["1280x850 group"] = np.asarray(Image.open(group).convert("RGB").resize((1280, 850)))
    return pictures


def speed(analyzer: F.FaceAnalyzer, nudity: NudityClassifier) -> None:
    pictures = speed_pictures(np.random.default_rng(1))
    hog, landmarks, encoder = analyzer._load()
    print("\n## Speed per stage: CPU ms per call, median of 5 (wall ms in brackets; shared machine)\n")
    print("| stage | " + " | ".join(pictures) + " |")
    print("|---" * (len(pictures) + 1) + "|")
    rows: dict[str, list[str]] = {}
    for rgb in pictures.values():
        proposals = nudity.classify(rgb).face_boxes()
        found = analyzer.faces(rgb, proposals)
        boxes = [(f.box, f.detector) for f in found]
        naive_faces = hog(rgb, 1)

        def naive():
            shapes = dlib.full_object_detections([landmarks(rgb, r) for r in naive_faces])
            encoder.compute_face_descriptor(rgb, shapes, 1)
            nudity.classify(rgb)
            hog(rgb, 1)

        stages = {
            "NudeNet 320n (nudity + face proposals)": cost_ms(lambda: nudity.classify(rgb)),
            f"{analyzer.detector.name} (chosen; see benchmarks/face_detection.py)": cost_ms(lambda: analyzer.detect(rgb)),
            "HOG, 960-px copy, upsample 0 (incl. resize)": cost_ms(lambda: analyzer._hog(rgb, 960, 0)),
            "HOG, 640-px copy, upsample 0 (incl. resize)": cost_ms(lambda: analyzer._hog(rgb, 640, 0)),
            "HOG, 640-px copy, upsample 1 (incl. resize)": cost_ms(lambda: analyzer._hog(rgb, 640, 1)),
            "faces embedded (detector + NudeNet proposals)": str(len(found)),
            "landmarks + embedding + sharpness, all those faces": cost_ms(lambda: analyzer._describe(rgb, boxes, 1), 3),
            "**faces + nudity, as the scan calls them**": cost_ms(lambda: analyzer.faces(rgb, nudity.classify(rgb).face_boxes()), 3),
            "naive: full-res HOG upsample 1 + embeddings + NudeNet": cost_ms(naive, 3) + f" [{len(naive_faces)} faces]",
        }
        for name, value in stages.items():
            rows.setdefault(name, []).append(value)
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with johns/ and groups/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-person", type=int, default=11, help="photos per person (fewer for a quick run)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    analyzer, nudity = F.FaceAnalyzer(), NudityClassifier()
    dlib_hog = analyzer._load()[0]

    sources = load_sources(args.data, analyzer, args.per_person)
    probes = [p for src in sources for p in probes_of(src, rng)]
    print(f"# Face evaluation: {len(sources)} photos, {len({s.identity for s in sources})} people, {len(probes)} probes")
    options = {
        "hog640_up0": lambda rgb: analyzer._hog(rgb, 640, 0),
        "hog640_up1": lambda rgb: analyzer._hog(rgb, 640, 1),
        "hog960_up0": lambda rgb: analyzer._hog(rgb, 960, 0),
        "hog_full_up1": lambda rgb: full_resolution_hog(rgb, dlib_hog),
        "nudenet": lambda rgb: nudity.classify(rgb).face_boxes(),
    }
    ms = detect_all(probes, nudity, options)
    print_recall(probes, ms)
    print_groups(args.data, nudity, options)

    print("  embedding probes", file=sys.stderr)
    for probe in probes:
        probe.faces = analyzer.faces(probe.rgb, nudity.classify(probe.rgb).face_boxes())
    refs = {
        "jitter": [analyzer._describe(s.rgb, [(s.box, "hog")], F.REFERENCE_JITTERS)[0].embedding for s in sources],
        "plain": [analyzer._describe(s.rgb, [(s.box, "hog")], 1)[0].embedding for s in sources],
    }
    recommended = identity_eval(sources, probes, refs)
    subject_eval(sources, probes, refs, recommended)
    sharpness_eval(sources, analyzer)
    speed(analyzer, nudity)
    print(f"\nRECOMMENDED FACE_MATCH_THRESHOLD = {recommended:.2f}")


if __name__ == "__main__":
    main()
