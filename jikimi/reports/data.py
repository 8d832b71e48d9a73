"""The report of a scan as plain data: the JSON contract every other format is drawn from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from jikimi.errors import WorkspaceError
from jikimi.scan import effective_status
from jikimi.serialize import item_json
from jikimi.store.models import BankSignal, Content, Item, ItemLocator, Match, Scan
from jikimi.takedown.tracking import reupload_notices


QUERY_CHUNK = 500


def posted_in(scan_id: int):
    """The items a scan met: its own, and those of earlier scans of its case posted again."""
    return select(ItemLocator.item_id).where(ItemLocator.scan_id == scan_id).distinct()


def scan_summary(session: Session, scan: Scan) -> dict:
    """The scan's identity, status and counts, as `jikimi scans` and every report show it.
    Counts cover every item the scan met; `seen_before` of them an earlier scan of the case found."""
    met = Item.id.in_(posted_in(scan.id))
    items = session.scalar(select(func.count()).where(met))
    seen_before = session.scalar(select(func.count()).where(met, Item.scan_id != scan.id))
    locators = session.scalar(select(func.count()).where(ItemLocator.scan_id == scan.id))
    matched = session.scalar(
        select(func.count(func.distinct(Match.item_id))).join(Item).where(met)
    )
    errors = session.scalar(
        select(func.count()).select_from(Item).outerjoin(Content, Content.sha256 == Item.sha256)
        .where(met, (Item.error.is_not(None)) | (Content.error.is_not(None)))
    )
    allowed = session.scalar(select(func.count()).where(met, Item.allowed_by.is_not(None)))
    pending = session.scalar(select(func.count()).where(met, Item.done.is_(False)))
    return {
        "id": scan.id,
        "source": scan.source,
        "source_kind": scan.source_kind,
        "status": effective_status(scan),
        "error": scan.error,
        "started_at": _iso(scan.started_at),
        "finished_at": _iso(scan.finished_at),
        "banks": scan.options.get("banks"),
        "case_id": scan.case_id,
        "counts": {"items": items, "seen_before": seen_before, "locators": locators, "matched": matched, "errors": errors,
                   "allowed": allowed, "pending": pending},
    }


def scan_report(session: Session, scan_id: int, hidden: Callable[[int], bool] = lambda case_id: False) -> dict:
    """The report; `hidden(case_id)` says whose subjects the reader may not see named."""
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise WorkspaceError(f"no scan with id {scan_id}: see `jikimi scans`")
    items = session.scalars(
        select(Item).where(Item.id.in_(posted_in(scan_id))).order_by(Item.priority.desc(), Item.first_ordinal)
        .options(selectinload(Item.locators), selectinload(Item.matches).selectinload(Match.bank_content),
                 selectinload(Item.matches).selectinload(Match.bank),
                 selectinload(Item.matches).selectinload(Match.subject))
    ).all()
    contents = {
        c.sha256: c
        for c in session.scalars(select(Content).join(Item, Item.sha256 == Content.sha256)
                                 .where(Item.id.in_(posted_in(scan_id))).options(selectinload(Content.faces)))
    }
    notices = _earlier_notices(session, items)
    return {"scan": scan_summary(session, scan),
            "items": [{**item_json(i, contents.get(i.sha256), hidden, scan_id), "reupload_of": notices.get(i.id, [])} for i in items]}


def _earlier_notices(session: Session, items: list[Item]) -> dict[int, list[dict]]:
    """Takedown notices that already named this file: the item is a re-upload.

    A copy counts when it is the same file, or when it matched a case bank entry made from a
    confirmed item (an altered copy of it, found by PDQ or by video frames).
    """
    scan_ids = {i.scan_id for i in items}
    banked_sha = dict(session.execute(
        select(BankSignal.content_id, BankSignal.value).distinct()
        .join(Match, Match.bank_content_id == BankSignal.content_id).join(Item, Item.id == Match.item_id)
        .where(Item.scan_id.in_(scan_ids), BankSignal.signal_type == "sha256")).all())
    wanted = {i.id: {i.sha256} | {banked_sha[m.bank_content_id] for m in i.matches if m.bank_content_id in banked_sha}
              for i in items if i.sha256}
    shas = sorted(set().union(*wanted.values())) if wanted else []
    notices = {}
    for start in range(0, len(shas), QUERY_CHUNK):  # SQLite caps the parameters of one query
        notices.update(reupload_notices(session, shas[start:start + QUERY_CHUNK]))
    found = {}
    for item_id, shas in wanted.items():
        earlier = {n.id: n for sha in shas for n in notices.get(sha, [])}
        if earlier:
            found[item_id] = [{"reference": n.reference, "status": n.status} for _, n in sorted(earlier.items())]
    return found


def _iso(moment: datetime | None) -> str | None:
    """SQLite forgets time zones; every time we store is UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()
