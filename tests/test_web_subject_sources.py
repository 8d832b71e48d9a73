"""Source photos on the subject page (upload form, Korean and English) and the changed region
outlined on the review page; the real app in process, real SQLite, a real scan."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import jpeg_bytes, picture, save_jpeg
from jikimi import cases
from jikimi.audit import AuditLog
from jikimi.core import Actor, Jikimi
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.web_models import WebUser
from jikimi.web import create_app
from test_web_support import PASSWORD, ROLE_USERS, add_role_users

CONSENT = cases.Consent("Eileen", "search for fakes made from my photos", "2024-09-01T10:00:00+00:00", "cora")


def signed_in(app, name: str) -> tuple[TestClient, str]:
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    assert browser.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token, "next": "/"}).status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/account").text).group(1)
    return browser, csrf


@pytest.fixture
def world(ws, tmp_path):
    add_role_users(ws)
    with ws.session() as s:
        cora = s.query(WebUser).filter_by(name=ROLE_USERS["caseworker"]).one()
        actor = Actor.of_user(cora, "web")
    case = Jikimi(ws).cases.create(actor, "Case A")
    with ws.session() as s:
        subject = cases.enrol_subject(ws, s, cases.get_case(s, case["id"]), "Eileen", CONSENT,
                                      [save_jpeg(picture("astronaut"), tmp_path / "ref.jpg", quality=95)])
    return case["id"], subject.id


def test_upload_lists_and_removes_source_photos_in_korean_and_english(ws, world):
    case_id, subject_id = world
    app = create_app(ws)
    cora, csrf = signed_in(app, ROLE_USERS["caseworker"])
    page = cora.get(f"/subjects/{subject_id}?lang=ko").text
    assert "원본 사진" in page and "등록된 원본 사진이 없습니다." in page and 'name="photos"' in page
    answer = cora.post(f"/subjects/{subject_id}/sources", data={"csrf_token": csrf, "label": "인스타 프로필"},
                       files={"photos": ("profile.jpg", jpeg_bytes(picture("coffee")), "image/jpeg")})
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/subjects/{subject_id}?sources_added=1")
    page = cora.get(answer.headers["location"] + "&lang=ko").text
    assert "원본 사진을 등록했습니다: 1장" in page and "인스타 프로필" in page
    # A plain picture is refused with one sentence in her case worker's language; nothing is stored.
    refused = cora.post(f"/subjects/{subject_id}/sources?lang=ko", data={"csrf_token": csrf},
                        files={"photos": ("wall.jpg", jpeg_bytes(Image.new("RGB", (500, 400), (210, 200, 190))), "image/jpeg")})
    assert refused.status_code == 400 and "wall.jpg: 특징이 너무 적어 다시 찾을 수 없습니다" in refused.text
    listed = cora.get(f"/api/subjects/{subject_id}/sources").json()["sources"]
    assert [s["label"] for s in listed] == ["인스타 프로필"]
    english = cora.get(f"/subjects/{subject_id}?lang=en").text
    assert "Source photos" in english and "Register source photos" in english
    removed = cora.post(f"/subjects/{subject_id}/sources/{listed[0]['id']}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    assert cora.get(f"/api/subjects/{subject_id}/sources").json()["sources"] == []
    with ws.session() as s:
        actions = [e.action for e in AuditLog(s, ws.home).entries(case_id=case_id)]
    assert actions.count("subject_sources_add") == 1 and actions.count("subject_sources_remove") == 1
    assert actions.count("subject_sources_view") >= 4  # every page and API read of the list
    # A reviewer of no case of hers sees nothing of it.
    rhee, _ = signed_in(app, ROLE_USERS["reviewer"])
    assert rhee.get(f"/api/subjects/{subject_id}/sources").status_code == 404


def test_review_page_names_the_source_photo_and_outlines_the_changed_region(ws, world, tmp_path):
    case_id, subject_id = world
    source = picture("coffee")
    photo = save_jpeg(source, tmp_path / "profile.jpg", quality=92)
    app = create_app(ws)
    cora, _ = signed_in(app, ROLE_USERS["caseworker"])
    with ws.session() as s:
        actor = Actor.of_user(s.query(WebUser).filter_by(name=ROLE_USERS["caseworker"]).one(), "web")
    Jikimi(ws).subject_sources.add(actor, subject_id, [photo], ["카톡 프로필"])
    edited = np.asarray(source).copy()
    edited[50:250, 60:330] = edited[50:250, 60:330].reshape(-1, 3).mean(axis=0)  # a third repainted flat
    save_jpeg(Image.fromarray(edited), tmp_path / "room" / "post.jpg", quality=85)
    scan_id = start_scan(ws, tmp_path / "room", ScanOptions(jobs=1, case_id=case_id, analyse=False))
    page = cora.get(f"/review?case={case_id}&lang=ko").text
    assert "카톡 프로필" in page and "편집한 사본" in page
    rect = re.search(r'<svg class="changed-region" viewBox="0 0 600 400"[^>]*><rect x="(\d+)" y="(\d+)" '
                     r'width="(\d+)" height="(\d+)"', page)
    assert rect, page[page.find('class="evidence"'):][:800]
    x, y, w, h = map(int, rect.groups())
    assert abs(x - 60) <= 40 and abs(y - 50) <= 30 and abs(w - 270) <= 80 and abs(h - 200) <= 60
    assert cora.get(f"/api/scans/{scan_id}").status_code == 200


def test_review_page_outlines_where_a_cropped_copy_of_a_banked_picture_appears(ws, world, tmp_path):
    from jikimi import banks

    case_id, _ = world
    known = picture("coffee")  # 600 x 400
    save_jpeg(known, tmp_path / "known" / "coffee.jpg", quality=95)
    with ws.session() as s:
        banks.add_files(s, banks.create_bank(s, "known"), banks.files_under([tmp_path / "known"]))
    post = Image.new("RGB", (1000, 800), (232, 226, 214))
    post.paste(known.crop((30, 20, 570, 380)).rotate(4, Image.BICUBIC, fillcolor=(232, 226, 214)), (180, 140))
    save_jpeg(post, tmp_path / "room" / "post.jpg", quality=85)
    start_scan(ws, tmp_path / "room", ScanOptions(jobs=1, case_id=case_id, analyse=False))
    cora, _ = signed_in(create_app(ws), ROLE_USERS["caseworker"])
    page = cora.get(f"/review?case={case_id}&lang=ko").text
    assert "known 목록의 “coffee.jpg”을(를) 자르거나 돌리거나 편집한 사본" in page and "파란 테두리" in page
    rect = re.search(r'<svg class="copied-region" viewBox="0 0 1000 800"[^>]*><rect x="(\d+)" y="(\d+)" '
                     r'width="(\d+)" height="(\d+)"', page)
    assert rect, page[page.find('class="evidence"'):][:800]
    x, y, w, h = map(int, rect.groups())  # the whole known picture, mapped into the post, clipped to it
    assert abs(x - 150) <= 40 and abs(y - 120) <= 40 and abs(w - 600) <= 80 and abs(h - 400) <= 80
