"""Webhooks against a real HTTP receiver on 127.0.0.1 (allowed explicitly), real SQLite."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from conftest import picture, save_jpeg
from jikimi.core import Actor, Jikimi, NotAllowed
from jikimi.scan import ScanOptions
from jikimi.store.audit_models import AuditEntry
from jikimi.store.webhook_models import WebhookTarget
from jikimi.webhooks import outbox, sender, signing
from jikimi.webhooks.destinations import DestinationRefused, checked_address

ADMIN = Actor.cli()


class Receiver:
    """A threaded HTTP server that records each request and answers the next queued status."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def jk(ws):
    return Jikimi(ws)


def hook(jk, receiver, events=None) -> dict:
    jk.webhooks.allow_host(ADMIN, "127.0.0.1", ["127.0.0.1"])
    return jk.webhooks.add(ADMIN, receiver.url, events)


def test_a_match_and_a_decision_reach_the_receiver_signed_and_without_names(jk, ws, receiver, tmp_path):
    target = hook(jk, receiver)
    known = save_jpeg(picture("astronaut"), tmp_path / "known" / "kim-private.jpg")
    jk.banks.create(ADMIN, "victim-bank-name")
    jk.banks.add_files(ADMIN, "victim-bank-name", [known])
    source = tmp_path / "source"
    (source / "posted.jpg").parent.mkdir(parents=True)
    (source / "posted.jpg").write_bytes(known.read_bytes())
    scan_id = jk.scans.start(ADMIN, source, ScanOptions(jobs=1, analyse=False))
    assert receiver.requests == []  # nothing is sent from the scan itself: the outbox holds it

    assert jk.webhooks.send_due(ADMIN).delivered == 1
    sent = receiver.requests[0]
    assert signing.verify(target["secret"], sent["headers"][signing.HEADER], sent["body"])
    payload = json.loads(sent["body"])
    assert payload["type"] == "match.created" and sent["headers"]["Jikimi-Event"] == "match.created"
    assert payload["data"]["scan_id"] == scan_id
    assert {m["kind"] for m in payload["data"]["matches"]} >= {"sha256", "md5"}
    assert b"victim-bank-name" not in sent["body"] and b"kim-private" not in sent["body"]

    jk.review.decide(ADMIN, payload["data"]["item_id"], "confirm", note="her name is in this note")
    assert jk.webhooks.send_due(ADMIN).delivered == 1
    decided = json.loads(receiver.requests[1]["body"])
    assert decided["type"] == "decision.made" and decided["data"]["verdict"] == "confirm"
    assert b"her name" not in receiver.requests[1]["body"]


def test_retries_after_500s_with_backoff_then_delivers(jk, ws, receiver):
    hook(jk, receiver)
    receiver.statuses = [500, 503]
    with ws.session() as session:
        assert outbox.enqueue(session, "decision.made", {"decision_id": 1}) == 1
    now = datetime.now(timezone.utc)
    assert jk.webhooks.send_due(ADMIN, now=now).failed == 1
    assert jk.webhooks.send_due(ADMIN, now=now).failed == 0  # not due again yet
    [pending] = jk.webhooks.deliveries(ADMIN)
    wait = datetime.fromisoformat(pending["next_attempt_at"]) - now
    assert sender.BASE_DELAY_SECONDS / 2 <= wait.total_seconds() <= sender.BASE_DELAY_SECONDS
    assert jk.webhooks.send_due(ADMIN, now=now + timedelta(seconds=31)).failed == 1
    assert jk.webhooks.send_due(ADMIN, now=now + timedelta(seconds=200)).delivered == 1
    [done] = jk.webhooks.deliveries(ADMIN)
    assert done["status"] == "delivered" and done["attempts"] == 3
    assert [a["status_code"] for a in done["log"]] == [500, 503, 200]
    assert len(receiver.requests) == 3
    ids = {json.loads(r["body"])["id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event each time: the receiver can deduplicate


def test_two_senders_at_once_post_each_delivery_once(jk, ws, receiver):
    hook(jk, receiver)
    with ws.session() as session:
        for n in range(20):
            outbox.enqueue(session, "match.created", {"item_id": n})
    results, errors = [], []

    def send():
        try:
            results.append(sender.send_due(ws))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.delivered for r in results) == 20
    assert sorted(json.loads(r["body"])["data"]["item_id"] for r in receiver.requests) == list(range(20))


def test_backoff_doubles_with_jitter_and_is_capped():
    import random
    rng = random.Random(7)
    delays = [sender.backoff_seconds(n, rng) for n in range(1, 20)]
    for n, delay in enumerate(delays, 1):
        full = min(sender.MAX_DELAY_SECONDS, sender.BASE_DELAY_SECONDS * 2 ** (n - 1))
        assert full / 2 <= delay <= full


def test_dead_letter_after_n_failures_then_manual_retry(jk, ws, receiver):
    hook(jk, receiver)
    receiver.statuses = [500] * 3
    with ws.session() as session:
        outbox.enqueue(session, "match.created", {"item_id": 1})
    now = datetime.now(timezone.utc)
    results = [jk.webhooks.send_due(ADMIN, now=now + timedelta(hours=7 * n), max_attempts=3) for n in range(4)]
    assert [(r.failed, r.dead) for r in results] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    [dead] = jk.webhooks.deliveries(ADMIN, status="dead")
    assert dead["attempts"] == 3 and dead["last_error"] == "the receiver answered 500"
    with ws.session() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook_dead"))
        assert entry.actor == sender.SENDER_ACTOR

    jk.webhooks.retry(ADMIN, dead["id"])
    assert jk.webhooks.send_due(ADMIN).delivered == 1
    assert jk.webhooks.deliveries(ADMIN, status="dead") == []
    with ws.session() as session:
        retried = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook_retry"))
        assert retried.actor == ADMIN.log_name


def test_a_redirect_is_a_failure_and_is_not_followed(jk, ws, receiver):
    hook(jk, receiver)
    receiver.statuses = [302]
    with ws.session() as session:
        outbox.enqueue(session, "match.created", {"item_id": 1})
    assert jk.webhooks.send_due(ADMIN).failed == 1
    assert [r["path"] for r in receiver.requests] == ["/hook"]
    assert "redirects are not followed" in jk.webhooks.deliveries(ADMIN)[0]["last_error"]


def test_hosts_not_allowed_are_refused_when_added(jk):
    with pytest.raises(DestinationRefused, match="example.org is not an allowed webhook host"):
        jk.webhooks.add(ADMIN, "https://example.org/hook")
    for bad in ("ftp://example.org/x", "https://user:pw@example.org/x", "not a url"):
        with pytest.raises(DestinationRefused):
            jk.webhooks.add(ADMIN, bad)


def test_an_internal_address_not_allowed_is_never_contacted(jk, ws, receiver):
    jk.webhooks.allow_host(ADMIN, "localhost")  # the name is allowed, its loopback address is not
    jk.webhooks.add(ADMIN, receiver.url.replace("127.0.0.1", "localhost"))
    with ws.session() as session:
        outbox.enqueue(session, "match.created", {"item_id": 1})
    assert jk.webhooks.send_due(ADMIN).failed == 1
    assert receiver.requests == []
    assert "internal address that was not allowed" in jk.webhooks.deliveries(ADMIN)[0]["last_error"]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "100.64.0.1",
                                     "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"])
def test_internal_addresses_are_refused_unless_allowed_by_address(address):
    with pytest.raises(DestinationRefused, match="internal address"):
        checked_address(address, 443, [])
    assert checked_address(address, 443, [address if ":" not in address else f"{address}/128"]) == address


def test_a_public_address_passes():
    assert checked_address("8.8.8.8", 443, []) == "8.8.8.8"


def test_a_removed_host_stops_deliveries(jk, ws, receiver):
    hook(jk, receiver)
    jk.webhooks.disallow_host(ADMIN, "127.0.0.1")
    with ws.session() as session:
        outbox.enqueue(session, "match.created", {"item_id": 1})
    jk.webhooks.send_due(ADMIN)
    assert receiver.requests == []
    assert "no longer allowed" in jk.webhooks.deliveries(ADMIN)[0]["last_error"]


def test_signature_rejects_a_changed_body_a_wrong_secret_and_an_old_timestamp():
    body = b'{"a":1}'
    header = signing.sign("whsec_x", body, timestamp=1_000_000)
    assert signing.verify("whsec_x", header, body, now=1_000_010) == 1_000_000
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_x", header, b'{"a":2}', now=1_000_010)
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_y", header, body, now=1_000_010)
    with pytest.raises(signing.SignatureError, match="old"):
        signing.verify("whsec_x", header, body, now=1_000_000 + signing.TOLERANCE_SECONDS + 1)
    with pytest.raises(signing.SignatureError, match="timestamp"):
        signing.verify("whsec_x", "v1=abc", body)


def test_secret_is_encrypted_at_rest_and_changes_are_logged_with_the_actor(jk, ws, receiver):
    target = hook(jk, receiver)
    with ws.session() as session:
        row = session.get(WebhookTarget, target["id"])
        assert target["secret"].encode() not in row.secret
        actions = {e.action: e.actor for e in session.scalars(select(AuditEntry))}
    assert actions["webhook_host_allow"] == actions["webhook_add"] == ADMIN.log_name
    assert "secret" not in jk.webhooks.list(ADMIN)[0]
    jk.webhooks.remove(ADMIN, target["id"])
    with ws.session() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook_remove")) is not None


def test_only_admins_configure_or_read_webhooks(jk):
    caseworker = Actor("cw", "caseworker", "web", user_id=99)
    for call in (lambda: jk.webhooks.allow_host(caseworker, "example.org"), lambda: jk.webhooks.list(caseworker),
                 lambda: jk.webhooks.deliveries(caseworker), lambda: jk.webhooks.add(caseworker, "https://x.org/")):
        with pytest.raises(NotAllowed):
            call()
