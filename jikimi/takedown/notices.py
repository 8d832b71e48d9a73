"""Draft takedown notices: RFC 5322 messages from one Jinja2 template per language.

A notice says what is requested (removal, blocking re-uploads by hash, preserving records,
a reply quoting the reference), on which legal basis, and lists each item by its message
links and hashes. The victim's name and identity are left out unless the case worker passes
`victim=` on purpose: a notice goes to strangers, and the hashes and links are enough to act.

Drafts are written as `.eml` files a person can open, check and send from any mail client;
the same bytes are kept in the database so `send` needs no file.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jikimi.audit import AuditLog, operator_name
from jikimi.errors import JikimiError
from jikimi.evidence.package import contents_of
from jikimi.private_output import write_private
from jikimi.store.models import Content, Item, utcnow
from jikimi.store.takedown_models import Host, Notice, NoticeItem
from jikimi.takedown.hosts import LANGUAGES, get_host
from jikimi.workspace import Workspace
from jikimi.clock import local_date

# Abuse desks act on short lists and set long ones aside; bigger cases become several notices.
MAX_ITEMS_PER_NOTICE = 50
DEFAULT_SENDER = "jikimi@localhost"
MESSAGE_ID_DOMAIN = "jikimi.invalid"
MAX_SUBJECT_CHARS = 300
MAX_BODY_CHARS = 200_000
DEFAULT_LEGAL_BASIS = {
    "ko": "성폭력범죄의 처벌 등에 관한 특례법 제14조(카메라 등을 이용한 촬영) 및 제14조의2(허위영상물 등의 반포등), "
          "정보통신망 이용촉진 및 정보보호 등에 관한 법률 제44조의7(불법정보의 유통금지 등). "
          "귀 서비스의 이용약관 또한 비동의 성적 촬영물의 게시를 금지하고 있습니다.",
    "en": "Distributing these images is a crime under the law of the Republic of Korea (Act on Special Cases "
          "Concerning the Punishment of Sexual Crimes, Articles 14 and 14-2, which cover sexually explicit "
          "fakes), and non-consensual intimate imagery is prohibited by your terms of service.",
    "ja": "これらの画像の頒布は大韓民国の法律（性暴力犯罪の処罰等に関する特例法 第14条・第14条の2、"
          "偽の性的映像物を含む）に違反する犯罪であり、同意のない性的画像は貴サービスの利用規約でも禁止されています。",
    "zh": "传播这些图像违反大韩民国法律（《性暴力犯罪处罚特例法》第14条及第14条之2，包括深度伪造的性图像），"
          "未经同意的私密图像亦为贵平台服务条款所禁止。",
}


def draft_notices(ws: Workspace, session: Session, case_id: int, host_name: str, lang: str,
                  items: list[Item], out_dir: Path | None = None, *,
                  legal_basis: str | None = None, victim: str | None = None, sender: str | None = None,
                  signature: str | None = None, actor: str | None = None, clock=utcnow) -> list[Notice]:
    """Draft notices to one host about a case's chosen items (`jikimi.core.case_items`).

    Items go MAX_ITEMS_PER_NOTICE to a notice. Each `.eml` is written to `out_dir`
    (default `$JIKIMI_HOME/notices`) as `<reference>.eml`.
    """
    if lang not in LANGUAGES:
        raise JikimiError(f"no notice template for language {lang!r}: use {', '.join(LANGUAGES)}")
    actor = actor or operator_name()
    host = get_host(session, host_name)
    contents = contents_of(session, items)
    out_dir = Path(out_dir) if out_dir else ws.home / "notices"
    out_dir.mkdir(parents=True, exist_ok=True)
    notices = []
    for start in range(0, len(items), MAX_ITEMS_PER_NOTICE):
        batch = items[start:start + MAX_ITEMS_PER_NOTICE]
        now = clock()
        reference = next_reference(session, now)
        listed = [_listed(item, contents[item.sha256]) for item in batch]
        subject, body = render_notice(
            lang, reference=reference, host=host.name, date=local_date(now), items=listed,
            legal_basis=legal_basis or DEFAULT_LEGAL_BASIS[lang], victim=victim, signature=signature or "")
        message = build_message(reference, sender or DEFAULT_SENDER, host.email, subject, body, now)
        path = out_dir / f"{reference}.eml"
        data = message.as_bytes(policy=SMTP)
        write_private(path, data)
        notice = Notice(case_id=case_id, host=host, reference=reference, language=lang, status="drafted",
                        message_id=message["Message-ID"], eml_path=str(path), eml=data, drafted_at=now,
                        send_count=0)
        notice.items = [NoticeItem(item_id=i.id, sha256=i.sha256, link=(entry["links"] or [None])[0])
                        for i, entry in zip(batch, listed)]
        session.add(notice)
        session.flush()
        AuditLog(session, ws.home).append(
            "notice_draft", f"notice:{reference}",
            {"host": host.name, "language": lang, "items": [i.id for i in batch],
             "sha256s": [i.sha256 for i in batch], "identity_included": victim is not None, "file": path.name},
            case_id=case_id, actor=actor)
        notices.append(notice)
    return notices


def next_reference(session: Session, now: datetime) -> str:
    """JKM-<year>-<number>: the number counts every notice this workspace has drafted."""
    number = (session.scalar(select(func.max(Notice.id))) or 0) + 1
    return f"JKM-{now.year}-{number:06d}"


def render_notice(lang: str, **fields) -> tuple[str, str]:
    """The subject line and plain-text body of a notice in `lang`."""
    env = Environment(loader=PackageLoader("jikimi.takedown", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    module = env.get_template(f"notice.{lang}.txt").make_module(fields)
    return str(module.subject).strip(), str(module)


def build_message(reference: str, sender: str, to: str | None, subject: str, body: str,
                  now: datetime) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    if to:
        message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = f"<{reference}.{secrets.token_hex(6)}@{MESSAGE_ID_DOMAIN}>"
    message["X-Jikimi-Reference"] = reference
    message.set_content(body, charset="utf-8")
    return message


def reads(host: Host, lang: str) -> bool:
    """Whether the host reads notices in `lang`: a notice it cannot read waits in a queue, or is ignored."""
    return lang in (host.languages or [])


def notice_text(notice: Notice) -> tuple[str, str]:
    """The subject line and plain-text body of a notice, as they will be sent."""
    message = message_from_bytes(notice.eml, policy=SMTP)
    return str(message["Subject"] or ""), message.get_content()


def edit_notice(session: Session, home: Path, notice: Notice, subject: str, body: str, actor: str) -> bool:
    """Replace a draft's subject and body with a case worker's edited text; False when nothing changed.

    Only a draft is edited: what was sent is what the host holds. The subject is folded onto one
    line so an edit can never add a header; the other headers (To, Message-ID, reference) stay.
    """
    if notice.status != "drafted":
        raise JikimiError(f"notice {notice.reference} was already sent: a sent notice is not edited")
    subject = " ".join(subject.split())
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not subject or not body.strip():
        raise JikimiError("a notice needs a subject and a text")
    if len(subject) > MAX_SUBJECT_CHARS or len(body) > MAX_BODY_CHARS:
        raise JikimiError("the notice is too long for an abuse desk: split its items over several notices")
    old_subject, old_body = notice_text(notice)
    if (subject, body.rstrip("\n")) == (old_subject, old_body.rstrip("\n")):
        return False
    message = message_from_bytes(notice.eml, policy=SMTP)
    message.replace_header("Subject", subject)
    message.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8")
    notice.eml = message.as_bytes(policy=SMTP)
    if notice.eml_path and Path(notice.eml_path).parent.is_dir():
        write_private(Path(notice.eml_path), notice.eml)
    AuditLog(session, home).append(
        "notice_edit", f"notice:{notice.reference}",
        {"subject_changed": subject != old_subject, "body_sha256": _digest(body),
         "previous_body_sha256": _digest(old_body)}, case_id=notice.case_id, actor=actor)
    return True


def _digest(text: str) -> str:
    return hashlib.sha256(text.rstrip("\n").encode("utf-8")).hexdigest()


def quoted_line(text: str) -> str:
    """Text from an abuser (a chat name) folded onto one line and quoted, so it can neither add
    lines to a notice (a fake "Bcc:") nor pass for the notice's own words."""
    return '"' + " ".join(text.replace('"', "'").split()) + '"'


def _listed(item: Item, content: Content) -> dict:
    """What a notice says about one item: every public link, where it was posted, its hashes."""
    links, places = [], []
    for locator in item.locators:
        fields = locator.fields
        if fields.get("link") and fields["link"] not in links:
            links.append(fields["link"])
        if fields.get("chat"):
            place = quoted_line(fields["chat"])
            if fields.get("message_id") is not None:
                place += f" #{fields['message_id']}"
            if fields.get("date_unixtime") is not None:
                moment = datetime.fromtimestamp(int(fields["date_unixtime"]), timezone.utc)
                place += f", {moment:%Y-%m-%d %H:%M} UTC"
            if place not in places:  # the same post found again by a later scan of the same export
                places.append(place)
    return {"item_id": item.id, "links": links, "places": places, "sha256": content.sha256, "md5": content.md5}
