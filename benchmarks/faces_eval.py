"""Identity matching per group of people: false-match and true-match rates for each face model.

    PYTHONPATH=. .venv/bin/python benchmarks/faces_eval.py DATA [--models dlib_resnet_v1,opencv_sface_2021dec]

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
   photos, every other photo a probe, matched when it is close enough to any of her templates.

Pairs share identities, so they are not independent: the intervals are too narrow, and the
identity counts say how much evidence there really is. Photos and embeddings stay local; the
embedding cache (DATA's folder/.faces_eval_cache) is biometric data: delete it when done.
"""

from __future__ import annotations

import argparse
import csv
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


def find_faces(photos: list[Photo], analyzer: F.FaceAnalyzer, cache: Path | None) -> list[tuple[int, int, int, int] | None]:
    """The largest HOG face of each padded photo, as the enrolment detector finds it."""
    key = cache / "boxes.npz" if cache else None
    names = np.array([str(p.path) for p in photos])
    if key and key.exists() and np.array_equal(np.load(key)["names"], names):
        return [None if b[0] < 0 else tuple(int(v) for v in b) for b in np.load(key)["boxes"]]
    boxes = []
    for photo in photos:
        found = analyzer._hog(padded(photo.path), F.REFERENCE_HOG_SIDE, 1)
        best = max(found, key=lambda b: b.size, default=None)
        boxes.append(None if best is None else (best.left, best.top, best.right, best.bottom))
    if key:
        key.parent.mkdir(parents=True, exist_ok=True)
        np.savez(key, names=names, boxes=np.array([b or (-1, -1, -1, -1) for b in boxes]))
    return boxes


def embed_all(photos, boxes, model: E.FaceEmbedder, cache: Path | None) -> tuple[np.ndarray, float]:
    """One vector per photo (NaN where no face), and the median CPU ms per face (wall time
    would count the other jobs of a shared machine)."""
    key = cache / f"{model.model_id}.npz" if cache else None
    names = np.array([str(p.path) for p in photos])
    if key and key.exists():
        stored = np.load(key)
        if np.array_equal(stored["names"], names):
            return stored["vectors"], float(stored["ms"])
    vectors = np.full((len(photos), model.dimensions), np.nan, np.float32)
    times = []
    for i, (photo, box) in enumerate(zip(photos, boxes)):
        if box is None:
            continue
        rgb = padded(photo.path)
        start = time.process_time()
        vectors[i] = model.embed(rgb, [box])[0]
        times.append((time.process_time() - start) * 1000)
    ms = float(np.median(times)) if times else float("nan")
    if key:
        key.parent.mkdir(parents=True, exist_ok=True)
        np.savez(key, names=names, vectors=vectors, ms=ms)
    return vectors, ms


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a GROUP/PERSON/*.jpg folder, or a manifest CSV")
    parser.add_argument("--models", default=",".join(E.EMBEDDERS), help="comma-separated model ids")
    parser.add_argument("--no-cache", action="store_true", help="do not keep embeddings next to the data")
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
        print(f"\n## {model_id} ({ms:.0f} CPU ms per face embedding)\n")
        print(f"Thresholds from the tuning part ({basis}, {int(impostor.sum())} impostor pairs): possible <= "
              f"{thresholds['possible']:.2f} (FMR {TARGET_FMR:g}), confident <= {thresholds['confident']:.2f} "
              f"(FMR {CONFIDENT_FMR:g}); the code has {model.match_threshold:.2f} / {model.confident_threshold:.2f}.")
        testing = pairs_of(test, photos, vectors, sizes)
        group_table(model_id, testing, photos, test, thresholds)
        enrolment_table(model_id, photos, test, vectors, thresholds)
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
