"""HMA (Meta's Hasher-Matcher-Actioner) bank contents, as its curation API returns them
(`GET /c/bank/<name>/content/<id>`: `{"id", "bank": {"name", "matching_enabled_ratio"},
"signals": {signal type: hash}, "disable_until_ts", "note", "metadata"}`), as a JSON list,
an object with a `contents` list, or JSON lines.

HMA names signal types as threatexchange does: `pdq`, `video_md5`, `vpdq` (its frames as
threatexchange writes them: a JSON list of "pdq_hex,quality,timestamp"). Other types
(`url`, `text`, ...) are not used; a content with none we can use is skipped with a note.
Our feedback travels in the content's free-form `metadata.json`, which HMA keeps as given.
"""

from __future__ import annotations

import json
import re

from jikimi.errors import ExportFormatError
from jikimi.exchange.records import (FrameSignal, ListedContent, Origin, ParsedList, check_hash, field_of,
                                     json_records, require_object)

FORMAT = "hma"
SIGNAL_TYPES = {"pdq": ("image", "pdq"), "video_md5": ("video", "md5")}
FEEDBACK_KEY = "jikimi_feedback"
HMA_BANK_NAME = re.compile(r"[^A-Z0-9_]")  # HMA bank names match /^[A-Z0-9_]+$/
NOTE_CHARS = 255  # HMA's limit on a content note


def parse(text: str) -> ParsedList:
    parsed = ParsedList([])
    for where, record in json_records(text, "contents"):
        record = require_object(where, record)
        signals = field_of(where, record, "signals", dict)
        content_id = field_of(where, record, "id", int, required=False)
        note = field_of(where, record, "note", str, required=False)
        disabled = field_of(where, record, "disable_until_ts", int, required=False)
        metadata = field_of(where, record, "metadata", dict, required=False, default={})
        kind, rows, frames, unused = "image", [], [], []
        for name, value in signals.items():
            if name in SIGNAL_TYPES:
                kind, stored = SIGNAL_TYPES[name]
                rows.append((stored, check_hash(f"{where}, {name}", stored, value)))
            elif name == "vpdq":
                kind, frames = "video", _frames(f"{where}, vpdq", value)
            else:
                unused.append(name)
        if not rows and not frames:
            parsed.skipped.append(f"{where}: no pdq, video_md5 or vpdq signal (skipped)")
            continue
        extra = {k: v for k, v in (("note", note), ("disable_until_ts", disabled), ("metadata", metadata),
                                   ("unused_signals", unused)) if v}
        origin = Origin(FORMAT, None if content_id is None else str(content_id), {}, None, extra)
        label = note or (f"HMA content {content_id}" if content_id is not None else "HMA content")
        parsed.contents.append(ListedContent(kind, label, rows, frames, origin))
    return parsed


def _frames(where: str, value) -> list[FrameSignal]:
    """threatexchange's vpdq serialisation; each frame's PDQ is checked like any other."""
    try:
        features = json.loads(value) if isinstance(value, str) else None
        if not isinstance(features, list) or not features:
            raise ValueError
        frames = []
        for feature in features:
            pdq, quality, timestamp = feature.split(",")
            frames.append(FrameSignal(check_hash(where, "pdq", pdq, frame=True), int(quality), float(timestamp)))
    except (ValueError, TypeError, AttributeError, ExportFormatError):
        raise ExportFormatError(f"{where}: must be a JSON list of \"pdq_hex,quality,timestamp\"") from None
    return frames


def format_list(contents: list[ListedContent], bank_name: str) -> str:
    bank = {"name": HMA_BANK_NAME.sub("_", bank_name.upper()), "matching_enabled_ratio": 1.0}
    records = []
    for content in contents:
        signals = {name: value for name, (kind, stored) in SIGNAL_TYPES.items() if kind == content.kind
                   for t, value in content.signals if t == stored}
        if content.frames:
            signals["vpdq"] = json.dumps([f"{f.pdq},{f.quality},{f.timestamp:.3f}" for f in content.frames],
                                         separators=(",", ":"))
        if not signals:
            continue
        origin = content.origin
        own = origin if origin and origin.source_format == FORMAT else None
        metadata = dict(own.extra.get("metadata", {})) if own else {}
        if origin and origin.feedback:
            user_json = metadata.get("json") if isinstance(metadata.get("json"), dict) else {}
            metadata["json"] = {**user_json, FEEDBACK_KEY: origin.feedback}
        records.append({
            "id": int(own.external_id) if own and own.external_id else content.local_id,
            "bank": bank,
            "signals": signals,
            "disable_until_ts": own.extra.get("disable_until_ts", 0) if own else 0,
            "note": content.label[:NOTE_CHARS],
            "metadata": metadata or None,
        })
    return json.dumps(records, indent=1, ensure_ascii=False) + "\n"
