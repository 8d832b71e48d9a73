"""Files Jikimi writes outside its workspace: evidence packages, reports, notices, receipts.

They hold originals, unblurred face crops, chat names and victims' details, and they land in
whatever folder the operator names with `-o`, often one other accounts of the machine can read.
So every export is created 0600 (owner only) from its first byte, whatever the umask, and
published with a rename so nobody sees a half-written file. A folder that other users can
read (list) is worth a warning: the file stays private, but its name is visible and a copy made
with another tool (cp, a file manager) may not stay private.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE_MODE = 0o600


def open_private(path: Path) -> BinaryIO:
    """A new file for writing, 0600 before any byte is written; it must not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask cannot widen it, an old ACL-less mode cannot either
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path` as a 0600 file, replacing it atomically if it exists."""
    path = Path(path)
    partial = partial_path(path)
    try:
        with open_private(partial) as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def partial_path(path: Path) -> Path:
    """Where `path` is written before it is complete: the same folder, so a rename publishes it."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


def exposure_warning(path: Path) -> str | None:
    """A sentence when the folder `path` is written into can be listed by other users."""
    folder = Path(path).resolve().parent
    while not folder.exists():
        folder = folder.parent
    mode = folder.stat().st_mode
    if not mode & stat.S_IROTH:
        return None
    return (f"{folder} can be read by every user of this machine (mode {stat.S_IMODE(mode):o}): the file is "
            "written 0600 so only you can open it, but its name is visible; prefer a private folder "
            "(chmod 700) or an encrypted disk")
