"""Where suspect material comes from: a folder, a ZIP, a Telegram export or a single file.

This package is the only place that resolves paths named by untrusted input; everything
after it sees entries with a locator and a way to open their bytes.
"""

from __future__ import annotations

from pathlib import Path

from jikimi.errors import SourceError
from jikimi.limits import Limits
from jikimi.sources.archive import NestedArchives, ZipArchive, ZipExport, ZipSource, looks_like_zip
from jikimi.sources.base import Locator, Source, SourceEntry
from jikimi.sources.folder import FolderExport, FolderSource
from jikimi.sources.single import SingleFileSource
from jikimi.sources.telegram import TelegramSource
from jikimi.text import UNSTORABLE, storable_text

__all__ = ["Locator", "Source", "SourceEntry", "open_source"]


def open_source(path: Path, limits: Limits = Limits()) -> Source:
    """The source for `path`, chosen by what it is rather than by its name; ZIPs inside it are
    opened too (see NestedArchives).

    Raises SourceError when the path is missing or the source as a whole cannot be read.
    """
    if UNSTORABLE.search(str(path)):  # a workspace records the path of every source as text
        raise SourceError(f"the source's path is not UTF-8 text ({storable_text(str(path))}): rename it, "
                          "or scan the folder that holds it")
    return NestedArchives(_outer_source(Path(path), limits), limits)


def _outer_source(path: Path, limits: Limits) -> Source:
    if path.is_dir():
        if (path / "result.json").is_file():
            return TelegramSource(FolderExport(path, limits))
        return FolderSource(path, limits)
    if not path.exists():
        raise SourceError(f"source not found: {path}")
    if not path.is_file():
        raise SourceError(f"source is neither a file nor a folder: {path}")
    try:
        is_zip = looks_like_zip(path)
    except OSError as error:
        raise SourceError(f"source cannot be read: {path}: {error.strerror}") from error
    if not is_zip:
        return SingleFileSource(path, limits)
    archive = ZipArchive(path, limits)
    export = ZipExport.find(archive)
    return TelegramSource(export) if export else ZipSource(archive)
