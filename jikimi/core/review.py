"""Items and the review queue, decisions and reveals, and the pictures of evidence.

An item waits in a case's queue when it matched something or triage gave it a priority, no
allow bank cleared it, and nobody has decided on it for that case yet. It waits in its
scan's case, and in the case of every subject whose face it matched: one scan finds every
victim, and each victim's team reviews her matches. The scanning case's members see such a
match only as "a person enrolled in another case".
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from jikimi.core.access import PERMISSIONS, Access, NotAllowed, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.reports.crops import face_crop_jpeg
from jikimi.reports.data import posted_in
from jikimi.review import VERDICTS, record_decision
from jikimi.serialize import decision_json, item_json, reason_json, reason_message_json
from jikimi.store.models import Content, Decision, Item, Match, Scan, Subject

UPCOMING = 12


def _waiting(visible: set[int] | None, case_id: int | None = None, scan_id: int | None = None):
    """Items waiting for the reader: in their scan's case with no decision for it, or matching
    the face of a subject whose case has no decision on them yet. Written as EXISTS tests on
    each item (not a union of (item, case) pairs), so the queue is read in priority order
    and stops after a page."""
    routed = (select(Match.id).join(Subject, Subject.id == Match.subject_id)
              .where(Match.item_id == Item.id, Match.kind == "face",
                     ~exists().where(Decision.item_id == Item.id, Decision.case_id == Subject.case_id)
                     .correlate_except(Decision)))
    own = ~exists().where(Decision.item_id == Item.id, Decision.case_id.is_not_distinct_from(Scan.case_id))
    if visible is not None:
        own = own & Scan.case_id.in_(visible)
        routed = routed.where(Subject.case_id.in_(visible))
    if case_id is not None:
        own = own & (Scan.case_id == case_id)
        routed = routed.where(Subject.case_id == case_id)
    query = (select(Item.id, Item.priority).join(Scan, Scan.id == Item.scan_id)
             .where(Item.done.is_(True), Item.allowed_by.is_(None),
                    exists().where(Match.item_id == Item.id) | (Item.priority > 0),
                    own | routed.exists()))
    if scan_id is not None:
        query = query.where(Item.id.in_(posted_in(scan_id)))
    return query.subquery()


def awaiting_count(session: Session, access: Access, case_id: int | None = None, scan_id: int | None = None) -> int:
    return session.scalar(select(func.count()).select_from(_waiting(access.visible_cases(), case_id, scan_id)))


def routed_count(session: Session, access: Access) -> int:
    """Items waiting in the actor's cases because a scan of another case found their subject."""
    visible = access.visible_cases()
    routed = (select(Match.item_id).join(Subject, Subject.id == Match.subject_id).join(Item, Item.id == Match.item_id)
              .join(Scan, Scan.id == Item.scan_id)
              .where(Match.kind == "face", Scan.case_id.is_distinct_from(Subject.case_id),
                     ~exists().where(Decision.item_id == Item.id, Decision.case_id == Subject.case_id)
                     .correlate_except(Decision)))
    if visible is not None:
        routed = routed.where(Subject.case_id.in_(visible))
    return session.scalar(select(func.count()).select_from(routed.distinct().subquery()))


def queue(session: Session, access: Access, case_id: int | None, scan_id: int | None, limit: int) -> list[int]:
    waiting = _waiting(access.visible_cases(), case_id, scan_id)
    return list(session.scalars(select(waiting.c.id).order_by(waiting.c.priority.desc(), waiting.c.id).limit(limit)))


def review_item_json(session: Session, access: Access, item: Item, with_faces: bool) -> dict:
    """The item (`serialize.item_json`) as this actor may see it, with what the queue adds:
    the case they see it for, its thumbnail and the decisions of their cases."""
    content = session.get(Content, item.sha256) if item.sha256 else None
    data = item_json(item, content, access.hides_subject_of)
    if not with_faces:
        data["matches"] = [{**m, "face_id": None} if m["kind"] == "face" else m for m in data["matches"]]
    scan_case = item.scan.case_id
    decisions = session.scalars(select(Decision).where(Decision.item_id == item.id).order_by(Decision.id))
    return {
        **data,
        "scan_id": item.scan_id if access.sees(scan_case) else None,
        "case_id": scan_case if access.sees(scan_case) else next(
            (m["case_id"] for m in data["matches"] if m["kind"] == "face" and m["case_id"] is not None), None),
        "routed": not access.sees(scan_case),
        "thumbnail": f"/media/thumbs/{item.id}" if content is not None and content.thumbnail else None,
        "decisions": [decision_json(d) for d in decisions if access.sees(d.case_id)],
    }


def _load(session: Session, item_ids: list[int]) -> dict[int, Item]:
    items = session.scalars(select(Item).where(Item.id.in_(item_ids)).options(
        selectinload(Item.locators), selectinload(Item.matches).selectinload(Match.subject),
        selectinload(Item.matches).selectinload(Match.bank), selectinload(Item.matches).selectinload(Match.bank_content),
        selectinload(Item.scan)))
    return {i.id: i for i in items}


class Review(Part):
    def queue(self, actor: Actor, case_id: int | None = None, scan_id: int | None = None,
              item_id: int | None = None) -> dict:
        """The queue page's data: the current item (most urgent, or the one asked for) and what follows."""
        with self._open(actor) as (session, access):
            if case_id is not None:
                access.case(case_id)
            if scan_id is not None:
                access.scan(scan_id)
            upcoming = queue(session, access, case_id, scan_id, UPCOMING + 1)
            if item_id is not None:
                _, for_case = access.item(item_id)
                current_id = item_id
            else:
                current_id, for_case = (upcoming[0] if upcoming else None), None
            loaded = _load(session, [i for i in [current_id, *upcoming] if i is not None])
            current = None
            reviewer = actor.role in PERMISSIONS["review"]  # with nothing waiting: what the role allows
            if current_id is not None:
                if for_case is None:
                    _, for_case = access.item(current_id)
                reviewer = access.can("review", for_case) or actor.is_admin
                current = review_item_json(session, access, loaded[current_id], reviewer)
            return {
                "filters": {"case": case_id, "scan": scan_id},
                "waiting": awaiting_count(session, access, case_id, scan_id),
                "current": current,
                "upcoming": [{"id": i, "priority": loaded[i].priority,
                              "reason": reason_json(loaded[i], access.hides_subject_of),
                              "reason_message": reason_message_json(loaded[i], access.hides_subject_of),
                              "thumbnail": f"/media/thumbs/{i}"} for i in upcoming if i != current_id][:UPCOMING],
                "verdicts": VERDICTS,
                "can_review": reviewer,
            }

    def awaiting(self, actor: Actor) -> dict:
        with self._open(actor) as (session, access):
            return {"awaiting_review": awaiting_count(session, access), "routed_to_my_cases": routed_count(session, access)}

    def item(self, actor: Actor, item_id: int) -> dict:
        with self._open(actor) as (session, access):
            item, for_case = access.item(item_id)
            return review_item_json(session, access, item, access.can("review", for_case))

    def decide(self, actor: Actor, item_id: int, verdict: str, note: str | None = None,
               case_id: int | None = None) -> dict:
        """Record a verdict for one of the item's cases the actor reviews (default: the first)."""
        with self._open(actor) as (session, access):
            _, for_case = access.item(item_id, "review", case_id)
            decision = record_decision(session, self.ws.home, item_id, verdict, actor.log_name, note=note,
                                       case_id=for_case)
            return decision_json(decision)

    def reveal(self, actor: Actor, item_id: int) -> dict:
        """Log a look at an original; the face then shows it (the web with a short-lived grant)."""
        with self._open(actor) as (session, access):
            item, for_case = access.item(item_id, "review")
            if item.sha256 is None:
                raise NotFound(f"no item with id {item_id} that has a stored original")
            self._log(session, actor, "reveal", f"item:{item_id}", {"sha256": item.sha256}, for_case)
            return {"item_id": item_id, "case_id": for_case}

    def thumbnail(self, actor: Actor, item_id: int) -> bytes:
        with self._open(actor) as (session, access):
            item, _ = access.item(item_id)
            content = session.get(Content, item.sha256) if item.sha256 else None
            if content is None or content.thumbnail is None:
                raise NotFound(f"item {item_id} has no thumbnail")
            return content.thumbnail

    def original(self, actor: Actor, item_id: int) -> tuple[Path, str | None]:
        """The vault file and media type of an item's original (after a logged reveal)."""
        with self._open(actor) as (session, access):
            item, _ = access.item(item_id, "review")
            content = session.get(Content, item.sha256) if item.sha256 else None
            if content is None:
                raise NotFound(f"item {item_id} has no stored original")
            return self.ws.vault.path_for(content.sha256), content.mime_type

    def face_crop(self, actor: Actor, face_id: int) -> bytes:
        """A matched face alone, only to reviewers of the case of the subject it matched."""
        with self._open(actor) as (session, access):
            cases = set(session.scalars(select(Subject.case_id).join(Match, Match.subject_id == Subject.id)
                                        .where(Match.face_id == face_id)))
            visible = [c for c in cases if access.sees(c)]
            if not visible:
                raise NotFound.coded("notfound.face", id=face_id)
            if not any(access.can("review", c) for c in visible):
                raise NotAllowed.coded("refusal.faces")
            try:
                return face_crop_jpeg(self.ws, session, face_id)
            except JikimiError as e:
                raise NotFound(str(e)) from None
