"""Scans: start one on an uploaded ZIP or an allowed server path, watch it, see what it found."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jikimi.cases import get_case, list_cases
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.models import Content, Item, Match, Scan
from jikimi.store.web_models import AllowedPath
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond
from jikimi.web.views.common import scan_row

router = APIRouter()
RESULT_ROWS = 200


def scan_rows(session: Session, runner, limit: int | None = None) -> list[dict]:
    scans = session.scalars(select(Scan).order_by(Scan.id.desc()).limit(limit))
    return [scan_row(session, s, runner) for s in scans]


@router.get("/scans", include_in_schema=False)
@router.get("/api/scans", tags=["scans"], summary="List scans, newest first")
def list_scans(request: Request, case: int | None = None, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        data = {"scans": scan_rows(session, request.app.state.scans), "selected_case": case,
                "cases": [{"id": c.id, "title": c.title} for c in list_cases(session)],
                "paths": [{"id": p.id, "path": p.path} for p in session.scalars(select(AllowedPath)
                                                                                 .order_by(AllowedPath.path))]}
    return respond(request, "scans.html", data)


@router.post("/scans", include_in_schema=False)
@router.post("/api/scans", tags=["scans"], status_code=201,
             summary="Start a scan of an uploaded ZIP / Telegram export (`file`) or an allowed path (`path_id`)")
async def start(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    files = await forms.uploads(request, "file")
    ws, runner = request.app.state.ws, request.app.state.scans
    case_id = forms.number(form.get("case_id"), "the case")
    path_id = forms.number(form.get("path_id"), "the server path")
    with ws.session() as session:
        if case_id is not None:
            get_case(session, case_id)
        allowed = session.get(AllowedPath, path_id) if path_id is not None else None
        if path_id is not None and allowed is None:
            raise WorkspaceError("that server path is not allowed for scanning: ask an admin")
        source = Path(allowed.path) if allowed else None
    if (source is None) == (not files):
        raise JikimiError("upload one ZIP file or choose one allowed server path")
    if files:
        if len(files) > 1:
            raise JikimiError("upload one ZIP file at a time")
        # Kept with the workspace: the scan reads it, and a resume after a restart reads it again.
        source = (await forms.save(files, forms.upload_dir(ws.home), "source"))[0]
    scan_id = await run_in_threadpool(runner.start, source, case_id, caller.name)
    return done(request, f"/scans/{scan_id}", {"id": scan_id}, 201)


@router.get("/scans/{scan_id}", include_in_schema=False)
@router.get("/api/scans/{scan_id}", tags=["scans"], summary="A scan: status, live progress, matched items")
def show_scan(request: Request, scan_id: int, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise WorkspaceError(f"no scan with id {scan_id}")
        summary = scan_row(session, scan, request.app.state.scans)
        matched = session.execute(
            select(Item.id, Item.priority, Item.reason, func.count(Match.id), Content.kind)
            .join(Match, Match.item_id == Item.id).outerjoin(Content, Content.sha256 == Item.sha256)
            .where(Item.scan_id == scan_id).group_by(Item.id)
            .order_by(Item.priority.desc(), Item.id).limit(RESULT_ROWS)).all()
        errors = session.execute(
            select(Item.id, func.coalesce(Item.error, Content.error)).outerjoin(Content, Content.sha256 == Item.sha256)
            .where(Item.scan_id == scan_id, (Item.error.is_not(None)) | (Content.error.is_not(None)))
            .order_by(Item.first_ordinal).limit(RESULT_ROWS)).all()
        data = {"scan": summary,
                "matched": [{"item_id": i, "priority": p, "reason": r, "matches": n, "kind": k}
                            for i, p, r, n, k in matched],
                "errors": [{"item_id": i, "error": e} for i, e in errors],
                "running": summary["status"] == "running"}
    return respond(request, "scan.html", data)
