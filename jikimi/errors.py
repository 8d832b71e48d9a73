"""Exceptions that carry one clear sentence for the user.

Every error raised on untrusted input is one of these, so the scan can record the
message on the item and go on.
"""

from __future__ import annotations

from jikimi import messages


class JikimiError(Exception):
    """Base class: the message is shown to the user as is.

    Raised with `coded(code, **params)`, it also carries the message as a code and parameters
    (`jikimi.messages`), so the web can say it in the reader's language.
    """

    def __init__(self, *args, message: dict | None = None):
        super().__init__(*args)
        self.message = message

    @classmethod
    def coded(cls, code: str, **params) -> JikimiError:
        stored = messages.message(code, **params)
        return cls(messages.english(code, params), message=stored)


class UnsupportedMedia(JikimiError):
    """The bytes are not an image or video we can decode (corrupt, truncated, unknown)."""


class MediaTooLarge(JikimiError):
    """The media exceeds a configured limit (pixels, duration, bytes): a bomb or a huge file."""


class UnsafeArchive(JikimiError):
    """An archive entry would escape its root, is a link, or inflates suspiciously."""


class UnsafePath(JikimiError):
    """A path named by a source (e.g. result.json) points outside the source root."""


class SourceError(JikimiError):
    """The source as a whole cannot be read (missing, invalid result.json, wrong shape)."""


class ExportFormatError(JikimiError):
    """A hash list to import is malformed, or an export format is unknown."""


class WorkspaceError(JikimiError):
    """The workspace is missing, not initialised, or an id does not exist."""


class StorageError(JikimiError):
    """Our own workspace cannot be written (disk full, read-only, I/O error).

    Not the item's fault: a scan stops as interrupted instead of blaming the file, and a
    resume redoes every item the failure touched.
    """
