"""StopNCII hash records, as its FetchHashes API returns them (and threatexchange reads them).

A list is the API's response (`{"hashRecords": [...], ...}`), a JSON list of records, or
JSON lines. A record is `{"signalType": "ImagePDQ" | "VideoMD5", "hashValue", "hashStatus",
"caseNumbers": {case: status}, "lastModtimestamp", "CSPFeedbacks": [...]}`. StopNCII keys a
record by its hash, so the hash is its id. Withdrawn and deleted records are not imported
(StopNCII asks platforms to drop them); types we cannot match (video TMK, text, URL) are
skipped with a note. Our feedback goes back as a CSP feedback: confirmed -> Blocked, not
matching -> NotBlocked.
"""

from __future__ import annotations

import json

from jikimi.errors import ExportFormatError
from jikimi.exchange.records import (ListedContent, Origin, ParsedList, check_hash, field_of, json_records,
                                     require_object)

FORMAT = "stopncii"
SIGNAL_TYPES = {"ImagePDQ": ("image", "pdq"), "VideoMD5": ("video", "md5")}
UNUSABLE_TYPES = ("Unknown", "VideoTMK", "Text", "URL")
STATUSES = ("Unknown", "Received", "Active", "Withdrawn", "Deleted")
GONE = ("Withdrawn", "Deleted")
FEEDBACK_VALUES = {"confirmed": "Blocked", "not_matching": "NotBlocked"}
CSP_SOURCE = "jikimi"


def parse(text: str) -> ParsedList:
    parsed = ParsedList([])
    for where, record in json_records(text, "hashRecords"):
        record = require_object(where, record)
        signal_type = field_of(where, record, "signalType", str)
        if signal_type in UNUSABLE_TYPES:
            parsed.skipped.append(f"{where}: {signal_type} signals cannot be matched by Jikimi (skipped)")
            continue
        if signal_type not in SIGNAL_TYPES:
            raise ExportFormatError(f"{where}: unknown signalType {signal_type!r} "
                                    f"(known: {', '.join([*SIGNAL_TYPES, *UNUSABLE_TYPES])})")
        kind, stored = SIGNAL_TYPES[signal_type]
        value = check_hash(where, stored, field_of(where, record, "hashValue", str))
        status = _status(where, field_of(where, record, "hashStatus", str, required=False, default="Active"))
        cases = field_of(where, record, "caseNumbers", dict, required=False, default={})
        for number, case_status in cases.items():
            _status(f"{where}, case {number}", case_status)
        modified = field_of(where, record, "lastModtimestamp", int, required=False)
        if status in GONE:
            parsed.skipped.append(f"{where}: {status} at StopNCII (not imported)")
            continue
        label = "StopNCII " + (", ".join(sorted(cases)) if cases else value[:12])
        origin = Origin(FORMAT, value, dict(cases), status, {"lastModtimestamp": modified} if modified else {})
        parsed.contents.append(ListedContent(kind, label, [(stored, value)], origin=origin))
    return parsed


def _status(where: str, status) -> str:
    if status not in STATUSES:
        raise ExportFormatError(f"{where}: unknown status {status!r} (known: {', '.join(STATUSES)})")
    return status


def format_list(contents: list[ListedContent]) -> str:
    """The FetchHashes shape: one record per image PDQ and per video MD5."""
    records = []
    for content in contents:
        origin = content.origin if content.origin and content.origin.source_format == FORMAT else None
        for signal_type, (kind, stored) in SIGNAL_TYPES.items():
            if content.kind != kind:
                continue
            for value in (v for t, v in content.signals if t == stored):
                records.append(_record(signal_type, value, content, origin))
    stamps = [r["lastModtimestamp"] for r in records]
    return json.dumps({"count": len(records), "nextPageToken": None, "nextSetTimestamp": max(stamps, default=0),
                       "hasMoreRecords": False, "hashRecords": records}, indent=1) + "\n"


def _record(signal_type: str, value: str, content: ListedContent, origin: Origin | None) -> dict:
    feedback = content.origin.feedback if content.origin else None
    modified = (origin.extra.get("lastModtimestamp") if origin else None) or content.created
    return {
        "lastModtimestamp": modified,
        "signalType": signal_type,
        "hashValue": value,
        "hashStatus": origin.status if origin and origin.status else "Active",
        "caseNumbers": origin.case_numbers if origin else {},
        "CSPFeedbacks": [{"feedbackValue": FEEDBACK_VALUES[feedback], "tags": [], "source": CSP_SOURCE}]
        if feedback else [],
    }
