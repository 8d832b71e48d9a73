"""Review in a real browser (Debian's chromium, driven by Playwright), in Korean and English:
shortcuts, a decision and its undo, re-blur after a reveal, bulk decisions on the table, the
custody log filter, and the phone layout (decision buttons on the first screen, table headers
at most two lines). Screenshots at 1366x768 and 390x844 go to artifacts/."""

from __future__ import annotations

import pytest

from jikimi.core import Actor, Jikimi
from test_web_browser import ARTIFACTS, CHROMIUM
from test_web_review_lists import build_world
from test_web_support import PASSWORD, ROLE_USERS, serve

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")

DESKTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}
WORDS = {
    "ko": {"confirm": "피해물 확인", "undone": "되돌렸습니다", "very_similar": "매우 유사", "not_abusive": "피해물 아님",
           "decided": "처리함: 10건", "filter": "적용", "decision_action": "판정", "reveal_action": "원본 보기",
           "tier": "본인 얼굴"},
    "en": {"confirm": "Confirm", "undone": "undone", "very_similar": "Very similar", "not_abusive": "Not abusive",
           "decided": "Decided: 10.", "filter": "Filter", "decision_action": "decided",
           "reveal_action": "revealed an original", "tier": "Her face"},
}
# Tall table headers: more than two lines of text (Korean broken inside a word stacks syllables).
TALLEST_TH = """() => Math.max(0, ...[...document.querySelectorAll('th')].filter(th => th.offsetParent).map(th => {
  const style = getComputedStyle(th);
  const lines = (th.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom))
                / parseFloat(style.lineHeight);
  return lines;
}))"""


def log_in(context, base: str, name: str, lang: str):
    page = context.new_page()
    page.goto(f"{base}/login?lang={lang}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_review_bulk_undo_shortcuts_audit_and_phone(ws, browser, lang):
    ids = build_world(ws)
    Jikimi(ws).settings.set_review(Actor.cli(), {"reblur_seconds": 5})
    words = WORDS[lang]
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serve(ws) as base:
        context = browser.new_context(locale=f"{lang}-KR" if lang == "ko" else "en-US", viewport=DESKTOP)
        page = log_in(context, base, ROLE_USERS["reviewer"], lang)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{base}/review")
        first = page.locator("#item").get_attribute("data-item")
        assert first == str(ids["face"][-1])
        assert page.locator(".likeness").first.inner_text() == words["very_similar"]
        assert page.locator(".decide-panel .tier").inner_text() == words["tier"]
        assert page.locator("#shortcuts kbd").count() >= 8 and page.locator(".face.reference img").count() == 1
        assert page.locator(".face.reference img").evaluate("img => img.complete && img.naturalWidth > 0")
        assert "gray" in page.locator("body").get_attribute("class")
        assert page.locator(".face img").first.evaluate("img => getComputedStyle(img).filter") == "grayscale(1)"
        page.wait_for_selector(".wellbeing .timer:not([hidden])")
        page.screenshot(path=str(ARTIFACTS / f"review-{lang}-1366.png"))

        page.keyboard.press("r")  # reveal; the original blurs again after the admin's 5 seconds
        page.wait_for_selector(".evidence .original")
        assert page.locator(".evidence img.original").evaluate("img => img.complete && img.naturalWidth > 0")
        page.wait_for_selector(".evidence .original.reblurred", timeout=15_000)
        page.click(".show-again")
        assert "reblurred" not in page.locator(".evidence .original").get_attribute("class")

        page.keyboard.press("c")  # confirm by its key: the next item comes, with a confirmation and undo
        page.wait_for_selector("#decided")
        assert words["confirm"] in page.locator("#decided").inner_text()
        assert page.locator("#item").get_attribute("data-item") != first
        page.screenshot(path=str(ARTIFACTS / f"review-decided-{lang}-1366.png"))
        page.keyboard.press("z")
        page.wait_for_selector("#undone")
        assert words["undone"] in page.locator("#undone").inner_text()
        assert page.locator("#item").get_attribute("data-item") == first  # it waits again

        page.keyboard.press("t")  # the table: sexual content alone, all selected, one decision
        page.wait_for_url(f"{base}/review/table")
        page.select_option("select[name=tier]", "1")
        page.click(f".filter-bar button:has-text('{words['filter']}')")
        page.wait_for_url(lambda url: "tier=1" in url)
        assert page.locator("input[name=items]").count() == len(ids["sexual"])
        page.check("#select-all")
        page.screenshot(path=str(ARTIFACTS / f"review-table-{lang}-1366.png"))
        page.click(".bulk-actions button[value=not_abusive]")
        page.wait_for_selector("#bulk-outcome")
        assert words["decided"] in page.locator("#bulk-outcome").inner_text()
        assert page.locator("input[name=items]").count() == 0

        page.goto(f"{base}/audit")  # the custody log, filtered to her decisions
        page.fill("input[name=actor]", ROLE_USERS["reviewer"])
        page.select_option("select[name=action]", "decision")
        page.click(f".filter-bar button:has-text('{words['filter']}')")
        page.wait_for_url(lambda url: "action=decision" in url)
        rows = page.locator("table.audit tbody tr")
        assert rows.count() == len(ids["sexual"]) + 1  # ten bulk decisions and the undone confirmation
        assert all(words["decision_action"] in text for text in rows.all_inner_texts())
        assert page.locator("table.audit td strong").first.inner_text().endswith(".jpg · 딥페이크 방") or \
            "HYPERLINK" in page.locator("table.audit td strong").first.inner_text()
        page.click("#verify")
        page.wait_for_selector(".verify-row .alert.ok")
        page.screenshot(path=str(ARTIFACTS / f"audit-{lang}-1366.png"))
        assert page.evaluate(TALLEST_TH) <= 2
        context.close()

        phone = browser.new_context(locale=f"{lang}-KR" if lang == "ko" else "en-US", viewport=PHONE,
                                    is_mobile=True, has_touch=True, device_scale_factor=2)
        page = log_in(phone, base, ROLE_USERS["reviewer"], lang)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/review")
        page.wait_for_selector("#item")
        for button in page.locator(".verdicts button").all():
            box = button.bounding_box()
            assert box["y"] + box["height"] <= PHONE["height"], "a decision button is below the first screen"
        header = page.locator("header.top").bounding_box()
        assert header["height"] <= 100
        page.screenshot(path=str(ARTIFACTS / f"review-{lang}-390.png"))
        for path, name in (("/review/table", "review-table"), ("/audit", "audit"), ("/decisions", "decisions"),
                           ("/cases", "cases")):
            page.goto(f"{base}{path}")
            assert page.evaluate(TALLEST_TH) <= 2, path
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path  # no sideways scroll
            page.screenshot(path=str(ARTIFACTS / f"{name}-{lang}-390.png"), full_page=True)
        phone.close()
    assert errors == []
