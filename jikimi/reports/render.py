"""Write a scan report as JSON, CSV or one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from jikimi.errors import ExportFormatError

FORMATS = ("json", "csv", "html")
CSV_COLUMNS = ["item_id", "sha256", "kind", "path", "chat", "message_id", "sender", "date_utc",
               "link", "matches", "error"]


def render(report: dict, fmt: str, thumbnails: dict[str, bytes] | None = None) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "html":
        return _html(report, thumbnails or {})
    raise ExportFormatError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def write(report: dict, fmt: str, path: Path, thumbnails: dict[str, bytes] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, fmt, thumbnails), encoding="utf-8")
    return path


def describe_match(match: dict) -> str:
    """One line a case worker can read: how it matched, what, how close."""
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
    if unixtime is None:
        return ""
    return datetime.fromtimestamp(unixtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def readable_time(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else ""


def duration(scan: dict) -> str:
    if not scan["finished_at"]:
        return "unfinished"
    seconds = (datetime.fromisoformat(scan["finished_at"]) - datetime.fromisoformat(scan["started_at"])).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in report["items"]:
        matches = "; ".join(describe_match(m) for m in item["matches"])
        for locator in item["locators"]:
            writer.writerow([item["id"], item["sha256"] or "", item["kind"], locator.get("path", ""),
                             locator.get("chat", ""), locator.get("message_id", ""), locator.get("sender", ""),
                             utc_time(locator.get("date_unixtime")), locator.get("link", ""), matches,
                             item["error"] or ""])
    return out.getvalue()


def _html(report: dict, thumbnails: dict[str, bytes]) -> str:
    env = Environment(loader=PackageLoader("jikimi.reports"), autoescape=select_autoescape())
    env.filters.update(describe_match=describe_match, utc_time=utc_time, readable_time=readable_time)
    items = report["items"]
    images = {sha: "data:image/jpeg;base64," + base64.b64encode(data).decode() for sha, data in thumbnails.items()}
    return env.get_template("report.html").render(
        scan=report["scan"],
        duration=duration(report["scan"]),
        matched=[i for i in items if i["matches"]],
        errors=[i for i in items if i["error"]],
        allowed=[i for i in items if i["allowed_by"]],
        thumbnails=images,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
