"""Hash banks: list, create, hash files in, import and export hash lists."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from jikimi import banks as bank_api
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.signals.pdq import PDQ_DEFAULT_THRESHOLD
from jikimi.store.models import Bank
from jikimi.web import auth, forms
from jikimi.web.auth import Caller
from jikimi.web.render import done, respond

router = APIRouter()
MAX_LIST_BYTES = 50 * 1024 * 1024
FORMATS = ("tx", "csv")


def _bank(session: Session, bank_id: int) -> Bank:
    bank = session.get(Bank, bank_id)
    if bank is None:
        raise WorkspaceError(f"no bank with id {bank_id}")
    return bank


@router.get("/banks", include_in_schema=False)
@router.get("/api/banks", tags=["banks"], summary="List banks with their sizes")
def list_banks(request: Request, caller: Caller = Depends(auth.read)):
    with request.app.state.ws.session() as session:
        rows = [{"id": s.bank.id, "name": s.bank.name, "allow": s.bank.is_allow, "case_id": s.bank.case_id,
                 "pdq_threshold": s.bank.pdq_threshold, "contents": s.contents, "signals": s.signals}
                for s in bank_api.list_banks(session)]
    return respond(request, "banks.html", {"banks": rows, "formats": FORMATS,
                                           "default_threshold": PDQ_DEFAULT_THRESHOLD})


@router.post("/banks", include_in_schema=False)
@router.post("/api/banks", tags=["banks"], status_code=201, summary="Create a bank")
async def create_bank(request: Request, caller: Caller = Depends(auth.manage)):
    form = await forms.body(request)
    threshold = forms.number(form.get("pdq_threshold"), "the PDQ threshold")
    with request.app.state.ws.session() as session:
        bank = bank_api.create_bank(session, str(form.get("name", "")).strip() or _no_name(),
                                    PDQ_DEFAULT_THRESHOLD if threshold is None else threshold,
                                    forms.flag(form.get("allow")))
        data = {"id": bank.id, "name": bank.name}
    return done(request, "/banks", data, 201)


@router.post("/banks/{bank_id}/files", include_in_schema=False)
@router.post("/api/banks/{bank_id}/files", tags=["banks"], summary="Hash uploaded files into a bank (multipart `files`)")
async def add_files(request: Request, bank_id: int, caller: Caller = Depends(auth.manage)):
    files = await forms.uploads(request, "files")
    if not files:
        raise JikimiError("choose at least one file")
    ws = request.app.state.ws
    folder = forms.upload_dir(ws.home)
    try:
        paths = await forms.save(files, folder)

        def add() -> dict:
            with ws.session() as session:
                result = bank_api.add_files(session, _bank(session, bank_id), paths)
                return {"added": result.added, "warnings": [w.replace(str(folder) + "/", "") for w in result.warnings]}

        data = await run_in_threadpool(add)
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
    with request.app.state.ws.session() as session:
        count = bank_api.import_list(session, _bank(session, bank_id), text, fmt)
    return done(request, "/banks", {"imported": count})


@router.get("/banks/{bank_id}/export", include_in_schema=False)
@router.get("/api/banks/{bank_id}/export", tags=["banks"], summary="Export a bank's hashes as tx or CSV")
def export_list(request: Request, bank_id: int, format: str = "tx", caller: Caller = Depends(auth.manage)):
    with request.app.state.ws.session() as session:
        bank = _bank(session, bank_id)
        text = bank_api.export_list(session, bank, format)
        name = forms.safe_name(bank.name)
    media_type = "text/csv" if format == "csv" else "text/plain"
    return Response(text, media_type=f"{media_type}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})


def _no_name() -> str:
    raise JikimiError("a bank needs a name")
