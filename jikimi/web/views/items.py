"""Every item of a case as a list: search, filters, pages and CSV over the core (`jk.items`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from jikimi.web import auth, listing
from jikimi.web.auth import Caller
from jikimi.web.render import respond

router = APIRouter()


@router.get("/cases/{case_id}/items", include_in_schema=False)
@router.get("/api/cases/{case_id}/items", tags=["cases"],
            summary="Every item of a case with its latest decision: search (`q`), filter by `decision` "
            "(undecided or a verdict), `reason` (a tier or `error`), `scan`, `chat`; pages; ?format=csv")
def case_items(case_id: int, request: Request, caller: Caller = Depends(auth.read)):
    core = request.app.state.core
    chosen = listing.filters(request, numbers=("scan",), texts=("q", "decision", "reason", "chat"))
    if listing.wants_csv(request):
        return listing.csv_response(core.items.export_case(caller.actor, case_id, chosen), f"case-{case_id}-items")
    return respond(request, "case_items.html", core.items.of_case(caller.actor, case_id, chosen, listing.page(request)))
