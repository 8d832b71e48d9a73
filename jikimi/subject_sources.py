"""Source photos of a subject: her ordinary photos she fears were used to make fakes of her.

Registered with her consent, like her reference photos. Only what finds edited copies is kept,
never the photo: its local features (jikimi/signals/local_features.py) and its grid of region
hashes (jikimi/signals/region_grid.py), each AES-GCM encrypted with the workspace key and bound
to its row, as face templates are. Removing a source, or the subject, deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from jikimi import keys, messages
from jikimi.audit import AuditLog
from jikimi.cases import searched_rows
from jikimi.errors import JikimiError, WorkspaceError
from jikimi.limits import Limits
from jikimi.media.images import open_image
from jikimi.signals.local_features import LocalFeatures
from jikimi.signals.region_grid import RegionGrid, region_grid
from jikimi.signals.spread_features import SOURCE_PER_CELL, spread_features
from jikimi.store.models import Subject, SubjectSource
from jikimi.workspace import Workspace

MAX_LABEL = 200
# Points spread over the photo (signals/spread_features.py) a source needs to be found again
# after a large edit. Measured with benchmarks/derived_eval.py --mode sources: without spread
# features, scikit-image's retina (a dark disc, now 117 points) and 150-px portraits (now
# 129-260) had their 40 % edits found rarely (0-37 pairs); the one 150-px portrait above it
# (461) was the only source unrelated posts fitted 10-32 pairs with; every other photo has 972-2,048.
MIN_SOURCE_POINTS = 300


@dataclass(frozen=True)
class Source:
    """A decrypted source photo's features, held in memory only while scanning."""

    id: int
    subject_id: int
    subject_name: str
    case_id: int
    label: str
    features: LocalFeatures
    regions: RegionGrid
    width: int
    height: int


def add_sources(ws: Workspace, session: Session, subject: Subject, photos: list[Path], labels: list[str | None],
                actor: str, limits: Limits = Limits()) -> list[SubjectSource]:
    """Register photos as her sources; every photo must be readable and distinctive enough to
    be found again (MIN_SOURCE_POINTS points), or nothing is stored."""
    if not photos:
        raise JikimiError.coded("sources.no_photo")
    computed = []
    for photo, label in zip(photos, labels):
        try:
            pixels = np.asarray(open_image(photo, limits))
        except JikimiError as e:
            raise JikimiError(f"{photo.name}: {e}", message=messages.message(
                "enrol.photo_problem", file=photo.name, problem=e.message or str(e))) from None
        except OSError as e:
            raise JikimiError.coded("enrol.photo_unreadable", file=photo.name, why=e.strerror or str(e)) from None
        features = spread_features(pixels, SOURCE_PER_CELL)
        if len(features.descriptors) < MIN_SOURCE_POINTS:
            raise JikimiError.coded("sources.no_features", file=photo.name, found=len(features.descriptors),
                                    need=MIN_SOURCE_POINTS)
        computed.append(((label or photo.name).strip()[:MAX_LABEL], features, region_grid(pixels)))
    key = keys.workspace_key(ws.home)
    rows = []
    for label, features, regions in computed:
        row = SubjectSource(subject_id=subject.id, label=label, features=b"", regions=b"", width=features.width,
                            height=features.height, created_by=actor)
        session.add(row)
        session.flush()
        row.features = keys.encrypt(key, features.to_bytes(), _associated("features", row.id))
        row.regions = keys.encrypt(key, regions.to_bytes(), _associated("regions", row.id))
        rows.append(row)
    session.flush()
    AuditLog(session, ws.home).append("subject_sources_add", f"subject:{subject.id}",
                                      {"sources": [{"id": r.id, "label": r.label} for r in rows]},
                                      case_id=subject.case_id, actor=actor)
    return rows


def remove_source(ws: Workspace, session: Session, subject: Subject, source_id: int, actor: str) -> SubjectSource:
    row = session.get(SubjectSource, source_id)
    if row is None or row.subject_id != subject.id:
        raise WorkspaceError.coded("sources.not_found", id=source_id, subject=subject.id)
    session.delete(row)
    session.flush()
    AuditLog(session, ws.home).append("subject_sources_remove", f"subject:{subject.id}",
                                      {"source": row.id, "label": row.label}, case_id=subject.case_id, actor=actor)
    return row


def load_sources(ws: Workspace, session: Session, case_id: int | None = None, only_case: bool = False) -> list[Source]:
    """Decrypt the sources of the subjects a scan for `case_id` looks for (the same subjects as
    its face templates: jikimi.cases.searched_rows)."""
    rows = searched_rows(session, SubjectSource, case_id, only_case)
    if not rows:
        return []
    key = keys.workspace_key(ws.home)
    return [Source(s.id, subject.id, subject.name, subject.case_id, s.label,
                   LocalFeatures.from_bytes(keys.decrypt(key, s.features, _associated("features", s.id),
                                                         what="source photo features")),
                   RegionGrid.from_bytes(keys.decrypt(key, s.regions, _associated("regions", s.id),
                                                      what="source photo features")),
                   s.width, s.height)
            for s, subject in rows]


def _associated(kind: str, source_id: int) -> bytes:
    return f"subject_source_{kind}:{source_id}".encode()
