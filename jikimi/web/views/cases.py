"""Cases, their members and the subjects they protect: pages and JSON twins over the core."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from jikimi import messages

from jikimi.errors import JikimiError
from jikimi.web import auth, forms, listing
from jikimi.web.auth import Caller
from jikimi.web.render import done, is_api, language, respond
from jikimi.web.views.scans import with_progress

router = APIRouter()
# What a subject can consent to; the form shows each as a checkbox and records the chosen ones.
CONSENT_SCOPES = ("face_matching", "known_image_hashes", "keep_photos", "keep_reference_crops", "takedown_requests")


def case_rows(cases: list[dict]) -> list[dict]:
    """The case list with counts, as the dashboard and the cases page show it."""
    return [{**c, "subjects": sum(1 for s in c["subjects"] if not s["removed_at"])} for c in cases]


@router.get("/cases", include_in_schema=False)
@router.get("/api/cases", tags=["cases"], summary="The cases I am a member of, newest first: search (`q`); pages; "
            "?format=csv")
def list_cases(request: Request, caller: Caller = Depends(auth.read)):
    core, chosen = request.app.state.core, listing.filters(request, texts=("q",))
    if listing.wants_csv(request):
        return listing.csv_response(core.cases.export_csv(caller.actor, chosen), "cases")
    return respond(request, "cases.html", core.cases.search(caller.actor, chosen, listing.page(request)))


@router.post("/cases", include_in_schema=False)
@router.post("/api/cases", tags=["cases"], summary="Create a case (I become its caseworker)", status_code=201)
async def create_case(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    data = request.app.state.core.cases.create(caller.actor, str(form.get("title", "")))
    return done(request, f"/cases/{data['id']}", data, 201)


@router.get("/cases/{case_id}", include_in_schema=False)
@router.get("/api/cases/{case_id}", tags=["cases"], summary="A case: subjects, members, scans, decisions, custody log")
def show_case(request: Request, case_id: int, caller: Caller = Depends(auth.read)):
    return _case_page(request, caller, case_id)


def _case_page(request: Request, caller: Caller, case_id: int, status: int = 200, **extra):
    """The case page; after a refused enrolment, with the problem and what was typed (`extra`)."""
    case = request.app.state.core.cases.get(caller.actor, case_id)
    data = {**case, "scans": with_progress(request, case["scans"]),
            "consent_scopes": CONSENT_SCOPES, "case_roles": ("caseworker", "reviewer", "viewer"),
            "today": date.today().isoformat(), "enrol_form": {}, "enrol_problem": None, **extra}
    return respond(request, "case.html", data, status)


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
             summary="Enrol a subject: reference photos, consent, known images (multipart); "
                     "`face_N`: which face of photo N (from 0) to use, numbered from 1 left to right")
async def enrol_subject(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    core, actor = request.app.state.core, caller.actor
    core.cases.check(actor, case_id, "manage")  # an unknown or invisible case answers first
    form = await forms.body(request)
    try:
        data = await _enrol(request, core, actor, case_id, form)
    except JikimiError as problem:
        if is_api(request):
            raise
        # The page again, with the problem in the reader's language and everything typed kept.
        said = messages.render_message(problem.message, language(request)) if problem.message else str(problem)
        kept = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        return _case_page(request, caller, case_id, 400, enrol_form=kept, enrol_problem=said)
    return done(request, f"/subjects/{data['id']}?enrolled=1", data, 201)


async def _enrol(request: Request, core, actor, case_id: int, form: dict) -> dict:
    photos, known = await forms.uploads(request, "photos"), await forms.uploads(request, "known")
    scopes = [s for s in CONSENT_SCOPES if forms.flag(form.get(f"scope_{s}"))]
    consented_by = str(form.get("consented_by", "")).strip()
    if not consented_by:
        raise JikimiError.coded("enrol.no_consenter")
    if "face_matching" not in scopes:
        raise JikimiError.coded("enrol.no_face_consent")
    if known and "known_image_hashes" not in scopes:
        raise JikimiError.coded("enrol.no_hash_consent")
    faces = [forms.number(form.get(f"face_{n}"), "the face number") for n in range(len(photos))]
    folder = forms.upload_dir(core.ws.home)
    try:
        photo_paths = await forms.save(photos, folder, "photo")
        known_paths = await forms.save(known, folder, "known")
        return await run_in_threadpool(
            core.subjects.enrol, actor, case_id, str(form.get("name", "")).strip() or consented_by, photo_paths,
            scope=", ".join(scopes), consented_by=consented_by,
            consented_at=str(form.get("consented_at") or date.today().isoformat()),
            cross_case=not forms.flag(form.get("no_cross_case")), keep_photos="keep_photos" in scopes,
            keep_reference_crops="keep_reference_crops" in scopes, known=known_paths, faces=faces)
    finally:
        forms.discard(folder)  # reference photos are not kept unless she opted in (then encrypted)


@router.post("/api/cases/{case_id}/subjects/faces", tags=["cases"],
             summary="The faces found in one reference photo (`photo`, multipart), to choose one; nothing is kept")
async def photo_faces(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    core, actor = request.app.state.core, caller.actor
    core.cases.check(actor, case_id, "manage")
    photos = await forms.uploads(request, "photo")
    if not photos:
        raise JikimiError.coded("enrol.no_photo")
    folder = forms.upload_dir(core.ws.home)
    try:
        path = (await forms.save(photos[:1], folder, "photo"))[0]
        data = await run_in_threadpool(core.subjects.faces_in, actor, case_id, path)
    finally:
        forms.discard(folder)
    return JSONResponse(data)


@router.get("/subjects/{subject_id}", include_in_schema=False)
@router.get("/api/subjects/{subject_id}", tags=["cases"],
            summary="A subject: consent, kept reference faces, matches over time, takedown status of confirmed items")
def show_subject(request: Request, subject_id: int, caller: Caller = Depends(auth.read)):
    return _subject_page(request, caller, subject_id)


def _subject_page(request: Request, caller: Caller, subject_id: int, status: int = 200, **extra):
    return respond(request, "subject.html", {**subject_page_data(request, caller, subject_id), **extra}, status)


def subject_page_data(request: Request, caller: Caller, subject_id: int) -> dict:
    core = request.app.state.core
    data = core.subjects.get(caller.actor, subject_id)
    removed = data["subject"]["removed_at"] is not None
    return {**data, "enrolled": request.query_params.get("enrolled") == "1", "remove_problem": None,
            "sources": [] if removed else core.subject_sources.list(caller.actor, subject_id),
            "sources_added": forms.number(request.query_params.get("sources_added"), "sources_added"),
            "source_removed": request.query_params.get("source_removed") == "1", "sources_problem": None}


@router.get("/media/subjects/{subject_id}/reference", include_in_schema=False)
def reference_face(request: Request, subject_id: int, caller: Caller = Depends(auth.review)):
    return Response(request.app.state.core.subjects.reference_crop(caller.actor, subject_id), media_type="image/jpeg")


@router.post("/subjects/{subject_id}/remove", include_in_schema=False)
@router.post("/api/subjects/{subject_id}/remove", tags=["cases"],
             summary="Remove a subject: delete her face templates, kept photos and reference faces "
                     "(`confirm`: her name, as typed on the page)")
async def remove_subject(request: Request, subject_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    # The page asks for her name typed out; scripts may send it too.
    confirm = str(form.get("confirm", "")) if not is_api(request) or "confirm" in form else None
    try:
        data = request.app.state.core.subjects.remove(caller.actor, subject_id, confirm=confirm)
    except JikimiError as problem:
        if is_api(request) or problem.message is None or problem.message["code"] != "subject.confirm_label":
            raise
        said = messages.render_message(problem.message, language(request))
        return _subject_page(request, caller, subject_id, 400, remove_problem=said)
    return done(request, f"/subjects/{subject_id}?removed=1", data)
