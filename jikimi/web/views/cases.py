"""Cases and the subjects they protect: create, list, detail, enrol with consent, remove."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jikimi import cases as case_api
from jikimi.audit import AuditLog
from jikimi.errors import JikimiError
from jikimi.store.models import Decision, Scan, Subject
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond
from jikimi.web.views.common import audit_row, decision_row, scan_row

router = APIRouter()
# What a subject can consent to; the form shows each as a checkbox and records the chosen ones.
CONSENT_SCOPES = ("face_matching", "known_image_hashes", "keep_photos", "keep_reference_crops", "takedown_requests")


def case_rows(session: Session) -> list[dict]:
    subjects = dict(session.execute(select(Subject.case_id, func.count()).where(Subject.removed_at.is_(None))
                                    .group_by(Subject.case_id)).all())
    scans = dict(session.execute(select(Scan.case_id, func.count()).group_by(Scan.case_id)).all())
    return [{"id": c.id, "title": c.title, "created_by": c.created_by, "created_at": c.created_at,
             "subjects": subjects.get(c.id, 0), "scans": scans.get(c.id, 0)}
            for c in case_api.list_cases(session)]


def subject_row(subject: Subject) -> dict:
    return {"id": subject.id, "name": subject.name, "consent": subject.consent, "created_at": subject.created_at,
            "removed_at": subject.removed_at, "templates": len(subject.templates)}


@router.get("/cases", include_in_schema=False)
@router.get("/api/cases", tags=["cases"], summary="List cases")
def list_cases(request: Request, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        return respond(request, "cases.html", {"cases": case_rows(session)})


@router.post("/cases", include_in_schema=False)
@router.post("/api/cases", tags=["cases"], summary="Create a case", status_code=201)
async def create_case(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    ws = request.app.state.ws
    with ws.session() as session:
        case = case_api.create_case(ws, session, str(form.get("title", "")), caller.name)
        data = {"id": case.id, "title": case.title}
    return done(request, f"/cases/{data['id']}", data, 201)


@router.get("/cases/{case_id}", include_in_schema=False)
@router.get("/api/cases/{case_id}", tags=["cases"], summary="A case: subjects, scans, decisions, custody log")
def show_case(request: Request, case_id: int, caller: Caller = Depends(auth.read)):
    ws = request.app.state.ws
    with ws.session() as session:
        case = case_api.get_case(session, case_id)
        scans = session.scalars(select(Scan).where(Scan.case_id == case_id).order_by(Scan.id.desc()))
        decisions = session.scalars(select(Decision).where(Decision.case_id == case_id)
                                    .order_by(Decision.id.desc()).limit(50))
        audit = AuditLog(session, ws.home).entries(case_id=case_id)
        data = {"case": {"id": case.id, "title": case.title, "created_by": case.created_by,
                         "created_at": case.created_at},
                "subjects": [subject_row(s) for s in case.subjects],
                "scans": [scan_row(session, s, request.app.state.scans) for s in scans],
                "decisions": [decision_row(d) for d in decisions],
                "audit": [audit_row(e) for e in list(audit)[-50:][::-1]],
                "consent_scopes": CONSENT_SCOPES, "today": date.today().isoformat()}
    return respond(request, "case.html", data)


@router.post("/cases/{case_id}/subjects", include_in_schema=False)
@router.post("/api/cases/{case_id}/subjects", tags=["cases"], status_code=201,
             summary="Enrol a subject: reference photos, consent, known images (multipart)")
async def enrol_subject(request: Request, case_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    photos, known = await forms.uploads(request, "photos"), await forms.uploads(request, "known")
    scopes = [s for s in CONSENT_SCOPES if forms.flag(form.get(f"scope_{s}"))]
    consented_by = str(form.get("consented_by", "")).strip()
    if not consented_by:
        raise JikimiError("record who gave consent")
    if "face_matching" not in scopes:
        raise JikimiError("enrolling a face needs consent to face matching")
    if known and "known_image_hashes" not in scopes:
        raise JikimiError("hashing known images needs consent to it")
    consent = case_api.Consent(consented_by=consented_by, scope=", ".join(scopes),
                               consented_at=str(form.get("consented_at") or date.today().isoformat()),
                               recorded_by=caller.name)
    ws = request.app.state.ws
    folder = forms.upload_dir(ws.home)
    try:
        photo_paths = await forms.save(photos, folder, "photo")
        known_paths = await forms.save(known, folder, "known")

        def enrol() -> dict:
            with ws.session() as session:
                case = case_api.get_case(session, case_id)
                subject = case_api.enrol_subject(ws, session, case, str(form.get("name", "")).strip() or consented_by,
                                                 consent, photo_paths, keep_photos="keep_photos" in scopes,
                                                 known=known_paths,
                                                 keep_reference_crops="keep_reference_crops" in scopes)
                return subject_row(subject)

        data = await run_in_threadpool(enrol)
    finally:
        forms.discard(folder)  # reference photos are not kept unless she opted in (then encrypted)
    return done(request, f"/cases/{case_id}", data, 201)


@router.post("/subjects/{subject_id}/remove", include_in_schema=False)
@router.post("/api/subjects/{subject_id}/remove", tags=["cases"],
             summary="Remove a subject: delete her face templates and photos")
async def remove_subject(request: Request, subject_id: int, caller: Caller = Depends(auth.manage)):
    ws = request.app.state.ws
    with ws.session() as session:
        subject = case_api.remove_subject(ws, session, subject_id, caller.name)
        data = subject_row(subject)
        case_id = subject.case_id
    return done(request, f"/cases/{case_id}", data)
