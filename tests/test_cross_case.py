"""One scan finds every victim; each team sees its own.

A caseworker of case 1 scans a folder in which case 2's subject appears. The item waits in
case 2's queue with her name; case 1's members learn only that it "matches a person enrolled
in another case": no page, API answer, report or evidence package they can fetch names her,
gives her subject id or shows her face. A subject who opted out of cross-case search is not
looked for at all, and `only_case` keeps a scan to its own case's subjects.
"""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from fastapi.testclient import TestClient

from conftest import picture, save_jpeg
from jikimi import accounts
from jikimi.core import Actor, Jikimi
from jikimi.scan import ScanOptions
from jikimi.serialize import OTHER_CASE
from jikimi.store.models import Item
from jikimi.web import create_app
from test_web_support import PASSWORD

NAME, PRIVATE = "Subject Two", "Private Three"


def actor(ws, name: str) -> Actor:
    with ws.session() as session:
        return Actor.of_user(accounts.get_user(session, name), "web")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jikimi.workspace import Workspace

    root = tmp_path_factory.mktemp("cross")
    ws = Workspace(root / "home")
    ws.init()
    with ws.session() as session:
        for name in ("cora", "nora"):
            accounts.add_user(session, name, "caseworker", PASSWORD)
    jk, cora, nora = Jikimi(ws), actor(ws, "cora"), actor(ws, "nora")
    first, second = jk.cases.create(cora, "case one"), jk.cases.create(nora, "case two")
    photo = save_jpeg(picture("astronaut"), root / "ref" / "astronaut.jpg")
    subject = jk.subjects.enrol(nora, second["id"], NAME, [photo], scope="face_matching")
    private = jk.subjects.enrol(nora, second["id"], PRIVATE, [photo], scope="face_matching", cross_case=False)
    source = root / "room"
    save_jpeg(picture("astronaut").resize((400, 400)), source / "posted.jpg", quality=70)
    save_jpeg(picture("coffee"), source / "coffee.jpg")
    scan_id = jk.scans.start(cora, source, ScanOptions(case_id=first["id"], jobs=1))
    narrow_id = jk.scans.start(cora, source, ScanOptions(case_id=first["id"], jobs=1, only_case=True))
    return {"ws": ws, "jk": jk, "cora": cora, "nora": nora, "first": first["id"], "second": second["id"],
            "subject": subject, "private": private, "scan": scan_id, "narrow": narrow_id}


def test_the_match_waits_in_her_case_with_her_name(world):
    jk, nora = world["jk"], world["nora"]
    queue = jk.review.queue(nora, case_id=world["second"])
    assert queue["waiting"] == 1, queue
    faces = [m for m in queue["current"]["matches"] if m["kind"] == "face"]
    assert [m["target"] for m in faces] == [NAME]  # the opted-out subject was not looked for
    assert faces[0]["subject_id"] == world["subject"]["id"] and faces[0]["face_id"]
    assert queue["current"]["routed"] is True and queue["current"]["case_id"] == world["second"]
    assert jk.review.awaiting(nora)["routed_to_my_cases"] == 1
    assert world["private"]["cross_case"] is False and world["private"]["consent"]["cross_case"] is False
    decided = jk.review.decide(nora, queue["current"]["id"], "confirm")
    assert decided["case_id"] == world["second"]


def test_only_case_keeps_the_scan_to_its_own_subjects(world):
    report = json.loads(world["jk"].scans.report(world["cora"], world["narrow"], "json"))
    assert not [m for item in report["items"] for m in item["matches"] if m["kind"] == "face"]


def test_nothing_case_one_can_fetch_names_her(world, tmp_path):
    ws, jk, cora = world["ws"], world["jk"], world["cora"]
    mine = jk.review.queue(cora, case_id=world["first"])
    item = mine["current"]
    assert item is not None and item["case_id"] == world["first"]
    [other] = [m for m in item["matches"] if m["kind"] == "face"]
    assert other == {"kind": "face", "target": None, "subject_id": None, "case_id": None, "face_id": None,
                     "distance": None, "other_case": True, "note": OTHER_CASE}
    face_id = jk.review.item(world["nora"], item["id"])["matches"][0]["face_id"]
    with ws.session() as session:  # as an older scan wrote it, naming every subject it found
        session.get(Item, item["id"]).reason = f"face matches subject '{NAME}' (distance 0.30)"

    app = create_app(ws)
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    assert browser.post("/login", data={"name": "cora", "password": PASSWORD, "csrf_token": token}).status_code == 303
    answers = {}
    for path in ("/", "/api/dashboard", "/cases", "/api/cases", f"/cases/{world['first']}",
                 f"/api/cases/{world['first']}", "/scans", "/api/scans", f"/scans/{world['scan']}",
                 f"/api/scans/{world['scan']}", "/review", "/api/review", f"/review?item={item['id']}",
                 f"/api/review?item={item['id']}", f"/api/items/{item['id']}", "/audit", "/api/audit", "/banks",
                 "/api/banks", f"/media/thumbs/{item['id']}"):
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text[:200])
        answers[path] = answer.text if "thumbs" not in path else ""
    for path in (f"/media/faces/{face_id}", f"/cases/{world['second']}", f"/api/cases/{world['second']}",
                 f"/api/audit?case={world['second']}", f"/review?case={world['second']}"):
        assert browser.get(path).status_code == 404, path
    for fmt in ("json", "csv", "html"):
        answers[f"report.{fmt}"] = jk.scans.report(cora, world["scan"], fmt)
    jk.review.decide(cora, item["id"], "confirm", note="posted in the room")
    package = jk.evidence.export(cora, world["first"], None, tmp_path / "case-one.zip", lang="en")
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if name.endswith((".json", ".html")):
                answers[name] = archive.read(name).decode()
    for where, text in answers.items():
        for secret in (NAME, PRIVATE):
            assert secret not in text, (where, secret)
        assert f'"subject_id": {world["subject"]["id"]}' not in text.replace('"subject_id":', '"subject_id": ')
    assert OTHER_CASE in answers[f"/api/items/{item['id']}"]
    assert "enrolled in another case" in answers["report.json"]
