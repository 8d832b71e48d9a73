"""Reading what a browser or a script sent: form fields or JSON, and uploaded files."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile

from jikimi.errors import JikimiError
from jikimi.web.auth import FORM_LIMITS

COPY_CHUNK = 1024 * 1024


async def body(request: Request) -> dict:
    """Form fields (the last value of each), or a JSON object for scripts."""
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
        if not isinstance(data, dict):
            raise JikimiError("send a JSON object")
        return data
    return dict(await request.form(**FORM_LIMITS))


async def uploads(request: Request, field: str) -> list[UploadFile]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return []
    form = await request.form(**FORM_LIMITS)
    return [f for f in form.getlist(field) if isinstance(f, UploadFile) and f.filename]


def flag(value) -> bool:
    return value in (True, "1", "on", "true", 1)


def number(value, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JikimiError(f"{what} must be a number") from None


def safe_next(path: str) -> str:
    """Only a path on this site, so a link cannot send anyone elsewhere after login."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def safe_name(filename: str) -> str:
    """A file name with no folders and no surprises; the bytes are judged later, in media/."""
    name = re.sub(r"[^\w.\-]+", "_", Path(filename.replace("\\", "/")).name).strip("._")
    return name[:100] or "upload"


def upload_dir(home: Path) -> Path:
    """A fresh private folder under the workspace for one request's uploads."""
    root = home / "uploads"  # Workspace.uploads: the only workspace folder a scan may read
    root.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=secrets.token_hex(4), dir=root))


async def save(files: list[UploadFile], folder: Path, prefix: str = "file") -> list[Path]:
    """Write uploads into `folder` under safe, distinct names."""
    saved = []
    for index, upload in enumerate(files):
        path = folder / f"{prefix}{index:03d}-{safe_name(upload.filename or '')}"
        with open(path, "xb") as out:
            os.chmod(path, 0o600)
            while chunk := await upload.read(COPY_CHUNK):
                out.write(chunk)
        saved.append(path)
    return saved


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
