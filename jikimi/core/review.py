"""Items and the review queue, decisions and reveals, and the pictures of evidence.

An item waits in a case's queue when it matched something or triage gave it a priority, no
allow bank cleared it, and nobody has decided on it for that case yet. It waits in its
scan's case, and in the case of every subject whose face it matched: one scan finds every
victim, and each victim's team reviews her matches. The scanning case's members see such a
match only as "a person enrolled in another case".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from sqlalchemy import exists, func, literal_column, select
from sqlalchemy.orm import Session, selectinload

from jikimi import clock
from jikimi.cases import kept_reference_crop
from jikimi.core.access import Access, NotAllowed, NotFound, allows
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.listing import COUNT_CAP, Page, csv_text, read_page, timed_count
from jikimi.errors import JikimiError
from jikimi.reports.crops import face_crop_jpeg
from jikimi.reports.data import posted_in
from jikimi.review import VERDICTS, record_decision, withdraw_decision
from jikimi.serialize import decision_json, item_json, reason_json, reason_message_json
from jikimi.signals.face_embedding import EMBEDDERS
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import (SUBJECT_MATCH_KINDS, Content, Decision, Item, ItemLocator, Match, Scan, Subject,
                                 SubjectTemplate, utcnow)
from jikimi.triage import TIER_SPAN

UPCOMING = 12
UNDO_SECONDS = 10  # the confirmation offers "undo" this long
UNDO_GRACE_SECONDS = 5  # a click in the last second still arrives in time
TIERS = (5, 4, 3, 2, 1, 0)  # triage's tiers, most urgent first (jikimi/triage.py)
BULK_MAX = 500
CHAT_CHOICES = 200
CHAT_SAMPLE = 5_000  # the latest posts whose chats the filter menu offers


def tier_of(priority: int) -> int:
    return max(0, priority) // TIER_SPAN


def likeness(match: dict) -> str | None:
    """A face match's distance in words a case worker reads, from the model's own thresholds
    (docs/faces.md): within the confident threshold (false matches at most 1e-4 among East
    Asian women) "very_similar"; in the nearer half of the band up to the match threshold
    (at most 1e-3) "similar"; in the farther half "maybe_other" (it may be someone else)."""
    if match.get("kind") != "face" or match.get("distance") is None:
        return None
    model = EMBEDDERS.get(match.get("model") or "")
    match_threshold = match.get("threshold") or (model.match_threshold if model else None)
    confident = model.confident_threshold if model else None
    distance = match["distance"]
    if confident is None or match_threshold is None:
        return "very_similar" if match.get("level") == "confident" else "similar"
    if distance <= confident:
        return "very_similar"
    return "similar" if distance <= (confident + match_threshold) / 2 else "maybe_other"


def _waiting(visible: set[int] | None, case_id: int | None = None, scan_id: int | None = None):
    return _waiting_select(visible, case_id, scan_id).subquery()


def _waiting_select(visible: set[int] | None, case_id: int | None = None, scan_id: int | None = None):
    """Items waiting for the reader: in their scan's case with no decision for it, or matching
    the face of a subject whose case has no decision on them yet. Written as EXISTS tests on
    each item (not a union of (item, case) pairs), so the queue is read in priority order
    and stops after a page."""
    routed = (select(Match.id).join(Subject, Subject.id == Match.subject_id)
              .where(Match.item_id == Item.id, Match.kind.in_(SUBJECT_MATCH_KINDS),
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
    return query


def awaiting_count(session: Session, access: Access, case_id: int | None = None, scan_id: int | None = None) -> int:
    return session.scalar(select(func.count()).select_from(_waiting(access.visible_cases(), case_id, scan_id)))


def routed_count(session: Session, access: Access) -> int:
    """Items waiting in the actor's cases because a scan of another case found their subject."""
    visible = access.visible_cases()
    routed = (select(Match.item_id).join(Subject, Subject.id == Match.subject_id).join(Item, Item.id == Match.item_id)
              .join(Scan, Scan.id == Item.scan_id)
              .where(Match.kind.in_(SUBJECT_MATCH_KINDS), Scan.case_id.is_distinct_from(Subject.case_id),
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
    for match in data["matches"]:
        if match["kind"] == "face" and not match["other_case"]:  # a hidden match keeps only that it happened
            match["likeness"] = likeness(match)
            match["reference"] = (f"/media/references/{match['subject_id']}"
                                  if with_faces and match.get("subject_id") and _has_reference(session, match["subject_id"])
                                  else None)
    return {
        **data,
        "tier": tier_of(item.priority),
        "face_matched": any(m["kind"] == "face" for m in data["matches"]),
        "scan_id": item.scan_id if access.sees(scan_case) else None,
        "case_id": scan_case if access.sees(scan_case) else next(
            (m["case_id"] for m in data["matches"] if m["kind"] in SUBJECT_MATCH_KINDS and m["case_id"] is not None), None),
        "routed": not access.sees(scan_case),
        "thumbnail": f"/media/thumbs/{item.id}" if content is not None and content.thumbnail else None,
        "decisions": [decision_json(d) for d in decisions if access.sees(d.case_id)],
    }


def _has_reference(session: Session, subject_id: int) -> bool:
    return session.scalar(select(SubjectTemplate.id).where(SubjectTemplate.subject_id == subject_id,
                                                           SubjectTemplate.reference_crop.is_not(None)).limit(1)) is not None


def chat_of(fields, dialect: str):
    """The chat a post was made in; on SQLite written exactly as `ix_item_locators_chat`
    indexes it (the path a literal, not a parameter), so a chat's posts are found by index."""
    if dialect == "sqlite":
        return func.json_extract(fields, literal_column("'$.chat'"))
    return fields["chat"].as_string()


def _table_query(visible: set[int] | None, filters: dict, dialect: str = "sqlite"):
    """The waiting items as the table view filters them: tier, scan, case, chat, and a search
    in where they were posted (chat, sender, file path)."""
    query = _waiting_select(visible, filters.get("case"), filters.get("scan"))
    if filters.get("tier") is not None:
        low = filters["tier"] * TIER_SPAN
        query = query.where(Item.priority >= low, Item.priority < low + TIER_SPAN) if filters["tier"] else \
            query.where(Item.priority <= 0)
    if filters.get("chat"):
        in_chat = select(ItemLocator.item_id).where(chat_of(ItemLocator.fields, dialect) == filters["chat"])
        query = query.where(Item.id.in_(in_chat))
    if filters.get("q"):
        needle = f"%{filters['q']}%"
        posted = (ItemLocator.fields["chat"].as_string().ilike(needle) | ItemLocator.fields["sender"].as_string()
                  .ilike(needle) | ItemLocator.fields["path"].as_string().ilike(needle))
        query = query.where(exists().where(ItemLocator.item_id == Item.id, posted))
    return query.order_by(Item.priority.desc(), Item.id)


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
            reviewer = allows(actor, "review")  # with nothing waiting: what the role (and token scope) allows
            if current_id is not None:
                if for_case is None:
                    _, for_case = access.item(current_id)
                reviewer = access.can("review", for_case)
                current = review_item_json(session, access, loaded[current_id], reviewer)
            return {
                "filters": {"case": case_id, "scan": scan_id},
                # counted up to COUNT_CAP and for a moment (None: many), since a count reads every
                # waiting item and the page only a few
                "waiting": (waiting := timed_count(session, _waiting_select(access.visible_cases(), case_id, scan_id))),
                "waiting_more": waiting is None or waiting >= COUNT_CAP,
                "current": current,
                "upcoming": [{"id": i, "priority": loaded[i].priority,
                              "reason": reason_json(loaded[i], access.hides_subject_of),
                              "reason_message": reason_message_json(loaded[i], access.hides_subject_of),
                              "thumbnail": f"/media/thumbs/{i}"} for i in upcoming if i != current_id][:UPCOMING],
                "verdicts": VERDICTS,
                "can_review": reviewer,
            }

    def table(self, actor: Actor, filters: dict, page: Page) -> dict:
        """The queue as a table: one filtered page of waiting items, for bulk decisions."""
        with self._open(actor) as (session, access):
            if filters.get("case") is not None:
                access.case(filters["case"])
            if filters.get("scan") is not None:
                access.scan(filters["scan"])
            ids, pager = read_page(session, _table_query(access.visible_cases(), filters, session.bind.dialect.name),
                                   page)
            loaded = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(ids)).options(
                selectinload(Item.locators), selectinload(Item.matches).selectinload(Match.subject),
                selectinload(Item.scan)))}
            rows = []
            for item_id in ids:
                item = loaded[item_id]
                first = item.locators[0].fields if item.locators else {}
                faces = [m for m in item.matches if m.kind == "face"]
                rows.append({"id": item_id, "priority": item.priority, "tier": tier_of(item.priority),
                             "reason": reason_json(item, access.hides_subject_of),
                             "scan_id": item.scan_id if access.sees(item.scan.case_id) else None,
                             "chat": first.get("chat"), "path": first.get("path"), "posts": len(item.locators),
                             "face_matched": bool(faces), "thumbnail": f"/media/thumbs/{item_id}"})
            chats = recent_chats(session, access.visible_cases(), filters)
            return {"filters": filters, "items": rows, "pager": pager, "chats": chats, "tiers": TIERS,
                    "verdicts": VERDICTS, "can_review": allows(actor, "review")}

    def export_table(self, actor: Actor, filters: dict) -> str:
        """The filtered queue as CSV (no pictures); the export is written to the custody log."""
        rows = self.table(actor, filters, Page.everything())["items"]
        with self._open(actor) as (session, _):
            self._log(session, actor, "list_export", "review_queue",
                      {"filters": {k: v for k, v in filters.items() if v not in (None, "")}, "rows": len(rows)},
                      filters.get("case"))
        return csv_text(["item_id", "priority", "tier", "reason", "scan_id", "chat", "path", "posts"],
                        [[r["id"], r["priority"], r["tier"], r["reason"], r["scan_id"], r["chat"], r["path"], r["posts"]]
                         for r in rows])

    def decide_many(self, actor: Actor, item_ids: list[int], verdict: str, note: str | None = None) -> dict:
        """The same verdict on many items: each is decided (or refused with its reason) on its own."""
        if not item_ids:
            raise JikimiError.coded("error.choose_items")
        if len(item_ids) > BULK_MAX:
            raise JikimiError.coded("error.bulk_max", max=BULK_MAX)
        decided, refused = [], []
        for item_id in item_ids:
            try:
                if verdict == "not_subject" and not self._face_matched(actor, item_id):
                    raise JikimiError.coded("error.not_her_without_face")
                decided.append(self.decide(actor, item_id, verdict, note))
            except JikimiError as e:
                refused.append({"item_id": item_id, "error": str(e)})
        return {"decided": decided, "refused": refused}

    def _face_matched(self, actor: Actor, item_id: int) -> bool:
        with self._open(actor) as (session, access):
            access.item(item_id)
            return session.scalar(select(Match.id).where(Match.item_id == item_id, Match.kind == "face").limit(1)) \
                is not None

    def undo(self, actor: Actor, item_id: int) -> dict:
        """Take back the actor's own decision on the item, made in the last few seconds."""
        with self._open(actor) as (session, access):
            _, for_case = access.item(item_id, "review")
            decision = session.scalars(select(Decision).where(Decision.item_id == item_id,
                                                              Decision.actor == actor.log_name)
                                       .order_by(Decision.id.desc()).limit(1)).first()
            made = decision.created_at.replace(tzinfo=None) if decision else None
            if decision is None or (utcnow().replace(tzinfo=None) - made).total_seconds() > \
                    UNDO_SECONDS + UNDO_GRACE_SECONDS or not access.can("review", decision.case_id):
                raise JikimiError.coded("error.nothing_to_undo")
            withdrawn = decision_json(decision)
            withdraw_decision(session, self.ws.home, decision, actor.log_name)
            return {"undone": withdrawn}

    def decisions(self, actor: Actor, filters: dict, page: Page) -> dict:
        """One page of the decisions of the actor's cases, newest first, by case, verdict and
        reviewer (a part of the name)."""
        with self._open(actor) as (session, access):
            query = select(Decision).order_by(Decision.id.desc())
            if filters.get("case") is not None:
                access.case(filters["case"])
                query = query.where(Decision.case_id == filters["case"])
            elif (visible := access.visible_cases()) is not None:
                query = query.where(Decision.case_id.in_(visible))
            if filters.get("verdict"):
                query = query.where(Decision.verdict == filters["verdict"])
            if filters.get("actor"):
                query = query.where(Decision.actor.ilike(f"%{filters['actor']}%"))
            decisions, pager = read_page(session, query, page)
            return {"decisions": [decision_json(d) for d in decisions], "pager": pager, "filters": filters,
                    "verdicts": VERDICTS}

    def export_decisions(self, actor: Actor, filters: dict) -> str:
        rows = self.decisions(actor, filters, Page.everything())["decisions"]
        with self._open(actor) as (session, _):
            self._log(session, actor, "list_export", "decisions",
                      {"filters": {k: v for k, v in filters.items() if v not in (None, "")}, "rows": len(rows)},
                      filters.get("case"))
        return csv_text(["id", "item_id", "case_id", "verdict", "note", "actor", "created_at_utc"],
                        [[d["id"], d["item_id"], d["case_id"], d["verdict"], d["note"], d["actor"], d["created_at"]]
                         for d in rows])

    def revealed_today(self, actor: Actor) -> int:
        """How many originals the actor revealed since midnight (the workspace's time zone): shown to them."""
        midnight = datetime.now(clock.workspace_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
        since = midnight.astimezone(timezone.utc).isoformat(timespec="microseconds")
        with self._open(actor) as (session, _):
            return session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "reveal", AuditEntry.actor == actor.log_name, AuditEntry.time >= since))

    def reference_face(self, actor: Actor, subject_id: int) -> bytes:
        """Her kept reference crop, to reviewers of her case only (kept only with her consent)."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id, "review")
            crop = kept_reference_crop(self.ws, subject)
            if crop is None:
                raise NotFound.coded("notfound.reference", id=subject_id)
            return crop

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
                raise NotFound.coded("notfound.original", id=item_id)
            self._log(session, actor, "reveal", f"item:{item_id}", {"sha256": item.sha256}, for_case)
            return {"item_id": item_id, "case_id": for_case}

    def thumbnail(self, actor: Actor, item_id: int) -> bytes:
        with self._open(actor) as (session, access):
            item, _ = access.item(item_id)
            content = session.get(Content, item.sha256) if item.sha256 else None
            if content is None or content.thumbnail is None:
                raise NotFound.coded("notfound.thumbnail", id=item_id)
            return self.ws.vault.open_thumbnail(content.sha256, content.thumbnail)

    def original(self, actor: Actor, item_id: int) -> tuple[Iterator[bytes], str | None]:
        """The decrypted bytes (read lazily) and media type of an item's original (after a logged reveal)."""
        with self._open(actor) as (session, access):
            item, _ = access.item(item_id, "review")
            content = session.get(Content, item.sha256) if item.sha256 else None
            if content is None:
                raise NotFound.coded("notfound.original", id=item_id)
            return self.ws.vault.chunks(content.sha256), content.mime_type

    def face_crop(self, actor: Actor, face_id: int) -> bytes:
        """A matched face alone, only to reviewers of the case of the subject it matched."""
        with self._open(actor) as (session, access):
            if not access.face_cases(face_id):
                raise NotFound.coded("notfound.face", id=face_id)
            if not access.may_see_face(face_id):
                raise NotAllowed.coded("refusal.faces")
            try:
                return face_crop_jpeg(self.ws, session, face_id)
            except JikimiError as e:
                raise NotFound(str(e)) from None


def recent_chats(session: Session, visible: set[int] | None, filters: dict) -> list[str]:
    """Chats to choose from in the filter menu: those of the workspace's latest posts that the
    reader may see (of the chosen case or scan). Reading every post's chat would cost a full
    pass over the posts; the chat filter itself takes any name."""
    latest = select(ItemLocator.scan_id, ItemLocator.fields).order_by(ItemLocator.id.desc()).limit(CHAT_SAMPLE).subquery()
    chat = chat_of(latest.c.fields, session.bind.dialect.name)
    query = select(chat).join(Scan, Scan.id == latest.c.scan_id).where(chat.is_not(None))
    if visible is not None:
        query = query.where(Scan.case_id.in_(visible))
    if filters.get("case") is not None:
        query = query.where(Scan.case_id == filters["case"])
    if filters.get("scan") is not None:
        query = query.where(Scan.id == filters["scan"])
    return [c for c in session.scalars(query.distinct().order_by(chat).limit(CHAT_CHOICES)) if c]
