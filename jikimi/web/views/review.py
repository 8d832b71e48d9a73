"""The review queue: the most urgent item first, blurred, with the matched face beside it.

An item waits for review when it matched something (a bank or an enrolled face) or triage
gave it a priority, no allow bank cleared it, and nobody has decided on it yet. Revealing
the original is a deliberate act: it is logged, and it opens that one item for a few
minutes to the reviewer who asked, through a grant nobody else can use.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from jikimi.audit import AuditLog
from jikimi.errors import WorkspaceError
from jikimi.review import VERDICTS, record_decision
from jikimi.store.models import Content, Decision, Item, Match, Scan
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond
from jikimi.web.views.common import decision_row

router = APIRouter()
UPCOMING = 12
REVEAL_SECONDS = 300  # long enough to watch a video, short enough that a left tab closes
SHORTCUTS = {"confirm": "c", "not_subject": "s", "not_abusive": "a", "unsure": "u"}


@dataclass
class Grant:
    user_id: int
    item_id: int
    expires: float
    shown: bool = False


class RevealGrants:
    """One-time, per-user, per-item permissions to fetch an original; kept in memory only."""

    def __init__(self):
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: int, item_id: int) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._grants = {t: g for t, g in self._grants.items() if g.expires > now}
            self._grants[token] = Grant(user_id, item_id, now + REVEAL_SECONDS)
        return token

    def allows(self, token: str, user_id: int, item_id: int) -> bool:
        grant = self._grants.get(token)
        return (grant is not None and grant.user_id == user_id and grant.item_id == item_id
                and grant.expires > time.monotonic())

    def show_once(self, user_id: int, item_id: int) -> str | None:
        """The grant to draw on this page, once: reloading or coming back shows it blurred again."""
        with self._lock:
            for token, grant in self._grants.items():
                if (grant.user_id, grant.item_id) == (user_id, item_id) and not grant.shown \
                        and grant.expires > time.monotonic():
                    grant.shown = True
                    return token
        return None


def _waiting(case_id: int | None = None, scan_id: int | None = None):
    """The condition for an item to wait in the queue, optionally within one case or scan."""
    condition = [
        Item.done.is_(True), Item.allowed_by.is_(None),
        ~exists().where(Decision.item_id == Item.id),
        exists().where(Match.item_id == Item.id) | (Item.priority > 0),
    ]
    if scan_id is not None:
        condition.append(Item.scan_id == scan_id)
    if case_id is not None:
        condition.append(Item.scan_id.in_(select(Scan.id).where(Scan.case_id == case_id)))
    return condition


def awaiting_count(session: Session, case_id: int | None = None, scan_id: int | None = None) -> int:
    return session.scalar(select(func.count()).select_from(Item).where(*_waiting(case_id, scan_id)))


def queue(session: Session, case_id: int | None, scan_id: int | None, limit: int) -> list[int]:
    return list(session.scalars(select(Item.id).where(*_waiting(case_id, scan_id))
                                .order_by(Item.priority.desc(), Item.id).limit(limit)))


def item_row(session: Session, item: Item, with_faces: bool) -> dict:
    content = session.get(Content, item.sha256) if item.sha256 else None
    matches = []
    for m in item.matches:
        row = {"kind": m.kind, "distance": m.distance}
        if m.kind == "face":
            row.update(subject_id=m.subject_id, subject=m.subject.name if m.subject else None,
                       face_id=m.face_id if with_faces else None, level=(m.detail or {}).get("level"))
        else:
            row.update(bank=m.bank.name if m.bank else None,
                       target=m.bank_content.label if m.bank_content else None)
        matches.append(row)
    return {
        "id": item.id, "scan_id": item.scan_id, "case_id": item.scan.case_id, "priority": item.priority,
        "reason": item.reason, "sha256": item.sha256,
        "kind": content.kind if content else "other", "mime_type": content.mime_type if content else None,
        "width": content.width if content else None, "height": content.height if content else None,
        "nudity": content.nudity if content else None,
        "thumbnail": f"/media/thumbs/{item.id}" if content is not None and content.thumbnail else None,
        "locators": [loc.fields for loc in item.locators],
        "matches": matches,
        "decisions": [decision_row(d) for d in session.scalars(
            select(Decision).where(Decision.item_id == item.id).order_by(Decision.id))],
    }


def _load(session: Session, item_ids: list[int]) -> dict[int, Item]:
    items = session.scalars(select(Item).where(Item.id.in_(item_ids)).options(
        selectinload(Item.locators), selectinload(Item.matches).selectinload(Match.subject),
        selectinload(Item.matches).selectinload(Match.bank), selectinload(Item.matches).selectinload(Match.bank_content),
        selectinload(Item.scan)))
    return {i.id: i for i in items}


@router.get("/review", include_in_schema=False)
@router.get("/api/review", tags=["review"], summary="The review queue, most urgent first")
def review_queue(request: Request, case: int | None = None, scan: int | None = None, item: int | None = None,
                 caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        upcoming = queue(session, case, scan, UPCOMING + 1)
        current_id = item if item is not None else (upcoming[0] if upcoming else None)
        loaded = _load(session, [i for i in [current_id, *upcoming] if i is not None])
        if item is not None and item not in loaded:
            raise WorkspaceError(f"no item with id {item}")
        reviewer = caller.can("review")
        current = item_row(session, loaded[current_id], reviewer) if current_id is not None else None
        grant = request.app.state.reveals.show_once(caller.user.id, current_id) if current and reviewer else None
        data = {
            "filters": {"case": case, "scan": scan},
            "waiting": awaiting_count(session, case, scan),
            "current": current,
            "revealed": f"/media/originals/{current_id}?grant={grant}" if grant else None,
            "upcoming": [{"id": i, "priority": loaded[i].priority, "reason": loaded[i].reason,
                          "thumbnail": f"/media/thumbs/{i}"} for i in upcoming if i != current_id][:UPCOMING],
            "verdicts": VERDICTS, "shortcuts": SHORTCUTS,
            "preferences": {"grayscale": True, "small": False, **(caller.user.preferences or {})},
            "can_review": reviewer,
        }
    return respond(request, "review.html", data)


@router.post("/review/{item_id}/reveal", include_in_schema=False)
@router.post("/api/items/{item_id}/reveal", tags=["review"],
             summary="Reveal an original: logged; returns a URL valid for this user and item for a few minutes")
async def reveal(request: Request, item_id: int, caller: Caller = Depends(auth.review)):
    form = await forms.body(request)
    ws = request.app.state.ws
    with ws.session() as session:
        item = session.get(Item, item_id)
        if item is None or item.sha256 is None:
            raise WorkspaceError(f"no item with id {item_id} that has a stored original")
        AuditLog(session, ws.home).append("reveal", f"item:{item_id}", {"sha256": item.sha256},
                                          case_id=item.scan.case_id, actor=caller.name)
    token = request.app.state.reveals.issue(caller.user.id, item_id)
    data = {"url": f"/media/originals/{item_id}?grant={token}", "expires_in": REVEAL_SECONDS}
    return done(request, _back(form, item_id), data)


@router.post("/review/{item_id}/decision", include_in_schema=False)
@router.post("/api/items/{item_id}/decision", tags=["review"], status_code=201,
             summary="Decide: confirm | not_subject | not_abusive | unsure, with an optional note")
async def decide(request: Request, item_id: int, caller: Caller = Depends(auth.review)):
    form = await forms.body(request)
    note = str(form.get("note") or "").strip() or None
    ws = request.app.state.ws
    with ws.session() as session:
        decision = record_decision(session, ws.home, item_id, str(form.get("verdict", "")), caller.name, note)
        data = decision_row(decision)
    return done(request, _queue_url(form), data, 201)


def _queue_url(form: dict, item_id: int | None = None) -> str:
    params = [f"{key}={int(value)}" for key in ("case", "scan") if str(value := form.get(key) or "").isdigit()]
    if item_id is not None:
        params.append(f"item={item_id}")
    return "/review" + ("?" + "&".join(params) if params else "")


def _back(form: dict, item_id: int) -> str:
    return _queue_url(form, item_id)
