"""The review queue page: the most urgent item first, blurred, with the matched face beside it.

Which items wait, and for whom, is the core's (`jikimi.core.review`). Revealing the
original is a deliberate act: the core logs it, and this face opens that one item for a
few minutes to the reviewer who asked, through a grant nobody else can use.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request

from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()
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


@router.get("/review", include_in_schema=False)
@router.get("/api/review", tags=["review"], summary="The review queue, most urgent first")
def review_queue(request: Request, case: int | None = None, scan: int | None = None, item: int | None = None,
                 caller: Caller = Depends(auth.read)):
    data = request.app.state.core.review.queue(caller.actor, case, scan, item)
    current = data["current"]
    grant = request.app.state.reveals.show_once(caller.user.id, current["id"]) \
        if current and data["can_review"] else None
    data.update(revealed=f"/media/originals/{current['id']}?grant={grant}" if grant else None,
                shortcuts=SHORTCUTS,
                preferences={"grayscale": True, "small": False, **(caller.user.preferences or {})})
    return respond(request, "review.html", data)


@router.post("/review/{item_id}/reveal", include_in_schema=False)
@router.post("/api/items/{item_id}/reveal", tags=["review"],
             summary="Reveal an original: logged; returns a URL valid for this user and item for a few minutes")
async def reveal(request: Request, item_id: int, caller: Caller = Depends(auth.review)):
    form = await forms.body(request)
    request.app.state.core.review.reveal(caller.actor, item_id)
    token = request.app.state.reveals.issue(caller.user.id, item_id)
    data = {"url": f"/media/originals/{item_id}?grant={token}", "expires_in": REVEAL_SECONDS}
    return done(request, _back(form, item_id), data)


@router.post("/review/{item_id}/decision", include_in_schema=False)
@router.post("/api/items/{item_id}/decision", tags=["review"], status_code=201,
             summary="Decide: confirm | not_subject | not_abusive | unsure, with an optional note")
async def decide(request: Request, item_id: int, caller: Caller = Depends(auth.review)):
    form = await forms.body(request)
    note = str(form.get("note") or "").strip() or None
    case_id = forms.number(form.get("for_case"), "the case")
    data = request.app.state.core.review.decide(caller.actor, item_id, str(form.get("verdict", "")), note, case_id)
    return done(request, _queue_url(form), data, 201)


@router.get("/api/items/{item_id}", tags=["review"], summary="An item: where it was posted, what it matched")
def show_item(request: Request, item_id: int, caller: Caller = Depends(auth.read)):
    return respond(request, "review.html", request.app.state.core.review.item(caller.actor, item_id))


def _queue_url(form: dict, item_id: int | None = None) -> str:
    params = [f"{key}={int(value)}" for key in ("case", "scan") if str(value := form.get(key) or "").isdigit()]
    if item_id is not None:
        params.append(f"item={item_id}")
    return "/review" + ("?" + "&".join(params) if params else "")


def _back(form: dict, item_id: int) -> str:
    return _queue_url(form, item_id)
