"""The flow a case worker does, in a real browser (Debian's chromium, driven by Playwright).

Log in, open a case, enrol a subject from a portrait, upload the demo export and scan it,
open the review queue, reveal one item, confirm it, and see the decision and the custody
log entry. Screenshots of the review queue in Korean and English go to artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import picture, save_jpeg
from jikimi.demo.sample_export import build_sample_export
from test_web_flow import portraits_zip, zip_folder
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def test_case_worker_flow_in_korean(ws, tmp_path, browser):
    add_role_users(ws)
    sample = build_sample_export(tmp_path / "sample")
    export_zip = tmp_path / "export.zip"
    export_zip.write_bytes(zip_folder(sample.export_dir))
    posted_zip = tmp_path / "posted.zip"
    posted_zip.write_bytes(portraits_zip())
    portrait = save_jpeg(picture("astronaut"), tmp_path / "portrait.jpg")
    known = sorted(str(p) for p in sample.known_dir.iterdir())
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    with serve(ws) as base:
        context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{base}/cases")
        assert "/login" in page.url
        page.fill("input[name=name]", ROLE_USERS["caseworker"])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/cases")
        assert page.locator("html").get_attribute("lang") == "ko"

        page.fill("input[name=title]", "2026-0042")
        page.click("text=사건 만들기")
        page.wait_for_url(re.compile(r"/cases/\d+$"))
        case_url = page.url

        page.fill("input[name=name]", "보호 대상자 A")
        page.set_input_files("input[name=photos]", str(portrait))
        page.set_input_files("input[name=known]", known)
        page.fill("input[name=consented_by]", "보호 대상자 A 본인")
        page.check("input[name=scope_known_image_hashes]")
        page.click("button:has-text('등록')")
        page.wait_for_url(re.compile(r"/subjects/\d+\?enrolled=1$"))  # her page, with the enrolment confirmed
        assert page.locator("text=보호 대상자 A 본인").count() == 1
        page.goto(case_url)

        for archive in (export_zip, posted_zip):
            page.click("text=검사 시작")  # the case page's link, with the case chosen
            page.set_input_files("input[name=file]", str(archive))
            page.click("button:has-text('검사 시작')")
            page.wait_for_url(re.compile(r"/scans/\d+$"))
            page.wait_for_selector(".status-complete", timeout=300_000)  # the page refreshes itself
            page.goto(case_url)

        page.goto(f"{base}/review")
        page.wait_for_selector("#item")
        item_id = page.locator("#item").get_attribute("data-item")
        assert page.locator(".evidence img.blurred").count() == 1
        assert "gray" in page.locator("body").get_attribute("class")
        page.screenshot(path=str(ARTIFACTS / "review-queue-ko.png"), full_page=True)
        page.goto(f"{base}/review?lang=en")
        page.screenshot(path=str(ARTIFACTS / "review-queue-en.png"), full_page=True)
        page.goto(f"{base}/review?lang=ko")

        page.keyboard.press("r")  # reveal, by its shortcut
        page.wait_for_selector(".evidence .original")
        assert page.locator(".evidence img.original").evaluate("img => img.complete && img.naturalWidth > 0")
        page.screenshot(path=str(ARTIFACTS / "review-revealed-ko.png"), full_page=True)

        page.fill("input[name=note]", "본인 사진을 변형함")
        page.click("button[value=confirm]")
        page.wait_for_selector("#item, .empty")
        assert page.locator("#item").get_attribute("data-item") != item_id  # the next item, at once

        page.goto(case_url)
        decision = page.locator("tr.decision", has_text=f"#{item_id}")
        assert decision.locator(".verdict-confirm").inner_text() == "피해물 확인"
        assert "본인 사진을 변형함" in decision.inner_text()
        assert page.locator("tr.audit-reveal", has_text=f"item:{item_id}").count() == 1
        assert page.locator("tr.audit-decision", has_text=f"item:{item_id}").count() == 1
        page.screenshot(path=str(ARTIFACTS / "case-ko.png"), full_page=True)
        context.close()
    assert errors == []  # no CSP violation, no script error
