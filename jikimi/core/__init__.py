"""The core every face calls: one object, `Jikimi`, whose operations take the acting person.

    from jikimi.core import Actor, Jikimi
    jk = Jikimi(open_workspace())
    jk.cases.list(Actor.cli())

Authorization and case need-to-know are decided inside (see `access`), once, so the CLI,
the web app and the platform API translate requests and answers and never decide.
"""

from __future__ import annotations

from jikimi.core.access import PERMISSIONS, NotAllowed, NotFound
from jikimi.core.accounts import Accounts
from jikimi.core.actor import Actor
from jikimi.core.banks import Banks
from jikimi.core.cases import Cases, Subjects
from jikimi.core.custody import Custody
from jikimi.core.evidence import Evidence
from jikimi.core.items import Items
from jikimi.core.jobs import Jobs
from jikimi.core.platform import Platform
from jikimi.core.review import Review
from jikimi.core.scans import Scans
from jikimi.core.subject_sources import SubjectSources
from jikimi.core.takedown import Takedown
from jikimi.core.settings import Settings
from jikimi.core.webhooks import Webhooks
from jikimi.workspace import Workspace


class Jikimi:
    """One workspace, every operation: `jk.cases`, `jk.subjects`, `jk.scans`, `jk.review`,
    `jk.banks`, `jk.evidence`, `jk.takedown`, `jk.custody`, `jk.accounts`, `jk.jobs`."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.cases = Cases(ws)
        self.subjects = Subjects(ws)
        self.subject_sources = SubjectSources(ws)
        self.scans = Scans(ws)
        self.review = Review(ws)
        self.banks = Banks(ws)
        self.evidence = Evidence(ws)
        self.takedown = Takedown(ws)
        self.custody = Custody(ws)
        self.accounts = Accounts(ws)
        self.settings = Settings(ws)
        self.webhooks = Webhooks(ws)
        self.platform = Platform(ws)
        self.jobs = Jobs(ws)
        self.items = Items(ws)


__all__ = ["Actor", "Jikimi", "NotAllowed", "NotFound", "PERMISSIONS"]
