"""Uploads streamed straight to disk: a capped size, and nothing left behind when one fails.

Starlette's form parser spools a whole upload to a temporary file before the route sees it,
and has no cap on a file's size. Here the multipart body is parsed as it arrives: each
chunk of the one expected file goes into a private folder of the workspace, the upload is
refused the moment it passes the cap, and a failed or partial upload is deleted at once.
A browser form's CSRF field must come before its file (it does, in document order), so no
byte of a forged request is ever written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from jikimi import accounts
from jikimi.errors import JikimiError
from jikimi.web.auth import CSRF_FIELD, FORM_LIMITS, Forbidden
from jikimi.web.forms import safe_name

MAX_FIELD_BYTES = FORM_LIMITS["max_part_size"]
MAX_FIELDS = FORM_LIMITS["max_fields"]


class UploadTooLarge(JikimiError):
    """Answered 413: the upload passed the size cap and was deleted."""


@dataclass
class Upload:
    """The form's text fields and the one saved file (None when the form had none)."""

    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    filename: str | None = None  # as the browser named it (shown, never used as a path)
    size: int = 0

    def discard(self) -> None:
        """Delete the saved file and its private folder (after a refused scan, or a verify)."""
        if self.path is not None:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            self.path = None


class _Parser:
    def __init__(self, request: Request, file_field: str, folder_root: Path, max_bytes: int):
        self.request, self.file_field, self.folder_root, self.max_bytes = request, file_field, folder_root, max_bytes
        self.upload = Upload()
        self.csrf_ok = not hasattr(request.state, "csrf_expected")
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name: str | None = None
        self.text: bytearray | None = None
        self.out = None
        self.folder: Path | None = None

    def on_part_begin(self) -> None:
        self.headers, self.name, self.text, self.out = {}, None, None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise JikimiError("the form has too many fields")
            self.text = bytearray()
            return
        if self.name != self.file_field or not filename:
            return  # an empty file input, or a file the route does not take: skipped
        if not self.csrf_ok:
            raise Forbidden("the form has expired or did not come from this site: reload the page and try again")
        if self.upload.path is not None:
            raise JikimiError("upload one file at a time")
        self.upload.filename = filename.decode("utf-8", "replace")
        self.folder_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(dir=self.folder_root))
        self.upload.path = self.folder / safe_name(self.upload.filename)
        fd = os.open(self.upload.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.out = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_FIELD_BYTES:
                raise JikimiError(f"the form field {self.name!r} is too long")
        elif self.out is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise UploadTooLarge(f"the file is larger than the limit of {self.max_bytes:,} bytes")
            self.out.write(data[start:end])

    def on_part_end(self) -> None:
        if self.text is not None and self.name:
            value = self.text.decode("utf-8", "replace")
            self.upload.fields[self.name] = value
            if self.name == CSRF_FIELD and not self.csrf_ok:
                self.csrf_ok = accounts.same(value, self.request.state.csrf_expected)
        if self.out is not None:
            self.out.close()
            self.out = None
        self.text = None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive(request: Request, file_field: str, root: Path, max_bytes: int) -> Upload:
    """Parse a multipart form as it arrives, saving `file_field` under `root` (at most `max_bytes`)."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise JikimiError("send the file as a multipart form")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + len(boundary) * 4 + MAX_FIELDS * MAX_FIELD_BYTES:
        raise UploadTooLarge(f"the file is larger than the limit of {max_bytes:,} bytes")
    parser = _Parser(request, file_field, root, max_bytes)
    multipart = MultipartParser(boundary, {
        "on_part_begin": parser.on_part_begin, "on_header_field": parser.on_header_field,
        "on_header_value": parser.on_header_value, "on_header_end": parser.on_header_end,
        "on_headers_finished": parser.on_headers_finished, "on_part_data": parser.on_part_data,
        "on_part_end": parser.on_part_end})
    try:
        try:
            async for chunk in request.stream():
                multipart.write(chunk)
            multipart.finalize()
        except FormParserError:
            raise JikimiError("the upload is not a well-formed form: send it again") from None
        if not parser.csrf_ok:
            raise Forbidden("the form has expired or did not come from this site: reload the page and try again")
    except BaseException:
        parser.close()
        parser.upload.discard()  # a failed or partial upload is deleted at once
        raise
    return parser.upload
