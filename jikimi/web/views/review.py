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

from jikimi.errors import JikimiError

from jikimi.core.review import UNDO_SECONDS
from jikimi.web import auth, forms, listing
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()
REVEAL_SECONDS = 300  # long enough to watch a video, short enough that a left tab closes
SHORTCUTS = {"confirm": "c", "not_subject": "s", "not_abusive": "a", "unsure": "u"}
OTHER_KEYS = {"reveal": "r", "note": "n", "undo": "z", "table": "t"}
PREFERENCES = {"grayscale": True, "small": False, "gradual": False}


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
    core, actor = request.app.state.core, caller.actor
    data = core.review.queue(actor, case, scan, item)
    current = data["current"]
    grant = request.app.state.reveals.show_once(caller.user.id, current["id"]) \
        if current and data["can_review"] else None
    decided = forms.number(request.query_params.get("decided"), "decided")
    data.update(revealed=f"/media/originals/{current['id']}?grant={grant}" if grant else None,
                shortcuts=SHORTCUTS, keys=OTHER_KEYS, undo_seconds=UNDO_SECONDS,
                just_decided={"item_id": decided, "verdict": request.query_params.get("verdict")} if decided else None,
                undone=forms.number(request.query_params.get("undone"), "undone"),
                wellbeing={**core.settings.review(actor), "revealed_today": core.review.revealed_today(actor)},
                preferences={**PREFERENCES, **(caller.user.preferences or {})})
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
    return done(request, _queue_url(form, decided=data), data, 201)


@router.post("/review/{item_id}/undo", include_in_schema=False)
@router.post("/api/items/{item_id}/undo", tags=["review"],
             summary="Undo my decision on this item, within a few seconds of making it")
async def undo(request: Request, item_id: int, caller: Caller = Depends(auth.review)):
    form = await forms.body(request)
    data = request.app.state.core.review.undo(caller.actor, item_id)
    back = form.get("back") if str(form.get("back") or "").startswith("/review") else None
    return done(request, forms.safe_next(back) if back else _queue_url(form, item_id, undone=item_id), data)


@router.get("/review/table", include_in_schema=False)
@router.get("/api/review/table", tags=["review"],
            summary="The queue as a table: filter by tier, case, scan, chat or text (`q`); pages; ?format=csv")
def review_table(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    chosen = listing.filters(request, numbers=("tier", "case", "scan"), texts=("chat", "q"))
    if listing.wants_csv(request):
        return listing.csv_response(core.review.export_table(actor, chosen), "review-queue")
    data = core.review.table(actor, chosen, listing.page(request))
    outcome = request.query_params.get("done")
    return respond(request, "review_table.html", {**data, "outcome": outcome,
                                                  "preferences": {**PREFERENCES, **(caller.user.preferences or {})}})


@router.post("/review/bulk", include_in_schema=False)
@router.post("/api/review/bulk", tags=["review"],
             summary="Decide many items at once (`items`: ids, `verdict`, `note`); each refusal is listed")
async def bulk_decide(request: Request, caller: Caller = Depends(auth.review)):
    if request.headers.get("content-type", "").startswith("application/json"):
        form = await forms.body(request)
        ids = form.get("items") or []
    else:
        raw = await request.form(**auth.FORM_LIMITS)
        form, ids = dict(raw), raw.getlist("items")
    try:
        item_ids = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise JikimiError("items must be item numbers") from None
    data = request.app.state.core.review.decide_many(caller.actor, item_ids, str(form.get("verdict", "")),
                                                     str(form.get("note") or "").strip() or None)
    back = forms.safe_next(str(form.get("back") or "/review/table"))
    separator = "&" if "?" in back else "?"
    return done(request, f"{back}{separator}done={len(data['decided'])}-{len(data['refused'])}", data)


@router.post("/review/settings", include_in_schema=False)
@router.post("/api/review/settings", tags=["review"],
             summary="Admin: reviewers' break reminder (`break_minutes`) and re-blur time (`reblur_seconds`)")
async def review_settings(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    values = {name: form[name] for name in ("break_minutes", "reblur_seconds") if form.get(name) not in (None, "")}
    data = request.app.state.core.settings.set_review(caller.actor, values)
    return done(request, "/review", data)


@router.get("/api/items/{item_id}", tags=["review"], summary="An item: where it was posted, what it matched")
def show_item(request: Request, item_id: int, caller: Caller = Depends(auth.read)):
    return respond(request, "review.html", request.app.state.core.review.item(caller.actor, item_id))


def _queue_url(form: dict, item_id: int | None = None, decided: dict | None = None, undone: int | None = None) -> str:
    params = [f"{key}={int(value)}" for key in ("case", "scan") if str(value := form.get(key) or "").isdigit()]
    if item_id is not None:
        params.append(f"item={item_id}")
    if decided is not None:  # the next page confirms it and offers to undo it
        params += [f"decided={decided['item_id']}", f"verdict={decided['verdict']}"]
    if undone is not None:
        params.append(f"undone={undone}")
    return "/review" + ("?" + "&".join(params) if params else "")


def _back(form: dict, item_id: int) -> str:
    return _queue_url(form, item_id)


@router.get("/decisions", include_in_schema=False)
@router.get("/api/decisions", tags=["review"],
            summary="Decisions of my cases, newest first: filter by case, verdict, reviewer; pages; ?format=csv")
def decisions(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    chosen = listing.filters(request, numbers=("case",), texts=("verdict", "actor"))
    if listing.wants_csv(request):
        return listing.csv_response(core.review.export_decisions(actor, chosen), "decisions")
    return respond(request, "decisions.html", core.review.decisions(actor, chosen, listing.page(request)))
