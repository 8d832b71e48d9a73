"""Choosing a folder under a root an admin allowed, with a path that came from a browser.

The relative path is untrusted: it must be plain names joined by "/" (no "..", no absolute
path, no NUL, no backslash), and the folder it names, with every symlink resolved, must
still lie inside the resolved root. A subfolder whose name is not UTF-8 is listed escaped
and cannot be chosen (no browser could send its name back faithfully).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jikimi.errors import JikimiError

MAX_LISTED = 500  # folders shown per level; more are counted, not listed
MAX_RELATIVE_CHARS = 4096
TELEGRAM_MARKER = "result.json"


class OutsideRoot(JikimiError):
    """The requested folder is not inside the allowed root."""


@dataclass
class Subfolder:
    name: str  # printable: a non-UTF-8 name is shown with escapes
    relative: str | None  # what to send back to choose it; None when it cannot be chosen
    telegram_export: bool


def confined_folder(root: Path, relative: str) -> Path:
    """The folder `relative` names under `root`, refused unless it stays inside `root`."""
    if len(relative) > MAX_RELATIVE_CHARS or "\x00" in relative or "\\" in relative:
        raise OutsideRoot("that folder name is not allowed")
    if relative.startswith("/") or any(part in ("..", ".") for part in relative.split("/")):
        raise OutsideRoot("choose a folder inside the allowed path")
    base = root.resolve()
    target = (base / relative).resolve() if relative.strip("/") else base
    if target != base and base not in target.parents:
        raise OutsideRoot("that folder leads outside the allowed path")
    if not target.is_dir():
        raise OutsideRoot("that folder does not exist any more")
    return target


def list_subfolders(root: Path, relative: str) -> tuple[list[Subfolder], int]:
    """The subfolders of `relative` under `root` (sorted by name), and how many were left out."""
    folder = confined_folder(root, relative)
    base = root.resolve()
    found = []
    try:
        with os.scandir(os.fsencode(folder)) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=True):
                    found.append(entry.name)
    except OSError as e:
        raise JikimiError(f"the folder cannot be read ({e.strerror or type(e).__name__})") from None
    found.sort()
    listed = []
    for raw in found[:MAX_LISTED]:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            listed.append(Subfolder(raw.decode("utf-8", "backslashreplace"), None, False))
            continue
        path = folder / name
        inside = path.resolve() == base or base in path.resolve().parents
        rel = path.relative_to(base).as_posix() if inside and not path.is_symlink() else None
        if inside and path.is_symlink():  # a link inside the root: choose it by where it leads
            rel = path.resolve().relative_to(base).as_posix() if path.resolve() != base else ""
        listed.append(Subfolder(name, rel if inside else None, inside and (path / TELEGRAM_MARKER).is_file()))
    return listed, max(0, len(found) - MAX_LISTED)
