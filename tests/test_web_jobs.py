"""Scans and evidence packages started on the web run as jobs in a real `jikimi worker` process.

Over HTTP against the real app and real SQLite: a scan is queued while no worker runs and the
app is restarted before a worker picks it up; the worker is killed (SIGKILL) in the middle,
the scan page offers Resume, and the finished report equals a local scan's. Cancel, the
upload cap and clean-up, the folder picker's confinement, and the evidence package built,
downloaded, read and verified in the browser's forms (and a tampered copy reported).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import jpeg_bytes, picture
from jikimi.core import Actor, Jikimi
from jikimi.demo.sample_export import build_sample_export
from jikimi.scan import ScanOptions
from jikimi.workspace import Workspace
from test_web_flow import api, portraits_zip, zip_folder
from test_web_support import ROLE_USERS, add_role_users, login, serve, worker

WAIT_SECONDS = 300
COMPARED = ("locators", "sha256", "md5", "size", "kind", "mime_type", "pdq", "priority", "nudity", "error")


def wait_for(check, what: str, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (read from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def job_of(client: httpx.Client, scan_id: int) -> dict:
    return client.get(f"/api/scans/{scan_id}").json()["scan"]["progress"]


def form_csrf(client: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def comparable(report: dict) -> dict:
    """A report's items by SHA-256 (or first path), without ids that differ between workspaces."""
    items = {}
    for item in report["items"]:
        row = {k: item[k] for k in COMPARED}
        row["matches"] = sorted((m["kind"], m["target"], m.get("distance")) for m in item["matches"])
        items[item["sha256"] or item["locators"][0]["path"]] = row
    return items


def many_pictures_zip(count: int = 600) -> bytes:
    """Distinct public-domain crops, so a scan of them takes a while (each is new to the workspace).

    Enough that a fast many-core machine is still scanning when the cancel, read back once a
    second, reaches the worker: 120 were all done first on CI."""
    buffer = io.BytesIO()
    pictures = [picture(name) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            source = pictures[n % len(pictures)]
            box = (n % 17 * 7, n % 13 * 9, source.width - n % 11 * 8, source.height - n % 7 * 10)
            archive.writestr(f"posted/{n:03d}.jpg", jpeg_bytes(source.crop(box), quality=80 + n % 15))
    return buffer.getvalue()


def known_bank(ws: Workspace, known: Path) -> None:
    jk = Jikimi(ws)
    jk.banks.create(Actor.cli(), "known")
    jk.banks.add_files(Actor.cli(), "known", sorted(known.iterdir()))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    ws = Workspace(root / "home")
    ws.init()
    add_role_users(ws)
    sample = build_sample_export(root / "sample")
    known_bank(ws, sample.known_dir)
    export_zip = root / "export.zip"
    export_zip.write_bytes(zip_folder(sample.export_dir))
    facts: dict = {"ws": ws, "root": root, "sample": sample, "export_zip": export_zip}

    # Queued while no worker runs, and the app restarted before any worker starts.
    with serve(ws, with_worker=False) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        case = cora.post("/api/cases", json={"title": "2026-0077"}, headers=api(cora)).json()
        started = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case["id"])},
                            files={"file": ("대화방 내보내기.zip", export_zip.read_bytes(), "application/zip")})
        assert started.status_code == 201, started.text
        scan_id = started.json()["id"]
        facts["queued"] = cora.get(f"/api/scans/{scan_id}").json()["scan"]
        cora.close()
    facts.update(case=case, scan_id=scan_id)

    with serve(ws, with_worker=False) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        with worker(ws) as first:
            job = wait_for(lambda: (j := job_of(cora, scan_id)) and j["phase"] == "Hashing and matching"
                           and j["done"] >= 1 and j, "the worker to hash the first file")
            facts["running_job"] = job
            facts["worker_pid"] = first.pid
            helpers = descendants(first.pid)  # its scan pool, their forkserver, the resource tracker
            assert helpers
            first.send_signal(signal.SIGKILL)  # the machine dies in the middle of the scan
            first.wait()
            facts["orphans"] = wait_for(lambda: not [p for p in helpers if Path(f"/proc/{p}").exists()] and ["none"],
                                        "the killed worker's scan processes to exit", seconds=60)
        facts["interrupted"] = cora.get(f"/api/scans/{scan_id}").json()["scan"]
        facts["scan_page"] = cora.get(f"/scans/{scan_id}?lang=ko").text
        resumed = cora.post(f"/scans/{scan_id}/resume", data={"csrf_token": form_csrf(cora, f"/scans/{scan_id}")})
        facts["resume_answer"] = resumed.status_code
        with worker(ws) as second:
            wait_for(lambda: cora.get(f"/api/scans/{scan_id}").json()["scan"]["status"] == "complete"
                     and job_of(cora, scan_id)["status"] == "complete",  # the job is closed just after its scan
                     "the resumed scan and its job to complete")
            facts["second_pid"] = second.pid
            facts["final_job"] = job_of(cora, scan_id)
        cora.close()
    yield facts


def test_a_web_scan_is_queued_with_its_name_and_runs_in_a_worker_process(world):
    queued = world["queued"]
    assert queued["status"] == "queued" and queued["progress"]["status"] == "queued"
    assert queued["name"] == "대화방 내보내기.zip"  # the export's name, not just "zip"
    job = world["running_job"]
    assert job["pid"] == world["worker_pid"] != os.getpid()  # not the server's process
    assert job["total"] and 1 <= job["done"] < job["total"]


def test_an_interrupted_scan_shows_resume_and_finishes_as_a_local_scan(world, tmp_path):
    assert world["interrupted"]["status"] == "interrupted"
    assert world["interrupted"]["progress"]["status"] == "interrupted"
    assert "검사 이어서 하기" in world["scan_page"] and 'action="/scans/%d/resume"' % world["scan_id"] in world["scan_page"]
    assert world["resume_answer"] == 303
    assert world["final_job"]["status"] == "complete" and world["final_job"]["pid"] == world["second_pid"]
    ws = world["ws"]
    web = json.loads(Jikimi(ws).scans.report(Actor.cli(), world["scan_id"], "json"))
    local_ws = Workspace(tmp_path / "local")
    local_ws.init()
    known_bank(local_ws, world["sample"].known_dir)
    local_id = Jikimi(local_ws).scans.start(Actor.cli(), world["export_zip"], ScanOptions(jobs=1))
    local = json.loads(Jikimi(local_ws).scans.report(Actor.cli(), local_id, "json"))
    assert comparable(web) == comparable(local)
    assert web["scan"]["counts"] == local["scan"]["counts"]
    with ws.session() as session:
        from jikimi.store.audit_models import AuditEntry
        from sqlalchemy import select
        actions = {(e.action, e.actor) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"scan:{world['scan_id']}"))}
    assert ("scan", "cora") in actions and ("scan_resume", "cora") in actions  # the web user, not the worker's OS user


def test_cancel_a_queued_scan_and_a_running_one(world):
    ws, case_id = world["ws"], world["case"]["id"]
    with serve(ws, with_worker=False) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        queued = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case_id)},
                           files={"file": ("posted.zip", portraits_zip(), "application/zip")}).json()["id"]
        cancelled = cora.post(f"/api/scans/{queued}/cancel", headers=api(cora))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cora.get(f"/api/scans/{queued}").json()["scan"]["status"] == "cancelled"
        assert cora.post(f"/api/scans/{queued}/cancel", headers=api(cora)).status_code == 400

        running = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case_id)},
                            files={"file": ("many.zip", many_pictures_zip(), "application/zip")}).json()["id"]
        with worker(ws):
            wait_for(lambda: (j := job_of(cora, running)) and j["phase"] == "Hashing and matching" and j["done"],
                     "the scan to run")
            assert cora.post(f"/api/scans/{running}/cancel", headers=api(cora)).json()["cancel_requested"]
            ended = wait_for(lambda: (j := job_of(cora, running))["status"] not in ("queued", "running") and j,
                             "the cancel to stop the scan")
            assert ended["status"] == "cancelled" and ended["done"] < ended["total"]
            assert cora.get(f"/api/scans/{running}").json()["scan"]["status"] == "cancelled"
            page = cora.get(f"/scans/{running}?lang=ko").text
            assert "취소됨" in page and "검사 이어서 하기" in page
            # The cancelled one resumes and finishes like any other.
            assert cora.post(f"/api/scans/{queued}/resume", headers=api(cora)).status_code == 202
            wait_for(lambda: cora.get(f"/api/scans/{queued}").json()["scan"]["status"] == "complete", "the resume")
        cora.close()


def test_uploads_are_capped_and_nothing_is_left_of_a_refused_one(world, tmp_path):
    ws = Workspace(tmp_path / "home")
    ws.init()
    add_role_users(ws)
    big = world["export_zip"].read_bytes()
    with serve(ws, with_worker=False, max_upload_bytes=len(big) // 2) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        case = cora.post("/api/cases", json={"title": "cap"}, headers=api(cora)).json()
        too_big = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case["id"])},
                            files={"file": ("export.zip", big, "application/zip")})
        assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
        not_zip = cora.post("/api/scans", headers=api(cora), data={"case_id": str(case["id"])},
                            files={"file": ("notes.zip", b"not a zip at all", "application/zip")})
        assert not_zip.status_code == 400
        other_case = cora.post("/api/scans", headers=api(cora), data={"case_id": "999"},
                               files={"file": ("posted.zip", portraits_zip(), "application/zip")})
        assert other_case.status_code == 404
        # A browser form without its CSRF field: refused before any byte of the file is written.
        forged = cora.post("/scans", data={"case_id": str(case["id"])},
                           files={"file": ("posted.zip", portraits_zip(), "application/zip")})
        assert forged.status_code == 403
        leftovers = [p for p in ws.uploads.rglob("*")] if ws.uploads.exists() else []
        assert leftovers == []
        # The browser's form (CSRF field first) is accepted and redirects to the scan's page.
        accepted = cora.post("/scans", data={"csrf_token": form_csrf(cora, "/scans"), "case_id": str(case["id"])},
                             files={"file": ("posted.zip", portraits_zip(), "application/zip")})
        assert accepted.status_code == 303 and re.match(r"/scans/\d+$", accepted.headers["location"])
        saved = [p for p in ws.uploads.rglob("*") if p.is_file()]
        assert [p.name for p in saved] == ["posted.zip"] and stat.S_IMODE(saved[0].stat().st_mode) == 0o600
        cora.close()


def test_the_folder_picker_never_leaves_the_allowed_path(world, tmp_path):
    ws = world["ws"]
    allowed = tmp_path / "drop"
    (allowed / "2026-11 export").mkdir(parents=True)
    (allowed / "2026-11 export" / "result.json").write_text("{}")
    (allowed / "inner" / "deeper").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (allowed / "escape").symlink_to(tmp_path / "secret")
    (allowed / "inner-link").symlink_to(allowed / "inner")
    os.mkdir(os.fsencode(allowed) + b"/bad-\xff-name")
    with serve(ws, with_worker=False) as base:
        ada = login(base, ROLE_USERS["admin"])
        path_id = ada.post("/api/admin/paths", headers=api(ada), json={"path": str(allowed)}).json()["id"]
        cora = login(base, ROLE_USERS["caseworker"])
        listing = cora.get(f"/api/scans/folders/{path_id}").json()
        folders = {f["name"]: f for f in listing["folders"]}
        assert folders["2026-11 export"]["telegram_export"] and folders["2026-11 export"]["relative"] == "2026-11 export"
        assert folders["escape"]["relative"] is None  # a link out of the root cannot be chosen
        assert folders["inner-link"]["relative"] == "inner"
        assert folders["bad-\\xff-name"]["relative"] is None  # shown escaped, not choosable
        assert cora.get(f"/api/scans/folders/{path_id}", params={"folder": "inner"}).json()["folders"][0]["name"] == "deeper"
        page = cora.get(f"/scans/folders/{path_id}?lang=ko").text
        assert "텔레그램 내보내기" in page and "bad-\\xff-name" in page
        for attempt in ("..", "../..", "inner/../..", "/etc", "escape", "escape/..", "inner\\..", "a\x00b", "./inner",
                        "%2e%2e", "inner/../../secret"):
            answer = cora.get(f"/api/scans/folders/{path_id}", params={"folder": attempt})
            assert answer.status_code in (400, 404), (attempt, answer.status_code)
            scan = cora.post("/api/scans", headers=api(cora),
                             json={"path_id": path_id, "folder": attempt, "case_id": world["case"]["id"]})
            assert scan.status_code in (400, 404), (attempt, scan.status_code)
        chosen = cora.post("/api/scans", headers=api(cora),
                           json={"path_id": path_id, "folder": "inner/deeper", "case_id": world["case"]["id"]})
        assert chosen.status_code == 201 and chosen.json()["job"]["name"] == "deeper"
        cora.post(f"/api/scans/{chosen.json()['id']}/cancel", headers=api(cora))
        ada.close()
        cora.close()


def test_evidence_package_built_downloaded_read_and_verified(world, tmp_path):
    ws, case_id, scan_id = world["ws"], world["case"]["id"], world["scan_id"]
    with serve(ws) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        matched = cora.get(f"/api/scans/{scan_id}").json()["matched"]
        chosen = [m["item_id"] for m in matched[:2]]
        for item_id in chosen:
            assert cora.post(f"/api/items/{item_id}/decision", headers=api(cora),
                             json={"verdict": "confirm", "case_id": case_id}).status_code == 201
        page = cora.get(f"/cases/{case_id}/evidence?lang=ko").text
        assert page.count('type="checkbox"') == len(chosen) and "패키지 만들기" in page
        built = cora.post(f"/cases/{case_id}/evidence",
                          data={"csrf_token": form_csrf(cora, f"/cases/{case_id}/evidence"), "lang": "ko",
                                **{f"item-{i}": "1" for i in chosen}})
        assert built.status_code == 303
        job_url = built.headers["location"]
        job_id = int(job_url.rsplit("/", 1)[1])
        job = wait_for(lambda: (j := cora.get(f"/api/jobs/{job_id}").json())["status"] not in ("queued", "running")
                       and j, "the package")
        assert job["status"] == "complete", job
        assert job["result"]["items"] == len(chosen)
        on_disk = ws.home / "packages" / job["result"]["file"]
        assert stat.S_IMODE(on_disk.stat().st_mode) == 0o600
        assert "패키지 내려받기" in cora.get(f"{job_url}?lang=ko").text
        download = cora.get(f"/jobs/{job_id}/package")
        assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
        assert download.content == on_disk.read_bytes()
        pdf = cora.get(f"/jobs/{job_id}/report.pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        assert pdf.headers["cache-control"] == "no-store"
        log = {(e["action"], e["actor"]) for e in cora.get(f"/api/cases/{case_id}").json()["audit"]}
        assert {("evidence_export", "cora"), ("evidence_download", "cora"), ("evidence_view", "cora")} <= log

        rhee = login(base, ROLE_USERS["reviewer"])  # any logged-in user may verify
        csrf = form_csrf(rhee, "/evidence/verify")
        intact = rhee.post("/evidence/verify?lang=ko", data={"csrf_token": csrf},
                           files={"file": ("package.zip", download.content, "application/zip")})
        fingerprint = _fingerprint(ws)
        assert intact.status_code == 200 and "온전함" in intact.text and fingerprint in intact.text
        assert "이 작업공간의 키로 서명되었습니다" in intact.text
        tampered = bytearray(download.content)
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            original = next(i for i in archive.infolist() if i.filename.startswith("originals/"))
        at = original.header_offset + 30 + len(original.filename) + len(original.extra) + original.file_size // 2
        tampered[at] ^= 0xFF
        broken = rhee.post("/api/evidence/verify", headers=api(rhee),
                           files={"file": ("package.zip", bytes(tampered), "application/zip")}).json()["result"]
        assert broken["ok"] is False and broken["status"] == "not_intact" and broken["problems"]
        page = rhee.post("/evidence/verify?lang=ko", data={"csrf_token": csrf},
                         files={"file": ("package.zip", bytes(tampered), "application/zip")}).text
        assert "손상됨" in page
        assert not any((ws.home / "incoming").rglob("*.zip"))  # nothing of a checked package is kept
        assert rhee.get(f"/jobs/{job_id}/package").status_code == 403  # a reviewer does not take originals away
        rhee.close()
        cora.close()


def _fingerprint(ws: Workspace) -> str:
    from jikimi import keys
    return keys.fingerprint(keys.public_key(ws.home))
