"""The evidence vault: every ingested original, stored once, unaltered, encrypted, read-only.

Files are content-addressed by the SHA-256 of the original (`vault/ab/cd/abcd...`), so the same
file posted a thousand times is kept once, and its name is its integrity check. They are
encrypted with the workspace key (see `sealed`): a copied disk or backup without the key shows
no picture. Vaults written before encryption hold plain files; they are still read.
"""

from __future__ import annotations

import errno
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from jikimi import keys
from jikimi.errors import JikimiError, MediaTooLarge, StorageError
from jikimi.store import sealed

CHUNK_BYTES = 1024 * 1024
THUMBNAIL_MARK = b"\x00JKT1"  # an encrypted thumbnail; a JPEG starts with FF D8


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


class VaultFileDamaged(JikimiError):
    """A vault file does not decrypt to the original it is named after."""


class Vault:
    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home  # the key is read when needed (`JIKIMI_KEY` or keys/)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def ingest(self, stream: BinaryIO, max_bytes: int) -> Stored:
        """Copy a stream into the vault while hashing it; refuse it past `max_bytes`.

        Errors reading `stream` are raised as they are (the source's problem); errors writing
        the vault are StorageError (ours: a full disk must not be blamed on the file).
        """
        tmp = self._tmp_path()
        sha256, size = hashlib.sha256(), 0
        key = keys.workspace_key(self.home)
        try:
            with _writing():
                out = open(tmp, "wb")
            with out:
                writer = sealed.Writer(key, out)
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(f"file is larger than the {max_bytes:,}-byte limit")
                    sha256.update(chunk)
                    with _writing():
                        writer.write(chunk)
                with _writing():
                    writer.close()
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

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The original's bytes, decrypted piece by piece (FileNotFoundError when absent).

        Raises VaultFileDamaged when a piece does not decrypt (altered, cut, wrong key); the
        caller checks the SHA-256 of what it read, as `verify` does, before trusting it.
        """
        with open(self.path_for(sha256), "rb") as f:
            if not sealed.is_sealed(f):
                while chunk := f.read(CHUNK_BYTES):  # a vault file written before encryption
                    yield chunk
                return
            try:
                yield from sealed.read(keys.workspace_key(self.home), f)
            except sealed.Unsealable as e:
                raise VaultFileDamaged(f"the vault file of {sha256} cannot be decrypted ({e})") from None

    def read_bytes(self, sha256: str) -> bytes:
        return b"".join(self.chunks(sha256))

    @contextmanager
    def plain_file(self, sha256: str) -> Iterator[Path]:
        """A private temporary copy of the original, for decoders that need a file (video).

        Deleted when the block ends, however it ends; it lives under the 0700 workspace.
        """
        tmp = self._tmp_path()
        try:
            with _writing():
                out = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            with out:
                for chunk in self.chunks(sha256):
                    with _writing():
                        out.write(chunk)
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    def digest(self, sha256: str, name: str) -> str | None:
        """Another digest of the original (hashlib's `name`, e.g. "sha1"), or None when its
        file is gone, damaged, or not the original it is named after."""
        named, other = hashlib.sha256(), hashlib.new(name, usedforsecurity=False)
        try:
            for chunk in self.chunks(sha256):
                named.update(chunk)
                other.update(chunk)
        except (FileNotFoundError, VaultFileDamaged):
            return None
        return other.hexdigest() if named.hexdigest() == sha256 else None

    def verify(self, sha256: str) -> bool:
        """True when the stored file still decrypts to the original it is named by."""
        digest = hashlib.sha256()
        try:
            for chunk in self.chunks(sha256):
                digest.update(chunk)
        except VaultFileDamaged:
            return False
        return digest.hexdigest() == sha256

    def seal_plain_files(self) -> int:
        """Encrypt the files a vault from before encryption holds; return how many.

        Each is sealed to a temporary file, checked to decrypt to its SHA-256, and only then
        put in place of the plain one, so a failure at any point loses nothing.
        """
        key, sealed_count = keys.workspace_key(self.home), 0
        for path in sorted(self.root.glob("??/??/*")):
            with open(path, "rb") as f:
                if sealed.is_sealed(f):
                    continue
                tmp = self._tmp_path()
                try:
                    with _writing(), open(tmp, "wb") as out:
                        writer = sealed.Writer(key, out)
                        while chunk := f.read(CHUNK_BYTES):
                            writer.write(chunk)
                        writer.close()
                    os.chmod(tmp, 0o444)
                    with open(tmp, "rb") as check:
                        sealed.is_sealed(check)
                        digest = hashlib.sha256()
                        for chunk in sealed.read(key, check):
                            digest.update(chunk)
                    if digest.hexdigest() != path.name:
                        raise VaultFileDamaged(f"the vault file {path.name} no longer has its SHA-256: left as it is")
                    with _writing():
                        os.replace(tmp, path)
                    sealed_count += 1
                finally:
                    tmp.unlink(missing_ok=True)
        return sealed_count

    def seal_thumbnail(self, sha256: str, jpeg: bytes) -> bytes:
        """A blurred thumbnail as stored in the database: encrypted, bound to its original."""
        return THUMBNAIL_MARK + keys.encrypt(keys.workspace_key(self.home), jpeg, _thumbnail_row(sha256))

    def open_thumbnail(self, sha256: str, stored: bytes) -> bytes:
        if not stored.startswith(THUMBNAIL_MARK):
            return stored  # written before encryption
        return keys.decrypt(keys.workspace_key(self.home), stored[len(THUMBNAIL_MARK):], _thumbnail_row(sha256),
                            what="a thumbnail")

    def _tmp_path(self) -> Path:
        tmp_dir = self.root / "tmp"
        with _writing():
            tmp_dir.mkdir(parents=True, exist_ok=True)
        return tmp_dir / f"{os.getpid()}-{os.urandom(6).hex()}"


def _thumbnail_row(sha256: str) -> bytes:
    return f"content_thumbnail:{sha256}".encode()


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
