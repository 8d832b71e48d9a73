"""The byte layout of an evidence package, shared by the writer and the verifier.

Every member is stored uncompressed with fixed metadata (1980-01-01, mode 0644, no extra
fields), so a package is fully determined by its members' names and bytes. The verifier
rebuilds the ZIP from what it read and compares it byte for byte: a change anywhere in the
file, even in a header that no hash covers, is then found. Stored, not deflated, because a
rebuilt deflate stream depends on the zlib version of the machine checking it.
"""

from __future__ import annotations

import hashlib
import zipfile
from typing import BinaryIO, Iterable, Iterator

FORMAT = "jikimi-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
SUMS = "SHA256SUMS"
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
ORIGINALS = "originals/"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
UNIX = 3
REGULAR_FILE_0644 = 0o100644 << 16
CHUNK_BYTES = 1024 * 1024


def member_info(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = UNIX
    info.external_attr = REGULAR_FILE_0644
    info.file_size = size  # decides zip64 headers up front, the same way for writer and verifier
    return info


def open_writer(target: BinaryIO | str) -> zipfile.ZipFile:
    return zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True)


def add_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> str:
    """Store `data` as `name`; return its SHA-256."""
    with archive.open(member_info(name, len(data)), "w") as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest()


def add_stream(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes], size: int) -> tuple[str, str, int]:
    """Copy pieces of a file into the archive as `name`; return its SHA-256, MD5 and size as copied."""
    sha256, md5, copied = hashlib.sha256(), hashlib.md5(), 0
    with archive.open(member_info(name, size), "w") as out:
        for chunk in chunks:
            sha256.update(chunk)
            md5.update(chunk)
            copied += len(chunk)
            out.write(chunk)
    return sha256.hexdigest(), md5.hexdigest(), copied


def pieces(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def original_name(sha256: str, extension: str) -> str:
    return f"{ORIGINALS}{sha256}{extension}"
