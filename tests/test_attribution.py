"""Every custody entry names a person and a case, whichever face the work came through.

A scan started in the browser is credited to the web user, with the scan's case (not to the
server's OS user); it can be resumed from the CLI after the server stopped, the resume
credited to the CLI's person. Bank changes, allowed paths, tokens, users and roles are
logged with their actor. The CLI answers an unexpected error with one line, not a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from jikimi import accounts
from jikimi.core import Actor, Jikimi
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Scan
from jikimi.web import create_app
from test_web_flow import portraits_zip
from test_web_support import PASSWORD


def login(app, name: str) -> tuple[TestClient, dict]:
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    assert browser.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token}).status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/account").text).group(1)
    return browser, {"X-CSRF-Token": csrf}


def entries(ws, *actions: str) -> list[AuditEntry]:
    with ws.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.seq)))


def test_a_web_scan_is_credited_to_its_user_and_case_and_resumes_from_the_cli(ws, monkeypatch):
    with ws.session() as session:
        accounts.add_user(session, "cora", "caseworker", PASSWORD)
    app = create_app(ws)
    cora, headers = login(app, "cora")
    case = cora.post("/api/cases", json={"title": "2026-7"}, headers=headers).json()
    started = cora.post("/api/scans", headers=headers, data={"case_id": str(case["id"])},
                        files={"file": ("room.zip", portraits_zip(), "application/zip")})
    assert started.status_code == 201, started.text
    scan_id = started.json()["id"]
    deadline = time.monotonic() + 300
    while cora.get(f"/api/scans/{scan_id}").json()["scan"]["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    collected = entries(ws, "scan", "ingest")
    assert collected and {(e.actor, e.case_id) for e in collected} == {("cora", case["id"])}

    with ws.session() as session:  # as after the server was stopped mid-scan
        session.execute(update(Scan).where(Scan.id == scan_id).values(status="interrupted", finished_at=None))
    monkeypatch.setenv("JIKIMI_OPERATOR", "kim")
    from typer.testing import CliRunner

    from jikimi.cli import app as cli

    resumed = CliRunner().invoke(cli, ["--actor", "night-shift", "scan", "--resume", str(scan_id), "--jobs", "1"])
    assert resumed.exit_code == 0, resumed.output
    [entry] = entries(ws, "scan_resume")
    assert entry.actor == "night-shift (claimed; OS user kim)" and entry.case_id == case["id"]


def test_workspace_changes_are_logged_with_their_actor(ws, tmp_path):
    jk, admin = Jikimi(ws), Actor.cli()
    user = jk.accounts.add_user(admin, "rhee", "reviewer", PASSWORD)
    jk.accounts.set_role(admin, "rhee", "caseworker")
    with ws.session() as session:
        rhee = Actor.of_user(accounts.get_user(session, "rhee"), "api")
    jk.accounts.create_token(rhee, "rhee", "laptop")
    [token] = jk.accounts.tokens(rhee)
    jk.accounts.revoke_token(rhee, token["id"])
    folder = tmp_path / "drop"
    folder.mkdir()
    path = jk.accounts.allow_path(admin, folder)
    jk.accounts.remove_path(admin, path["id"])
    case = jk.cases.create(rhee, "2026-8")
    bank = jk.banks.create(rhee, "her own", case_id=case["id"])
    jk.banks.import_list(rhee, bank["id"], "sha256 " + "ab" * 32 + "\n", "tx")
    jk.banks.export_list(rhee, bank["id"], "tx")
    jk.banks.delete(rhee, bank["id"])
    jk.banks.create(admin, "workspace-wide")
    jk.cases.add_member(rhee, case["id"], "rhee", "caseworker")
    logged = [(e.action, e.actor, e.case_id) for e in entries(
        ws, "user_add", "user_role", "token_create", "token_revoke", "path_allow", "path_remove", "bank_create",
        "bank_import", "bank_export", "bank_delete", "member_add")]
    me = admin.log_name
    assert logged == [("user_add", me, None), ("user_role", me, None), ("token_create", "rhee", None),
                      ("token_revoke", "rhee", None), ("path_allow", me, None), ("path_remove", me, None),
                      ("bank_create", "rhee", case["id"]), ("bank_import", "rhee", case["id"]),
                      ("bank_export", "rhee", case["id"]), ("bank_delete", "rhee", case["id"]),
                      ("bank_create", me, None), ("member_add", "rhee", case["id"])]
    assert user["role"] == "reviewer"


def test_the_cli_answers_an_unexpected_error_in_one_line(ws, tmp_path):
    env = {**os.environ, "JIKIMI_HOME": str(ws.home)}
    jikimi = [sys.executable, "-m", "jikimi"]
    subprocess.run([*jikimi, "bank", "create", "known"], env=env, check=True, capture_output=True)
    answer = subprocess.run([*jikimi, "bank", "export", "known", "-o", str(tmp_path)], env=env,
                            capture_output=True, text=True)
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
    assert answer.stderr.startswith("error: IsADirectoryError") and len(answer.stderr.strip().splitlines()) == 2
