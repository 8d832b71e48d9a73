"""Takedown notices to hosts, for the case's caseworkers: hosts, drafts, sending, tracking, statistics.

A case's caseworkers (and admins) draft, edit, send and mark its notices; its reviewers and
viewers read them. Hosts are the workspace's: anyone reads them, a caseworker adds or
corrects one. The SMTP server is an admin's, and its password is never given back.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from jikimi.core.access import Access, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.case_items import confirmed_item_ids, select_items
from jikimi.errors import JikimiError
from jikimi.serialize import audit_json, iso, notice_json
from jikimi.store.models import Case, utcnow
from jikimi.store.takedown_models import Notice
from jikimi.takedown import hosts as host_store
from jikimi.takedown import notices as notice_store
from jikimi.takedown import send as sender
from jikimi.takedown import tracking
from jikimi.clock import end_of_today


class Takedown(Part):
    def draft(self, actor: Actor, case_id: int, host: str, lang: str | None, item_ids: list[int] | None = None,
              out_dir: Path | None = None, **fields) -> list[dict]:
        """Notices to one host about the case's items (default: the confirmed ones), in `lang`
        (default: the first language the host reads). Each says whether the host reads its language."""
        config = sender.load_config(self.ws.home)
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
            if not host.strip():
                raise JikimiError.coded("error.choose_host")
            recipient = host_store.get_host(session, host)  # an unknown host is named before the items are chosen
            lang = lang or (recipient.languages or ["en"])[0]
            items = select_items(session, case_id, item_ids)
            drafted = notice_store.draft_notices(self.ws, session, case_id, recipient.name, lang, items, out_dir,
                                                 sender=config.sender if config else None, actor=actor.log_name,
                                                 **fields)
            return [{**notice_json(n), "language_warning": not notice_store.reads(recipient, lang)}
                    for n in drafted]

    def case_notices(self, actor: Actor, case_id: int) -> dict:
        """A case's notices, newest first, with what a new draft would be made from."""
        with self._open(actor) as (session, access):
            case = access.case(case_id)
            notices = session.scalars(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id.desc())
                                      .options(selectinload(Notice.host), selectinload(Notice.items)))
            return {"case": {"id": case.id, "title": case.title},
                    "notices": [_notice_row(n) for n in notices],
                    "confirmed": confirmed_item_ids(session, case_id),
                    "can_manage": access.can("manage", case_id)}

    def notice(self, actor: Actor, notice_id: int) -> dict:
        """One notice: its text as it will be sent, its recipient, and its history from the custody log."""
        with self._open(actor) as (session, access):
            notice = _notice(access, notice_id, "read")
            subject, body = notice_store.notice_text(notice)
            return {**_notice_row(notice), "case_title": session.get(Case, notice.case_id).title,
                    "subject": subject, "body": body,
                    "to": notice.host.email, "recipient": _host_json(notice.host),
                    "next_statuses": sorted(tracking.TRANSITIONS[notice.status] - {"sent"}),
                    "can_send_again": "sent" in tracking.TRANSITIONS[notice.status],
                    "history": [audit_json(e) for e in tracking.history(session, notice)],
                    "can_manage": access.can("manage", notice.case_id)}

    def eml(self, actor: Actor, notice_id: int) -> tuple[str, bytes]:
        """The notice's file (`<reference>.eml`), to send from any mail client or keep."""
        with self._open(actor) as (session, access):
            notice = _notice(access, notice_id, "read")
            return f"{notice.reference}.eml", notice.eml

    def edit(self, actor: Actor, notice_id: int, subject: str, body: str) -> dict:
        with self._open(actor) as (session, access):
            notice = _notice(access, notice_id, "manage")
            changed = notice_store.edit_notice(session, self.ws.home, notice, subject, body, actor.log_name)
            return {**notice_json(notice), "changed": changed}

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

    def send_one(self, actor: Actor, notice_id: int) -> dict:
        """Send (or re-send) one notice through the configured SMTP server; raises when it did not go."""
        with self._open(actor) as (session, access):
            notice = _notice(access, notice_id, "manage")
            sender.send_notice(session, self.ws.home, notice, sender.load_config(self.ws.home), actor=actor.log_name)
            return notice_json(notice)

    def mark(self, actor: Actor, reference: str | int, status: str, note: str | None = None) -> dict:
        with self._open(actor) as (session, access):
            notice = tracking.mark(session, self.ws.home, _notice(access, reference), status, note=note,
                                   actor=actor.log_name)
            return notice_json(notice)

    def due(self, actor: Actor, every_hours: float = 24) -> list[dict]:
        with self._open(actor) as (session, access):
            return [notice_json(n) for n in tracking.due(session, utcnow(), timedelta(hours=every_hours))
                    if access.sees(n.case_id)]

    def due_today(self, actor: Actor) -> list[dict]:
        """What to send before midnight in the workspace's time zone, in the actor's cases."""
        now = utcnow()
        with self._open(actor) as (session, access):
            return [{**_notice_row(n), "case_title": session.get(Case, n.case_id).title,
                     "can_manage": access.can("manage", n.case_id)}
                    for n in tracking.due(session, now, until=end_of_today(now)) if access.sees(n.case_id)]

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

    def edit_host(self, actor: Actor, host_id: int, email: str | None, languages: list[str] | None,
                  url: str | None, notes: str | None) -> dict:
        with self._open(actor) as (session, access):
            access.require("manage")
            host = host_store.host_by_id(session, host_id)
            changed = host_store.edit_host(host, email, languages, url, notes)
            if changed:
                self._log(session, actor, "host_edit", f"host:{host.name}", changed)
            return {**_host_json(host), "changed": sorted(changed)}

    def hosts(self, actor: Actor) -> list[dict]:
        with self._open(actor) as (session, access):
            access.require("read")
            return [_host_json(h) for h in host_store.list_hosts(session)]

    def smtp(self, actor: Actor) -> dict:
        """The SMTP settings without the password (only whether one is set)."""
        with self._open(actor) as (session, access):
            access.require_admin("see the mail server settings")
            return sender.settings_view(self.ws.home)

    def smtp_configured(self, actor: Actor) -> bool:
        with self._open(actor) as (session, access):
            access.require("read")
            return sender.settings_view(self.ws.home)["configured"]

    def set_smtp(self, actor: Actor, host: str, port: int | str | None, security: str, username: str | None,
                 sender_address: str, password: str | None = None, clear_password: bool = False) -> dict:
        with self._open(actor) as (session, access):
            access.require_admin("set the mail server")
            changed = sender.save_settings(self.ws.home, host, port, security, username, sender_address,
                                           password, clear_password)
            if changed:  # the names of the settings only: the log never holds the password
                self._log(session, actor, "smtp_set", "smtp", {"changed": changed})
            return {**sender.settings_view(self.ws.home), "changed": changed}


def _notice(access: Access, key: str | int, permission: str = "manage") -> Notice:
    """A notice by its id or reference, when the actor may `permission` in its case."""
    if isinstance(key, int):
        notice = access.session.get(Notice, key)
    else:
        try:
            notice = tracking.get_notice(access.session, key)
        except JikimiError:
            notice = None
    if notice is None or not access.sees(notice.case_id):
        raise NotFound(f"no notice {key!r}: see `jikimi takedown due` or the .eml file names")
    access.case(notice.case_id, permission)
    return notice


def _notice_row(notice: Notice) -> dict:
    return {**notice_json(notice), "host_id": notice.host_id,
            "language_warning": not notice_store.reads(notice.host, notice.language),
            "by_email": bool(notice.host.email), "next_send_at": iso(tracking.next_send_at(notice))}


def _host_json(host) -> dict:
    """`builtin_notes`: the notes are still Jikimi's own, so a page may show them in the reader's language."""
    builtin = {b.name: b.notes for b in host_store.BUILTIN_HOSTS}
    return {"id": host.id, "name": host.name, "email": host.email, "url": host.url, "languages": host.languages,
            "kind": host.kind, "notes": host.notes,
            "builtin_notes": host.kind == "builtin" and builtin.get(host.name) == host.notes}
