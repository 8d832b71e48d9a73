"""Evidence packages, for the case's caseworkers."""

from __future__ import annotations

from pathlib import Path

from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.core.case_items import select_items
from jikimi.evidence.package import export_package


class Evidence(Part):
    def export(self, actor: Actor, case_id: int, item_ids: list[int] | None, out: Path, lang: str = "ko") -> Path:
        with self._open(actor) as (session, access):
            case = access.case(case_id, "manage")
            items = select_items(session, case_id, item_ids)
            return export_package(self.ws, session, case, items, out=out, lang=lang, actor=actor.log_name)
