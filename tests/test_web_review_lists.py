"""The review page a case worker understands, bulk decisions and undo, lists that scale
(filters, pages, CSV) and the reviewer's wellbeing settings: the real app over HTTP on a
real SQLite workspace, with items written straight into it (no scan needed)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from conftest import ON_POSTGRES, jpeg_bytes, picture
from jikimi import clock, keys
from jikimi.media.thumbnails import blurred_thumbnail
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import (Bank, BankContent, Case, Content, ContentFace, Decision, Item, ItemLocator, Match,
                                 Scan, Subject, SubjectTemplate, utcnow)
from jikimi.store.web_models import CaseMember, WebUser
from test_web_support import ROLE_USERS, add_role_users, csrf_of, login, serve

SFACE = "opencv_sface_2021dec"


def build_world(ws, items: int = 30) -> dict:
    """One case with her reference face kept; items of every tier: her face (three distances),
    known files (PDQ), sexual content alone; posted in two chats, one with a formula-like name.
    Face items' originals are public-domain portraits in the vault (to crop and reveal)."""
    assert items % 3 == 0  # that item is the last face one, n = items - 3
    add_role_users(ws)
    portrait = jpeg_bytes(picture("astronaut"))
    original = ws.vault.ingest(io.BytesIO(portrait), 10**8).sha256  # the most urgent item's file, to reveal
    thumbnail = blurred_thumbnail(picture("coffee"))
    with ws.session() as session:
        users = {u.name: u for u in session.scalars(select(WebUser))}
        case = Case(title="2026-0042", created_by="setup")
        session.add(case)
        session.flush()
        for role in ("caseworker", "reviewer", "viewer"):
            session.add(CaseMember(case_id=case.id, user_id=users[ROLE_USERS[role]].id, role=role, added_by="setup"))
        subject = Subject(case_id=case.id, name="보호 대상자 A", consent={"scope": "face_matching"})
        scan = Scan(source="/evidence/export.zip", source_kind="zip", status="complete", options={}, enumerated=True,
                    case_id=case.id)
        bank = Bank(name="known", pdq_threshold=31)
        session.add_all([subject, scan, bank])
        session.flush()
        template = SubjectTemplate(subject_id=subject.id, embedding=b"-", model=SFACE, photo_name="reference.jpg")
        known = BankContent(bank_id=bank.id, kind="image", label="known.jpg")
        session.add_all([template, known])
        session.flush()
        template.reference_crop = keys.encrypt(keys.workspace_key(ws.home), portrait,
                                               f"subject_crop:{template.id}".encode())
        ids = {"case": case.id, "scan": scan.id, "subject": subject.id, "face": [], "hash": [], "sexual": []}
        for n in range(items):
            kind = ("face", "hash", "sexual")[n % 3]
            if n == items - 3:
                sha = original
            elif kind == "face":  # its face crop is cut from the original, so the vault holds it
                sha = ws.vault.ingest(io.BytesIO(jpeg_bytes(picture("astronaut").resize((400 + n, 400 + n)))),
                                      10**8).sha256
            else:
                sha = hashlib.sha256(f"item {n}".encode()).hexdigest()
            session.add(Content(sha256=sha, md5=sha[:32], size=1000, kind="image", mime_type="image/jpeg",
                                width=640, height=480, thumbnail=thumbnail))
            priority = {"face": 3000 + n, "hash": 2000 + n, "sexual": 1000 + n}[kind]
            item = Item(scan_id=scan.id, first_ordinal=n, sha256=sha, done=True, priority=priority)
            session.add(item)
            session.flush()
            chat = "=HYPERLINK(\"x\")" if n % 2 else "딥페이크 방"
            session.add(ItemLocator(scan_id=scan.id, item_id=item.id, ordinal=n,
                                    fields={"path": f"chats/photos/{n}.jpg", "chat": chat, "sender": f"sender {n}"}))
            if kind == "face":
                face = ContentFace(sha256=sha, frame_time=None, score=1.0, embedding=b"-", model=SFACE,
                                   box={"left": 150, "top": 60, "right": 300, "bottom": 230})
                session.add(face)
                session.flush()
                distance = (0.90, 0.99, 1.01)[len(ids["face"]) % 3]
                session.add(Match(item_id=item.id, kind="face", subject_id=subject.id, face_id=face.id,
                                  distance=distance, detail={"model": SFACE, "threshold": 1.02,
                                                             "level": "confident" if distance <= 0.98 else "possible"}))
            elif kind == "hash":
                session.add(Match(item_id=item.id, kind="pdq", bank_id=bank.id, bank_content_id=known.id, distance=12,
                                  detail={}))
            ids[kind].append(item.id)
    return ids


@pytest.fixture
def world(ws):
    ids = build_world(ws)
    with serve(ws) as base:
        yield ws, base, ids


def test_the_review_page_speaks_in_words_and_shows_her_reference_face(world):
    ws, base, ids = world
    rhee = login(base, ROLE_USERS["reviewer"])
    page = rhee.get("/review?lang=ko").text
    first = ids["face"][-1]  # the most urgent: her face, distance 0.90 (within the confident threshold)
    assert f'data-item="{first}"' in page
    assert "매우 유사" in page and 'title="거리 0.90"' in page
    assert "다른 사람일 수 있음" in rhee.get(f"/review?item={ids['face'][2]}&lang=ko").text  # 1.01: near the edge
    assert 'title="우선순위 30' in page and "본인 얼굴</span>" in page  # the tier's label, the number in its tooltip
    assert f"/media/references/{ids['subject']}" in page and "본인 아님" in page
    reference = rhee.get(f"/media/references/{ids['subject']}")
    assert reference.status_code == 200 and reference.content[:2] == b"\xff\xd8"
    assert login(base, ROLE_USERS["viewer"]).get(f"/media/references/{ids['subject']}").status_code == 403
    words = {rhee.get(f"/api/items/{i}").json()["matches"][0]["likeness"] for i in ids["face"][:3]}
    assert words == {"very_similar", "similar", "maybe_other"}
    hash_page = rhee.get(f"/review?item={ids['hash'][0]}&lang=ko").text
    assert "본인 아님" not in hash_page.split('class="decide"')[1].split("</form>")[0]  # no face, no "not her"
    assert "알려진 파일" in hash_page
    for key in ("<kbd>C</kbd>", "<kbd>R</kbd>", "<kbd>Z</kbd>", 'id="shortcuts"'):
        assert key in page


def test_a_decision_is_confirmed_and_can_be_undone_for_a_few_seconds(world):
    ws, base, ids = world
    rhee = login(base, ROLE_USERS["reviewer"])
    token = csrf_of(rhee, "/review")
    item = ids["face"][0]
    answer = rhee.post(f"/review/{item}/decision", data={"verdict": "confirm", "csrf_token": token})
    assert answer.status_code == 303 and f"decided={item}" in answer.headers["location"]
    page = rhee.get(answer.headers["location"] + "&lang=ko").text
    assert 'id="decided"' in page and "피해물 확인" in page and f'action="/review/{item}/undo"' in page
    with ws.session() as session:
        assert session.scalar(select(BankContent).where(BankContent.label == f"confirmed item {item}")) is not None
    undone = rhee.post(f"/review/{item}/undo", data={"csrf_token": token})
    assert undone.status_code == 303 and f"item={item}" in undone.headers["location"]
    with ws.session() as session:
        assert session.scalar(select(Decision).where(Decision.item_id == item)) is None
        assert session.scalar(select(BankContent).where(BankContent.label == f"confirmed item {item}")) is None
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert (last.action, last.actor, last.subject) == ("decision_undo", "rhee", f"item:{item}")
    assert item in [u["id"] for u in rhee.get("/api/review").json()["upcoming"]] + \
        [rhee.get("/api/review").json()["current"]["id"]]  # it waits again

    rhee.post(f"/review/{item}/decision", data={"verdict": "unsure", "csrf_token": token})
    with ws.session() as session:
        session.execute(update(Decision).values(created_at=utcnow() - timedelta(minutes=1)))
    late = rhee.post(f"/api/items/{item}/undo", headers={"X-CSRF-Token": token})
    assert late.status_code == 400 and "last few seconds" in late.json()["detail"]
    cora = login(base, ROLE_USERS["caseworker"])  # another person cannot undo rhee's decision
    rhee.post(f"/review/{ids['face'][1]}/decision", data={"verdict": "unsure", "csrf_token": token})
    assert cora.post(f"/api/items/{ids['face'][1]}/undo", headers={"X-CSRF-Token": csrf_of(cora)}).status_code == 400


def test_bulk_decisions_on_a_filtered_table(world):
    ws, base, ids = world
    cora = login(base, ROLE_USERS["caseworker"])
    token = csrf_of(cora)
    table = cora.get("/api/review/table", params={"tier": 3, "chat": "딥페이크 방"}).json()
    assert table["pager"]["total"] == len([i for i in ids["face"] if (i - 1) % 2 == 0])
    assert {row["tier"] for row in table["items"]} == {3} and "딥페이크 방" in table["chats"]
    page = cora.get("/review/table?lang=ko&tier=2").text
    assert "알려진 파일" in page and page.count('name="items"') == len(ids["hash"])
    chosen = [ids["face"][0], ids["hash"][0]]
    answer = cora.post("/review/bulk", data={"items": [str(i) for i in chosen], "verdict": "not_subject",
                                              "csrf_token": token, "back": "/review/table?tier=3"})
    assert answer.status_code == 303 and answer.headers["location"] == "/review/table?tier=3&done=1-1"
    assert "처리함: 1" in cora.get(answer.headers["location"] + "&lang=ko").text
    result = cora.post("/api/review/bulk", headers={"X-CSRF-Token": token},
                       json={"items": ids["sexual"][:4], "verdict": "not_abusive", "note": "일괄"}).json()
    assert len(result["decided"]) == 4 and result["refused"] == []
    with ws.session() as session:
        decided = session.scalars(select(Decision.item_id).where(Decision.actor == "cora")).all()
    assert sorted(decided) == sorted([ids["face"][0], *ids["sexual"][:4]])
    assert login(base, ROLE_USERS["viewer"]).post("/api/review/bulk", headers={"X-CSRF-Token": token},
                                                  json={"items": [1], "verdict": "confirm"}).status_code in (403,)


def test_lists_filter_page_and_export_csv_that_is_logged(world):
    ws, base, ids = world
    rhee = login(base, ROLE_USERS["reviewer"])
    token = csrf_of(rhee)
    for item in ids["sexual"][:3]:
        rhee.post(f"/review/{item}/reveal", data={"csrf_token": token})
        rhee.post(f"/review/{item}/decision", data={"verdict": "not_abusive", "csrf_token": token})
    ada = login(base, ROLE_USERS["admin"])
    audit = ada.get("/api/audit", params={"actor": "rhe", "action": "reveal", "per_page": 2}).json()
    assert audit["pager"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2, "more": False, "next": True}
    newest = max(ids["sexual"][:3])  # item n was posted as n-1.jpg
    assert audit["entries"][0]["target_name"] == f"{newest - 1}.jpg · 딥페이크 방"
    page = ada.get("/audit", params={"action": "reveal", "lang": "ko", "per_page": 2, "page": 2}).text
    assert "2쪽 중 2쪽" in page and 'rel="prev"' in page and 'rel="next"' not in page
    oldest = ids["sexual"][0]  # the file's name on the page, not "item:N"
    assert f"파일 <strong>{oldest - 1}.jpg · 딥페이크 방</strong>" in page and f">item:{oldest}<" not in page
    today = datetime.now(clock.workspace_zone()).date().isoformat()  # days are the workspace's (Seoul's)
    assert ada.get("/api/audit", params={"since": today, "until": today, "action": "reveal"}).json()["pager"]["total"] == 3
    assert ada.get("/api/audit", params={"until": "2020-01-01"}).json()["pager"]["total"] == 0
    assert ada.get("/api/audit", params={"since": "yesterday"}).status_code == 400
    export = ada.get("/audit", params={"format": "csv", "action": "reveal"})
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["seq", "time_utc", "actor", "action"] and len(rows) == 4
    assert all(not cell.startswith("=") for row in rows for cell in row)  # a formula-like chat name stays inert
    assert ada.get("/api/audit", params={"action": "list_export"}).json()["entries"][0]["actor"] == "ada"
    verified = ada.get("/audit/verify?lang=ko").text
    assert "기록이 온전합니다" in verified

    decisions = rhee.get("/api/decisions", params={"verdict": "not_abusive", "actor": "rhee"}).json()
    assert decisions["pager"]["total"] == 3
    csv_decisions = rhee.get("/decisions", params={"format": "csv", "verdict": "not_abusive"}).text
    assert csv_decisions.count("\r\n") == 4
    cases = rhee.get("/api/cases", params={"q": "0042"}).json()
    assert [c["title"] for c in cases["cases"]] == ["2026-0042"] and cases["cases"][0]["subjects"] == 1
    assert rhee.get("/api/cases", params={"q": "nothing like it"}).json()["pager"]["total"] == 0
    assert rhee.get("/api/review/table", params={"format": "csv", "q": "sender 1"}).text.count("sender") == 0


def test_wellbeing_settings_and_the_daily_reveal_count(world):
    ws, base, ids = world
    rhee, ada = login(base, ROLE_USERS["reviewer"]), login(base, ROLE_USERS["admin"])
    page = rhee.get("/review?lang=ko").text
    assert 'data-break-minutes="20"' in page and 'data-reblur' not in page  # nothing revealed yet
    assert "오늘 원본 0건을 보았습니다" in page
    refused = rhee.post("/api/review/settings", headers={"X-CSRF-Token": csrf_of(rhee)}, json={"break_minutes": 5})
    assert refused.status_code == 403
    token = csrf_of(ada)
    assert ada.post("/api/review/settings", headers={"X-CSRF-Token": token},
                    json={"break_minutes": 1000}).status_code == 400
    changed = ada.post("/api/review/settings", headers={"X-CSRF-Token": token},
                       json={"break_minutes": 25, "reblur_seconds": 15}).json()
    assert changed == {"break_minutes": 25, "reblur_seconds": 15}
    item = ids["face"][-1]
    rhee.post(f"/review/{item}/reveal", data={"csrf_token": csrf_of(rhee)})
    page = rhee.get(f"/review?item={item}&lang=ko").text
    assert 'data-break-minutes="25"' in page and 'data-reblur="15"' in page
    assert "오늘 원본 1건을 보았습니다" in page
    rhee.post("/preferences", data={"csrf_token": csrf_of(rhee), "grayscale": "1", "gradual": "1"})
    rhee.post(f"/review/{item}/reveal", data={"csrf_token": csrf_of(rhee)})
    assert "original gradual" in rhee.get(f"/review?item={item}").text
    assert ada.get("/review?lang=ko").text.count("오늘 원본 0건") == 1  # each reviewer sees her own count


@pytest.mark.skipif(ON_POSTGRES, reason="only SQLite's progress handler stops a count this small; "
                    "PostgreSQL's timeout is tested with a slow count below")
def test_a_count_that_takes_too_long_gives_way_to_the_page(world, monkeypatch):
    """A rare filter makes a count read every row: past COUNT_SECONDS the pager says "many"."""
    from jikimi.core import listing
    ws, base, ids = world
    cora = login(base, ROLE_USERS["caseworker"])
    monkeypatch.setattr(listing, "COUNT_SECONDS", -1.0)
    monkeypatch.setattr(listing, "PROGRESS_STEPS", 1)
    pager = cora.get("/api/review/table", params={"per_page": 5}).json()["pager"]
    assert pager == {"page": 1, "per_page": 5, "total": None, "more": True, "pages": None, "next": True}
    page = cora.get("/review/table?per_page=5&lang=ko").text
    assert "여러 행" in page and 'rel="next"' in page and 'rel="last"' not in page
    assert cora.get("/review/table?per_page=5&page=2").status_code == 200


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's statement timeout")
def test_on_postgresql_a_slow_count_is_cancelled_and_the_transaction_goes_on(world):
    from sqlalchemy import func

    from jikimi.core import listing
    ws, _, _ = world
    with ws.session() as session:
        items = listing.timed_count(session, select(Item.id))
        assert items > 0
        assert listing.timed_count(session, select(func.pg_sleep(2 * listing.COUNT_SECONDS + 1))) is None
        assert listing.timed_count(session, select(Item.id)) == items  # the page's transaction is still usable
        assert session.scalar(select(func.current_setting("statement_timeout"))) == "0"
