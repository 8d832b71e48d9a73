"""Scans: start one on an uploaded ZIP or a folder inside an allowed server path, watch it,
resume or cancel it, see what it found. The scan itself runs in `jikimi worker` (`jk.jobs`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from jikimi.errors import JikimiError
from jikimi.scan import ScanOptions
from jikimi.web import auth, forms, uploads
from jikimi.web.auth import Caller
from jikimi.web.render import done, language, respond

router = APIRouter()
MAX_SOURCE_BYTES = 2 * 1024**3  # a large Telegram export ZIP; `create_app(max_upload_bytes=...)` changes it


def with_progress(request: Request, scans: list[dict]) -> list[dict]:
    """Scan summaries with the job (phase, done/total, ETA) of those started from the web."""
    core, actor = request.app.state.core, request.state.caller.actor
    jobs = core.jobs.of_scans(actor, [s["id"] for s in scans])
    return [{**s, "status": _status(s, jobs.get(s["id"])), "progress": jobs.get(s["id"]),
             "name": _name(s, jobs.get(s["id"]))} for s in scans]


def _status(scan: dict, job: dict | None) -> str:
    """A resumed scan waits in the queue, or runs, before its own row says so: its job tells."""
    return job["status"] if job and job["status"] in ("queued", "running") else scan["status"]


def _name(scan: dict, job: dict | None) -> str:
    """What the source is called: the uploaded file's or the folder's name, not just "zip"."""
    return (job or {}).get("name") or Path(scan["source"]).name


@router.get("/scans", include_in_schema=False)
@router.get("/api/scans", tags=["scans"], summary="List the scans of my cases, newest first")
def list_scans(request: Request, case: int | None = None, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    data = {"scans": with_progress(request, core.scans.list(actor)), "selected_case": case,
            "cases": [{"id": c["id"], "title": c["title"]} for c in core.cases.list(actor)],
            "paths": [{"id": p["id"], "path": p["path"]} for p in core.accounts.allowed_paths(actor)]
            if caller.can("manage") else [], "max_upload_bytes": request.app.state.max_upload_bytes}
    return respond(request, "scans.html", data)


@router.post("/scans", include_in_schema=False)
@router.post("/api/scans", tags=["scans"], status_code=201,
             summary="Queue a scan of an uploaded ZIP / Telegram export (`file`, multipart) or of a folder "
                     "inside an allowed path (`path_id`, optional `folder`); a worker runs it")
async def start(request: Request, caller: Caller = Depends(auth.manage_upload)):
    core, actor = request.app.state.core, caller.actor
    upload = None
    if auth.is_multipart(request):
        upload = await uploads.receive(request, "file", core.ws.uploads, request.app.state.max_upload_bytes)
        form = upload.fields
    else:
        form = await forms.body(request)
    try:
        case_id = forms.number(form.get("case_id"), "the case")
        path_id = forms.number(form.get("path_id"), "the server path")
        options = core.scans.options(actor, ScanOptions(case_id=case_id))
        if (path_id is None) == (upload is None or upload.path is None):
            raise JikimiError("upload one ZIP file or choose one allowed server path")
        if path_id is not None:
            source = core.jobs.source_folder(actor, path_id, str(form.get("folder") or ""))
            name = source.name
        else:
            source, name = upload.path, upload.filename
        job = core.jobs.scan(actor, source, options, name)
    except BaseException:
        if upload is not None:
            upload.discard()  # a refused scan keeps nothing of what was sent
        raise
    return done(request, f"/scans/{job['scan_id']}", {"id": job["scan_id"], "job": job}, 201)


@router.get("/scans/{scan_id}", include_in_schema=False)
@router.get("/api/scans/{scan_id}", tags=["scans"],
            summary="A scan: status, progress (phase, done/total, ETA), matched items")
def show_scan(request: Request, scan_id: int, caller: Caller = Depends(auth.read)):
    data = request.app.state.core.scans.get(caller.actor, scan_id)
    data["scan"] = with_progress(request, [data["scan"]])[0]
    data["running"] = data["scan"]["status"] in ("queued", "running")
    return respond(request, "scan.html", data)


@router.get("/scans/{scan_id}/report.html", include_in_schema=False)
def html_report(request: Request, scan_id: int, caller: Caller = Depends(auth.read)):
    """The scan's self-contained HTML report in the reader's language, as a download."""
    text = request.app.state.core.scans.report(caller.actor, scan_id, "html", language(request))
    return HTMLResponse(text, headers={"Cache-Control": "no-store",
                                       "Content-Disposition": f'attachment; filename="scan-{scan_id}-report.html"'})


@router.post("/scans/{scan_id}/resume", include_in_schema=False)
@router.post("/api/scans/{scan_id}/resume", tags=["scans"], status_code=202,
             summary="Resume an interrupted or cancelled scan (a worker goes on where it stopped)")
async def resume(request: Request, scan_id: int, caller: Caller = Depends(auth.manage)):
    job = request.app.state.core.jobs.resume(caller.actor, scan_id)
    return done(request, f"/scans/{scan_id}", job, 202)


@router.post("/scans/{scan_id}/cancel", include_in_schema=False)
@router.post("/api/scans/{scan_id}/cancel", tags=["scans"],
             summary="Cancel a queued or running scan (it can be resumed later)")
async def cancel(request: Request, scan_id: int, caller: Caller = Depends(auth.manage)):
    return done(request, f"/scans/{scan_id}", request.app.state.core.jobs.cancel_scan(caller.actor, scan_id))


@router.get("/scans/folders/{path_id}", include_in_schema=False)
@router.get("/api/scans/folders/{path_id}", tags=["scans"],
            summary="Folders inside an allowed server path (`folder`: a path relative to it), to choose one to scan")
def folders(request: Request, path_id: int, folder: str = "", case: int | None = None,
            caller: Caller = Depends(auth.manage)):
    data = request.app.state.core.jobs.source_folders(caller.actor, path_id, folder)
    data["parent"] = folder.strip("/").rpartition("/")[0] if folder.strip("/") else None
    data["selected_case"] = case
    data["cases"] = [{"id": c["id"], "title": c["title"]} for c in request.app.state.core.cases.list(caller.actor)]
    return respond(request, "folders.html", data)
