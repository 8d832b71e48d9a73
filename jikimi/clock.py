"""Times as people read them: in the workspace's time zone, with the zone named.

Everything is stored in UTC. Pages show the workspace's zone (Asia/Seoul unless
JIKIMI_TIMEZONE names another IANA zone, e.g. "Europe/Paris"), always with its name
("2026-11-30 15:20 KST"), so no one has to guess; exports put UTC next to it.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jikimi.errors import WorkspaceError

ZONE_ENV = "JIKIMI_TIMEZONE"
DEFAULT_ZONE = "Asia/Seoul"


def workspace_zone() -> ZoneInfo:
    name = os.environ.get(ZONE_ENV, "").strip() or DEFAULT_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkspaceError(f"{ZONE_ENV}={name!r} is not a time zone: use an IANA name such as Asia/Seoul") from None


def as_utc(moment: datetime | str | int | float) -> datetime:
    """A stored time (ISO 8601, Unix time, or a datetime SQLite left without its zone) in UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local(moment: datetime | str | int | float | None, seconds: bool = False) -> str:
    """"2026-11-30 15:20 KST": the workspace's zone, named."""
    if moment is None or moment == "":
        return ""
    shown = as_utc(moment).astimezone(workspace_zone())
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def local_and_utc(moment: datetime | str | int | float | None) -> str:
    """For exports: "2026-11-30 15:20:05 KST (2026-11-30 06:20:05 UTC)"."""
    if moment is None or moment == "":
        return ""
    return f"{local(moment, seconds=True)} ({as_utc(moment).strftime('%Y-%m-%d %H:%M:%S UTC')})"


def local_date(moment: datetime | str | int | float) -> str:
    """The day it was in the workspace's zone, e.g. a notice's date."""
    return as_utc(moment).astimezone(workspace_zone()).strftime("%Y-%m-%d")


def end_of_today(now: datetime) -> datetime:
    """The next midnight in the workspace's zone, as a UTC time (what is due "today")."""
    today = as_utc(now).astimezone(workspace_zone()).date()
    midnight = datetime.combine(today + timedelta(days=1), time(0), tzinfo=workspace_zone())
    return midnight.astimezone(timezone.utc)
