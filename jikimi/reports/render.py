"""Write a scan report as JSON, CSV or one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import clock, messages
from jikimi.audit import AuditLog
from jikimi.errors import ExportFormatError, JikimiError
from jikimi.private_output import write_private
from jikimi.reports.crops import face_crop_jpeg
from jikimi.reports.data import posted_in
from jikimi.store.models import SUBJECT_MATCH_KINDS, Content, Item, Match
from jikimi.workspace import Workspace

FORMATS = ("json", "csv", "html")
# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a
# chat name): OWASP's CSV injection advice is to prefix such cells with a single quote.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ["item_id", "sha256", "kind", "path", "chat", "message_id", "sender", "date_utc",
               "link", "matches", "error"]


@dataclass
class ReportMedia:
    """Pictures an HTML report embeds: blurred thumbnails, and matched faces cropped alone."""

    thumbnails: dict[str, bytes] = field(default_factory=dict)  # by sha256
    face_crops: dict[int, bytes] = field(default_factory=dict)  # by face id


def report_media(ws: Workspace, session: Session, report: dict, actor: str,
                 may_see_face: Callable[[int], bool]) -> ReportMedia:
    """Collect the report's pictures; cutting faces out of originals is logged as an access.
    A face is cut out only where `may_see_face` allows it (a viewer gets thumbnails only)."""
    matched = [item for item in report["items"] if item["matches"]]
    thumbnails = {sha: ws.vault.open_thumbnail(sha, stored) for sha, stored in session.execute(
        select(Content.sha256, Content.thumbnail).distinct()
        .join(Item, Item.sha256 == Content.sha256).join(Match, Match.item_id == Item.id)
        .where(Item.id.in_(posted_in(report["scan"]["id"])), Content.thumbnail.is_not(None)))}
    face_ids = sorted({m["face_id"] for item in matched for m in item["matches"]
                       if m["kind"] == "face" and m["face_id"] is not None and may_see_face(m["face_id"])})
    crops = {}
    for face_id in face_ids:
        try:
            crops[face_id] = face_crop_jpeg(ws, session, face_id)
        except JikimiError:
            continue  # the report says "no preview" rather than failing
    if crops:
        AuditLog(session, ws.home).append("view", f"scan:{report['scan']['id']}",
                                          {"what": "face crops for an HTML report", "faces": sorted(crops)},
                                          case_id=report["scan"].get("case_id"), actor=actor)
    return ReportMedia(thumbnails, crops)


def render(report: dict, fmt: str, media: ReportMedia | None = None, lang: str = "en") -> str:
    """The report as text; an HTML report speaks `lang` (ko or en), JSON and CSV keep English."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "html":
        return _html(report, media or ReportMedia(), lang)
    raise ExportFormatError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def write(report: dict, fmt: str, path: Path, media: ReportMedia | None = None, lang: str = "en") -> Path:
    """Write the report owner-only (0600): it names chats and people, and may show faces."""
    return write_private(path, render(report, fmt, media, lang))


def describe_match(match: dict, lang: str = "en") -> str:
    """One line a case worker can read, in `lang`: how it matched, what, how close."""
    def say(code: str, **params) -> str:
        return messages.render(code, params, lang)

    if match["kind"] in SUBJECT_MATCH_KINDS and match.get("other_case"):
        return say(f"match.{match['kind']}.other_case")
    if match["kind"] == "derived":
        return say("match.derived", source=match["source"], subject=match["target"],
                   changed=round(100 * match["changed_fraction"]), inliers=match["inliers"])
    if match["kind"] == "face":
        level = match.get("level") if match.get("level") in ("confident", "possible") else None
        text = say(f"match.face.{level}" if level else "match.face", subject=match["target"],
                   distance=match["distance"])
        return text + (" " + say("match.in_frame", time=match["frame_time"]) if match.get("frame_time") is not None
                       else "")
    text = f"{match['kind']} · {match['bank']} / {match['target']}"
    if match.get("distance") is not None and match["kind"] in ("pdq", "vpdq"):
        text += " " + say("match.distance", distance=match["distance"])
    if "frame_time" in match:
        text += ", " + say("match.frame_at", time=match["frame_time"])
    if "known_frame_time" in match:
        text += ", " + say("match.known_video_at", time=match["known_frame_time"])
    if "query_match_percent" in match:
        text += ", " + say("match.frames", query=match["query_match_percent"], compared=match["compared_match_percent"])
    return text


def utc_time(unixtime: int | None) -> str:
    """The time as a date, or "" when there is none or no calendar date holds it."""
    if unixtime is None:
        return ""
    try:
        return datetime.fromtimestamp(unixtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return ""


def readable_time(iso: str | None) -> str:
    """The workspace's local time, named, with UTC next to it."""
    return clock.local_and_utc(iso) if iso else ""


def local_time(unixtime: int | None) -> str:
    """A post's time as `readable_time` gives it, or "" when no calendar date holds it."""
    return readable_time(datetime.fromtimestamp(unixtime, timezone.utc).isoformat()) if utc_time(unixtime) else ""


def duration(scan: dict, lang: str = "en") -> str:
    if not scan["finished_at"]:
        return messages.render("report.unfinished", None, lang)
    seconds = (datetime.fromisoformat(scan["finished_at"]) - datetime.fromisoformat(scan["started_at"])).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def _csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a lone \r in a name is then quoted too
    writer.writerow(CSV_COLUMNS)
    for item in report["items"]:
        matches = "; ".join(describe_match(m) for m in item["matches"])
        for locator in item["locators"]:
            writer.writerow(map(csv_cell, [
                item["id"], item["sha256"] or "", item["kind"], locator.get("path", ""), locator.get("chat", ""),
                locator.get("message_id", ""), locator.get("sender", ""), utc_time(locator.get("date_unixtime")),
                locator.get("link", ""), matches, item["error"] or ""]))
    return out.getvalue()


def csv_cell(value: object) -> object:
    """Text a spreadsheet would run as a formula, made inert with a leading quote."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_LEADS) else value


def _html(report: dict, media: ReportMedia, lang: str) -> str:
    """Every sentence is a message of jikimi.messages ("report.*", "match.*"), said in `lang`."""
    env = Environment(loader=PackageLoader("jikimi.reports"), autoescape=select_autoescape())
    env.filters.update(describe_match=lambda match: describe_match(match, lang), local_time=local_time,
                       readable_time=readable_time, read_error=lambda error: messages.read_error(error, lang),
                       message=lambda stored: messages.render_message(stored, lang))
    env.globals.update(lang=lang, t=lambda code, **params: messages.render(code, params, lang),
                       status=messages.status)
    items = report["items"]
    images = {sha: _data_uri(data) for sha, data in media.thumbnails.items()}
    return env.get_template("report.html").render(
        scan=report["scan"],
        custody_head=report.get("custody_head"),
        duration=duration(report["scan"], lang),
        matched=[i for i in items if i["matches"]],
        errors=[i for i in items if i["error"]],
        allowed=[i for i in items if i["allowed_by"]],
        thumbnails=images,
        crops={face_id: _data_uri(data) for face_id, data in media.face_crops.items()},
        generated=readable_time(datetime.now(timezone.utc).isoformat()),
    )
