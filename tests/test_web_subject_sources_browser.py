"""Source photos in a real browser, in Korean: registered from her page's form, and the review
page outlining the changed region of an edited copy on its blurred preview. Screenshots at
1366x768 and 390x844 go to artifacts/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import picture, save_jpeg
from jikimi import cases
from jikimi.core import Actor, Jikimi
from jikimi.scan import ScanOptions, start_scan
from jikimi.store.web_models import WebUser
from test_web_browser import ARTIFACTS, CHROMIUM
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve

VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
CONSENT = cases.Consent("Eileen", "search for fakes made from my photos", "2024-09-01T10:00:00+00:00", "cora")

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.mark.parametrize("device", VIEWPORTS)
def test_register_a_source_photo_and_see_the_changed_region(ws, browser, tmp_path, device):
    add_role_users(ws)
    ARTIFACTS.mkdir(exist_ok=True)
    with ws.session() as s:
        actor = Actor.of_user(s.query(WebUser).filter_by(name=ROLE_USERS["caseworker"]).one(), "web")
    case = Jikimi(ws).cases.create(actor, "2026-0102")
    with ws.session() as s:
        subject = cases.enrol_subject(ws, s, cases.get_case(s, case["id"]), "은지", CONSENT,
                                      [save_jpeg(picture("astronaut"), tmp_path / "ref.jpg", quality=95)])
    profile = save_jpeg(picture("coffee"), tmp_path / "upload" / "kakao_profile.jpg", quality=92)
    edited = np.asarray(picture("coffee")).copy()
    edited[60:260, 250:560] = edited[60:260, 250:560].reshape(-1, 3).mean(axis=0)  # a region repainted flat
    save_jpeg(Image.fromarray(edited), tmp_path / "room" / "post.jpg", quality=85)
    errors: list[str] = []
    with serve(ws, with_worker=False) as base:
        context = browser.new_context(locale="ko-KR", viewport=VIEWPORTS[device])
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/subjects/{subject.id}")
        page.fill("input[name=name]", ROLE_USERS["caseworker"])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/subjects/{subject.id}")

        form = page.locator("#sources form[enctype='multipart/form-data']")
        form.locator("input[name=photos]").set_input_files(str(profile))
        form.locator("input[name=label]").fill("카톡 프로필")
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"**/subjects/{subject.id}?sources_added=1#sources")
        assert "원본 사진을 등록했습니다: 1장" in page.locator("#sources").inner_text()
        assert "카톡 프로필" in page.locator(".source-list").inner_text()
        page.locator("#sources").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"subject-sources-ko-{device}.png"))

        start_scan(ws, tmp_path / "room", ScanOptions(jobs=1, case_id=case["id"], analyse=False))
        page.goto(f"{base}/review?case={case['id']}")
        assert "카톡 프로필" in page.locator(".facts").inner_text()
        preview = page.locator(".evidence .outlined img").bounding_box()
        outline = page.locator(".evidence .changed-region rect").bounding_box()
        assert outline is not None and preview is not None
        # The outline lies inside the preview, over its upper right part (where the edit is).
        assert preview["x"] <= outline["x"] and outline["x"] + outline["width"] <= preview["x"] + preview["width"] + 2
        assert outline["x"] > preview["x"] + preview["width"] * 0.3 and outline["y"] < preview["y"] + preview["height"] * 0.3
        page.locator(".evidence").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"review-derived-ko-{device}.png"))
        context.close()
    assert errors == []
