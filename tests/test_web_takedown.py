"""Takedown in the browser, over real HTTP: hosts, drafts, edits, SMTP delivery to a local
aiosmtpd server, status changes, what is due today, statistics, and the mail server settings."""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from sqlalchemy import select

from jikimi import clock
from jikimi.core import Actor, Jikimi
from jikimi.store.audit_models import AuditEntry
from jikimi.store.takedown_models import Notice
from jikimi.takedown import tracking
from jikimi.takedown.hosts import add_host
from test_evidence import reviewed_case
from test_takedown import draft as draft_notice
from test_web_support import ROLE_USERS, add_role_users, csrf_of, login, serve

T0 = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)  # 09:30 in Seoul


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1, on a free port; it keeps what it receives."""
    received = []

    class Keep(MessageHandler):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def world(ws, tmp_path, monkeypatch):
    """A case with three confirmed items; cora is its caseworker, rhee its reviewer, vic its viewer."""
    for key in ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "SENDER"):
        monkeypatch.delenv(f"JIKIMI_SMTP_{key}", raising=False)
    monkeypatch.delenv("JIKIMI_TIMEZONE", raising=False)
    add_role_users(ws)
    case_id, item_ids = reviewed_case(ws, tmp_path)
    jk = Jikimi(ws)
    for role in ("caseworker", "reviewer", "viewer"):
        jk.cases.add_member(Actor.cli(), case_id, ROLE_USERS[role], role)
    return ws, case_id, item_ids


def post(client, path: str, data: dict, csrf_page: str = "/takedown"):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, csrf_page)})


def notice_id(answer) -> int:
    assert answer.status_code == 303, answer.text[:500]
    return int(re.fullmatch(r"/takedown/notices/(\d+)", answer.headers["location"]).group(1))


def header(value: str) -> str:
    return str(make_header(decode_header(value)))


def actions_of(ws, reference: str) -> list[tuple[str, str]]:
    with ws.session() as session:
        return [(e.action, e.actor) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"notice:{reference}").order_by(AuditEntry.seq))]


def test_draft_edit_send_and_track_a_notice_in_korean(world, smtp_server):
    ws, case_id, item_ids = world
    port, received = smtp_server
    with serve(ws) as base:
        ada, cora, rhee = (login(base, ROLE_USERS[r]) for r in ("admin", "caseworker", "reviewer"))
        assert post(ada, "/takedown/smtp", {"host": "127.0.0.1", "port": port, "security": "none",
                                            "sender": "상담팀 <cases@centre.example>"}).status_code == 303

        page = cora.get(f"/cases/{case_id}/takedown?lang=ko").text
        assert "요청서 작성" in page and page.count('name="items"') == len(item_ids)
        answer = post(cora, f"/cases/{case_id}/notices",
                      {"host": "telegram", "language": "ko", "items": [str(i) for i in item_ids[:2]]})
        first = notice_id(answer)
        page = cora.get(f"/takedown/notices/{first}").text
        assert "Telegram은(는) 한국어 요청서를 읽지 않습니다" in page  # Telegram reads English
        reference = re.search(r"JKM-\d{4}-\d{6}", page).group(0)
        assert "KST" in page and "지금 보내기" in page

        english = notice_id(post(cora, f"/cases/{case_id}/notices", {"host": "telegram", "language": ""}))
        shown = cora.get(f"/api/takedown/notices/{english}").json()["notice"]
        assert (shown["language"], shown["language_warning"], len(shown["items"])) == ("en", False, 3)

        hostile = "[JKM] 삭제 요청\r\nBcc: list@evil.example"
        body = "담당자님께,\n\n아래 게시물을 삭제해 주십시오.\n수정한 문장입니다.\n"
        assert post(cora, f"/takedown/notices/{first}/edit", {"subject": hostile, "body": body}).status_code == 303
        assert post(rhee, f"/takedown/notices/{first}/send", {}).status_code == 403  # a reviewer reads only
        assert post(cora, f"/takedown/notices/{first}/send", {}).status_code == 303

        [message] = received
        assert message["To"] == "abuse@telegram.org" and message["Bcc"] is None
        assert header(message["Subject"]) == "[JKM] 삭제 요청 Bcc: list@evil.example"
        assert header(message["From"]) == "상담팀 <cases@centre.example>"
        assert "수정한 문장입니다." in message.get_payload(decode=True).decode("utf-8")

        assert post(cora, f"/takedown/notices/{first}/edit", {"subject": "x", "body": "y"}).status_code == 400
        assert post(cora, f"/takedown/notices/{first}/send", {}).status_code == 303  # sent again
        assert len(received) == 2
        assert post(cora, f"/takedown/notices/{first}/mark", {"status": "acknowledged",
                                                               "note": "접수 번호 4411"}).status_code == 303
        assert post(cora, f"/takedown/notices/{first}/mark", {"status": "removed"}).status_code == 303
        page = cora.get(f"/takedown/notices/{first}").text
        assert "삭제됨" in page and "2회 발송" in page and "접수 번호 4411" in page and "요청서 재발송" in page
        assert post(cora, f"/takedown/notices/{first}/mark", {"status": "sent"}).status_code == 400

        eml = cora.get(f"/takedown/notices/{first}/eml")
        assert eml.headers["content-type"].startswith("message/rfc822")
        assert message_from_bytes(eml.content, policy=default)["Subject"] == header(message["Subject"])

        stats = cora.get("/api/takedown/stats").json()["hosts"]
        assert [(s["host"], s["notices"], s["removed"], s["removal_rate"]) for s in stats] == [("telegram", 1, 1, 1.0)]
        assert "삭제 비율" in cora.get("/takedown/stats").text

    assert actions_of(ws, reference) == [("notice_draft", "cora"), ("notice_edit", "cora"), ("notice_sent", "cora"),
                                         ("notice_sent", "cora"), ("notice_acknowledged", "cora"),
                                         ("notice_removed", "cora")]
    with ws.session() as session:
        notice = session.scalar(select(Notice).where(Notice.reference == reference))
        assert (notice.status, notice.send_count, notice.note) == ("removed", 2, "접수 번호 4411")


def test_a_mail_server_that_refuses_leaves_the_notice_a_draft(world):
    ws, case_id, _ = world
    with serve(ws) as base:
        ada, cora = login(base, ROLE_USERS["admin"]), login(base, ROLE_USERS["caseworker"])
        post(ada, "/takedown/smtp", {"host": "127.0.0.1", "port": free_port(), "security": "none",
                                     "sender": "cases@centre.example"})
        notice = notice_id(post(cora, f"/cases/{case_id}/notices", {"host": "telegram"}))
        cora.get("/?lang=ko")
        answer = post(cora, f"/takedown/notices/{notice}/send", {})
        assert answer.status_code == 400 and "요청서를 보내지 못했습니다" in answer.text
        assert cora.get(f"/api/takedown/notices/{notice}").json()["notice"]["status"] == "drafted"


def test_a_host_that_takes_no_email_is_submitted_by_hand_and_marked(world):
    ws, case_id, _ = world
    with serve(ws) as base:
        cora = login(base, ROLE_USERS["caseworker"])
        notice = notice_id(post(cora, f"/cases/{case_id}/notices", {"host": "kcsc"}))
        page = cora.get(f"/takedown/notices/{notice}?lang=ko").text
        assert "이 곳은 이메일을 받지 않습니다" in page and "https://www.kocsc.or.kr" in page
        assert "지금 보내기" not in page and "발송함으로 기록" in page
        assert post(cora, f"/takedown/notices/{notice}/mark", {"status": "sent"}).status_code == 303
        assert cora.get(f"/api/takedown/notices/{notice}").json()["notice"]["status"] == "sent"


def test_hosts_are_added_and_corrected_by_caseworkers_and_read_by_everyone(world):
    ws, _, _ = world
    with serve(ws) as base:
        cora, vic = login(base, ROLE_USERS["caseworker"]), login(base, ROLE_USERS["viewer"])
        answer = post(cora, "/takedown/hosts", {"name": "Example-Hosting", "email": "abuse@example.org",
                                                "languages": ["ja", "en"], "notes": "answers in a week"})
        assert answer.status_code == 303
        hosts = {h["name"]: h for h in vic.get("/api/takedown/hosts").json()["hosts"]}
        assert hosts["example-hosting"]["languages"] == ["ja", "en"]
        assert "방송통신심의위원회" in vic.get("/takedown/hosts?lang=ko").text
        host_id = hosts["example-hosting"]["id"]
        assert post(vic, f"/takedown/hosts/{host_id}", {"email": "x@example.org"}).status_code == 403
        assert post(cora, f"/takedown/hosts/{host_id}", {"email": "not an address"}).status_code == 400
        assert post(cora, f"/takedown/hosts/{host_id}", {"email": "abuse@example.org", "url": "https://example.org/report",
                                                        "languages": ["ko"]}).status_code == 303
        host = vic.get("/api/takedown/hosts").json()["hosts"]
        assert [(h["languages"], h["url"], h["notes"]) for h in host if h["id"] == host_id] == [
            (["ko"], "https://example.org/report", None)]
    with ws.session() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.subject == "host:example-hosting")))
        assert [(e.action, e.actor) for e in entries] == [("host_add", "cora"), ("host_edit", "cora")]
        assert entries[1].details["languages"] == {"from": ["ja", "en"], "to": ["ko"]}


def test_mail_server_settings_never_show_the_password(world):
    ws, _, _ = world
    with serve(ws) as base:
        ada, cora = login(base, ROLE_USERS["admin"]), login(base, ROLE_USERS["caseworker"])
        assert cora.get("/takedown/smtp").status_code == 403
        settings = {"host": "smtp.centre.example", "port": "587", "security": "starttls",
                    "sender": "Cases <cases@centre.example>", "username": "centre", "password": "hunter2-long"}
        assert post(ada, "/takedown/smtp", settings).status_code == 303
        assert post(ada, "/takedown/smtp", {**settings, "password": ""}).status_code == 303  # kept
        shown = ada.get("/api/takedown/smtp").json()["smtp"]
        assert shown["password_set"] is True and "hunter2-long" not in json.dumps(shown)
        assert "hunter2-long" not in ada.get("/takedown/smtp").text
        assert json.loads((ws.home / "smtp.json").read_text())["password"] == "hunter2-long"
        assert (ws.home / "smtp.json").stat().st_mode & 0o077 == 0
        assert post(ada, "/takedown/smtp", {**settings, "port": "99999"}).status_code == 400
        assert post(ada, "/takedown/smtp", {**settings, "password": "", "clear_password": "1"}).status_code == 303
        assert ada.get("/api/takedown/smtp").json()["smtp"]["password_set"] is False
    with ws.session() as session:
        logged = [e.details for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "smtp_set"))]
    assert logged[0]["changed"] == ["host", "password", "port", "security", "sender", "username"]
    assert logged[1]["changed"] == ["password"] and "hunter2" not in json.dumps(logged)


def test_due_today_and_statistics_from_recorded_history(world):
    """Times are set through the tracking clock, so the history is exact; the pages read it back."""
    ws, case_id, _ = world
    now = datetime.now(timezone.utc)
    with ws.session() as session:
        add_host(session, "slowhost", "abuse@slow.example")
        removed_after = [2, 4, 30]  # hours: median 4
        for hours in removed_after:
            [n] = draft_notice(ws, session, case_id, "telegram", "en")
            tracking.mark(session, ws.home, n, "sent", clock=lambda: now - timedelta(days=10))
            tracking.mark(session, ws.home, n, "removed", clock=lambda: now - timedelta(days=10, hours=-hours))
        [refused] = draft_notice(ws, session, case_id, "slowhost", "en")
        tracking.mark(session, ws.home, refused, "sent", clock=lambda: now - timedelta(days=3))
        tracking.mark(session, ws.home, refused, "refused", clock=lambda: now - timedelta(days=2))
        [stale] = draft_notice(ws, session, case_id, "slowhost", "en")
        tracking.mark(session, ws.home, stale, "sent", clock=lambda: now - timedelta(hours=25))
        [fresh] = draft_notice(ws, session, case_id, "slowhost", "en")
        tracking.mark(session, ws.home, fresh, "sent", clock=lambda: now - timedelta(minutes=1))
        [never] = draft_notice(ws, session, case_id, "kcsc", "ko")
        references = {"stale": stale.reference, "fresh": fresh.reference, "never": never.reference}
    with serve(ws) as base:
        vic = login(base, ROLE_USERS["viewer"])
        due = [n["reference"] for n in vic.get("/api/takedown").json()["due"]]
        assert due == [references["stale"], references["never"]]  # not the one sent a minute ago
        page = vic.get("/takedown?lang=ko").text
        assert references["stale"] in page and references["fresh"] not in page and "지금" in page
        stats = {s["host"]: s for s in vic.get("/api/takedown/stats").json()["hosts"]}
        assert (stats["telegram"]["notices"], stats["telegram"]["removed"]) == (3, 3)
        assert stats["telegram"]["median_hours"] == pytest.approx(4)
        assert (stats["slowhost"]["notices"], stats["slowhost"]["refused"], stats["slowhost"]["open"]) == (3, 1, 2)
        assert stats["slowhost"]["removal_rate"] == 0 and "kcsc" not in stats  # drafts are not counted
        chart = vic.get("/takedown/stats?lang=ko").text
        bars = re.findall(r'<svg class="bar bar-(\w+)".*?<rect class="fill" width="([\d.]+)"', chart)
        assert bars == [("share", "0.0"), ("share", "100.0"), ("time", "0.0"), ("time", "100.0")]
        assert "4.0시간" in chart and "0%" in chart and "100%" in chart


def test_workspace_time_zone_names_the_zone_and_ends_today_at_local_midnight(monkeypatch):
    monkeypatch.delenv("JIKIMI_TIMEZONE", raising=False)
    assert clock.local("2026-03-02T00:30:00+00:00") == "2026-03-02 09:30 KST"
    assert clock.end_of_today(T0) == datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("JIKIMI_TIMEZONE", "Europe/Berlin")
    assert clock.local(T0) == "2026-03-02 01:30 CET"
    assert clock.end_of_today(T0) == datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("JIKIMI_TIMEZONE", "Mars/Olympus")
    with pytest.raises(Exception, match="not a time zone"):
        clock.workspace_zone()
