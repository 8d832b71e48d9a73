import hashlib
import io
import os

from jikimi.signals.crypto import CHUNK_BYTES, file_digests


def test_digests_across_chunk_boundaries():
    data = os.urandom(CHUNK_BYTES * 2 + 123)
    digests = file_digests(io.BytesIO(data))
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.size == len(data)


def test_empty_stream():
    assert file_digests(io.BytesIO(b"")).sha256 == hashlib.sha256(b"").hexdigest()
