"""What every source yields: entries with provenance, in a deterministic order.

The order matters: a resumed scan re-enumerates the source and skips the entries whose
`ordinal` it has already stored, so the same source must always give the same sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import BinaryIO, Callable, Iterator, Protocol


@dataclass(frozen=True)
class Locator:
    """Where one copy of a file was found. `path` is relative to the source root (POSIX)."""

    path: str
    chat: str | None = None
    chat_id: int | None = None
    chat_type: str | None = None
    message_id: int | None = None
    sender: str | None = None
    sender_id: str | None = None
    forwarded_from: str | None = None
    date_unixtime: int | None = None
    link: str | None = None
    text: str | None = None
    media_type: str | None = None
    mime_type: str | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class SourceEntry:
    """One posted file. `open` returns its raw bytes; it is None when `error` says why not."""

    ordinal: int
    locator: Locator
    open: Callable[[], BinaryIO] | None
    error: str | None = None


class Source(Protocol):
    kind: str  # "folder" | "zip" | "file" | "telegram"

    def entries(self) -> Iterator[SourceEntry]: ...
