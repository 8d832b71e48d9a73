"""Workspace settings an admin chooses for every reviewer: how often the break reminder comes,
how long a revealed original stays clear. Reading them is everyone's; changing them is an
admin's, and each change is in the custody log."""

from __future__ import annotations

from jikimi.core.actor import Actor
from jikimi.core.base import Part
from jikimi.errors import JikimiError
from jikimi.store.models import utcnow
from jikimi.store.web_models import WorkspaceSetting

# name: (default, smallest, largest). A 20-minute rhythm and a 30-second look follow what
# trust-and-safety teams use (Thorn's Safer: timed breaks, re-blurring after a look).
REVIEW_SETTINGS = {
    "break_minutes": (20, 5, 240),
    "reblur_seconds": (30, 5, 600),
}


class Settings(Part):
    def review(self, actor: Actor) -> dict[str, int]:
        with self._open(actor) as (session, access):
            access.require("read")
            chosen = {s.name: s.value for s in session.query(WorkspaceSetting)}
            return {name: chosen.get(name, default) for name, (default, _, _) in REVIEW_SETTINGS.items()}

    def set_review(self, actor: Actor, values: dict) -> dict[str, int]:
        """Change some of the review settings; a value out of its range is refused whole."""
        checked = {}
        for name, raw in values.items():
            if name not in REVIEW_SETTINGS:
                raise JikimiError.coded("error.setting_unknown", name=repr(name))
            _, low, high = REVIEW_SETTINGS[name]
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise JikimiError.coded("error.setting_number", name=name) from None
            if not low <= value <= high:
                raise JikimiError.coded("error.setting_range", name=name, low=low, high=high)
            checked[name] = value
        with self._open(actor) as (session, access):
            access.require_admin("change workspace settings")
            for name, value in checked.items():
                row = session.get(WorkspaceSetting, name)
                if row is None:
                    session.add(WorkspaceSetting(name=name, value=value, updated_by=actor.log_name))
                else:
                    row.value, row.updated_by, row.updated_at = value, actor.log_name, utcnow()
            if checked:
                self._log(session, actor, "settings_change", "workspace", checked)
        return self.review(actor)
