"""User management in a real browser, in Korean: an admin adds a user, disables her (her open
session ends at once), enables her and resets her password; she logs in with the temporary
password and must choose a new one. Screenshots at 1366x768 and 390x844 go to artifacts/."""

from __future__ import annotations

import re

import pytest

from test_web_browser import ARGS, ARTIFACTS, CHROMIUM, sync_api
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve

pytestmark = pytest.mark.skipif(sync_api is None, reason="playwright is not installed")
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
MINA_PASSWORD = "lantern orchard quietly 7 rivers"
MINA_NEW_PASSWORD = "copper kettle whistles at dawn"


def log_in(page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_admin_manages_a_user_in_korean(ws, size):
    add_role_users(ws)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serve(ws) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        admin = browser.new_context(locale="ko-KR", viewport=VIEWPORTS[size]).new_page()
        admin.on("pageerror", lambda e: errors.append(str(e)))
        # The refused weak password answers 400 on purpose; any other console error is a fault.
        admin.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 400" not in m.text
                 else None)
        log_in(admin, base, ROLE_USERS["admin"], PASSWORD)
        admin.goto(f"{base}/admin")
        assert admin.locator("select[name=role] option:checked").first.inner_text() == "열람자"  # least privileged

        admin.fill("input[name=name]", "미나")
        admin.fill("input[name=password]", "aaaaaaaaaa")
        admin.click("button:has-text('사용자 추가')")
        assert admin.locator(".alert", has_text="너무 쉽게 추측할 수 있는 비밀번호").count() == 1
        assert admin.input_value("input[name=name]") == "미나"  # what was typed is kept
        admin.screenshot(path=str(ARTIFACTS / f"admin-weak-password-ko-{size}.png"), full_page=True)
        admin.fill("input[name=password]", MINA_PASSWORD)
        admin.click("button:has-text('사용자 추가')")
        admin.wait_for_url(re.compile(r"/admin/users/\d+$"))
        user_url = admin.url

        mina_context = browser.new_context(locale="ko-KR", viewport=VIEWPORTS[size])
        mina = mina_context.new_page()
        log_in(mina, base, "미나", MINA_PASSWORD)
        mina.wait_for_url(f"{base}/")

        admin.click("button:has-text('비활성화')")
        admin.wait_for_url(user_url)
        assert admin.locator(".state-disabled").inner_text() == "비활성화됨"
        mina.goto(f"{base}/cases")
        assert "/login" in mina.url  # her session ended at once

        admin.click("button:has-text('활성화')")
        admin.wait_for_url(user_url)
        admin.click("button:has-text('비밀번호 재설정')")
        temporary = admin.locator("code.token").inner_text()
        assert len(temporary) >= 16
        admin.screenshot(path=str(ARTIFACTS / f"admin-user-reset-ko-{size}.png"), full_page=True)
        admin.goto(f"{base}/admin")
        admin.screenshot(path=str(ARTIFACTS / f"admin-users-ko-{size}.png"), full_page=True)

        log_in(mina, base, "미나", temporary)
        mina.wait_for_url(f"{base}/account")
        assert mina.locator(".alert", has_text="임시 비밀번호로 로그인했습니다").count() == 1
        mina.goto(f"{base}/cases")
        assert mina.url == f"{base}/account"  # nothing else opens until she chooses a password
        mina.screenshot(path=str(ARTIFACTS / f"account-temporary-password-ko-{size}.png"), full_page=True)
        mina.fill("input[name=current]", temporary)
        mina.fill("input[name=new]", MINA_NEW_PASSWORD)
        mina.click("button:has-text('비밀번호 바꾸기')")
        mina.wait_for_url(f"{base}/account?changed=1")
        assert mina.locator(".alert.ok", has_text="비밀번호가 바뀌었습니다").count() == 1
        mina.goto(f"{base}/cases")
        assert mina.url == f"{base}/cases"
        browser.close()
    assert errors == []
