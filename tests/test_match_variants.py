"""Turned, mirrored and screenshotted copies are found through query variants, also when the
bank holds only a hash imported from another organisation (no file to compare)."""

from PIL import Image

from conftest import picture, save_jpeg
from jikimi import banks
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan
from jikimi.signals.pdq import pdq_from_image
from media_helpers import phone_screenshot


def test_variants_find_turned_mirrored_and_screenshotted_copies_of_a_hash_only_entry(ws, tmp_path):
    known = picture("astronaut")
    with ws.session() as s:
        bank = banks.create_bank(s, "imported")
        banks.import_list(s, bank, f"pdq {pdq_from_image(known).hex}\n", "tx")
    src = tmp_path / "source"
    save_jpeg(known.transpose(Image.Transpose.FLIP_LEFT_RIGHT), src / "mirrored.jpg")
    save_jpeg(known.rotate(-90, expand=True), src / "turned.jpg")  # PIL turns counter-clockwise
    save_jpeg(phone_screenshot(known, "dark")[0], src / "screenshot.jpg")
    save_jpeg(phone_screenshot(known.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "light")[0], src / "shot_mirror.jpg")
    save_jpeg(known, src / "copy.jpg")
    save_jpeg(picture("coffee"), src / "unrelated.jpg")
    save_jpeg(phone_screenshot(picture("chelsea"), "light")[0], src / "unrelated_shot.jpg")
    scan_id = start_scan(ws, src, ScanOptions(jobs=1, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    matches = {loc["path"]: item["matches"] for item in report["items"] for loc in item["locators"]}
    variant = {path: [m.get("variant") for m in found] for path, found in matches.items()}
    assert variant == {
        "copy.jpg": [None], "mirrored.jpg": ["mirror"], "turned.jpg": ["rot90"], "screenshot.jpg": ["inner"],
        "shot_mirror.jpg": ["inner+mirror"], "unrelated.jpg": [], "unrelated_shot.jpg": [],
    }
    box = matches["screenshot.jpg"][0]["box"]
    assert abs(box["x"] - 60) <= 4 and abs(box["y"] - 250) <= 4
    assert all(m["kind"] == "pdq" and m["distance"] <= 31 for found in matches.values() for m in found)
