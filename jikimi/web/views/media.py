"""Pictures of evidence, only ever to a logged-in user with the right role, never cached.

Thumbnails are the blurred ones the scan made. Face crops show the matched face alone.
Originals need a reveal grant (see review.py), so every look at one is in the custody log.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.models import Content, Item
from jikimi.web import auth
from jikimi.web.auth import Caller, Forbidden

router = APIRouter()
# Originals are served inline only as the image and video types browsers decode safely.
INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "video/mp4", "video/webm",
                "video/quicktime", "video/ogg"}


@router.get("/media/thumbs/{item_id}", include_in_schema=False)
def thumbnail(request: Request, item_id: int, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        item = session.get(Item, item_id)
        content = session.get(Content, item.sha256) if item and item.sha256 else None
        if content is None or content.thumbnail is None:
            raise WorkspaceError(f"item {item_id} has no thumbnail")
        return Response(content.thumbnail, media_type="image/jpeg")


@router.get("/media/faces/{face_id}", include_in_schema=False)
async def face(request: Request, face_id: int, caller: Caller = Depends(auth.review)):
    from jikimi.reports.crops import face_crop_jpeg

    ws = request.app.state.ws

    def crop() -> bytes:
        with ws.session() as session:
            return face_crop_jpeg(ws, session, face_id)

    try:
        return Response(await run_in_threadpool(crop), media_type="image/jpeg")
    except JikimiError as e:
        raise WorkspaceError(str(e)) from None


@router.get("/media/originals/{item_id}", include_in_schema=False)
def original(request: Request, item_id: int, grant: str = "", caller: Caller = Depends(auth.review)):
    if not request.app.state.reveals.allows(grant, caller.user.id, item_id):
        raise Forbidden("reveal this item first: every look at an original is logged")
    ws = request.app.state.ws
    with ws.session() as session:
        item = session.get(Item, item_id)
        content = session.get(Content, item.sha256) if item and item.sha256 else None
        if content is None:
            raise WorkspaceError(f"item {item_id} has no stored original")
        mime = content.mime_type if content.mime_type in INLINE_TYPES else "application/octet-stream"
        sha256 = content.sha256
    disposition = "inline" if mime != "application/octet-stream" else "attachment"
    return FileResponse(ws.vault.path_for(sha256), media_type=mime, content_disposition_type=disposition,
                        filename=f"item-{item_id}", headers={"Content-Security-Policy": "sandbox; default-src 'none'"})
