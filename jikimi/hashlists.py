"""Hash-list formats shared with platforms: the `threatexchange` CLI's lines and CSV.

A tx line is `<signal_type> <signal>`, as `threatexchange` reads and writes them; CSV rows are
`signal_type,signal,note`. Video hashes use threatexchange's names (`video_md5`, `vpdq`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from jikimi.errors import ExportFormatError

HEX_LENGTHS = {"sha256": 64, "video_sha256": 64, "md5": 32, "video_md5": 32, "pdq": 64}
SIGNAL_TYPES = sorted([*HEX_LENGTHS, "vpdq"])
HEX = re.compile(r"^[0-9a-f]+$")


@dataclass
class FrameSignal:
    pdq: str
    quality: int
    timestamp: float


@dataclass
class ListedSignal:
    """One line of a hash list: a type, its value (or frames for vpdq), and a note."""

    signal_type: str
    value: str
    note: str = ""
    frames: list[FrameSignal] = field(default_factory=list)


def parse(text: str, fmt: str) -> list[ListedSignal]:
    """Parse a whole list; the first bad line stops the import with its line number."""
    if fmt == "tx":
        rows = [line.split(None, 1) for line in text.splitlines()]
        numbered = [(n, row) for n, row in enumerate(rows, 1) if row and not row[0].startswith("#")]
        parsed = [_parse_row(n, row[0], row[1] if len(row) > 1 else "", "") for n, row in numbered]
    elif fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        parsed = []
        for n, row in enumerate(reader, 1):
            if not row or (n == 1 and row[0].strip().lower() == "signal_type"):
                continue
            if len(row) < 2:
                raise ExportFormatError(f"line {n}: expected signal_type,signal,note")
            parsed.append(_parse_row(n, row[0], row[1], row[2] if len(row) > 2 else ""))
    else:
        raise ExportFormatError(f"unknown hash-list format {fmt!r}: use tx or csv")
    return parsed


def _parse_row(line: int, signal_type: str, value: str, note: str) -> ListedSignal:
    signal_type, value = signal_type.strip().lower(), value.strip()
    if signal_type == "vpdq":
        return ListedSignal("vpdq", "", note, _parse_vpdq(line, value))
    if signal_type not in HEX_LENGTHS:
        raise ExportFormatError(
            f"line {line}: unknown signal type {signal_type!r} (known: {', '.join(SIGNAL_TYPES)})"
        )
    value = value.lower()
    if len(value) != HEX_LENGTHS[signal_type] or not HEX.match(value):
        raise ExportFormatError(
            f"line {line}: a {signal_type} signal must be {HEX_LENGTHS[signal_type]} hex characters"
        )
    return ListedSignal(signal_type, value, note)


def _parse_vpdq(line: int, value: str) -> list[FrameSignal]:
    """threatexchange's vpdq signal: a JSON list of "pdq_hex,quality,timestamp" strings."""
    try:
        frames = []
        for feature in json.loads(value):
            pdq, quality, timestamp = feature.split(",")
            if len(pdq) != 64 or not HEX.match(pdq.lower()):
                raise ValueError
            frames.append(FrameSignal(pdq.lower(), int(quality), float(timestamp)))
    except (ValueError, TypeError, AttributeError):
        raise ExportFormatError(
            f"line {line}: a vpdq signal must be a JSON list of \"pdq_hex,quality,timestamp\""
        ) from None
    if not frames:
        raise ExportFormatError(f"line {line}: a vpdq signal has no frames")
    return frames


def vpdq_value(frames: list[FrameSignal]) -> str:
    return json.dumps([f"{f.pdq},{f.quality},{f.timestamp:.3f}" for f in frames], separators=(",", ":"))


def format_list(signals: list[ListedSignal], fmt: str) -> str:
    values = [(s.signal_type, vpdq_value(s.frames) if s.frames else s.value, s.note) for s in signals]
    if fmt == "tx":
        return "".join(f"{kind} {value}\n" for kind, value, _ in values)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["signal_type", "signal", "note"])
        writer.writerows(values)
        return out.getvalue()
    raise ExportFormatError(f"unknown hash-list format {fmt!r}: use tx or csv")
