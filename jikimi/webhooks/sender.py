"""The background sender: posts due outbox rows, retries with backoff, dead-letters.

Rows are claimed in a short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL) by moving
their next attempt a lease ahead, so two senders never post the same row at once, and a
sender that dies mid-post leaves the row to be retried when the lease ends. Each try is
written to the delivery log. Redirects are never followed: a 3xx is a failed try.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from jikimi import keys
from jikimi.audit import AuditLog
from jikimi.store.webhook_models import WebhookAttempt, WebhookDelivery, WebhookHost, WebhookTarget
from jikimi.webhooks import signing
from jikimi.webhooks.destinations import DestinationRefused, checked_address, parse_url
from jikimi.workspace import Workspace

MAX_ATTEMPTS = 12  # with the delays below, tries spread over 7 to 15 hours (a receiver down overnight), then dead
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 6 * 3600.0
LEASE_SECONDS = 120  # longer than one post can take (TIMEOUT_SECONDS), so a claim is not stolen
TIMEOUT_SECONDS = 10.0
BATCH = 50
SENDER_ACTOR = "webhook sender"
USER_AGENT = "Jikimi-Webhooks/1"


def secret_associated(target_id: int) -> bytes:
    return f"webhook_target:{target_id}".encode()


def backoff_seconds(attempts: int, rng: random.Random = random) -> float:
    """Exponential backoff with jitter (half fixed, half random), so many failed deliveries
    to one receiver that comes back do not all arrive in the same second."""
    delay = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempts - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


@dataclass
class SendResult:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate checked against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, allowed: list[str], body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked address of `url`; returns the status code (redirects not followed)."""
    dest = parse_url(url)
    address = checked_address(dest.host, dest.port, allowed)
    connection_cls = _PinnedHTTPS if dest.scheme == "https" else _PinnedHTTP
    connection = connection_cls(dest.host, dest.port, address, TIMEOUT_SECONDS)
    try:
        connection.request("POST", dest.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def send_due(ws: Workspace, now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS,
             rng: random.Random = random) -> SendResult:
    """Post every delivery due at `now`; what fails is rescheduled or dead-lettered."""
    now = now or datetime.now(timezone.utc)
    result = SendResult()
    for delivery_id in _claim(ws, now):
        _send_one(ws, delivery_id, now, max_attempts, rng, result)
    return result


def run(ws: Workspace, poll_seconds: float = 5.0, stop=lambda: False) -> None:
    """Send forever (`jikimi webhook send --watch`), polling the outbox."""
    while not stop():
        if not any(vars(send_due(ws)).values()):
            time.sleep(poll_seconds)


def _claim(ws: Workspace, now: datetime) -> list[int]:
    """One UPDATE ... RETURNING: it takes the write lock before reading on SQLite (two senders
    never both upgrade a read), and on PostgreSQL a row another sender claimed meanwhile no
    longer passes the re-checked `next_attempt_at <= now`."""
    due = (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now)
    batch = (select(WebhookDelivery.id).where(due).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
             .limit(BATCH).with_for_update(skip_locked=True))
    with ws.session() as session:
        claimed = session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(batch), due)
            .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
            .returning(WebhookDelivery.id).execution_options(synchronize_session=False))
        return sorted(claimed.scalars())


def _send_one(ws: Workspace, delivery_id: int, now: datetime, max_attempts: int, rng: random.Random,
              result: SendResult) -> None:
    with ws.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery.status != "pending":  # its target was removed after the claim
            return
        target = session.get(WebhookTarget, delivery.target_id)
        host = session.scalar(select(WebhookHost).where(WebhookHost.host == parse_url(target.url).host))
        secret = keys.decrypt(keys.workspace_key(ws.home), target.secret, secret_associated(target.id),
                              "a webhook secret").decode()
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Jikimi-Event": delivery.event, "Jikimi-Delivery": str(delivery.id),
               signing.HEADER: signing.sign(secret, body)}
    started = time.monotonic()
    status, error = None, None
    try:
        if host is None:
            raise DestinationRefused(f"{target.url}: its host is no longer allowed")
        if not target.enabled:
            raise DestinationRefused("the target was disabled")
        status = post(target.url, host.addresses, body, headers)
        if not 200 <= status < 300:
            error = f"the receiver answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    except (DestinationRefused, OSError, http.client.HTTPException) as e:
        error = str(e) or e.__class__.__name__
    seconds = time.monotonic() - started
    with ws.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        session.add(WebhookAttempt(delivery_id=delivery_id, at=now, status_code=status, error=error, seconds=seconds))
        delivery.attempts += 1
        delivery.last_error = error
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
            result.delivered += 1
        elif delivery.attempts >= max_attempts:
            delivery.status = "dead"
            result.dead += 1
            AuditLog(session, ws.home).append("webhook_dead", f"webhook_delivery:{delivery_id}",
                                              {"target_id": delivery.target_id, "event": delivery.event,
                                               "attempts": delivery.attempts, "error": error},
                                              actor=SENDER_ACTOR)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts, rng))
            result.failed += 1
