"""Scans: start, resume and read them, each credited to the person who started it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from jikimi import scan as scanner
from jikimi.core.access import Access
from jikimi.audit_heads import sign_head
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.review import tier_of
from jikimi.reports import render
from jikimi.reports.data import posted_in, scan_report, scan_summary
from jikimi.scan import Progress, ScanOptions
from jikimi.serialize import decision_json, reason_json, reason_message_json
from jikimi.store.models import Content, Decision, Item, Match, Scan

RESULT_ROWS = 200


class Scans(Part):
    def options(self, actor: Actor, options: ScanOptions) -> ScanOptions:
        """Check the actor may scan for the case (any case-less scan is an admin's) and credit them."""
        with self._open(actor) as (session, access):
            _authorize(access, options.case_id)
        options.started_by = actor.log_name
        return options

    def start(self, actor: Actor, source: Path, options: ScanOptions, progress: Progress = Progress(),
              on_start: Callable[[int], None] = lambda _: None) -> int:
        return scanner.start_scan(self.ws, Path(source), self.options(actor, options), progress, on_start)

    def run_queued(self, actor: Actor, scan_id: int, progress: Progress = Progress(), cluster: str | None = None) -> int:
        """Run (or go on with) a scan queued from the web (`jk.jobs`), in this process, as the person
        who asked; its files are hashed on the Dask cluster at `cluster` if given."""
        with self._open(actor) as (session, access):
            scan = access.scan(scan_id, "manage")
            _authorize(access, scan.case_id)
            queued = scan.status == "queued"
        if queued:
            return scanner.run_queued_scan(self.ws, scan_id, progress, cluster)
        return scanner.resume_scan(self.ws, scan_id, progress, actor=actor.log_name, cluster=cluster)  # after a stop

    def resume(self, actor: Actor, scan_id: int, progress: Progress = Progress(), jobs: int | None = None,
               cluster: str | None = None) -> int:
        with self._open(actor) as (session, access):
            scan = access.scan(scan_id, "manage")
            _authorize(access, scan.case_id)
        return scanner.resume_scan(self.ws, scan_id, progress, jobs=jobs, actor=actor.log_name, cluster=cluster)

    def list(self, actor: Actor, limit: int | None = None, case_id: int | None = None) -> list[dict]:
        with self._open(actor) as (session, access):
            query = select(Scan).order_by(Scan.id.desc()).limit(limit)
            visible = access.visible_cases()
            if visible is not None:
                query = query.where(Scan.case_id.in_(visible))
            if case_id is not None:
                query = query.where(Scan.case_id == case_id)
            return [scan_summary(session, s) for s in session.scalars(query)]

    def get(self, actor: Actor, scan_id: int) -> dict:
        """A scan's summary, its matched items (most urgent first) and its read errors."""
        with self._open(actor) as (session, access):
            scan = access.scan(scan_id)
            matched = session.execute(
                select(Item, func.count(Match.id), Content.kind)
                .join(Match, Match.item_id == Item.id).outerjoin(Content, Content.sha256 == Item.sha256)
                .where(Item.id.in_(posted_in(scan_id))).group_by(Item.id, Content.kind)
                .options(selectinload(Item.matches).selectinload(Match.subject))
                .order_by(Item.priority.desc(), Item.id).limit(RESULT_ROWS)).all()
            errors = session.execute(
                select(Item.id, func.coalesce(Item.error, Content.error))
                .outerjoin(Content, Content.sha256 == Item.sha256)
                .where(Item.id.in_(posted_in(scan_id)), (Item.error.is_not(None)) | (Content.error.is_not(None)))
                .order_by(Item.first_ordinal).limit(RESULT_ROWS)).all()
            decided = _decisions(session, access, [i.id for i, _, _ in matched])
            return {"scan": scan_summary(session, scan),
                    "matched": [{"item_id": i.id, "priority": i.priority, "tier": tier_of(i.priority),
                                 "reason": reason_json(i, access.hides_subject_of),
                                 "reason_message": reason_message_json(i, access.hides_subject_of), "matches": n, "kind": k,
                                 "seen_before": i.scan_id != scan_id, "decisions": decided.get(i.id, [])}
                                for i, n, k in matched],
                    "errors": [{"item_id": i, "error": e} for i, e in errors]}

    def report(self, actor: Actor, scan_id: int, fmt: str, lang: str = "en") -> str:
        """The scan's report (HTML in `lang`); matches to subjects of cases the actor may not see are anonymous."""
        with self._open(actor) as (session, access):
            access.scan(scan_id)
            data = scan_report(session, scan_id, hidden=access.hides_subject_of)
            media = (render.report_media(self.ws, session, data, actor.log_name, access.may_see_face)
                     if fmt == "html" else None)
            if fmt != "csv":  # a CSV row has no place for it
                data["custody_head"] = sign_head(session, self.ws.home).to_json()
        return render.render(data, fmt, media, lang)


def _decisions(session, access: Access, item_ids: list[int]) -> dict[int, list[dict]]:
    """Decisions already taken on these items, in the cases the actor sees: an item is decided once."""
    found: dict[int, list[dict]] = {}
    for decision in session.scalars(select(Decision).where(Decision.item_id.in_(item_ids)).order_by(Decision.id)):
        if access.sees(decision.case_id):
            found.setdefault(decision.item_id, []).append(decision_json(decision))
    return found


def _authorize(access: Access, case_id: int | None) -> None:
    if case_id is None:
        access.require_admin("scan without a case")
    else:
        access.case(case_id, "manage")
