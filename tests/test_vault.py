import hashlib
import io
import os
import stat

import pytest

from jikimi import keys
from jikimi.errors import MediaTooLarge
from jikimi.scan import ScanOptions, start_scan
from jikimi.store import sealed
from jikimi.store.models import Content
from jikimi.store.vault import THUMBNAIL_MARK, VaultFileDamaged
from jikimi.workspace import Workspace
from conftest import picture, save_jpeg


def test_ingest_stores_once_read_only_and_verifies(ws):
    payload = b"evidence bytes" * 1000
    first = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**6)
    second = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**6)
    assert first == second
    assert first.sha256 == hashlib.sha256(payload).hexdigest()
    assert first.size == len(payload)
    path = ws.vault.path_for(first.sha256)
    assert b"evidence bytes" not in path.read_bytes()  # encrypted at rest
    assert ws.vault.read_bytes(first.sha256) == payload
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


def test_large_files_round_trip_through_several_segments(ws):
    payload = os.urandom(3 * sealed.SEGMENT_BYTES + 12345)
    stored = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**8)
    assert ws.vault.read_bytes(stored.sha256) == payload
    exact = ws.vault.ingest(io.BytesIO(payload[:2 * sealed.SEGMENT_BYTES]), max_bytes=10**8)  # segment boundary
    assert ws.vault.read_bytes(exact.sha256) == payload[:2 * sealed.SEGMENT_BYTES]
    empty = ws.vault.ingest(io.BytesIO(b""), max_bytes=10)
    assert ws.vault.read_bytes(empty.sha256) == b"" and ws.vault.verify(empty.sha256)


def _rewrite(path, change):
    os.chmod(path, 0o644)
    path.write_bytes(change(path.read_bytes()))


@pytest.mark.parametrize("attack", ["cut the last segment", "swap segments", "flip a bit", "cut the header"])
def test_altered_or_cut_vault_files_do_not_decrypt(ws, attack):
    payload = os.urandom(2 * sealed.SEGMENT_BYTES + 10)
    stored = ws.vault.ingest(io.BytesIO(payload), max_bytes=10**8)
    head, segment = len(sealed.MAGIC) + sealed.SALT_BYTES, sealed.SEGMENT_BYTES + sealed.TAG_BYTES
    change = {
        "cut the last segment": lambda b: b[:head + 2 * segment],
        "swap segments": lambda b: b[:head] + b[head + segment:head + 2 * segment] + b[head:head + segment]
        + b[head + 2 * segment:],
        "flip a bit": lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:],
        "cut the header": lambda b: b[:head - 3],
    }[attack]
    _rewrite(ws.vault.path_for(stored.sha256), change)
    assert not ws.vault.verify(stored.sha256)
    with pytest.raises(VaultFileDamaged, match=stored.sha256):
        ws.vault.read_bytes(stored.sha256)


def test_another_key_opens_nothing(ws, monkeypatch):
    stored = ws.vault.ingest(io.BytesIO(b"original"), max_bytes=100)
    monkeypatch.setenv("JIKIMI_KEY", "11" * 32)
    assert not ws.vault.verify(stored.sha256)


def test_files_from_before_encryption_are_still_read(ws):
    payload = b"a vault file written by an older Jikimi"
    sha256 = hashlib.sha256(payload).hexdigest()
    path = ws.vault.path_for(sha256)
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    assert ws.vault.read_bytes(sha256) == payload and ws.vault.verify(sha256)


def test_plain_copies_for_decoders_are_private_and_removed(ws):
    stored = ws.vault.ingest(io.BytesIO(b"clear bytes"), max_bytes=100)
    with ws.vault.plain_file(stored.sha256) as path:
        assert path.read_bytes() == b"clear bytes"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.exists()
    with pytest.raises(RuntimeError):
        with ws.vault.plain_file(stored.sha256) as path:
            raise RuntimeError("a decoder failed")
    assert list((ws.vault.root / "tmp").iterdir()) == []


def test_thumbnails_are_encrypted_in_the_database(ws, tmp_path):
    save_jpeg(picture("astronaut"), tmp_path / "export" / "a.jpg")
    start_scan(ws, tmp_path / "export", ScanOptions(jobs=1, analyse=False))
    with ws.session() as session:
        content = session.query(Content).one()
        stored = content.thumbnail
        assert stored.startswith(THUMBNAIL_MARK) and b"\xff\xd8\xff" not in stored
        assert ws.vault.open_thumbnail(content.sha256, stored).startswith(b"\xff\xd8\xff")
        with pytest.raises(keys.WorkspaceKeyError):  # bound to its original: not movable to another row
            ws.vault.open_thumbnail("0" * 64, stored)


def test_a_key_kept_outside_the_workspace(tmp_path, monkeypatch):
    key_file = tmp_path / "usb" / "workspace.key"
    key_file.parent.mkdir()
    key_file.write_bytes(os.urandom(32))
    monkeypatch.setenv("JIKIMI_KEY_FILE", str(key_file))
    home = tmp_path / "home"
    ws = Workspace(home)
    ws.init()
    assert not (home / "keys" / "workspace.key").exists()
    stored = ws.vault.ingest(io.BytesIO(b"kept apart"), max_bytes=100)
    assert ws.vault.read_bytes(stored.sha256) == b"kept apart"
    monkeypatch.delenv("JIKIMI_KEY_FILE")
    with pytest.raises(keys.WorkspaceKeyError, match="vault holds encrypted files"):
        Workspace(home).init()  # forgetting the key must not make a new one over the old data
    assert not (home / "keys" / "workspace.key").exists()
    monkeypatch.setenv("JIKIMI_KEY_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(keys.WorkspaceKeyError, match="cannot be read"):
        ws.vault.read_bytes(stored.sha256)


def test_init_encrypts_a_vault_from_before_encryption(ws):
    from jikimi.core import Actor, Jikimi
    from jikimi.store import sealed as sealed_files

    payloads = [b"old original one", b"old original two"]
    for payload in payloads:
        path = ws.vault.path_for(hashlib.sha256(payload).hexdigest())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    assert Jikimi(ws).custody.seal_plain_vault(Actor.cli()) == 2
    for payload in payloads:
        sha256 = hashlib.sha256(payload).hexdigest()
        with open(ws.vault.path_for(sha256), "rb") as f:
            assert sealed_files.is_sealed(f)
        assert ws.vault.read_bytes(sha256) == payload
    assert Jikimi(ws).custody.seal_plain_vault(Actor.cli()) == 0  # safe to repeat
    [entry] = [e for e in Jikimi(ws).custody.entries(Actor.cli()) if e["action"] == "vault_encrypt"]
    assert entry["details"] == {"files": 2}
