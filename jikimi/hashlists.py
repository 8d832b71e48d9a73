"""Hash-list formats shared with platforms and hotlines.

Line formats of the `threatexchange` CLI: a tx line is `<signal_type> <signal>`, CSV rows are
`signal_type,signal,note`; video hashes use threatexchange's names (`video_md5`, `vpdq`).
Exchange formats, with ids, case numbers, statuses and our feedback (jikimi/exchange/):
`stopncii` (StopNCII hash records), `ncmec` (NCMEC hash-sharing XML), `hma` (HMA bank
contents). Every format is parsed whole before anything is stored; the first bad line or
record refuses the list with its number (docs/exchange.md).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from jikimi.errors import ExportFormatError
from jikimi.exchange import hma, ncmec, stopncii
from jikimi.exchange.records import (HEX_LENGTHS as STORED_HEX_LENGTHS, FrameSignal, ListedContent, ParsedList,
                                     check_hash, check_length)

HEX_LENGTHS = {**STORED_HEX_LENGTHS, "video_sha256": 64, "video_md5": 32}
SIGNAL_TYPES = sorted([*HEX_LENGTHS, "vpdq"])
LINE_FORMATS = ("tx", "csv")
EXCHANGE_FORMATS = {"stopncii": stopncii, "ncmec": ncmec, "hma": hma}
FORMATS = (*LINE_FORMATS, *EXCHANGE_FORMATS)

__all__ = ["FrameSignal", "ListedContent", "ListedSignal", "ParsedList", "parse", "parse_contents",
           "format_list", "format_contents"]


@dataclass
class ListedSignal:
    """One line of a hash list: a type, its value (or frames for vpdq), and a note."""

    signal_type: str
    value: str
    note: str = ""
    frames: list[FrameSignal] = field(default_factory=list)


def _unknown(fmt: str) -> ExportFormatError:
    return ExportFormatError(f"unknown hash-list format {fmt!r}: use {', '.join(FORMATS)}")


def parse(text: str, fmt: str) -> list[ListedSignal]:
    """Parse a whole tx or CSV list; the first bad line stops the import with its line number."""
    if fmt == "tx":
        parsed = []
        for n, line in enumerate(text.splitlines(), 1):
            check_length(f"line {n}", line)
            row = line.split(None, 1)
            if row and not row[0].startswith("#"):
                parsed.append(_parse_row(n, row[0], row[1] if len(row) > 1 else "", ""))
    elif fmt == "csv":
        parsed = []
        reader = csv.reader(io.StringIO(text))
        try:
            for row in reader:
                n = reader.line_num
                if not row or (n == 1 and row[0].strip().lower() == "signal_type"):
                    continue
                if len(row) < 2:
                    raise ExportFormatError(f"line {n}: expected signal_type,signal,note")
                parsed.append(_parse_row(n, row[0], row[1], row[2] if len(row) > 2 else ""))
        except csv.Error as e:
            raise ExportFormatError(f"line {reader.line_num}: not a CSV row ({e})") from None
    else:
        raise _unknown(fmt)
    return parsed


def parse_contents(text: str, fmt: str) -> ParsedList:
    """Any format as bank contents (one per tx/CSV line, one per exchange record)."""
    if fmt in EXCHANGE_FORMATS:
        return EXCHANGE_FORMATS[fmt].parse(text)
    return ParsedList([_as_content(s) for s in parse(text, fmt)])


def _as_content(signal: ListedSignal) -> ListedContent:
    label = signal.note or f"imported {signal.signal_type}"
    if signal.frames:
        return ListedContent("video", label, [], signal.frames)
    kind = "video" if signal.signal_type.startswith("video_") else "image" if signal.signal_type == "pdq" else "other"
    return ListedContent(kind, label, [(signal.signal_type.removeprefix("video_"), signal.value)])


def _parse_row(line: int, signal_type: str, value: str, note: str) -> ListedSignal:
    signal_type, value = signal_type.strip().lower(), value.strip()
    if signal_type == "vpdq":
        return ListedSignal("vpdq", "", note, _parse_vpdq(line, value))
    if signal_type not in HEX_LENGTHS:
        raise ExportFormatError(
            f"line {line}: unknown signal type {signal_type!r} (known: {', '.join(SIGNAL_TYPES)})"
        )
    return ListedSignal(signal_type, check_hash(f"line {line}", signal_type.removeprefix("video_"), value), note)


def _parse_vpdq(line: int, value: str) -> list[FrameSignal]:
    """threatexchange's vpdq signal: a JSON list of "pdq_hex,quality,timestamp" strings."""
    try:
        frames = []
        for feature in json.loads(value):
            pdq, quality, timestamp = feature.split(",")
            frames.append(FrameSignal(check_hash(f"line {line}", "pdq", pdq, frame=True), int(quality), float(timestamp)))
    except (ValueError, TypeError, AttributeError, ExportFormatError):
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
    raise _unknown(fmt)


def format_contents(contents: list[ListedContent], fmt: str, bank_name: str) -> str:
    if fmt == "hma":
        return hma.format_list(contents, bank_name)
    if fmt in EXCHANGE_FORMATS:
        return EXCHANGE_FORMATS[fmt].format_list(contents)
    return format_list([s for c in contents for s in _as_signals(c)], fmt)


def _as_signals(content: ListedContent) -> list[ListedSignal]:
    """tx/CSV lines of a content: video hashes get threatexchange's video_ names."""
    video = content.kind == "video"
    listed = [ListedSignal(f"video_{t}" if video and t in ("md5", "sha256") else t, v, content.label)
              for t, v in content.signals]
    if content.frames:
        listed.append(ListedSignal("vpdq", "", content.label, content.frames))
    return listed
