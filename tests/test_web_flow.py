"""The whole case-worker flow over the JSON API, on a real workspace and a real scan.

Enrol a subject from a public-domain portrait with the demo's known images, scan the demo
Telegram export uploaded as a ZIP, work the review queue: reveal (logged), decide, audit.
"""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import jpeg_bytes, picture
from jikimi.demo.sample_export import build_sample_export
from test_web_support import ROLE_USERS, add_role_users, csrf_of, login, serve


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def portrait_jpeg() -> bytes:
    return jpeg_bytes(picture("astronaut"))


def portraits_zip() -> bytes:
    """The subject's own public portrait, re-encoded and resized, among harmless pictures."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("posted/portrait.jpg", jpeg_bytes(picture("astronaut").resize((400, 400)), quality=70))
        archive.writestr("posted/coffee.jpg", jpeg_bytes(picture("coffee")))
    return buffer.getvalue()


def wait_for_scan(client: httpx.Client, scan_id: int, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        scan = client.get(f"/api/scans/{scan_id}").json()
        if scan["scan"]["status"] not in ("queued", "running"):
            return scan
        time.sleep(0.5)
    raise AssertionError(f"scan {scan_id} still running after {seconds} s")


def api(client: httpx.Client) -> dict:
    return {"X-CSRF-Token": csrf_of(client)}


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    from jikimi.workspace import Workspace

    root = tmp_path_factory.mktemp("flow")
    ws = Workspace(root / "home")
    ws.init()
    add_role_users(ws)
    sample = build_sample_export(root / "sample")
    with serve(ws) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        headers = api(cora)
        case = cora.post("/api/cases", json={"title": "2026-0042"}, headers=headers).json()
        for role in ("reviewer", "viewer"):  # the case's caseworker brings in its team
            added = cora.post(f"/api/cases/{case['id']}/members", headers=headers,
                              json={"user": ROLE_USERS[role], "role": role})
            assert added.status_code == 201, added.text
        known = [("known", (p.name, p.read_bytes())) for p in sorted(sample.known_dir.iterdir())]
        enrolled = cora.post(f"/api/cases/{case['id']}/subjects", headers=headers, data={
            "name": "Subject A", "consented_by": "Subject A", "consented_at": "2026-11-20",
            "scope_face_matching": "1", "scope_known_image_hashes": "1"},
            files=[("photos", ("astronaut.jpg", portrait_jpeg(), "image/jpeg")), *known])
        assert enrolled.status_code == 201, enrolled.text
        started = cora.post("/api/scans", headers=headers, data={"case_id": str(case["id"])},
                            files={"file": ("export.zip", zip_folder(sample.export_dir), "application/zip")})
        assert started.status_code == 201, started.text
        scan = wait_for_scan(cora, started.json()["id"])
        faces = cora.post("/api/scans", headers=headers, data={"case_id": str(case["id"])},
                          files={"file": ("portraits.zip", portraits_zip(), "application/zip")})
        face_scan = wait_for_scan(cora, faces.json()["id"])
        yield {"ws": ws, "base": base, "case": case, "scan": scan, "face_scan": face_scan, "cora": cora,
               "subject": enrolled.json()}
        cora.close()


def test_scan_of_an_uploaded_export_finds_the_known_images(flow):
    scan = flow["scan"]
    assert scan["scan"]["status"] == "complete", scan
    assert scan["scan"]["source_kind"] == "telegram"
    assert scan["scan"]["case_id"] == flow["case"]["id"]
    assert scan["scan"]["counts"]["matched"] >= 5
    assert scan["scan"]["counts"]["errors"] >= 1  # the demo's hostile files, reported, not fatal


def test_enrolment_records_consent_and_keeps_no_photo(flow):
    subject = flow["subject"]
    assert subject["consent"]["recorded_by"] == ROLE_USERS["caseworker"]
    assert subject["consent"]["scope"] == "face_matching, known_image_hashes"
    assert subject["templates"] == 1
    assert not any((flow["ws"].home / "uploads").rglob("*.jpg"))  # reference photo discarded


def test_review_queue_is_ordered_by_priority_and_blurred(flow):
    cora = flow["cora"]
    queue = cora.get("/api/review").json()
    assert queue["waiting"] >= 5
    priorities = [queue["current"]["priority"]] + [u["priority"] for u in queue["upcoming"]]
    assert priorities == sorted(priorities, reverse=True)
    thumb = cora.get(queue["current"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"] == "no-store"
    assert queue["revealed"] is None


def test_face_match_shows_the_face_crop_to_reviewers_only(flow):
    pytest.importorskip("jikimi.reports.crops")
    cora = flow["cora"]
    current = cora.get(f"/api/review?scan={flow['face_scan']['scan']['id']}").json()["current"]
    faces = [m for m in (current or {}).get("matches", []) if m["kind"] == "face"]
    if not faces:
        pytest.skip("this build's scan does not match faces yet")
    assert faces[0]["target"] == "Subject A" and faces[0]["face_id"]
    assert faces[0]["level"] in ("possible", "confident")
    page = cora.get(f"/review?item={current['id']}").text
    assert f"{faces[0]['level']} match" in page  # the reviewer sees how sure the match is
    crop = cora.get(f"/media/faces/{faces[0]['face_id']}")
    assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8" and crop.headers["cache-control"] == "no-store"
    viewer = login(flow["base"], ROLE_USERS["viewer"])
    seen = viewer.get(f"/api/review?item={current['id']}").json()["current"]
    assert all(m.get("face_id") is None for m in seen["matches"])
    assert viewer.get(f"/media/faces/{faces[0]['face_id']}").status_code == 403


def test_reveal_is_logged_and_the_original_needs_the_reveal(flow):
    base, cora = flow["base"], flow["cora"]
    item = cora.get("/api/review").json()["current"]
    assert cora.get(f"/media/originals/{item['id']}").status_code == 403  # no grant, no original
    revealed = cora.post(f"/api/items/{item['id']}/reveal", headers=api(cora))
    assert revealed.status_code == 200
    url = revealed.json()["url"]
    original = cora.get(url)
    assert original.status_code == 200 and original.headers["cache-control"] == "no-store"
    vault = flow["ws"].vault.read_bytes(item["sha256"])
    assert original.content == vault
    assert httpx.get(base + url).status_code == 303  # anonymous: to the login page
    rhee = login(base, ROLE_USERS["reviewer"])
    assert rhee.get(url).status_code == 403  # the grant is the reviewer's who asked, only
    assert cora.get(url.replace(f"/{item['id']}?", f"/{item['id'] + 1}?")).status_code in (403, 404)  # that item only
    log = cora.get(f"/api/audit?case={flow['case']['id']}").json()["entries"]
    reveal = next(e for e in log if e["action"] == "reveal")
    assert reveal["actor"] == ROLE_USERS["caseworker"] and reveal["subject"] == f"item:{item['id']}"
    assert reveal["time"]


def test_decision_moves_the_queue_on_and_is_audited(flow):
    cora = flow["cora"]
    before = cora.get("/api/review").json()
    item = before["current"]
    decided = cora.post(f"/api/items/{item['id']}/decision", headers=api(cora),
                        json={"verdict": "confirm", "note": "her photo, altered"})
    assert decided.status_code == 201 and decided.json()["verdict"] == "confirm"
    after = cora.get("/api/review").json()
    assert after["waiting"] == before["waiting"] - 1
    assert after["current"]["id"] != item["id"]
    case = cora.get(f"/api/cases/{flow['case']['id']}").json()
    assert case["decisions"][0]["item_id"] == item["id"] and case["decisions"][0]["note"] == "her photo, altered"
    assert any(e["action"] == "decision" and e["details"]["verdict"] == "confirm" for e in case["audit"])
    bad = cora.post(f"/api/items/{item['id']}/decision", headers=api(cora), json={"verdict": "maybe"})
    assert bad.status_code == 400


def test_only_allowed_server_paths_can_be_scanned(flow, tmp_path):
    base, cora = flow["base"], flow["cora"]
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "coffee.jpg").write_bytes(jpeg_bytes(picture("coffee")))
    case_id = flow["case"]["id"]
    assert cora.post("/api/scans", headers=api(cora), json={"path_id": 999, "case_id": case_id}).status_code == 404
    assert cora.post("/api/scans", headers=api(cora), json={"path": str(folder), "case_id": case_id}).status_code == 400
    assert cora.post("/api/scans", headers=api(cora), json={"path_id": 1}).status_code == 403  # no case: admins only
    ada = login(base, ROLE_USERS["admin"])
    allowed = ada.post("/api/admin/paths", headers=api(ada), json={"path": str(folder)})
    assert allowed.status_code == 201
    started = cora.post("/api/scans", headers=api(cora),
                        json={"path_id": allowed.json()["id"], "case_id": flow["case"]["id"]})
    assert started.status_code == 201
    assert wait_for_scan(cora, started.json()["id"])["scan"]["status"] == "complete"
    shutil.rmtree(folder)


def test_banks_import_and_export_round_trip(flow):
    cora = flow["cora"]
    created = cora.post("/api/banks", headers=api(cora),
                        json={"name": "leads", "pdq_threshold": 20, "case_id": flow["case"]["id"]})
    assert created.status_code == 201
    bank_id = created.json()["id"]
    line = "sha256 " + "ab" * 32 + "\n"
    imported = cora.post(f"/api/banks/{bank_id}/import", headers=api(cora), data={"format": "tx", "text": line})
    assert imported.json() == {"imported": 1}
    exported = cora.get(f"/api/banks/{bank_id}/export?format=tx")
    assert exported.text == line and exported.headers["cache-control"] == "no-store"
    added = cora.post(f"/api/banks/{bank_id}/files", headers=api(cora),
                      files={"files": ("coffee.jpg", jpeg_bytes(picture("coffee")), "image/jpeg")})
    assert added.json()["added"] == 1
    banks = {b["name"]: b for b in cora.get("/api/banks").json()["banks"]}
    assert banks["leads"]["contents"] == 2


def test_pages_render_in_both_languages(flow):
    cora = flow["cora"]
    case_id, scan_id = flow["case"]["id"], flow["scan"]["scan"]["id"]
    for lang in ("ko", "en"):
        for path in ("/", "/cases", f"/cases/{case_id}", "/scans", f"/scans/{scan_id}", "/banks", "/review",
                     "/audit", "/account", "/api/docs"):
            answer = cora.get(path, headers={"Accept-Language": lang})
            assert answer.status_code == 200, (lang, path)
            assert f'<html lang="{lang}">' in answer.text
