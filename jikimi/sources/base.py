"""What every source yields: entries with provenance, in a deterministic order.

The order matters: a resumed scan re-enumerates the source and skips the entries whose
`ordinal` it has already stored, so the same source must always give the same sequence.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import BinaryIO, Callable, Iterator, Protocol

from jikimi.text import UNSTORABLE, storable_text

def raw_name(name: str) -> bytes:
    """The bytes a name stood for: the file system's own bytes, or UTF-8 for text from JSON."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Locator:
    """Where one copy of a file was found. `path` is relative to the source root (POSIX).

    Every text is made storable (see `storable_text`); when that changed the path, `path_bytes`
    keeps the original name's bytes in hex, so the record stays lossless.
    """

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
    path_bytes: str | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str) and UNSTORABLE.search(value):
                object.__setattr__(self, field.name, storable_text(value))
                if field.name == "path":
                    object.__setattr__(self, "path_bytes", raw_name(value).hex())

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
