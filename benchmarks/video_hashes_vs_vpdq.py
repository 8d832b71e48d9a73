"""Our vPDQ-compatible frame hashes against Meta's own `vpdq` package, video by video.

vpdq is built from source (not a jikimi dependency):
    apt-get install libavcodec-dev libavformat-dev libswscale-dev libswresample-dev \\
        libavutil-dev libavdevice-dev libavfilter-dev pkg-config
    .venv/bin/pip install vpdq

    .venv/bin/python benchmarks/video_hashes_vs_vpdq.py [VIDEO ...]
"""

import statistics
import sys
import time
from pathlib import Path

from jikimi.limits import Limits
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD, hamming
from jikimi.signals.video import video_frame_hashes

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
TIMESTAMP_DECIMALS = 3  # threatexchange keeps vPDQ timestamps to the millisecond


def compare(path: Path, vpdq) -> None:
    start = time.perf_counter()
    theirs = vpdq.computeHash(str(path))
    their_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours = video_frame_hashes(path, Limits())
    our_seconds = time.perf_counter() - start

    by_time = {round(f.timestamp, TIMESTAMP_DECIMALS): f for f in theirs}
    matched = [(f, by_time[t]) for f in ours if (t := round(f.timestamp, TIMESTAMP_DECIMALS)) in by_time]
    distances = [hamming(o.pdq, t.hex) for o, t in matched]
    good = [d for d, (o, t) in zip(distances, matched) if min(o.quality, t.quality) >= PDQ_QUALITY_THRESHOLD]
    same_quality = sum(o.quality == t.quality for o, t in matched)
    print(
        f"{path.name:10} frames ours {len(ours):3} vpdq {len(theirs):3} | timestamps matched {len(matched)}/{len(theirs)} "
        f"| quality equal {same_quality}/{len(matched)} | distance all frames mean {_mean(distances)} max {max(distances, default='-')} "
        f"| quality>={PDQ_QUALITY_THRESHOLD}: {len(good)} frames, mean {_mean(good)} max {max(good, default='-')} "
        f"| time ours {our_seconds:.2f} s vpdq {their_seconds:.2f} s"
    )


def _mean(values: list[int]) -> str:
    return f"{statistics.mean(values):.2f}" if values else "-"


def main() -> None:
    try:
        import vpdq
    except ImportError:
        sys.exit("vpdq is not installed: build it as the docstring says")
    paths = [Path(p) for p in sys.argv[1:]] or sorted(
        p for p in SHARED_VIDEOS.glob("*") if p.suffix in (".m4v", ".mov", ".mp4")
    )
    if not paths:
        sys.exit(f"no videos given and none in {SHARED_VIDEOS}")
    for path in paths:
        compare(path, vpdq)


if __name__ == "__main__":
    main()
