"""Lists that scale: one page of a filtered query, its total, and the same rows as CSV.

Every long list (cases, items, decisions, the custody log, scans) reads one page with
LIMIT/OFFSET after counting the filtered rows, so a page costs the same at 100 rows or
100,000. CSV goes through the report writer's cell rule, so a spreadsheet never runs a
cell as a formula.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jikimi.reports.render import csv_cell

PER_PAGE = 50
MAX_PER_PAGE = 500
CSV_ROWS = 100_000  # an export is one file a person can open; narrow the filters for more


@dataclass(frozen=True)
class Page:
    """Which page: 1-based `number`, `size` rows per page (`size=None`: every row, for CSV)."""
    number: int = 1
    size: int | None = PER_PAGE

    @classmethod
    def of(cls, number: int | None, size: int | None = None) -> Page:
        return cls(max(1, number or 1), min(MAX_PER_PAGE, max(1, size or PER_PAGE)))

    @classmethod
    def everything(cls) -> Page:
        return cls(1, None)


def read_page(session: Session, query: Select, page: Page, scalars: bool = True) -> tuple[list, dict]:
    """The rows of one page of `query` (already filtered and ordered) and what a pager shows."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    limited = query.limit(page.size or CSV_ROWS).offset((page.number - 1) * (page.size or 0))
    rows = list(session.scalars(limited)) if scalars else list(session.execute(limited).all())
    size = page.size or max(total, 1)
    return rows, {"page": page.number, "per_page": size, "total": total, "pages": max(1, -(-total // size))}


def csv_text(columns: list[str], rows: list[list]) -> str:
    """RFC 4180 text with a header row; text cells a spreadsheet would run are made inert."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else csv_cell(value) for value in row])
    return out.getvalue()
