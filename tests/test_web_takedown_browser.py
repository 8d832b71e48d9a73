"""Takedown in a real browser, in Korean (Debian's chromium, driven by Playwright).

An admin sets the mail server; a case worker adds a host that reads Korean, drafts a notice
to it from the case's confirmed items, edits the text, sends it to a local SMTP server
(aiosmtpd), marks it removed and opens the statistics. Screenshots at 1366x768 and 390x844
go to artifacts/.
"""

from __future__ import annotations

import re

import pytest

from jikimi.core import Actor, Jikimi
from test_evidence import reviewed_case
from test_web_browser import ARTIFACTS, CHROMIUM
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve
from test_web_takedown import smtp_server  # noqa: F401 (a fixture)

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}


def open_page(browser, base: str, user: str, viewport: dict, errors: list[str]):
    context = browser.new_context(locale="ko-KR", viewport=viewport)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_takedown_in_korean(ws, tmp_path, browser, smtp_server, monkeypatch):  # noqa: F811
    for key in ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "SENDER"):
        monkeypatch.delenv(f"JIKIMI_SMTP_{key}", raising=False)
    port, received = smtp_server
    add_role_users(ws)
    case_id, item_ids = reviewed_case(ws, tmp_path)
    Jikimi(ws).cases.add_member(Actor.cli(), case_id, ROLE_USERS["caseworker"], "caseworker")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    with serve(ws) as base:
        context, page = open_page(browser, base, ROLE_USERS["admin"], LAPTOP, errors)
        page.click("header nav >> text=삭제 요청")
        page.click("text=메일 서버 설정하기")
        page.fill("input[name=host]", "127.0.0.1")
        page.fill("input[name=port]", str(port))
        page.select_option("select[name=security]", "none")
        page.fill("input[name=sender]", "상담팀 <cases@centre.example>")
        page.click("button:has-text('저장')")
        page.wait_for_selector("text=설정됨: 요청서를 127.0.0.1 서버로 보냅니다.")
        shot(page, "takedown-smtp-ko-1366")
        context.close()

        context, page = open_page(browser, base, ROLE_USERS["caseworker"], LAPTOP, errors)
        page.goto(f"{base}/takedown/hosts")
        page.fill("input[name=name]", "example-hosting")
        form = page.locator("form.add-host")
        form.locator("input[name=email]").fill("abuse@example.org")
        form.locator("input[name=languages][value=en]").uncheck()
        form.locator("input[name=languages][value=ko]").check()
        form.locator("button[type=submit]").click()
        page.wait_for_selector("section.host >> text=abuse@example.org")
        shot(page, "takedown-hosts-ko-1366")

        page.goto(f"{base}/cases/{case_id}")
        page.click("text=플랫폼·기관에 보낸 요청서, 처리 상태, 오늘 보낼 것")
        page.wait_for_url(f"{base}/cases/{case_id}/takedown")
        assert page.locator("input[name=items]:checked").count() == len(item_ids)
        page.select_option("select[name=host]", "telegram")
        page.select_option("select[name=language]", "ko")
        page.click("button:has-text('초안 작성')")
        page.wait_for_selector(".warn-language")  # Telegram reads English: the case worker is told
        shot(page, "takedown-language-warning-ko-1366")

        page.goto(f"{base}/cases/{case_id}/takedown")
        page.select_option("select[name=host]", "example-hosting")
        page.click("button:has-text('초안 작성')")
        page.wait_for_url(re.compile(r"/takedown/notices/\d+$"))
        notice_url = page.url
        assert page.locator(".warn-language").count() == 0
        body = page.locator("textarea[name=body]").input_value()
        assert "삭제 요청" in page.locator("input[name=subject]").input_value() and "SHA-256" in body
        page.fill("textarea[name=body]", body.replace("담당자님께,", "담당자님께,\n\n오늘 중으로 확인 부탁드립니다."))
        page.click("button:has-text('본문 저장')")
        page.wait_for_url(notice_url)
        assert "오늘 중으로 확인 부탁드립니다." in page.locator("textarea[name=body]").input_value()
        shot(page, "takedown-notice-draft-ko-1366")

        page.click("button.send")
        page.wait_for_selector("h1 .notice-sent")
        assert len(received) == 1 and received[0]["To"] == "abuse@example.org"
        assert "오늘 중으로 확인 부탁드립니다." in received[0].get_payload(decode=True).decode("utf-8")
        page.fill("input[name=note]", "게시물 삭제 확인")
        page.click("button.mark-removed")
        page.wait_for_selector("h1 .notice-removed")
        assert page.locator("tr.history-notice_removed", has_text="게시물 삭제 확인").count() == 1
        assert page.locator("tr.history-notice_sent", has_text=ROLE_USERS["caseworker"]).count() == 1
        assert "KST" in page.locator("table.history").inner_text()
        shot(page, "takedown-notice-removed-ko-1366")

        page.click("header nav >> text=삭제 요청")
        page.click("nav.subnav >> text=통계")
        page.wait_for_url(f"{base}/takedown/stats")
        row = page.locator("li.chart-row", has_text="example-hosting").first
        assert "100%" in row.inner_text()
        assert row.locator("rect.fill").get_attribute("width") == "100.0"
        shot(page, "takedown-stats-ko-1366")
        page.goto(f"{base}/takedown")
        shot(page, "takedown-due-ko-1366")
        context.close()

        context, page = open_page(browser, base, ROLE_USERS["caseworker"], PHONE, errors)
        for path, name in ((notice_url.removeprefix(base), "takedown-notice-ko-390"),
                           (f"/cases/{case_id}/takedown", "takedown-case-ko-390"),
                           ("/takedown/stats", "takedown-stats-ko-390"), ("/takedown", "takedown-due-ko-390")):
            page.goto(base + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sideways
            shot(page, name)
        context.close()
    assert errors == []  # no CSP violation, no script error
