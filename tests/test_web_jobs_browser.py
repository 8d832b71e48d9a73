"""Scans and evidence packages as jobs, in a real browser (Debian's chromium), in Korean.

Upload the demo Telegram export with the upload's own progress bar, watch the scan's phase,
count and time left while a worker process runs it, confirm two items, build the signed
evidence package, download it, and verify it on the verify page. Screenshots at 1366x768
and 390x844 go to artifacts/.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from jikimi.core import Actor, Jikimi
from jikimi.demo.sample_export import build_sample_export
from test_web_browser import ARGS, ARTIFACTS, CHROMIUM
from test_web_flow import zip_folder
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}


def log_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_scan_and_evidence_package_in_korean(ws, tmp_path):
    add_role_users(ws)
    sample = build_sample_export(tmp_path / "sample")
    jk = Jikimi(ws)
    jk.banks.create(Actor.cli(), "known")
    jk.banks.add_files(Actor.cli(), "known", sorted(sample.known_dir.iterdir()))
    export_zip = tmp_path / "텔레그램 내보내기 2026-11.zip"
    export_zip.write_bytes(zip_folder(sample.export_dir))
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    with sync_api.sync_playwright() as playwright, serve(ws) as base:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(locale="ko-KR", viewport=LAPTOP, accept_downloads=True)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        log_in(page, base, ROLE_USERS["caseworker"])

        page.goto(f"{base}/cases")
        page.fill("input[name=title]", "2026-0099")
        page.click("text=사건 만들기")
        page.wait_for_url(re.compile(r"/cases/\d+$"))
        case_url = page.url

        page.click("text=검사 시작")
        page.set_input_files("input[name=file]", str(export_zip))
        page.click("button:has-text('검사 시작')")
        page.wait_for_selector(".upload-progress:not([hidden]) progress")  # the upload's own bar
        page.wait_for_url(re.compile(r"/scans/\d+$"))
        scan_url = page.url
        assert "텔레그램 내보내기 2026-11.zip" in page.locator(".source-name").inner_text()
        page.wait_for_function(
            "() => /\\d+ \\/ \\d+/.test((document.querySelector('.job-progress .count') || {}).textContent || '')",
            timeout=300_000)
        assert page.locator(".job-progress .phase").inner_text() in ("해시 계산 및 대조 중", "파일을 증거 보관소로 모으는 중")
        page.wait_for_function("() => /남음/.test(document.querySelector('.job-progress .eta').textContent)",
                               timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "jobs-scan-progress-ko-1366.png"))
        page.wait_for_selector(".status-complete", timeout=300_000)  # the page reloads when the job ends

        page.goto(f"{base}/review")
        for _ in range(2):
            page.wait_for_selector("#item")
            current = page.locator("#item").get_attribute("data-item")
            page.keyboard.press("c")  # confirm, by its shortcut
            page.wait_for_function(f"() => !document.querySelector('#item') || "
                                   f"document.querySelector('#item').dataset.item !== '{current}'")

        page.goto(case_url)
        page.click("text=증거 패키지")
        assert page.locator("input[type=checkbox]:checked").count() == 2
        page.screenshot(path=str(ARTIFACTS / "jobs-evidence-form-ko-1366.png"), full_page=True)
        page.click("button:has-text('패키지 만들기')")
        page.wait_for_url(re.compile(r"/jobs/\d+$"))
        page.wait_for_selector("text=패키지 내려받기", timeout=300_000)
        page.screenshot(path=str(ARTIFACTS / "jobs-evidence-ready-ko-1366.png"), full_page=True)
        with page.expect_download() as download_info:
            page.click("text=패키지 내려받기")
        package = tmp_path / "package.zip"
        download_info.value.save_as(package)
        assert zipfile.is_zipfile(package)
        job_url = page.url

        page.goto(f"{base}/evidence/verify")
        page.set_input_files("input[name=file]", str(package))
        page.click("button:has-text('검증')")
        page.wait_for_selector(".verify-result")
        result = page.locator(".verify-result").inner_text()
        assert "온전함" in result and "이 작업공간의 키로 서명되었습니다" in result
        page.screenshot(path=str(ARTIFACTS / "jobs-verify-ko-1366.png"), full_page=True)

        phone = browser.new_context(locale="ko-KR", viewport=PHONE, is_mobile=True)
        small = phone.new_page()
        small.on("pageerror", lambda e: errors.append(str(e)))
        log_in(small, base, ROLE_USERS["caseworker"])
        for name, url in (("scan", scan_url), ("job", job_url), ("scans", f"{base}/scans"),
                          ("evidence", case_url + "/evidence")):
            small.goto(url)
            small.screenshot(path=str(ARTIFACTS / f"jobs-{name}-ko-390.png"), full_page=True)
            width = small.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, (name, width)  # nothing wider than the phone
        small.goto(f"{base}/evidence/verify")
        small.set_input_files("input[name=file]", str(package))
        small.click("button:has-text('검증')")
        small.wait_for_selector(".verify-result")
        small.screenshot(path=str(ARTIFACTS / "jobs-verify-ko-390.png"), full_page=True)
        phone.close()
        context.close()
        browser.close()
    assert errors == []  # no CSP violation, no script error
