"""A re-scan matches the items it meets again against the subjects enrolled since the first scan:
a case worker who enrols a victim after scanning finds her in the material already collected.

Real face models, real SQLite, public-domain portraits (scikit-image's astronaut is the subject,
matplotlib's Grace Hopper is someone else).
"""

from __future__ import annotations

import matplotlib.cbook
from PIL import Image, ImageOps

from conftest import picture, save_jpeg
from jikimi.core import Actor, Jikimi
from jikimi.scan import ScanOptions
from jikimi.store.models import Item, Match


def grace_hopper() -> Image.Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


def test_a_rescan_finds_a_subject_enrolled_after_the_first_scan(ws, tmp_path):
    jk, cli = Jikimi(ws), Actor.cli()
    posted = tmp_path / "posted"
    save_jpeg(picture("astronaut").resize((480, 480)), posted / "a_resized.jpg", quality=80)
    save_jpeg(ImageOps.grayscale(picture("astronaut")).convert("RGB"), posted / "b_grey.jpg")
    save_jpeg(grace_hopper(), posted / "c_someone_else.jpg")
    save_jpeg(picture("coffee"), posted / "d_coffee.jpg")
    case = jk.cases.create(cli, "2026-0101")["id"]

    def scan() -> dict[str, int]:
        scan_id = jk.scans.start(cli, posted, ScanOptions(jobs=1, case_id=case))
        with ws.session() as s:
            return {loc.fields["path"]: item.id for item in s.query(Item).all() for loc in item.locators
                    if loc.scan_id == scan_id}

    first = scan()
    assert jk.review.queue(cli, case_id=case)["waiting"] == 0  # nobody enrolled yet: nothing to review
    decided = jk.review.decide(cli, first["a_resized.jpg"], "not_abusive")  # decided before she was enrolled
    photo = save_jpeg(picture("astronaut"), tmp_path / "ref" / "astronaut.jpg", quality=95)
    subject = jk.subjects.enrol(cli, case, "Eileen", [photo], scope="face_matching", consented_by="Eileen")

    second = scan()
    assert second == first  # the same items again, none new
    with ws.session() as s:
        faces = {item_id: [m.subject_id for m in s.query(Match).filter_by(item_id=item_id, kind="face")]
                 for item_id in first.values()}
        grey = s.get(Item, first["b_grey.jpg"])
        reason = grey.reason
    assert faces[first["a_resized.jpg"]] == faces[first["b_grey.jpg"]] == [subject["id"]]
    assert faces[first["c_someone_else.jpg"]] == faces[first["d_coffee.jpg"]] == []
    assert "face matches subject 'Eileen'" in reason
    queue = jk.review.queue(cli, case_id=case)
    assert queue["waiting"] == 1 and queue["current"]["id"] == first["b_grey.jpg"]  # undecided: in the queue
    item = jk.review.item(cli, first["a_resized.jpg"])  # decided: its decision stands
    assert [d["id"] for d in item["decisions"]] == [decided["id"]]

    third = scan()  # matching again adds nothing twice
    assert third == first
    with ws.session() as s:
        assert s.query(Match).filter_by(kind="face").count() == 2
