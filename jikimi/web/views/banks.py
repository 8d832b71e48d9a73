"""Hash banks: list, create, hash files in, import and export hash lists, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from jikimi.errors import JikimiError
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()
MAX_LIST_BYTES = 50 * 1024 * 1024
FORMATS = ("tx", "csv")


@router.get("/banks", include_in_schema=False)
@router.get("/api/banks", tags=["banks"], summary="List workspace banks and my cases' banks, with their sizes")
def list_banks(request: Request, caller: Caller = Depends(auth.read)):
    core, actor = request.app.state.core, caller.actor
    return respond(request, "banks.html", {"banks": core.banks.list(actor), "formats": FORMATS,
                                           "cases": [{"id": c["id"], "title": c["title"]} for c in core.cases.list(actor)],
                                           "default_threshold": PDQ_DEFAULT_THRESHOLD})


@router.post("/banks", include_in_schema=False)
@router.post("/api/banks", tags=["banks"], status_code=201,
             summary="Create a bank: of a case (`case_id`), or workspace-wide or allow (admins)")
async def create_bank(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    threshold = forms.number(form.get("pdq_threshold"), "the PDQ threshold")
    data = request.app.state.core.banks.create(
        caller.actor, str(form.get("name", "")), PDQ_DEFAULT_THRESHOLD if threshold is None else threshold,
        forms.flag(form.get("allow")), forms.number(form.get("case_id"), "the case"))
    return done(request, "/banks", data, 201)


@router.post("/banks/{bank_id}/files", include_in_schema=False)
@router.post("/api/banks/{bank_id}/files", tags=["banks"], summary="Hash uploaded files into a bank (multipart `files`)")
async def add_files(request: Request, bank_id: int, caller: Caller = Depends(auth.manage)):
    files = await forms.uploads(request, "files")
    core = request.app.state.core
    folder = forms.upload_dir(core.ws.home)
    try:
        paths = await forms.save(files, folder)
        names = {path: upload.filename for path, upload in zip(paths, files)}
        result = await run_in_threadpool(core.banks.add_files, caller.actor, bank_id, paths, shown_names=names)
        data = {"added": result["added"], "warnings": [w.replace(str(folder) + "/", "") for w in result["warnings"]]}
    finally:
        forms.discard(folder)  # a bank keeps hashes, never the files
    return done(request, "/banks", data)


@router.post("/banks/{bank_id}/import", include_in_schema=False)
@router.post("/api/banks/{bank_id}/import", tags=["banks"], summary="Import a tx or CSV hash list (`list` file or `text`)")
async def import_list(request: Request, bank_id: int, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    fmt = str(form.get("format", "tx"))
    uploaded = await forms.uploads(request, "list")
    raw = await uploaded[0].read(MAX_LIST_BYTES + 1) if uploaded else str(form.get("text", "")).encode()
    if len(raw) > MAX_LIST_BYTES:
        raise JikimiError("the hash list is too large for one upload")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JikimiError("the hash list is not UTF-8 text") from None
    data = request.app.state.core.banks.import_list(caller.actor, bank_id, text, fmt)
    return done(request, "/banks", {"imported": data["imported"]})


@router.get("/banks/{bank_id}/export", include_in_schema=False)
@router.get("/api/banks/{bank_id}/export", tags=["banks"], summary="Export a bank's hashes as tx or CSV (logged)")
def export_list(request: Request, bank_id: int, format: str = "tx", caller: Caller = Depends(auth.manage)):
    name, text = request.app.state.core.banks.export_list(caller.actor, bank_id, format)
    media_type = "text/csv" if format == "csv" else "text/plain"
    return Response(text, media_type=f"{media_type}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{forms.safe_name(name)}.{format}"'})


@router.post("/banks/{bank_id}/delete", include_in_schema=False)
@router.post("/api/banks/{bank_id}/delete", tags=["banks"], summary="Delete a bank that nothing matched yet")
async def delete_bank(request: Request, bank_id: int, caller: Caller = Depends(auth.manage)):
    return done(request, "/banks", request.app.state.core.banks.delete(caller.actor, bank_id))
