"""What every exchange format parses into, and the checks every hash goes through.

A record is one piece of content with one or more hashes (an NCMEC entry carries an MD5, a
SHA-1 and a PDQ of the same picture), with where it came from (`Origin`) so our feedback can
be sent back. A bad record stops the whole import with its line or record number: a list is
imported entirely or not at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jikimi.errors import ExportFormatError

HEX_LENGTHS = {"sha256": 64, "md5": 32, "sha1": 40, "pdq": 64}
HEX = re.compile(r"^[0-9a-f]+$")
# A line or record longer than this is refused before it is parsed: a vpdq line of a
# two-hour video at one frame a second is about 560,000 characters.
MAX_RECORD_CHARS = 1_000_000
ZERO_PDQ = "0" * 64  # the hash of a blank picture; a feed's corrupt entries carry it (ThreatExchange #1609)


@dataclass
class FrameSignal:
    pdq: str
    quality: int
    timestamp: float


@dataclass
class Origin:
    """The record at its source: its id there, case numbers, status, and our feedback on it."""

    source_format: str  # stopncii | ncmec | hma
    external_id: str | None = None
    case_numbers: dict = field(default_factory=dict)
    status: str | None = None
    extra: dict = field(default_factory=dict)
    feedback: str | None = None  # confirmed | not_matching (ours, to send back)


@dataclass
class ListedContent:
    kind: str  # image | video | other
    label: str
    signals: list[tuple[str, str]]  # (stored type: sha256 | md5 | sha1 | pdq, lower-case hex)
    frames: list[FrameSignal] = field(default_factory=list)
    origin: Origin | None = None
    created: int = 0  # unix seconds it was banked (exports that carry a time)
    local_id: int | None = None  # our bank content id, for exports of content that has no id elsewhere


@dataclass
class ParsedList:
    contents: list[ListedContent]
    skipped: list[str] = field(default_factory=list)  # "record 4: ..." for records we cannot use


def check_hash(where: str, signal_type: str, value: Any, frame: bool = False) -> str:
    """The hash in lower case, or a one-line refusal naming the line or record. A video
    frame's PDQ may be all zero (a black frame, which its quality of 0 leaves unmatched)."""
    if not isinstance(value, str):
        raise ExportFormatError(f"{where}: a {signal_type} signal must be a string, not {type(value).__name__}")
    value = value.strip().lower()
    length = HEX_LENGTHS[signal_type]
    if len(value) != length or not HEX.match(value):
        raise ExportFormatError(f"{where}: a {signal_type} signal must be {length} hex characters")
    if signal_type == "pdq" and value == ZERO_PDQ and not frame:
        raise ExportFormatError(f"{where}: an all-zero PDQ hash (a blank or corrupt picture) is refused")
    return value


def check_length(where: str, text: str) -> None:
    if len(text) > MAX_RECORD_CHARS:
        raise ExportFormatError(f"{where}: longer than {MAX_RECORD_CHARS:,} characters")


def json_records(text: str, list_key: str | None = None) -> list[tuple[str, Any]]:
    """(where, record) pairs from a JSON array (or an object holding one under `list_key`),
    or from JSON lines. Truncated JSON is refused with the line and column it stops at."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")) and not _looks_like_json_lines(stripped):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            raise ExportFormatError(f"line {e.lineno} column {e.colno}: truncated or invalid JSON ({e.msg})") from None
        if isinstance(document, dict) and list_key is not None and list_key in document:
            document = document[list_key]
        if not isinstance(document, list):
            raise ExportFormatError(f"expected a JSON list of records{f' or an object with {list_key!r}' if list_key else ''}")
        return [(f"record {n}", record) for n, record in enumerate(document, 1)]
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        check_length(f"line {n}", line)
        try:
            records.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise ExportFormatError(f"line {n}: truncated or invalid JSON ({e.msg})") from None
    return records


def _looks_like_json_lines(text: str) -> bool:
    """A first line that is a whole JSON object by itself, followed by more: JSON lines."""
    first, _, rest = text.partition("\n")
    if not rest.strip() or not first.rstrip().endswith("}"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def field_of(where: str, record: dict, name: str, kind: type | tuple, required: bool = True, default: Any = None):
    """A field of a JSON record, of the expected type (booleans are not numbers)."""
    if name not in record or record[name] is None:
        if required:
            raise ExportFormatError(f"{where}: the field {name!r} is missing")
        return default
    value = record[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ExportFormatError(f"{where}: the field {name!r} must be {names}, not {type(value).__name__}")
    return value


def require_object(where: str, record: Any) -> dict:
    if not isinstance(record, dict):
        raise ExportFormatError(f"{where}: expected a JSON object, not {type(record).__name__}")
    return record
