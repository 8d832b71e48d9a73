"""Write a scan report as JSON, CSV or one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi import clock
from jikimi.audit import AuditLog
from jikimi.errors import ExportFormatError, JikimiError
from jikimi.private_output import write_private
from jikimi.reports.crops import face_crop_jpeg
from jikimi.reports.data import posted_in
from jikimi.store.models import Content, Item, Match
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


def report_media(ws: Workspace, session: Session, report: dict, actor: str) -> ReportMedia:
    """Collect the report's pictures; cutting faces out of originals is logged as an access."""
    matched = [item for item in report["items"] if item["matches"]]
    thumbnails = {sha: ws.vault.open_thumbnail(sha, stored) for sha, stored in session.execute(
        select(Content.sha256, Content.thumbnail).distinct()
        .join(Item, Item.sha256 == Content.sha256).join(Match, Match.item_id == Item.id)
        .where(Item.id.in_(posted_in(report["scan"]["id"])), Content.thumbnail.is_not(None)))}
    face_ids = sorted({m["face_id"] for item in matched for m in item["matches"]
                       if m["kind"] == "face" and m["face_id"] is not None})
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


def render(report: dict, fmt: str, media: ReportMedia | None = None) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "html":
        return _html(report, media or ReportMedia())
    raise ExportFormatError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def write(report: dict, fmt: str, path: Path, media: ReportMedia | None = None) -> Path:
    """Write the report owner-only (0600): it names chats and people, and may show faces."""
    return write_private(path, render(report, fmt, media))


def describe_match(match: dict) -> str:
    """One line a case worker can read: how it matched, what, how close."""
    if match["kind"] in ("face", "derived") and match.get("other_case"):
        return f"{match['kind']} · {match['note']}"
    if match["kind"] == "derived":
        return (f"derived · edited copy of the photo '{match['source']}' of subject {match['target']} "
                f"({round(100 * match['changed_fraction'])}% of it changed, {match['inliers']} matching points)")
    if match["kind"] == "face":
        where = f" in the frame at {match['frame_time']:.0f} s" if match.get("frame_time") is not None else ""
        level = f"{match['level']} match, " if match.get("level") else ""
        return f"face · subject {match['target']} ({level}distance {match['distance']:.2f}){where}"
    text = f"{match['kind']} · {match['bank']} / {match['target']}"
    if match.get("distance") is not None and match["kind"] in ("pdq", "vpdq"):
        text += f" (distance {match['distance']:g})"
    if "frame_time" in match:
        text += f", frame at {match['frame_time']:.0f} s"
    if "known_frame_time" in match:
        text += f", known video at {match['known_frame_time']:.0f} s"
    if "query_match_percent" in match:
        text += f", {match['query_match_percent']:g}% / {match['compared_match_percent']:g}% of frames"
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


def duration(scan: dict) -> str:
    if not scan["finished_at"]:
        return "unfinished"
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


def _html(report: dict, media: ReportMedia) -> str:
    env = Environment(loader=PackageLoader("jikimi.reports"), autoescape=select_autoescape())
    env.filters.update(describe_match=describe_match, local_time=local_time, readable_time=readable_time)
    items = report["items"]
    images = {sha: _data_uri(data) for sha, data in media.thumbnails.items()}
    return env.get_template("report.html").render(
        scan=report["scan"],
        custody_head=report.get("custody_head"),
        duration=duration(report["scan"]),
        matched=[i for i in items if i["matches"]],
        errors=[i for i in items if i["error"]],
        allowed=[i for i in items if i["allowed_by"]],
        thumbnails=images,
        crops={face_id: _data_uri(data) for face_id, data in media.face_crops.items()},
        generated=readable_time(datetime.now(timezone.utc).isoformat()),
    )
