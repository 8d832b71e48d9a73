"""Cases and the people they protect: enrolment with consent, encrypted face templates.

A subject is enrolled only from reference photos that each show exactly one usable face;
if any photo fails, nothing is stored. Templates are AES-GCM encrypted with the workspace
key and bound to their row, so a copied database reveals none. Removing a subject deletes
her templates, photos and source photos' features and leaves a record that it happened.

Each template records the model that computed it, and is only ever compared with faces of
that model. When the scan's model changes, a subject enrolled with another model must be
re-enrolled: from her kept reference face crops (or kept photos) if she consented to keeping
them (`reenrol_subject`), otherwise from new photos.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import banks, keys, messages
from jikimi.audit import AuditLog
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.signals.faces import MIN_REFERENCE_FACE_PX, FaceAnalyzer, FaceSignal
from jikimi.store.models import Case, Subject, SubjectTemplate, utcnow
from jikimi.workspace import Workspace


# How many reference photos to ask for. A subject is matched against the mean of her templates
# (jikimi.match); on held-out East Asian women (benchmarks/faces_eval.py --protocol subject,
# docs/faces.md) her other photos were found 0.73 of the time from 1 photo, 0.81 from 2, 0.85
# from 3 and 0.90 from 5, at a false-match rate of about 1e-3 each.
RECOMMENDED_REFERENCES = 3  # fewer: the case worker is told to add photos
BEST_REFERENCES = 5
ENROLMENT_GUIDANCE = (f"{RECOMMENDED_REFERENCES}-{BEST_REFERENCES} clear photos of her face from different occasions "
                      "(not one photo shoot) find her most often")
REFUSED_PHOTO_GUIDANCE = "leave it out or use another clear photo of her face, ideally from another occasion"


def enrolment_advice(references: int) -> str | None:
    """What to tell the case worker after enrolling a subject from `references` photos, or None."""
    if references >= RECOMMENDED_REFERENCES:
        return None
    return (f"enrolled from {references} photo(s): add more with her consent; {ENROLMENT_GUIDANCE} "
            f"(her other photos found 0.73 of the time from 1 photo, 0.81 from 2, 0.90 from {BEST_REFERENCES})")


# A kept reference crop: the face plus margin, small enough to be little more than a template,
# large enough for the enrolment detector (faces of MIN_REFERENCE_FACE_PX or more) to find it.
CROP_SIDE = 320


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
    model_id: str


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
                  analyzer: FaceAnalyzer | None = None, limits: Limits = Limits(),
                  keep_reference_crops: bool = False, faces: list[int | None] | None = None) -> Subject:
    """Enrol a subject; every photo must give one usable face, or nothing is stored.

    `face` picks the face (numbered from 1, left to right) in every photo; `faces` one per photo.

    `keep_reference_crops` (only with her consent) keeps a small encrypted crop of each face,
    so her templates can be recomputed for a new model without asking her for photos again.
    """
    if not photos:
        raise JikimiError.coded("enrol.no_photo")
    analyzer = analyzer or FaceAnalyzer()
    chosen = faces or [face] * len(photos)
    found = []
    for photo, number in zip(photos, chosen):
        try:
            image = open_image(photo, limits)
            found.append((photo, image, analyzer.reference_face(np.asarray(image), number)))
        except JikimiError as e:
            problem = e.message or str(e)  # a coded problem is said in the reader's language
            raise JikimiError(f"{photo.name}: {e}; {REFUSED_PHOTO_GUIDANCE}", message=messages.message(
                "enrol.photo_problem", file=_shown_name(photo), problem=problem)) from None
        except OSError as e:
            raise JikimiError.coded("enrol.photo_unreadable", file=photo.name, why=e.strerror or str(e)) from None
    key = keys.workspace_key(ws.home)
    subject = Subject(case=case, name=name, consent=asdict(consent))
    session.add(subject)
    session.flush()
    for photo, image, reference in found:
        template = SubjectTemplate(subject_id=subject.id, embedding=b"", photo_name=photo.name,
                                   model=reference.model_id)
        session.add(template)
        session.flush()
        template.embedding = keys.encrypt(key, reference.embedding.astype(np.float32).tobytes(),
                                          _associated("template", template.id))
        if keep_photos:
            template.photo = keys.encrypt(key, _jpeg(image), _associated("photo", template.id))
        if keep_reference_crops:
            template.reference_crop = keys.encrypt(key, _jpeg(reference_crop(image, reference)),
                                                   _associated("crop", template.id))
    if known:
        bank = banks.case_bank(session, case.id)
        banks.add_files(session, bank, banks.files_under(known), limits)
    AuditLog(session, ws.home).append(
        "subject_add", f"subject:{subject.id}",
        {"name": name, "consent": asdict(consent), "photos": len(photos), "photos_kept": keep_photos,
         "reference_crops_kept": keep_reference_crops, "model": found[0][2].model_id,
         "known_files_hashed": len(banks.files_under(known)) if known else 0},
        case_id=case.id, actor=consent.recorded_by,
    )
    return subject


def reference_faces(photo: Path, analyzer: FaceAnalyzer, limits: Limits = Limits()) -> dict:
    """The faces of an enrolment photo a person can choose from (numbered from 1, left to right),
    in pixels of the photo as shown (EXIF orientation applied)."""
    try:
        image = open_image(photo, limits)
    except JikimiError as e:
        problem = e.message or str(e)
        raise JikimiError(f"{photo.name}: {e}", message=messages.message(
            "enrol.photo_problem", file=_shown_name(photo), problem=problem)) from None
    except OSError as e:
        raise JikimiError.coded("enrol.photo_unreadable", file=_shown_name(photo), why=e.strerror or str(e)) from None
    boxes = analyzer.reference_boxes(np.asarray(image))
    return {"width": image.width, "height": image.height,
            "faces": [{"number": n, "box": [b.left, b.top, b.right, b.bottom], "size": b.size,
                       "usable": b.size >= MIN_REFERENCE_FACE_PX} for n, b in enumerate(boxes, 1)]}


def remove_subject(ws: Workspace, session: Session, subject_id: int, actor: str) -> Subject:
    """Delete a subject's templates and photos; keep the consent record and a log entry."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.removed_at is not None:
        raise WorkspaceError.coded("subject.not_enrolled", id=subject_id)
    removed, sources = len(subject.templates), len(subject.sources)
    subject.templates.clear()
    subject.sources.clear()
    subject.removed_at = utcnow()
    session.flush()
    AuditLog(session, ws.home).append("subject_remove", f"subject:{subject.id}",
                                      {"templates_deleted": removed, "source_photos_deleted": sources},
                                      case_id=subject.case_id, actor=actor)
    return subject


def reenrol_subject(ws: Workspace, session: Session, subject_id: int, actor: str,
                    analyzer: FaceAnalyzer | None = None) -> Subject:
    """Recompute a subject's templates with the current model from her kept crops or photos.

    Each template is recomputed from its own reference crop (or kept photo); if any has
    neither, nothing changes and the case worker is told to enrol her again from new photos.
    """
    analyzer = analyzer or FaceAnalyzer()
    subject = session.get(Subject, subject_id)
    if subject is None or subject.removed_at is not None:
        raise WorkspaceError(f"no enrolled subject with id {subject_id}")
    missing = [t.photo_name for t in subject.templates if t.reference_crop is None and t.photo is None]
    if missing:
        raise JikimiError(f"subject {subject_id} has no kept reference crop or photo for {', '.join(missing)}: "
                          "re-enrolment needs new photos and her consent (`jikimi subject add`)")
    key = keys.workspace_key(ws.home)
    model_id = analyzer.embedder.model_id
    recomputed = []
    for template in subject.templates:
        if template.reference_crop is not None:
            jpeg = keys.decrypt(key, template.reference_crop, _associated("crop", template.id), what="reference crops")
        else:
            jpeg = keys.decrypt(key, template.photo, _associated("photo", template.id), what="photos")
        rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        try:
            recomputed.append((template, analyzer.reference_face(rgb)))
        except JikimiError as e:
            raise JikimiError(f"{template.photo_name}: {e}") from None
    previous = sorted({t.model for t in subject.templates})
    for template, reference in recomputed:
        template.embedding = keys.encrypt(key, reference.embedding.astype(np.float32).tobytes(),
                                          _associated("template", template.id))
        template.model = model_id
    session.flush()
    AuditLog(session, ws.home).append("subject_reenrol", f"subject:{subject.id}",
                                      {"templates": len(recomputed), "from_models": previous, "model": model_id},
                                      case_id=subject.case_id, actor=actor)
    return subject


def subjects_needing_reenrolment(session: Session, model_id: str) -> list[Subject]:
    """Enrolled subjects with a template of another model: scans with `model_id` cannot find them."""
    other_model = select(SubjectTemplate.subject_id).where(SubjectTemplate.model != model_id)
    # IN, not DISTINCT: PostgreSQL cannot compare the JSON consent column for DISTINCT.
    query = select(Subject).where(Subject.removed_at.is_(None), Subject.id.in_(other_model)).order_by(Subject.id)
    return list(session.scalars(query))


def kept_reference_crop(ws: Workspace, subject: Subject) -> bytes | None:
    """Her first kept reference crop (JPEG), decrypted, for a reviewer to compare faces; None
    when she did not consent to keeping crops."""
    template = next((t for t in subject.templates if t.reference_crop is not None), None)
    if template is None:
        return None
    return keys.decrypt(keys.workspace_key(ws.home), template.reference_crop, _associated("crop", template.id),
                        what="reference crops")


def reference_crop(image: Image.Image, face: FaceSignal) -> Image.Image:
    """The face with half its size of margin on each side, at most CROP_SIDE pixels wide."""
    box = face.box
    margin = (box.right - box.left) // 2
    crop = image.crop((max(0, box.left - margin), max(0, box.top - margin),
                       min(image.width, box.right + margin), min(image.height, box.bottom + margin)))
    crop.thumbnail((CROP_SIDE, CROP_SIDE))
    return crop


def searched_rows(session: Session, model, case_id: int | None, only_case: bool) -> list[tuple]:
    """(row of `model`, its subject) for the subjects a scan for `case_id` looks for: the
    case's own with `only_case`, else every subject but those who chose not to be searched
    for by other cases. `model` is SubjectTemplate or SubjectSource."""
    query = select(model, Subject).join(Subject).where(Subject.removed_at.is_(None))
    if only_case:
        query = query.where(Subject.case_id == case_id)
    return [(row, subject) for row, subject in session.execute(query.order_by(model.id)).all()
            if subject.case_id == case_id or subject.consent.get("cross_case", True)]


def load_templates(ws: Workspace, session: Session, case_id: int | None = None,
                   only_case: bool = False) -> list[Template]:
    """Decrypt the templates of the subjects a scan for `case_id` looks for (`searched_rows`)."""
    rows = searched_rows(session, SubjectTemplate, case_id, only_case)
    if not rows:
        return []
    key = keys.workspace_key(ws.home)
    return [
        Template(subject.id, subject.name, subject.case_id,
                 np.frombuffer(keys.decrypt(key, t.embedding, _associated("template", t.id), what="templates"),
                               dtype=np.float32), t.model)
        for t, subject in rows
    ]


def _shown_name(photo: Path) -> str:
    """The name the person gave the photo (the web saves uploads as photoNNN-<name>)."""
    found = re.fullmatch(r"photo\d{3}-(.+)", photo.name)
    return found[1] if found else photo.name


def decrypted_reference_crop(ws: Workspace, template: SubjectTemplate) -> bytes:
    """The JPEG of a kept reference face crop (only kept with her consent)."""
    key = keys.workspace_key(ws.home)
    return keys.decrypt(key, template.reference_crop, _associated("crop", template.id), what="reference crops")


def _associated(kind: str, template_id: int) -> bytes:
    return f"subject_{kind}:{template_id}".encode()


def _jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
