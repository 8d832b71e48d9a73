"""Pictures of evidence, only ever to a logged-in user who may see them, never cached.

Thumbnails are the blurred ones the scan made. Face crops show the matched face alone, only
to reviewers of the matched subject's case; so does her reference face, kept (encrypted)
only with her consent. Originals need a reveal grant (see review.py),
so every look at one is in the custody log.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from jikimi.web import auth
from jikimi.web.auth import Caller, Forbidden

router = APIRouter()
# Originals are served inline only as the image and video types browsers decode safely.
INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "video/mp4", "video/webm",
                "video/quicktime", "video/ogg"}


@router.get("/media/thumbs/{item_id}", include_in_schema=False)
def thumbnail(request: Request, item_id: int, caller: Caller = Depends(auth.read)):
    return Response(request.app.state.core.review.thumbnail(caller.actor, item_id), media_type="image/jpeg")


@router.get("/media/faces/{face_id}", include_in_schema=False)
async def face(request: Request, face_id: int, caller: Caller = Depends(auth.review)):
    crop = await run_in_threadpool(request.app.state.core.review.face_crop, caller.actor, face_id)
    return Response(crop, media_type="image/jpeg")


@router.get("/media/references/{subject_id}", include_in_schema=False)
async def reference(request: Request, subject_id: int, caller: Caller = Depends(auth.review)):
    """Her kept reference face, beside a matched face, to reviewers of her case."""
    crop = await run_in_threadpool(request.app.state.core.review.reference_face, caller.actor, subject_id)
    return Response(crop, media_type="image/jpeg")


@router.get("/media/originals/{item_id}", include_in_schema=False)
def original(request: Request, item_id: int, grant: str = "", caller: Caller = Depends(auth.review)):
    chunks, mime = request.app.state.core.review.original(caller.actor, item_id)
    if not request.app.state.reveals.allows(grant, caller.user.id, item_id):
        raise Forbidden.coded("refusal.reveal_first")
    mime = mime if mime in INLINE_TYPES else "application/octet-stream"
    disposition = "inline" if mime != "application/octet-stream" else "attachment"
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=mime, headers={
        "Content-Disposition": f'{disposition}; filename="item-{item_id}"',
        "Content-Security-Policy": "sandbox; default-src 'none'"})
