"""End-to-end scans over real files, a real SQLite workspace and the real hashers."""

import os

import av
import numpy as np

from conftest import picture, save_jpeg
from jikimi import banks
from jikimi.audit import AuditLog
from jikimi.reports.data import scan_report
from jikimi.scan import ScanOptions, start_scan


def make_known(tmp_path):
    known = tmp_path / "known"
    save_jpeg(picture("astronaut"), known / "astronaut.jpg")
    save_jpeg(picture("coffee"), known / "coffee.jpg")
    return known


def make_source(tmp_path):
    src = tmp_path / "source"
    astronaut, coffee = picture("astronaut"), picture("coffee")
    save_jpeg(astronaut.resize((256, 256)), src / "resized.jpg", quality=50)
    w, h = coffee.size
    save_jpeg(coffee.crop((w // 100, h // 100, w - w // 100, h - h // 100)), src / "cropped.jpg", quality=60)
    for folder in ("a", "b"):  # the same file posted twice
        (src / folder).mkdir(parents=True)
        (src / folder / "same.jpg").write_bytes((tmp_path / "known" / "astronaut.jpg").read_bytes())
    save_jpeg(picture("chelsea"), src / "cat.jpg")
    save_jpeg(picture("rocket"), src / "rocket.jpg")
    (src / "random.jpg").write_bytes(os.urandom(5000))
    (src / "empty.jpg").write_bytes(b"")
    (src / "truncated.jpg").write_bytes((src / "cat.jpg").read_bytes()[:3000])
    return src


def scan_folder(ws, tmp_path, jobs=1, bank_names=None):
    known = make_known(tmp_path)
    with ws.session() as s:
        bank = banks.create_bank(s, "known")
        banks.add_files(s, bank, banks.files_under([known]))
    scan_id = start_scan(ws, make_source(tmp_path), ScanOptions(jobs=jobs, banks=bank_names))
    with ws.session() as s:
        return scan_report(s, scan_id)


def by_path(report):
    return {loc["path"]: item for item in report["items"] for loc in item["locators"]}


def test_folder_scan_finds_copies_dedupes_and_explains_errors(ws, tmp_path):
    report = scan_folder(ws, tmp_path)
    items = by_path(report)
    assert report["scan"]["status"] == "complete"
    assert report["scan"]["counts"] == {"items": 8, "seen_before": 0, "locators": 9, "matched": 3, "errors": 3,
                                        "allowed": 0, "pending": 0}
    same = items["a/same.jpg"]
    assert same is items["b/same.jpg"]
    assert [loc["path"] for loc in same["locators"]] == ["a/same.jpg", "b/same.jpg"]
    assert {m["kind"] for m in same["matches"]} == {"sha256", "md5", "pdq"}
    assert [(m["kind"], m["target"]) for m in items["resized.jpg"]["matches"]] == [("pdq", "astronaut.jpg")]
    assert [(m["kind"], m["target"]) for m in items["cropped.jpg"]["matches"]] == [("pdq", "coffee.jpg")]
    assert items["resized.jpg"]["matches"][0]["distance"] <= 31
    assert items["cat.jpg"]["matches"] == [] and items["rocket.jpg"]["matches"] == []
    assert items["empty.jpg"]["error"] == "empty file"
    assert items["random.jpg"]["error"] and items["truncated.jpg"]["error"]
    assert items["cat.jpg"]["error"] is None
    with ws.session() as s:  # every collected file is in the custody log, and the log verifies
        log = AuditLog(s, ws.home)
        ingested = [e.subject for e in log.entries() if e.action == "ingest"]
        assert sorted(ingested) == sorted(f"item:{item['id']}" for item in report["items"])
        assert log.verify().ok


def strip_volatile(report):
    """Ids and times differ between two scans of the same source; everything else must not."""
    items = [{k: v for k, v in item.items() if k != "id"} for item in report["items"]]
    for item in items:
        item["matches"] = [{k: v for k, v in m.items() if k != "target_id"} for m in item["matches"]]
    return items


def test_parallel_scan_gives_the_same_report_as_serial(ws, tmp_path):
    serial = scan_folder(ws, tmp_path / "one", jobs=1)
    with ws.session() as s:
        parallel_id = start_scan(ws, tmp_path / "one" / "source", ScanOptions(jobs=2))
        parallel = scan_report(s, parallel_id)
    assert strip_volatile(parallel) == strip_volatile(serial)


def test_allow_bank_silences_a_match(ws, tmp_path):
    with ws.session() as s:
        allow = banks.create_bank(s, "harmless", allow=True)
        save_jpeg(picture("coffee"), tmp_path / "allow" / "coffee.jpg")
        banks.add_files(s, allow, banks.files_under([tmp_path / "allow"]))
    items = by_path(scan_folder(ws, tmp_path))
    assert items["cropped.jpg"]["matches"] == []
    assert items["cropped.jpg"]["allowed_by"] == "harmless"
    assert items["resized.jpg"]["matches"]


def test_bank_option_limits_matching(ws, tmp_path):
    with ws.session() as s:
        banks.create_bank(s, "other")
    report = scan_folder(ws, tmp_path, bank_names=["other"])
    assert report["scan"]["counts"]["matched"] == 0


def write_video(path, frames, fps=10, size=None, codec="libx264"):
    """Encode RGB frames (PIL images) into an MP4, each shown for `fps` frames (one second)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        first = frames[0] if size is None else frames[0].resize(size)
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = first.size[0] // 2 * 2, first.size[1] // 2 * 2
        stream.pix_fmt = "yuv420p"
        for image in frames:
            image = image.resize((stream.width, stream.height))
            for _ in range(fps):
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def pans(name, count, size=(320, 240)):
    """Distinct frames: a window moving across a public-domain picture."""
    image = picture(name).resize((640, 480))
    return [image.crop((i * 40, i * 30, i * 40 + size[0], i * 30 + size[1])) for i in range(count)]


def test_videos_match_videos_and_images_across_kinds(ws, tmp_path):
    known = tmp_path / "known"
    frames = pans("astronaut", 5) + pans("coffee", 3)
    write_video(known / "known.mp4", frames)
    save_jpeg(picture("rocket"), known / "rocket.jpg")
    src = tmp_path / "src"
    write_video(src / "reencoded.mp4", frames, size=(240, 180), codec="mpeg4")
    save_jpeg(frames[6].resize((200, 150)), src / "still.jpg", quality=60)
    write_video(src / "slideshow.mp4", [picture("rocket")] * 3)
    write_video(src / "unrelated.mp4", pans("chelsea", 4))
    with ws.session() as s:
        bank = banks.create_bank(s, "known")
        banks.add_files(s, bank, banks.files_under([known]))
    scan_id = start_scan(ws, src, ScanOptions(jobs=1))
    with ws.session() as s:
        items = by_path(scan_report(s, scan_id))
    reencoded = items["reencoded.mp4"]["matches"]
    assert [(m["kind"], m["target"]) for m in reencoded] == [("vpdq", "known.mp4")]
    assert reencoded[0]["query_match_percent"] >= 80
    still = items["still.jpg"]["matches"]
    assert [(m["kind"], m["target"]) for m in still] == [("pdq", "known.mp4")]
    assert 5.0 <= still[0]["known_frame_time"] <= 7.0
    slideshow = items["slideshow.mp4"]["matches"]
    assert [(m["kind"], m["target"]) for m in slideshow] == [("pdq", "rocket.jpg")]
    assert items["unrelated.mp4"]["matches"] == []
