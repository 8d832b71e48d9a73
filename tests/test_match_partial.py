"""The second stage: crops, small turns and edited copies of banked files, found by local
features and a RANSAC homography, with no false match on unrelated pictures."""

import matplotlib.cbook
from PIL import Image
from sqlalchemy import select

from conftest import picture, save_jpeg
from jikimi import banks
from jikimi.index.local_features import MIN_INLIERS
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import BankFeatures


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
