"""Takedown notices: hosts, drafts in every language, SMTP delivery on loopback, tracking, stats."""

import json
import socket
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from sqlalchemy import select

from jikimi.audit import AuditLog
from jikimi.cases import create_case
from jikimi.errors import JikimiError
from jikimi.store.models import Item
from jikimi.store.takedown_models import Host, Notice
from jikimi.takedown import hosts, notices, send, tracking
from jikimi.core.case_items import select_items
from test_evidence import CHAT_ID, FIRST_MESSAGE, reviewed_case


def draft(ws, session, case_id: int, host: str, lang: str, item_ids: list[int] | None = None, *args, **options):
    """As the core does it: choose the case's items, then draft the notices about them."""
    return notices.draft_notices(ws, session, case_id, host, lang, select_items(session, case_id, item_ids), *args,
                                 **options)

T0 = datetime(2024, 9, 1, 9, 0, tzinfo=timezone.utc)
EXPECTED = {  # per language: words of the request, the legal basis and the withheld identity
    "ko": ("삭제 요청", "법적 근거", "성명과 신원은 기재하지 않습니다"),
    "en": ("Removal request", "LEGAL BASIS", "name and identity are withheld"),
    "ja": ("削除依頼", "法的根拠", "氏名および身元は記載しません"),
    "zh": ("删除请求", "法律依据", "不提供其姓名和身份信息"),
}


class Clock:
    def __init__(self, start=T0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def case(ws, tmp_path):
    return reviewed_case(ws, tmp_path)


def body_of(notice):
    return message_from_bytes(notice.eml, policy=default).get_content()


def test_builtin_hosts_and_added_hosts(ws):
    with ws.session() as session:
        names = {h.name: h for h in hosts.list_hosts(session)}
        assert names["telegram"].email == "abuse@telegram.org" and names["telegram"].kind == "builtin"
        assert names["kcsc"].email is None and "방송통신심의위원회" in names["kcsc"].notes
        added = hosts.add_host(session, "Example-Hosting", "abuse@example.org", ["ja", "en"])
        assert (added.name, added.kind, added.languages) == ("example-hosting", "custom", ["ja", "en"])
        with pytest.raises(JikimiError, match="already exists"):
            hosts.add_host(session, "example-hosting", "abuse@example.org")
        with pytest.raises(JikimiError, match="not an e-mail"):
            hosts.add_host(session, "bad", "not-an-address")
        with pytest.raises(JikimiError, match="no notice template"):
            hosts.add_host(session, "other", "a@b.org", ["fr"])
        hosts.ensure_builtin_hosts(session)
        assert session.query(Host).count() == 3


@pytest.mark.parametrize("lang", ["ko", "en", "ja", "zh"])
def test_notice_in_every_language_has_the_expected_fields(ws, case, tmp_path, lang):
    case_id, item_ids = case
    with ws.session() as session:
        [notice] = draft(ws, session, case_id, "telegram", lang, out_dir=tmp_path / "out",
                                         clock=Clock())
        reference, sha256s = notice.reference, [i.sha256 for i in notice.items]
    assert reference == "JKM-2024-000001"
    eml = (tmp_path / "out" / f"{reference}.eml").read_bytes()
    message = message_from_bytes(eml, policy=default)
    assert message["To"] == "abuse@telegram.org" and message["From"] and message["Date"]
    assert message["Message-ID"].startswith("<") and message["X-Jikimi-Reference"] == reference
    assert reference in message["Subject"] and EXPECTED[lang][0] in message["Subject"]
    body = message.get_content()
    for expected in EXPECTED[lang][1:]:
        assert expected in body
    assert notices.DEFAULT_LEGAL_BASIS[lang] in body
    assert f"https://t.me/c/1234567890/{FIRST_MESSAGE}" in body and f"https://t.me/c/1234567890/{FIRST_MESSAGE + 99}" in body
    assert all(sha in body for sha in sha256s) and len(sha256s) == len(item_ids)
    assert "피해자 본인 확인" not in body  # review notes stay inside the centre


def test_victim_identity_only_when_included_and_legal_basis_is_editable(ws, case):
    case_id, _ = case
    with ws.session() as session:
        [plain] = draft(ws, session, case_id, "telegram", "en")
        [named] = draft(ws, session, case_id, "telegram", "en", victim="Kim Ji-won, born 2008",
                                        legal_basis="Section 1 of the Example Act")
        assert "Kim Ji-won" not in body_of(plain) and "withheld" in body_of(plain)
        assert "Kim Ji-won, born 2008" in body_of(named) and "Section 1 of the Example Act" in body_of(named)
        assert named.reference == plain.reference[:-1] + "2"
        details = [e.details for e in AuditLog(session, ws.home).entries() if e.action == "notice_draft"]
        assert [d["identity_included"] for d in details] == [False, True]


def test_big_cases_are_split_into_several_notices(ws, case, monkeypatch):
    case_id, item_ids = case
    monkeypatch.setattr(notices, "MAX_ITEMS_PER_NOTICE", 2)
    with ws.session() as session:
        drafted = draft(ws, session, case_id, "kcsc", "ko")
        assert [len(n.items) for n in drafted] == [2, 1]
        assert "To" not in message_from_bytes(drafted[0].eml, policy=default)  # KCSC takes reports by hand


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1, on a free port; it keeps what it receives."""
    received = []

    class Keep(MessageHandler):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def test_send_through_a_local_smtp_server_and_resend(ws, case, smtp_server, monkeypatch):
    port, received = smtp_server
    case_id, _ = case
    (ws.home / "smtp.json").write_text(json.dumps(
        {"host": "127.0.0.1", "port": port, "security": "none", "sender": "Case team <cases@centre.example>"}))
    config = send.load_config(ws.home)
    clock = Clock()
    with ws.session() as session:
        [notice] = draft(ws, session, case_id, "telegram", "en", clock=clock)
        clock.advance(minutes=5)
        send.send_notice(session, ws.home, notice, config, clock=clock)
        assert (notice.status, notice.send_count, notice.sent_at) == ("sent", 1, clock.now)
        clock.advance(hours=24)
        send.send_notice(session, ws.home, notice, config, clock=clock)
        assert (notice.send_count, notice.last_sent_at, notice.sent_at) == (2, clock.now, T0 + timedelta(minutes=5))
    assert len(received) == 2
    message = received[0]
    assert message["To"] == "abuse@telegram.org" and message["From"] == "Case team <cases@centre.example>"
    assert message["X-Jikimi-Reference"] == notice.reference
    assert f"https://t.me/c/{str(CHAT_ID)[4:]}/{FIRST_MESSAGE}" in message.get_payload(decode=True).decode("utf-8")


def test_without_smtp_drafts_are_sent_by_hand_and_marked(ws, case, monkeypatch):
    for key in ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "SENDER"):
        monkeypatch.delenv(f"JIKIMI_SMTP_{key}", raising=False)
    case_id, _ = case
    assert send.load_config(ws.home) is None
    with ws.session() as session:
        [notice] = draft(ws, session, case_id, "telegram", "en")
        with pytest.raises(send.SmtpNotConfigured, match=f"takedown mark {notice.reference} sent"):
            send.send_notice(session, ws.home, notice, None)
        tracking.mark(session, ws.home, notice, "sent")
        assert notice.status == "sent" and notice.send_count == 1


def test_smtp_settings_from_the_environment(ws, monkeypatch):
    monkeypatch.setenv("JIKIMI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("JIKIMI_SMTP_PORT", "2525")
    monkeypatch.setenv("JIKIMI_SMTP_SENDER", "cases@centre.example")
    assert send.load_config(ws.home) == send.SmtpConfig("127.0.0.1", "cases@centre.example", 2525)
    monkeypatch.setenv("JIKIMI_SMTP_SECURITY", "plaintext-please")
    with pytest.raises(JikimiError, match="security"):
        send.load_config(ws.home)


def test_status_transitions_and_resend_schedule(ws, case):
    case_id, _ = case
    clock = Clock()
    with ws.session() as session:
        drafted = [draft(ws, session, case_id, host, "en", clock=clock)[0]
                   for host in ("telegram", "telegram", "kcsc")]
        a, b, c = drafted
        assert tracking.due(session, clock.now) == drafted  # never sent: due now
        for notice in drafted:
            tracking.mark(session, ws.home, notice, "sent", clock=clock)
        assert tracking.due(session, clock.now) == []
        clock.advance(hours=23, minutes=59)
        assert tracking.due(session, clock.now) == []
        tracking.mark(session, ws.home, b, "acknowledged", clock=clock)
        tracking.mark(session, ws.home, c, "removed", clock=clock)
        clock.advance(minutes=1)
        assert tracking.due(session, clock.now) == [a, b]  # acknowledged is not removed
        assert tracking.due(session, clock.now, every=timedelta(hours=48)) == []
        tracking.mark(session, ws.home, a, "sent", clock=clock)
        tracking.mark(session, ws.home, b, "refused", note="not against our terms", clock=clock)
        assert tracking.due(session, clock.now + timedelta(days=1)) == [a]
        assert (a.send_count, a.sent_at, a.last_sent_at) == (2, T0, clock.now)
        assert (b.refused_at, b.note, c.removed_at) == (clock.now, "not against our terms", T0 + timedelta(hours=23, minutes=59))
        with pytest.raises(JikimiError, match="is removed: it cannot be marked sent"):
            tracking.mark(session, ws.home, c, "sent")
        with pytest.raises(JikimiError, match="can be marked"):
            tracking.mark(session, ws.home, a, "drafted")
        assert tracking.get_notice(session, a.reference.lower()) is a
        actions = [e.action for e in AuditLog(session, ws.home).entries() if e.subject == f"notice:{b.reference}"]
        assert actions == ["notice_draft", "notice_sent", "notice_acknowledged", "notice_refused"]


def test_stats_on_a_constructed_history(ws, tmp_path):
    case_id, _ = reviewed_case(ws, tmp_path)
    hours_to_removal = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
    clock = Clock()
    with ws.session() as session:
        hosts.add_host(session, "slowhost", "abuse@slow.example")
        for hours in hours_to_removal:
            [n] = draft(ws, session, case_id, "telegram", "en", clock=clock)
            tracking.mark(session, ws.home, n, "sent", clock=clock)
            tracking.mark(session, ws.home, n, "removed", clock=lambda: clock.now + timedelta(hours=hours))
        for status in ("refused", "sent", "acknowledged"):
            [n] = draft(ws, session, case_id, "telegram", "en", clock=clock)
            tracking.mark(session, ws.home, n, "sent", clock=clock)
            if status != "sent":
                tracking.mark(session, ws.home, n, status, clock=clock)
        [slow] = draft(ws, session, case_id, "slowhost", "en", clock=clock)
        tracking.mark(session, ws.home, slow, "sent", clock=clock)
        draft(ws, session, case_id, "kcsc", "ko", clock=clock)  # never sent: not counted
        session.flush()
        session.expire_all()  # read back through SQLite, which drops time zones
        by_host = {s.host: s for s in tracking.stats(session)}
    assert set(by_host) == {"telegram", "slowhost"}
    telegram = by_host["telegram"]
    assert (telegram.notices, telegram.removed, telegram.refused, telegram.open) == (13, 10, 1, 2)
    assert telegram.removal_rate == pytest.approx(10 / 13)
    assert telegram.median_hours == pytest.approx(5.5) and telegram.p90_hours == pytest.approx(9)
    slowhost = by_host["slowhost"]
    assert (slowhost.notices, slowhost.removed, slowhost.removal_rate, slowhost.median_hours) == (1, 0, 0.0, None)


def test_reuploads_are_linked_to_earlier_notices(ws, case):
    case_id, item_ids = case
    with ws.session() as session:
        [first] = draft(ws, session, case_id, "telegram", "en", [item_ids[0]])
        [second] = draft(ws, session, case_id, "kcsc", "ko", item_ids[:2])
        sha0, sha1 = (i.sha256 for i in second.items)
        found = tracking.reupload_notices(session, [sha0, sha1, "0" * 64])
        assert found == {sha0: [first, second], sha1: [second]}
        assert session.scalar(select(Notice.eml_path).where(Notice.id == first.id)).endswith(f"{first.reference}.eml")


def test_draft_refuses_unknown_languages_hosts_and_cases(ws, case):
    case_id, _ = case
    with ws.session() as session:
        with pytest.raises(JikimiError, match="language 'fr'"):
            draft(ws, session, case_id, "telegram", "fr")
        with pytest.raises(JikimiError, match="no host named"):
            draft(ws, session, case_id, "nowhere", "en")
        empty = create_case(ws, session, "empty", "kim").id
        with pytest.raises(JikimiError, match="no confirmed items"):
            draft(ws, session, empty, "telegram", "en")


def test_command_line_flow(ws, tmp_path, monkeypatch):
    """review -> evidence export/verify -> takedown draft/due/mark/stats -> host add/list -> audit."""
    from typer import Typer
    from typer.testing import CliRunner

    from jikimi.cli_actions import audit_app, evidence_app, host_app, review, takedown_app

    app = Typer()
    app.command()(review)
    for sub, name in ((audit_app, "audit"), (evidence_app, "evidence"), (takedown_app, "takedown"), (host_app, "host")):
        app.add_typer(sub, name=name)
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    monkeypatch.setenv("JIKIMI_OPERATOR", "caseworker-lee")
    case_id, item_ids = reviewed_case(ws, tmp_path, confirm=0)
    assert "confirm" in run("review", item_ids[0], "confirm", "--note", "matches her photo")
    run("review", item_ids[1], "reject")
    run("review", item_ids[2], "maybe", code=1)
    package = tmp_path / "case.zip"
    assert "1 item(s), verified" in run("evidence", "export", case_id, "-o", package, "--lang", "en")
    assert json.loads(run("evidence", "verify", package, "--json", code=3))["status"] == "unpinned"
    fingerprint = run("audit", "key").strip()
    assert json.loads(run("evidence", "verify", package, "--key", fingerprint, "--json"))["status"] == "trusted"
    package.write_bytes(package.read_bytes()[:-10])
    assert "NOT INTACT" in run("evidence", "verify", package, code=1)
    run("host", "add", "example-hosting", "--email", "abuse@example.org", "--lang", "ja")
    assert {h["name"] for h in json.loads(run("host", "list", "--json"))} == {"telegram", "kcsc", "example-hosting"}
    [drafted] = json.loads(run("takedown", "draft", case_id, "--to", "example-hosting", "--lang", "ja",
                               "-o", tmp_path / "eml", "--json"))
    assert (tmp_path / "eml" / f"{drafted['reference']}.eml").exists()
    assert [d["reference"] for d in json.loads(run("takedown", "due", "--json"))] == [drafted["reference"]]
    run("takedown", "mark", drafted["reference"], "sent")
    assert json.loads(run("takedown", "due", "--json")) == []
    run("takedown", "mark", drafted["reference"], "removed", "--note", "gone")
    [stats] = json.loads(run("takedown", "stats", "--json"))
    assert (stats["host"], stats["removal_rate"]) == ("example-hosting", 1.0)
    assert "intact" in run("audit", "verify")
    shown = [e for e in json.loads(run("audit", "show", "--case", case_id, "--json"))
             if e["action"] != "admin_read"]  # the CLI acts as an admin: its reads of the case are logged
    assert [e["action"] for e in shown][-3:] == ["notice_draft", "notice_sent", "notice_removed"]
    assert {e["actor"] for e in shown if e["action"] != "case_create"} == {"caseworker-lee"}


def test_command_line_send_delivers_due_notices(ws, tmp_path, smtp_server, monkeypatch):
    from typer.testing import CliRunner

    from jikimi.cli_actions import takedown_app

    port, received = smtp_server
    for key, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("SECURITY", "none"), ("SENDER", "cases@centre.example")):
        monkeypatch.setenv(f"JIKIMI_SMTP_{key}", value)
    case_id, _ = reviewed_case(ws, tmp_path)
    runner = CliRunner()
    for host in ("telegram", "kcsc"):
        assert runner.invoke(takedown_app, ["draft", str(case_id), "--to", host, "--lang", "ko"]).exit_code == 0
    result = runner.invoke(takedown_app, ["send"])
    assert result.exit_code == 1  # KCSC takes no e-mail: said plainly, the other one still goes out
    assert "Sent JKM-" in result.output and "takes no e-mail" in result.output
    assert len(received) == 1 and received[0]["To"] == "abuse@telegram.org"
    assert runner.invoke(takedown_app, ["send"]).output.count("Sent") == 0


def test_a_later_scan_flags_re_uploads_with_the_earlier_notice(ws, case, tmp_path):
    """Confirmed content posted again, as is or altered, is linked to the notice that named it."""
    from PIL import Image

    from jikimi.reports.data import scan_report
    from jikimi.scan import ScanOptions, start_scan
    from jikimi.store.models import Item

    case_id, item_ids = case
    with ws.session() as session:
        [notice] = draft(ws, session, case_id, "telegram", "en", [item_ids[0]])
        original = ws.vault.read_bytes(session.get(Item, item_ids[0]).sha256)
    later = tmp_path / "later"
    later.mkdir()
    (later / "same.jpg").write_bytes(original)
    with Image.open(later / "same.jpg") as image:
        image.resize((image.width // 2, image.height // 2)).save(later / "smaller.jpg", quality=60)
    scan_id = start_scan(ws, later, ScanOptions(jobs=1, case_id=case_id, analyse=False))
    with ws.session() as session:
        items = {i["locators"][0]["path"]: i for i in scan_report(session, scan_id)["items"]}
    expected = [{"reference": notice.reference, "status": "drafted"}]
    assert items["same.jpg"]["reupload_of"] == expected
    assert items["smaller.jpg"]["reupload_of"] == expected


def test_abuser_controlled_names_cannot_add_lines_to_a_notice(ws, case):
    case_id, item_ids = case
    hostile = "Room 7\nBcc: victim-list@evil.example\r\nSubject: pay now\u2028To: x@evil.example"
    with ws.session() as session:
        for locator in session.get(Item, item_ids[0]).locators:
            locator.fields = {**locator.fields, "chat": hostile}
        [notice] = draft(ws, session, case_id, "telegram", "en")
    message = message_from_bytes(notice.eml, policy=default)
    body = message.get_content()
    assert not [line for line in body.splitlines() if line.lstrip().startswith(("Bcc:", "Subject:", "To:"))]
    assert 'Posted in: "Room 7 Bcc: victim-list@evil.example Subject: pay now To: x@evil.example"' in body
    assert message["Bcc"] is None and message["Subject"].strip().startswith("[JKM-")
