"""Probe untrusted videos and sample frames the way Meta's vPDQ does.

vPDQ (facebook/ThreatExchange, vpdq/cpp/hashing/filehasher.cpp) decodes every frame of
the first video stream, counts decoded frames from 0, and hashes frame `n` when
`n % int(seconds_per_hash * fps) == 0`, where fps is the stream's average frame rate
(or its base rate when unknown); the frame's timestamp is `float32(n) / float32(fps)`.
We mirror these choices, not the container's presentation times, so our frame hashes
and timestamps line up with vPDQ hashes found in banks and exchanges.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from jikimi.errors import MediaTooLarge, UnsupportedMedia
from jikimi.limits import Limits
from jikimi.text import plain_reason

# vPDQ converts frames with swscale's area filter; the same filter gives the same pixels.
RGB_INTERPOLATION = "AREA"


@dataclass(frozen=True)
class VideoInfo:
    duration: float | None  # seconds; None when neither stream nor container says
    width: int
    height: int
    fps: float
    codec: str


def probe_video(path: Path, limits: Limits) -> VideoInfo:
    """Read the headers only; refuse videos over the duration or frame-size limits."""
    with _open(path) as container:
        return _info(container, limits)


def sample_frames(
    path: Path, limits: Limits, seconds_per_frame: float = 1.0
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (timestamp in seconds, RGB uint8 HxWx3) for every vPDQ-sampled frame.

    Decoding stops with MediaTooLarge past `limits.max_video_seconds`, whatever the
    header claimed, so a file lying about its length cannot keep a worker busy.
    """
    with _open(path) as container:
        info = _info(container, limits)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: output order is unchanged
        every = max(1, int(seconds_per_frame * info.fps))
        fps32 = np.float32(info.fps)
        start = None  # streams may start late (MPEG-TS often does): count from the first frame
        try:
            for index, frame in enumerate(container.decode(stream)):
                start = frame.time if start is None else start
                elapsed = max(index / info.fps, (frame.time or 0.0) - (start or 0.0))
                if elapsed > limits.max_video_seconds:
                    raise MediaTooLarge(_too_long(limits))
                if index % every == 0:
                    rgb = frame.to_ndarray(format="rgb24", interpolation=RGB_INTERPOLATION)
                    yield float(np.float32(index) / fps32), rgb
        except av.FFmpegError as e:
            raise UnsupportedMedia(f"video is truncated or corrupt ({_reason(e)})") from None


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise UnsupportedMedia(f"video is truncated or corrupt ({_reason(e)})") from None


def _info(container: av.container.InputContainer, limits: Limits) -> VideoInfo:
    if not container.streams.video:
        raise UnsupportedMedia("file has no video stream")
    stream = container.streams.video[0]
    codec = stream.codec_context  # None for a stream whose codec is damaged or unknown
    width, height = (codec.width, codec.height) if codec is not None else (0, 0)
    if not width or not height:
        raise UnsupportedMedia("video has no frame size")
    if width * height > limits.max_image_pixels:
        raise MediaTooLarge(f"video frames are {width}x{height} pixels, more than the limit")
    rate = stream.average_rate or stream.base_rate
    if not rate:
        raise UnsupportedMedia("video has no frame rate")
    duration = _duration(container, stream)
    if duration is not None and duration > limits.max_video_seconds:
        raise MediaTooLarge(_too_long(limits))
    return VideoInfo(duration, width, height, float(rate), codec.name)


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _too_long(limits: Limits) -> str:
    return f"video is longer than the limit of {limits.max_video_seconds:.0f} seconds"


def _reason(error: av.FFmpegError) -> str:
    return plain_reason(error.strerror or type(error).__name__)
