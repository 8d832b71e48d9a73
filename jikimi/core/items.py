"""Every item of a case, decided or not, as one filtered list with pages and CSV.

The review queue shows what still waits; this list shows all a case holds (`case_items`):
what its scans collected, what matched its subjects in other cases' scans, and what was
decided for it, each with its latest decision for the case.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.listing import Page, csv_text, read_page
from jikimi.core.review import TIERS, recent_chats, chat_of, tier_of
from jikimi.review import VERDICTS
from jikimi.serialize import reason_json, reason_message_json
from jikimi.core.case_items import case_items_select
from jikimi.store.models import Decision, Item, ItemLocator, Match
from jikimi.triage import TIER_SPAN

UNDECIDED, ERRORS = "undecided", "error"  # the decision filter's and the reason filter's extra choices


def _latest_decisions(case_id: int):
    """Each item's latest decision for the case (item_id, verdict)."""
    latest = (select(func.max(Decision.id).label("id")).where(Decision.case_id == case_id)
              .group_by(Decision.item_id).subquery())
    return select(Decision.item_id, Decision.verdict).join(latest, latest.c.id == Decision.id)


def _query(case_id: int, filters: dict, dialect: str):
    decided = select(Decision.item_id).where(Decision.case_id == case_id)
    query = select(Item).where(Item.id.in_(case_items_select(case_id)))
    decision = filters.get("decision")
    if decision == UNDECIDED:
        query = query.where(Item.id.not_in(decided))
    elif decision in VERDICTS:
        latest = _latest_decisions(case_id).subquery()
        query = query.where(Item.id.in_(select(latest.c.item_id).where(latest.c.verdict == decision)))
    reason = filters.get("reason")
    if reason == ERRORS:
        query = query.where(Item.error.is_not(None))
    elif reason is not None and reason.isdigit() and int(reason) in TIERS:
        low = int(reason) * TIER_SPAN
        query = query.where(Item.priority >= low, Item.priority < low + TIER_SPAN) if int(reason) else \
            query.where(Item.priority <= 0)
    if filters.get("scan") is not None:
        query = query.where(Item.id.in_(select(ItemLocator.item_id).where(ItemLocator.scan_id == filters["scan"])))
    if filters.get("chat"):
        query = query.where(Item.id.in_(select(ItemLocator.item_id)
                                        .where(chat_of(ItemLocator.fields, dialect) == filters["chat"])))
    if filters.get("q"):
        needle = f"%{filters['q']}%"
        posted = (ItemLocator.fields["chat"].as_string().ilike(needle) | ItemLocator.fields["sender"].as_string()
                  .ilike(needle) | ItemLocator.fields["path"].as_string().ilike(needle))
        found = select(ItemLocator.item_id).where(posted)
        query = query.where(Item.id.in_(found) | Item.sha256.ilike(needle) if len(filters["q"]) >= 8
                            else Item.id.in_(found))
    return query.order_by(Item.priority.desc(), Item.id)


class Items(Part):
    def of_case(self, actor: Actor, case_id: int, filters: dict, page: Page) -> dict:
        """One page of the case's items: search where they were posted (chat, sender, file,
        or a SHA-256), filter by decision, reason, scan and chat."""
        with self._open(actor) as (session, access):
            case = access.case(case_id)
            if filters.get("scan") is not None:
                access.scan(filters["scan"])
            query = _query(case_id, filters, session.bind.dialect.name).options(
                selectinload(Item.locators), selectinload(Item.matches).selectinload(Match.subject),
                selectinload(Item.scan))
            items, pager = read_page(session, query, page)
            verdicts = dict(session.execute(_latest_decisions(case_id).where(
                Decision.item_id.in_([i.id for i in items]))).all())
            rows = []
            for item in items:
                first = item.locators[0].fields if item.locators else {}
                own_scan = access.sees(item.scan.case_id)
                rows.append({
                    "id": item.id, "sha256": item.sha256, "priority": item.priority, "tier": tier_of(item.priority),
                    "reason": reason_json(item, access.hides_subject_of),
                    "reason_message": reason_message_json(item, access.hides_subject_of),
                    "error": item.error, "decision": verdicts.get(item.id),
                    "scan_id": item.scan_id if own_scan else None,
                    "scan_name": Path(item.scan.source).name if own_scan else None,
                    "chat": first.get("chat"), "path": first.get("path"), "posts": len(item.locators),
                    "thumbnail": f"/media/thumbs/{item.id}" if item.sha256 and not item.error else None})
            chats = recent_chats(session, access.visible_cases(), {"case": case_id})
            return {"case": {"id": case.id, "title": case.title}, "filters": filters, "items": rows,
                    "pager": pager, "chats": chats, "tiers": TIERS, "verdicts": VERDICTS}

    def export_case(self, actor: Actor, case_id: int, filters: dict) -> str:
        """The filtered list as CSV (no pictures); the export is written to the custody log."""
        rows = self.of_case(actor, case_id, filters, Page.everything())["items"]
        with self._open(actor) as (session, _):
            self._log(session, actor, "list_export", f"case:{case_id}",
                      {"list": "items", "filters": {k: v for k, v in filters.items() if v not in (None, "")},
                       "rows": len(rows)}, case_id)
        return csv_text(["item_id", "sha256", "priority", "tier", "reason", "decision", "scan_id", "chat", "path",
                         "posts", "error"],
                        [[r["id"], r["sha256"], r["priority"], r["tier"], r["reason"], r["decision"], r["scan_id"],
                          r["chat"], r["path"], r["posts"], r["error"]] for r in rows])
