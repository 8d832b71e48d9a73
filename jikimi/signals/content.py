"""Every signal of one file, computed in a worker process: the unit of work of a scan."""

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from jikimi.errors import JikimiError, MediaTooLarge
from jikimi.limits import Limits
from jikimi.media.detect import mime_type, sniff_kind
from jikimi.media.images import open_image
from jikimi.media.thumbnails import blurred_thumbnail
from jikimi.media.video import probe_video, sample_frames
from jikimi.signals.crypto import Digests, file_digests
from jikimi.signals.faces import FaceAnalyzer
from jikimi.signals.nudity import SEXUAL_EXPOSED_CLASSES, NudityClassifier, NuditySummary
from jikimi.signals.local_features import local_features
from jikimi.signals.pdq import pdq_from_image
from jikimi.signals.pdq_variants import inner_rect, pdq_with_variants
from jikimi.signals.provenance import provenance_hints
from jikimi.signals.region_grid import region_grid
from jikimi.signals.spread_features import BANK_PER_CELL, spread_features
from jikimi.text import one_line
from jikimi.signals.video import FrameHash, frame_hash

# A file named like media whose bytes are not media is damaged or disguised: worth a line.
MEDIA_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif",
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi",
}


# Faces and nudity run on at most this many frames per video, spread evenly (every sampled
# frame of a short clip; one every ~36 s of a 3-hour video), so one video cannot stall a scan.
MAX_ANALYSED_FRAMES = 300
MAX_DETECTIONS_KEPT = 20
# Faces and nudity are not looked for in strips longer than 20:1 (a long scrolling screenshot
# is ~10:1): the models see nothing in a 1-pixel line, however long; the hashes still apply.
MAX_ANALYSED_ASPECT = 20
# PDQ turns the whole picture into float planes, ~26 bytes a pixel: a 64 MP image took a
# worker to 1.9 GB. Larger pictures and frames are hashed from a copy reduced by the
# smallest whole factor that fits (a box filter, like the JPEG DCT scaling `pdq_from_file`
# uses): halving a large photo moves its hash ~1.6 bits of 256 (benchmarks/pdq_hashing.py),
# and a worker stays under 1.5 GB whatever the input.
PDQ_FULL_SIZE_PIXELS = 24_000_000
# One analyzer and classifier per worker process: their models load once, on first use.
FACES = FaceAnalyzer()
NUDITY = NudityClassifier()


@dataclass
class FaceFound:
    """A face in an image, or in a video frame at `frame_time`."""

    frame_time: float | None
    box: dict
    size_px: int
    sharpness: float
    detector: str
    embedding: bytes  # float32 vector: biometric data, encrypted before it is stored
    model_id: str  # the embedding's model


@dataclass
class ContentSignals:
    """Plain data (picklable) so it can cross from a worker process to the scan."""

    kind: str  # "image" | "video" | "other", from the bytes, not the extension
    mime_type: str
    digests: Digests | None = None  # SHA-256, MD5 and size, read in the worker with the rest
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_variants: list[dict] = field(default_factory=list)  # extra query hashes (turns, mirrors, inner picture)
    local_features: bytes | None = None  # ORB keypoints and descriptors (signals/local_features.py)
    edit_features: bytes | None = None  # for_bank: spread features and region grid (match_edits.py)
    regions: bytes | None = None
    frames: list[FrameHash] = field(default_factory=list)
    thumbnail: bytes | None = None  # blurred JPEG, never the clear picture
    nudity: dict | None = None  # max_exposed, best score per class, strongest detections
    faces: list[FaceFound] = field(default_factory=list)
    provenance: dict | None = None
    error: str | None = None  # one line for the report; the scan goes on


def compute_signals(path: Path, limits: Limits, analyse: bool = True, for_bank: bool = False) -> ContentSignals:
    """Never raises on bad media: what went wrong becomes `error`.

    `analyse` adds faces, nudity and provenance hints to the hashes. `for_bank` hashes
    images with pdqhash itself (bank hashes are exported) and skips the query variants;
    otherwise the fast hash and its variants are computed (for scans). Images get their
    local features either way (banks keep them, scans query with them).
    """
    signals = ContentSignals(kind="other", mime_type="application/octet-stream")
    with warnings.catch_warnings():  # decoders warn about hostile bytes; the item's error says what counts
        warnings.simplefilter("ignore")
        _add_signals(path, limits, analyse, for_bank, signals)
    return signals


def _add_signals(path: Path, limits: Limits, analyse: bool, for_bank: bool, signals: ContentSignals) -> None:
    try:
        with open(path, "rb") as f:
            signals.digests = file_digests(f)
        signals.kind, signals.mime_type = sniff_kind(path), mime_type(path)
        size = path.stat().st_size
        if size == 0:
            signals.error = "empty file"
        elif size > limits.max_file_bytes:
            raise MediaTooLarge(f"file is {size} bytes, more than the limit of {limits.max_file_bytes}")
        elif signals.kind == "image":
            _add_image_signals(path, limits, signals, analyse, for_bank)
        elif signals.kind == "video":
            _add_video_signals(path, limits, signals, analyse)
        elif path.suffix.lower() in MEDIA_SUFFIXES:
            signals.error = f"not a known image or video format, though the name ends in {path.suffix}"
    except JikimiError as e:
        signals.error = one_line(str(e))
    except OSError as e:
        signals.error = f"cannot read the file ({e.strerror or type(e).__name__})"
    except Exception as e:  # a decoder bug on hostile bytes must not stop the scan
        signals.error = f"unexpected error while decoding the file ({type(e).__name__})"
    return signals


def _add_image_signals(path: Path, limits: Limits, signals: ContentSignals, analyse: bool,
                       for_bank: bool) -> None:
    img = open_image(path, limits)
    signals.width, signals.height = img.size
    sized = _pdq_sized(img)
    if for_bank:
        pdq = pdq_from_image(sized)
    else:
        pdq, signals.pdq_variants = pdq_with_variants(np.asarray(sized))
    signals.pdq, signals.pdq_quality = pdq.hex, pdq.quality
    signals.thumbnail = blurred_thumbnail(img)
    if _analysable(*img.size):  # a strip has no shape worth matching, and ORB refuses it
        rgb = np.asarray(img)
        inner = inner_rect(signals.pdq_variants or [], img.width / sized.width)
        signals.local_features = local_features(rgb, inner).to_bytes()
        if for_bank:  # they also find copies with a large region replaced
            signals.edit_features = spread_features(rgb, BANK_PER_CELL).to_bytes()
            signals.regions = region_grid(rgb).to_bytes()
        if analyse:
            signals.nudity = _nudity_dict([(None, _analyse_picture(rgb, None, signals))])
    if analyse:
        signals.provenance = provenance_hints(path, signals.mime_type)


def _add_video_signals(path: Path, limits: Limits, signals: ContentSignals, analyse: bool) -> None:
    info = probe_video(path, limits)
    signals.width, signals.height, signals.duration = info.width, info.height, info.duration
    every = max(1, math.ceil((info.duration or 0) / MAX_ANALYSED_FRAMES))
    frames, best, nudity = [], None, []
    for n, (timestamp, rgb) in enumerate(sample_frames(path, limits)):
        frames.append(frame_hash(timestamp, np.asarray(_pdq_sized(Image.fromarray(rgb)))))
        if best is None or frames[-1].quality > best[0]:
            best = (frames[-1].quality, rgb)  # the most detailed frame makes the thumbnail
        if analyse and n % every == 0 and _analysable(info.width, info.height):
            nudity.append((timestamp, _analyse_picture(rgb, timestamp, signals)))
    signals.frames = frames
    if best is not None:
        signals.thumbnail = blurred_thumbnail(Image.fromarray(best[1]))
    if analyse:
        signals.nudity = _nudity_dict(nudity) if _analysable(info.width, info.height) else None
        signals.provenance = provenance_hints(path, signals.mime_type)


def _pdq_sized(img: Image.Image) -> Image.Image:
    width, height = img.size
    if width * height <= PDQ_FULL_SIZE_PIXELS:
        return img
    return img.reduce(math.ceil(math.sqrt(width * height / PDQ_FULL_SIZE_PIXELS)))


def _analysable(width: int, height: int) -> bool:
    return max(width, height) <= MAX_ANALYSED_ASPECT * min(width, height)


def _analyse_picture(rgb: np.ndarray, frame_time: float | None, signals: ContentSignals) -> NuditySummary:
    """Nudity classes, then faces (NudeNet's face boxes help the face detector)."""
    nudity = NUDITY.classify(rgb)
    for face in FACES.faces(rgb, nudity.face_boxes()):
        signals.faces.append(FaceFound(frame_time, face.box.to_dict(), face.size_px, round(face.sharpness, 2),
                                       face.detector, face.embedding.astype(np.float32).tobytes(), face.model_id))
    return nudity


def _nudity_dict(summaries: list[tuple[float | None, NuditySummary]]) -> dict:
    """One summary per item: best score per class over all frames, and where it was seen."""
    classes: dict[str, float] = {}
    detections = []
    for frame_time, summary in summaries:
        for label, score in summary.classes.items():
            classes[label] = max(score, classes.get(label, 0.0))
        detections += [{**d.to_dict(), "frame_time": frame_time} for d in summary.detections]
    detections.sort(key=lambda d: d["score"], reverse=True)
    exposed = [score for label, score in classes.items() if label in SEXUAL_EXPOSED_CLASSES]
    return {
        "max_exposed": round(max(exposed, default=0.0), 4),
        "classes": {label: round(score, 4) for label, score in sorted(classes.items())},
        "detections": detections[:MAX_DETECTIONS_KEPT],
        "frames_analysed": len(summaries),
    }
