"""Lookup time, recall and memory of the second stage (jikimi/index/local_features.py) at
1,000 / 10,000 / 100,000 banked pictures, against the flat search in the same run.

Banked pictures: distinct mosaics of 3 x 3 random tiles (random source, place, size,
mirror and brightness each) cut from public-domain photos: scikit-image's pictures,
matplotlib's grace_hopper.jpg, ../shared/data/faces (dlib's examples) and frames of
../shared/data/videos (perception's test videos). A tile is one ninth of a picture (about
55 keypoints), so no two mosaics share a geometry of MIN_INLIERS points: each banked picture
is its own, with the descriptors of real photos. Their features are generated once and
cached under /tmp (about 30 ms a mosaic: `--generate 11000`, niced); banked pictures past
the cached ones are stand-ins (see `stand_ins`).

Queries: altered copies of banked pictures (crop 5-10 %, rotation 5 degrees either way,
screenshot-like padding with a status bar), JPEG re-encoded; and as many unrelated mosaics
that are not banked. Prints p50/p99 latency per query, recall of the final answer, false
matches, build time and peak RSS.

    nice -n 10 .venv/bin/python benchmarks/partial_lookup.py [--sizes 1000 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from jikimi.index.local_features import LocalFeatureIndex
from jikimi.limits import Limits
from jikimi.media.video import sample_frames
from jikimi.signals.local_features import DESCRIPTOR_BYTES, LocalFeatures, local_features

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
CACHE = Path("/tmp/jikimi_partial_lookup")
CHUNK = 500  # pictures per cached file
MOSAIC = (640, 480)
GRID = 3
SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "camera", "coins", "brick", "grass", "gravel", "clock", "horse", "page", "text", "moon", "cell",
           "eagle", "microaneurysms", "shepp_logan_phantom", "cat", "logo", "colorwheel")


@cache
def sources() -> list[np.ndarray]:
    """The public-domain photos tiles are cut from (RGB, at least 256 px on the short side)."""
    found = []
    for name in SKIMAGE:
        try:
            found.append(getattr(data, name)())
        except Exception:  # a picture this scikit-image version lacks or cannot fetch offline
            continue
    found.append(data.stereo_motorcycle()[0])
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        found.append(np.asarray(Image.open(f).convert("RGB")))
    found += [np.asarray(Image.open(p).convert("RGB")) for p in sorted((SHARED / "faces").rglob("*.jpg"))]
    for video in sorted((SHARED / "videos").glob("*.m4v")):
        found += [frame for _, frame in sample_frames(video, Limits())]
    rgb = []
    for a in found:
        a = np.stack([a] * 3, axis=-1) if a.ndim == 2 else a[..., :3]
        if a.dtype != np.uint8:
            a = a.astype(np.float32)
            a = (255 * (a - a.min()) / (np.ptp(a) or 1)).astype(np.uint8)
        if min(a.shape[:2]) < 256:
            a = cv2.resize(a, None, fx=256 / min(a.shape[:2]), fy=256 / min(a.shape[:2]), interpolation=cv2.INTER_CUBIC)
        rgb.append(np.ascontiguousarray(a))
    return rgb


def layout(number: int) -> list[tuple[int, int, int, int, int, bool, float, float]]:
    """Mosaic `number`'s tiles, row by row: (source, x, y, width, height, mirrored,
    contrast, brightness), drawn from a generator seeded with `number`."""
    rng = np.random.default_rng(number)
    pool = sources()
    cell_w, cell_h = MOSAIC[0] // GRID, MOSAIC[1] // GRID
    tiles = []
    for _ in range(GRID * GRID):
        source = int(rng.integers(len(pool)))
        sh, sw = pool[source].shape[:2]
        side = rng.uniform(0.2, 0.7) * min(sh, sw)
        w, h = round(side), round(side * cell_h / cell_w)
        x, y = int(rng.integers(0, sw - w + 1)), int(rng.integers(0, max(1, sh - h + 1)))
        tiles.append((source, x, y, w, h, bool(rng.random() < 0.5), rng.uniform(0.7, 1.3), rng.uniform(-30, 30)))
    return tiles


def mosaic(number: int) -> np.ndarray:
    """Banked picture `number` (deterministic): GRID x GRID random tiles of random sources."""
    width, height = MOSAIC
    canvas = np.zeros((height, width, 3), np.uint8)
    pool = sources()
    cell_w, cell_h = width // GRID, height // GRID
    for cell, (source, x, y, w, h, mirrored, contrast, brightness) in enumerate(layout(number)):
        row, col = divmod(cell, GRID)
        tile = cv2.resize(pool[source][y:y + h, x:x + w], (cell_w, cell_h), interpolation=cv2.INTER_LINEAR)
        if mirrored:
            tile = tile[:, ::-1]
        tile = cv2.convertScaleAbs(tile, alpha=contrast, beta=brightness)
        canvas[row * cell_h:(row + 1) * cell_h, col * cell_w:(col + 1) * cell_w] = tile
    return canvas


SHARED_TILE = 0.5  # intersection over union of two tiles' source rectangles that share a tile


def share_a_tile(a: int, b: int) -> bool:
    """Whether mosaics `a` and `b` show the same part of a source photo (same side out): a
    match between them is a true partial copy, not a false match."""
    for sa, xa, ya, wa, ha, ma, *_ in layout(a):
        for sb, xb, yb, wb, hb, mb, *_ in layout(b):
            if sa == sb and ma == mb:
                overlap = max(0, min(xa + wa, xb + wb) - max(xa, xb)) * max(0, min(ya + ha, yb + hb) - max(ya, yb))
                if overlap >= SHARED_TILE * (wa * ha + wb * hb - overlap):
                    return True
    return False


def chunk_path(chunk: int) -> Path:
    return CACHE / f"features_{chunk:03}.npz"


def generate(count: int, worker: int = 0, workers: int = 1) -> None:
    """Features of banked pictures 0..count-1, cached per CHUNK (resumable; `workers`
    processes can share the chunks)."""
    CACHE.mkdir(exist_ok=True)
    for chunk in range(worker, (count + CHUNK - 1) // CHUNK, workers):
        path = chunk_path(chunk)
        if path.exists():
            continue
        started = time.perf_counter()
        feats = [local_features(mosaic(n)) for n in range(chunk * CHUNK, (chunk + 1) * CHUNK)]
        np.savez(path.with_suffix(".tmp.npz"), counts=np.array([len(f.points) for f in feats]),
                 points=np.concatenate([f.points for f in feats]),
                 descriptors=np.concatenate([f.descriptors for f in feats]))
        path.with_suffix(".tmp.npz").rename(path)
        print(f"chunk {chunk}: {time.perf_counter() - started:.0f} s", flush=True)


def real_banked(count: int):
    """(number, LocalFeatures) of the first `count` mosaics, from the cache."""
    width, height = MOSAIC
    for chunk in range((count + CHUNK - 1) // CHUNK):
        stored = np.load(chunk_path(chunk))
        ends = np.cumsum(stored["counts"])
        points, descriptors = stored["points"], stored["descriptors"]
        for i, end in enumerate(ends):
            number = chunk * CHUNK + i
            if number >= count:
                return
            start = end - stored["counts"][i]
            yield number, LocalFeatures(points[start:end], descriptors[start:end], 1.0, width, height)


def cached_pictures() -> int:
    chunks = 0
    while chunk_path(chunks).exists():
        chunks += 1
    return chunks * CHUNK


POOL = 1000  # real mosaics whose descriptors stand-ins are drawn from
FLIP_PROBABILITY = 1 / 8  # of each bit of a stand-in's descriptor (32 bits on average)


def stand_ins(first: int, count: int):
    """Banked pictures `first`..`count`-1 when only `first` mosaics have real features:
    500 descriptors drawn from real mosaics' with an eighth of their bits flipped (so the
    hash tables fill with the bit statistics of photos, and no stand-in is a copy of
    anything), at random places. They load the index; queries are of real mosaics."""
    pool = np.concatenate([f.descriptors for _, f in real_banked(min(first, POOL))])
    width, height = MOSAIC
    for number in range(first, count):
        rng = np.random.default_rng(number)
        chosen = pool[rng.integers(0, len(pool), 500)]
        flips = rng.integers(0, 256, (3, 500, DESCRIPTOR_BYTES), dtype=np.uint8)
        descriptors = chosen ^ (flips[0] & flips[1] & flips[2])
        points = (rng.random((500, 2)) * (width, height)).astype(np.float32)
        yield number, LocalFeatures(points, descriptors, 1.0, width, height)


def banked(count: int, real: int):
    yield from real_banked(min(count, real))
    if count > real:
        yield from stand_ins(real, count)


# --- queries ---------------------------------------------------------------------------


def altered(picture: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray:
    """As posted: cropped 5-10 %, turned 5 degrees either way, or inside a screenshot-like
    frame (status bar above, borders), then JPEG re-encoded."""
    image = Image.fromarray(picture)
    if how == "crop":
        f = rng.uniform(0.05, 0.10)
        dx, dy = round(image.width * f), round(image.height * f)
        left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
        image = image.crop((left, top, image.width - (dx - left), image.height - (dy - top)))
    elif how == "rotation":
        image = image.rotate(float(rng.choice((-5, 5))), Image.BICUBIC)
    else:
        border, bar = int(rng.integers(20, 60)), int(rng.integers(60, 140))
        frame = Image.new("RGB", (image.width + 2 * border, image.height + bar + 2 * border),
                          tuple(int(c) for c in rng.integers(0, 256, 3)))
        frame.paste(image, (border, bar + border))
        image = frame
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(75, 93)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


ALTERATIONS = ("crop", "rotation", "screenshot")


UNRELATED = 10**7  # mosaics from this number on are never banked


def queries(count: int, real: int) -> list[tuple[int, LocalFeatures]]:
    """`count` altered copies of real banked mosaics and `count` altered mosaics that are not
    banked (numbers from UNRELATED), each with the mosaic it shows; cached."""
    path = CACHE / f"queries_{count}_{real}.npz"
    if not path.exists():
        rng = np.random.default_rng(7)
        made = []
        for i, number in enumerate(rng.choice(min(real, 1000), count, replace=False).tolist()):
            made.append((number, local_features(altered(mosaic(number), ALTERATIONS[i % 3], rng))))
        for i in range(count):
            made.append((UNRELATED + i, local_features(altered(mosaic(UNRELATED + i), ALTERATIONS[i % 3], rng))))
        np.savez(path, expected=np.array([e for e, _ in made]), counts=np.array([len(f.points) for _, f in made]),
                 points=np.concatenate([f.points for _, f in made]), descriptors=np.concatenate([f.descriptors for _, f in made]),
                 scales=np.array([f.scale for _, f in made]), sizes=np.array([(f.width, f.height) for _, f in made]))
    stored = np.load(path)
    ends = np.cumsum(stored["counts"])
    found = []
    for i, end in enumerate(ends):
        start = end - stored["counts"][i]
        width, height = (int(v) for v in stored["sizes"][i])
        features = LocalFeatures(stored["points"][start:end], stored["descriptors"][start:end],
                                 float(stored["scales"][i]), width, height)
        found.append((int(stored["expected"][i]), features))
    return found


# --- measuring ---------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def measure(size: int, method: str, real: int, count: int, timed: int) -> dict:
    """Build an index of `size` banked pictures and time `timed` of the queries (all if 0)."""
    asked = queries(count, real)
    if timed:  # copies and unrelated alike
        asked = asked[:timed // 2] + asked[count:count + timed - timed // 2]
    index = LocalFeatureIndex(flat_limit=size) if method == "flat" else LocalFeatureIndex()
    rss_before = rss_mb()
    building = 0.0
    for number, features in banked(size, real):
        started = time.perf_counter()
        index.add(number, features)
        building += time.perf_counter() - started
    started = time.perf_counter()
    index.search(asked[0][1])  # the first search merges the hash tables' recent adds
    building += time.perf_counter() - started
    index_mb = rss_mb() - rss_before
    latencies, cpu, found, missed, false, shared = [], [], 0, 0, 0, 0
    for shown, features in asked:
        started, started_cpu = time.perf_counter(), time.thread_time()
        keys = [m.key for m in index.search(features)]
        latencies.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        others = [k for k in keys if k != shown]
        shared += sum(share_a_tile(shown, k) for k in others)
        false += sum(not share_a_tile(shown, k) for k in others)
        if shown < UNRELATED:
            found += shown in keys
            missed += shown not in keys
    return {"size": size, "method": method, "queries": len(asked), "p50_ms": 1000 * float(np.median(latencies)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)),
            "cpu_p50_ms": 1000 * float(np.median(cpu)), "cpu_p99_ms": 1000 * float(np.percentile(cpu, 99)), "recall": found / max(1, found + missed),
            "copies": found + missed, "false": false, "shared": shared, "build_s": building, "peak_rss_mb": peak_rss_mb(),
            "index_mb": index_mb}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=100, help="altered copies, and as many unrelated mosaics")
    parser.add_argument("--real", type=int, default=0, help="mosaics with real features (default: all cached)")
    parser.add_argument("--flat-queries", type=int, nargs="+", default=[20, 4, 1],
                        help="queries timed with the flat search per size (0: all); it takes ~45 s a query at 100,000")
    parser.add_argument("--generate", type=int, default=0, help="only generate and cache this many mosaics' features")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # size method: run in a child process
    args = parser.parse_args()
    if args.generate:
        generate(args.generate)
        return
    real = args.real or cached_pictures()
    if args.one:
        size, method = int(args.one[0]), args.one[1]
        timed = dict(zip(args.sizes, args.flat_queries)).get(size, 4) if method == "flat" else 0
        print(json.dumps(measure(size, method, real, args.queries, timed)))
        return
    if real < min(POOL, 1000):
        generate(1000)
        real = cached_pictures()
    queries(args.queries, real)
    print(f"{real} banked mosaics with real ORB features; beyond that, stand-ins (see stand_ins); "
          f"{args.queries} altered copies + {args.queries} unrelated queries")
    print("\n(p50/p99: wall clock on this shared machine; CPU: the query's own thread time; "
          "shared tile: another banked mosaic reported that shows the same part of a source photo, a true partial copy; RSS: peak of the process, and its growth while building the index)")
    print("\n| banked | method | queries timed | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | recall | false matches "
          "| shared tile | build s | peak RSS MB | index MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        rows = {}
        for method in ("hashed", "flat"):
            command = [sys.executable, __file__, "--one", str(size), method, "--queries", str(args.queries),
                       "--real", str(real), "--sizes", *map(str, args.sizes), "--flat-queries", *map(str, args.flat_queries)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            rows[method] = result
            print(f"| {size:,} | {method} | {result['queries']} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
                  f"{result['cpu_p50_ms']:.1f} | {result['cpu_p99_ms']:.1f} | "
                  f"{result['recall']:.2f} of {result['copies']} | {result['false']} | {result['shared']} | {result['build_s']:.1f} | "
                  f"{result['peak_rss_mb']:.0f} | {result['index_mb']:.0f} |", flush=True)
        ratio = rows["flat"]["cpu_p50_ms"] / rows["hashed"]["cpu_p50_ms"]
        print(f"|  | flat / hashed | | | | {ratio:.0f}x | | | | | | | |", flush=True)


if __name__ == "__main__":
    main()
