"""Takedown in the browser: hosts, a case's notices (draft, edit, send, mark), what is due today,
per-host statistics, and the mail server. Pages and JSON twins over `jk.takedown`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from jikimi import clock
from jikimi.core import NotAllowed
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.takedown.hosts import LANGUAGES
from jikimi.takedown.send import SECURITY
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, is_api, page, respond

router = APIRouter()


def _answer(request: Request, template: str, data: dict, status: int = 200) -> Response:
    """JSON under /api/; pages get times in the workspace's zone, named (`at`)."""
    if is_api(request):
        return respond(request, template, data, status)
    return page(request, template, status, at=clock.local, notice_languages=LANGUAGES, **data)


async def _fields(request: Request) -> tuple[dict, Callable[[str], list]]:
    """The form (or JSON) and a reader of repeated fields (checkboxes) from either."""
    form = await forms.body(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        def many(name: str) -> list:
            value = form.get(name) or []
            return value if isinstance(value, list) else [value]
    else:
        raw = await request.form(**auth.FORM_LIMITS)

        def many(name: str) -> list:
            return [v for v in raw.getlist(name) if isinstance(v, str)]
    return form, many


def _text(form: dict, name: str) -> str | None:
    value = form.get(name)
    return str(value).strip() or None if value is not None else None


@router.get("/takedown", include_in_schema=False)
@router.get("/api/takedown", tags=["takedown"], summary="Notices of my cases due to be sent or re-sent today")
def overview(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    return _answer(request, "takedown.html", {"due": core.takedown.due_today(actor),
                                              "smtp_configured": core.takedown.smtp_configured(actor),
                                              "cases": [{"id": c["id"], "title": c["title"]}
                                                        for c in core.cases.list(actor)]})


@router.get("/takedown/stats", include_in_schema=False)
@router.get("/api/takedown/stats", tags=["takedown"],
            summary="Per host: notices sent, share removed, median and p90 hours to removal")
def statistics(request: Request, caller: Caller = Depends(auth.read)):
    rows = request.app.state.core.takedown.stats(caller.actor)
    longest = max((r["median_hours"] or 0 for r in rows), default=0)
    return _answer(request, "takedown_stats.html", {"hosts": rows, "longest_median_hours": longest})


@router.get("/takedown/hosts", include_in_schema=False)
@router.get("/api/takedown/hosts", tags=["takedown"], summary="Hosts that take notices: abuse desks, regulators")
def list_hosts(request: Request, caller: Caller = Depends(auth.read)):
    return _answer(request, "takedown_hosts.html", {"hosts": request.app.state.core.takedown.hosts(caller.actor)})


@router.post("/takedown/hosts", include_in_schema=False)
@router.post("/api/takedown/hosts", tags=["takedown"], status_code=201,
             summary="Add a host (`name`, `email` or `url`, `languages`, `notes`)")
async def add_host(request: Request, caller: Caller = Depends(auth.manage)):
    form, many = await _fields(request)
    data = request.app.state.core.takedown.add_host(caller.actor, str(form.get("name", "")), _text(form, "email"),
                                                    many("languages"), _text(form, "url"), _text(form, "notes"))
    return done(request, "/takedown/hosts", data, 201)


@router.post("/takedown/hosts/{host_id}", include_in_schema=False)
@router.post("/api/takedown/hosts/{host_id}", tags=["takedown"],
             summary="Correct a host's address, report page, languages or notes")
async def edit_host(request: Request, host_id: int, caller: Caller = Depends(auth.manage)):
    form, many = await _fields(request)
    data = request.app.state.core.takedown.edit_host(caller.actor, host_id, _text(form, "email"), many("languages"),
                                                     _text(form, "url"), _text(form, "notes"))
    return done(request, "/takedown/hosts", data)


@router.get("/cases/{case_id}/takedown", include_in_schema=False)
@router.get("/api/cases/{case_id}/takedown", tags=["takedown"], summary="A case's notices and its confirmed items")
def case_notices(request: Request, case_id: int, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    data = core.takedown.case_notices(actor, case_id)
    if not is_api(request):
        data.update(hosts=core.takedown.hosts(actor), smtp_configured=core.takedown.smtp_configured(actor))
    return _answer(request, "case_takedown.html", data)


@router.post("/cases/{case_id}/notices", include_in_schema=False)
@router.post("/api/cases/{case_id}/notices", tags=["takedown"], status_code=201,
             summary="Draft notices to a host (`host`, `language`, `items`, `legal_basis`, `victim`, `signature`)")
async def draft(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    form, many = await _fields(request)
    item_ids = [forms.number(i, "an item") for i in many("items")] or None
    drafted = request.app.state.core.takedown.draft(
        caller.actor, case_id, str(form.get("host", "")).strip(), _text(form, "language"), item_ids,
        legal_basis=_text(form, "legal_basis"), victim=_text(form, "victim"), signature=_text(form, "signature"))
    return done(request, f"/takedown/notices/{drafted[0]['id']}", {"notices": drafted}, 201)


@router.get("/takedown/notices/{notice_id}", include_in_schema=False)
@router.get("/api/takedown/notices/{notice_id}", tags=["takedown"],
            summary="A notice: its text, recipient, status and history")
def show_notice(request: Request, notice_id: int, caller: Caller = Depends(auth.read)):
    return _notice_page(request, caller, notice_id)


def _notice_page(request: Request, caller: Caller, notice_id: int, problem: str | None = None,
                 status: int = 200) -> Response:
    core, actor = request.app.state.core, caller.actor
    data = {"notice": core.takedown.notice(actor, notice_id), "problem": problem}
    if not is_api(request):
        data.update(smtp_configured=core.takedown.smtp_configured(actor))
    return _answer(request, "notice.html", data, status)


@router.get("/takedown/notices/{notice_id}/eml", include_in_schema=False)
@router.get("/api/takedown/notices/{notice_id}/eml", tags=["takedown"], summary="The notice as an .eml file")
def download_eml(request: Request, notice_id: int, caller: Caller = Depends(auth.read)):
    name, data = request.app.state.core.takedown.eml(caller.actor, notice_id)
    return Response(data, media_type="message/rfc822",
                    headers={"Content-Disposition": f'attachment; filename="{forms.safe_name(name)}"'})


@router.post("/takedown/notices/{notice_id}/edit", include_in_schema=False)
@router.post("/api/takedown/notices/{notice_id}/edit", tags=["takedown"],
             summary="Replace a draft's text (`subject`, `body`) before it is sent")
async def edit_notice(request: Request, notice_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.takedown.edit(caller.actor, notice_id, str(form.get("subject", "")),
                                                str(form.get("body", "")))
    return done(request, f"/takedown/notices/{notice_id}", data)


@router.post("/takedown/notices/{notice_id}/send", include_in_schema=False)
@router.post("/api/takedown/notices/{notice_id}/send", tags=["takedown"],
             summary="Send (or re-send) the notice through the configured SMTP server")
async def send_notice(request: Request, notice_id: int, caller: Caller = Depends(auth.manage)):
    core = request.app.state.core
    try:
        data = await run_in_threadpool(core.takedown.send_one, caller.actor, notice_id)
    except JikimiError as e:
        if is_api(request) or isinstance(e, (NotAllowed, WorkspaceError)):
            raise  # refusals answer as everywhere; a mail problem is shown on the notice's page
        return _notice_page(request, caller, notice_id, problem=str(e), status=400)
    return done(request, f"/takedown/notices/{notice_id}", data)


@router.post("/takedown/notices/{notice_id}/mark", include_in_schema=False)
@router.post("/api/takedown/notices/{notice_id}/mark", tags=["takedown"],
             summary="Record what happened (`status`: sent, acknowledged, removed, refused; `note`)")
async def mark_notice(request: Request, notice_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.takedown.mark(caller.actor, notice_id, str(form.get("status", "")),
                                                _text(form, "note"))
    return done(request, f"/takedown/notices/{notice_id}", data)


@router.get("/takedown/smtp", include_in_schema=False)
@router.get("/api/takedown/smtp", tags=["takedown"], summary="The mail server notices are sent through (no password)")
def smtp_settings(request: Request, caller: Caller = Depends(auth.admin)):
    return _answer(request, "takedown_smtp.html", {"smtp": request.app.state.core.takedown.smtp(caller.actor),
                                                   "securities": SECURITY})


@router.post("/takedown/smtp", include_in_schema=False)
@router.post("/api/takedown/smtp", tags=["takedown"],
             summary="Set the mail server (`host`, `port`, `security`, `username`, `password`, `sender`)")
async def set_smtp(request: Request, caller: Caller = Depends(auth.admin)):
    form = await forms.body(request)
    data = request.app.state.core.takedown.set_smtp(
        caller.actor, str(form.get("host", "")), form.get("port"), str(form.get("security", "starttls")),
        _text(form, "username"), str(form.get("sender", "")), str(form.get("password") or "") or None,
        forms.flag(form.get("clear_password")))
    return done(request, "/takedown/smtp", data)

