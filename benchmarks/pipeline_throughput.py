"""Full-pipeline throughput (hashes + faces + nudity + provenance) and peak memory.

Photos are public-domain portraits (scikit-image's astronaut, matplotlib's Grace Hopper)
pasted at varied sizes onto public-domain scenes, saved as JPEG at 720p (1280x720) and
1280 px wide (1280x960). For each size:

- ours: `jikimi scan` of the folder (fresh workspace, one subject enrolled) with --jobs 1 and 2,
  with the active face model, and again with dlib's ResNet, the model before SFace (each run in
  a fresh process, since $JIKIMI_FACE_MODEL is read when the workers start);
- naive baseline, measured in the same run: per image, full-resolution dlib HOG with one
  upsampling (the usual recipe), a 5-point landmark + ResNet embedding for each face, and
  NudeNet's stock detector (`NudeDetector().detect(path)`), one image after another.

- with --baseline PATH (another checkout, e.g. main before a change): the same scan with
  --jobs 2 run by that checkout's code, in a subprocess, on the same photos.

Peak memory is the highest total resident memory of the scan's process tree (main process,
fork server and workers), sampled every 50 ms.

    .venv/bin/python benchmarks/pipeline_throughput.py [--photos 60] [--sizes 720p] [--baseline ../main]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from process_memory import TreeMemory  # benchmarks/ is on the path when run as a script

from jikimi import cases
from jikimi.scan import ScanOptions, start_scan
from jikimi.signals.face_embedding import DlibResNetEmbedder, active_model_id
from jikimi.workspace import Workspace

OLD_MODEL = DlibResNetEmbedder.model_id

SIZES = {"720p": (1280, 720), "1280px": (1280, 960)}
SCENES = ("coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "coins")


def portraits() -> list[Image.Image]:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = Image.open(f).convert("RGB")
    return [Image.fromarray(data.astronaut()), grace]


def make_photos(folder: Path, size: tuple[int, int], count: int, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    people = portraits()
    for i in range(count):
        scene = Image.fromarray(np.asarray(getattr(data, SCENES[i % len(SCENES)])())).convert("RGB").resize(size)
        person = people[i % len(people)]
        side = rng.randint(size[1] // 3, size[1] * 9 // 10)
        scene.paste(person.resize((side * person.width // person.height, side)),
                    (rng.randint(0, size[0] - side), rng.randint(0, size[1] - side)))
        scene.save(folder / f"{i:04}.jpg", "JPEG", quality=rng.randint(70, 92))


def ours(folder: Path, home: Path, jobs: int) -> tuple[float, int]:
    ws = Workspace(home)
    ws.init()
    reference = home / "reference.jpg"
    Image.fromarray(data.astronaut()).save(reference, quality=95)
    with ws.session() as session:
        case = cases.create_case(ws, session, "benchmark", "benchmark")
        cases.enrol_subject(ws, session, case, "astronaut",
                            cases.Consent("benchmark", "benchmark", "2024-01-01T00:00:00+00:00", "benchmark"), [reference])
    with TreeMemory() as memory:
        start = time.perf_counter()
        start_scan(ws, folder, ScanOptions(jobs=jobs))
        seconds = time.perf_counter() - start
    return seconds, memory.peak


def naive(folder: Path) -> float:
    import dlib
    import face_recognition_models
    from nudenet import NudeDetector

    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    embedder = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    nudity = NudeDetector()
    paths = sorted(folder.iterdir())
    start = time.perf_counter()
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for box in detector(rgb, 1):
            embedder.compute_face_descriptor(rgb, landmarks(rgb, box))
        nudity.detect(str(path))
    return time.perf_counter() - start


def ours_in_a_fresh_process(folder: Path, home: Path, jobs: int, model_id: str) -> tuple[float, int]:
    result = subprocess.run([sys.executable, __file__, "--ours", str(folder), str(home), str(jobs)], check=True,
                            capture_output=True, text=True, env={**os.environ, "JIKIMI_FACE_MODEL": model_id})
    seconds, peak = result.stdout.split()[-2:]
    return float(seconds), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--ours", nargs=3, metavar=("FOLDER", "HOME", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        seconds, peak = ours(Path(args.ours[0]), Path(args.ours[1]), int(args.ours[2]))
        print(seconds, peak)
        return
    model_id = active_model_id()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in ((label, SIZES[label]) for label in args.sizes):
            folder = Path(tmp) / label
            make_photos(folder, size, args.photos, rng)
            baseline = args.photos / naive(folder)
            print(f"{label} ({size[0]}x{size[1]}), {args.photos} photos with faces")
            print(f"  naive baseline (full-res HOG upsample 1 + embedding + NudeNet), 1 process: {baseline:5.2f} photos/s")
            for jobs in (1, 2):
                speeds = {}
                for model in (model_id, OLD_MODEL):
                    seconds, peak = ours_in_a_fresh_process(folder, Path(tmp) / f"ws-{label}-{jobs}-{model}", jobs, model)
                    speeds[model] = args.photos / seconds
                    print(f"  jikimi scan --jobs {jobs}, {model}: {speeds[model]:5.2f} photos/s  "
                          f"x{speeds[model] / baseline:.2f} vs naive  peak memory {peak / 2**20:,.0f} MB")
                print(f"  --jobs {jobs}: {model_id} runs at x{speeds[model_id] / speeds[OLD_MODEL]:.2f} the speed of {OLD_MODEL}")


if __name__ == "__main__":
    main()
