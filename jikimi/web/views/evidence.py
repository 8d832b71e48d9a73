"""Evidence in the browser: build a case's signed package in a worker, download it, read its
PDF report, and verify any package against this workspace's key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from jikimi.errors import JikimiError
from jikimi.web import auth, forms, uploads
from jikimi.web.auth import Caller
from jikimi.web.render import done, is_api, respond

router = APIRouter()
MAX_PACKAGE_BYTES = 4 * 1024**3  # a package holds the originals: videos make it large


@router.post("/cases/{case_id}/evidence", include_in_schema=False)
@router.post("/api/cases/{case_id}/evidence", tags=["evidence"], status_code=202,
             summary="Build the case's signed evidence package in a worker (`items`: ids, default every "
                     "confirmed item; `lang`: ko or en)")
async def build(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    if isinstance(form.get("items"), list):
        items = [forms.number(i, "an item") for i in form["items"]]
    else:  # a form: one checkbox per item, named item-ID
        items = [forms.number(k.removeprefix("item-"), "an item") for k in form if k.startswith("item-")]
    lang = str(form.get("lang") or "ko")
    job = request.app.state.core.jobs.evidence(caller.actor, case_id, items or None, lang)
    return done(request, f"/jobs/{job['id']}", job, 202)


@router.get("/cases/{case_id}/evidence", include_in_schema=False)
@router.get("/api/cases/{case_id}/evidence", tags=["evidence"],
            summary="The case's evidence packages and the items one can be built from")
def packages(request: Request, case_id: int, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    data = {**core.jobs.evidence_choices(actor, case_id), "jobs": core.jobs.list(actor, case_id, "evidence")}
    return respond(request, "evidence.html", data)


@router.get("/jobs/{job_id}", include_in_schema=False)
@router.get("/api/jobs/{job_id}", tags=["evidence"], summary="A background job: status, phase, done/total, ETA")
def show_job(request: Request, job_id: int, caller: Caller = Depends(auth.read)):
    job = request.app.state.core.jobs.get(caller.actor, job_id)
    if is_api(request):
        return JSONResponse(job)  # the job itself: what the pages poll every second
    return respond(request, "job.html", {"job": job, "running": job["status"] in ("queued", "running")})


@router.post("/jobs/{job_id}/cancel", include_in_schema=False)
@router.post("/api/jobs/{job_id}/cancel", tags=["evidence"], summary="Cancel a queued or running job")
async def cancel_job(request: Request, job_id: int, caller: Caller = Depends(auth.manage)):
    job = request.app.state.core.jobs.cancel(caller.actor, job_id)
    return done(request, f"/jobs/{job_id}", job)


@router.get("/jobs/{job_id}/package", include_in_schema=False)
@router.get("/api/jobs/{job_id}/package", tags=["evidence"],
            summary="Download the built evidence package (logged in the custody log)")
def download(request: Request, job_id: int, caller: Caller = Depends(auth.manage)):
    path = request.app.state.core.jobs.package(caller.actor, job_id)
    return FileResponse(path, media_type="application/zip", filename=path.name)


@router.get("/jobs/{job_id}/report.pdf", include_in_schema=False)
@router.get("/api/jobs/{job_id}/report.pdf", tags=["evidence"],
            summary="The package's PDF report, to read in the browser (logged)")
def report_pdf(request: Request, job_id: int, caller: Caller = Depends(auth.manage)):
    data = request.app.state.core.jobs.report_pdf(caller.actor, job_id)
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="report-job{job_id}.pdf"'})


@router.get("/evidence/verify", include_in_schema=False)
@router.get("/api/evidence/verify", tags=["evidence"], summary="The form to verify an evidence package")
def verify_form(request: Request, caller: Caller = Depends(auth.read)):
    return respond(request, "verify.html", {"result": None, "filename": None,
                                            "max_upload_bytes": request.app.state.max_package_bytes})


@router.post("/evidence/verify", include_in_schema=False)
@router.post("/api/evidence/verify", tags=["evidence"],
             summary="Verify an uploaded evidence package (`file`, multipart): intact or not and why, its key")
async def verify(request: Request, caller: Caller = Depends(auth.read_upload)):
    core = request.app.state.core
    if not auth.is_multipart(request):
        raise JikimiError("upload the evidence package ZIP as a file")
    upload = await uploads.receive(request, "file", core.ws.home / "incoming", request.app.state.max_package_bytes)
    try:
        if upload.path is None:
            raise JikimiError("upload the evidence package ZIP as a file")
        result = await run_in_threadpool(core.jobs.verify, caller.actor, upload.path)
    finally:
        upload.discard()  # nothing of a checked package is kept
    return respond(request, "verify.html", {"result": result, "filename": upload.filename,
                                            "max_upload_bytes": request.app.state.max_package_bytes})
