"""Who receives takedown notices. Two are built in; a centre adds the rest with `jikimi host add`.

Built-ins are written only from addresses the organisations publish. KCSC takes reports of
digital sex crimes through its web form and phone line, not by e-mail, so its notices stay
drafts for a person to submit (and then mark sent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.takedown_models import Host

LANGUAGES = ("ko", "en", "ja", "zh")
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


@dataclass(frozen=True)
class BuiltinHost:
    name: str
    email: str | None
    url: str | None
    languages: tuple[str, ...]
    notes: str


BUILTIN_HOSTS = (
    BuiltinHost("telegram", "abuse@telegram.org", "https://telegram.org/faq",
                ("en",), "Telegram's abuse desk; give public t.me message links."),
    BuiltinHost("kcsc", None, "https://www.kocsc.or.kr",
                ("ko",), "방송통신심의위원회 (Korea Communications Standards Commission): digital sex crime "
                "reports through its web form or phone 1377; submit the draft by hand, then mark it sent."),
)


def ensure_builtin_hosts(session: Session) -> None:
    """Add the built-in hosts that are missing. Safe to repeat; never overwrites a centre's edits."""
    existing = set(session.scalars(select(Host.name)))
    for host in BUILTIN_HOSTS:
        if host.name not in existing:
            session.add(Host(name=host.name, email=host.email, url=host.url, languages=list(host.languages),
                             kind="builtin", notes=host.notes))
    session.flush()


def add_host(session: Session, name: str, email: str | None = None, languages: list[str] | None = None,
             url: str | None = None, notes: str | None = None) -> Host:
    name = name.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", name):
        raise JikimiError("a host name is letters, digits, '.', '_' or '-', e.g. `example-hosting`")
    email, url, languages = _checked(email, url, languages)
    ensure_builtin_hosts(session)
    if session.scalar(select(Host).where(Host.name == name)):
        raise JikimiError(f"a host named {name!r} already exists: see `jikimi host list`")
    host = Host(name=name, email=email, url=url, languages=languages, kind="custom", notes=notes)
    session.add(host)
    session.flush()
    return host


def edit_host(host: Host, email: str | None, languages: list[str] | None, url: str | None,
              notes: str | None) -> dict:
    """Change where and in which languages a host takes notices; its name stays (notices cite it).

    Notices already drafted keep the address they were drafted to. Returns what changed.
    """
    email, url, languages = _checked(email, url, languages)
    changed = {}
    for field, value in (("email", email), ("url", url), ("languages", languages), ("notes", notes or None)):
        if getattr(host, field) != value:
            changed[field] = {"from": getattr(host, field), "to": value}
            setattr(host, field, value)
    return changed


def _checked(email: str | None, url: str | None, languages: list[str] | None) -> tuple:
    email, url = (email or "").strip() or None, (url or "").strip() or None
    if email is not None and not EMAIL.match(email):
        raise JikimiError(f"{email!r} is not an e-mail address")
    if url is not None and not re.match(r"^https?://[^\s<>\"]+$", url):
        raise JikimiError(f"{url!r} is not a web address (https://...)")
    if email is None and url is None:
        raise JikimiError("give the host's abuse e-mail address (--email) or its report page (--url)")
    languages = languages or ["en"]
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise JikimiError(f"no notice template for language {unknown[0]!r}: use {', '.join(LANGUAGES)}")
    return email, url, list(dict.fromkeys(languages))


def get_host(session: Session, name: str) -> Host:
    ensure_builtin_hosts(session)
    host = session.scalar(select(Host).where(Host.name == name.strip().lower()))
    if host is None:
        raise WorkspaceError(f"no host named {name!r}: see `jikimi host list`, or add it with `jikimi host add`")
    return host


def host_by_id(session: Session, host_id: int) -> Host:
    ensure_builtin_hosts(session)
    host = session.get(Host, host_id)
    if host is None:
        raise WorkspaceError(f"no host with id {host_id}")
    return host


def list_hosts(session: Session) -> list[Host]:
    ensure_builtin_hosts(session)
    return list(session.scalars(select(Host).order_by(Host.kind, Host.name)))
