"""Webhooks as an admin configures them: allowed hosts, targets, deliveries and retries.

Only admins see or change them (a target receives events of every case). Every change is
in the custody log with the actor; a target's secret is shown once, when it is created,
and kept encrypted with the workspace key.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlalchemy import select

from jikimi import keys
from jikimi.core.access import NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.serialize import iso
from jikimi.store.webhook_models import WebhookAttempt, WebhookDelivery, WebhookHost, WebhookTarget
from jikimi.webhooks import sender
from jikimi.webhooks.destinations import DestinationRefused, normalise_allowed, parse_url
from jikimi.webhooks.outbox import EVENTS

SECRET_PREFIX = "whsec_"


class Webhooks(Part):
    def allow_host(self, actor: Actor, host: str, addresses: list[str] | None = None) -> dict:
        """Allow a host name as a destination; `addresses`: internal addresses it may resolve to."""
        with self._open(actor) as (session, access):
            access.require_admin("allow webhook hosts")
            name = host.strip().lower().strip("[]")
            if not name or any(c in name for c in "/?#@ ") or (":" in name and not _is_ip(name)):
                raise DestinationRefused(f"{host!r}: give a host name or an address, without scheme or port")
            allowed = normalise_allowed(addresses or [])
            row = session.scalar(select(WebhookHost).where(WebhookHost.host == name))
            if row is None:
                row = WebhookHost(host=name, addresses=allowed, added_by=actor.log_name)
                session.add(row)
            else:
                row.addresses = allowed
            session.flush()
            self._log(session, actor, "webhook_host_allow", f"webhook_host:{row.id}",
                      {"host": name, "addresses": allowed})
            return _host_json(row)

    def disallow_host(self, actor: Actor, host: str) -> dict:
        with self._open(actor) as (session, access):
            access.require_admin("change webhook hosts")
            row = session.scalar(select(WebhookHost).where(WebhookHost.host == host.strip().lower()))
            if row is None:
                raise NotFound(f"no allowed webhook host {host!r}")
            self._log(session, actor, "webhook_host_remove", f"webhook_host:{row.id}", {"host": row.host})
            session.delete(row)
            return {"removed": row.host}

    def hosts(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require_admin("see webhook hosts")
            return [_host_json(h) for h in session.scalars(select(WebhookHost).order_by(WebhookHost.host))]

    def add(self, actor: Actor, url: str, events: list[str] | None = None) -> dict:
        """A new target; the answer holds its secret, the only time it is shown."""
        events = list(dict.fromkeys(events or EVENTS))
        if unknown := [e for e in events if e not in EVENTS]:
            raise JikimiError(f"unknown webhook event {unknown[0]!r}: use {', '.join(EVENTS)}")
        with self._open(actor) as (session, access):
            access.require_admin("add webhooks")
            dest = parse_url(url)
            if session.scalar(select(WebhookHost).where(WebhookHost.host == dest.host)) is None:
                raise DestinationRefused(f"{dest.host} is not an allowed webhook host: an admin allows it first "
                                         f"with `jikimi webhook allow {dest.host}`")
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
            target = WebhookTarget(url=url.strip(), events=events, secret=b"", created_by=actor.log_name)
            session.add(target)
            session.flush()
            target.secret = keys.encrypt(keys.workspace_key(self.ws.home), secret.encode(),
                                         sender.secret_associated(target.id))
            self._log(session, actor, "webhook_add", f"webhook_target:{target.id}",
                      {"url": target.url, "events": events})
            return {**_target_json(target), "secret": secret}

    def list(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require_admin("see webhooks")
            return [_target_json(t) for t in session.scalars(select(WebhookTarget).order_by(WebhookTarget.id))]

    def remove(self, actor: Actor, target_id: int) -> dict:
        """Disable a target (its delivery log is kept); pending deliveries die with a reason."""
        with self._open(actor) as (session, access):
            access.require_admin("remove webhooks")
            target = session.get(WebhookTarget, target_id)
            if target is None or not target.enabled:
                raise NotFound(f"no webhook with id {target_id}")
            target.enabled = False
            pending = session.scalars(select(WebhookDelivery).where(WebhookDelivery.target_id == target_id,
                                                                   WebhookDelivery.status == "pending")).all()
            for delivery in pending:
                delivery.status, delivery.last_error = "dead", "the target was removed"
            self._log(session, actor, "webhook_remove", f"webhook_target:{target_id}",
                      {"url": target.url, "pending_dropped": len(pending)})
            return _target_json(target)

    def deliveries(self, actor: Actor, status: str | None = None, limit: int = 100) -> list[dict]:
        """The delivery log, newest first; `status="dead"` is the dead-letter list."""
        with self._open(actor) as (session, access):
            access.require_admin("see webhook deliveries")
            query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
            if status is not None:
                query = query.where(WebhookDelivery.status == status)
            rows = session.scalars(query).all()
            attempts = {}
            for a in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([r.id for r in rows]))
                                     .order_by(WebhookAttempt.id)):
                attempts.setdefault(a.delivery_id, []).append(a)
            return [_delivery_json(r, attempts.get(r.id, [])) for r in rows]

    def retry(self, actor: Actor, delivery_id: int) -> dict:
        """Put a dead delivery back in the outbox, due now, with a fresh count of tries."""
        with self._open(actor) as (session, access):
            access.require_admin("retry webhook deliveries")
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                raise NotFound(f"no webhook delivery with id {delivery_id}")
            if delivery.status != "dead":
                raise JikimiError(f"delivery {delivery_id} is {delivery.status}: only dead deliveries are retried")
            if not delivery.target.enabled:
                raise JikimiError(f"delivery {delivery_id}'s target was removed")
            delivery.status, delivery.attempts = "pending", 0
            delivery.next_attempt_at = datetime.now(timezone.utc)
            self._log(session, actor, "webhook_retry", f"webhook_delivery:{delivery_id}",
                      {"target_id": delivery.target_id, "event": delivery.event})
            return _delivery_json(delivery, [])

    def send_due(self, actor: Actor, **options) -> sender.SendResult:
        """Run the sender once now (`jikimi webhook send`)."""
        with self._open(actor) as (_, access):
            access.require_admin("send webhooks")
        return sender.send_due(self.ws, **options)


def _is_ip(text: str) -> bool:
    try:
        normalise_allowed([text])
    except DestinationRefused:
        return False
    return True


def _host_json(host: WebhookHost) -> dict:
    return {"host": host.host, "addresses": host.addresses, "added_by": host.added_by, "created_at": iso(host.created_at)}


def _target_json(target: WebhookTarget) -> dict:
    return {"id": target.id, "url": target.url, "events": target.events, "enabled": target.enabled,
            "created_by": target.created_by, "created_at": iso(target.created_at)}


def _delivery_json(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict:
    return {"id": delivery.id, "target_id": delivery.target_id, "event": delivery.event,
            "event_id": delivery.payload.get("id"), "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "last_error": delivery.last_error, "created_at": iso(delivery.created_at),
            "delivered_at": iso(delivery.delivered_at),
            "log": [{"at": iso(a.at), "status_code": a.status_code, "error": a.error,
                     "seconds": round(a.seconds or 0.0, 3)} for a in attempts]}
