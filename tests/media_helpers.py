"""Builders for real media files in tmp_path: public-domain pictures and generated videos."""

from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def astronaut(size: tuple[int, int] | None = None) -> Image.Image:
    img = Image.fromarray(data.astronaut())
    return img.resize(size) if size else img


def write_video(path: Path, seconds: int = 5, fps: int = 10, size=(320, 240), codec="libx264") -> Path:
    """A clip panning across the astronaut, so every second shows different pixels."""
    picture = np.asarray(astronaut((size[0] * 2, size[1])))
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(seconds * fps):
            x = i * size[0] // (seconds * fps)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture[:, x : x + size[0]]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
