"""Every signal of one file, computed in a worker process: the unit of work of a scan."""

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from jikimi.errors import JikimiError, MediaTooLarge
from jikimi.limits import Limits
from jikimi.media.detect import mime_type, sniff_kind
from jikimi.media.images import open_image
from jikimi.media.thumbnails import blurred_thumbnail
from jikimi.media.video import probe_video, sample_frames
from jikimi.signals.pdq import pdq_from_image
from jikimi.signals.video import FrameHash, frame_hash

# A file named like media whose bytes are not media is damaged or disguised: worth a line.
MEDIA_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif",
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi",
}


@dataclass
class ContentSignals:
    """Plain data (picklable) so it can cross from a worker process to the scan."""

    kind: str  # "image" | "video" | "other", from the bytes, not the extension
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    frames: list[FrameHash] = field(default_factory=list)
    thumbnail: bytes | None = None  # blurred JPEG, never the clear picture
    error: str | None = None  # one line for the report; the scan goes on


def compute_signals(path: Path, limits: Limits) -> ContentSignals:
    """Never raises on bad media: what went wrong becomes `error`."""
    signals = ContentSignals(kind="other", mime_type="application/octet-stream")
    try:
        signals.kind, signals.mime_type = sniff_kind(path), mime_type(path)
        size = path.stat().st_size
        if size == 0:
            signals.error = "empty file"
        elif size > limits.max_file_bytes:
            raise MediaTooLarge(f"file is {size} bytes, more than the limit of {limits.max_file_bytes}")
        elif signals.kind == "image":
            _add_image_signals(path, limits, signals)
        elif signals.kind == "video":
            _add_video_signals(path, limits, signals)
        elif path.suffix.lower() in MEDIA_SUFFIXES:
            signals.error = f"not a known image or video format, though the name ends in {path.suffix}"
    except JikimiError as e:
        signals.error = _one_line(str(e))
    except Exception as e:  # a decoder bug on hostile bytes must not stop the scan
        signals.error = _one_line(f"unexpected error: {type(e).__name__}: {e}")
    return signals


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _add_image_signals(path: Path, limits: Limits, signals: ContentSignals) -> None:
    img = open_image(path, limits)
    signals.width, signals.height = img.size
    pdq = pdq_from_image(img)
    signals.pdq, signals.pdq_quality = pdq.hex, pdq.quality
    signals.thumbnail = blurred_thumbnail(img)


def _add_video_signals(path: Path, limits: Limits, signals: ContentSignals) -> None:
    info = probe_video(path, limits)
    signals.width, signals.height, signals.duration = info.width, info.height, info.duration
    frames, best = [], None
    for timestamp, rgb in sample_frames(path, limits):
        frames.append(frame_hash(timestamp, rgb))
        if best is None or frames[-1].quality > best[0]:
            best = (frames[-1].quality, rgb)  # the most detailed frame makes the thumbnail
    signals.frames = frames
    if best is not None:
        signals.thumbnail = blurred_thumbnail(Image.fromarray(best[1]))
