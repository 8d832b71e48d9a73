"""A folder of files, walked recursively.

The folder comes from the people who traded the images, so its symlinks are untrusted: one
that leads outside the folder becomes an entry with an error instead of being followed.
"""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from jikimi.errors import MediaTooLarge, UnsafePath, UnsupportedMedia
from jikimi.limits import Limits
from jikimi.sources.base import Locator, SourceEntry

# (source-relative name, opener, error): one entry before it gets its ordinal.
Found = tuple[str, Callable[[], BinaryIO] | None, str | None]


# What a directory entry is when it is not a regular file, for the entry's error.
SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                 (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def resolve_inside(root: Path, name: str) -> Path | None:
    """The real path of `name` under the real path `root`, or None if it leads outside.

    Covers absolute names, `..` components and symlinks at any depth in one check.
    Raises UnsafePath for a name no file system can hold (a NUL, a lone surrogate).
    """
    if "\0" in name:
        raise UnsafePath("the path in the export contains a NUL character")
    try:
        target = Path(os.path.realpath(root / name))
    except UnicodeEncodeError:  # text from JSON that is no file name's bytes
        raise UnsafePath("the path in the export is not valid text") from None
    return target if target.is_relative_to(root) else None


def not_regular(mode: int) -> str | None:
    """Why a file of this mode cannot be read as a file (opening a FIFO would block), or None."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in SPECIAL_FILES if test(mode)), "a special file")
    return f"not a regular file but {kind}"


def open_file(path: Path, limits: Limits) -> BinaryIO:
    """Open a local file for reading, refusing one larger than the file size limit.

    O_NONBLOCK: a file swapped for a FIFO after the walk is refused instead of hanging the scan.
    """
    stream = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    info = os.fstat(stream.fileno())
    if problem := not_regular(info.st_mode):
        stream.close()
        raise UnsupportedMedia(problem)
    if info.st_size > limits.max_file_bytes:
        stream.close()
        raise MediaTooLarge(f"the file is {info.st_size} bytes, over the limit of {limits.max_file_bytes} bytes")
    return stream


class FolderSource:
    kind = "folder"

    def __init__(self, root: Path, limits: Limits = Limits()):
        self.root = Path(os.path.realpath(root))
        self.limits = limits

    def entries(self) -> Iterator[SourceEntry]:
        found = sorted(self._walk(), key=lambda item: item[0])
        for ordinal, (name, opener, error) in enumerate(found):
            yield SourceEntry(ordinal, Locator(path=name), opener, error)

    def _walk(self) -> Iterator[Found]:
        """Every regular file, symlink to one, or unreadable folder, as (name, opener, error)."""
        unreadable: list[OSError] = []
        for directory, subfolders, files in os.walk(self.root, onerror=unreadable.append):
            for name in files + [folder for folder in subfolders if os.path.islink(Path(directory, folder))]:
                path = Path(directory, name)
                relative = path.relative_to(self.root).as_posix()
                if path.is_symlink():
                    yield from self._follow(relative)
                elif problem := not_regular(path.lstat().st_mode):
                    yield relative, None, problem
                else:
                    yield relative, partial(open_file, path, self.limits), None
        for error in unreadable:
            relative = Path(error.filename).relative_to(self.root).as_posix()
            yield relative, None, f"folder cannot be read: {error.strerror}"

    def _follow(self, relative: str) -> Iterator[Found]:
        """A symlink counts only if it stays in the folder; links to folders inside are walked anyway."""
        target = resolve_inside(self.root, relative)
        if target is None:
            yield relative, None, "symlink points outside the folder"
        elif not target.exists():
            yield relative, None, "symlink is broken: its target does not exist"
        elif problem := not_regular(target.stat().st_mode):
            if not target.is_dir():  # links to folders inside are walked anyway
                yield relative, None, problem
        else:
            yield relative, partial(open_file, target, self.limits), None


class FolderExport:
    """The files of a Telegram export unpacked in a folder, looked up by the paths in result.json."""

    def __init__(self, root: Path, limits: Limits = Limits()):
        self.root = Path(os.path.realpath(root))
        self.limits = limits

    def opener(self, name: str) -> Callable[[], BinaryIO]:
        target = resolve_inside(self.root, name)
        if target is None:
            raise UnsafePath(f"path points outside the export: {name}")
        if not target.exists():
            raise FileNotFoundError(name)
        if problem := not_regular(target.stat().st_mode):
            raise UnsupportedMedia(problem)
        return partial(open_file, target, self.limits)
