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


THEMES = {"light": ((255, 255, 255), (240, 242, 245), (20, 20, 20)), "dark": ((14, 22, 33), (24, 37, 51), (230, 230, 230))}


def phone_screenshot(picture: Image.Image, theme: str = "light", width: int = 720) -> tuple[Image.Image, tuple]:
    """A chat app screenshot (status bar, header, text bubbles, the picture in a bubble, input
    bar) and the picture's (x, y, width, height) in it."""
    from PIL import ImageDraw

    background, bubble, ink = THEMES[theme]
    inner_width = width - 120
    shown = picture.resize((inner_width, round(picture.height * inner_width / picture.width)))
    height = shown.height + 560
    shot = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(shot)
    draw.text((20, 10), "21:14", fill=ink)
    draw.text((width - 60, 10), "87%", fill=ink)
    draw.rectangle((0, 40, width, 110), fill=bubble)
    draw.text((90, 65), "Night Archive", fill=ink)
    draw.rounded_rectangle((40, 140, width - 200, 210), radius=18, fill=bubble)
    draw.text((60, 165), "look what they posted", fill=ink)
    draw.rounded_rectangle((50, 240, width - 50, 290 + shown.height), radius=18, fill=bubble)
    shot.paste(shown, (60, 250))
    draw.text((70, 262 + shown.height), "saved this lol  21:13", fill=ink)
    draw.rectangle((0, height - 90, width, height), fill=bubble)
    draw.text((30, height - 50), "Message", fill=ink)
    return shot, (60, 250, shown.width, shown.height)
