"""Enrolment from a real group photo, her page, and her removal, in Korean in a real browser.

Debian's chromium driven by Playwright against the real app and real face models: the photo's
faces appear as numbered boxes on its preview, a click chooses one, the enrolment is confirmed
on her page, and removing her asks for her name typed out. Screenshots at 1366x768 and 390x844
go to artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_web_browser import ARTIFACTS, CHROMIUM
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve

GROUP_PHOTO = Path("/work/shared/data/faces/groups/2008_002506.jpg")  # three faces, all large enough
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.mark.parametrize("device", VIEWPORTS)
def test_enrol_from_a_group_photo_then_remove_her(ws, browser, device):
    add_role_users(ws)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serve(ws) as base:
        context = browser.new_context(locale="ko-KR", viewport=VIEWPORTS[device])
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{base}/cases")
        page.fill("input[name=name]", ROLE_USERS["caseworker"])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/cases")
        page.fill("input[name=title]", "2026-0101")
        page.click("text=사건 만들기")
        page.wait_for_url(re.compile(r"/cases/\d+$"))
        case_url = page.url

        form = page.locator("form.enrol-form")
        form.locator("input[name=name]").fill("민지")
        form.locator("input[name=consented_by]").fill("민지 보호자")
        form.locator("input[name=scope_keep_reference_crops]").check()
        form.locator("input[name=photos]").set_input_files(str(GROUP_PHOTO))
        boxes = page.locator(".face-box")
        boxes.nth(2).wait_for(timeout=120_000)
        assert boxes.count() == 3
        assert "얼굴이 여러 개 있습니다" in page.locator(".face-picker .status").inner_text()

        form.locator("button[type=submit]").click()  # no face chosen yet: the form stays, saying so
        assert page.url == case_url
        page.locator(".face-picker").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"enrol-faces-ko-{device}.png"))
        boxes.nth(1).click()
        assert boxes.nth(1).get_attribute("aria-pressed") == "true"
        assert "2번 얼굴을 골랐습니다" in page.locator(".face-picker .status").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"enrol-face-chosen-ko-{device}.png"))

        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/subjects/\d+\?enrolled=1$"), timeout=120_000)
        assert "민지 님을 등록했습니다" in page.locator("p.success").inner_text()
        reference = page.locator("img.reference-face")
        reference.wait_for()
        assert page.evaluate("img => img.complete && img.naturalWidth > 0", reference.element_handle())
        assert "민지 보호자" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / f"subject-ko-{device}.png"), full_page=True)

        page.fill("input[name=confirm]", "민")
        page.click("button:has-text('얼굴 데이터')")
        assert "대상의 이름을 정확히 입력하세요" in page.locator("p.alert").inner_text()
        page.fill("input[name=confirm]", "민지")
        page.click("button:has-text('얼굴 데이터')")
        page.wait_for_url(re.compile(r"/subjects/\d+\?removed=1$"))
        assert "얼굴 데이터가 지워졌습니다" in page.locator("p.success").inner_text()
        assert "참조 얼굴은 얼굴 데이터와 함께 삭제되었습니다" in page.inner_text("main")
        assert page.locator("input[name=confirm]").count() == 0
        page.screenshot(path=str(ARTIFACTS / f"subject-removed-ko-{device}.png"), full_page=True)
        page.goto(case_url)
        assert page.locator("tr.removed").count() == 1
        context.close()
    # The refused removal answers 400 by design (the browser logs it); nothing else may fail.
    assert [e for e in errors if "status of 400" not in e] == []
    assert len(errors) <= 1
