"""Source photos of a subject: register, list and remove, for the case's managers."""

from __future__ import annotations

from pathlib import Path

from jikimi import subject_sources as store
from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.serialize import iso


class SubjectSources(Part):
    def add(self, actor: Actor, subject_id: int, photos: list[Path], labels: list[str | None] = ()) -> list[dict]:
        """Register photos she fears were used to make fakes (with her consent): their features
        and region hashes are kept, encrypted; the photos themselves are not."""
        labels = list(labels) + [None] * (len(photos) - len(labels))
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id, "manage")
            rows = store.add_sources(self.ws, session, subject, photos, labels, actor.log_name)
            return [source_json(r) for r in rows]

    def list(self, actor: Actor, subject_id: int) -> list[dict]:
        """Her source photos' labels (there is nothing else to show); each look is logged."""
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id)
            self._log(session, actor, "subject_sources_view", f"subject:{subject.id}", {"sources": len(subject.sources)},
                      subject.case_id)
            return [source_json(r) for r in subject.sources]

    def remove(self, actor: Actor, subject_id: int, source_id: int) -> dict:
        with self._open(actor) as (session, access):
            subject = access.subject(subject_id, "manage")
            return {**source_json(store.remove_source(self.ws, session, subject, source_id, actor.log_name)),
                    "removed": True}


def source_json(row) -> dict:
    return {"id": row.id, "subject_id": row.subject_id, "label": row.label, "width": row.width,
            "height": row.height, "created_by": row.created_by, "created_at": iso(row.created_at)}
