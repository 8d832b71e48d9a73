"""An item is decided once: scanning the same export again in a case adds its posts to the
items already there, keeps the decisions, brings nothing back to the queue, and the counts agree.

The real app over HTTP, the demo Telegram export uploaded twice as a ZIP, real face models.
"""

from __future__ import annotations

import json

import pytest

from jikimi.core import Actor, Jikimi
from jikimi.demo.sample_export import build_sample_export
from test_web_flow import api, portrait_jpeg, wait_for_scan, zip_folder
from test_web_support import ROLE_USERS, add_role_users, login, serve


@pytest.fixture(scope="module")
def rescanned(tmp_path_factory):
    from jikimi.workspace import Workspace

    root = tmp_path_factory.mktemp("rescan")
    ws = Workspace(root / "home")
    ws.init()
    add_role_users(ws)
    sample = build_sample_export(root / "sample")
    export = zip_folder(sample.export_dir)
    with serve(ws) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        case = cora.post("/api/cases", json={"title": "2026-0077"}, headers=api(cora)).json()
        known = [("known", (p.name, p.read_bytes())) for p in sorted(sample.known_dir.iterdir())]
        enrolled = cora.post(f"/api/cases/{case['id']}/subjects", headers=api(cora), data={
            "name": "Subject A", "consented_by": "Subject A", "scope_face_matching": "1",
            "scope_known_image_hashes": "1"}, files=[("photos", ("astronaut.jpg", portrait_jpeg(), "image/jpeg")), *known])
        assert enrolled.status_code == 201, enrolled.text

        def scan() -> dict:
            started = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case["id"])},
                                files={"file": ("export.zip", export, "application/zip")})
            assert started.status_code == 201, started.text
            return wait_for_scan(cora, started.json()["id"])

        first = scan()
        queue = cora.get(f"/api/review?case={case['id']}").json()
        decided = {}
        for verdict in ("confirm", "not_abusive"):  # two decisions; the rest stays waiting
            item = cora.get(f"/api/review?case={case['id']}").json()["current"]
            answer = cora.post(f"/api/items/{item['id']}/decision", headers=api(cora), json={"verdict": verdict})
            assert answer.status_code == 201, answer.text
            decided[item["id"]] = verdict
        before = cora.get(f"/api/review?case={case['id']}").json()["waiting"]
        second = scan()
        yield {"ws": ws, "cora": cora, "case": case, "first": first, "second": second, "decided": decided,
               "waiting_first": queue["waiting"], "waiting_before": before}
        cora.close()


def test_the_second_scan_adds_no_queue_item(rescanned):
    cora, case = rescanned["cora"], rescanned["case"]
    assert rescanned["waiting_before"] == rescanned["waiting_first"] - 2
    assert cora.get(f"/api/review?case={case['id']}").json()["waiting"] == rescanned["waiting_before"]
    assert cora.get(f"/api/review?scan={rescanned['second']['scan']['id']}").json()["waiting"] == rescanned["waiting_before"]


def test_decisions_stand_and_show_on_the_second_scan(rescanned):
    cora, second = rescanned["cora"], rescanned["second"]
    shown = {i["item_id"]: i for i in second["matched"]}
    for item_id, verdict in rescanned["decided"].items():
        assert shown[item_id]["seen_before"] is True
        assert [d["verdict"] for d in shown[item_id]["decisions"]] == [verdict]
    confirmed = next(i for i, v in rescanned["decided"].items() if v == "confirm")
    page = cora.get(f"/scans/{second['scan']['id']}?lang=ko").text
    assert "이미 확인됨" in page and "이 사건의 이전 스캔에서 찾은 항목" in page
    item = cora.get(f"/api/items/{confirmed}").json()
    paths = [loc["path"] for loc in item["locators"]]
    assert len(paths) == 2 * len(set(paths))  # each post of the file, once from each scan


def test_counts_agree(rescanned):
    cora, case = rescanned["cora"], rescanned["case"]
    first, second = rescanned["first"]["scan"]["counts"], rescanned["second"]["scan"]["counts"]
    assert first["seen_before"] == 0
    assert second["locators"] == first["locators"]
    assert second["matched"] == first["matched"] >= 5
    assert (second["items"], second["errors"]) == (first["items"], first["errors"])
    # Every stored file was the same item again; only entries with no file (missing, unsafe) are new.
    assert 0 < second["items"] - second["seen_before"] <= second["errors"]
    dashboard = cora.get("/api/dashboard").json()
    assert dashboard["awaiting_review"] == cora.get(f"/api/review?case={case['id']}").json()["waiting"]
    scans = {s["id"]: s for s in cora.get("/api/scans").json()["scans"]}
    assert scans[rescanned["second"]["scan"]["id"]]["counts"] == second
    report = json.loads(Jikimi(rescanned["ws"]).scans.report(Actor.cli(), rescanned["second"]["scan"]["id"], "json"))
    assert len(report["items"]) == second["items"]
    assert sum(len(i["locators"]) for i in report["items"]) == second["locators"]  # its own posts only
