"""The authorization matrix: every route of the app x every kind of caller, in process.

Generated from the app's own route table, so a new route is checked the day it is added.
Each answer falls in one class: ANON (401 for /api, a redirect to the login page for pages),
FORBIDDEN (403: the role may not), HIDDEN (404: a case the caller is not a member of, answered
exactly as a missing one) or OK (anything else below 500: past authorization). A refused
request writes nothing to the custody log. The same core calls made from the CLI with a
non-member actor are refused the same way.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from conftest import jpeg_bytes, picture, save_jpeg
from jikimi import accounts, keys, subject_sources
from jikimi.core import Actor, Jikimi, NotFound
from jikimi.core.access import PERMISSIONS
from jikimi.media.thumbnails import blurred_thumbnail
from jikimi.scan import ScanOptions
from jikimi.store.audit_models import AuditEntry
from jikimi.store.job_models import Job
from jikimi.store.models import (Bank, BankContent, Case, Content, ContentFace, Item, ItemLocator, Match, Scan,
                                 Subject, SubjectSource, SubjectTemplate)
from jikimi.store.takedown_models import Notice, NoticeItem
from jikimi.store.web_models import AllowedPath, ApiToken, CaseMember
from jikimi.takedown.hosts import ensure_builtin_hosts, get_host
from jikimi.takedown.notices import build_message
from jikimi.web import create_app
from test_web_routes import PUBLIC, _need
from test_web_support import PASSWORD, api_routes

ANON, FORBIDDEN, HIDDEN, OK = "anon", "forbidden", "hidden", "ok"
# name: (workspace role, role in case 1 or None)
PERSONAS = {
    "admin": ("admin", None),
    "member-caseworker": ("caseworker", "caseworker"),
    "member-reviewer": ("reviewer", "reviewer"),
    "member-viewer": ("viewer", "viewer"),
    "caseworker-as-viewer": ("caseworker", "viewer"),  # a caseworker elsewhere, only a viewer here
    "non-member": ("caseworker", None),
}
CASE_OBJECTS = ("{case_id}", "{item_id}", "{scan_id}", "{subject_id}", "{face_id}", "{bank_id}", "{notice_id}",
                "{job_id}")
BODY_WITH_CASE = {("POST", "/api/scans"), ("POST", "/scans"), ("POST", "/api/banks"), ("POST", "/banks")}


def populate(ws) -> None:
    """Case 1 with a subject, a scan, an item matching her face and the case bank; case 2 apart."""
    stored = ws.vault.ingest(io.BytesIO(jpeg_bytes(picture("astronaut"))), 10**8)
    with ws.session() as session:
        users = {name: accounts.add_user(session, name, role, PASSWORD) for name, (role, _) in PERSONAS.items()}
        first, second = Case(title="case one", created_by="setup"), Case(title="case two", created_by="setup")
        session.add_all([first, second])
        session.flush()
        for name, (_, case_role) in PERSONAS.items():
            if case_role:
                session.add(CaseMember(case_id=first.id, user_id=users[name].id, role=case_role, added_by="setup"))
        session.add(CaseMember(case_id=second.id, user_id=users["non-member"].id, role="caseworker", added_by="setup"))
        subject = Subject(case_id=first.id, name="Subject One", consent={"scope": "face_matching"})
        session.add(subject)
        session.flush()  # subject 1 is case 1's
        session.add(Subject(case_id=second.id, name="Subject Two", consent={"scope": "face_matching"}))
        template = SubjectTemplate(subject_id=subject.id, embedding=b"-", photo_name="reference.jpg")
        session.add(template)
        session.flush()  # her reference face, kept with her consent
        template.reference_crop = keys.encrypt(keys.workspace_key(ws.home), jpeg_bytes(picture("astronaut")),
                                               f"subject_crop:{template.id}".encode())
        scan = Scan(source="/evidence", source_kind="folder", status="complete", options={}, enumerated=True,
                    case_id=first.id)
        bank = Bank(name="case-1", pdq_threshold=31, case_id=first.id)
        session.add_all([subject, scan, bank])
        session.flush()
        known = BankContent(bank_id=bank.id, kind="image", label="known.jpg")
        session.add(Content(sha256=stored.sha256, md5="0" * 32, size=1, kind="image", mime_type="image/jpeg",
                            thumbnail=blurred_thumbnail(picture("astronaut"))))
        session.add(known)
        session.flush()
        face = ContentFace(sha256=stored.sha256, frame_time=None, score=1.0, embedding=b"-",
                           box={"left": 150, "top": 60, "right": 300, "bottom": 230})
        item = Item(scan_id=scan.id, first_ordinal=0, sha256=stored.sha256, done=True, priority=3000)
        session.add_all([face, item])
        session.flush()
        session.add_all([ItemLocator(scan_id=scan.id, item_id=item.id, ordinal=0, fields={"path": "a.jpg"}),
                         Match(item_id=item.id, kind="face", subject_id=subject.id, face_id=face.id, distance=0.3,
                               detail={}),
                         Match(item_id=item.id, kind="pdq", bank_id=bank.id, bank_content_id=known.id, distance=4,
                               detail={})])
        session.add(Job(kind="evidence", status="complete", args={"items": [item.id], "lang": "ko"},
                        result={"file": "missing.zip", "items": 1}, user_id=users["admin"].id, channel="web",
                        case_id=first.id, done=1, cancel_requested=False))  # job 1, of case 1
        session.add(AllowedPath(path=str(ws.home.parent), added_by="setup"))
        reference = SubjectTemplate(subject_id=subject.id, embedding=b"-", photo_name="ref.jpg")  # a kept face
        session.add(reference)
        session.flush()
        reference.reference_crop = keys.encrypt(keys.workspace_key(ws.home), jpeg_bytes(picture("astronaut")),
                                                f"subject_crop:{reference.id}".encode())
        session.flush()
        add_notice(session, first.id, item)
        accounts.create_token(session, users["admin"], "matrix")
        photo = save_jpeg(picture("coffee"), ws.home.parent / "her_photo.jpg")
        source, = subject_sources.add_sources(ws, session, subject, [photo], ["profile photo"], "setup")  # source 1
        SOURCE_ROW.update({c.name: getattr(source, c.name) for c in SubjectSource.__table__.columns})


SOURCE_ROW: dict = {}  # her source photo 1 as stored, to put back after a member removed it


def add_notice(session, case_id: int, item: Item) -> None:
    """Notice 1: a draft of case 1 to Telegram about its item."""
    ensure_builtin_hosts(session)
    message = build_message("JKM-2026-000001", "centre@example.org", "abuse@telegram.org", "[JKM-2026-000001]",
                            "text\n", datetime.now(timezone.utc))
    notice = Notice(case_id=case_id, host=get_host(session, "telegram"), reference="JKM-2026-000001", language="en",
                    status="drafted", message_id=message["Message-ID"], eml=message.as_bytes(), send_count=0)
    notice.items = [NoticeItem(item_id=item.id, sha256=item.sha256)]
    session.add(notice)
    session.flush()


def restore(ws) -> None:
    """Undo what an allowed request may have changed, so every cell starts from the same state."""
    with ws.session() as session:
        session.execute(update(Subject).values(removed_at=None))
        session.execute(update(ApiToken).values(revoked_at=None))
        if session.get(SubjectSource, 1) is None:
            session.add(SubjectSource(**SOURCE_ROW))
        if session.get(AllowedPath, 1) is None:
            session.add(AllowedPath(id=1, path=str(ws.home.parent), added_by="setup"))
        roles = dict(PERSONAS)
        for member in session.scalars(select(CaseMember).where(CaseMember.case_id == 1)):
            name = session.get(accounts.WebUser, member.user_id).name
            if roles.get(name, (None, None))[1] not in (None, member.role):
                member.role = roles[name][1]


def expected(method: str, path: str, permission: str, persona: str) -> str:
    if persona == "anonymous":
        return ANON
    role, case_role = PERSONAS[persona]
    if role not in PERMISSIONS[permission]:
        return FORBIDDEN
    if path.endswith("/tokens/{token_id}/revoke"):
        return OK if persona == "admin" else HIDDEN  # token 1 is the admin's own
    touches_case = any(part in path for part in CASE_OBJECTS) or (method, path) in BODY_WITH_CASE
    if not touches_case or role == "admin":
        return FORBIDDEN if path.startswith("/media/originals/") else OK  # originals need a reveal first
    if case_role is None:
        return HIDDEN
    # A face crop is for the reviewers of the matched subject's case; the rest follows the route's need.
    needed = "review" if path.startswith("/media/faces/") else permission
    if path.startswith("/media/originals/") or case_role not in PERMISSIONS[needed]:
        return FORBIDDEN
    return OK


def outcome(path: str, answer) -> str:
    status = answer.status_code
    assert status < 500, (path, status, answer.text[:300])
    if status == 401 or (status == 303 and answer.headers["location"].startswith("/login?next=")):
        return ANON
    return {403: FORBIDDEN, 404: HIDDEN}.get(status, OK)


def url(path: str) -> str:
    path = path.replace("{bank_name}", "case-1")  # the platform API names banks (HMA's curation routes)
    return re.sub(r"\{[^}]+\}", "1", path)


def body(method: str, path: str) -> dict:
    if (method, path) in BODY_WITH_CASE:
        return {"case_id": 1}
    if path.endswith("/members"):
        return {"role": "not-a-role"}  # refused after the membership check, so nothing changes
    return {}


def client(app, name: str | None) -> tuple[TestClient, dict]:
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    if name is None:
        return browser, {}
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = browser.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/account").text).group(1)
    return browser, {"X-CSRF-Token": csrf}


def audit_size(ws) -> int:
    with ws.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jikimi.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("matrix") / "home")
    ws.init()
    populate(ws)
    return ws


def test_every_route_times_every_caller(world):
    ws = world
    app = create_app(ws)
    table = sorted((method, route.path, _need(route)) for route in api_routes(app.routes) for method in route.methods
                   if (method, route.path) not in PUBLIC)
    assert all(need is not None for _, _, need in table)
    callers = {"anonymous": client(app, None), **{name: client(app, name) for name in PERSONAS}}
    cells, wrong = 0, []
    for method, path, need in table:
        for persona, (browser, headers) in callers.items():
            want = expected(method, path, need.permission, persona)
            before = audit_size(ws)
            answer = browser.request(method, url(path), headers=headers,
                                     **({"json": body(method, path)} if method == "POST" else {}))
            got = outcome(path, answer)
            if got != want:
                wrong.append((persona, method, path, want, got, answer.text[:120]))
            if got != OK:
                assert audit_size(ws) == before, (persona, method, path)  # a refusal writes nothing
            if path == "/logout" and persona != "anonymous":
                callers[persona] = client(app, persona)
            restore(ws)
            cells += 1
    assert wrong == [], "\n".join(map(str, wrong))
    assert cells == len(table) * (len(PERSONAS) + 1)
    print(f"authorization matrix: {len(table)} routes x {len(PERSONAS) + 1} callers = {cells} cells")


def test_admin_reads_of_other_cases_are_logged(world):
    app = create_app(world)
    admin, _ = client(app, "admin")
    before = audit_size(world)
    assert admin.get("/api/cases/1").status_code == 200
    with world.session() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert (entry.action, entry.case_id, entry.actor) == ("admin_read", 1, "admin")
    assert audit_size(world) == before + 1


def test_the_core_refuses_a_non_member_from_the_cli(world, tmp_path):
    """The same operations, called as the CLI does, by a user who is not a member of case 1."""
    jk = Jikimi(world)
    with world.session() as session:
        user = accounts.get_user(session, "non-member")
        nora = Actor(user.name, user.role, "cli", user_id=user.id, os_user="nora")
    before = audit_size(world)
    calls = {
        "cases.get": lambda: jk.cases.get(nora, 1),
        "cases.members": lambda: jk.cases.members(nora, 1),
        "cases.add_member": lambda: jk.cases.add_member(nora, 1, "non-member", "caseworker"),
        "cases.remove_member": lambda: jk.cases.remove_member(nora, 1, "member-viewer"),
        "subjects.enrol": lambda: jk.subjects.enrol(nora, 1, "x", [tmp_path / "x.jpg"], scope="face_matching"),
        "subjects.remove": lambda: jk.subjects.remove(nora, 1),
        "subjects.get": lambda: jk.subjects.get(nora, 1),
        "subjects.faces_in": lambda: jk.subjects.faces_in(nora, 1, tmp_path / "x.jpg"),
        "subjects.reference_crop": lambda: jk.subjects.reference_crop(nora, 1),
        "subject_sources.add": lambda: jk.subject_sources.add(nora, 1, [tmp_path / "x.jpg"]),
        "subject_sources.list": lambda: jk.subject_sources.list(nora, 1),
        "subject_sources.remove": lambda: jk.subject_sources.remove(nora, 1, 1),
        "scans.get": lambda: jk.scans.get(nora, 1),
        "scans.report": lambda: jk.scans.report(nora, 1, "json"),
        "scans.resume": lambda: jk.scans.resume(nora, 1),
        "scans.start": lambda: jk.scans.start(nora, tmp_path, ScanOptions(case_id=1, jobs=1)),
        "scans.list": lambda: _empty(jk.scans.list(nora, case_id=1)),
        "review.item": lambda: jk.review.item(nora, 1),
        "review.queue": lambda: jk.review.queue(nora, case_id=1),
        "review.decide": lambda: jk.review.decide(nora, 1, "confirm"),
        "review.reveal": lambda: jk.review.reveal(nora, 1),
        "review.thumbnail": lambda: jk.review.thumbnail(nora, 1),
        "review.original": lambda: jk.review.original(nora, 1),
        "review.face_crop": lambda: jk.review.face_crop(nora, 1),
        "banks.add_files": lambda: jk.banks.add_files(nora, "case-1", [tmp_path / "x.jpg"]),
        "banks.import_list": lambda: jk.banks.import_list(nora, "case-1", "", "tx"),
        "banks.export_list": lambda: jk.banks.export_list(nora, "case-1", "tx"),
        "banks.feedback": lambda: jk.banks.feedback(nora, "case-1", "x", "confirmed"),
        "banks.delete": lambda: jk.banks.delete(nora, "case-1"),
        "custody.entries": lambda: jk.custody.entries(nora, 1),
        "evidence.export": lambda: jk.evidence.export(nora, 1, None, tmp_path / "x.zip"),
        "takedown.draft": lambda: jk.takedown.draft(nora, 1, "telegram", "en"),
        "takedown.case_notices": lambda: jk.takedown.case_notices(nora, 1),
        "takedown.notice": lambda: jk.takedown.notice(nora, 1),
        "takedown.eml": lambda: jk.takedown.eml(nora, 1),
        "takedown.edit": lambda: jk.takedown.edit(nora, 1, "subject", "body"),
        "takedown.send_one": lambda: jk.takedown.send_one(nora, 1),
        "takedown.mark": lambda: jk.takedown.mark(nora, 1, "sent"),
    }
    for name, call in calls.items():
        with pytest.raises(NotFound):
            call()
            pytest.fail(f"{name} answered a non-member")
    assert audit_size(world) == before
    assert [c["id"] for c in jk.cases.list(nora)] == [2]
    assert all(b["case_id"] != 1 for b in jk.banks.list(nora))
    assert all(e["case_id"] == 2 for e in jk.custody.entries(nora))


def _empty(rows: list) -> None:
    if not rows:
        raise NotFound("nothing visible")


def test_the_workspace_is_never_a_source(world, tmp_path):
    jk = Jikimi(world)
    cli = Actor.cli()
    for path in (world.home, world.home / "keys", world.home / "vault", world.home.parent):
        with pytest.raises(Exception, match="workspace"):
            jk.scans.start(cli, path, ScanOptions(jobs=1))
        with pytest.raises(Exception, match="workspace"):
            jk.accounts.allow_path(cli, path)
    folder = tmp_path / "drop"
    folder.mkdir()
    Path(folder / "a.txt").write_text("harmless")
    assert jk.accounts.allow_path(cli, folder)["path"] == str(folder.resolve())
