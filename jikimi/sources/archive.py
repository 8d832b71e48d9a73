"""ZIP archives, read in place without extracting anything to disk.

An archive from an abuser can carry names that escape the folder it would be unpacked in,
symlinks, encrypted entries, or a few kilobytes that inflate to terabytes. Each bad entry
becomes an entry with an error and the rest of the archive is still scanned; sizes are
counted while reading because the header's sizes are whatever the author wrote.
"""

from __future__ import annotations

import io
import lzma
import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import replace
from functools import partial
from itertools import count
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from jikimi.errors import JikimiError, MediaTooLarge, SourceError, UnsafeArchive, UnsafePath
from jikimi.limits import Limits
from jikimi.sources.base import Locator, Source, SourceEntry

ZIP_MAGIC = b"PK\x03\x04"
# The ratio is judged together with an absolute size: an entry may inflate beyond it until
# it reaches this many bytes. A chat's result.json of a few MB can compress 1000:1 (the same
# words again and again), while a bomb is only harmful at gigabytes; 32 MiB costs nothing.
RATIO_FLOOR_BYTES = 32 * 1024**2
# Archives inside the scanned source are opened this many levels deep (a zip in a zip in a
# folder); a deeper one is kept as evidence but not opened, since only bombs nest further.
MAX_NESTED_ZIPS = 2
NESTED_SEPARATOR = "!/"  # "outer.zip!/inner.jpg", as jar: URLs name a file inside an archive
READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
DAMAGE = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, NotImplementedError)
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(4) == ZIP_MAGIC or path.suffix.lower() == ".zip"


def unsafe_name(name: str) -> bool:
    """True for names an unpacker could write outside its folder (on POSIX or Windows)."""
    parts = re.split(r"[/\\]", name)
    return name.startswith(("/", "\\")) or bool(DRIVE_LETTER.match(name)) or ".." in parts


class ZipArchive:
    """An open archive whose entry list passed the whole-archive checks."""

    def __init__(self, file: Path | BinaryIO, limits: Limits = Limits(), name: str | None = None):
        """`file` is a path or a seekable binary file; `name` names it in errors (default: its file name)."""
        self.limits = limits
        name = name or Path(file).name
        try:
            self._zip = zipfile.ZipFile(file)
        except DAMAGE as error:
            raise SourceError(f"{name} is not a valid zip archive: {error}") from error
        members = self._zip.infolist()
        if len(members) > limits.max_zip_entries:
            raise SourceError(
                f"{name} has {len(members)} entries, over the limit of {limits.max_zip_entries}"
            )
        # Entries that share compressed bytes are the trick of the largest zip bombs.
        size = os.path.getsize(file) if isinstance(file, (str, Path)) else file.seek(0, os.SEEK_END)
        if sum(member.compress_size for member in members) > size:
            raise SourceError(f"{name} is not a valid zip archive: its entries overlap, as in a zip bomb")
        self.files = sorted(
            (member for member in members if not member.is_dir()),
            key=lambda member: (member.filename, member.header_offset),
        )
        self._by_name = {member.filename: member for member in self.files}

    def find(self, name: str) -> zipfile.ZipInfo | None:
        return self._by_name.get(name)

    def problem(self, member: zipfile.ZipInfo) -> str | None:
        """Why this entry must not be read, or None when it is safe to read."""
        if unsafe_name(member.filename):
            return "zip entry name points outside the archive"
        if stat.S_ISLNK(member.external_attr >> 16):
            return "zip entry is a symlink"
        if member.flag_bits & 0x1:
            return "zip entry is encrypted"
        if member.compress_type not in READABLE_METHODS:
            return f"zip entry uses compression method {member.compress_type}, which is not supported"
        return None

    def open(self, member: zipfile.ZipInfo) -> BinaryIO:
        try:
            inner = self._zip.open(member)
        except DAMAGE as error:
            raise UnsafeArchive(f"zip entry is damaged and cannot be read: {error}") from error
        ratio_limit = self.limits.max_zip_ratio * member.compress_size
        return io.BufferedReader(LimitedEntryStream(inner, ratio_limit, self.limits))


class LimitedEntryStream(io.RawIOBase):
    """Inflates one entry and stops as soon as it exceeds the ratio or the file size limit."""

    def __init__(self, inner: BinaryIO, ratio_limit: float, limits: Limits):
        self._inner = inner
        self._ratio_limit = ratio_limit
        self._limits = limits
        self._bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._inner.read(len(buffer))
        except DAMAGE as error:
            raise UnsafeArchive(f"zip entry is damaged and cannot be read: {error}") from error
        self._bytes_read += len(data)
        if self._bytes_read > self._ratio_limit and self._bytes_read > RATIO_FLOOR_BYTES:
            raise UnsafeArchive(
                f"zip entry inflates to more than {self._limits.max_zip_ratio:g} times its compressed size, "
                "like a zip bomb, so reading it was stopped"
            )
        if self._bytes_read > self._limits.max_file_bytes:
            raise MediaTooLarge(f"zip entry is larger than the limit of {self._limits.max_file_bytes} bytes")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class ZipSource:
    kind = "zip"

    def __init__(self, archive: ZipArchive):
        self.archive = archive

    def entries(self) -> Iterator[SourceEntry]:
        for ordinal, member in enumerate(self.archive.files):
            problem = self.archive.problem(member)
            opener = None if problem else partial(self.archive.open, member)
            yield SourceEntry(ordinal, Locator(path=member.filename), opener, problem)


class ZipExport:
    """The files of a Telegram export inside an archive, at its root or in one top-level folder."""

    def __init__(self, archive: ZipArchive, folder: str):
        self.archive = archive
        self.folder = folder  # "" or "Name/"

    @classmethod
    def find(cls, archive: ZipArchive) -> ZipExport | None:
        """The export in this archive, if result.json sits at its root or in one top-level folder."""
        if archive.find("result.json"):
            return cls(archive, "")
        folders = [
            member.filename.removesuffix("result.json")
            for member in archive.files
            if member.filename.endswith("/result.json") and member.filename.count("/") == 1
        ]
        return cls(archive, folders[0]) if len(folders) == 1 else None

    def opener(self, name: str) -> Callable[[], BinaryIO]:
        full_name = posixpath.normpath(self.folder + name)
        if unsafe_name(name) or unsafe_name(full_name) or not full_name.startswith(self.folder):
            raise UnsafePath(f"path points outside the export: {name}")
        member = self.archive.find(full_name)
        if member is None:
            raise FileNotFoundError(name)
        problem = self.archive.problem(member)
        if problem:
            raise UnsafeArchive(problem)
        return partial(self.archive.open, member)


class NestedArchives:
    """A source whose ZIP entries are opened too, their entries following the archive's own.

    The archive itself stays an entry (it is evidence); its entries are named
    `archive.zip!/name` and read with the same limits. Each opened archive is spooled to an
    anonymous temporary file, kept until the source is enumerated again.
    """

    def __init__(self, source: Source, limits: Limits):
        self.source, self.kind, self.limits = source, source.kind, limits
        self._spools: list[BinaryIO] = []

    def entries(self) -> Iterator[SourceEntry]:
        for spool in self._spools:
            spool.close()
        self._spools = []
        ordinals = count()
        for entry in self.source.entries():
            for found in self._expand(entry, 1):
                yield replace(found, ordinal=next(ordinals))

    def _expand(self, entry: SourceEntry, depth: int) -> Iterator[SourceEntry]:
        if entry.open is None or entry.error is not None or not _is_zip(entry):
            yield entry
            return
        if depth > MAX_NESTED_ZIPS:
            yield replace(entry, error=f"zip archive nested more than {MAX_NESTED_ZIPS} deep: "
                                       "kept, but its entries were not opened")
            return
        try:
            archive = self._open(entry)
        except SourceError as error:
            yield replace(entry, error=f"zip archive inside the source cannot be opened: {error}")
            return
        except (OSError, JikimiError):  # the scan meets the same error when it collects the entry
            yield entry
            return
        yield entry
        for member in ZipSource(archive).entries():
            path = entry.locator.path + NESTED_SEPARATOR + member.locator.path
            yield from self._expand(replace(member, locator=replace(entry.locator, path=path)), depth + 1)

    def _open(self, entry: SourceEntry) -> ZipArchive:
        spool = tempfile.TemporaryFile()
        self._spools.append(spool)
        with entry.open() as stream:
            shutil.copyfileobj(stream, spool)
        return ZipArchive(spool, self.limits, name="it")


def _is_zip(entry: SourceEntry) -> bool:
    try:
        with entry.open() as stream:
            return stream.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except (OSError, JikimiError):
        return False
