"""Seeded hostile inputs for scans: file names, result.json values and media headers.

Shared by tests/test_fuzz.py (a bounded run in every test run) and benchmarks/fuzz_scan.py
(thousands of inputs). Each case is one source, a folder or a Telegram export, together with
the number of entries it must yield: a scan that stores fewer has lost items. The same seed
always gives the same bytes, so a failure can be replayed.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data

# Characters that broke names and values before: line breaks, bidi overrides, spreadsheet
# formula leads, Rich markup, path parts, quotes, format strings, and plain Korean text.
HOSTILE_TEXT = ["\n", "\r", "\t", "\u202e", "\u2028", "\x00", "\x7f", "=", "+", "-", "@", "[/]", "[link=x]",
                "..", "/", "\\", " ", "'", '"', "%s", "{0}", "()", "(", ")", "지킴이", "😀", "\ud800", "\udcff"]
MAX_NAME_BYTES = 255  # the longest name Linux file systems hold
HUGE_INT = "__HUGE_INT__"  # replaced by 5,000 digits in the JSON text (Python cannot dump it)


@dataclass
class FuzzCase:
    source: Path
    expected_entries: int  # entries the source must yield: each one an item or an error
    inputs: int  # hostile inputs in it: names, values and media files


def seed_media() -> dict[str, bytes]:
    """One small valid file per format, to be mutated."""
    picture = Image.fromarray(data.astronaut()).resize((64, 48))
    media = {}
    for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"), ("GIF", ".gif"), ("WEBP", ".webp"), ("BMP", ".bmp"),
                        ("TIFF", ".tif")):
        buffer = io.BytesIO()
        picture.save(buffer, fmt)
        media[suffix] = buffer.getvalue()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = np.roll(np.asarray(picture), i * 3, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    media[".mp4"] = buffer.getvalue()
    return media


def mutate(rng: random.Random, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """A suffix and bytes: a valid file, bit flips, a cut, lying dimensions, or noise behind a magic."""
    suffix, original = rng.choice(sorted(seeds.items()))
    way = rng.randrange(6)
    body = bytearray(original)
    if way == 0:
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(min(len(body), 1024))
            body[position] ^= 1 << rng.randrange(8)
    elif way == 1:
        body = body[: rng.randrange(len(body))]
    elif way == 2:
        body = bytearray(_lying_dimensions(rng, bytes(body), suffix))
    elif way == 3:
        body = body[:16] + bytearray(rng.randbytes(rng.randint(0, 4096)))
    elif way == 4:
        other = seeds[rng.choice(sorted(seeds))]
        body = body[: rng.randint(4, 64)] + bytearray(other[rng.randint(0, 64):])
    return suffix, bytes(body)


def _lying_dimensions(rng: random.Random, body: bytes, suffix: str) -> bytes:
    """A header declaring another size: 1 x 65,500 strips, 65,500 squares, zero."""
    width, height = rng.choice([(1, 65500), (65500, 1), (65500, 65500), (0, 0), (30000, 2000),
                                (rng.randint(0, 65535), rng.randint(0, 65535))])
    if suffix == ".jpg" and (sof := body.find(b"\xff\xc0")) > 0:
        return body[: sof + 5] + struct.pack(">HH", height, width) + body[sof + 9:]
    if suffix == ".png":
        ihdr = body[12:16] + struct.pack(">II", width, height) + body[24:29]
        return body[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + body[33:]
    if suffix == ".gif":
        return body[:6] + struct.pack("<HH", width, height) + body[10:]
    return body


def hostile_text(rng: random.Random, length: int = 12) -> str:
    return "".join(rng.choice(HOSTILE_TEXT) if rng.random() < 0.5 else chr(rng.randint(32, 0x2FFF))
                   for _ in range(rng.randint(0, length)))


def hostile_name(rng: random.Random, index: int, suffix: str) -> bytes:
    """A file name: raw bytes that are not UTF-8, hostile text, or the longest allowed."""
    tail = f"-{index}{suffix}".encode()
    way = rng.randrange(3)
    if way == 0:
        stem = bytes(rng.choice([b for b in range(1, 256) if b != ord("/")]) for _ in range(rng.randint(1, 40)))
    elif way == 1:
        stem = hostile_text(rng).replace("/", "_").replace("\x00", "_").encode("utf-8", "surrogatepass")
    else:
        stem = b"x" * (MAX_NAME_BYTES - len(tail))
    return stem[: MAX_NAME_BYTES - len(tail)] + tail


def _write(folder: Path, name: bytes, content: bytes) -> bytes:
    path = os.path.join(os.fsencode(folder), name)
    with open(path, "wb") as f:
        f.write(content)
    return name


def fuzz_folder(root: Path, rng: random.Random, seeds: dict[str, bytes], count: int) -> FuzzCase:
    """A folder of `count` hostile files, pipes, links and archives."""
    root.mkdir(parents=True)
    expected = 0
    for index in range(count):
        kind = rng.random()
        suffix, content = mutate(rng, seeds)
        name = hostile_name(rng, index, suffix)
        if kind < 0.04:
            os.mkfifo(os.path.join(os.fsencode(root), name))
        elif kind < 0.08:
            os.symlink(rng.choice([b"/etc/hostname", b"missing", b"../outside"]), os.path.join(os.fsencode(root), name))
        elif kind < 0.1:
            members = [(f"in-{n}{suffix}", mutate(rng, seeds)[1]) for n in range(2)]
            _write(root, name[:-len(suffix)] + b".zip", _zip(members))
            expected += len(members)
        else:
            _write(root, name, content)
        expected += 1
    return FuzzCase(root, expected, count)


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def hostile_value(rng: random.Random, files: list[str]) -> object:
    """Any JSON value an export should not contain, or sometimes a real file's path."""
    return rng.choice([
        lambda: rng.choice(files) if files else "",
        lambda: hostile_text(rng, 40),
        lambda: "x" * rng.randint(256, 5000),
        lambda: HUGE_INT,
        lambda: str(rng.choice([-1, 0, 2**63, 10**20, -(2**70)])),
        lambda: rng.choice([-1, 0, 2**63, 10**20, 1.5e300, -0.0, True, False, None]),
        lambda: [hostile_text(rng), rng.randint(-5, 5)],
        lambda: {"text": hostile_text(rng), "type": "bold"},
        lambda: "(" + hostile_text(rng) + ")",
        lambda: rng.choice(["../../etc/passwd", "/etc/passwd", "files/../../x", "files/a\x00b.jpg", ""]),
    ])()


def fuzz_export(root: Path, rng: random.Random, seeds: dict[str, bytes], count: int) -> FuzzCase:
    """A Telegram export of `count` messages whose fields hold hostile values and files."""
    files_dir = root / "files"
    files_dir.mkdir(parents=True)
    files = []
    for index in range(max(1, count // 3)):
        suffix, content = mutate(rng, seeds)
        files.append("files/" + os.fsdecode(_write(files_dir, hostile_name(rng, index, suffix), content)))
    messages, expected = [], 0
    for index in range(count):
        message = {"id": hostile_value(rng, files) if rng.random() < 0.2 else index,
                   "type": "message" if rng.random() < 0.9 else hostile_value(rng, files)}
        for key in ("date_unixtime", "from", "from_id", "text", "forwarded_from", "media_type", "mime_type"):
            if rng.random() < 0.5:
                message[key] = hostile_value(rng, files)
        for key in ("photo", "file"):
            if rng.random() < 0.6:
                message[key] = hostile_value(rng, files)
        if "photo" not in message and "file" not in message and rng.random() < 0.3:
            message["thumbnail"] = hostile_value(rng, files)
        if message["type"] == "message":
            expected += sum(message.get(key) not in (None, "") for key in ("photo", "file"))
            thumbnail = message.get("thumbnail")
            expected += isinstance(thumbnail, str) and thumbnail != "" and not (
                thumbnail.startswith("(") and thumbnail.endswith(")"))
        messages.append(message)
    chat = {"name": hostile_value(rng, files), "type": rng.choice(["private_supergroup", "public_channel",
                                                                  hostile_text(rng)]),
            "id": hostile_value(rng, files), "messages": messages}
    text = json.dumps(chat).replace(f'"{HUGE_INT}"', "7" * 5000)
    (root / "result.json").write_text(text)
    return FuzzCase(root, expected, count + len(files))


def fuzz_zip(root: Path, rng: random.Random, seeds: dict[str, bytes], count: int) -> FuzzCase:
    """A ZIP of `count` members with hostile names (`../`, absolute, backslashes, line breaks)
    and mutated media, some of them ZIPs themselves."""
    root.mkdir(parents=True)
    members, expected = [], 0
    for index in range(count):
        suffix, content = mutate(rng, seeds)
        name = rng.choice(["", "../", "/", "a\\..\\", "C:", "dir/"]) + hostile_text(rng).replace("\x00", "_")
        name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace") + f"-{index}{suffix}"
        if rng.random() < 0.05:
            inner = [(f"in-{n}{suffix}", mutate(rng, seeds)[1]) for n in range(2)]
            members.append((f"nested-{index}.zip", _zip(inner)))  # a safe name, so it is opened
            expected += len(inner)
        else:
            members.append((name, content))
        expected += 1
    path = root / "source.zip"
    path.write_bytes(_zip(members))
    return FuzzCase(path, expected, count)
