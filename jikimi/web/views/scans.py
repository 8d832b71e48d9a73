"""Scans: start one on an uploaded ZIP or an allowed server path, watch it, see what it found."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from jikimi.errors import JikimiError
from jikimi.scan import ScanOptions
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()


def with_progress(request: Request, scans: list[dict]) -> list[dict]:
    """Scan summaries with the live progress of those this server is running."""
    runner = request.app.state.scans
    return [{**s, "progress": runner.progress(s["id"])} for s in scans]


@router.get("/scans", include_in_schema=False)
@router.get("/api/scans", tags=["scans"], summary="List the scans of my cases, newest first")
def list_scans(request: Request, case: int | None = None, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    data = {"scans": with_progress(request, core.scans.list(actor)), "selected_case": case,
            "cases": [{"id": c["id"], "title": c["title"]} for c in core.cases.list(actor)],
            "paths": [{"id": p["id"], "path": p["path"]} for p in core.accounts.allowed_paths(actor)]
            if caller.can("manage") else []}
    return respond(request, "scans.html", data)


@router.post("/scans", include_in_schema=False)
@router.post("/api/scans", tags=["scans"], status_code=201,
             summary="Start a scan of an uploaded ZIP / Telegram export (`file`) or an allowed path (`path_id`)")
async def start(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    files = await forms.uploads(request, "file")
    core, actor = request.app.state.core, caller.actor
    case_id = forms.number(form.get("case_id"), "the case")
    path_id = forms.number(form.get("path_id"), "the server path")
    options = core.scans.options(actor, ScanOptions(case_id=case_id))  # checked before any upload is kept
    source = core.accounts.allowed_path(actor, path_id) if path_id is not None else None
    if (source is None) == (not files):
        raise JikimiError("upload one ZIP file or choose one allowed server path")
    if files:
        if len(files) > 1:
            raise JikimiError("upload one ZIP file at a time")
        # Kept with the workspace: the scan reads it, and a resume after a restart reads it again.
        source = (await forms.save(files, forms.upload_dir(core.ws.home), "source"))[0]
    scan_id = await run_in_threadpool(request.app.state.scans.start, actor, source, options)
    return done(request, f"/scans/{scan_id}", {"id": scan_id}, 201)


@router.get("/scans/{scan_id}", include_in_schema=False)
@router.get("/api/scans/{scan_id}", tags=["scans"], summary="A scan: status, live progress, matched items")
def show_scan(request: Request, scan_id: int, caller: Caller = Depends(auth.read)):
    data = request.app.state.core.scans.get(caller.actor, scan_id)
    data["scan"] = with_progress(request, [data["scan"]])[0]
    data["running"] = data["scan"]["status"] == "running"
    return respond(request, "scan.html", data)
