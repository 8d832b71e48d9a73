"""Webhooks for admins: allowed hosts, targets, the dead-letter list with a retry button and
the delivery log. Targets and hosts are configured with `jikimi webhook` (docs/webhooks.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from jikimi.errors import JikimiError
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()
RECENT = 50


@router.get("/admin/webhooks", include_in_schema=False)
@router.get("/api/admin/webhooks", tags=["admin"], summary="Webhook hosts, targets, dead letters and recent deliveries")
def overview(request: Request, caller: Caller = Depends(auth.admin)):
    hooks, actor = request.app.state.core.webhooks, caller.actor
    return respond(request, "webhooks.html", {
        "hosts": hooks.hosts(actor), "targets": hooks.list(actor),
        "dead": hooks.deliveries(actor, "dead", RECENT), "recent": hooks.deliveries(actor, None, RECENT)})


@router.post("/admin/webhooks/retry", include_in_schema=False)
@router.post("/api/admin/webhooks/retry", tags=["admin"], summary="Send a dead delivery again (`delivery_id`)")
async def retry(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    try:
        delivery_id = int(str(form.get("delivery_id", "")))
    except ValueError:
        raise JikimiError("choose a delivery to retry") from None
    return done(request, "/admin/webhooks", request.app.state.core.webhooks.retry(caller.actor, delivery_id))
