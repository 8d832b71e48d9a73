import base64
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jikimi import keys
from jikimi.keys import WorkspaceKeyError


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv("JIKIMI_KEY", raising=False)


@pytest.fixture
def home(ws):
    keys.ensure_keys(ws.home)
    return ws.home


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_key_files_are_private_and_never_replaced(home):
    folder = home / "keys"
    assert mode(folder) == 0o700
    assert mode(folder / "workspace.key") == 0o600
    assert mode(folder / "signing.key") == 0o600
    assert len((folder / "workspace.key").read_bytes()) == 32
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(before) == {"workspace.key", "signing.key", "signing.pub"}
    keys.ensure_keys(home)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_missing_public_key_is_rebuilt_from_the_signing_key(home):
    expected = keys.public_key_bytes(home)
    (home / "keys" / "signing.pub").unlink()
    keys.ensure_keys(home)
    assert keys.public_key_bytes(home) == expected


def test_signing_key_matches_public_key(home):
    signature = keys.signing_key(home).sign(b"entry hash")
    raw = keys.public_key_bytes(home)
    assert len(raw) == 32
    Ed25519PublicKey.from_public_bytes(raw).verify(signature, b"entry hash")


def test_encrypt_round_trip_with_random_nonces(home):
    key = keys.workspace_key(home)
    first = keys.encrypt(key, b"template bytes", b"subject_template:1")
    second = keys.encrypt(key, b"template bytes", b"subject_template:1")
    assert first != second
    assert b"template bytes" not in first
    assert keys.decrypt(key, first, b"subject_template:1") == b"template bytes"


def test_wrong_key_fails_with_a_clear_error(home):
    sealed = keys.encrypt(keys.workspace_key(home), b"template", b"subject_template:1")
    with pytest.raises(WorkspaceKeyError, match=r"cannot decrypt templates: wrong workspace key"):
        keys.decrypt(b"\x01" * 32, sealed, b"subject_template:1", what="templates")


def test_ciphertext_moved_to_another_row_does_not_open(home):
    key = keys.workspace_key(home)
    sealed = keys.encrypt(key, b"template of subject 17", b"subject_template:17")
    with pytest.raises(WorkspaceKeyError, match="moved from another row"):
        keys.decrypt(key, sealed, b"subject_template:18")


def test_altered_ciphertext_does_not_open(home):
    key = keys.workspace_key(home)
    sealed = bytearray(keys.encrypt(key, b"template", b"row:1"))
    sealed[-1] ^= 1
    with pytest.raises(WorkspaceKeyError):
        keys.decrypt(key, bytes(sealed), b"row:1")
    with pytest.raises(WorkspaceKeyError):
        keys.decrypt(key, b"short", b"row:1")


@pytest.mark.parametrize(
    "encode",
    [
        bytes.hex,
        lambda k: base64.b64encode(k).decode(),
        lambda k: base64.urlsafe_b64encode(k).decode().rstrip("="),
    ],
    ids=["hex", "base64", "urlsafe-base64"],
)
def test_env_key_overrides_the_file(home, monkeypatch, encode):
    file_key = keys.workspace_key(home)
    env_key = bytes(range(32))
    monkeypatch.setenv("JIKIMI_KEY", f" {encode(env_key)}\n")
    assert keys.workspace_key(home) == env_key != file_key
    sealed = keys.encrypt(keys.workspace_key(home), b"template", b"row:1")
    monkeypatch.delenv("JIKIMI_KEY")
    with pytest.raises(WorkspaceKeyError, match="wrong workspace key"):
        keys.decrypt(keys.workspace_key(home), sealed, b"row:1")


@pytest.mark.parametrize("value", ["", "not a key", "ab" * 31, "zz" * 32, "QUJD"])
def test_malformed_env_key_is_refused(home, monkeypatch, value):
    monkeypatch.setenv("JIKIMI_KEY", value)
    with pytest.raises(WorkspaceKeyError, match="JIKIMI_KEY must be a 32-byte key"):
        keys.workspace_key(home)


def test_no_key_anywhere_says_what_to_do(tmp_path):
    with pytest.raises(WorkspaceKeyError, match="set JIKIMI_KEY or run `jikimi init`"):
        keys.workspace_key(tmp_path)
    with pytest.raises(WorkspaceKeyError, match="no signing key"):
        keys.signing_key(tmp_path)


def test_with_env_key_no_key_file_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("JIKIMI_KEY", "00" * 32)
    keys.ensure_keys(tmp_path)
    assert not (tmp_path / "keys" / "workspace.key").exists()
    assert (tmp_path / "keys" / "signing.key").exists()


def test_damaged_key_file_is_named(home):
    (home / "keys" / "workspace.key").write_bytes(b"short")
    with pytest.raises(WorkspaceKeyError, match="workspace.key is not a workspace key"):
        keys.workspace_key(home)
