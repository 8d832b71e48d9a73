"""Identity matching per group of people: false-match and true-match rates for each face model.

    PYTHONPATH=. .venv/bin/python benchmarks/faces_eval.py DATA [--models dlib_resnet_v1,opencv_sface_2021dec]
        [--protocol pairs|subject|all] [--enrol-k 1,2,3,5] [--rules min,mean,top2,min-spread]

DATA is a folder laid out GROUP/PERSON/*.jpg (or PERSON/*.jpg, then one group "other"), or a
manifest CSV with columns split,group,person,path (paths relative to the CSV). Groups named
`ea_women` and `ea_men` are East Asian women and men; any other group counts as "others".
Without a manifest, people are split by identity: every other person (sorted by name) is held out.

For every model the script embeds one face per photo (the largest face HOG finds, on a copy
padded by PAD so tight face crops keep their context; every model embeds the same box), forms
every pair of photos, and:
1. picks thresholds on the *tuning* part only: the largest distance where pairs of different
   East Asian women (or, without them, all impostor pairs) reach a false-match rate of at most
   TARGET_FMR ("possible" match) and CONFIDENT_FMR ("confident");
2. reports on the *test* part, per group (pairs within a group; "mixed" = impostor pairs across
   groups), the false-match rate (FMR) and true-match rate (TMR) at those thresholds, with
   Wilson 95 % intervals and the number of identities and pairs behind each figure, and the TMR
   when both faces are at least 64 px wide;
3. reports a case worker's view on the test part: a person enrolled from her first ENROLLED
   photos, every other photo a probe, matched when it is close enough to any of her templates;
4. (--protocol subject) the subject level as Jikimi matches: every person with POOL usable
   reference photos (passing the enrolment gate) is enrolled from the first k of them
   (--enrol-k), every other photo of the part is a probe (her photos after the POOL, so every k
   is measured on the same probes), scored by a rule (nearest template, mean template, mean of
   the two nearest, nearest with a threshold moved by her references' spread); thresholds per
   (k, rule, probe quality gate) are chosen on the tuning part and reported on the test part,
   then per group at the thresholds the code ships (`FaceEmbedder.thresholds(k)`).

Pairs share identities, so they are not independent: the intervals are too narrow, and the
identity counts say how much evidence there really is. Photos and embeddings stay local; the
embedding cache (DATA's folder/.faces_eval_cache) is biometric data: delete it when done.
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from jikimi.signals import face_embedding as E
from jikimi.signals import faces as F

TARGET_FMR = 1e-3
CONFIDENT_FMR = 1e-4
TUNING_GROUP = "ea_women"
PAD = 0.3  # of the photo's size, on each side
MIN_FACE_PX = 64
ENROLLED = 2
Z95 = 1.959964
GROUP_NAMES = {"ea_women": "East Asian women", "ea_men": "East Asian men", "other": "others", "mixed": "mixed"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass
class Photo:
    split: str
    group: str
    person: str
    path: Path


def load_photos(data: Path) -> list[Photo]:
    if data.is_file():
        with data.open(newline="") as f:
            return [Photo(r["split"], r["group"], r["person"], data.parent / r["path"]) for r in csv.DictReader(f)]
    photos = []
    folders = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    has_images = lambda folder: any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir())
    if folders and all(has_images(f) for f in folders):  # PERSON/*.jpg
        folders = [data]
        groups = {data: "other"}
    else:
        groups = {f: f.name for f in folders}
    for group_folder in folders:
        people = sorted(p for p in group_folder.iterdir() if p.is_dir())
        for i, person in enumerate(people):
            split = "tune" if i % 2 == 0 else "test"
            for path in sorted(person.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append(Photo(split, groups[group_folder], person.name, path))
    return photos


def padded(path: Path) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    border = round(PAD * max(image.size))
    return np.asarray(ImageOps.expand(image, border, fill=(127, 127, 127)))


def cached_rows(cache: Path | None, name: str, photos: list[Photo], width: int, compute) -> np.ndarray:
    """One float row per photo, stored in cache/name.npz by photo path: rows of photos already
    measured are reused, only new photos are computed (`compute(i)` gives photo i's row)."""
    key = cache / f"{name}.npz" if cache else None
    names = [str(p.path) for p in photos]
    known = {}
    if key and key.exists():
        stored = np.load(key)
        values = stored[next(k for k in ("rows", "boxes", "vectors") if k in stored.files)]  # older layouts
        known = {n: row for n, row in zip(stored["names"], values.reshape(len(stored["names"]), -1))}
    rows = np.full((len(photos), width), np.nan, np.float64)
    missing = [i for i, n in enumerate(names) if n not in known]
    for i, n in enumerate(names):
        if n in known:
            rows[i] = known[n]
    for i in missing:
        rows[i] = compute(i)
    if key and missing:
        key.parent.mkdir(parents=True, exist_ok=True)
        merged = dict(known) | {names[i]: rows[i] for i in range(len(photos))}
        np.savez(key, names=np.array(list(merged)), rows=np.array(list(merged.values())))
    return rows


def find_faces(photos: list[Photo], analyzer: F.FaceAnalyzer, cache: Path | None) -> list[tuple[int, int, int, int] | None]:
    """The largest HOG face of each padded photo, as the enrolment detector finds it."""

    def largest(i):
        found = analyzer._hog(padded(photos[i].path), F.REFERENCE_HOG_SIDE, 1)
        best = max(found, key=lambda b: b.size, default=None)
        return (-1, -1, -1, -1) if best is None else (best.left, best.top, best.right, best.bottom)

    rows = cached_rows(cache, "boxes", photos, 4, largest)
    return [None if b[0] < 0 else tuple(int(v) for v in b) for b in rows]


def embed_all(photos, boxes, model: E.FaceEmbedder, cache: Path | None) -> tuple[np.ndarray, float]:
    """One vector per photo (NaN where no face), and the median CPU ms per face of the photos
    embedded in this run (wall time would count the other jobs of a shared machine)."""
    times = []

    def embed(i):
        if boxes[i] is None:
            return np.full(model.dimensions, np.nan)
        rgb = padded(photos[i].path)
        start = time.process_time()
        vector = model.embed(rgb, [boxes[i]])[0]
        times.append((time.process_time() - start) * 1000)
        return vector

    vectors = cached_rows(cache, model.model_id, photos, model.dimensions, embed).astype(np.float32)
    return vectors, float(np.median(times)) if times else float("nan")


QUALITY = ("size", "sharpness", "yaw", "roll", "yunet")


def qualities(photos, boxes, analyzer: F.FaceAnalyzer, cache: Path | None) -> dict[str, np.ndarray]:
    """Per photo: face size (px), sharpness, pose from dlib's five landmarks (yaw: the nose's
    offset from the eyes' midpoint along the eye line, in eye distances; roll: the eye line's
    angle, degrees), and YuNet's score on a crop around the face (0 when it sees none)."""
    import dlib

    def measure(i):
        if boxes[i] is None:
            return [np.nan] * len(QUALITY)
        rgb = padded(photos[i].path)
        left, top, right, bottom = boxes[i]
        _, landmarks = analyzer._load()
        shape = landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1))
        q = F.face_quality(rgb, shape, (left, top, right, bottom))
        return [q.size_px, q.sharpness, q.yaw, q.roll, yunet_score(rgb, boxes[i])]

    rows = cached_rows(cache, "quality", photos, len(QUALITY), measure)
    return {name: rows[:, j] for j, name in enumerate(QUALITY)}


@dataclass
class Pairs:
    distance: np.ndarray
    genuine: np.ndarray
    group: np.ndarray  # a group name, or "mixed"
    small: np.ndarray  # True when either face is narrower than MIN_FACE_PX
    a: np.ndarray
    b: np.ndarray


def pairs_of(indices: list[int], photos, vectors, sizes) -> Pairs:
    idx = np.array([i for i in indices if np.isfinite(vectors[i]).all()])
    a, b = np.triu_indices(len(idx), k=1)
    a, b = idx[a], idx[b]
    distance = np.linalg.norm(vectors[a] - vectors[b], axis=1)
    person = np.array([f"{p.group}/{p.person}" for p in photos])
    groups = np.array([p.group for p in photos])
    genuine = person[a] == person[b]
    group = np.where(groups[a] == groups[b], groups[a], "mixed")
    small = (sizes[a] < MIN_FACE_PX) | (sizes[b] < MIN_FACE_PX)
    return Pairs(distance, genuine, group, small, a, b)


def threshold_at(impostor: np.ndarray, fmr: float) -> float:
    """The largest distance (to 0.01) at which at most `fmr` of these impostor pairs match."""
    ordered = np.sort(impostor)
    allowed = int(np.floor(fmr * len(ordered)))
    if allowed >= len(ordered):
        return float(np.floor(ordered[-1] * 100) / 100)
    return float(np.floor((ordered[allowed] - 1e-9) * 100) / 100)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    if k == 0:  # the same interval; the general form leaves rounding noise above zero
        return 0.0, Z95**2 / (n + Z95**2)
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(hits: np.ndarray) -> str:
    k, n = int(hits.sum()), len(hits)
    if n == 0:
        return "-"
    lo, hi = wilson(k, n)
    return f"{k / n:.2g} [{lo:.2g}, {hi:.2g}] ({k}/{n})"


def identities(photos, indices, group) -> int:
    return len({photos[i].person for i in indices if group in ("mixed", photos[i].group)})


def group_table(model_id, pairs: Pairs, photos, indices, thresholds: dict[str, float]) -> None:
    groups = [g for g in GROUP_NAMES if g in set(pairs.group)] + sorted(set(pairs.group) - set(GROUP_NAMES))
    print(f"\n### {model_id}: test part\n")
    print("| group | identities | level (distance) | FMR [95% CI] (false/impostor pairs) | TMR [95% CI] (matched/genuine pairs) | TMR, faces >= 64 px |")
    print("|---|---|---|---|---|---|")
    for group in groups:
        in_group = pairs.group == group
        for level, t in thresholds.items():
            impostor = pairs.distance[in_group & ~pairs.genuine] <= t
            genuine = pairs.distance[in_group & pairs.genuine] <= t
            big = pairs.distance[in_group & pairs.genuine & ~pairs.small] <= t
            print(f"| {GROUP_NAMES.get(group, group)} | {identities(photos, indices, group)} | {level} ({t:.2f}) | "
                  f"{rate(impostor)} | {rate(genuine)} | {rate(big)} |")


def enrolment_table(model_id, photos, indices, vectors, thresholds) -> None:
    """Each test person enrolled from her first ENROLLED photos; every other test photo a probe."""
    usable = [i for i in indices if np.isfinite(vectors[i]).all()]
    by_person: dict[str, list[int]] = {}
    for i in usable:
        by_person.setdefault(f"{photos[i].group}/{photos[i].person}", []).append(i)
    subjects = {name: ids[:ENROLLED] for name, ids in by_person.items() if len(ids) > ENROLLED}
    rows: dict[str, dict[str, list[bool]]] = {}
    for name, refs in subjects.items():
        group = photos[refs[0]].group
        templates = vectors[refs]
        for i in usable:
            if i in refs:
                continue
            d = float(np.min(np.linalg.norm(templates - vectors[i], axis=1)))
            same = f"{photos[i].group}/{photos[i].person}" == name
            kind = group if (same or photos[i].group == group) else "mixed"
            for level, t in thresholds.items():
                rows.setdefault((kind, level), {"genuine": [], "impostor": []})["genuine" if same else "impostor"].append(d <= t)
    print(f"\nEnrolled from {ENROLLED} photos ({len(subjects)} test people with more than {ENROLLED} photos); "
          "a probe matches when close enough to any template:\n")
    print("| subject's group | level | probes of others matched (FMR) | her other photos found (TMR) |")
    print("|---|---|---|---|")
    for (kind, level), values in sorted(rows.items(), key=lambda r: (list(GROUP_NAMES).index(r[0][0]) if r[0][0] in GROUP_NAMES else 9, r[0][1])):
        print(f"| {GROUP_NAMES.get(kind, kind)} | {level} | {rate(np.array(values['impostor']))} | {rate(np.array(values['genuine']))} |")


# ---- Subject-level protocol: enrol her from k photos, look for her among every other photo ----

# The enrolment gate of `jikimi subject add` (jikimi.signals.faces: MIN_REFERENCE_FACE_PX, MIN_REFERENCE_SHARPNESS).
REFERENCE_GATE = {"min_size": F.MIN_REFERENCE_FACE_PX, "min_sharpness": F.MIN_REFERENCE_SHARPNESS}
# Probe gates tried: a probe failing one is "uncertain", neither a match nor a miss.
PROBE_GATES = [{}, {"min_sharpness": 3.0}, {"max_yaw": 0.25}, {"max_yaw": 0.15}, {"min_yunet": 0.8},
               {"min_yunet": 0.9}, {"max_yaw": 0.25, "min_yunet": 0.8}]
POOL = 5  # her first POOL usable photos are reserved for enrolment, whatever k, so every k is
# measured on the same probes: her photos after those, and every photo of every other person.


def mean_template(templates: np.ndarray) -> np.ndarray:
    """The mean of her templates, scaled to their mean length (unit length for SFace), as
    jikimi.match does."""
    mean = templates.mean(axis=0)
    return mean * np.linalg.norm(templates, axis=1).mean() / max(float(np.linalg.norm(mean)), 1e-12)


RULES = ("min", "mean", "top2", "min-spread")


@dataclass
class Trials:
    score: np.ndarray  # the rule's distance between her templates and the probe
    genuine: np.ndarray
    subject_group: np.ndarray
    probe_group: np.ndarray
    probe: np.ndarray  # index of the probe photo
    subject: np.ndarray  # "group/person"


def subject_trials(photos, indices, vectors, ref_ok, k: int, rule: str, spread_centre: float = 0.0,
                   probe_vectors: np.ndarray | None = None) -> Trials:
    """Every person with POOL usable reference photos is a subject, enrolled from the first k
    of them; every other usable photo of the part (not hers among the POOL) is a probe, seen
    through `probe_vectors` when given (the same photos, degraded)."""
    usable = [i for i in indices if np.isfinite(vectors[i]).all()]
    seen = vectors if probe_vectors is None else probe_vectors
    person = np.array([f"{p.group}/{p.person}" for p in photos])
    groups = np.array([p.group for p in photos])
    by_person: dict[str, list[int]] = {}
    for i in usable:
        by_person.setdefault(person[i], []).append(i)
    parts = []
    for name, ids in by_person.items():
        eligible = [i for i in ids if ref_ok[i]]
        if len(eligible) < POOL or len(ids) <= POOL:
            continue
        refs, reserved = eligible[:k], set(eligible[:POOL])
        probes = np.array([i for i in usable if i not in reserved and np.isfinite(seen[i]).all()])
        templates = vectors[refs].astype(np.float64)
        d = np.linalg.norm(templates[:, None, :] - seen[probes][None, :, :], axis=2)
        if rule == "mean":
            score = np.linalg.norm(mean_template(templates) - seen[probes], axis=1)
        elif rule == "top2":
            score = np.sort(d, axis=0)[:2].mean(axis=0)
        else:
            score = d.min(axis=0)
        if rule == "min-spread" and k > 1:
            a, b = np.triu_indices(k, 1)
            spread = float(np.median(np.linalg.norm(templates[a] - templates[b], axis=1)))
            score = score - SPREAD_WEIGHT * (spread - spread_centre)
        parts.append((score, person[probes] == name, np.full(len(probes), groups[ids[0]]), groups[probes], probes,
                      np.full(len(probes), name)))
    if not parts:
        return Trials(*(np.array([]) for _ in range(6)))
    return Trials(*(np.concatenate(column) for column in zip(*parts)))


SPREAD_WEIGHT = 0.5  # min-spread: a subject whose references lie further apart gets a looser threshold


def median_spread(photos, indices, vectors, ref_ok, k: int) -> float:
    trials = subject_trials(photos, indices, vectors, ref_ok, k, "min")
    spreads = []
    for name in set(trials.subject):
        ids = [i for i in indices if f"{photos[i].group}/{photos[i].person}" == name and ref_ok[i]
               and np.isfinite(vectors[i]).all()][:k]
        a, b = np.triu_indices(len(ids), 1)
        if len(a):
            spreads.append(np.median(np.linalg.norm(vectors[ids][a] - vectors[ids][b], axis=1)))
    return float(np.median(spreads)) if spreads else 0.0


def gate_mask(quality: dict[str, np.ndarray], gate: dict[str, float]) -> np.ndarray:
    """True where a face passes the quality gate (NaN quality fails)."""
    ok = np.ones(len(quality["size"]), bool)
    if "min_size" in gate:
        ok &= quality["size"] >= gate["min_size"]
    if "min_sharpness" in gate:
        ok &= quality["sharpness"] >= gate["min_sharpness"]
    if "max_yaw" in gate:
        ok &= np.abs(quality["yaw"]) <= gate["max_yaw"]
    if "min_yunet" in gate:
        ok &= quality["yunet"] >= gate["min_yunet"]
    return ok


def gate_name(gate: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in gate.items()) or "none"


def subject_metrics(trials: Trials, probe_ok: np.ndarray, sizes, threshold: float, group: str) -> dict:
    """FMR and TMR of subjects of `group` against probes of the same group, at `threshold`;
    probes failing the gate are "uncertain": neither a match nor a miss."""
    mine = (trials.subject_group == group) & (trials.probe_group == group)
    ok = probe_ok[trials.probe.astype(int)] if len(trials.probe) else np.array([], bool)
    hit = trials.score <= threshold
    impostor, genuine = mine & ~trials.genuine, mine & trials.genuine
    big = sizes[trials.probe.astype(int)] >= MIN_FACE_PX if len(trials.probe) else np.array([], bool)
    return {
        "fmr": hit[impostor & ok], "tmr": hit[genuine & ok], "tmr64": hit[genuine & ok & big],
        "found": (hit & ok)[genuine], "uncertain": ~ok[genuine], "uncertain_impostor": ~ok[impostor],
        "subjects": len(set(trials.subject[mine])),
        "people": len({p for p in trials.subject[mine]}),
    }


def subject_protocol(model_id, photos, tune, test, vectors, sizes, quality, ks, rules, gates) -> dict:
    """Choose each (k, rule, gate)'s thresholds on the tuning part (FMR <= TARGET_FMR, and
    CONFIDENT_FMR, among East Asian women), then report the "possible" level on the test part.
    Returns {(k, rule): (test trials, thresholds)} for the ungated runs."""
    reference_ok = gate_mask(quality, REFERENCE_GATE)
    print(f"\n### {model_id}: subject level (enrolled from k photos; references must pass {gate_name(REFERENCE_GATE)})\n")
    print("Thresholds chosen on the tuning part; figures from the test part, East Asian women enrolled and "
          "probed with East Asian women. 'uncertain': her photos the probe gate set aside.\n")
    print("| k | rule | probe gate | possible / confident | FMR [95% CI] (false/trials) | TMR [95% CI] | TMR, faces >= 64 px | "
          "her photos found (uncertain = missed) | uncertain | subjects |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    chosen = {}
    for k in ks:
        for rule in rules:
            if rule in ("top2", "min-spread") and k == 1:
                continue
            centre = median_spread(photos, tune, vectors, reference_ok, k) if rule == "min-spread" else 0.0
            tuning = subject_trials(photos, tune, vectors, reference_ok, k, rule, centre)
            testing = subject_trials(photos, test, vectors, reference_ok, k, rule, centre)
            for gate in gates:
                probe_ok = gate_mask(quality, gate)
                mine = (tuning.subject_group == TUNING_GROUP) & (tuning.probe_group == TUNING_GROUP) & ~tuning.genuine
                if not mine.any():  # no East Asian women in the data: every impostor trial
                    mine = ~tuning.genuine.astype(bool)
                impostor = tuning.score[mine & probe_ok[tuning.probe.astype(int)]]
                if not len(impostor):
                    continue
                thresholds = {"possible": threshold_at(impostor, TARGET_FMR), "confident": threshold_at(impostor, CONFIDENT_FMR)}
                m = subject_metrics(testing, probe_ok, sizes, thresholds["possible"], TUNING_GROUP)
                if not gate:
                    chosen[(k, rule)] = (testing, thresholds)
                print(f"| {k} | {rule} | {gate_name(gate)} | {thresholds['possible']:.2f} / {thresholds['confident']:.2f} | "
                      f"{rate(m['fmr'])} | {rate(m['tmr'])} | {rate(m['tmr64'])} | {rate(m['found'])} | "
                      f"{m['uncertain'].mean():.2f} | {m['subjects']} |")
    return chosen


SMALL_JPEG_QUALITY = 60
SMALL_GATES = [{}, {"min_sharpness": 3.0}, {"min_sharpness": 1.5}, {"min_yunet": 0.8}, {"max_yaw": 0.25}]


def shrunk(photo: Photo, box, face_px: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The padded photo scaled so its face is `face_px` wide and recompressed (JPEG), as a face
    in a whole picture or a video frame would reach the scan; and the face's box there."""
    import io

    image = Image.fromarray(padded(photo.path))
    scale = face_px / (box[2] - box[0])
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=SMALL_JPEG_QUALITY)
    small_box = tuple(int(round(v * scale)) for v in box)
    return np.asarray(Image.open(buffer).convert("RGB")), small_box


def small_probe_table(model, photos, tune, test, boxes, vectors, quality, analyzer, cache, face_px: int, ks) -> None:
    """Her references as they are; every probe shrunk to a `face_px` face: how the shipped
    thresholds hold, and what each probe gate sets aside."""
    import dlib

    def embed(i):
        if boxes[i] is None:
            return np.full(model.dimensions, np.nan)
        rgb, box = shrunk(photos[i], boxes[i], face_px)
        return model.embed(rgb, [box])[0]

    def measure(i):
        if boxes[i] is None:
            return [np.nan] * len(QUALITY)
        rgb, (left, top, right, bottom) = shrunk(photos[i], boxes[i], face_px)
        _, landmarks = analyzer._load()
        shape = landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1))
        q = F.face_quality(rgb, shape, (left, top, right, bottom))
        return [q.size_px, q.sharpness, q.yaw, q.roll, yunet_score(rgb, (left, top, right, bottom))]

    small = cached_rows(cache, f"{model.model_id}_face{face_px}", photos, model.dimensions, embed).astype(np.float32)
    rows = cached_rows(cache, f"quality_face{face_px}", photos, len(QUALITY), measure)
    small_quality = {name: rows[:, j] for j, name in enumerate(QUALITY)}
    reference_ok = gate_mask(quality, REFERENCE_GATE)
    sizes = np.full(len(photos), face_px)
    print(f"\n#### {model.model_id}: probes shrunk to {face_px}-px faces (JPEG {SMALL_JPEG_QUALITY}), mean template, "
          "thresholds of the code; East Asian women\n")
    print("| part | k | probe gate | threshold | FMR [95% CI] (false/trials) | TMR among gated-in | her photos found | uncertain |")
    print("|---|---|---|---|---|---|---|---|")
    for part, indices in (("tune", tune), ("test", test)):
        for k in ks:
            trials = subject_trials(photos, indices, vectors, reference_ok, k, "mean", probe_vectors=small)
            for gate in SMALL_GATES:
                m = subject_metrics(trials, gate_mask(small_quality, gate), sizes, model.thresholds(k)[0], TUNING_GROUP)
                print(f"| {part} | {k} | {gate_name(gate)} | {model.thresholds(k)[0]:.2f} | {rate(m['fmr'])} | {rate(m['tmr'])} | "
                      f"{rate(m['found'])} | {m['uncertain'].mean():.2f} |")


@functools.lru_cache(maxsize=1)
def _sface() -> E.SFaceEmbedder:
    return E.SFaceEmbedder()


def yunet_score(rgb: np.ndarray, box) -> float:
    """YuNet's best score on a crop around the face, scaled as SFace's alignment scales it (0: no face)."""
    import cv2

    sface = _sface()
    yunet, _, _ = sface._load()
    left, top, right, bottom = box
    size = max(right - left, bottom - top)
    margin = round(size * sface.crop_margin)
    x0, y0 = max(0, left - margin), max(0, top - margin)
    scale = sface.yunet_side / size
    crop = cv2.resize(np.ascontiguousarray(rgb[y0:bottom + margin, x0:right + margin, ::-1]), None, fx=scale, fy=scale)
    yunet.setInputSize((crop.shape[1], crop.shape[0]))
    _, found = yunet.detect(crop)
    return 0.0 if found is None or not len(found) else float(max(found[:, 14]))


def subject_detail(model_id, photos, test, testing: Trials, probe_ok, sizes, thresholds: dict[str, float], title: str) -> None:
    """Per group, for one (k, rule, gate): FMR and TMR with CIs and identity counts."""
    print(f"\n#### {model_id}, {title}: per group, test part\n")
    print("| subjects' group | subjects | probe people | level (distance) | FMR [95% CI] (false/trials) | TMR [95% CI] | her photos found | uncertain |")
    print("|---|---|---|---|---|---|---|---|")
    person = np.array([p.person for p in photos])
    for group in [g for g in GROUP_NAMES if g != "mixed"]:
        if not (testing.subject_group == group).any():
            continue
        people = len(set(person[[i for i in test if photos[i].group == group]]))
        for level, t in thresholds.items():
            m = subject_metrics(testing, probe_ok, sizes, t, group)
            print(f"| {GROUP_NAMES[group]} | {m['subjects']} | {people} | {level} ({t:.2f}) | {rate(m['fmr'])} | "
                  f"{rate(m['tmr'])} | {rate(m['found'])} | {m['uncertain'].mean():.2f} |")
    cross = (testing.subject_group != testing.probe_group) & ~testing.genuine
    ok = probe_ok[testing.probe.astype(int)]
    for level, t in thresholds.items():
        print(f"| mixed (other groups' probes) | {len(set(testing.subject))} | | {level} ({t:.2f}) | "
              f"{rate((testing.score <= t)[cross & ok])} | - | - | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a GROUP/PERSON/*.jpg folder, or a manifest CSV")
    parser.add_argument("--models", default=",".join(E.EMBEDDERS), help="comma-separated model ids")
    parser.add_argument("--no-cache", action="store_true", help="do not keep embeddings next to the data")
    parser.add_argument("--protocol", choices=("pairs", "subject", "all"), default="all",
                        help="pairs of photos, subjects enrolled from k photos, or both")
    parser.add_argument("--enrol-k", default="1,2,3,5", help="subject level: numbers of reference photos (at most %d)" % POOL)
    parser.add_argument("--rules", default=",".join(RULES), help="subject level: match rules (%s)" % ", ".join(RULES))
    parser.add_argument("--small-probes", default="", help="subject level: also with every probe's face shrunk to these widths (px), e.g. 32,48")
    args = parser.parse_args()
    photos = load_photos(args.data)
    if not photos:
        sys.exit(f"no photos under {args.data}")
    root = args.data.parent if args.data.is_file() else args.data
    cache = None if args.no_cache else root / ".faces_eval_cache"
    analyzer = F.FaceAnalyzer()
    print(f"# Identity evaluation: {len(photos)} photos of {len({(p.group, p.person) for p in photos})} people", flush=True)
    boxes = find_faces(photos, analyzer, cache)
    sizes = np.array([0 if b is None else min(b[2] - b[0], b[3] - b[1]) for b in boxes])
    print(f"\nFaces found in {sum(b is not None for b in boxes)} of {len(photos)} photos (the others are left out).\n")
    print("| part | group | identities | photos with a face | face px median |")
    print("|---|---|---|---|---|")
    for split in ("tune", "test"):
        for group in sorted({p.group for p in photos}):
            idx = [i for i, p in enumerate(photos) if p.split == split and p.group == group]
            ok = [i for i in idx if boxes[i] is not None]
            print(f"| {split} | {GROUP_NAMES.get(group, group)} | {len({photos[i].person for i in idx})} | "
                  f"{len(ok)}/{len(idx)} | {np.median(sizes[ok]) if ok else 0:.0f} |")
    tune = [i for i, p in enumerate(photos) if p.split == "tune"]
    test = [i for i, p in enumerate(photos) if p.split == "test"]
    summary = []
    for model_id in args.models.split(","):
        model = E.embedder(model_id)
        vectors, ms = embed_all(photos, boxes, model, cache)
        tuning = pairs_of(tune, photos, vectors, sizes)
        impostor = ~tuning.genuine & (tuning.group == TUNING_GROUP)
        basis = TUNING_GROUP
        if not impostor.any():
            impostor, basis = ~tuning.genuine, "all groups"
        thresholds = {"possible": threshold_at(tuning.distance[impostor], TARGET_FMR),
                      "confident": threshold_at(tuning.distance[impostor], CONFIDENT_FMR)}
        cost = "embeddings from the cache" if np.isnan(ms) else f"{ms:.0f} CPU ms per face embedding"
        print(f"\n## {model_id} ({cost})\n")
        print(f"Thresholds from the tuning part ({basis}, {int(impostor.sum())} impostor pairs): possible <= "
              f"{thresholds['possible']:.2f} (FMR {TARGET_FMR:g}), confident <= {thresholds['confident']:.2f} "
              f"(FMR {CONFIDENT_FMR:g}); the code has {model.match_threshold:.2f} / {model.confident_threshold:.2f}.")
        testing = pairs_of(test, photos, vectors, sizes)
        if args.protocol in ("pairs", "all"):
            group_table(model_id, testing, photos, test, thresholds)
            enrolment_table(model_id, photos, test, vectors, thresholds)
        if args.protocol in ("subject", "all"):
            quality = qualities(photos, boxes, analyzer, cache)
            ks = [int(k) for k in args.enrol_k.split(",")]
            chosen = subject_protocol(model_id, photos, tune, test, vectors, sizes, quality, ks, args.rules.split(","), PROBE_GATES)
            everyone = np.ones(len(photos), bool)
            if (2, "min") in chosen:  # what Jikimi did before: nearest template, one threshold
                subject_detail(model_id, photos, test, chosen[(2, "min")][0], everyone, sizes,
                               {"possible": model.match_threshold, "confident": model.confident_threshold},
                               "before: enrolled from 2, nearest template, the 1-photo thresholds")
            for k in ks:  # what Jikimi does: her mean template, the thresholds for k photos
                if (k, "mean") in chosen:
                    possible, confident = model.thresholds(k)
                    subject_detail(model_id, photos, test, chosen[(k, "mean")][0], everyone, sizes,
                                   {"possible": possible, "confident": confident},
                                   f"shipped: enrolled from {k}, mean template, thresholds({k}) of the code")
            for face_px in [int(v) for v in args.small_probes.split(",") if v]:
                small_probe_table(model, photos, tune, test, boxes, vectors, quality, analyzer, cache, face_px, ks)
        ea = (testing.group == TUNING_GROUP)
        summary.append((model_id, ms, thresholds["possible"],
                        rate(testing.distance[ea & ~testing.genuine] <= thresholds["possible"]),
                        rate(testing.distance[ea & testing.genuine & ~testing.small] <= thresholds["possible"])))
    print("\n## Summary: East Asian women, test part, at each model's own 'possible' threshold\n")
    print("| model | CPU ms per face | threshold | FMR | TMR, faces >= 64 px |")
    print("|---|---|---|---|---|")
    for row in summary:
        print(f"| {row[0]} | {row[1]:.0f} | {row[2]:.2f} | {row[3]} | {row[4]} |")


if __name__ == "__main__":
    main()
