"""Lists that scale: one page of a filtered query, its total, and the same rows as CSV.

Every long list (cases, items, decisions, the custody log, scans) reads one page with
LIMIT/OFFSET after counting the filtered rows, so a page costs the same at 100 rows or
100,000. CSV goes through the report writer's cell rule, so a spreadsheet never runs a
cell as a formula.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from jikimi.reports.render import csv_cell

PER_PAGE = 50
MAX_PER_PAGE = 500
CSV_ROWS = 100_000  # an export is one file a person can open; narrow the filters for more
COUNT_CAP = 1_000  # counting stops here ("1,000+"): a count reads every row it counts, a page only its own
COUNT_SECONDS = 0.05  # ... and after this long (SQLite), so a rare filter never slows the page down
PROGRESS_STEPS = 1_000  # SQLite virtual machine steps between two looks at the clock


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


def capped_count(session: Session, query: Select, cap: int = COUNT_CAP) -> int:
    """How many rows `query` has, counting no further than `cap`."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).limit(cap).subquery()))


def timed_count(session: Session, query: Select, cap: int = COUNT_CAP) -> int | None:
    """`capped_count`, given up after COUNT_SECONDS (None: "many"), as Datasette does: a filter
    that few rows pass makes a count read the whole table, while a page stops early."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _postgres_timed_count(session, query, cap)
    if connection.dialect.name != "sqlite":
        return capped_count(session, query, cap)
    raw = connection.connection.driver_connection
    deadline = time.perf_counter() + COUNT_SECONDS
    raw.set_progress_handler(lambda: time.perf_counter() > deadline, PROGRESS_STEPS)
    try:
        return capped_count(session, query, cap)
    except OperationalError as error:
        if "interrupted" not in str(error):
            raise
        return None
    finally:
        raw.set_progress_handler(None, 0)


def _postgres_timed_count(session: Session, query: Select, cap: int) -> int | None:
    """The server cancels the count after COUNT_SECONDS (statement_timeout, 0 would mean never);
    the savepoint keeps the page's transaction usable after the cancel and undoes the setting."""
    milliseconds = max(1, round(COUNT_SECONDS * 1000))
    savepoint = session.begin_nested()
    try:
        session.execute(select(func.set_config("statement_timeout", str(milliseconds), True)))
        total = capped_count(session, query, cap)
    except OperationalError as error:
        savepoint.rollback()
        if "statement timeout" not in str(error):
            raise
        return None
    savepoint.rollback()  # nothing was written: rolling back also restores the statement timeout
    return total


def read_page(session: Session, query: Select, page: Page, scalars: bool = True) -> tuple[list, dict]:
    """The rows of one page of `query` (already filtered and ordered) and what a pager shows:
    `total` (counted up to COUNT_CAP; `more`: at least that many; None: too many to count in
    time) and `next` (whether another page follows)."""
    if page.size is None:
        limited = query.limit(CSV_ROWS)
        rows = list(session.scalars(limited)) if scalars else list(session.execute(limited).all())
        return rows, {"page": 1, "per_page": len(rows), "total": len(rows), "pages": 1, "more": False, "next": False}
    limited = query.limit(page.size + 1).offset((page.number - 1) * page.size)
    rows = list(session.scalars(limited)) if scalars else list(session.execute(limited).all())
    following, rows = len(rows) > page.size, rows[:page.size]
    seen = (page.number - 1) * page.size + len(rows)
    cap = max(COUNT_CAP, seen + 1)
    total = timed_count(session, query, cap) if following or page.number > 1 else seen
    more = total is None or total >= cap
    pages = None if more else max(1, -(-total // page.size))
    return rows, {"page": page.number, "per_page": page.size, "total": total, "more": more, "pages": pages,
                  "next": following}


def csv_text(columns: list[str], rows: list[list]) -> str:
    """RFC 4180 text with a header row; text cells a spreadsheet would run are made inert."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else csv_cell(value) for value in row])
    return out.getvalue()
