"""Every item of a case, decided or not: search, filters, pages and CSV, over the real app
(items written straight into a real SQLite workspace by test_web_review_lists.build_world)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from jikimi.review import record_decision
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Item, ItemLocator, Scan
from test_web_review_lists import build_world
from test_web_support import ROLE_USERS, login, serve


@pytest.fixture
def world(ws):
    ids = build_world(ws)  # 30 items in case 1: 10 her face, 10 known files, 10 sexual content
    with ws.session() as session:
        record_decision(session, ws.home, ids["face"][0], "confirm", "rhee", case_id=ids["case"])
        record_decision(session, ws.home, ids["hash"][0], "unsure", "rhee", case_id=ids["case"])
        record_decision(session, ws.home, ids["hash"][0], "not_abusive", "rhee", case_id=ids["case"])  # the latest
        scan = session.get(Scan, ids["scan"])
        broken = Item(scan_id=scan.id, first_ordinal=99, sha256=None, error="empty file", done=True)
        session.add(broken)
        session.flush()
        session.add(ItemLocator(scan_id=scan.id, item_id=broken.id, ordinal=99,
                                fields={"path": "chats/files/empty.jpg", "chat": "딥페이크 방"}))
        ids["broken"] = broken.id
    with serve(ws) as base:
        yield ws, base, ids


def listed(client, case: int, query: str = "") -> list[int]:
    answer = client.get(f"/api/cases/{case}/items?per_page=500&{query}")
    assert answer.status_code == 200, answer.text
    return [i["id"] for i in answer.json()["items"]]


def test_every_item_with_its_latest_decision_and_the_filters(world):
    ws, base, ids = world
    vera = login(base, ROLE_USERS["viewer"])  # reading is enough
    case = ids["case"]
    everything = listed(vera, case)
    assert len(everything) == 31 and set(everything) >= {ids["face"][0], ids["hash"][0], ids["broken"]}
    assert listed(vera, case, "decision=confirm") == [ids["face"][0]]
    assert listed(vera, case, "decision=not_abusive") == [ids["hash"][0]]  # the latest decision counts
    assert listed(vera, case, "decision=unsure") == []
    assert len(listed(vera, case, "decision=undecided")) == 29
    assert sorted(listed(vera, case, "reason=3")) == sorted(ids["face"])
    assert listed(vera, case, "reason=error") == [ids["broken"]]
    assert listed(vera, case, "q=empty.jpg") == [ids["broken"]]
    assert len(listed(vera, case, "chat=딥페이크 방")) == 16  # even-numbered posts and the broken one
    assert len(listed(vera, case, f"scan={ids['scan']}")) == 31
    first = vera.get(f"/api/cases/{case}/items?per_page=10&page=2").json()
    assert first["pager"]["total"] == 31 and first["pager"]["pages"] == 4 and len(first["items"]) == 10


def test_the_page_in_korean_and_the_csv_export_is_logged(world):
    ws, base, ids = world
    cora = login(base, ROLE_USERS["caseworker"])
    case = ids["case"]
    assert f'href="/cases/{case}/items"' in cora.get(f"/cases/{case}?lang=ko").text
    page = cora.get(f"/cases/{case}/items?lang=ko&reason=error").text
    assert "사건의 모든 항목" in page and "빈 파일" in page and "empty file" not in page
    page = cora.get(f"/cases/{case}/items?lang=ko&decision=confirm").text
    assert "아직 판정 안 됨" in page and f'data-item="{ids["face"][0]}"' in page  # the filter's choice, its row
    exported = cora.get(f"/cases/{case}/items?format=csv&decision=undecided")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 29 and {r["decision"] for r in rows} == {""}
    assert all(not r["chat"].startswith("=") for r in rows)  # a formula-like chat name is made inert
    with ws.session() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (last.action, last.subject, last.case_id, last.details["rows"]) == ("list_export", f"case:{case}", case, 29)


def test_another_case_s_member_sees_nothing(world):
    ws, base, ids = world
    from jikimi import accounts
    from test_web_support import PASSWORD

    with ws.session() as session:
        accounts.add_user(session, "nam", "caseworker", PASSWORD)
    nam = login(base, "nam")
    assert nam.get(f"/api/cases/{ids['case']}/items").status_code == 404
    assert nam.get(f"/cases/{ids['case']}/items?format=csv").status_code == 404
