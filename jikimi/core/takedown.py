"""Takedown notices to hosts, for the case's caseworkers: hosts, drafts, sending, tracking, statistics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from jikimi.core.access import Access, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.case_items import select_items
from jikimi.errors import JikimiError
from jikimi.serialize import notice_json
from jikimi.store.models import utcnow
from jikimi.takedown import hosts as host_store
from jikimi.takedown import notices as notice_store
from jikimi.takedown import send as sender
from jikimi.takedown import tracking


class Takedown(Part):
    def draft(self, actor: Actor, case_id: int, host: str, lang: str, item_ids: list[int] | None = None,
              out_dir: Path | None = None, **fields) -> list[dict]:
        config = sender.load_config(self.ws.home)
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
            host_store.get_host(session, host)  # an unknown host is named before the items are chosen
            items = select_items(session, case_id, item_ids)
            drafted = notice_store.draft_notices(self.ws, session, case_id, host, lang, items, out_dir,
                                                 sender=config.sender if config else None, actor=actor.log_name,
                                                 **fields)
            return [notice_json(n) for n in drafted]

    def send(self, actor: Actor, references: list[str] | None, every_hours: float = 24) -> list[tuple[str, str | None]]:
        """Send the named notices, or every due one of the actor's cases: (reference, error or None) each."""
        config = sender.load_config(self.ws.home)
        if config is None:
            raise sender.SmtpNotConfigured(
                "no SMTP server configured (see $JIKIMI_HOME/smtp.json): send the .eml drafts by hand, "
                "then run `jikimi takedown mark REF sent`")
        results = []
        with self._open(actor) as (session, access):
            if references:
                chosen = [_notice(access, r) for r in references]
            else:
                chosen = [n for n in tracking.due(session, utcnow(), timedelta(hours=every_hours))
                          if access.can("manage", n.case_id)]
            for notice in chosen:
                try:
                    with session.begin_nested():
                        sender.send_notice(session, self.ws.home, notice, config, actor=actor.log_name)
                    results.append((notice.reference, None))
                except JikimiError as e:
                    results.append((notice.reference, str(e)))
        return results

    def mark(self, actor: Actor, reference: str, status: str, note: str | None = None) -> dict:
        with self._open(actor) as (session, access):
            notice = tracking.mark(session, self.ws.home, _notice(access, reference), status, note=note,
                                   actor=actor.log_name)
            return notice_json(notice)

    def due(self, actor: Actor, every_hours: float = 24) -> list[dict]:
        with self._open(actor) as (session, access):
            return [notice_json(n) for n in tracking.due(session, utcnow(), timedelta(hours=every_hours))
                    if access.sees(n.case_id)]

    def stats(self, actor: Actor) -> list[dict]:
        """Per-host response times over the whole workspace: counts only, no case data."""
        with self._open(actor) as (session, access):
            access.require("read")
            return [vars(s) for s in tracking.stats(session)]

    def add_host(self, actor: Actor, name: str, email: str | None, languages: list[str] | None,
                 url: str | None, notes: str | None) -> dict:
        with self._open(actor) as (session, access):
            access.require("manage")
            host = host_store.add_host(session, name, email, languages, url, notes)
            self._log(session, actor, "host_add", f"host:{host.name}", {"email": host.email, "url": host.url})
            return _host_json(host)

    def hosts(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require("read")
            return [_host_json(h) for h in host_store.list_hosts(session)]


def _notice(access: Access, reference: str):
    try:
        notice = tracking.get_notice(access.session, reference)
    except JikimiError:
        notice = None
    if notice is None or not access.sees(notice.case_id):
        raise NotFound(f"no notice {reference!r}: see `jikimi takedown due` or the .eml file names")
    access.case(notice.case_id, "manage")
    return notice


def _host_json(host) -> dict:
    return {"name": host.name, "email": host.email, "url": host.url, "languages": host.languages,
            "kind": host.kind, "notes": host.notes}
