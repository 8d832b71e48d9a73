"""Build a small, harmless Telegram export with known answers, for demos and end-to-end tests.

`build_sample_export(dest)` writes, deterministically and offline:

- `dest/known/`: what a case worker already holds: six images and one short video.
- `dest/subject/`: the reference photo of the demo subject, the person the case protects.
- `dest/export/`: a Telegram Desktop single-chat export (`result.json` + `photos/`,
  `video_files/`, `files/`, `round_video_messages/`) in which altered copies of the known
  files are hidden among unrelated pictures, videos and hostile inputs.
- `dest/ground_truth.json`: for every posted file, whether a scan should match it, against
  which known file and by which signal, or whether it should fail with an error.

The known files stand in for intimate images, so that the whole flow can be shown without
any. Every picture is either a public-domain photograph shipped by an installed package or
drawn here from seeded random shapes, gradients, text and charts:

- scikit-image (`skimage/data/`; licence per `skimage.data` docstrings): chelsea (CC0,
  Stefan van der Walt), coffee (CC0, Rachel Michetti), rocket (public domain, SpaceX),
  coins (Brooklyn Museum, no known copyright restrictions), immunohistochemistry (CMMI, no
  known copyright restrictions), horse (CC0, Andreas Preuss), hubble_deep_field (public
  domain, NASA), retina (CC0, Wikimedia Commons), gravel, brick and grass (CC0, CC0Textures),
  text (public domain), cell (CC0).
- The demo subject is scikit-image's astronaut (Eileen Collins, NASA; public domain), and
  matplotlib's grace_hopper.jpg (Grace Hopper, US Navy; public domain) is someone else. They
  are the only photographs of people, and they appear only as what messengers and
  screenshots make of an official portrait: resized, recompressed, cropped, grayscale,
  inside a phone screenshot, pasted side by side, or panned and zoomed over in a video.
  No face or body is altered, and their posts carry no chatter. They stand in for the
  selfies a deepfake is made from: the demo shows her identity found, never a fake of her.

What PDQ can and cannot see, measured on these files (PDQ distance out of 256 bits; a
match is <= 31): JPEG re-encoding, resizing, grayscale and a corner watermark stay under
~20; trimming 1% off two sides stays under ~25, but 3% off every side already reaches
40-80 and 5% 80-130; a screenshot in which the picture fills 64-71% of the screen is
~100-140 away, as far as an unrelated picture. The scan also hashes the picture it finds
inside a screenshot (signals/inner_picture.py), which brings four of them to 0-18; the rocket
(its dark sky melts into the dark chat bubble) and the horse (a black silhouette on white:
flat areas inside the picture itself) stay out of reach and are posted as "miss": known
content the scan is not expected to find.

Faces: every "subject" post is found by the real pipeline (`compute_signals`, then
`face_distance` to `FaceAnalyzer().reference_face()` of `subject/astronaut.jpg`; a match is
within the model's threshold, 1.02 for SFace, "confident" within 0.98), far inside it.
Measured with SFace (face size in px of the posted picture, distance):

    resized to 480 px                      90 px   0.190
    recompressed at JPEG quality 45        96 px   0.261
    cropped to her upper body (304x384)    90 px   0.244
    phone screenshot (71% of it)          101 px   0.169
    grayscale                              96 px   0.341
    side by side with Grace Hopper         125 px  0.218  (Grace Hopper's face: 1.262)
    video, one frame per second        144-172 px  0.181-0.294  (thumbnail: 0.236)
    Grace Hopper alone                    193 px   1.278  (must not match)

The only other "faces" HOG finds are her mission patch and name badge (52-55 px, 1.40-1.47).

Telegram Desktop names round videos' `media_type` "video_message" (in
`round_video_messages/`), and so does this export.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Callable, Iterator

import av
import matplotlib
import matplotlib.cbook
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SKIMAGE_DATA = files("skimage") / "data"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
FONT_BOLD = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"

SUBJECT_NAME = "Demo subject (public-domain NASA portrait)"
SUBJECT_PHOTO = "astronaut.jpg"  # in subject/: skimage's astronaut.png, as a JPEG
SUBJECT_SOURCE = "astronaut.png"
BYSTANDER = "grace_hopper.jpg"  # matplotlib's sample data: another person, never the subject
KNOWN_IMAGES = ("chelsea.png", "coffee.png", "rocket.jpg", "coins.png", "ihc.png", "horse.png")
# Screenshots whose picture the inner-picture finder cannot separate from the chat (see above).
SCREENSHOT_MISSES = ("rocket.jpg", "horse.png")
KNOWN_VIDEO = "video_known.mp4"
KNOWN_VIDEO_SOURCES = ("hubble_deep_field.jpg", "retina.jpg", "gravel.png")
UNRELATED_PACKAGE_IMAGES = ("text.png", "brick.png", "grass.png", "cell.png")
PROCEDURAL_IMAGES = 88  # with the 4 package images and their 8 crops: 100 unrelated images
TEXT_MESSAGES = 130
SERVICE_MESSAGES = 15

VIDEO_SIZE = (640, 360)
VIDEO_FPS = 15
KNOWN_VIDEO_SECONDS = 8
SUBJECT_VIDEO_SECONDS = 4
SUBJECT_CROP = (96, 16, 400, 400)  # her upper body, in pixels of the 512-px portrait
GROUP_SUBJECT_CROP = (99, 0, 339, 300)  # her head and shoulders, 4:5 like the other panels

CHAT_NAME = "밤하늘 공유방"
CHAT_ID = 1987654321
FIRST_MESSAGE_DATE = datetime(2024, 8, 27, 21, 14, 5)
EXPORT_TIMEZONE = timezone(timedelta(hours=9))  # the exporting PC's clock (KST) writes `date`
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"


@dataclass(frozen=True)
class ExpectedMatch:
    target: str  # file name in known/, or the subject's name for "face"
    kind: str  # "sha256" | "pdq" | "vpdq" | "face"


@dataclass(frozen=True)
class Expectation:
    """What a scan should say about one posted file.

    outcome: "match" (every listed match should be found), "unrelated" (no match), "miss"
    (derived from a known file, but beyond what the signal can see; finding it is a bonus),
    "subject" (shows the demo subject: with her enrolled, a scan should report a face match
    to her, listed as `ExpectedMatch(SUBJECT_NAME, "face")`, and no hash match), or "error"
    (missing, hostile or undecodable input that must not abort the scan).
    role: "photo" or "file" (the message's media) or "thumbnail" (the preview Telegram
    writes next to a video; Telegram sources skip it when the video itself is present).
    """

    message_id: int
    path: str  # exactly as written in result.json
    role: str
    outcome: str
    matches: tuple[ExpectedMatch, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class SampleExport:
    root: Path
    export_dir: Path
    known_dir: Path
    known_files: tuple[str, ...]
    expectations: tuple[Expectation, ...]
    subject_dir: Path  # the demo subject's reference photo, to enrol her
    subject_photos: tuple[str, ...]
    subject_name: str = SUBJECT_NAME

    def by_message(self) -> dict[int, Expectation]:
        """The expectation for each message's own media (thumbnails left out)."""
        return {e.message_id: e for e in self.expectations if e.role != "thumbnail"}

    def to_json(self) -> dict:
        return {
            "export_dir": self.export_dir.name,
            "known_dir": self.known_dir.name,
            "known_files": list(self.known_files),
            "subject_dir": self.subject_dir.name,
            "subject_photos": list(self.subject_photos),
            "subject_name": self.subject_name,
            "expectations": [asdict(e) for e in self.expectations],
        }


@dataclass
class Media:
    """One file to post, before it is given a message, a date and a path."""

    folder: str  # photos | files | video_files | round_video_messages
    data: bytes | None  # None when result.json names a file that is not there
    outcome: str
    matches: tuple[ExpectedMatch, ...] = ()
    note: str = ""
    name: str = ""  # original file name for files and videos; photos are named by date
    path: str = ""  # forced path in result.json (placeholders, traversal)
    fields: dict = field(default_factory=dict)  # media_type, mime_type, width, ...
    thumbnail: Media | None = None
    forwarded_from: str | None = None
    quiet: bool = False  # posted without chatter: no words are put next to a real person's picture


def build_sample_export(dest: Path, seed: int = 7) -> SampleExport:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty; choose a new folder for the sample export.")
    known_dir, export_dir, subject_dir = dest / "known", dest / "export", dest / "subject"
    for folder in ("photos", "video_files", "files", "round_video_messages"):
        (export_dir / folder).mkdir(parents=True)
    known_dir.mkdir()
    subject_dir.mkdir()
    rng = random.Random(seed)

    originals = make_known_images(known_dir)
    known_video = make_known_video()
    (known_dir / KNOWN_VIDEO).write_bytes(known_video)
    portrait = package_image(SUBJECT_SOURCE)
    (subject_dir / SUBJECT_PHOTO).write_bytes(encode(portrait, quality=95))

    media = (
        known_image_copies(originals, known_dir, rng)
        + known_video_copies(known_video, originals)
        + unrelated_images(rng)
        + unrelated_videos()
        + subject_posts(portrait, rng)
        + bad_inputs(rng)
    )
    messages, expectations = build_messages(media, export_dir, rng)
    chat = {"name": CHAT_NAME, "type": "private_supergroup", "id": CHAT_ID, "messages": messages}
    write_json(export_dir / "result.json", chat)

    sample = SampleExport(
        root=dest,
        export_dir=export_dir,
        known_dir=known_dir,
        known_files=(*KNOWN_IMAGES, KNOWN_VIDEO),
        expectations=tuple(expectations),
        subject_dir=subject_dir,
        subject_photos=(SUBJECT_PHOTO,),
    )
    write_json(dest / "ground_truth.json", sample.to_json())
    return sample


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# --- pictures -------------------------------------------------------------------------


def package_image(name: str) -> Image.Image:
    """A picture shipped by scikit-image, as RGB (transparency flattened onto white)."""
    with Image.open(io.BytesIO((SKIMAGE_DATA / name).read_bytes())) as image:
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, "white")
            flat.paste(image, mask=image.getchannel("A"))
            return flat
        return image.convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 87) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_BOLD if bold else FONT), size)


def photo(image: Image.Image, outcome: str, matches: tuple[ExpectedMatch, ...] = (),
          note: str = "", quality: int = 87) -> Media:
    """A picture posted as a Telegram photo: always a JPEG, with its size in result.json."""
    return Media("photos", encode(image, quality=quality), outcome, matches, note,
                 fields={"width": image.width, "height": image.height})


def make_known_images(known_dir: Path) -> dict[str, Image.Image]:
    """Write the known images as the case worker holds them and return their pixels."""
    originals = {}
    for name in KNOWN_IMAGES:
        image = package_image(name)
        data = encode(image, "PNG") if name.endswith(".png") else (SKIMAGE_DATA / name).read_bytes()
        (known_dir / name).write_bytes(data)
        originals[name] = image
    return originals


# --- transforms of a known image that PDQ should still find (and one it cannot) ---------


def resized(image: Image.Image, width: int) -> Image.Image:
    return image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)


def cropped(image: Image.Image, fraction: float) -> Image.Image:
    """Trim `fraction` of the size from the left and top sides, as a careless crop does."""
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width, image.height))


def watermarked(image: Image.Image, text: str) -> Image.Image:
    """A channel name stamped in the bottom-right corner, as reposting channels do."""
    marked = image.convert("RGBA")
    layer = Image.new("RGBA", marked.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    face = font(max(12, image.width // 36), bold=True)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=face)
    x, y = image.width - (x1 - x0) - face.size // 2, image.height - (y1 - y0) - face.size // 2
    draw.rectangle((x - 6, y - 4, x + x1 - x0 + 6, y + y1 - y0 + 4), fill=(0, 0, 0, 80))
    draw.text((x - x0, y - y0), text, font=face, fill=(255, 255, 255, 200))
    return Image.alpha_composite(marked, layer).convert("RGB")


def screenshot(image: Image.Image, caption: str) -> tuple[Image.Image, float]:
    """The picture inside a phone chat screenshot (status bar, header, bubble, input bar),
    and the share of the screenshot the picture covers."""
    picture = resized(image, 600)
    width, height = picture.width + 48, picture.height + 180
    shot = Image.new("RGB", (width, height), (14, 22, 33))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, width, 30), fill=(0, 0, 0))
    draw.text((14, 5), "21:14", font=font(17, bold=True), fill="white")
    draw.text((width - 60, 5), "87%", font=font(17), fill="white")
    draw.rectangle((0, 30, width, 74), fill=(23, 33, 43))
    draw.text((56, 40), "Night Archive", font=font(20, bold=True), fill="white")
    draw.rounded_rectangle((12, 82, width - 12, height - 56), radius=16, fill=(24, 37, 51))
    shot.paste(picture, (24, 90))
    draw.text((24, 96 + picture.height), caption, font=font(17), fill=(220, 220, 220))
    draw.rectangle((0, height - 48, width, height), fill=(23, 33, 43))
    draw.text((16, height - 36), "Message", font=font(18), fill=(110, 120, 130))
    return shot, picture.width * picture.height / (width * height)


def known_image_copies(originals: dict[str, Image.Image], known_dir: Path,
                       rng: random.Random) -> list[Media]:
    media = []
    widths = (320, 480, 960, 1280, 640, 800)
    for index, (name, image) in enumerate(originals.items()):
        quality = rng.randint(40, 70)
        pdq = (ExpectedMatch(name, "pdq"),)
        shot, share = screenshot(image, "saved this lol")
        media += [
            photo(image, "match", pdq, f"re-encoded as JPEG quality {quality}", quality),
            photo(resized(image, widths[index]), "match", pdq, f"resized to {widths[index]} px wide"),
            photo(cropped(image, 0.01), "match", pdq, "cropped by 1% on the left and top"),
            photo(watermarked(image, "@night_archive"), "match", pdq, "channel watermark in a corner"),
            photo(image.convert("L"), "match", pdq, "grayscale"),
            photo(shot, "miss" if name in SCREENSHOT_MISSES else "match", pdq,
                  f"phone screenshot; the picture is {share:.0%} of it"),
        ]
    repost = replace(media[0], note="the same JPEG posted again", forwarded_from="Night Archive")
    media.append(repost)

    chelsea, coffee = KNOWN_IMAGES[0], KNOWN_IMAGES[1]
    exact = (ExpectedMatch(chelsea, "sha256"),)
    original = (known_dir / chelsea).read_bytes()
    png = {"mime_type": "image/png"}
    media += [
        Media("files", original, "match", exact, "identical copy", name="IMG_20240812_224501.png",
              fields=png),
        Media("files", original, "match", exact, "identical copy, posted again",
              name="IMG_20240812_224501 (1).png", fields=png),
        Media("files", encode(originals[coffee], quality=80), "match", (ExpectedMatch(coffee, "pdq"),),
              "a JPEG named .png (extension lies)", name="coffee_orig.png", fields=png),
    ]
    return media


# --- videos ---------------------------------------------------------------------------


def encode_video(frames: Iterator[Image.Image], size: tuple[int, int], fps: int,
                 codec: str = "libx264", bit_rate: int | None = None) -> bytes:
    """Encode RGB frames to an MP4 in memory, reproducibly.

    One thread, and no x264 macroblock-tree rate control: with it, some frame sizes
    (320x240, 480x360) gave different bytes from run to run.
    """
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"threads": "1"}
        if codec == "libx264":
            stream.options |= {"preset": "veryfast", "crf": "23", "x264-params": "mbtree=0"}
        if bit_rate:
            stream.bit_rate = bit_rate
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_image(image.resize(size) if image.size != size else image)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def decode_frames(data: bytes) -> Iterator[tuple[float, Image.Image]]:
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            yield float(frame.time), frame.to_image()


def known_video_frames() -> Iterator[Image.Image]:
    """Slow pans and zooms over three pictures, so each second shows a different frame.

    The motion is slow enough that frames half a second apart stay within PDQ's match
    threshold, so a copy sampled at other instants still meets the known frame hashes.
    """
    sources = [package_image(name) for name in KNOWN_VIDEO_SOURCES]
    shots = [  # (source, start box, end box) with boxes as fractions (x, y, width)
        (sources[0], (0.05, 0.10, 0.60), (0.06, 0.105, 0.60)),
        (sources[1], (0.10, 0.15, 0.80), (0.105, 0.155, 0.785)),
        (sources[2], (0.00, 0.05, 0.90), (0.015, 0.055, 0.90)),
    ]
    frames_per_shot = KNOWN_VIDEO_SECONDS * VIDEO_FPS // len(shots) + 1
    for index in range(KNOWN_VIDEO_SECONDS * VIDEO_FPS):
        source, start, end = shots[index // frames_per_shot]
        progress = (index % frames_per_shot) / frames_per_shot
        x, y, w = (a + (b - a) * progress for a, b in zip(start, end))
        width, height = source.size
        box_w = w * width
        box_h = box_w * VIDEO_SIZE[1] / VIDEO_SIZE[0]
        box = (x * width, y * height, x * width + box_w, y * height + box_h)
        yield source.resize(VIDEO_SIZE, Image.BILINEAR, box=box)


def make_known_video() -> bytes:
    return encode_video(known_video_frames(), VIDEO_SIZE, VIDEO_FPS)


def thumbnail_of(data: bytes, outcome: str, matches: tuple[ExpectedMatch, ...]) -> Media:
    """Telegram's preview of a video: its first frame, 320 px wide."""
    _, first = next(decode_frames(data))
    return Media("", encode(resized(first, 320), quality=80), outcome, matches,
                 "first frame of the video")


def video_media(data: bytes, name: str, outcome: str, matches: tuple[ExpectedMatch, ...],
                note: str, size: tuple[int, int], seconds: int, media_type: str = "video_file",
                thumbnail_matches: tuple[ExpectedMatch, ...] = (),
                thumbnail_outcome: str | None = None) -> Media:
    folder = "round_video_messages" if media_type == "video_message" else "video_files"
    thumb_outcome = thumbnail_outcome or ("match" if thumbnail_matches else "unrelated")
    return Media(
        folder, data, outcome, matches, note, name=name,
        fields={"media_type": media_type, "mime_type": "video/mp4", "duration_seconds": seconds,
                "width": size[0], "height": size[1]},
        thumbnail=thumbnail_of(data, thumb_outcome, thumbnail_matches),
    )


def known_video_copies(known_video: bytes, originals: dict[str, Image.Image]) -> list[Media]:
    vpdq = (ExpectedMatch(KNOWN_VIDEO, "vpdq"),)
    frame_pdq = (ExpectedMatch(KNOWN_VIDEO, "pdq"),)
    frames = list(decode_frames(known_video))
    small = (426, 240)
    downscaled = encode_video((image for _, image in frames), small, VIDEO_FPS, "mpeg4", 400_000)
    half = KNOWN_VIDEO_SECONDS // 2
    clip = encode_video((image for t, image in frames if t < half), VIDEO_SIZE, VIDEO_FPS)
    slides = KNOWN_IMAGES[1:4]
    slide_frames = [originals[name].resize(VIDEO_SIZE, Image.LANCZOS) for name in slides]
    slideshow = encode_video((frame for frame in slide_frames for _ in range(2 * VIDEO_FPS)),
                             VIDEO_SIZE, VIDEO_FPS)
    still = next(image for t, image in frames if t >= 5.0)
    return [
        video_media(known_video, "IMG_4417.MP4", "match", (ExpectedMatch(KNOWN_VIDEO, "sha256"),),
                    "identical copy", VIDEO_SIZE, KNOWN_VIDEO_SECONDS, thumbnail_matches=frame_pdq),
        video_media(downscaled, "", "match", vpdq, "re-encoded to 426x240 MPEG-4 at 400 kbit/s",
                    small, KNOWN_VIDEO_SECONDS, thumbnail_matches=frame_pdq),
        video_media(clip, "clip.mp4", "match", vpdq, f"the first {half} seconds",
                    VIDEO_SIZE, half, thumbnail_matches=frame_pdq),
        video_media(slideshow, "", "match", tuple(ExpectedMatch(n, "pdq") for n in slides),
                    "slideshow of three known images, two seconds each", VIDEO_SIZE, 6,
                    thumbnail_matches=(ExpectedMatch(slides[0], "pdq"),)),
        photo(still, "match", frame_pdq, "still frame at 5 s of the known video"),
    ]


# --- unrelated pictures and videos ----------------------------------------------------


def random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def smooth_field(size: tuple[int, int],
                 formula: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """`formula(x, y)` over the picture, scaled to 0..1; drawn at 1/4 size, as it is smooth."""
    width, height = size
    ys, xs = np.mgrid[0 : height // 4, 0 : width // 4] / (max(size) // 4)
    values = formula(xs, ys)
    values = (values - values.min()) / (np.ptp(values) or 1)
    small = Image.fromarray((values * 255).astype(np.uint8))
    return np.asarray(small.resize(size, Image.BILINEAR)) / 255


def gradient(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    angle = rng.uniform(0, 2 * np.pi)
    ramp = smooth_field(size, lambda x, y: np.cos(angle) * x + np.sin(angle) * y)[..., None]
    a, b = np.array(random_color(rng)), np.array(random_color(rng))
    return Image.fromarray((a + (b - a) * ramp).astype(np.uint8))


def shapes_scene(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    image = gradient(size, rng)
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(rng.integers(16, 32)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(width // 20, width // 4))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=random_color(rng))
        elif shape == 1:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=random_color(rng))
        else:
            points = [(int(x + r * np.cos(a)), int(y + r * np.sin(a)))
                      for a in np.sort(rng.uniform(0, 2 * np.pi, 5))]
            draw.polygon(points, fill=random_color(rng))
    return image


def chart_scene(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size, random_color(rng) if rng.random() < 0.3 else (250, 250, 247))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = width // 10, height // 6, width - width // 20, height - height // 8
    title = f"Weekly report {rng.integers(1, 53)}"
    draw.text((left, height // 20), title, font=font(max(14, width // 30), True), fill=(30, 30, 30))
    draw.line((left, bottom, right, bottom), fill=(40, 40, 40), width=3)
    draw.line((left, top, left, bottom), fill=(40, 40, 40), width=3)
    bars = int(rng.integers(4, 12))
    step = (right - left) / bars
    for i, value in enumerate(rng.uniform(0.1, 1.0, bars)):
        x0 = left + i * step + step * 0.15
        bar = (x0, bottom - value * (bottom - top), x0 + step * 0.7, bottom)
        draw.rectangle(bar, fill=random_color(rng))
    line = bottom - rng.uniform(0.1, 0.9, bars + 1) * (bottom - top)
    draw.line([(left + i * step, y) for i, y in enumerate(line)], fill=(200, 30, 30), width=4)
    return image


def text_scene(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    image = waves_scene(size, rng)
    draw = ImageDraw.Draw(image)
    words = ["MONDAY", "coffee", "sale", "42", "hello", "weekend", "rain", "bus 7402", "open",
             "closed", "map", "notes", "soup", "exam", "train", "blue", "garden", "tickets"]
    width, height = size
    for _ in range(rng.integers(4, 9)):
        text = " ".join(rng.choice(words, int(rng.integers(1, 4))))
        position = (int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 7 // 8)))
        draw.text(position, text, font=font(int(rng.integers(height // 16, height // 6)), True),
                  fill=random_color(rng))
    return image


def waves_scene(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    waves = rng.uniform(-4, 4, (5, 3))
    heights = smooth_field(
        size, lambda x, y: sum(np.sin(2 * np.pi * (a * x + b * y) + c) for a, b, c in waves))
    colormap = matplotlib.colormaps[rng.choice(["viridis", "magma", "terrain", "ocean", "cividis"])]
    return Image.fromarray((colormap(heights)[..., :3] * 255).astype(np.uint8))


SCENES: tuple[Callable[[tuple[int, int], np.random.Generator], Image.Image], ...] = (
    shapes_scene, chart_scene, text_scene, waves_scene,
)
SCENE_SIZES = ((800, 600), (1280, 720), (720, 1280), (960, 960), (1024, 768), (600, 800))


def unrelated_images(rng: random.Random) -> list[Media]:
    media = []
    for index in range(PROCEDURAL_IMAGES):
        generator = np.random.default_rng(rng.getrandbits(32))
        scene = SCENES[index % len(SCENES)](SCENE_SIZES[index % len(SCENE_SIZES)], generator)
        media.append(photo(scene, "unrelated", note=f"{scene_name(index)} scene"))
    for name in UNRELATED_PACKAGE_IMAGES:
        image = package_image(name)
        media.append(photo(image, "unrelated", note=f"skimage {name}"))
        for _ in range(2):
            width, height = image.width * 3 // 5, image.height * 3 // 5
            x, y = rng.randrange(image.width - width), rng.randrange(image.height - height)
            crop = image.crop((x, y, x + width, y + height))
            media.append(photo(crop, "unrelated", note=f"crop of skimage {name}"))
    return media


def scene_name(index: int) -> str:
    return SCENES[index % len(SCENES)].__name__.removesuffix("_scene")


def moving_shapes(size: tuple[int, int], seconds: int, seed: int,
                  round_: bool = False) -> Iterator[Image.Image]:
    """Unrelated footage: coloured balls bouncing over waves (inside a disc if round)."""
    generator = np.random.default_rng(seed)
    background = waves_scene(size, generator)
    balls = [(generator.uniform(0, 1, 2), generator.uniform(-0.3, 0.3, 2), random_color(generator),
              int(generator.integers(size[1] // 12, size[1] // 4))) for _ in range(6)]
    for index in range(seconds * VIDEO_FPS):
        t = index / VIDEO_FPS
        image = background.copy()
        draw = ImageDraw.Draw(image)
        for start, speed, color, radius in balls:
            x, y = (np.abs((start + speed * t) % 2 - 1)) * size
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
        if round_:
            mask = Image.new("L", size, 0)
            ImageDraw.Draw(mask).ellipse((0, 0, *size), fill=255)
            image = Image.composite(image, Image.new("RGB", size, "black"), mask)
        yield image


def unrelated_videos() -> list[Media]:
    footage = encode_video(moving_shapes(VIDEO_SIZE, 6, 101), VIDEO_SIZE, VIDEO_FPS)
    gif = encode_video(moving_shapes((320, 240), 3, 202), (320, 240), VIDEO_FPS)
    round_size = (480, 480)
    circle = encode_video(moving_shapes(round_size, 4, 303, round_=True), round_size, VIDEO_FPS)
    return [
        video_media(footage, "VID_20240826_181204.mp4", "unrelated", (), "bouncing balls",
                    VIDEO_SIZE, 6),
        video_media(gif, "", "unrelated", (), "animation (GIF sent as MP4)", (320, 240), 3,
                    media_type="animation"),
        video_media(circle, "", "unrelated", (), "round video message", round_size, 4,
                    media_type="video_message"),
    ]


# --- the demo subject ------------------------------------------------------------------


def bystander_image() -> Image.Image:
    """Grace Hopper's official portrait, shipped by matplotlib: someone who is not the subject."""
    with matplotlib.cbook.get_sample_data(BYSTANDER) as stream:
        return Image.open(stream).convert("RGB")


def group_picture(portrait: Image.Image, bystander: Image.Image, scene: Image.Image) -> Image.Image:
    """Three pictures side by side, as a messenger's album preview shows them: the subject's
    head and shoulders, the bystander's portrait and a scene, each 320x400 (HOG scans the
    960x400 picture at full size, so both faces stay well above its ~80-px minimum)."""
    panel = (320, 400)
    parts = (portrait.crop(GROUP_SUBJECT_CROP), bystander.crop((16, 0, 496, 600)), scene)
    group = Image.new("RGB", (panel[0] * len(parts), panel[1]), "white")
    for index, part in enumerate(parts):
        group.paste(part.resize(panel, Image.LANCZOS), (index * panel[0], 0))
    return group


def subject_video_frames(portrait: Image.Image) -> Iterator[Image.Image]:
    """Slow pans and zooms over the unaltered portrait: no pixel of her face is changed,
    only which part of the picture fills the frame."""
    shots = [  # (start box, end box) as (x, y, width) in pixels of the 512-px portrait
        ((40, 20, 400), (72, 50, 400)),  # pan right and down, her whole head in view
        ((72, 50, 400), (69, 42, 300)),  # zoom in on her face
    ]
    frames_per_shot = SUBJECT_VIDEO_SECONDS * VIDEO_FPS // len(shots)
    for index in range(SUBJECT_VIDEO_SECONDS * VIDEO_FPS):
        start, end = shots[min(index // frames_per_shot, len(shots) - 1)]
        progress = (index % frames_per_shot) / frames_per_shot
        x, y, w = (a + (b - a) * progress for a, b in zip(start, end))
        box = (x, y, x + w, y + w * VIDEO_SIZE[1] / VIDEO_SIZE[0])
        yield portrait.resize(VIDEO_SIZE, Image.BILINEAR, box=box)


def subject_posts(portrait: Image.Image, rng: random.Random) -> list[Media]:
    """The demo subject's unaltered portrait as messengers and screenshots pass it on,
    and another person's portrait that must not be taken for her."""
    her = (ExpectedMatch(SUBJECT_NAME, "face"),)
    quality = 45  # as messengers recompress photos
    shot, share = screenshot(portrait, "")
    scene = shapes_scene((640, 800), np.random.default_rng(rng.getrandbits(32)))
    bystander = bystander_image()
    video = encode_video(subject_video_frames(portrait), VIDEO_SIZE, VIDEO_FPS)
    posts = [
        photo(resized(portrait, 480), "subject", her, "her portrait resized to 480 px"),
        photo(portrait, "subject", her, f"her portrait recompressed at JPEG quality {quality}", quality),
        photo(portrait.crop(SUBJECT_CROP), "subject", her, "her portrait cropped to her upper body"),
        photo(shot, "subject", her, f"phone screenshot of her portrait ({share:.0%} of it)"),
        photo(portrait.convert("L"), "subject", her, "her portrait in grayscale"),
        photo(group_picture(portrait, bystander, scene), "subject", her,
              "her portrait side by side with Grace Hopper's and a drawn scene"),
        video_media(video, "", "subject", her, "slow pans and zooms over her portrait", VIDEO_SIZE,
                    SUBJECT_VIDEO_SECONDS, thumbnail_matches=her, thumbnail_outcome="subject"),
        photo(bystander, "unrelated", note="Grace Hopper's portrait: a face, but not the subject's"),
    ]
    for post in posts:
        post.quiet = True
    return posts


# --- bad inputs -----------------------------------------------------------------------


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims a huge picture: decoding it blindly would need 30 GB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b""))


def bad_inputs(rng: random.Random) -> list[Media]:
    scene = encode(shapes_scene((800, 600), np.random.default_rng(rng.getrandbits(32))))
    size = {"width": 800, "height": 600}  # what result.json claims; the bytes disagree
    return [
        Media("photos", scene[: len(scene) * 3 // 5], "error", note="truncated JPEG", fields=size),
        Media("photos", rng.randbytes(20_000), "error", note="random bytes named .jpg", fields=size),
        Media("photos", b"", "error", note="zero-byte file", fields=size),
        Media("files", png_bomb_header(), "error", note="PNG header declares 100000x100000 pixels",
              name="wallpaper_hd.png", fields={"mime_type": "image/png"}),
        Media("photos", None, "error", note="photo not included in the export", path=NOT_INCLUDED,
              fields=size),
        Media("video_files", None, "error", note="video too large to be exported", path=TOO_LARGE,
              fields={"media_type": "video_file", "mime_type": "video/mp4", "duration_seconds": 1312,
                      "width": 1920, "height": 1080}),
        Media("photos", None, "error", note="path traversal in result.json", path="../../etc/passwd",
              fields=size),
    ]


# --- the chat -------------------------------------------------------------------------

MEMBERS = (
    ("night_owl", "user5012339876"), ("미니", "user6120045531"), ("J", "user1093348870"),
    ("koala22", "user7730012845"), ("Deleted Account", "user5550100127"), ("서준", "user6001288734"),
)
CHATTER = (
    "ㅋㅋㅋ", "more?", "좋네", "who has the rest", "check pinned", "saved", "?", "new ones tonight",
    "더 있어?", "same as before", "ok", "thx", "링크 죽었어", "anyone online", "wait", "lol",
)
CHANNELS = ("Night Archive", "모음 채널 2", "backup_room")


def build_messages(media: list[Media], export_dir: Path,
                   rng: random.Random) -> tuple[list[dict], list[Expectation]]:
    """Interleave the media with chatter and service messages, write the files, and note
    what a scan should say about each."""
    slots: list[Media | str] = [*media, *["text"] * TEXT_MESSAGES, *["service"] * SERVICE_MESSAGES]
    rng.shuffle(slots)
    messages, expectations = [], []
    date = FIRST_MESSAGE_DATE
    photo_number = video_number = 0
    for message_id, slot in enumerate(slots, start=1):
        date += timedelta(seconds=rng.randint(4, 900))
        sender, sender_id = rng.choice(MEMBERS)
        stamp = date.strftime("%d-%m-%Y_%H-%M-%S")
        base = {"id": message_id, "type": "message", "date": date.isoformat(),
                "date_unixtime": str(int(date.replace(tzinfo=EXPORT_TIMEZONE).timestamp()))}
        if slot == "service":
            messages.append(service_message(base, sender, sender_id, message_id, rng))
            continue
        message = {**base, "from": sender, "from_id": sender_id}
        if slot == "text":
            message.update(text_fields(rng))
            if message_id > 1 and rng.random() < 0.2:
                message["reply_to_message_id"] = rng.randrange(1, message_id)
            messages.append(message)
            continue
        if slot.forwarded_from or rng.random() < 0.15:
            message["forwarded_from"] = slot.forwarded_from or rng.choice(CHANNELS)
        if slot.path:
            path = slot.path
        elif slot.folder == "photos":
            photo_number += 1
            path = f"photos/photo_{photo_number}@{stamp}.jpg"
        elif slot.name:
            path = f"{slot.folder}/{slot.name}"
        else:
            video_number += 1
            kind = "file" if slot.folder == "round_video_messages" else "video"
            path = f"{slot.folder}/{kind}_{video_number}@{stamp}.mp4"
        role = "photo" if slot.folder == "photos" else "file"
        message[role] = path
        if slot.data is not None:
            (export_dir / path).write_bytes(slot.data)
            message["photo_file_size" if role == "photo" else "file_size"] = len(slot.data)
        if role == "file" and slot.name:
            message["file_name"] = slot.name
        if slot.thumbnail is not None:
            message["thumbnail"] = f"{path}_thumb.jpg"
            (export_dir / message["thumbnail"]).write_bytes(slot.thumbnail.data)
            message["thumbnail_file_size"] = len(slot.thumbnail.data)
        message.update(slot.fields)
        chatter = rng.random() < 0.3 and not slot.quiet
        message.update(text_fields(rng) if chatter else {"text": "", "text_entities": []})
        messages.append(message)
        expectations.append(Expectation(message_id, path, role, slot.outcome, slot.matches, slot.note))
        if slot.thumbnail is not None:
            thumb = slot.thumbnail
            expectations.append(Expectation(message_id, message["thumbnail"], "thumbnail",
                                            thumb.outcome, thumb.matches, thumb.note))
    return messages, expectations


def text_fields(rng: random.Random) -> dict:
    """Plain chatter, or chatter with an invite link (text becomes a list of parts)."""
    words = rng.choice(CHATTER)
    if rng.random() < 0.15:
        link = f"https://t.me/+{rng.randbytes(9).hex()}"
        parts = [f"{words} ", {"type": "link", "text": link}]
        entities = [{"type": "plain", "text": f"{words} "}, {"type": "link", "text": link}]
        return {"text": parts, "text_entities": entities}
    return {"text": words, "text_entities": [{"type": "plain", "text": words}]}


def service_message(base: dict, actor: str, actor_id: str, message_id: int, rng: random.Random) -> dict:
    message = {**base, "type": "service", "actor": actor, "actor_id": actor_id}
    action = rng.choice(("join_group_by_link", "invite_members", "pin_message"))
    message["action"] = action
    if action == "join_group_by_link":
        message["inviter"] = "Group"
    elif action == "invite_members":
        message["members"] = [rng.choice(MEMBERS)[0]]
    else:
        message["message_id"] = rng.randrange(1, message_id) if message_id > 1 else 1
    message.update({"text": "", "text_entities": []})
    return message
