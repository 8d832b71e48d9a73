"""Recall of altered copies and false matches of unrelated pictures: plain PDQ vs Jikimi's
query variants (turns, mirrors, the picture inside screenshots and borders), in one run.

Known pictures (the bank, hashed with pdqhash as `jikimi bank add` does): public-domain
photos from scikit-image (astronaut, chelsea, coffee, rocket, hubble_deep_field,
immunohistochemistry, retina, the left motorcycle of stereo_motorcycle, camera, coins),
matplotlib's grace_hopper.jpg, the group photos of ../shared/data/faces/groups and the first
of the 11 photos of each person in ../shared/data/faces/johns.

Posted copies: each known picture altered by each family below (random parameters), saved
as JPEG (quality 75-92) and hashed as a scan hashes it (fast PDQ + variants). The last
column adds what the Matcher looks up when nothing else matched: edited copies
(jikimi/match_edits.py, against the known pictures' spread features and region grids).

Unrelated posts (false matches): the other 10 photos of each person in the johns folders
(same people, same kind of framing: the hardest distractors), the right motorcycle of the
stereo pair (same place, another viewpoint), scikit-image's other pictures, frames of
perception's test videos and the demo's procedural scenes, each posted through the same
random families (so unrelated screenshots and turned copies are queried with variants too).

    .venv/bin/python benchmarks/derived_eval.py [--repeats 3] [--distractors 10000] [--threshold 31]

`--mode sources` measures the other use of the second stage: the known pictures registered as
a subject's source photos (jikimi/subject_sources.py), posts edited from them by ordinary,
non-sexual edits (a region repainted flat, blurred, filled with noise or pasted from another
picture; recolouring; crop + caption; a flat sticker shape), found as "derived" by the scan's
own SourceMatcher, with the error of the reported changed share; and false "derived" matches
of the same unrelated posts.

    nice .venv/bin/python benchmarks/derived_eval.py --mode sources [--repeats 3] [--distractors 10000]
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from skimage import data

from jikimi.demo.sample_export import SCENE_SIZES, SCENES, font
from jikimi.index.local_features import MIN_INLIERS, LocalFeatureIndex
from jikimi.index.pdq import pdq_hex_to_bytes
from jikimi.match_edits import MIN_INLIERS as EDIT_MIN_INLIERS
from jikimi.match_edits import MIN_KEPT, edited_copies
from jikimi.limits import Limits
from jikimi.media.video import sample_frames
from jikimi.signals.local_features import local_features
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD, pdq_from_array
from jikimi.signals.pdq_variants import inner_rect, pdq_with_variants
from jikimi.signals.region_grid import region_grid
from jikimi.signals.spread_features import BANK_PER_CELL, spread_features

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
KNOWN_SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                 "retina", "camera", "coins")
UNRELATED_SKIMAGE = ("brick", "grass", "gravel", "clock", "horse", "page", "text", "colorwheel", "cell", "moon")
POSTED_LONG_SIDE = (720, 1280)

Picture = Image.Image
Family = Callable[[Picture, random.Random], Picture]


def rgb(array: np.ndarray) -> Picture:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3].astype(np.uint8)).convert("RGB")


def known_pictures() -> dict[str, Picture]:
    known = {name: rgb(getattr(data, name)()) for name in KNOWN_SKIMAGE}
    known["motorcycle_left"] = rgb(data.stereo_motorcycle()[0])
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        known["grace_hopper"] = Image.open(f).convert("RGB")
    for path in sorted((SHARED / "faces" / "groups").glob("*.jpg")):
        known[f"groups/{path.stem}"] = Image.open(path).convert("RGB")
    for person in sorted((SHARED / "faces" / "johns").iterdir()):
        first = sorted(person.glob("*.jpg"))[0]
        known[f"johns/{person.name}/{first.stem}"] = Image.open(first).convert("RGB")
    return known


def unrelated_pictures(rng: random.Random) -> list[tuple[str, Picture]]:
    found = []
    for person in sorted((SHARED / "faces" / "johns").iterdir()):
        found += [(f"johns/{person.name}/{p.stem}", Image.open(p).convert("RGB")) for p in sorted(person.glob("*.jpg"))[1:]]
    found.append(("motorcycle_right", rgb(data.stereo_motorcycle()[1])))
    found += [(name, rgb(getattr(data, name)())) for name in UNRELATED_SKIMAGE]
    for video in sorted((SHARED / "videos").glob("*.m4v")) + sorted((SHARED / "videos").glob("*.mov")):
        found += [(f"{video.name}@{t:.0f}s", rgb(frame)) for t, frame in sample_frames(video, Limits())]
    for index in range(400):
        scene = SCENES[index % len(SCENES)](SCENE_SIZES[index % len(SCENE_SIZES)], np.random.default_rng(rng.getrandbits(32)))
        found.append((f"scene{index}", scene))
    return found


# --- families of alterations -------------------------------------------------------------


def posted_size(picture: Picture, rng: random.Random) -> Picture:
    side = rng.randint(*POSTED_LONG_SIDE)
    scale = side / max(picture.size)
    if scale >= 1:
        return picture
    return picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)


def crop(fraction: float) -> Family:
    """Cut `fraction` of the width and of the height, split at random between the sides."""
    def apply(p: Picture, rng: random.Random) -> Picture:
        dx, dy = round(p.width * fraction), round(p.height * fraction)
        left, top = rng.randint(0, dx), rng.randint(0, dy)
        return p.crop((left, top, p.width - (dx - left), p.height - (dy - top)))
    return apply


def rotate(degrees: float) -> Family:
    """Turned by a few degrees either way on the same canvas (black corners)."""
    return lambda p, rng: p.rotate(rng.choice((-1, 1)) * degrees, Image.BICUBIC)


def turn(p: Picture, rng: random.Random) -> Picture:
    return p.transpose(rng.choice((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)))


def mirror(p: Picture, rng: random.Random) -> Picture:
    return p.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def padding(p: Picture, rng: random.Random) -> Picture:
    """Letterboxed or pillarboxed to a square, 9:16 or 16:9 frame, or a plain border."""
    colour = rng.choice(((0, 0, 0), (255, 255, 255), (rng.randrange(256), rng.randrange(256), rng.randrange(256))))
    shape = rng.choice(("square", "tall", "wide", "border"))
    if shape == "border":
        return ImageOps.expand(p, border=round(min(p.size) * rng.uniform(0.03, 0.12)), fill=colour)
    ratio = {"square": 1.0, "tall": 9 / 16, "wide": 16 / 9}[shape]
    width, height = max(p.width, round(p.height * ratio)), max(p.height, round(p.width / ratio))
    canvas = Image.new("RGB", (width, height), colour)
    canvas.paste(p, ((width - p.width) // 2, (height - p.height) // 2))
    return canvas


def caption(p: Picture, rng: random.Random) -> Picture:
    """A meme caption bar above or below (10-25 % of the height), white or black."""
    bar = round(p.height * rng.uniform(0.10, 0.25))
    light = rng.random() < 0.5
    canvas = Image.new("RGB", (p.width, p.height + bar), "white" if light else "black")
    above = rng.random() < 0.6
    canvas.paste(p, (0, bar if above else 0))
    size = max(12, bar // 3)
    ImageDraw.Draw(canvas).text((size, (0 if above else p.height) + bar // 3), rng.choice(CAPTIONS),
                                font=font(size, True), fill="black" if light else "white")
    return canvas


CAPTIONS = ("when she finally replies", "saved this lol", "who is this??", "look what I found", "ㅋㅋㅋ 이거 봐")

THEMES = {
    "light": dict(background=(255, 255, 255), bar=(247, 247, 247), bubble=(233, 236, 240), ink=(20, 20, 20)),
    "dark": dict(background=(14, 22, 33), bar=(23, 33, 43), bubble=(24, 37, 51), ink=(230, 230, 230)),
    "kakao": dict(background=(186, 206, 224), bar=(169, 189, 206), bubble=(255, 255, 255), ink=(20, 20, 20)),
}
SCREENS = ((1080, 2340), (720, 1600), (1170, 2532))


def screenshot(layout: str, theme: str) -> Family:
    """A phone screenshot in which the picture fills 40-90 % of the screen (the screenshot is
    cut at the bottom when the picture could not fill that share of a full screen)."""
    def apply(p: Picture, rng: random.Random) -> Picture:
        colours = THEMES[theme]
        screen_width, screen_height = rng.choice(SCREENS)
        unit = screen_width / 1080
        margin = round((0 if layout == "feed" else rng.randint(24, 90)) * unit)
        shown = p.resize((screen_width - 2 * margin, round(p.height * (screen_width - 2 * margin) / p.width)), Image.LANCZOS)
        share = rng.uniform(0.4, 0.9)
        height = min(screen_height, max(round(shown.width * shown.height / share / screen_width), shown.height + round(260 * unit)))
        if height < shown.height + round(260 * unit):  # a tall picture: shown smaller on a full screen
            scale = (screen_height - 260 * unit) / shown.height
            shown = shown.resize((round(shown.width * scale), round(shown.height * scale)), Image.LANCZOS)
            height = screen_height
        background = (0, 0, 0) if layout == "viewer" else colours["background"]
        shot = Image.new("RGB", (screen_width, height), background)
        draw = ImageDraw.Draw(shot)
        text = font(round(34 * unit))
        bar = colours["bar"] if layout != "viewer" else (0, 0, 0)
        draw.rectangle((0, 0, screen_width, round(70 * unit)), fill=bar)
        draw.text((round(40 * unit), round(14 * unit)), f"{rng.randint(0, 23)}:{rng.randint(0, 59):02}", font=text, fill=colours["ink"] if layout != "viewer" else "white")
        draw.text((screen_width - round(150 * unit), round(14 * unit)), f"{rng.randint(5, 99)}%", font=text, fill=colours["ink"] if layout != "viewer" else "white")
        draw.rectangle((0, round(70 * unit), screen_width, round(190 * unit)), fill=bar)
        draw.text((round(150 * unit), round(110 * unit)), rng.choice(("Night Archive", "우리반 단톡", "saved pics")), font=text, fill=colours["ink"] if layout != "viewer" else "white")
        free = height - shown.height - round(190 * unit)
        y = round(190 * unit) + rng.randint(0, max(0, free - round(70 * unit)))
        x = (screen_width - shown.width) // 2
        if layout == "chat":
            pad = round(rng.randint(8, 16) * unit)
            draw.rounded_rectangle((x - pad, y - pad, x + shown.width + pad, y + shown.height + pad + round(50 * unit)),
                                   radius=round(30 * unit), fill=colours["bubble"])
            draw.text((x, y + shown.height + round(8 * unit)), rng.choice(CAPTIONS), font=text, fill=colours["ink"])
            for top in range(round(200 * unit), y - pad - round(90 * unit), round(110 * unit)):
                width = rng.randint(screen_width // 3, screen_width * 3 // 4)
                left = round(30 * unit) if rng.random() < 0.5 else screen_width - width - round(30 * unit)
                draw.rounded_rectangle((left, top, left + width, top + round(80 * unit)), radius=round(30 * unit), fill=colours["bubble"])
                draw.text((left + round(24 * unit), top + round(20 * unit)), rng.choice(CAPTIONS), font=text, fill=colours["ink"])
        elif layout == "feed":
            draw.ellipse((round(30 * unit), y - round(100 * unit), round(100 * unit), y - round(30 * unit)), fill=(200, 120, 90))
            draw.text((round(120 * unit), y - round(85 * unit)), "someone_2009", font=text, fill=colours["ink"])
            for i in range(3):
                cx = round((60 + 90 * i) * unit)
                draw.ellipse((cx - 22, y + shown.height + 30, cx + 22, y + shown.height + 74), outline=colours["ink"], width=4)
            draw.text((round(30 * unit), y + shown.height + round(100 * unit)), rng.choice(CAPTIONS), font=text, fill=colours["ink"])
        shot.paste(shown, (x, y))
        if layout != "viewer":
            draw.rectangle((0, height - round(70 * unit), screen_width, height), fill=bar)
        return shot
    return apply


def replaced(fraction: float) -> Family:
    """A rectangle of `fraction` of the picture repainted flat, blurred, filled with noise or
    pasted from another picture (a procedural scene): non-sexual stand-ins for an edited region."""
    def apply(p: Picture, rng: random.Random) -> Picture:
        aspect = rng.uniform(0.6, 1.6)
        w = min(p.width, round((fraction * p.width * p.height * aspect) ** 0.5))
        h = min(p.height, round(fraction * p.width * p.height / w))
        x, y = rng.randint(0, p.width - w), rng.randint(0, p.height - h)
        region = p.crop((x, y, x + w, y + h))
        mode = rng.choice(("flat", "blur", "noise", "paste"))
        if mode == "flat":
            patch = Image.new("RGB", (w, h), tuple(int(c) for c in np.asarray(region).reshape(-1, 3).mean(axis=0)))
        elif mode == "blur":
            patch = region.filter(ImageFilter.GaussianBlur(max(4, min(w, h) // 8)))
        elif mode == "noise":
            patch = Image.fromarray(np.random.default_rng(rng.getrandbits(32)).integers(0, 256, (h, w, 3), dtype=np.uint8))
        else:
            patch = SCENES[0]((w, h), np.random.default_rng(rng.getrandbits(32)))  # another picture
        edited = p.copy()
        edited.paste(patch, (x, y))
        return edited
    return apply


def then(*families: Family) -> Family:
    def apply(p: Picture, rng: random.Random) -> Picture:
        for family in families:
            p = family(p, rng)
        return p
    return apply


FAMILIES: dict[str, Family] = {
    "re-encoded": lambda p, rng: p,
    "crop 2 %": crop(0.02), "crop 5 %": crop(0.05), "crop 10 %": crop(0.10), "crop 20 %": crop(0.20),
    "rotation 2°": rotate(2), "rotation 5°": rotate(5), "rotation 10°": rotate(10),
    "mirror": mirror, "90° turns": turn,
    "padding": padding, "caption bar": caption,
    **{f"screenshot {layout} {theme}": screenshot(layout, theme)
       for layout, theme in (("chat", "light"), ("chat", "dark"), ("chat", "kakao"), ("feed", "light"),
                             ("feed", "dark"), ("viewer", "dark"))},
    "replaced 20 %": replaced(0.2), "replaced 40 %": replaced(0.4), "replaced 60 %": replaced(0.6),
    "screenshot + mirror": then(mirror, screenshot("chat", "dark")),
    "caption + turn": then(caption, turn),
    "padding + crop 2 %": then(crop(0.02), padding),
    "screenshot of a 5 % crop": then(crop(0.05), screenshot("chat", "light")),
}


# --- hashing and matching ------------------------------------------------------------------


def post(picture: Picture, rng: random.Random) -> np.ndarray:
    """As posted: re-encoded as JPEG and decoded again."""
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=rng.randint(75, 92))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def distances(hashes: list[str], bank: np.ndarray) -> np.ndarray:
    """(len(hashes), len(bank)) Hamming distances."""
    codes = pdq_hex_to_bytes(hashes)
    return np.bitwise_count(codes[:, None, :] ^ bank[None, :, :]).sum(axis=-1)


# Inliers are measured from this low count up, to show where unrelated pictures end.
MEASURED_INLIERS = 8


def query(pixels: np.ndarray, bank: np.ndarray, partial: LocalFeatureIndex, edits: LocalFeatureIndex, regions: dict,
          threshold: int) -> dict:
    """Distances to every known picture: the plain hash alone, and the best over all variants;
    the second stage's inliers per known picture; and, as the Matcher does when nothing else
    matched, the unchanged part kept of each known picture it finds edited copies of."""
    pdq, variants = pdq_with_variants(pixels)
    inliers = np.zeros(len(bank), int)
    for match in partial.search(local_features(pixels, inner_rect(variants)), MEASURED_INLIERS):
        inliers[match.key] = match.inliers
    result = _distances(pixels, pdq, variants, bank)
    result["inliers"], result["kept"] = inliers, np.zeros(len(bank))
    if not found(result, threshold)[2].any():
        for match, change in edited_copies(edits, regions.get, pixels, min_kept=0):
            result["kept"][match.key] = max(result["kept"][match.key], change.kept_fraction)
    return result


def _distances(pixels: np.ndarray, pdq, variants: list[dict], bank: np.ndarray) -> dict:
    usable_plain = pdq.quality >= PDQ_QUALITY_THRESHOLD
    plain = distances([pdq.hex], bank)[0] if usable_plain else np.full(len(bank), 256)
    names = (["plain"] if usable_plain else []) + [v["variant"] for v in variants]
    hashes = ([pdq.hex] if usable_plain else []) + [v["pdq"] for v in variants]
    if not hashes:
        return {"plain": plain, "best": plain, "via": ["-"] * len(bank)}
    all_d = distances(hashes, bank)
    best_row = all_d.argmin(axis=0)
    return {"plain": plain, "best": all_d.min(axis=0), "via": [names[i] for i in best_row]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3, help="altered copies per known picture and family")
    parser.add_argument("--distractors", type=int, default=10000)
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--mode", choices=("copies", "sources"), default="copies")
    args = parser.parse_args()
    if args.mode == "sources":
        sources_main(args)
        return
    rng = random.Random(20261130)
    started = time.perf_counter()
    known = known_pictures()
    names = list(known)
    bank = pdq_hex_to_bytes([pdq_from_array(np.asarray(p)).hex for p in known.values()])
    partial, edits, regions = LocalFeatureIndex(), LocalFeatureIndex(), {}
    for key, picture in enumerate(known.values()):  # as banks store them (signals/content.py, for_bank)
        partial.add(key, local_features(np.asarray(picture)))
        edits.add(key, spread_features(np.asarray(picture), BANK_PER_CELL))
        regions[key] = (region_grid(np.asarray(picture)), picture.size)
    print(f"{len(known)} known pictures; PDQ threshold {args.threshold}, second stage {MIN_INLIERS} inliers, "
          f"edited copies {EDIT_MIN_INLIERS} inliers and {MIN_KEPT:.0%} kept")

    methods = ("plain PDQ", "PDQ + variants", "+ second stage", "+ edited copies")
    recall: dict[str, list[tuple[bool, ...]]] = defaultdict(list)
    wrong_known = dict.fromkeys(methods, 0)
    true_inliers: dict[str, list[int]] = defaultdict(list)
    via_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for family_name, family in FAMILIES.items():
        for index, (name, picture) in enumerate(known.items()):
            for _ in range(args.repeats):
                result = query(post(family(posted_size(picture, rng), rng), rng), bank, partial, edits, regions, args.threshold)
                hits = found(result, args.threshold)
                recall[family_name].append(tuple(h[index] for h in hits))
                true_inliers[family_name].append(int(result["inliers"][index]))
                if hits[1][index]:
                    via_counts[family_name][result["via"][index]] += 1
                elif hits[2][index]:
                    via_counts[family_name]["second stage"] += 1
                elif hits[3][index]:
                    via_counts[family_name]["edited copy"] += 1
                others = np.arange(len(names)) != index
                for method, h in zip(methods, hits):
                    wrong_known[method] += int(h[others].any())

    unrelated = unrelated_pictures(rng)
    family_names = list(FAMILIES)
    false: dict[str, list[str]] = {method: [] for method in methods}
    closest = {"plain": 256, "best": 256}
    most_inliers, most_kept = 0, 0.0
    for _ in range(args.distractors):
        source, picture = rng.choice(unrelated)
        family_name = rng.choice(family_names)
        result = query(post(FAMILIES[family_name](posted_size(picture, rng), rng), rng), bank, partial, edits, regions, args.threshold)
        closest = {key: min(closest[key], int(result[key].min())) for key in closest}
        most_inliers = max(most_inliers, int(result["inliers"].max()))
        most_kept = max(most_kept, float(result["kept"].max()))
        for method, h in zip(methods, found(result, args.threshold)):
            for known_index in np.flatnonzero(h):
                false[method].append(f"{source} ({family_name}) ~ {names[known_index]}: distance "
                                     f"{result['best'][known_index]} via {result['via'][known_index]}, "
                                     f"{result['inliers'][known_index]} inliers")

    print("\n| family | copies | plain PDQ | PDQ + variants | + second stage | + edited copies | found via | median inliers |")
    print("|---|---|---|---|---|---|---|---|")
    for family_name, hits in recall.items():
        rates = " | ".join(f"{sum(h[m] for h in hits) / len(hits):.2f}" for m in range(len(methods)))
        via = ", ".join(f"{k} {v}" for k, v in sorted(via_counts[family_name].items(), key=lambda kv: -kv[1]))
        print(f"| {family_name} | {len(hits)} | {rates} | {via} | {int(np.median(true_inliers[family_name]))} |")
    print("\naltered copies also matching another known picture: "
          + ", ".join(f"{method} {count}" for method, count in wrong_known.items()))
    print(f"{args.distractors} unrelated posts ({len(unrelated)} source pictures incl. "
          f"{sum(s.startswith('johns') for s, _ in unrelated)} other photos of the known people): false matches "
          + ", ".join(f"{method} {len(lines)}" for method, lines in false.items()))
    print(f"closest unrelated PDQ distance: plain {closest['plain']}, with variants {closest['best']}; "
          f"most second-stage inliers of an unrelated post: {most_inliers}; largest unchanged part of a known "
          f"picture in an unrelated post with {EDIT_MIN_INLIERS}+ spread inliers: {most_kept:.0%}")
    for line in false[methods[-1]][:20]:
        print("  false:", line)
    print(f"({time.perf_counter() - started:.0f} s)")


def found(result: dict, threshold: int) -> tuple[np.ndarray, ...]:
    """Per known picture, whether each method reports it."""
    plain = result["plain"] <= threshold
    variants = result["best"] <= threshold
    second = variants | (result["inliers"] >= MIN_INLIERS)
    return (plain, variants, second) + ((second | (result["kept"] >= MIN_KEPT),) if "kept" in result else ())


# --- edited derivatives of a subject's source photos (--mode sources) ----------------------

EditFamily = Callable[[Picture, random.Random], tuple[Picture, float | None]]  # the edit and its true changed share


def region_edit(mode: str, fraction: float) -> EditFamily:
    """A rectangle of `fraction` of the picture changed by `mode` (see `replaced`)."""
    def apply(p: Picture, rng: random.Random) -> tuple[Picture, float]:
        aspect = rng.uniform(0.6, 1.6)
        w = min(p.width, round((fraction * p.width * p.height * aspect) ** 0.5))
        h = min(p.height, round(fraction * p.width * p.height / w))
        x, y = rng.randint(0, p.width - w), rng.randint(0, p.height - h)
        region = p.crop((x, y, x + w, y + h))
        if mode == "flat":
            patch = Image.new("RGB", (w, h), tuple(int(c) for c in np.asarray(region).reshape(-1, 3).mean(axis=0)))
        elif mode == "blurred":
            patch = region.filter(ImageFilter.GaussianBlur(max(4, min(w, h) // 8)))
        elif mode == "noise":
            patch = Image.fromarray(np.random.default_rng(rng.getrandbits(32)).integers(0, 256, (h, w, 3), dtype=np.uint8))
        else:
            patch = SCENES[rng.randrange(len(SCENES))]((w, h), np.random.default_rng(rng.getrandbits(32)))
        edited = p.copy()
        edited.paste(patch, (x, y))
        return edited, w * h / (p.width * p.height)
    return apply


def recolour(p: Picture, rng: random.Random) -> tuple[Picture, None]:
    """Channels swapped, or hue turned, or sepia: the picture's structure unchanged."""
    array = np.asarray(p)
    how = rng.choice(("swap", "hue", "sepia"))
    if how == "swap":
        return Image.fromarray(array[..., list(rng.sample((0, 1, 2), 3))].copy()), None
    if how == "hue":
        h, s, v = p.convert("HSV").split()
        h = h.point(lambda value: (value + rng.randint(40, 200)) % 256)
        return Image.merge("HSV", (h, s, v)).convert("RGB"), None
    grey = np.asarray(p.convert("L"), np.float32)[..., None]
    return Image.fromarray(np.clip(grey * np.array([1.07, 0.74, 0.43]) + 20, 0, 255).astype(np.uint8)), None


def sticker(p: Picture, rng: random.Random) -> tuple[Picture, float]:
    """A flat disc or rounded square (an emoji-like shape, 5-15 % of the picture) stuck on."""
    share = rng.uniform(0.05, 0.15)
    side = round((share * p.width * p.height) ** 0.5)
    x, y = rng.randint(0, max(0, p.width - side)), rng.randint(0, max(0, p.height - side))
    edited = p.copy()
    draw = ImageDraw.Draw(edited)
    colour = rng.choice(((250, 210, 40), (240, 90, 120), (90, 170, 250)))
    if rng.random() < 0.5:
        draw.ellipse((x, y, x + side, y + side), fill=colour)
    else:
        draw.rounded_rectangle((x, y, x + side, y + side), radius=side // 4, fill=colour)
    return edited, share


def unchanged(family: Family) -> EditFamily:
    return lambda p, rng: (family(p, rng), None)


SOURCE_EDITS: dict[str, EditFamily] = {
    "re-encoded (unedited)": unchanged(lambda p, rng: p),
    **{f"{mode} {round(100 * f)} %": region_edit(mode, f) for mode in ("flat", "blurred", "noise", "pasted")
       for f in (0.2, 0.4, 0.6)},
    "recoloured": recolour,
    "crop 5 % + caption": unchanged(then(crop(0.05), caption)),
    "sticker 5-15 %": sticker,
    "flat 30 % + caption": lambda p, rng: (lambda edited: (caption(edited[0], rng), None))(region_edit("flat", 0.3)(p, rng)),
}


def sources_main(args) -> None:
    from jikimi.match_sources import MIN_INLIERS as SOURCE_MIN_INLIERS
    from jikimi.match_sources import MIN_KEPT, SourceMatcher
    from jikimi.signals.region_grid import region_grid
    from jikimi.signals.spread_features import SOURCE_PER_CELL, spread_features
    from jikimi.subject_sources import MIN_SOURCE_POINTS, Source

    rng = random.Random(20261130)
    started = time.perf_counter()
    known = known_pictures()
    registered = []
    for key, (name, picture) in enumerate(known.items()):
        pixels = np.asarray(picture)
        features = spread_features(pixels, SOURCE_PER_CELL)
        if len(features.descriptors) >= MIN_SOURCE_POINTS:  # as `subject sources add` refuses plainer photos
            registered.append(Source(key, key, name, 1, name, features, region_grid(pixels), picture.width, picture.height))
    matcher = SourceMatcher(registered)
    by_name = {s.label: s for s in registered}
    print(f"{len(registered)} source photos registered of {len(known)} known pictures "
          f"(the others have fewer than {MIN_SOURCE_POINTS} points); {SOURCE_MIN_INLIERS} inliers, "
          f"{MIN_KEPT} of the photo kept in one piece")

    def derived(picture: Picture) -> tuple[list, float]:
        pixels = post(picture, rng)
        begun = time.perf_counter()
        found = matcher.match(local_features(pixels).to_bytes(), lambda: pixels)
        return found, time.perf_counter() - begun

    rows, wrong_source, timings = [], 0, []
    for family_name, family in SOURCE_EDITS.items():
        hits, errors, shares = 0, [], []
        total = 0
        for name, source in by_name.items():
            for _ in range(args.repeats):
                edited, true_share = family(posted_size(known[name], rng), rng)
                found, seconds = derived(edited)
                timings.append(seconds)
                total += 1
                mine = [f for f in found if f.subject_id == source.subject_id]
                wrong_source += len(found) - len(mine)
                if mine:
                    hits += 1
                    share = mine[0].detail["changed_fraction"]
                    shares.append(share)
                    if true_share is not None:
                        errors.append(abs(share - true_share))
        if not total:
            continue
        error = f"{np.median(errors):.2f}" if errors else "-"
        rows.append(f"| {family_name} | {total} | {hits / total:.2f} | {np.median(shares) if shares else 0:.2f} | {error} |")

    unrelated = unrelated_pictures(rng)
    family_names = list(FAMILIES)
    false, closest = [], []
    for _ in range(args.distractors):
        source, picture = rng.choice(unrelated)
        family_name = rng.choice(family_names)
        pixels = post(FAMILIES[family_name](posted_size(picture, rng), rng), rng)
        begun = time.perf_counter()
        fits = matcher.candidates(pixels, MEASURED_INLIERS)
        timings.append(time.perf_counter() - begun)
        for registered_source, match, change in fits:
            line = (match.inliers, change.kept_fraction, f"{source} ({family_name}) ~ {registered_source.label}")
            closest.append(line)
            if match.inliers >= SOURCE_MIN_INLIERS and change.kept_fraction >= MIN_KEPT:
                false.append(line)

    print("\n| edit | posts | found as derived | median changed share | median error of the changed share |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nedited posts matched to another source photo: {wrong_source}")
    print(f"{args.distractors} unrelated posts ({len(unrelated)} source pictures incl. "
          f"{sum(s.startswith('johns') for s, _ in unrelated)} other photos of the known people): "
          f"false derived matches {len(false)}")
    for line in false[:20]:
        print("  false:", line)
    print(f"unrelated posts a plane fitted {MEASURED_INLIERS}+ pairs of: {len(closest)}; most inliers "
          f"{max((c[0] for c in closest), default=0)}, largest kept part {max((c[1] for c in closest), default=0)}")
    for line in sorted(closest, reverse=True)[:5] + sorted(closest, key=lambda c: -c[1])[:5]:
        print("  closest:", line)
    print(f"matching per post (features given): p50 {1000 * np.median(timings):.1f} ms, "
          f"p99 {1000 * np.percentile(timings, 99):.1f} ms; ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
