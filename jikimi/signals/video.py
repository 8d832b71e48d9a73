"""vPDQ-compatible video hashes: a PDQ hash per sampled frame, with its timestamp."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jikimi.errors import ExportFormatError
from jikimi.limits import Limits
from jikimi.media.video import sample_frames
from jikimi.signals.pdq import pdq_from_array


@dataclass(frozen=True)
class FrameHash:
    timestamp: float  # seconds, as vPDQ computes them (frame index / average fps)
    pdq: str
    quality: int


def frame_hash(timestamp: float, rgb: np.ndarray) -> FrameHash:
    pdq = pdq_from_array(rgb)
    return FrameHash(timestamp, pdq.hex, pdq.quality)


def video_frame_hashes(path: Path, limits: Limits, seconds_per_frame: float = 1.0) -> list[FrameHash]:
    """One frame hash every `seconds_per_frame`, the same frames Meta's vpdq hashes."""
    return [frame_hash(t, rgb) for t, rgb in sample_frames(path, limits, seconds_per_frame)]


def to_vpdq_signal(frames: list[FrameHash]) -> str:
    """threatexchange's vpdq signal string: a JSON list of "hex,quality,timestamp".

    The timestamp uses threatexchange's own format (VpdqCompactFeature: 3 significant
    digits, so 123.4 s is written 1.23e+02): byte-identical strings dedupe across tools.
    """
    return json.dumps([f"{f.pdq},{f.quality},{f.timestamp:.3}" for f in frames])


def from_vpdq_signal(signal: str) -> list[FrameHash]:
    """Parse a vpdq signal string from a bank or exchange; ExportFormatError when malformed."""
    try:
        return [_parse_feature(item) for item in json.loads(signal or "[]")]
    except (ValueError, TypeError, AttributeError) as e:
        raise ExportFormatError(f"invalid vPDQ signal: {e}") from None


def _parse_feature(item: str) -> FrameHash:
    pdq, quality, timestamp = item.split(",")
    frame = FrameHash(float(timestamp), pdq.lower(), int(quality))
    int(frame.pdq, 16)
    if len(frame.pdq) != 64 or not 0 <= frame.quality <= 100 or frame.timestamp < 0:
        raise ValueError(f"out of range: {item}")
    return frame
