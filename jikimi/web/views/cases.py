"""Cases, their members and the subjects they protect: pages and JSON twins over the core."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from jikimi.errors import JikimiError
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond
from jikimi.web.views.scans import with_progress

router = APIRouter()
# What a subject can consent to; the form shows each as a checkbox and records the chosen ones.
CONSENT_SCOPES = ("face_matching", "known_image_hashes", "keep_photos", "keep_reference_crops", "takedown_requests")


def case_rows(cases: list[dict]) -> list[dict]:
    """The case list with counts, as the dashboard and the cases page show it."""
    return [{**c, "subjects": sum(1 for s in c["subjects"] if not s["removed_at"])} for c in cases]


@router.get("/cases", include_in_schema=False)
@router.get("/api/cases", tags=["cases"], summary="List the cases I am a member of")
def list_cases(request: Request, caller: Caller = Depends(auth.read)):
    return respond(request, "cases.html", {"cases": case_rows(request.app.state.core.cases.list(caller.actor))})


@router.post("/cases", include_in_schema=False)
@router.post("/api/cases", tags=["cases"], summary="Create a case (I become its caseworker)", status_code=201)
async def create_case(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.cases.create(caller.actor, str(form.get("title", "")))
    return done(request, f"/cases/{data['id']}", data, 201)


@router.get("/cases/{case_id}", include_in_schema=False)
@router.get("/api/cases/{case_id}", tags=["cases"], summary="A case: subjects, members, scans, decisions, custody log")
def show_case(request: Request, case_id: int, caller: Caller = Depends(auth.read)):
    case = request.app.state.core.cases.get(caller.actor, case_id)
    data = {**case, "scans": with_progress(request, case["scans"]),
            "consent_scopes": CONSENT_SCOPES, "case_roles": ("caseworker", "reviewer", "viewer"),
            "today": date.today().isoformat()}
    return respond(request, "case.html", data)


@router.post("/cases/{case_id}/members", include_in_schema=False)
@router.post("/api/cases/{case_id}/members", tags=["cases"], status_code=201,
             summary="Add a member (`user`, `role`: caseworker | reviewer | viewer)")
async def add_member(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.cases.add_member(caller.actor, case_id, str(form.get("user", "")),
                                                   str(form.get("role") or "caseworker"))
    return done(request, f"/cases/{case_id}", data, 201)


@router.post("/cases/{case_id}/members/remove", include_in_schema=False)
@router.post("/api/cases/{case_id}/members/remove", tags=["cases"], summary="Remove a member (`user`)")
async def remove_member(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.cases.remove_member(caller.actor, case_id, str(form.get("user", "")))
    return done(request, f"/cases/{case_id}", data)


@router.post("/cases/{case_id}/subjects", include_in_schema=False)
@router.post("/api/cases/{case_id}/subjects", tags=["cases"], status_code=201,
             summary="Enrol a subject: reference photos, consent, known images (multipart)")
async def enrol_subject(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    core, actor = request.app.state.core, caller.actor
    core.cases.check(actor, case_id, "manage")  # an unknown or invisible case answers first
    form = await forms.body(request)
    photos, known = await forms.uploads(request, "photos"), await forms.uploads(request, "known")
    scopes = [s for s in CONSENT_SCOPES if forms.flag(form.get(f"scope_{s}"))]
    consented_by = str(form.get("consented_by", "")).strip()
    if not consented_by:
        raise JikimiError.coded("enrol.no_consenter")
    if "face_matching" not in scopes:
        raise JikimiError.coded("enrol.no_face_consent")
    if known and "known_image_hashes" not in scopes:
        raise JikimiError.coded("enrol.no_hash_consent")
    folder = forms.upload_dir(core.ws.home)
    try:
        photo_paths = await forms.save(photos, folder, "photo")
        known_paths = await forms.save(known, folder, "known")
        data = await run_in_threadpool(
            core.subjects.enrol, actor, case_id, str(form.get("name", "")).strip() or consented_by, photo_paths,
            scope=", ".join(scopes), consented_by=consented_by,
            consented_at=str(form.get("consented_at") or date.today().isoformat()),
            cross_case=not forms.flag(form.get("no_cross_case")), keep_photos="keep_photos" in scopes,
            keep_reference_crops="keep_reference_crops" in scopes, known=known_paths)
    finally:
        forms.discard(folder)  # reference photos are not kept unless she opted in (then encrypted)
    return done(request, f"/cases/{case_id}", data, 201)


@router.post("/subjects/{subject_id}/remove", include_in_schema=False)
@router.post("/api/subjects/{subject_id}/remove", tags=["cases"],
             summary="Remove a subject: delete her face templates and photos")
async def remove_subject(request: Request, subject_id: int, caller: Caller = Depends(auth.manage)):
    data = request.app.state.core.subjects.remove(caller.actor, subject_id)
    return done(request, f"/cases/{data['case_id']}", data)
