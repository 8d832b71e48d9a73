"""PDQ hashing throughput: jikimi's hashers vs threatexchange's PdqSignal.hash_from_file.

`fast_pdq_from_file` (jikimi/signals/pdq_fast.py, what scans use) must stay within a mean
of 1 bit and at most 4 bits of the canonical hash and take at most half the baseline's time.

Generates realistic JPEGs (public-domain pictures from scikit-image and matplotlib,
randomly cropped, scaled, lightly noised, saved at quality 70-95): 1280 px wide, the
size Telegram sends photos at, and 4032 px wide, a phone camera's. Times both hashers
over the same files in the same run, and measures how far hashes of JPEGs decoded at
reduced scale are from the canonical full-size ones.

    .venv/bin/python benchmarks/pdq_hashing.py [--images 240] [--phone-images 40] [--rounds 3]
"""

import argparse
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file as canonical_pdq
from threatexchange.signal_type.pdq.signal import PdqSignal

from jikimi.limits import Limits
from jikimi.signals.pdq import PDQ_DECODE_MIN_SIDE, hamming, pdq_from_file
from jikimi.signals.pdq_fast import fast_pdq_from_file

AGGRESSIVE_MIN_SIDE = 256  # decodes 1280-px photos at 1/2 or 1/4 scale: the trade-off shown


def sources() -> list[Image.Image]:
    pictures = [Image.fromarray(getattr(data, name)()) for name in ("astronaut", "chelsea", "coffee", "rocket")]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        pictures.append(Image.open(f).convert("RGB"))
    return [p.convert("RGB") for p in pictures]


def realistic_jpeg(picture: Image.Image, rng: random.Random, path: Path, width: int) -> None:
    w, h = picture.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    crop = picture.crop((x, y, x + cw, y + ch))
    scaled = crop.resize((width, round(width * ch / cw)), Image.Resampling.LANCZOS)
    noisy = np.asarray(scaled, dtype=np.float32) + np.random.default_rng(rng.randrange(2**32)).normal(
        0, rng.uniform(0, 4), (scaled.height, scaled.width, 3)
    )
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, "JPEG", quality=rng.randint(70, 95))


def best_throughputs(hashers: dict, paths: list[Path], rounds: int) -> dict[str, float]:
    """Images per second, best of `rounds`; hashers alternate within each round so that
    load from other processes on the machine hits them alike."""
    best = {name: float("inf") for name in hashers}
    for _ in range(rounds):
        for name, hasher in hashers.items():
            start = time.perf_counter()
            for path in paths:
                hasher(path)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(paths) / seconds for name, seconds in best.items()}


def parallel_throughput(paths: list[Path], workers: int, rounds: int) -> float:
    """Images per second with the scan's hasher in worker processes, as `jikimi scan --jobs` runs it."""
    best = float("inf")
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(partial(fast_pdq_from_file, limits=Limits()), paths[:workers]))  # start the workers
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(partial(fast_pdq_from_file, limits=Limits()), paths, chunksize=8))
            best = min(best, time.perf_counter() - start)
    return len(paths) / best


def compare(paths: list[Path], rounds: int) -> None:
    limits = Limits()
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    print(f"\n{len(paths)} JPEGs, {Image.open(paths[0]).width} px wide, {megabytes:.1f} MB, best of {rounds} rounds")
    variants = {"pdq_from_file (default)": PDQ_DECODE_MIN_SIDE, "pdq_from_file(min_side=256)": AGGRESSIVE_MIN_SIDE}
    hashers = {"threatexchange PdqSignal.hash_from_file": PdqSignal.hash_from_file}
    hashers |= {label: partial(pdq_from_file, limits=limits, min_side=side) for label, side in variants.items()}
    hashers["fast_pdq_from_file (scans)"] = partial(fast_pdq_from_file, limits=limits)
    speeds = best_throughputs(hashers, paths, rounds)
    baseline = speeds.pop("threatexchange PdqSignal.hash_from_file")
    print(f"  threatexchange PdqSignal.hash_from_file {baseline:7.1f} images/s  (baseline)")
    canonical = [canonical_pdq(p)[0] for p in paths]
    for label, speed in speeds.items():
        distances = [hamming(hashers[label](p).hex, c) for p, c in zip(paths, canonical)]
        print(
            f"  jikimi {label:32} {speed:7.1f} images/s  x{speed / baseline:.2f}  distance to canonical: "
            f"mean {statistics.mean(distances):.2f}, max {max(distances)}, identical {distances.count(0)}/{len(paths)}, "
            f"> 4 bits {sum(d > 4 for d in distances)}"
        )
    workers = os.cpu_count() or 1
    speed = parallel_throughput(paths, workers, rounds)
    print(f"  jikimi fast_pdq_from_file, {workers} processes {speed:7.1f} images/s  x{speed / baseline:.2f}"
          "  same hashes as fast_pdq_from_file above")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--phone-images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng, pictures = random.Random(20240829), sources()
    with tempfile.TemporaryDirectory() as tmp:
        for count, width in [(args.images, 1280), (args.phone_images, 4032)]:
            paths = [Path(tmp) / f"{width}-{i:04}.jpg" for i in range(count)]
            for i, path in enumerate(paths):
                realistic_jpeg(pictures[i % len(pictures)], rng, path, width)
            compare(paths, args.rounds)


if __name__ == "__main__":
    main()
