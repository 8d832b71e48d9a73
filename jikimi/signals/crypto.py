"""Exact digests: SHA-256 names evidence in the vault; MD5 and SHA-1 are what hash lists still
exchange (StopNCII's videos, NCMEC's fingerprints)."""

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024  # large enough to be I/O bound, small enough for any worker


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    size: int
    sha1: str


def file_digests(stream: BinaryIO) -> Digests:
    """Every digest in one pass over a binary stream, read in chunks (videos can be GiBs)."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    sha1 = hashlib.sha1(usedforsecurity=False)
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    while n := stream.readinto(buffer):
        sha256.update(view[:n])
        md5.update(view[:n])
        sha1.update(view[:n])
        size += n
    return Digests(sha256.hexdigest(), md5.hexdigest(), size, sha1.hexdigest())
