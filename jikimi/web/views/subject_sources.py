"""Source photos of a subject on her page: register (upload), list, remove; JSON twins."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from jikimi import messages
from jikimi.core import NotAllowed, NotFound
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, is_api, language, respond
from jikimi.web.views.cases import subject_page_data

router = APIRouter()


@router.get("/api/subjects/{subject_id}/sources", tags=["cases"],
            summary="Her registered source photos (labels only: the photos are not kept)")
def list_sources(request: Request, subject_id: int, caller: Caller = Depends(auth.read)):
    return {"sources": request.app.state.core.subject_sources.list(caller.actor, subject_id)}


@router.post("/subjects/{subject_id}/sources", include_in_schema=False)
@router.post("/api/subjects/{subject_id}/sources", tags=["cases"], status_code=201,
             summary="Register source photos she fears were used to make fakes (multipart `photos`, optional "
                     "`label`): only their features are kept, encrypted")
async def add_sources(request: Request, subject_id: int, caller: Caller = Depends(auth.manage)):
    core, actor = request.app.state.core, caller.actor
    form = await forms.body(request)
    photos = await forms.uploads(request, "photos")
    label = str(form.get("label", "")).strip()
    labels = [label if label and len(photos) == 1 else f"{label} ({n})" if label else upload.filename
              for n, upload in enumerate(photos, 1)]
    folder = forms.upload_dir(core.ws.home)
    try:
        paths = await forms.save(photos, folder, "source")
        data = await run_in_threadpool(core.subject_sources.add, actor, subject_id, paths, labels)
    except (NotAllowed, NotFound, WorkspaceError):
        raise  # answered as for every refusal: 403 or 404
    except JikimiError as problem:
        if is_api(request):
            raise
        said = messages.render_message(problem.message, language(request)) if problem.message else str(problem)
        extra = subject_page_data(request, caller, subject_id)
        return respond(request, "subject.html", {**extra, "sources_problem": said}, 400)
    finally:
        forms.discard(folder)  # the photos themselves are never kept
    return done(request, f"/subjects/{subject_id}?sources_added={len(data)}#sources", {"sources": data}, 201)


@router.post("/subjects/{subject_id}/sources/{source_id}/remove", include_in_schema=False)
@router.post("/api/subjects/{subject_id}/sources/{source_id}/remove", tags=["cases"],
             summary="Delete a source photo's features: scans stop looking for copies of it")
async def remove_source(request: Request, subject_id: int, source_id: int, caller: Caller = Depends(auth.manage)):
    data = request.app.state.core.subject_sources.remove(caller.actor, subject_id, source_id)
    return done(request, f"/subjects/{subject_id}?source_removed=1#sources", data)
