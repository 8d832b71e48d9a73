"""The second stage: crops, small turns and edited copies of banked files, found by local
features and a RANSAC homography, with no false match on unrelated pictures."""

import matplotlib.cbook
import numpy as np
from PIL import Image, ImageDraw
from sqlalchemy import select

from conftest import picture, save_jpeg
from jikimi import banks
from jikimi.cases import create_case
from jikimi.review import record_decision
from jikimi.index.local_features import MIN_INLIERS
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import BankFeatures, Item


def test_crops_turns_and_edited_copies_are_found_as_partial_matches(ws, tmp_path):
    known = picture("astronaut").resize((1024, 1024))
    save_jpeg(known, tmp_path / "known" / "astronaut.jpg")
    with ws.session() as s:
        banks.add_files(s, banks.create_bank(s, "known"), banks.files_under([tmp_path / "known"]))
        stored = s.scalars(select(BankFeatures)).all()
        assert len(stored) == 1 and len(stored[0].features) < 25_000  # features, not the picture
    src = tmp_path / "source"
    save_jpeg(known.crop((120, 60, 1000, 980)), src / "cropped.jpg")
    save_jpeg(known.rotate(5, Image.BICUBIC), src / "turned.jpg")
    edited = known.copy()
    edited.paste((128, 128, 128), (0, 400, 1024, 800))  # 40 % repainted flat
    save_jpeg(edited, src / "edited.jpg")
    save_jpeg(picture("coffee"), src / "coffee.jpg")
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        save_jpeg(Image.open(f).convert("RGB"), src / "portrait.jpg")
    scan_id = start_scan(ws, src, ScanOptions(jobs=1, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    matches = {item["locators"][0]["path"]: item["matches"] for item in report["items"]}
    assert matches["coffee.jpg"] == [] and matches["portrait.jpg"] == []
    for path in ("cropped.jpg", "turned.jpg", "edited.jpg"):
        [match] = matches[path]
        assert match["kind"] == "partial" and match["target"] == "astronaut.jpg"
        assert match["inliers"] >= MIN_INLIERS and len(match["transform"]) == 3
    box = matches["cropped.jpg"][0]["box"]  # the known picture reaches past the crop on every side
    assert box["x"] == 0 and box["y"] == 0 and box["width"] >= 875 and box["height"] >= 915


def chat_screenshot(shown: Image.Image) -> Image.Image:
    """A KakaoTalk-like chat screenshot (720 x 1600): bars, text bubbles, the picture in a bubble."""
    shot = Image.new("RGB", (720, 1600), (186, 206, 224))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 720, 130), fill=(169, 189, 206))
    draw.text((30, 20), "21:07", fill="black")
    draw.text((100, 80), "saved pics", fill="black")
    for top in range(150, 500, 80):
        draw.rounded_rectangle((20, top, 460, top + 56), radius=20, fill="white")
        draw.text((36, top + 20), "look what I found", fill="black")
    shown = shown.resize((640, round(shown.height * 640 / shown.width)))
    draw.rounded_rectangle((30, 540, 690, 560 + shown.height + 40), radius=20, fill="white")
    shot.paste(shown, (40, 550))
    draw.rectangle((0, 1540, 720, 1600), fill=(169, 189, 206))
    return shot


def test_copies_of_smooth_pictures_and_pictures_in_screenshots_are_found(ws, tmp_path):
    """The misses of benchmarks/derived_eval.py before FAST_THRESHOLD and the inner picture's
    own features: a smooth picture (a retina scan: 87 keypoints) cropped or turned, and a
    picture shown small in a chat screenshot (20-75 inliers)."""
    retina = picture("retina").resize((800, 800))
    chelsea = picture("chelsea")
    save_jpeg(retina, tmp_path / "known" / "retina.jpg")
    save_jpeg(chelsea, tmp_path / "known" / "chelsea.jpg")
    with ws.session() as s:
        banks.add_files(s, banks.create_bank(s, "known"), banks.files_under([tmp_path / "known"]))
    src = tmp_path / "source"
    save_jpeg(retina.crop((40, 40, 760, 760)), src / "retina_cropped.jpg", quality=80)
    save_jpeg(retina.rotate(5, Image.BICUBIC), src / "retina_turned.jpg", quality=80)
    save_jpeg(chat_screenshot(chelsea.crop((20, 15, 431, 285))), src / "chelsea_screenshot.jpg", quality=80)
    save_jpeg(chat_screenshot(picture("coffee")), src / "coffee_screenshot.jpg", quality=80)
    scan_id = start_scan(ws, src, ScanOptions(jobs=1, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    matches = {item["locators"][0]["path"]: item["matches"] for item in report["items"]}
    assert matches["coffee_screenshot.jpg"] == []
    for path, target in (("retina_cropped.jpg", "retina.jpg"), ("retina_turned.jpg", "retina.jpg"),
                         ("chelsea_screenshot.jpg", "chelsea.jpg")):
        [match] = matches[path]
        assert match["kind"] == "partial" and match["target"] == target, (path, match)
        assert match["inliers"] >= MIN_INLIERS


def test_a_confirmed_item_is_banked_with_its_local_features_so_its_crops_match(ws, tmp_path):
    known = picture("astronaut").resize((1024, 1024))
    save_jpeg(known, tmp_path / "first" / "posted.jpg")
    with ws.session() as s:
        case_id = create_case(ws, s, "case 1", "counsellor-park").id
    first = start_scan(ws, tmp_path / "first", ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as s:
        [item_id] = s.scalars(select(Item.id).where(Item.scan_id == first))
        record_decision(s, ws.home, item_id, "confirm", "counsellor-park")
    with ws.session() as s:
        assert len(s.scalars(select(BankFeatures)).all()) == 1
    save_jpeg(known.crop((100, 80, 980, 1000)), tmp_path / "second" / "cropped.jpg")
    second = start_scan(ws, tmp_path / "second", ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as s:
        [item] = scan_report(s, second)["items"]
    [match] = item["matches"]
    assert match["kind"] == "partial" and match["inliers"] >= MIN_INLIERS


def test_copies_with_40_percent_replaced_by_noise_or_another_photo_are_found(ws, tmp_path):
    """match_edits.py: the plain second stage's strongest corners fall into the replaced part
    (noise, a pasted photo); spread features and the region grid find the banked picture and
    say how much of it changed. Another photo edited the same way matches nothing."""
    known = picture("chelsea").resize((900, 600))
    save_jpeg(known, tmp_path / "known" / "chelsea.jpg")
    with ws.session() as s:
        banks.add_files(s, banks.create_bank(s, "known"), banks.files_under([tmp_path / "known"]))
        [stored] = s.scalars(select(BankFeatures)).all()
        assert stored.regions and stored.edit_features  # numbers, not the picture
    noise = Image.fromarray(np.random.default_rng(7).integers(0, 256, (360, 600, 3), dtype=np.uint8))
    pasted = picture("coffee").resize((600, 360))  # another photo: a cup of coffee
    src = tmp_path / "source"
    for name, base, patch in (("noise.jpg", known, noise), ("pasted.jpg", known, pasted),
                              ("other_with_noise.jpg", picture("rocket").resize((600, 900)), noise)):
        edited = base.copy()
        edited.paste(patch, (150, 120))  # 600 x 360 of 900 x 600: 40 %
        save_jpeg(edited, src / name)
    scan_id = start_scan(ws, src, ScanOptions(jobs=1, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    matches = {item["locators"][0]["path"]: item["matches"] for item in report["items"]}
    assert matches["other_with_noise.jpg"] == []
    for path in ("noise.jpg", "pasted.jpg"):
        [match] = matches[path]
        assert match["kind"] == "partial" and match["target"] == "chelsea.jpg", (path, match)
        assert 0.3 <= match["changed_fraction"] <= 0.6 and len(match["transform"]) == 3, (path, match)
