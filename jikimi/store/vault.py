"""The evidence vault: every ingested original, stored once, unaltered, read-only.

Files are content-addressed by SHA-256 (`vault/ab/cd/abcd...`), so the same file posted a
thousand times is kept once, and its name is its integrity check.
"""

from __future__ import annotations

import errno
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from jikimi.errors import MediaTooLarge, StorageError

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


class Vault:
    def __init__(self, root: Path):
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def ingest(self, stream: BinaryIO, max_bytes: int) -> Stored:
        """Copy a stream into the vault while hashing it; refuse it past `max_bytes`.

        Errors reading `stream` are raised as they are (the source's problem); errors writing
        the vault are StorageError (ours: a full disk must not be blamed on the file).
        """
        tmp_dir = self.root / "tmp"
        tmp = tmp_dir / f"{os.getpid()}-{os.urandom(6).hex()}"
        sha256, size = hashlib.sha256(), 0
        try:
            with _writing():
                tmp_dir.mkdir(parents=True, exist_ok=True)
                out = open(tmp, "wb")
            with out:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(f"file is larger than the {max_bytes:,}-byte limit")
                    sha256.update(chunk)
                    with _writing():
                        out.write(chunk)
                with _writing():
                    out.flush()
            stored = Stored(sha256.hexdigest(), size)
            final = self.path_for(stored.sha256)
            with _writing():
                if not final.exists():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.chmod(tmp, 0o444)
                    os.replace(tmp, final)
            return stored
        finally:
            tmp.unlink(missing_ok=True)

    def verify(self, sha256: str) -> bool:
        """True when the stored file still has the hash it is named by."""
        digest = hashlib.sha256()
        with open(self.path_for(sha256), "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest() == sha256


@contextmanager
def _writing() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise StorageError(storage_problem(error, "the evidence vault")) from None


def storage_problem(error: OSError, what: str) -> str:
    """One sentence for a failed write to our own storage, saying what to do."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {what} is full: free some space first"
    if error.errno == errno.EROFS:
        return f"{what} is on a read-only file system"
    return f"{what} cannot be written ({error.strerror or type(error).__name__})"
