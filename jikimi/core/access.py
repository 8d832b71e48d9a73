"""Who may see and do what, decided here once for every face.

A user sees a case only as its member; within it, what they may do is what both their
workspace role and their role in the case allow (a workspace viewer stays a viewer in any
case). Admins see every case, and each admin read of a case they are not a member of is
written to the custody log. A case, item, scan or subject a user may not see answers "not
found", exactly as one that does not exist, so an id tells nothing about other victims.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import messages
from jikimi.audit import AuditLog
from jikimi.core.actor import Actor
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.store.models import SUBJECT_MATCH_KINDS, Case, Item, Match, Scan, Subject
from jikimi.store.web_models import CaseMember

# What each permission allows, and the roles that have it (workspace roles and case roles alike).
PERMISSIONS = {
    "read": ("admin", "caseworker", "reviewer", "viewer"),  # see pages, blurred thumbnails only
    "review": ("admin", "caseworker", "reviewer"),  # face crops, reveal, decide
    "manage": ("admin", "caseworker"),  # cases, subjects, scans, case banks, members
    "admin": ("admin",),  # users, workspace and allow banks, server paths allowed for scanning
    "lookup": ("admin", "caseworker"),  # the platform API's hashing and matching (HMA's /h and /m)
    "curate": ("admin",),  # the platform API's bank curation (HMA's /c)
}
# What an API token's scope lets it do; its rights are its owner's role cut down to these.
# `review` is the scope of case work (read, review, manage), `admin` leaves the role whole.
SCOPES = {
    "read": ("read",),
    "review": ("read", "review", "manage"),
    "lookup": ("lookup",),
    "curate": ("curate",),
    "admin": tuple(PERMISSIONS),
}


def allows(actor: Actor, permission: str) -> bool:
    """Does the actor's workspace role, cut down to their token's scope, carry the permission?"""
    if actor.scopes is not None and not any(permission in SCOPES[s] for s in actor.scopes if s in SCOPES):
        return False
    return actor.is_admin or actor.role in PERMISSIONS[permission]


class NotAllowed(JikimiError):
    """The actor sees the object but their role may not do this (the web answers 403)."""


class NotFound(WorkspaceError):
    """No such object, or one the actor may not see: the same answer for both (404)."""


class Access:
    """The actor's rights within one database session."""

    def __init__(self, session: Session, home: Path, actor: Actor):
        self.session, self.home, self.actor = session, home, actor
        self._roles: dict[int, str] | None = None
        self._logged: set[int] = set()

    def roles(self) -> dict[int, str]:
        """The actor's role in each case they are a member of."""
        if self._roles is None:
            if self.actor.user_id is None:
                self._roles = {}
            else:
                rows = self.session.execute(select(CaseMember.case_id, CaseMember.role)
                                            .where(CaseMember.user_id == self.actor.user_id))
                self._roles = dict(rows.all())
        return self._roles

    def visible_cases(self) -> set[int] | None:
        """Ids of the cases the actor may see; None for every case (admins); none for a token
        whose scope does not include reading (a platform's `lookup` token sees no case)."""
        if not allows(self.actor, "read"):
            return set()
        return None if self.actor.is_admin else set(self.roles())

    def sees(self, case_id: int | None) -> bool:
        visible = self.visible_cases()
        return visible is None or case_id in visible

    def can(self, permission: str, case_id: int | None = None) -> bool:
        """May the actor do this, in the workspace (case_id None) or in that case?"""
        if not allows(self.actor, permission):
            return False
        if self.actor.is_admin:
            return True
        return case_id is not None and self.roles().get(case_id) in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        """A workspace-wide permission (e.g. `manage` to open a case)."""
        if allows(self.actor, permission):
            return
        if self.actor.scopes is not None and (self.actor.is_admin or self.actor.role in PERMISSIONS[permission]):
            raise NotAllowed(f"this API token's scope does not allow {permission}")
        raise NotAllowed.coded("refusal.role", role=messages.message(f"role.{self.actor.role}"))

    def require_admin(self, what: str) -> None:
        if allows(self.actor, "admin"):
            return
        if self.actor.is_admin:
            raise NotAllowed(f"this API token's scope does not allow admin work: {what}")
        raise NotAllowed(f"only an admin may {what}", message=messages.message("refusal.admin_only"))

    def case(self, case_id: int, permission: str = "read") -> Case:
        case = self.session.get(Case, case_id)
        if case is None or not self.sees(case_id):
            raise NotFound.coded("notfound.case", id=case_id)
        self._check(permission, case_id)
        if permission == "read":
            self.log_admin_read(case_id)
        return case

    def scan(self, scan_id: int, permission: str = "read") -> Scan:
        scan = self.session.get(Scan, scan_id)
        if scan is None or not self.sees(scan.case_id):
            raise NotFound.coded("notfound.scan", id=scan_id)
        self._check(permission, scan.case_id)
        if permission == "read" and scan.case_id is not None:
            self.log_admin_read(scan.case_id)
        return scan

    def subject(self, subject_id: int, permission: str = "read") -> Subject:
        subject = self.session.get(Subject, subject_id)
        if subject is None or not self.sees(subject.case_id):
            raise NotFound.coded("notfound.subject", id=subject_id)
        self._check(permission, subject.case_id)
        return subject

    def item(self, item_id: int, permission: str = "read", case_id: int | None = None) -> tuple[Item, int | None]:
        """The item and the case the actor acts on it for: its scan's case, or the case of a
        subject it matched (a routed item), whichever they may `permission` in."""
        item = self.session.get(Item, item_id)
        cases = item_cases(self.session, item) if item else []
        visible = [c for c in cases if self.sees(c)]
        if item is None or not visible:
            raise NotFound.coded("notfound.item", id=item_id)
        if case_id is not None:
            if case_id not in visible:  # bringing an item into another case of theirs (e.g. a repost)
                self.case(case_id, permission)
            visible = [case_id]
        allowed = [c for c in visible
                   if self.can(permission, c) or (c is None and self.actor.is_admin and allows(self.actor, permission))]
        if not allowed:
            raise NotAllowed(f"your role in this case may not {permission} items",
                             message=messages.message("refusal.case_role"))
        return item, allowed[0]

    def face_cases(self, face_id: int) -> list[int]:
        """The visible cases whose subjects this face matched."""
        cases = self.session.scalars(select(Subject.case_id).join(Match, Match.subject_id == Subject.id)
                                     .where(Match.face_id == face_id))
        return [c for c in set(cases) if self.sees(c)]

    def may_see_face(self, face_id: int) -> bool:
        """A matched face alone is shown only to reviewers of the case of the subject it matched:
        viewers and read-only tokens get blurred thumbnails."""
        return any(self.can("review", c) for c in self.face_cases(face_id))

    def hides_subject_of(self, case_id: int | None) -> bool:
        """A face match to a subject of this case is shown without her name, id or face."""
        return not self.sees(case_id)

    def log_admin_read(self, case_id: int) -> None:
        if not self.actor.is_admin or case_id in self.roles() or case_id in self._logged:
            return
        self._logged.add(case_id)
        AuditLog(self.session, self.home).append("admin_read", f"case:{case_id}", {"channel": self.actor.channel},
                                                 case_id=case_id, actor=self.actor.log_name)

    def _check(self, permission: str, case_id: int | None) -> None:
        if permission == "read":
            if not allows(self.actor, "read"):
                raise NotAllowed("this API token's scope does not allow reading cases")
            return
        if not self.can(permission, case_id):
            raise NotAllowed(f"your role in this case may not {permission} it",
                             message=messages.message("refusal.case_role"))


def item_cases(session: Session, item: Item) -> list[int | None]:
    """The cases an item belongs to: its scan's first, then those of the subjects it matched."""
    routed = session.scalars(select(Subject.case_id).join(Match, Match.subject_id == Subject.id)
                             .where(Match.item_id == item.id, Match.kind.in_(SUBJECT_MATCH_KINDS)).distinct())
    cases = [item.scan.case_id]
    cases += sorted(c for c in routed if c != item.scan.case_id)
    return cases
