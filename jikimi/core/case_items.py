"""Which items belong to a case: the case queries evidence packages and notices are made from.

An item belongs to a case when a scan made for the case collected it, when it matched the
face of one of the case's subjects (a scan of another case found her), or when someone
decided on it for the case.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.models import SUBJECT_MATCH_KINDS, Decision, Item, Match, Scan, Subject


def case_items_select(case_id: int):
    """The ids of the case's items, as a query to filter or count."""
    scanned = select(Item.id).join(Scan, Scan.id == Item.scan_id).where(Scan.case_id == case_id)
    routed = (select(Match.item_id).join(Subject, Subject.id == Match.subject_id)
              .where(Match.kind.in_(SUBJECT_MATCH_KINDS), Subject.case_id == case_id))
    decided = select(Decision.item_id).where(Decision.case_id == case_id)
    return scanned.union(routed, decided)


def case_item_ids(session: Session, case_id: int) -> set[int]:
    return set(session.scalars(case_items_select(case_id)))


def confirmed_item_ids(session: Session, case_id: int) -> list[int]:
    """Items of the case whose latest decision for the case is `confirm`."""
    latest = (select(Decision.item_id, func.max(Decision.id).label("id"))
              .where(Decision.case_id == case_id).group_by(Decision.item_id).subquery())
    query = select(Decision.item_id).join(latest, latest.c.id == Decision.id).where(Decision.verdict == "confirm")
    return sorted(session.scalars(query))


def select_items(session: Session, case_id: int, item_ids: list[int] | None) -> list[Item]:
    """The named items (each must belong to the case), or by default the confirmed ones."""
    if item_ids:
        outside = sorted(set(item_ids) - case_item_ids(session, case_id))
        if outside:
            raise WorkspaceError.coded("error.item_not_in_case", item=outside[0], case=case_id)
        ids = sorted(set(item_ids))
    else:
        ids = confirmed_item_ids(session, case_id)
        if not ids:
            raise JikimiError.coded("error.no_confirmed", case=case_id)
    items = list(session.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.id)
                                 .options(selectinload(Item.locators), selectinload(Item.scan))))
    for item in items:
        if not item.sha256:
            raise JikimiError.coded("error.no_original", id=item.id, why=item.error or "never read")
    return items
