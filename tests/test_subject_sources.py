"""Source photos of a subject: edited copies of her ordinary photos are found as "derived".

Every edit here is ordinary picture editing on public-domain photos, neither sexual nor
generated: a region repainted flat, blurred, filled with noise or pasted from another photo,
recolouring, a crop with a caption, the face covered by a flat sticker shape. No face is ever
put in place of another.
"""

import io
import json
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from conftest import jpeg_bytes, picture, save_jpeg
from jikimi import cases
from jikimi.audit import AuditLog
from jikimi.core import Actor, Jikimi
from jikimi.errors import JikimiError
from jikimi.reports.data import scan_report
from jikimi.reports.render import render
from jikimi.match_sources import MIN_INLIERS as SOURCE_MIN_INLIERS
from jikimi.match_sources import MIN_KEPT
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.models import SubjectSource
from jikimi.signals.spread_features import SOURCE_PER_CELL, spread_features
from jikimi.subject_sources import load_sources
from jikimi.triage import DERIVED, SUBJECT_AND_SEXUAL, TIER_SPAN

CONSENT = cases.Consent("Eileen", "search for fakes made from my photos", "2024-09-01T10:00:00+00:00", "counsellor-park")
JOHNS = Path("/work/shared/data/faces/johns")


def grace_hopper() -> Image.Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


def sources() -> dict[str, Image.Image]:
    return {"astronaut": picture("astronaut"), "coffee": picture("coffee"), "chelsea": picture("chelsea"),
            "grace_hopper": grace_hopper()}


def box_of(p: Image.Image, share: float, left: float, top: float) -> tuple[int, int, int, int]:
    """A rectangle of `share` of the picture, its corner at (left, top) fractions of the size."""
    w, h = round(p.width * share ** 0.5), round(p.height * share ** 0.5)
    x, y = round(left * (p.width - w)), round(top * (p.height - h))
    return x, y, x + w, y + h


def repainted(p: Image.Image, box, how: str) -> Image.Image:
    region = p.crop(box)
    w, h = region.size
    if how == "flat":
        patch = Image.new("RGB", (w, h), tuple(int(c) for c in np.asarray(region).reshape(-1, 3).mean(axis=0)))
    elif how == "blur":
        patch = region.filter(ImageFilter.GaussianBlur(max(6, min(w, h) // 8)))
    elif how == "noise":
        patch = Image.fromarray(np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8))
    else:  # pasted from another photo (of no person)
        patch = picture("rocket").resize((w, h))
    edited = p.copy()
    edited.paste(patch, box[:2])
    return edited


def recoloured(p: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(p)[..., ::-1].copy())


def cropped_with_caption(p: Image.Image) -> Image.Image:
    inner = p.crop((round(p.width * 0.08), round(p.height * 0.05), p.width, round(p.height * 0.93)))
    bar = round(inner.height * 0.18)
    canvas = Image.new("RGB", (inner.width, inner.height + bar), "white")
    canvas.paste(inner, (0, bar))
    ImageDraw.Draw(canvas).text((12, bar // 3), "look what I found", fill="black")
    return canvas


def sticker_over_face(p: Image.Image) -> Image.Image:
    """A flat yellow smiley-like disc over the astronaut's face (a shape, not a face)."""
    edited = p.copy()
    draw = ImageDraw.Draw(edited)
    draw.ellipse((160, 40, 300, 190), fill=(250, 210, 40))
    draw.arc((195, 100, 265, 160), 20, 160, fill=(90, 60, 0), width=6)
    return edited


# name -> (source label, edited picture, the edited rectangle or None, expected changed share range)
def edits() -> dict:
    s = sources()
    flat = box_of(s["astronaut"], 0.4, 0.9, 0.9)
    blur = box_of(s["grace_hopper"], 0.3, 0.2, 0.8)
    noise = box_of(s["coffee"], 0.25, 0.1, 0.2)
    paste = box_of(s["chelsea"], 0.25, 0.0, 0.0)
    return {
        "flat_40.jpg": ("astronaut", repainted(s["astronaut"], flat, "flat"), flat, (0.3, 0.55)),
        "blur_30.jpg": ("grace_hopper", repainted(s["grace_hopper"], blur, "blur"), blur, (0.15, 0.45)),
        "noise_25.jpg": ("coffee", repainted(s["coffee"], noise, "noise"), noise, (0.15, 0.4)),
        "paste_25.jpg": ("chelsea", repainted(s["chelsea"], paste, "paste"), paste, (0.15, 0.4)),
        "recoloured.jpg": ("grace_hopper", recoloured(s["grace_hopper"]), None, (0.0, 1.0)),
        "crop_caption.jpg": ("coffee", cropped_with_caption(s["coffee"]), None, (0.0, 0.2)),
        "sticker.jpg": ("astronaut", sticker_over_face(s["astronaut"]), (160, 40, 300, 190), (0.03, 0.2)),
    }


@pytest.fixture
def subject(ws, tmp_path):
    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    with ws.session() as s:
        case = cases.create_case(ws, s, "Case A", "counsellor-park")
        subject = cases.enrol_subject(ws, s, case, "Eileen", CONSENT, [photo])
    return case.id, subject.id


def register(ws, tmp_path, subject_id) -> list[dict]:
    folder = tmp_path / "her_photos"
    photos = [save_jpeg(p, folder / f"{name}.jpg", quality=92) for name, p in sources().items()]
    return Jikimi(ws).subject_sources.add(Actor.cli("counsellor-park"), subject_id, photos, list(sources()))


def overlap(found: dict, box) -> float:
    """Share of the edited rectangle that the reported changed box covers."""
    x0, y0 = max(found["x"], box[0]), max(found["y"], box[1])
    x1, y1 = min(found["x"] + found["width"], box[2]), min(found["y"] + found["height"], box[3])
    return max(0, x1 - x0) * max(0, y1 - y0) / ((box[2] - box[0]) * (box[3] - box[1]))


def test_sources_are_stored_encrypted_as_features_only_and_every_access_is_logged(ws, tmp_path, subject):
    case_id, subject_id = subject
    rows = register(ws, tmp_path, subject_id)
    assert [r["label"] for r in rows] == ["astronaut", "coffee", "chelsea", "grace_hopper"]
    jk, actor = Jikimi(ws), Actor.cli("counsellor-park")
    assert [r["label"] for r in jk.subject_sources.list(actor, subject_id)] == [r["label"] for r in rows]
    with ws.session() as s:
        loaded = load_sources(ws, s)
        stored = s.query(SubjectSource).order_by(SubjectSource.id).all()
        assert len(loaded) == 4 and loaded[0].features.descriptors.shape[1] == 32
        # Neither the descriptors nor the region hashes are readable in the database.
        assert loaded[0].features.descriptors.tobytes()[:64] not in stored[0].features
        assert loaded[0].regions.hashes.tobytes()[:64] not in stored[0].regions
        # No pixels: a few KB of features per photo, far less than the photo.
        assert len(stored[0].regions) < 4000
    removed = jk.subject_sources.remove(actor, subject_id, rows[1]["id"])
    assert removed["removed"] and removed["label"] == "coffee"
    with pytest.raises(JikimiError, match="no source photo with id"):
        jk.subject_sources.remove(actor, subject_id, rows[1]["id"])
    with ws.session() as s:
        cases.remove_subject(ws, s, subject_id, "counsellor-park")
    with ws.session() as s:
        assert s.query(SubjectSource).count() == 0
        entries = list(AuditLog(s, ws.home).entries(case_id=case_id))
        actions = [(e.action, e.details.get("what")) for e in entries]
        removal = entries[-1].details
    assert actions == [("case_create", None), ("subject_add", None), ("subject_sources_add", None),
                       ("subject_sources_view", None), ("subject_sources_remove", None), ("subject_remove", None)]
    assert removal["source_photos_deleted"] == 3


def test_a_photo_too_plain_to_find_again_is_refused_and_nothing_is_stored(ws, tmp_path, subject):
    _, subject_id = subject
    good = save_jpeg(picture("coffee"), tmp_path / "good.jpg")
    plain = save_jpeg(Image.new("RGB", (600, 400), (200, 180, 160)), tmp_path / "wall.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    jk, actor = Jikimi(ws), Actor.cli("counsellor-park")
    with pytest.raises(JikimiError, match="wall.jpg: too plain to recognise"):
        jk.subject_sources.add(actor, subject_id, [good, plain])
    with pytest.raises(JikimiError, match="broken.jpg"):
        jk.subject_sources.add(actor, subject_id, [good, broken])
    assert jk.subject_sources.list(actor, subject_id) == []


def test_edited_copies_of_her_photos_are_found_with_the_changed_region(ws, tmp_path, subject):
    case_id, subject_id = subject
    register(ws, tmp_path, subject_id)
    posts = tmp_path / "room"
    expected = edits()
    for name, (_, edited, _, _) in expected.items():
        save_jpeg(edited, posts / name, quality=85)
    save_jpeg(picture("rocket"), posts / "unrelated_rocket.jpg")
    save_jpeg(picture("camera"), posts / "unrelated_camera.jpg")
    scan_id = start_scan(ws, posts, ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    items = {item["locators"][0]["path"]: item for item in report["items"]}
    for name, (label, _, box, (low, high)) in expected.items():
        derived = [m for m in items[name]["matches"] if m["kind"] == "derived"]
        assert len(derived) == 1, (name, {n: i["matches"] for n, i in items.items()})
        match = derived[0]
        assert match["subject_id"] == subject_id and match["target"] == "Eileen" and match["source"] == label, name
        assert low <= match["changed_fraction"] <= high, (name, match["changed_fraction"])
        assert match["inliers"] >= SOURCE_MIN_INLIERS and match["kept_fraction"] >= MIN_KEPT, name
        if box is not None:
            assert overlap(match["box"], box) >= 0.7, (name, match["box"], box)
        assert items[name]["priority"] // TIER_SPAN == DERIVED, name
        assert items[name]["reason"].startswith(f"edited copy of the photo '{label}' of subject 'Eileen'"), name
    html = render(report, "html")
    assert "derived · edited copy of the photo &#39;astronaut&#39; of subject Eileen (" in html  # HTML-escaped
    for name in ("unrelated_rocket.jpg", "unrelated_camera.jpg"):
        assert not items[name]["matches"] and items[name]["priority"] == 0
    assert DERIVED == SUBJECT_AND_SEXUAL - 1


def large_edits() -> dict:
    """40 % of a photo changed. A region filled with noise or pasted from another photo is all
    corners: the post's 500 strongest features went there, and none to the kept part."""
    s = sources()
    return {
        "noise_40.jpg": ("chelsea", s["chelsea"], box_of(s["chelsea"], 0.4, 0.5, 0.5), "noise"),
        "paste_40.jpg": ("coffee", s["coffee"], box_of(s["coffee"], 0.4, 0.0, 1.0), "paste"),
        "noise_40_corner.jpg": ("astronaut", s["astronaut"], box_of(s["astronaut"], 0.4, 1.0, 0.0), "noise"),
        "paste_40_corner.jpg": ("grace_hopper", s["grace_hopper"], box_of(s["grace_hopper"], 0.4, 0.0, 0.0), "paste"),
        "flat_40.jpg": ("coffee", s["coffee"], box_of(s["coffee"], 0.4, 1.0, 1.0), "flat"),
        "blur_40.jpg": ("chelsea", s["chelsea"], box_of(s["chelsea"], 0.4, 0.0, 1.0), "blur"),
    }


def test_photos_with_40_percent_replaced_are_found_with_the_share_changed(ws, tmp_path, subject):
    case_id, subject_id = subject
    register(ws, tmp_path, subject_id)
    posts = tmp_path / "room"
    for name, (_, photo, box, how) in large_edits().items():
        save_jpeg(repainted(photo, box, how), posts / name, quality=85)
    scan_id = start_scan(ws, posts, ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as s:
        items = {i["locators"][0]["path"]: i for i in scan_report(s, scan_id)["items"]}
    for name, (label, _, box, _) in large_edits().items():
        derived = [m for m in items[name]["matches"] if m["kind"] == "derived"]
        assert [m["source"] for m in derived] == [label], (name, items[name]["matches"])
        assert 0.3 <= derived[0]["changed_fraction"] <= 0.5, (name, derived[0]["changed_fraction"])
        assert overlap(derived[0]["box"], box) >= 0.7, (name, derived[0]["box"], box)


@pytest.mark.skipif(not JOHNS.exists(), reason="needs ../shared/data (faces/johns)")
def test_another_photo_of_the_same_person_is_not_derived(ws, tmp_path, subject):
    """For each of five people, the photo with most distinctive points is registered (upscaled,
    as a profile photo would be); her ten other photos, same framing, same person, are posted
    and must not match as edited copies."""
    case_id, subject_id = subject
    folder, posts = tmp_path / "profile", tmp_path / "room"
    photos = []
    for person in sorted(JOHNS.iterdir()):
        shown = {p.name: Image.open(p).convert("RGB").resize((640, 640), Image.LANCZOS) for p in sorted(person.glob("*.jpg"))}
        richest = max(shown, key=lambda name: len(spread_features(np.asarray(shown[name]), SOURCE_PER_CELL).descriptors))
        photos.append(save_jpeg(shown.pop(richest), folder / f"{person.name}.jpg", quality=95))
        for name, other in shown.items():
            save_jpeg(other, posts / f"{person.name}_{name}")
    registered = []
    for photo in photos:  # the plainest of these small photos are refused: too few points to find again
        try:
            registered += Jikimi(ws).subject_sources.add(Actor.cli("counsellor-park"), subject_id, [photo])
        except JikimiError as e:
            assert "too plain to recognise" in str(e)
    assert len(registered) >= 3
    scan_id = start_scan(ws, posts, ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as s:
        report = scan_report(s, scan_id)
    assert len(report["items"]) >= 45  # two files of one folder may be the same photo
    assert [i["locators"][0]["path"] for i in report["items"] if i["matches"]] == []


def test_cli_adds_lists_and_removes_source_photos(ws, tmp_path, subject):
    from test_cli import run

    _, subject_id = subject
    photos = [save_jpeg(picture("coffee"), tmp_path / "a" / "coffee.jpg"), save_jpeg(grace_hopper(), tmp_path / "a" / "gh.jpg")]
    added = json.loads(run(ws.home, "subject", "sources", "add", subject_id, *photos, "--label", "insta 1",
                           "--json").stdout)
    assert [r["label"] for r in added] == ["insta 1", "gh.jpg"]
    listed = json.loads(run(ws.home, "subject", "sources", "list", subject_id, "--json").stdout)
    assert [r["id"] for r in listed] == [r["id"] for r in added]
    assert "Removed source photo" in run(ws.home, "subject", "sources", "remove", subject_id, added[0]["id"]).stdout
    again = run(ws.home, "subject", "sources", "remove", subject_id, added[0]["id"], check=False)
    assert again.returncode != 0 and again.stderr.strip().splitlines() == [
        f"error: no source photo with id {added[0]['id']} of subject {subject_id}"]


def test_an_edited_copy_found_by_another_case_waits_in_hers_and_names_neither_her_nor_her_photo(ws, tmp_path):
    """Case one's scan finds an edited copy of a source photo of case two's subject: it waits in
    case two's queue with her photo's label; case one reads only "another case"."""
    from jikimi import accounts
    from test_cross_case import actor
    from test_web_support import PASSWORD

    with ws.session() as session:
        for name in ("cora", "nora"):
            accounts.add_user(session, name, "caseworker", PASSWORD)
    jk, cora, nora = Jikimi(ws), actor(ws, "cora"), actor(ws, "nora")
    first, second = jk.cases.create(cora, "case one"), jk.cases.create(nora, "case two")
    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    subject = jk.subjects.enrol(nora, second["id"], "Eileen", [photo], scope="face_matching")
    label = "her profile photo"
    kept = save_jpeg(picture("chelsea"), tmp_path / "her" / "chelsea.jpg", quality=92)
    jk.subject_sources.add(nora, subject["id"], [kept], [label])
    edited = repainted(picture("chelsea"), box_of(picture("chelsea"), 0.25, 0.5, 0.5), "flat")
    save_jpeg(edited, tmp_path / "room" / "posted.jpg", quality=85)
    jk.scans.start(cora, tmp_path / "room", ScanOptions(case_id=first["id"], jobs=1, analyse=False))

    queue = jk.review.queue(nora, case_id=second["id"])
    assert queue["waiting"] == 1 and queue["current"]["routed"] is True, queue
    derived = [m for m in queue["current"]["matches"] if m["kind"] == "derived"]
    assert [(m["target"], m["source"]) for m in derived] == [("Eileen", label)]
    assert jk.review.awaiting(nora)["routed_to_my_cases"] == 1
    item_id = queue["current"]["id"]
    theirs = jk.review.queue(cora, case_id=first["id"])
    assert theirs["current"]["id"] == item_id
    seen_by_case_one = json.dumps(theirs["current"], ensure_ascii=False)
    assert label not in seen_by_case_one and "Eileen" not in seen_by_case_one


def test_the_other_view_of_a_stereo_pair_fits_a_plane_but_is_not_an_edit():
    """The same street seen a little to the side, 40 % replaced: a homography fits over 100
    of its pairs with her photo, more than MIN_INLIERS, but parallax changes almost every cell,
    so no large part of her photo is kept unchanged. A true 40 % edit keeps about 60 %."""
    from skimage import data

    from jikimi.match_sources import SourceMatcher
    from jikimi.signals.region_grid import region_grid
    from jikimi.subject_sources import Source

    left, right = (Image.fromarray(view) for view in data.stereo_motorcycle()[:2])
    pixels = np.asarray(left)
    source = Source(1, 1, "Eileen", 1, "street", spread_features(pixels, SOURCE_PER_CELL), region_grid(pixels),
                    left.width, left.height)
    matcher = SourceMatcher([source])

    def posted(p: Image.Image) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(jpeg_bytes(p, quality=85))).convert("RGB"))

    other_view = posted(repainted(right, box_of(right, 0.4, 0.0, 1.0), "noise"))
    fits = matcher.candidates(other_view)
    assert [(s.label, m.inliers >= SOURCE_MIN_INLIERS) for s, m, _ in fits] == [("street", True)]
    assert fits[0][2].kept_fraction < MIN_KEPT
    assert matcher.match(b"a picture", lambda: other_view) == []
    edit = posted(repainted(left, box_of(left, 0.4, 0.0, 1.0), "noise"))
    found = matcher.match(b"a picture", lambda: edit)
    assert [f.detail["source"] for f in found] == ["street"] and found[0].detail["kept_fraction"] >= 0.5
