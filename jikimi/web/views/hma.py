"""The platform API: Meta's Hasher-Matcher-Actioner (HMA) routes, so HMA clients work unchanged.

Hashing `/h`, matching `/m`, curation `/c`, with HMA's paths, parameters and JSON shapes
(OpenMediaMatch/blueprints/{hashing,matching,curation}.py), over `core.platform`. Errors are
HMA's `{"message": ...}`. Differences, and Jikimi's extras (allow banks, per-bank thresholds,
batch lookups, hashes returned with matches, bearer tokens), are listed in docs/api.md.
"""

from __future__ import annotations

import json
from typing import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile

from jikimi.core import NotAllowed
from jikimi.core.platform import BATCH_LIMIT, SIGNAL_TYPES, Hit
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.models import Bank, BankContent
from jikimi.web import auth, forms
from jikimi.web.auth import Caller

CONTENT_TYPES = ("photo", "video")  # HMA's multipart field names
ALLOWED_BY_HEADER = "X-Jikimi-Allowed-By"
NO_URL_FETCHING = ("Jikimi does not fetch URLs (nothing leaves or enters the machine on its own): "
                   "upload the file with POST instead")


class HMARoute(APIRoute):
    """Refusals as HMA answers them: `{"message": reason}` with 400, 403 or 404."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAllowed as error:
                return JSONResponse({"message": str(error)}, 403)
            except WorkspaceError as error:
                return JSONResponse({"message": str(error)}, 404)
            except JikimiError as error:
                return JSONResponse({"message": str(error)}, 400)

        return answer


router = APIRouter(route_class=HMARoute)


async def _lookup(request: Request, actor, signal_type: str, signals: list[str], banks: set[str] | None,
                  **options) -> list[dict]:
    """`core.platform.lookup`, on the event loop when a PDQ lookup will not wait (a hop to the
    threadpool and back costs more than the lookup itself); in the threadpool while the index
    loads, is busy or reads the feed, and for exact hash types (they query the database)."""
    platform = request.app.state.core.platform
    if signal_type == "pdq" and platform.index.ready():
        return platform.lookup(actor, signal_type, signals, banks, **options)
    return await run_in_threadpool(platform.lookup, actor, signal_type, signals, banks, **options)


def _banks_param(banks: str | None) -> set[str] | None:
    return set(banks.split(",")) if banks else None


def _matches_by_bank(matches: list[tuple[Hit, str]]) -> dict[str, list[dict]]:
    """HMA's TMatchByBank: bank name -> [{"bank_content_id", "distance"}]."""
    by_bank: dict[str, list[dict]] = {}
    for hit, bank in matches:
        by_bank.setdefault(bank, []).append({"bank_content_id": hit.content_id, "distance": hit.distance_str})
    return by_bank


def _allowed_header(results: list[dict]) -> dict[str, str]:
    names = sorted({name for r in results for name in r.get("allowed_by", [])})
    return {ALLOWED_BY_HEADER: ",".join(names)} if names else {}


async def _one_upload(request: Request) -> tuple[UploadFile, str]:
    """HMA's multipart rule: exactly one file, under a field named by its content type."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise JikimiError("Missing multipart/form-data file upload")
    form = await request.form(**auth.FORM_LIMITS)
    files = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise JikimiError("Missing multipart/form-data file upload")
    if len(files) > 1:
        raise JikimiError("Only one file allowed per request")
    name, upload = files[0]
    if name not in CONTENT_TYPES:
        raise JikimiError(f"no such content_type: '{name}' (name the file field photo or video)")
    return upload, name


async def _hash_upload(request: Request, caller: Caller) -> dict[str, str]:
    """The upload's hashes; the file is deleted before the answer is sent."""
    upload, content_type = await _one_upload(request)
    core = request.app.state.core
    folder = forms.upload_dir(core.ws.home)
    try:
        [path] = await forms.save([upload], folder)
        return await run_in_threadpool(core.platform.hash_file, caller.actor, path, content_type)
    finally:
        forms.discard(folder)


def _check_type(signal_type: str) -> str:
    if signal_type not in SIGNAL_TYPES:
        raise JikimiError(f"No such SignalType '{signal_type}'")
    return signal_type


async def _json_object(request: Request) -> dict:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise JikimiError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise JikimiError("Request input was not a dict")
    return data


# Hashing


@router.get("/h/hash", tags=["hma"], summary="HMA: hash content from a URL (refused: upload it instead)")
def hash_url(caller: Caller = Depends(auth.lookup)):
    raise JikimiError(NO_URL_FETCHING)


@router.post("/h/hash", tags=["hma"], summary="HMA: hash an uploaded file (multipart field `photo` or `video`)")
async def hash_upload(request: Request, caller: Caller = Depends(auth.lookup)):
    return await _hash_upload(request, caller)


# Matching


@router.get("/m/raw_lookup", tags=["hma"], summary="HMA: content ids matching one hash (per-bank thresholds)")
async def raw_lookup(request: Request, signal: str, signal_type: str, banks: str | None = None,
                     include_distance: bool = False, caller: Caller = Depends(auth.lookup)):
    [result] = await _lookup(
        request, caller.actor, _check_type(signal_type), [signal], _banks_param(banks), enabled_only=False)
    if "error" in result:
        raise JikimiError(result["error"])
    hits = [hit for hit, _ in result["matches"]]
    matches = ([{"bank_content_id": h.content_id, "distance": h.distance_str} for h in hits] if include_distance
               else [h.content_id for h in hits])
    return JSONResponse({"matches": matches}, headers=_allowed_header([result]))


@router.get("/m/lookup", tags=["hma"], summary="HMA: matches of one hash, by bank")
async def lookup_get(request: Request, signal: str | None = None, signal_type: str | None = None,
                     url: str | None = None, banks: str | None = None, seed: str | None = None,
                     bypass_coinflip: bool = False, caller: Caller = Depends(auth.lookup)):
    if url:
        raise JikimiError(NO_URL_FETCHING)
    if not signal or not signal_type:
        raise JikimiError("Either url or both signal and signal_type are required")
    [result] = await _lookup(
        request, caller.actor, _check_type(signal_type), [signal], _banks_param(banks), seed=seed,
        bypass_coinflip=bypass_coinflip)
    if "error" in result:
        raise JikimiError(result["error"])
    return JSONResponse(_matches_by_bank(result["matches"]), headers=_allowed_header([result]))


@router.post("/m/lookup", tags=["hma"],
             summary="HMA: hash an uploaded file and return its matches by signal type and bank")
async def lookup_upload(request: Request, caller: Caller = Depends(auth.lookup)):
    params = request.query_params
    hashes = await _hash_upload(request, caller)
    platform, results = request.app.state.core.platform, []
    answer = {}
    for signal_type, value in hashes.items():
        [result] = await run_in_threadpool(
            platform.lookup, caller.actor, signal_type, [value], _banks_param(params.get("banks")),
            seed=params.get("seed"), bypass_coinflip=params.get("bypass_coinflip", "false") == "true")
        results.append(result)
        answer[signal_type] = _matches_by_bank(result.get("matches", []))
    if forms.flag(params.get("include_hashes")):
        answer = {"hashes": hashes, "matches": answer}
    return JSONResponse(answer, headers=_allowed_header(results))


@router.post("/m/lookup/batch", tags=["hma"],
             summary=f"Jikimi: look up to {BATCH_LIMIT} hashes of one signal type at once")
async def lookup_batch(request: Request, caller: Caller = Depends(auth.lookup)):
    data = await _json_object(request)
    signals, signal_type = data.get("signals"), _check_type(str(data.get("signal_type", "pdq")))
    if not isinstance(signals, list) or not signals:
        raise JikimiError("`signals` must be a non-empty list of hashes")
    if len(signals) > BATCH_LIMIT:
        raise JikimiError(f"at most {BATCH_LIMIT} hashes per batch, got {len(signals)}")
    banks = data.get("banks")
    banks = set(banks) if isinstance(banks, list) else _banks_param(banks if isinstance(banks, str) else None)
    found = await run_in_threadpool(request.app.state.core.platform.lookup, caller.actor, signal_type, signals, banks,
                                    seed=data.get("seed"), bypass_coinflip=bool(data.get("bypass_coinflip")))
    results = []
    for sent, result in zip(signals, found):
        if "error" in result:
            results.append({"signal": sent, "error": result["error"]})
        else:
            results.append({"signal": result["signal"], "matches": _matches_by_bank(result["matches"]),
                            "allowed_by": result["allowed_by"]})
    # Plain JSON values already: FastAPI's own encoder would walk every one of them (tens of ms a batch).
    return JSONResponse({"signal_type": signal_type, "results": results})


@router.post("/m/compare", tags=["hma"], summary="HMA: distance between pairs of hashes, per signal type")
async def compare(request: Request, caller: Caller = Depends(auth.lookup)):
    data = await _json_object(request)
    platform, answer = request.app.state.core.platform, {}
    for signal_type, pair in data.items():
        if not isinstance(pair, list):
            raise JikimiError(f"Comparison hashes for {signal_type} was not a list")
        if len(pair) != 2:
            raise JikimiError("Comparison hash list length must be exactly 2")
        matched, distance = platform.compare(caller.actor, _check_type(signal_type), *pair)
        answer[signal_type] = [matched, distance]
    return answer


@router.get("/m/index/status", tags=["hma"], summary="HMA: size and freshness of each signal type's index")
def index_status(request: Request, signal_type: str | None = None, caller: Caller = Depends(auth.lookup)):
    status = request.app.state.core.platform.index_status(caller.actor)
    if signal_type is not None:
        if signal_type not in status:
            raise JikimiError(f"No such signal type '{signal_type}'")
        status = {signal_type: status[signal_type]}
    return status


# Curation


def bank_config(bank: Bank) -> dict:
    """HMA's BankConfig exactly (its clients load it into a dataclass, where an unknown key
    fails); a bank's threshold and allow flag are set here and shown by /api/banks."""
    return {"name": bank.name, "matching_enabled_ratio": bank.matching_enabled_ratio}


def content_json(content: BankContent, bank: Bank, signals: dict[str, str] | None) -> dict:
    """HMA's BankContentResponse (no metadata: Jikimi keeps only a note)."""
    answer = {"id": content.id, "disable_until_ts": content.disable_until_ts, "original_media_uri": None,
              "bank": {"name": bank.name, "matching_enabled_ratio": bank.matching_enabled_ratio}}
    if signals is not None:
        answer["signals"] = signals
    if content.label:
        answer["note"] = content.label
    return answer


@router.get("/c/banks", tags=["hma"], summary="HMA: list banks")
def banks_index(request: Request, caller: Caller = Depends(auth.curate)):
    return [bank_config(b) for b in request.app.state.core.platform.banks(caller.actor)]


@router.post("/c/banks", tags=["hma"], status_code=201, summary="HMA: create a bank")
async def bank_create(request: Request, caller: Caller = Depends(auth.curate)):
    data = await _json_object(request)
    ratio = data.get("enabled_ratio")
    if ratio is None:
        ratio = 1.0 if data.get("enabled") in (None, True) else 0.0
    platform = request.app.state.core.platform
    if data.get("name") and any(b.name == data["name"] for b in platform.banks(caller.actor)):
        return JSONResponse({"message": "Bank already exists"}, 403)
    bank = platform.create_bank(caller.actor, data.get("name"), ratio,
                                data.get("pdq_threshold", 31), data.get("is_allow", False))
    return JSONResponse(bank_config(bank), 201)


@router.get("/c/bank/{bank_name}", tags=["hma"], summary="HMA: a bank's configuration")
def bank_show(request: Request, bank_name: str, caller: Caller = Depends(auth.curate)):
    return bank_config(request.app.state.core.platform.bank(caller.actor, bank_name))


@router.put("/c/bank/{bank_name}", tags=["hma"], summary="HMA: rename, enable or disable a bank")
async def bank_update(request: Request, bank_name: str, caller: Caller = Depends(auth.curate)):
    changes = await _json_object(request)
    return bank_config(request.app.state.core.platform.update_bank(caller.actor, bank_name, changes))


@router.delete("/c/bank/{bank_name}", tags=["hma"], summary="HMA: delete a bank and its hashes")
def bank_delete(request: Request, bank_name: str, caller: Caller = Depends(auth.curate)):
    request.app.state.core.platform.delete_bank(caller.actor, bank_name)
    return {"message": "Done"}


@router.post("/c/bank/{bank_name}/content", tags=["hma"],
             summary="HMA: hash an uploaded file into a bank (the file is not kept)")
async def bank_add_content(request: Request, bank_name: str, caller: Caller = Depends(auth.curate)):
    if request.query_params.get("url"):
        raise JikimiError(NO_URL_FETCHING)
    upload, content_type = await _one_upload(request)
    note = (await request.form(**auth.FORM_LIMITS)).get("note")
    core = request.app.state.core
    folder = forms.upload_dir(core.ws.home)
    try:
        [path] = await forms.save([upload], folder)
        return await run_in_threadpool(core.platform.add_file, caller.actor, bank_name, path, content_type, note)
    finally:
        forms.discard(folder)  # a bank keeps hashes, never the file


@router.get("/c/bank/{bank_name}/content/{content_id}", tags=["hma"], summary="HMA: one content of a bank")
def bank_get_content(request: Request, bank_name: str, content_id: int, include_signals: str = "false",
                     caller: Caller = Depends(auth.curate)):
    content, bank, signals = request.app.state.core.platform.content(caller.actor, bank_name, content_id)
    return content_json(content, bank, signals if include_signals.lower() == "true" else None)


@router.put("/c/bank/{bank_name}/content/{content_id}", tags=["hma"],
            summary="HMA: disable a content (`disable_until_ts`) or change its note")
async def bank_update_content(request: Request, bank_name: str, content_id: int,
                              caller: Caller = Depends(auth.curate)):
    changes = await _json_object(request)
    platform = request.app.state.core.platform
    platform.update_content(caller.actor, bank_name, content_id, changes)
    content, bank, _ = platform.content(caller.actor, bank_name, content_id)
    return content_json(content, bank, None)


@router.delete("/c/bank/{bank_name}/content/{content_id}", tags=["hma"], summary="HMA: remove a content from a bank")
def bank_delete_content(request: Request, bank_name: str, content_id: int, caller: Caller = Depends(auth.curate)):
    return {"deleted": request.app.state.core.platform.delete_content(caller.actor, bank_name, content_id)}


@router.post("/c/bank/{bank_name}/signal", tags=["hma"],
             summary="HMA: add a content to a bank by its hashes ({signal_type: hash})")
async def bank_add_signals(request: Request, bank_name: str, caller: Caller = Depends(auth.curate)):
    data = await _json_object(request)
    note = data.pop("note", None)
    return request.app.state.core.platform.add_signals(caller.actor, bank_name, data, note)
