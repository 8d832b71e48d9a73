"""Filters, pages and CSV for every long list page (cases, items, decisions, custody log, scans).

A list page reads its filters from the query string (an empty field means "any"), asks the
core for one page (`jikimi.core.listing`), and draws the filter bar and pager with the
macros in templates/lists.html. `?format=csv` answers the same filtered rows as a CSV file.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from jikimi.core.listing import Page
from jikimi.web import forms


def filters(request: Request, numbers: tuple[str, ...] = (), texts: tuple[str, ...] = ()) -> dict:
    """The list's filters from the query string: whole numbers (ids, tiers) and short texts."""
    params = request.query_params
    chosen: dict = {name: forms.number(params.get(name), name) for name in numbers}
    chosen.update({name: (params.get(name) or "").strip()[:200] or None for name in texts})
    return chosen


def page(request: Request) -> Page:
    params = request.query_params
    return Page.of(forms.number(params.get("page"), "page"), forms.number(params.get("per_page"), "per_page"))


def wants_csv(request: Request) -> bool:
    return request.query_params.get("format") == "csv"


def csv_response(text: str, name: str) -> Response:
    """A download, with a BOM so spreadsheets read Korean as UTF-8."""
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
