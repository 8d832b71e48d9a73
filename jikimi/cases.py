"""Cases and the people they protect: enrolment with consent, encrypted face templates.

A subject is enrolled only from reference photos that each show exactly one usable face;
if any photo fails, nothing is stored. Templates are AES-GCM encrypted with the workspace
key and bound to their row, so a copied database reveals none. Removing a subject deletes
her templates and photos and leaves a record that it happened.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import banks, keys
from jikimi.audit import AuditLog
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.signals.faces import FaceAnalyzer
from jikimi.store.models import Case, Subject, SubjectTemplate, utcnow
from jikimi.workspace import Workspace


@dataclass(frozen=True)
class Consent:
    """Who consented, to what, when; and who recorded it. `cross_case`: whether scans of other
    cases may look for her too (the default, since one room holds many victims)."""

    consented_by: str
    scope: str
    consented_at: str
    recorded_by: str
    cross_case: bool = True


@dataclass(frozen=True)
class Template:
    """A decrypted template, held in memory only while scanning."""

    subject_id: int
    subject_name: str
    case_id: int
    embedding: np.ndarray


def create_case(ws: Workspace, session: Session, title: str, actor: str) -> Case:
    if not title.strip():
        raise JikimiError("a case needs a title")
    case = Case(title=title.strip(), created_by=actor)
    session.add(case)
    session.flush()
    AuditLog(session, ws.home).append("case_create", f"case:{case.id}", {"title": case.title}, case_id=case.id, actor=actor)
    return case


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise WorkspaceError(f"no case with id {case_id}: see `jikimi case list`")
    return case


def list_cases(session: Session) -> list[Case]:
    return list(session.scalars(select(Case).order_by(Case.id)))


def enrol_subject(ws: Workspace, session: Session, case: Case, name: str, consent: Consent, photos: list[Path],
                  face: int | None = None, keep_photos: bool = False, known: list[Path] = (),
                  analyzer: FaceAnalyzer | None = None, limits: Limits = Limits()) -> Subject:
    """Enrol a subject; every photo must give one usable face, or nothing is stored."""
    if not photos:
        raise JikimiError("give at least one reference photo")
    analyzer = analyzer or FaceAnalyzer()
    faces = []
    for photo in photos:
        try:
            image = open_image(photo, limits)
            faces.append((photo, image, analyzer.reference_face(np.asarray(image), face)))
        except JikimiError as e:
            raise JikimiError(f"{photo.name}: {e}") from None
        except OSError as e:
            raise JikimiError(f"{photo.name}: cannot read ({e.strerror or e})") from None
    key = keys.workspace_key(ws.home)
    subject = Subject(case=case, name=name, consent=asdict(consent))
    session.add(subject)
    session.flush()
    for photo, image, reference in faces:
        template = SubjectTemplate(subject_id=subject.id, embedding=b"", photo_name=photo.name)
        session.add(template)
        session.flush()
        template.embedding = keys.encrypt(key, reference.embedding.astype(np.float32).tobytes(),
                                          _associated("template", template.id))
        if keep_photos:
            template.photo = keys.encrypt(key, _jpeg(image), _associated("photo", template.id))
    if known:
        bank = banks.case_bank(session, case.id)
        banks.add_files(session, bank, banks.files_under(known), limits)
    AuditLog(session, ws.home).append(
        "subject_add", f"subject:{subject.id}",
        {"name": name, "consent": asdict(consent), "photos": len(photos), "photos_kept": keep_photos,
         "known_files_hashed": len(banks.files_under(known)) if known else 0},
        case_id=case.id, actor=consent.recorded_by,
    )
    return subject


def remove_subject(ws: Workspace, session: Session, subject_id: int, actor: str) -> Subject:
    """Delete a subject's templates and photos; keep the consent record and a log entry."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.removed_at is not None:
        raise WorkspaceError(f"no enrolled subject with id {subject_id}")
    removed = len(subject.templates)
    subject.templates.clear()
    subject.removed_at = utcnow()
    session.flush()
    AuditLog(session, ws.home).append("subject_remove", f"subject:{subject.id}", {"templates_deleted": removed},
                                      case_id=subject.case_id, actor=actor)
    return subject


def load_templates(ws: Workspace, session: Session, case_id: int | None = None,
                   only_case: bool = False) -> list[Template]:
    """Decrypt the templates of the subjects a scan for `case_id` looks for: the case's own
    with `only_case`, else every subject but those who chose not to be searched for by
    other cases."""
    query = select(SubjectTemplate, Subject).join(Subject).where(Subject.removed_at.is_(None))
    if only_case:
        query = query.where(Subject.case_id == case_id)
    rows = [(t, subject) for t, subject in session.execute(query.order_by(SubjectTemplate.id)).all()
            if subject.case_id == case_id or subject.consent.get("cross_case", True)]
    if not rows:
        return []
    key = keys.workspace_key(ws.home)
    return [
        Template(subject.id, subject.name, subject.case_id,
                 np.frombuffer(keys.decrypt(key, t.embedding, _associated("template", t.id), what="templates"),
                               dtype=np.float32))
        for t, subject in rows
    ]


def _associated(kind: str, template_id: int) -> bytes:
    return f"subject_{kind}:{template_id}".encode()


def _jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
