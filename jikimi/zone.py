"""The workspace's time zone: what "today" means and how times are shown to people.

Jikimi stores every time in UTC. A centre reads them in its own zone, Asia/Seoul unless
`JIKIMI_TIME_ZONE` names another (an IANA name such as `Europe/Berlin`); shown times name
the zone, so "09:00" is never ambiguous.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jikimi.errors import JikimiError

DEFAULT_TIME_ZONE = "Asia/Seoul"


def workspace_zone() -> ZoneInfo:
    name = os.environ.get("JIKIMI_TIME_ZONE") or DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise JikimiError(f"JIKIMI_TIME_ZONE={name!r} is not a time zone name such as Asia/Seoul") from None


def as_utc(moment: datetime) -> datetime:
    """SQLite forgets time zones; every time Jikimi stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return as_utc(moment).astimezone(workspace_zone())


def shown(moment: datetime | str | None) -> str:
    """E.g. `2026-11-30 18:00 KST`: minutes are enough for people, the zone is always named."""
    if moment is None or moment == "":
        return ""
    moment = local(moment)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def end_of_today(now: datetime) -> datetime:
    """The next midnight in the workspace's zone, as a UTC time."""
    today = local(now).date()
    midnight = datetime.combine(today + timedelta(days=1), time(0), tzinfo=workspace_zone())
    return midnight.astimezone(timezone.utc)
