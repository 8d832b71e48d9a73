import hashlib
import io
import os
import stat

import pytest

from jikimi.errors import MediaTooLarge


def test_ingest_stores_once_read_only_and_verifies(ws):
    payload = b"evidence bytes" * 1000
    first = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**6)
    second = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**6)
    assert first == second
    assert first.sha256 == hashlib.sha256(payload).hexdigest()
    assert first.size == len(payload)
    path = ws.vault.path_for(first.sha256)
    assert path.read_bytes() == payload
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert ws.vault.verify(first.sha256)
    assert list((ws.vault.root / "tmp").iterdir()) == []


def test_tampering_is_detected(ws):
    stored = ws.vault.ingest(io.BytesIO(b"original"), max_bytes=100)
    path = ws.vault.path_for(stored.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"altered!")
    assert not ws.vault.verify(stored.sha256)


def test_oversized_stream_is_refused_and_leaves_nothing(ws):
    with pytest.raises(MediaTooLarge, match="larger than the 10-byte limit"):
        ws.vault.ingest(io.BytesIO(b"x" * 11), max_bytes=10)
    assert list((ws.vault.root / "tmp").iterdir()) == []


def test_init_is_idempotent(ws):
    ws.init()
    ws.init()
    assert ws.engine.dialect.name != "sqlite" or (ws.home / "jikimi.db").exists()
