"""Korean everywhere: pages a Korean case worker reads carry no English sentence.

The real app over HTTP on a real scan (real face models, public-domain pictures): a face
match, a file that cannot be read, a refusal, an enrolment problem. A page fails when it
shows a string of the English catalog whose Korean differs (a missing translation, or a
message printed without going through the catalogs), or one of the sentences the issue
quoted. Also here: enrolment from a group photo over HTTP, the subject page, and removal
with her name typed to confirm.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conftest import jpeg_bytes, picture
from jikimi import clock
from jikimi.messages import LOCALE_DIR
from test_web_flow import api, portrait_jpeg, wait_for_scan
from test_web_support import ROLE_USERS, add_role_users, csrf_of, login, serve

GROUP_PHOTO = Path("/work/shared/data/faces/groups/2008_002506.jpg")  # three faces, all large enough
QUOTED = ["face matches subject", "possible match, distance", "confident match, distance", "empty file",
          "role may not do this", "faces found: choose one with --face", "exposed nudity (", "no known subject"]
MIN_FRAGMENT = 14  # shorter English fragments ("Scan 3", names) may rightly appear on a Korean page


def english_only_strings() -> list[str]:
    """Literal pieces of English catalog strings whose Korean translation differs."""
    def catalog(lang):
        with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
            return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in read_po(f) if m.id}
    ko, en = catalog("ko"), catalog("en")
    pieces = set()
    for msgid, text in en.items():
        text = text[0] if isinstance(text, tuple) else text
        korean = ko.get(msgid)
        korean = korean[0] if isinstance(korean, tuple) else korean
        if korean == text:
            continue
        for piece in re.split(r"%\(\w+\)[sdgf]|%\(\w+\)\.\d[f]", text):
            if len(piece.strip()) >= MIN_FRAGMENT:
                pieces.add(piece.strip())
    return sorted(pieces)


def visible(html: str) -> str:
    """What a reader sees or hears: text and attribute values, without scripts."""
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return html.replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&")


def assert_korean(page: str, where: str, english: list[str]) -> None:
    seen = visible(page)
    quoted = [q for q in QUOTED if q in seen]
    leaked = [e for e in english if e in seen]
    assert not quoted and not leaked, f"{where}: English on a Korean page: {quoted + leaked}"


def posted_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("posted/portrait.jpg", jpeg_bytes(picture("astronaut").resize((400, 400)), quality=70))
        archive.writestr("posted/coffee.jpg", jpeg_bytes(picture("coffee")))
        archive.writestr("posted/empty.jpg", b"")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jikimi.workspace import Workspace

    root = tmp_path_factory.mktemp("korean")
    ws = Workspace(root / "home")
    ws.init()
    add_role_users(ws)
    with serve(ws) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        case = cora.post("/api/cases", json={"title": "2026-0099"}, headers=api(cora)).json()
        cora.post(f"/api/cases/{case['id']}/members", headers=api(cora), json={"user": ROLE_USERS["reviewer"], "role": "reviewer"})
        subject = cora.post(f"/api/cases/{case['id']}/subjects", headers=api(cora), data={
            "name": "지수", "consented_by": "지수 본인", "scope_face_matching": "1", "scope_keep_reference_crops": "1"},
            files=[("photos", ("astronaut.jpg", portrait_jpeg(), "image/jpeg"))])
        assert subject.status_code == 201, subject.text
        started = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case["id"])},
                            files={"file": ("posted.zip", posted_zip(), "application/zip")})
        scan = wait_for_scan(cora, started.json()["id"])
        cora.cookies.set("jikimi_lang", "ko")
        yield {"base": base, "cora": cora, "case": case, "scan": scan, "subject": subject.json(), "ws": ws}
        cora.close()


def test_korean_pages_carry_no_english(world):
    cora, case, scan = world["cora"], world["case"], world["scan"]
    english = english_only_strings()
    assert len(english) > 100  # the check has teeth: the catalog's English sentences
    matched = scan["matched"][0]["item_id"]
    assert scan["scan"]["counts"]["errors"] >= 1 and scan["errors"]
    pages = ["/", "/cases", f"/cases/{case['id']}", "/scans", f"/scans/{scan['scan']['id']}", "/review",
             f"/review?item={matched}", f"/review?item={scan['errors'][0]['item_id']}",
             f"/subjects/{world['subject']['id']}", "/audit", "/banks", "/account", f"/cases/{case['id']}/items",
             "/audit/verify"]
    for path in pages:
        answer = cora.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        assert_korean(answer.text, path, english)
    review = visible(cora.get(f"/review?item={matched}").text)
    assert "등록된 대상 '지수'의 얼굴과" in review  # the triage reason, in Korean
    scan_page = cora.get(f"/scans/{scan['scan']['id']}").text
    assert "빈 파일" in scan_page and "KST" in scan_page  # the read error; the time with its zone


def test_the_check_catches_an_english_sentence(world):
    english = english_only_strings()
    with pytest.raises(AssertionError):
        assert_korean("<p>face matches subject '지수' (possible match, distance 0.11)</p>", "sample", english)
    with pytest.raises(AssertionError):
        assert_korean(f"<p>{english[0]}</p>", "sample", english)


def test_refusals_are_korean_on_pages_and_coded_in_the_api(world):
    rhee = login(world["base"], ROLE_USERS["reviewer"])
    rhee.cookies.set("jikimi_lang", "ko")
    refused = rhee.post(f"/cases/{world['case']['id']}/members", data={"user": "vic", "csrf_token": csrf_of(rhee)})
    assert refused.status_code == 403
    assert "역할로는 이 작업을 할 수 없습니다" in refused.text
    assert_korean(refused.text, "refusal", english_only_strings())
    by_api = rhee.post(f"/api/cases/{world['case']['id']}/members", json={"user": "vic"}, headers=api(rhee))
    body = by_api.json()
    assert by_api.status_code == 403 and body["detail"] == "the reviewer role may not do this"
    assert body["message"] == {"code": "refusal.role", "params": {"role": {"code": "role.reviewer", "params": {}}}}
    assert "검토자" in body["text"]
    rhee.close()


def test_api_keeps_code_parameters_and_english(world):
    cora, scan = world["cora"], world["scan"]
    item = cora.get(f"/api/items/{scan['matched'][0]['item_id']}").json()
    assert item["reason"].startswith("face matches subject '지수' (")
    assert item["reason_message"]["code"].startswith("reason.face.")
    assert item["reason_message"]["params"]["subject"] == "지수"


def test_enrolment_from_a_group_photo_over_http(world):
    cora, case = world["cora"], world["case"]
    group = GROUP_PHOTO.read_bytes()
    faces = cora.post(f"/api/cases/{case['id']}/subjects/faces", headers=api(cora),
                      files={"photo": ("group.jpg", group, "image/jpeg")}).json()
    assert [f["number"] for f in faces["faces"]] == [1, 2, 3] and all(f["usable"] for f in faces["faces"])
    lefts = [f["box"][0] for f in faces["faces"]]
    assert lefts == sorted(lefts)  # numbered left to right, as enrolment counts them
    form = {"name": "민지", "consented_by": "민지 보호자", "consented_at": "2026-11-29", "scope_face_matching": "1",
            "csrf_token": csrf_of(cora)}
    refused = cora.post(f"/cases/{case['id']}/subjects", data=form, files={"photos": ("group.jpg", group, "image/jpeg")})
    assert refused.status_code == 400
    assert "얼굴이 3개 있습니다" in refused.text and "--face" not in refused.text
    assert 'value="민지"' in refused.text and 'value="민지 보호자"' in refused.text and 'value="2026-11-29"' in refused.text
    enrolled = cora.post(f"/cases/{case['id']}/subjects", data={**form, "face_0": "2", "csrf_token": csrf_of(cora)},
                         files={"photos": ("group.jpg", group, "image/jpeg")})
    assert enrolled.status_code == 303 and re.fullmatch(r"/subjects/\d+\?enrolled=1", enrolled.headers["location"])
    page = cora.get(enrolled.headers["location"]).text
    assert "민지 님을 등록했습니다" in page and "보관된 참조 얼굴 없음" in page


def test_subject_page_and_removal_with_her_name_typed(world):
    cora, subject = world["cora"], world["subject"]
    page = cora.get(f"/subjects/{subject['id']}").text
    assert f'src="/media/subjects/{subject["id"]}/reference"' in page  # kept with her consent
    crop = cora.get(f"/media/subjects/{subject['id']}/reference")
    assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"
    assert "시간별 일치 항목" in page and "얼굴 템플릿 1개 (암호화됨)" in page
    wrong = cora.post(f"/subjects/{subject['id']}/remove", data={"confirm": "지", "csrf_token": csrf_of(cora)})
    assert wrong.status_code == 400 and "대상의 이름을 정확히 입력하세요" in wrong.text
    assert cora.get(f"/api/subjects/{subject['id']}").json()["subject"]["removed_at"] is None
    removed = cora.post(f"/subjects/{subject['id']}/remove", data={"confirm": "지수", "csrf_token": csrf_of(cora)})
    assert removed.status_code == 303
    after = cora.get(f"/api/subjects/{subject['id']}").json()
    assert after["subject"]["removed_at"] and after["subject"]["templates"] == 0
    assert after["timeline"]  # the matches already found stay
    log = cora.get(f"/api/audit?case={world['case']['id']}").json()["entries"]
    assert any(e["action"] == "view" and e["details"].get("what") == "reference face" for e in log)


def test_times_are_shown_in_the_workspace_zone_with_its_name(monkeypatch):
    moment = "2026-11-30T06:20:00+00:00"
    assert clock.local(moment) == "2026-11-30 15:20 KST"
    assert clock.local_and_utc(moment) == "2026-11-30 15:20:00 KST (2026-11-30 06:20:00 UTC)"
    monkeypatch.setenv(clock.ZONE_ENV, "Europe/Paris")
    assert clock.local(moment) == "2026-11-30 07:20 CET"


def test_the_verify_page_names_what_was_altered_in_korean(world, tmp_path):
    from jikimi.core import Actor, Jikimi

    cora, case = world["cora"], world["case"]
    package = Jikimi(world["ws"]).evidence.export(Actor.cli(), case["id"], [world["scan"]["matched"][0]["item_id"]],
                                                   tmp_path / "package.zip")
    flipped = bytearray(package.read_bytes())  # one byte of an original flipped: its CRC no longer agrees
    with zipfile.ZipFile(package) as archive:
        original = next(i for i in archive.infolist() if i.filename.startswith("originals/"))
        flipped[original.header_offset + 30 + len(original.filename) + len(original.extra) + original.file_size // 2] ^= 0xFF
        rewritten = io.BytesIO()  # the same original altered and the ZIP written again: CRCs agree, hashes do not
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_STORED) as copy:
            for info in archive.infolist():
                data = archive.read(info)
                copy.writestr(info.filename, data[:-1] + bytes([data[-1] ^ 0xFF]) if info is original else data)
    english = english_only_strings()
    expected = {"flipped": [f"{original.filename}: 손상되었거나 변경되어 온전히 다시 읽을 수 없습니다"],
                "rewritten": [f"{original.filename}: SHA-256이 SHA256SUMS와 일치하지 않습니다",
                              "원본이 목록에 기록된 SHA-256, MD5, 크기와 일치하지 않습니다"]}
    for name, data in (("flipped", bytes(flipped)), ("rewritten", rewritten.getvalue())):
        answer = cora.post("/evidence/verify", data={"csrf_token": csrf_of(cora, "/evidence/verify")},
                           files={"file": ("package.zip", data, "application/zip")})
        assert answer.status_code == 200
        shown = visible(answer.text)
        assert "손상됨" in shown and all(sentence in shown for sentence in expected[name]), name
        assert "CRC" not in shown  # the zip library's own words stay in the English report
        assert_korean(answer.text, f"verify ({name})", english)
    problems = cora.post("/api/evidence/verify", headers=api(cora),
                         files={"file": ("package.zip", rewritten.getvalue(), "application/zip")}).json()["result"]
    assert any("does not match the SHA-256, MD5 and size" in p for p in problems["problems"])  # the API keeps English
    assert {"verify.altered_sums", "verify.original_altered"} <= {p["code"] for p in problems["problem_messages"]}


def test_errors_from_the_core_are_korean_on_pages_and_english_in_the_api(world):
    cora, case = world["cora"], world["case"]
    english = english_only_strings()
    csrf = csrf_of(cora, f"/cases/{case['id']}/evidence")
    nothing = cora.post(f"/cases/{case['id']}/evidence", data={"csrf_token": csrf, "lang": "ko"})
    assert nothing.status_code == 400 and f"사건 {case['id']}에 피해물로 확인된 항목이 없습니다" in nothing.text
    assert "jikimi review" not in nothing.text  # no command-line advice on a page
    assert_korean(nothing.text, "evidence without confirmed items", english)
    none_chosen = cora.post("/review/bulk", data={"csrf_token": csrf, "verdict": "confirm"})
    assert none_chosen.status_code == 400 and "항목을 하나 이상 고르세요" in none_chosen.text
    assert_korean(none_chosen.text, "bulk decision without items", english)
    by_api = cora.post(f"/api/cases/{case['id']}/evidence", headers=api(cora), json={"lang": "ko"}).json()
    assert by_api["detail"].startswith(f"case {case['id']} has no confirmed items")
    assert by_api["message"] == {"code": "error.no_confirmed", "params": {"case": case["id"]}}


def test_the_html_scan_report_speaks_korean(world):
    cora, scan = world["cora"], world["scan"]
    scan_id = scan["scan"]["id"]
    assert f'href="/scans/{scan_id}/report.html"' in cora.get(f"/scans/{scan_id}").text
    report = cora.get(f"/scans/{scan_id}/report.html")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    html = report.text
    assert '<html lang="ko">' in html and f"지킴이 스캔 보고서 #{scan_id}" in html
    assert "얼굴 · 대상" in html and "거리 0." in html  # the face match line
    assert "빈 파일" in html and "일치한 항목 (" in html and "KST" in html
    assert_korean(html, "HTML scan report", english_only_strings())
    english = cora.get(f"/scans/{scan_id}/report.html?lang=en").text
    assert '<html lang="en">' in english and "face · subject" in english and "empty file" in english
    cora.cookies.set("jikimi_lang", "ko")  # ?lang=en remembered English: back to Korean for the next test


def test_the_html_scan_report_shows_faces_alone_only_to_reviewers(world):
    """A viewer of the case gets blurred thumbnails, never a face cut out of an original."""
    cora, case, base = world["cora"], world["case"], world["base"]
    scan_id = world["scan"]["scan"]["id"]
    added = cora.post(f"/api/cases/{case['id']}/members", headers=api(cora),
                      json={"user": ROLE_USERS["viewer"], "role": "viewer"})
    assert added.status_code in (200, 201), added.text
    assert '<figure class="crop">' in cora.get(f"/scans/{scan_id}/report.html").text
    vic = login(base, ROLE_USERS["viewer"])
    html = vic.get(f"/scans/{scan_id}/report.html")
    vic.close()
    assert html.status_code == 200 and "data:image/jpeg;base64," in html.text  # the blurred thumbnails
    assert '<figure class="crop">' not in html.text
