"""The whole job of a case worker in a real browser, in Korean and in English.

Debian's chromium driven by Playwright against the real app over real HTTP, a real `jikimi
worker` process, real face models and real SQLite; only the user accounts are made outside
the browser. A case worker logs in, opens a case, adds a reviewer to it, enrols the subject by
clicking her face in a group photo (public-domain portraits side by side) with the images she
already holds, and scans the demo Telegram export. The server and its worker stop in the
middle of the scan, as a machine restart would; on the restarted server the scan is still
there, and goes on after Resume when it was cut short. The reviewer confirms her face matches
with one bulk decision on the queue's table; a second scan of the same export brings no item
back into the queue. The case worker builds the evidence package, downloads it and verifies it
on the verify page, drafts a takedown notice, sends it to a local SMTP server (aiosmtpd),
marks it removed and opens the statistics. Screenshots at 1366x768 and 390x844 go to
artifacts/whole_job/<lang>/.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import save_jpeg
from jikimi.demo.sample_export import (SUBJECT_PHOTO, build_sample_export, bystander_image, group_picture,
                                       shapes_scene)
from test_web_browser import ARTIFACTS, CHROMIUM
from test_web_flow import zip_folder
from test_web_korean import assert_korean, english_only_strings
from test_web_support import PASSWORD, ROLE_USERS, add_role_users, serve, worker
from test_web_takedown import smtp_server  # noqa: F401 (a fixture)

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}
LOCALES = {"ko": "ko-KR", "en": "en-US"}
SCAN_SECONDS = 300
WORDS = {
    "ko": {"several": "얼굴이 여러 개 있습니다", "enrolled": "님을 등록했습니다", "decided": "처리함:",
           "intact": "온전함", "this_key": "이 작업공간의 키로 서명되었습니다", "already": "이미 확인됨"},
    "en": {"several": "Several faces", "enrolled": "is enrolled", "decided": "Decided:",
           "intact": "Intact", "this_key": "Signed by this workspace's key", "already": "already confirmed"},
}
# The progress script's map from the worker's phase codes (English words) to translated phases.
PHASE_CODES = re.compile(r'data-phases="[^"]*"')
WIDER = """width => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1)
  .slice(-3).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 60))"""
HER_FACE_TIER = "3"  # triage.SUBJECT: her face matched, no sexual content (the demo holds none)
KNOWN_FILE_TIER = "2"  # triage.HASH: a copy of an image she already holds


def group_photo(sample, path: Path) -> Path:
    """The demo subject's portrait next to Grace Hopper's and a drawn scene (all public domain)."""
    with Image.open(sample.subject_dir / SUBJECT_PHOTO) as portrait:
        scene = shapes_scene((640, 800), np.random.default_rng(11))
        return save_jpeg(group_picture(portrait.convert("RGB"), bystander_image(), scene), path)


class Browser:
    """One person's browser window: log in, take screenshots, read the app's JSON as that person."""

    def __init__(self, browser, lang: str, viewport: dict, errors: list[str], shots: Path):
        self.lang, self.shots, self.errors = lang, shots, errors
        self.context = browser.new_context(locale=LOCALES[lang], viewport=viewport, accept_downloads=True,
                                           is_mobile=viewport == PHONE)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: errors.append(str(e)))
        self.width = viewport["width"]

    def log_in(self, base: str, name: str) -> None:
        self.page.goto(f"{base}/login?lang={self.lang}")
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/")
        assert self.page.locator("html").get_attribute("lang") == self.lang

    def shot(self, name: str, english: list[str] | None = None) -> None:
        """A full-page screenshot; on a Korean page, no English sentence of the catalog."""
        self.page.screenshot(path=str(self.shots / f"{name}-{self.width}.png"), full_page=True)
        if self.lang == "ko" and english is not None:
            html = PHASE_CODES.sub("", self.page.content())
            assert_korean(html, f"{name} ({self.page.url})", english)
        if self.page.evaluate("document.documentElement.scrollWidth") > self.width + 1:  # no sideways scroll
            raise AssertionError(f"{name} is wider than the screen: {self.page.evaluate(WIDER, self.width)}")

    def scan_status(self, base: str, scan_id: str) -> str:
        """The scan's job status when the web started it (queued, running...), else the scan's own."""
        scan = self.page.request.get(f"{base}/api/scans/{scan_id}").json()["scan"]
        return (scan.get("progress") or {}).get("status") or scan["status"]

    def close(self) -> None:
        self.context.close()


def wait_until(page, check, what: str, seconds: float = SCAN_SECONDS):
    """Poll `check()` (a read, never an action) until it answers something true."""
    for _ in range(int(seconds * 5)):
        value = check()
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def queue(page, base: str, case_id: str, tier: str = "") -> tuple[list[str], int]:
    """The case's items waiting in the review queue's table, as its filter bar shows them: the ids on
    the first page (of the tier, when given) and how many rows the pager counts."""
    page.goto(f"{base}/review/table")
    page.fill(".filter-bar input[name=case]", case_id)
    page.select_option(".filter-bar select[name=tier]", tier)
    page.click(".filter-bar button[type=submit]")
    page.wait_for_url(re.compile(r"/review/table\?.*case="))
    ids = page.locator("table.queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.item)")
    total = re.search(r"\d+", page.locator("nav.pager .muted").inner_text())
    return ids, int(total.group()) if total else 0


def upload_scan(page, case_url: str, export_zip: Path) -> str:
    """From the case page: Start a scan, choose the export, start; the scan's page opens."""
    page.goto(case_url)
    page.click("a.button[href^='/scans?case=']")
    page.set_input_files("form[action='/scans'] input[name=file]", str(export_zip))
    page.click("form[action='/scans'] button[type=submit]")
    page.wait_for_url(re.compile(r"/scans/\d+$"))
    return page.url.rsplit("/", 1)[1]


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_whole_job_in_the_browser(ws, tmp_path, browser, smtp_server, monkeypatch, lang):  # noqa: F811
    for key in ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "SENDER"):
        monkeypatch.delenv(f"JIKIMI_SMTP_{key}", raising=False)
    smtp_port, received = smtp_server
    words = WORDS[lang]
    english = english_only_strings() if lang == "ko" else None
    shots = ARTIFACTS / "whole_job" / lang
    shots.mkdir(parents=True, exist_ok=True)
    add_role_users(ws)  # the only step outside the browser: the accounts
    sample = build_sample_export(tmp_path / "sample")
    export_zip = tmp_path / ("텔레그램 내보내기.zip" if lang == "ko" else "telegram export.zip")
    export_zip.write_bytes(zip_folder(sample.export_dir))
    photo = group_photo(sample, tmp_path / "group.jpg")
    known = [str(p) for p in sorted(sample.known_dir.iterdir())]
    errors: list[str] = []

    # Before the restart: the server and its worker, as `jikimi serve` runs them.
    with worker(ws), serve(ws, with_worker=False) as base:
        admin = Browser(browser, lang, LAPTOP, errors, shots)
        admin.log_in(base, ROLE_USERS["admin"])
        admin.page.click("header nav a[href='/takedown']")
        admin.page.click("nav.subnav a[href='/takedown/smtp']")
        admin.page.fill("input[name=host]", "127.0.0.1")
        admin.page.fill("input[name=port]", str(smtp_port))
        admin.page.select_option("select[name=security]", "none")
        admin.page.fill("input[name=sender]", "상담팀 <cases@centre.example>")
        admin.page.click("form.smtp button[type=submit]")
        admin.page.wait_for_selector("text=127.0.0.1")
        admin.close()

        cora = Browser(browser, lang, LAPTOP, errors, shots)
        page = cora.page
        cora.log_in(base, ROLE_USERS["caseworker"])
        page.click("header nav a[href='/cases']")
        page.fill("form[action='/cases'] input[name=title]", "2026-0123")
        page.click("form[action='/cases'] button[type=submit]")
        page.wait_for_url(re.compile(r"/cases/\d+$"))
        case_path = page.url.removeprefix(base)
        case_id = case_path.rsplit("/", 1)[1]

        members = page.locator(f"form[action='/cases/{case_id}/members']")
        members.locator("input[name=user]").fill(ROLE_USERS["reviewer"])
        members.locator("select[name=role]").select_option("reviewer")
        members.locator("button[type=submit]").click()
        page.wait_for_selector(f"td:text-is('{ROLE_USERS['reviewer']}')")

        form = page.locator("form.enrol-form")
        form.locator("input[name=name]").fill("민지" if lang == "ko" else "Minji")
        form.locator("input[name=consented_by]").fill("민지 보호자" if lang == "ko" else "Minji's guardian")
        form.locator("input[name=scope_keep_reference_crops]").check()
        form.locator("input[name=scope_known_image_hashes]").check()
        form.locator("input[name=known]").set_input_files(known)
        form.locator("input[name=photos]").set_input_files(str(photo))
        boxes = page.locator(".face-box:not([disabled])")
        boxes.nth(1).wait_for(timeout=120_000)  # her face and Grace Hopper's, at least
        assert words["several"] in page.locator(".face-picker .status").inner_text()
        frame, shown = (page.locator(f".face-picker .frame{css}").bounding_box() for css in ("", " img"))
        assert abs(frame["width"] - shown["width"]) <= 1  # the boxes, in percent of the frame, sit on the faces
        lefts = [box.bounding_box()["x"] for box in boxes.all()]
        hers = boxes.nth(lefts.index(min(lefts)))  # her portrait is the group's first panel
        hers.scroll_into_view_if_needed()
        hers.click()
        assert hers.get_attribute("aria-pressed") == "true"
        cora.shot("enrol-face-chosen", english)
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/subjects/\d+\?enrolled=1$"), timeout=120_000)
        assert words["enrolled"] in page.locator("p.success").inner_text()
        cora.shot("subject", english)

        scan_id = upload_scan(page, base + case_path, export_zip)
        assert export_zip.name in page.locator(".source-name").inner_text()
        cora.shot("scan-started", english)
        # The middle of the scan: the worker has it (running, or already done on a fast machine).
        wait_until(page, lambda: cora.scan_status(base, scan_id) in ("running", "complete"),
                   "the worker to take the scan")
    # The server and the worker stopped (SIGTERM, as when `jikimi serve` stops): a running scan
    # is recorded as interrupted, never lost.

    with serve(ws, with_worker=False) as base:
        page.goto(f"{base}/scans/{scan_id}")
        status = cora.scan_status(base, scan_id)
        assert status in ("interrupted", "complete"), status
        if status == "interrupted":
            cora.shot("scan-interrupted", english)
            page.click(f"form[action='/scans/{scan_id}/resume'] button[type=submit]")
            page.wait_for_url(f"{base}/scans/{scan_id}")
            assert cora.scan_status(base, scan_id) == "queued"
            cora.shot("scan-resumed", english)
        with worker(ws):
            page.goto(f"{base}/scans/{scan_id}")
            page.wait_for_selector(".status-complete", timeout=SCAN_SECONDS * 1000)  # the page reloads itself
            counts = [int(n) for n in page.locator(".tiles .number").all_inner_texts()]
            assert counts[0] > 100 and counts[2] >= 10, counts  # unique files, posts, matched, unreadable
            cora.shot("scan-complete", english)

            # The reviewer, a member of the case, confirms every match of her face in one decision.
            rhee = Browser(browser, lang, LAPTOP, errors, shots)
            rhee.log_in(base, ROLE_USERS["reviewer"])
            _, total = queue(rhee.page, base, case_id)
            known, known_total = queue(rhee.page, base, case_id, KNOWN_FILE_TIER)
            faces, faces_total = queue(rhee.page, base, case_id, HER_FACE_TIER)
            assert len(faces) == faces_total >= 5 and len(known) == known_total >= 5  # on one page each
            assert total >= faces_total + known_total
            rhee.page.check("#select-all")
            rhee.shot("review-table", english)
            rhee.page.click(".bulk-actions button[value=confirm]")
            rhee.page.wait_for_selector("#bulk-outcome")
            assert f"{words['decided']} {len(faces)}" in rhee.page.locator("#bulk-outcome").inner_text()
            rhee.shot("review-table-decided", english)
            assert queue(rhee.page, base, case_id, HER_FACE_TIER) == ([], 0)
            assert queue(rhee.page, base, case_id, KNOWN_FILE_TIER)[0] == known
            assert queue(rhee.page, base, case_id)[1] == total - len(faces)

            # The same export again: known posts, no new item in the queue, confirmed ones say so.
            rescan_id = upload_scan(page, base + case_path, export_zip)
            page.wait_for_selector(".status-complete", timeout=SCAN_SECONDS * 1000)
            assert page.locator("table .verdict-confirm").count() == len(faces)
            assert words["already"] in page.locator("table").first.inner_text()
            cora.shot("rescan-complete", english)
            assert queue(rhee.page, base, case_id, HER_FACE_TIER) == ([], 0)  # decided: they stay decided
            assert queue(rhee.page, base, case_id, KNOWN_FILE_TIER)[0] == known  # waiting: not twice
            assert queue(rhee.page, base, case_id)[1] == total - len(faces)
            rhee.shot("review-table-after-rescan", english)
            rhee.close()

            # The evidence package: every confirmed item, built by the worker, downloaded, verified.
            page.goto(base + case_path)
            page.click(f"a.button[href='/cases/{case_id}/evidence']")
            assert page.locator("form input[type=checkbox]:checked").count() == len(faces)
            page.select_option("select[name=lang]", lang)
            cora.shot("evidence-form", english)
            page.click(f"form[action='/cases/{case_id}/evidence'] button[type=submit]")
            page.wait_for_url(re.compile(r"/jobs/\d+$"))
            job_path = page.url.removeprefix(base)
            download_link = page.locator("a[href$='/package']")
            download_link.wait_for(timeout=SCAN_SECONDS * 1000)
            cora.shot("evidence-ready", english)
            with page.expect_download() as download:
                download_link.click()
            package = tmp_path / "package.zip"
            download.value.save_as(package)
            assert zipfile.is_zipfile(package)
            page.click("header nav a[href='/evidence/verify']")
            page.set_input_files("form[action='/evidence/verify'] input[name=file]", str(package))
            page.click("form[action='/evidence/verify'] button[type=submit]")
            page.wait_for_selector(".verify-result")
            result = page.locator(".verify-result").inner_text()
            assert words["intact"] in result and words["this_key"] in result, result
            cora.shot("verify", english)

        # Takedown: a notice to Telegram's abuse desk, in English as it reads, sent and tracked.
        page.goto(base + case_path)
        page.click(f"a.button[href='/cases/{case_id}/takedown']")
        assert page.locator("form.draft input[name=items]:checked").count() == len(faces)
        page.select_option("form.draft select[name=host]", "telegram")
        page.select_option("form.draft select[name=language]", "en")
        page.click("form.draft button[type=submit]")
        page.wait_for_url(re.compile(r"/takedown/notices/\d+$"))
        notice_path = page.url.removeprefix(base)
        assert page.locator(".warn-language").count() == 0
        body = page.locator("textarea[name=body]").input_value()
        posts = re.findall(r"Posted in: .*", body)
        assert "SHA-256" in body and len(posts) == len(set(posts)) >= len(faces)  # each post once, after two scans
        cora.shot("notice-draft", english)
        page.click("button.send")
        page.wait_for_selector("h1 .notice-sent")
        assert len(received) == 1 and received[0]["To"] == "abuse@telegram.org"
        page.fill("form.mark input[name=note]", "removed on 2026-11-30")
        page.click("button.mark-removed")
        page.wait_for_selector("h1 .notice-removed")
        cora.shot("notice-removed", english)
        page.click("header nav a[href='/takedown']")
        page.click("nav.subnav a[href='/takedown/stats']")
        page.wait_for_url(f"{base}/takedown/stats")
        assert "100%" in page.locator("li.chart-row").first.inner_text()
        cora.shot("stats", english)
        cora.close()

        # The same pages on a phone.
        phone = Browser(browser, lang, PHONE, errors, shots)
        phone.log_in(base, ROLE_USERS["caseworker"])
        for name, path in (("case", case_path), ("scan", f"/scans/{scan_id}"), ("rescan", f"/scans/{rescan_id}"),
                           ("evidence-ready", job_path), ("notice", notice_path), ("stats", "/takedown/stats"),
                           ("review-table", f"/review/table?case={case_id}")):
            phone.page.goto(base + path)
            phone.shot(name, english)
        phone.close()
    # No CSP violation, no script error; only the scan page's polls while the server was down failed.
    assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e] == []
