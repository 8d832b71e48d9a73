"""One answer, two shapes: a page for people, JSON for scripts, from the same data."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context

from jikimi import messages
from jikimi.web import i18n

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                   trim_blocks=True, lstrip_blocks=True)


@pass_context
def _reason(context, item: dict) -> str:
    """`{{ item|reason }}`: an item's triage reason in the page's language."""
    stored = item.get("reason_message")
    return messages.render_message(stored, context["lang"]) if stored else item.get("reason") or ""


@pass_context
def _read_error(context, error: str | None) -> str:
    """`{{ item.error|read_error }}`: a read error in the page's language."""
    return messages.read_error(error, context["lang"])


@pass_context
def _message(context, stored: dict | None) -> str:
    """`{{ stored|message }}`: any message kept as a code and parameters."""
    return messages.render_message(stored, context["lang"])


_env.filters.update(reason=_reason, read_error=_read_error, message=_message)
API_PREFIXES = ("/api/", "/h/", "/m/", "/c/")  # our JSON API and the HMA-compatible one


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def language(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.LANG_COOKIE),
                       request.headers.get("accept-language"))


def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    translations = i18n.catalog(lang)
    caller = getattr(request.state, "caller", None)
    html = _env.get_template(template).render(
        _=_gettext(translations), ngettext=_ngettext(translations), lang=lang, languages=i18n.LANGUAGES,
        when=lambda moment: i18n.when(moment, lang), caller=caller,
        csrf=caller.csrf if caller else context.pop("login_csrf", ""), path=request.url.path,
        with_query=lambda **params: _with_query(request, params), **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
    return response


def respond(request: Request, template: str, data: dict, status: int = 200) -> Response:
    """JSON under /api/, else the page drawn from the same `data`."""
    if is_api(request):
        return JSONResponse(jsonable_encoder(data), status_code=status)
    return page(request, template, status, **data)


def done(request: Request, location: str, data: dict, status: int = 200) -> Response:
    """After a change: JSON for scripts; for browsers, a redirect so a reload does not repeat it."""
    if is_api(request):
        return JSONResponse(jsonable_encoder(data), status_code=status)
    return RedirectResponse(location, status_code=303)


def _gettext(translations):
    def gettext(message: str, **values) -> str:
        text = translations.gettext(message)
        return text % values if values else text
    return gettext


def _ngettext(translations):
    def ngettext(singular: str, plural: str, num: int, **values) -> str:
        return translations.ngettext(singular, plural, num) % {"num": num, **values}
    return ngettext


def _with_query(request: Request, params: dict) -> str:
    query = {**request.query_params, **{k: v for k, v in params.items()}}
    query = {k: v for k, v in query.items() if v is not None}
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path
