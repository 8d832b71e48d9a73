"""Files encrypted with the workspace key, written and read as streams (videos reach gigabytes).

The layout follows Tink's streaming AEAD (AES-GCM-HKDF): a header with a random salt from
which a key for this file alone is derived, then segments of at most `SEGMENT_BYTES` of
plaintext, each sealed with AES-256-GCM under its own counter nonce. The segment number and a
"last segment" flag are authenticated with each segment, so segments cannot be reordered,
dropped or cut off at the end without the reader noticing.

    MAGIC (16) | salt (16) | segment 0 | segment 1 | ... | last segment (may be empty)
    segment = AES-GCM(file key, nonce = counter (12 bytes), plaintext, aad = counter + last flag)
"""

from __future__ import annotations

import os
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"\x00JIKIMI-SEALED1\x00"
SALT_BYTES = 16
SEGMENT_BYTES = 1024 * 1024
TAG_BYTES = 16
HKDF_INFO = b"jikimi vault file v1"


class Unsealable(Exception):
    """The bytes are not a sealed file for this key, or were altered or cut."""


def is_sealed(f: BinaryIO) -> bool:
    """Does the file start with our header? Leaves the position after it when it does."""
    head = f.read(len(MAGIC))
    if head == MAGIC:
        return True
    f.seek(0)
    return False


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(hashes.SHA256(), 32, salt, HKDF_INFO).derive(key))


def _nonce_and_aad(counter: int, last: bool) -> tuple[bytes, bytes]:
    nonce = counter.to_bytes(12, "big")
    return nonce, nonce + (b"\x01" if last else b"\x00")


class Writer:
    """Seals what is written to `out`; `close()` seals the last segment (call it once)."""

    def __init__(self, key: bytes, out: BinaryIO):
        salt = os.urandom(SALT_BYTES)
        self._aead, self._out, self._counter, self._pending = _file_key(key, salt), out, 0, bytearray()
        out.write(MAGIC + salt)

    def write(self, data: bytes) -> None:
        self._pending += data
        # Keep at least one byte back: only `close` knows which segment is the last.
        while len(self._pending) > SEGMENT_BYTES:
            self._seal(bytes(self._pending[:SEGMENT_BYTES]), last=False)
            del self._pending[:SEGMENT_BYTES]

    def close(self) -> None:
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()

    def _seal(self, plaintext: bytes, last: bool) -> None:
        nonce, aad = _nonce_and_aad(self._counter, last)
        self._out.write(self._aead.encrypt(nonce, plaintext, aad))
        self._counter += 1


def read(key: bytes, f: BinaryIO) -> Iterator[bytes]:
    """The plaintext segments of a sealed file positioned just after MAGIC (see `is_sealed`)."""
    salt = f.read(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise Unsealable("cut off in its header")
    aead, counter = _file_key(key, salt), 0
    segment = f.read(SEGMENT_BYTES + TAG_BYTES)
    while True:
        following = f.read(SEGMENT_BYTES + TAG_BYTES)
        last = not following
        nonce, aad = _nonce_and_aad(counter, last)
        try:
            yield aead.decrypt(nonce, segment, aad)
        except (InvalidTag, ValueError):
            raise Unsealable("wrong workspace key, or the file was altered or cut") from None
        if last:
            return
        segment, counter = following, counter + 1
