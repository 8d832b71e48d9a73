"""Where each notice stands, which ones to send again, and how fast each host removes content.

Project Arachnid's lesson: hosts remove faster when a notice comes back every day until they
act, and a centre should see at a glance who never does. So a notice is due again `every`
(default 24 hours) after it was last sent, until it is removed; a refusal stops the clock
because it needs a person (an appeal, or a report to the regulator), not the same e-mail.

Times are passed in (`now`, `clock`) so schedules and statistics can be tested exactly.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from jikimi.audit import AuditLog, operator_name
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import utcnow
from jikimi.store.takedown_models import NOTICE_STATUSES, Host, Notice, NoticeItem

RESEND_EVERY = timedelta(hours=24)
# Which status a notice may move to from which: removal is final; a host that refused may
# still remove later; "sent" again from sent or acknowledged is a re-send.
TRANSITIONS = {
    "drafted": {"sent"},
    "sent": {"sent", "acknowledged", "removed", "refused"},
    "acknowledged": {"sent", "removed", "refused"},
    "refused": {"sent", "removed"},
    "removed": set(),
}
OPEN_STATUSES = ("drafted", "sent", "acknowledged")


def get_notice(session: Session, reference: str) -> Notice:
    notice = session.scalar(select(Notice).where(Notice.reference == reference.strip().upper()))
    if notice is None:
        raise WorkspaceError(f"no notice {reference!r}: see `jikimi takedown due` or the .eml file names")
    return notice


def mark(session: Session, home, notice: Notice, status: str, note: str | None = None,
         actor: str | None = None, clock: Callable[[], datetime] = utcnow) -> Notice:
    """Move a notice to `status` and record when; `sent` again counts a re-send."""
    if status not in NOTICE_STATUSES or status == "drafted":
        raise JikimiError(f"a notice can be marked {', '.join(s for s in NOTICE_STATUSES if s != 'drafted')}")
    if status not in TRANSITIONS[notice.status]:
        raise JikimiError(f"notice {notice.reference} is {notice.status}: it cannot be marked {status}")
    now = clock()
    previous = notice.status
    if status == "sent":
        notice.sent_at = notice.sent_at or now
        notice.last_sent_at = now
        notice.send_count += 1
    else:
        setattr(notice, f"{status}_at", now)
    notice.status = status
    if note:
        notice.note = note
    AuditLog(session, home).append(
        f"notice_{status}", f"notice:{notice.reference}",
        {"from": previous, "send_count": notice.send_count, "note": note, "at": now.isoformat()},
        case_id=notice.case_id, actor=actor or operator_name())
    return notice


def due(session: Session, now: datetime, every: timedelta = RESEND_EVERY,
        until: datetime | None = None) -> list[Notice]:
    """Notices to send by `until` (default: now): drafts never sent, and open notices last sent
    `every` before it or earlier."""
    until = until or now
    notices = session.scalars(select(Notice).where(Notice.status.in_(OPEN_STATUSES))
                              .options(selectinload(Notice.host)).order_by(Notice.id))
    return [n for n in notices if (next_send_at(n, every) or now) <= until]


def next_send_at(notice: Notice, every: timedelta = RESEND_EVERY) -> datetime | None:
    """When the notice is due again; None when it was never sent (due now) or needs no more sending."""
    if notice.status not in OPEN_STATUSES or notice.last_sent_at is None:
        return None
    return utc(notice.last_sent_at) + every


def history(session: Session, notice: Notice) -> list[AuditEntry]:
    """Everything that happened to the notice, oldest first, from the custody log itself."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.subject == f"notice:{notice.reference}")
                                .order_by(AuditEntry.seq)))


@dataclass(frozen=True)
class HostStats:
    host: str
    notices: int  # sent at least once
    removed: int
    refused: int
    open: int
    removal_rate: float | None  # removed / notices
    median_hours: float | None  # first sent -> removed
    p90_hours: float | None


def stats(session: Session) -> list[HostStats]:
    """Per host: notices sent, how many were removed, and how long removal took.

    Drafts never sent do not count: the host has not been asked yet. The p90 is the
    nearest-rank percentile, an actual observed time (no interpolation between notices).
    """
    rows = session.execute(select(Host.name, Notice).join(Notice.host).where(Notice.sent_at.is_not(None))
                           .order_by(Host.name, Notice.id)).all()
    by_host: dict[str, list[Notice]] = {}
    for name, notice in rows:
        by_host.setdefault(name, []).append(notice)
    result = []
    for name, notices in by_host.items():
        hours = sorted((utc(n.removed_at) - utc(n.sent_at)).total_seconds() / 3600
                       for n in notices if n.status == "removed")
        result.append(HostStats(
            host=name,
            notices=len(notices),
            removed=len(hours),
            refused=sum(n.status == "refused" for n in notices),
            open=sum(n.status in OPEN_STATUSES for n in notices),
            removal_rate=len(hours) / len(notices),
            median_hours=statistics.median(hours) if hours else None,
            p90_hours=hours[math.ceil(0.9 * len(hours)) - 1] if hours else None,
        ))
    return result


def reupload_notices(session: Session, sha256s) -> dict[str, list[Notice]]:
    """Earlier notices that already asked for each of these files to be removed.

    A later scan that finds one of them again has found a re-upload: the report flags it and
    links the earlier notice, which a case worker can re-send or escalate.
    """
    found: dict[str, list[Notice]] = {}
    sha256s = list(set(sha256s))
    if not sha256s:
        return found
    rows = session.execute(select(NoticeItem.sha256, Notice).join(Notice)
                           .where(NoticeItem.sha256.in_(sha256s)).order_by(Notice.id))
    for sha256, notice in rows:
        if notice not in found.setdefault(sha256, []):
            found[sha256].append(notice)
    return found


def utc(moment: datetime) -> datetime:
    """SQLite forgets time zones; every time Jikimi stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
