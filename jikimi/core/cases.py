"""Cases, their members, and the subjects they protect."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from jikimi import cases as case_store
from jikimi.core.access import NotAllowed, NotFound
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.listing import Page, csv_text, read_page
from jikimi.errors import JikimiError
from jikimi.reports.data import scan_summary
from jikimi.serialize import audit_json, case_json, decision_json, iso, subject_json
from jikimi.store.audit_models import AuditEntry
from jikimi.signals.faces import FaceAnalyzer
from jikimi.store.models import SUBJECT_MATCH_KINDS, Case, Decision, Item, Match, Scan, Subject
from jikimi.store.takedown_models import Notice, NoticeItem
from jikimi.store.web_models import CASE_ROLES, CaseMember, WebUser

CASE_ROWS = 50  # latest decisions and custody entries shown with a case


class Cases(Part):
    def list(self, actor: Actor) -> list[dict]:
        """The cases the actor may see, with their enrolled subjects and scan counts."""
        with self._open(actor) as (session, access):
            visible = access.visible_cases()
            query = select(Case).order_by(Case.id)
            if visible is not None:
                query = query.where(Case.id.in_(visible))
            scans = dict(session.execute(select(Scan.case_id, func.count()).group_by(Scan.case_id)).all())
            return [{**case_json(c), "subjects": [subject_json(s) for s in c.subjects], "scans": scans.get(c.id, 0),
                     "role": "admin" if actor.is_admin else access.roles().get(c.id)}
                    for c in session.scalars(query)]

    def search(self, actor: Actor, filters: dict, page: Page) -> dict:
        """One page of the cases the actor may see, newest first; `q` finds a title or an id."""
        with self._open(actor) as (session, access):
            query = select(Case).order_by(Case.id.desc())
            if (visible := access.visible_cases()) is not None:
                query = query.where(Case.id.in_(visible))
            if q := (filters.get("q") or "").strip():
                query = query.where(Case.title.ilike(f"%{q}%") | (Case.id == int(q)) if q.isdigit()
                                    else Case.title.ilike(f"%{q}%"))
            cases, pager = read_page(session, query, page)
            ids = [c.id for c in cases]
            scans = dict(session.execute(select(Scan.case_id, func.count()).where(Scan.case_id.in_(ids))
                                         .group_by(Scan.case_id)).all())
            subjects = dict(session.execute(select(Subject.case_id, func.count()).where(
                Subject.case_id.in_(ids), Subject.removed_at.is_(None)).group_by(Subject.case_id)).all())
            rows = [{**case_json(c), "subjects": subjects.get(c.id, 0), "scans": scans.get(c.id, 0)} for c in cases]
            return {"cases": rows, "pager": pager, "filters": filters}

    def export_csv(self, actor: Actor, filters: dict) -> str:
        rows = self.search(actor, filters, Page.everything())["cases"]
        with self._open(actor) as (session, _):
            self._log(session, actor, "list_export", "cases", {"filters": filters, "rows": len(rows)})
        return csv_text(["id", "title", "subjects", "scans", "created_by", "created_at_utc"],
                        [[c["id"], c["title"], c["subjects"], c["scans"], c["created_by"], c["created_at"]]
                         for c in rows])

    def create(self, actor: Actor, title: str) -> dict:
        """Open a case; a web user who opens one becomes its caseworker."""
        with self._open(actor) as (session, access):
            access.require("manage")
            case = case_store.create_case(self.ws, session, title, actor.log_name)
            if actor.user_id is not None:
                session.add(CaseMember(case_id=case.id, user_id=actor.user_id, role="caseworker",
                                       added_by=actor.log_name))
                session.flush()
            return {**case_json(case), "subjects": []}

    def get(self, actor: Actor, case_id: int) -> dict:
        """A case as its members see it: subjects, members, scans, latest decisions and custody entries."""
        with self._open(actor) as (session, access):
            case = access.case(case_id)
            decisions = session.scalars(select(Decision).where(Decision.case_id == case_id)
                                        .order_by(Decision.id.desc()).limit(CASE_ROWS))
            scans = session.scalars(select(Scan).where(Scan.case_id == case_id).order_by(Scan.id.desc()))
            audit = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id)
                                    .order_by(AuditEntry.seq.desc()).limit(CASE_ROWS))
            return {"case": case_json(case), "subjects": [subject_json(s) for s in case.subjects],
                    "scans": [scan_summary(session, s) for s in scans],
                    "decisions": [decision_json(d) for d in decisions],
                    "audit": [audit_json(e) for e in audit],
                    "members": _members(session, case_id),
                    "can_manage": access.can("manage", case_id), "can_review": access.can("review", case_id)}

    def check(self, actor: Actor, case_id: int, permission: str = "read") -> None:
        """Raise unless the actor may `permission` in the case (before a face does slow work)."""
        with self._open(actor) as (_, access):
            access.case(case_id, permission)

    # Membership -------------------------------------------------------------------------

    def members(self, actor: Actor, case_id: int) -> list[dict]:
        with self._open(actor) as (session, access):
            access.case(case_id)
            return _members(session, case_id)

    def add_member(self, actor: Actor, case_id: int, user_name: str, role: str = "caseworker") -> dict:
        """Admins and the case's caseworkers add members; the change is in the custody log."""
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
            if role not in CASE_ROLES:
                raise JikimiError.coded("error.case_role", role=repr(role), roles=", ".join(CASE_ROLES))
            user = _user(session, user_name)
            member = session.scalar(select(CaseMember).where(CaseMember.case_id == case_id,
                                                             CaseMember.user_id == user.id))
            if member is None:
                member = CaseMember(case_id=case_id, user_id=user.id, role=role, added_by=actor.log_name)
                session.add(member)
            else:
                member.role = role
            session.flush()
            self._log(session, actor, "member_add", f"case:{case_id}", {"user": user.name, "role": role}, case_id)
            return {"case_id": case_id, "user": user.name, "role": role}

    def remove_member(self, actor: Actor, case_id: int, user_name: str) -> dict:
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
            user = _user(session, user_name)
            member = session.scalar(select(CaseMember).where(CaseMember.case_id == case_id,
                                                             CaseMember.user_id == user.id))
            if member is None:
                raise NotFound.coded("notfound.member", user=user.name, case=case_id)
            session.delete(member)
            self._log(session, actor, "member_remove", f"case:{case_id}", {"user": user.name}, case_id)
            return {"case_id": case_id, "user": user.name, "removed": True}


class Subjects(Part):
    def enrol(self, actor: Actor, case_id: int, name: str, photos: list[Path], *, scope: str,
              consented_by: str | None = None, consented_at: str | None = None, cross_case: bool = True,
              face: int | None = None, keep_photos: bool = False, keep_reference_crops: bool = False,
              known: list[Path] = (), faces: list[int | None] | None = None) -> dict:
        """Enrol a person to protect. `cross_case` False keeps her out of other cases' scans:
        her choice, stored with her consent. `keep_reference_crops`, also with her consent, lets
        a new face model re-enrol her without new photos."""
        consent = case_store.Consent(
            consented_by=consented_by or name, scope=scope,
            consented_at=consented_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            recorded_by=actor.log_name, cross_case=cross_case)
        with self._open(actor) as (session, access):
            case = access.case(case_id, "manage")
            subject = case_store.enrol_subject(self.ws, session, case, name, consent, photos, face=face,
                                               keep_photos=keep_photos, keep_reference_crops=keep_reference_crops,
                                               known=known, analyzer=self._analyzer(), faces=faces)
            return subject_json(subject)

    def faces_in(self, actor: Actor, case_id: int, photo: Path) -> dict:
        """The faces of a photo someone is about to enrol from, to choose one (nothing is stored)."""
        with self._open(actor) as (session, access):
            access.case(case_id, "manage")
        return case_store.reference_faces(photo, self._analyzer())

    def get(self, actor: Actor, subject_id: int) -> dict:
        """A subject's page: consent, kept reference faces, her matches over time and the
        takedown status of each item confirmed in her case."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id)
            access.log_admin_read(subject.case_id)
            return {**subject_profile(session, access, subject),
                    "can_manage": access.can("manage", subject.case_id),
                    "can_review": access.can("review", subject.case_id)}

    def reference_crop(self, actor: Actor, subject_id: int) -> bytes:
        """Her first kept reference face, to reviewers of her case; each look is in the custody log."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id)
            if not access.can("review", subject.case_id):
                raise NotAllowed.coded("refusal.faces")
            template = next((t for t in sorted(subject.templates, key=lambda t: t.id) if t.reference_crop), None)
            if template is None:
                raise NotFound.coded("notfound.reference", id=subject_id)
            self._log(session, actor, "view", f"subject:{subject.id}", {"what": "reference face", "template": template.id},
                      subject.case_id)
            return case_store.decrypted_reference_crop(self.ws, template)

    def _analyzer(self):
        """One face analyzer per process: its models load once."""
        global _ANALYZER
        if _ANALYZER is None:
            _ANALYZER = FaceAnalyzer()
        return _ANALYZER

    def reenrol(self, actor: Actor, subject_id: int) -> dict:
        """Recompute her templates with the current face model from her kept crops or photos."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id, "manage")
            return subject_json(case_store.reenrol_subject(self.ws, session, subject.id, actor.log_name))

    def needing_reenrolment(self, actor: Actor, model_id: str) -> list[dict]:
        """Subjects of the actor's cases enrolled with another model: scans with `model_id` miss them."""
        with self._open(actor) as (session, access):
            return [subject_json(s) for s in case_store.subjects_needing_reenrolment(session, model_id)
                    if access.sees(s.case_id)]

    def remove(self, actor: Actor, subject_id: int, confirm: str | None = None) -> dict:
        """Delete her face data; `confirm`, when given, must be her name (the page asks for it typed)."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id, "manage")
            if confirm is not None and confirm.strip() != subject.name:
                raise JikimiError.coded("subject.confirm_label")
            subject = case_store.remove_subject(self.ws, session, subject.id, actor.log_name)
            return subject_json(subject)


_ANALYZER: FaceAnalyzer | None = None


def subject_profile(session, access, subject: Subject) -> dict:
    """What her page shows; items found by scans of cases the actor does not see keep their scan unnamed."""
    crops = [{"template_id": t.id, "photo_name": t.photo_name, "created_at": iso(t.created_at)}
             for t in subject.templates if t.reference_crop is not None]
    per_scan = session.execute(
        select(Scan.id, Scan.case_id, Scan.started_at, func.count(func.distinct(Match.item_id)))
        .join(Item, Item.scan_id == Scan.id).join(Match, Match.item_id == Item.id)
        .where(Match.subject_id == subject.id, Match.kind.in_(SUBJECT_MATCH_KINDS))
        .group_by(Scan.id).order_by(Scan.started_at)).all()
    timeline = [{"scan_id": scan_id if access.sees(case_id) else None, "started_at": iso(started), "found": n}
                for scan_id, case_id, started, n in per_scan]
    confirmed_ids = list(session.scalars(
        select(Decision.item_id).join(Match, Match.item_id == Decision.item_id)
        .where(Match.subject_id == subject.id, Match.kind.in_(SUBJECT_MATCH_KINDS), Decision.case_id == subject.case_id,
               Decision.verdict == "confirm").distinct().order_by(Decision.item_id)))
    notices = session.execute(
        select(NoticeItem.item_id, Notice).join(Notice, Notice.id == NoticeItem.notice_id)
        .where(NoticeItem.item_id.in_(confirmed_ids), Notice.case_id == subject.case_id)
        .order_by(Notice.id)).all()
    takedown: dict[int, list[dict]] = {}
    for item_id, notice in notices:
        takedown.setdefault(item_id, []).append(
            {"reference": notice.reference, "host": notice.host.name, "status": notice.status,
             "sent_at": iso(notice.sent_at), "removed_at": iso(notice.removed_at)})
    kept = {"templates": len(subject.templates), "reference_crops": len(crops),
            "photos": sum(t.photo is not None for t in subject.templates)}
    return {"subject": subject_json(subject), "case": case_json(subject.case), "reference_crops": crops, "kept": kept,
            "timeline": timeline, "matched_items": sum(row["found"] for row in timeline),
            "confirmed": [{"item_id": i, "notices": takedown.get(i, [])} for i in confirmed_ids]}


def _members(session, case_id: int) -> list[dict]:
    rows = session.execute(select(CaseMember, WebUser.name).join(WebUser, WebUser.id == CaseMember.user_id)
                           .where(CaseMember.case_id == case_id).order_by(WebUser.name))
    return [{"user": name, "role": m.role, "added_by": m.added_by, "created_at": iso(m.created_at)}
            for m, name in rows]


def _user(session, name: str) -> WebUser:
    if not name.strip():
        raise JikimiError.coded("error.name_user")
    user = session.scalar(select(WebUser).where(WebUser.name == name.strip()))
    if user is None:
        raise NotFound.coded("notfound.user", name=repr(name))
    return user
