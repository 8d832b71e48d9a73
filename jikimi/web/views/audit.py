"""The custody log: filtered, paged, exported as CSV, and verified, over the core's `custody`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from jikimi.web import auth, listing
from jikimi.web.auth import Caller
from jikimi.web.render import respond

router = APIRouter()


@router.get("/audit", include_in_schema=False)
@router.get("/api/audit", tags=["audit"],
            summary="The custody log of my cases, newest first: filter by actor, action, case, since/until "
                    "(YYYY-MM-DD); pages; ?format=csv")
def audit(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    chosen = listing.filters(request, numbers=("case",), texts=("actor", "action", "since", "until"))
    if listing.wants_csv(request):
        return listing.csv_response(core.custody.export_csv(actor, chosen), "custody-log")
    data = core.custody.search(actor, chosen, listing.page(request))
    return respond(request, "audit.html", {**data, "case": chosen["case"], "actions": core.custody.actions(actor),
                                           "verified": None})


@router.get("/audit/verify", include_in_schema=False)
@router.get("/api/audit/verify", tags=["audit"], summary="Check every entry's chain and signature")
def verify(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    result = core.custody.verify(actor)
    verified = {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
                "reason": result.reason, "reason_message": result.message}
    if request.url.path.startswith("/api/"):
        return respond(request, "audit.html", verified)
    chosen = listing.filters(request, numbers=("case",), texts=("actor", "action", "since", "until"))
    data = core.custody.search(actor, chosen, listing.page(request))
    return respond(request, "audit.html", {**data, "case": chosen["case"], "actions": core.custody.actions(actor),
                                           "verified": verified})
