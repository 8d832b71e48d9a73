"""The workspace's secrets: one key that encrypts sensitive rows, one that signs evidence.

`keys/workspace.key` holds 32 random bytes for AES-256-GCM (face templates, the evidence
vault and thumbnails are encrypted with it, so a database or vault copied without the key
reveals none). `JIKIMI_KEY` (64 hex characters or base64) or `JIKIMI_KEY_FILE` (the path of a
key file kept elsewhere: a USB key, a mounted secret) replaces the file, so that keys and data
can be kept, and backed up, apart. `keys/signing.key` is the Ed25519 key that signs the custody log and
evidence packages; `keys/signing.pub` is what a court or a police lab needs to check them.
Both secret files are 0600 in a 0700 folder, and are never overwritten once written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jikimi.errors import JikimiError

KEY_BYTES = 32
NONCE_BYTES = 12
ENV_KEY = "JIKIMI_KEY"
ENV_KEY_FILE = "JIKIMI_KEY_FILE"


class WorkspaceKeyError(JikimiError):
    """A workspace key is missing or malformed, or it does not open the data."""


def keys_dir(home: Path) -> Path:
    return home / "keys"


def ensure_keys(home: Path) -> None:
    """Create the workspace and signing keys if they are missing. Safe to repeat and to race.

    With `JIKIMI_KEY` or `JIKIMI_KEY_FILE` set, no workspace key file is written: that key
    lives elsewhere.
    """
    folder = keys_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    key_file = folder / "workspace.key"
    if ENV_KEY not in os.environ and ENV_KEY_FILE not in os.environ and not key_file.exists():
        if _has_vault_files(home):
            raise WorkspaceKeyError(
                f"{key_file} is missing but the vault holds encrypted files: restore the key, or set "
                f"{ENV_KEY_FILE} to where it is kept (a new key would not open them)")
        _write_new(key_file, os.urandom(KEY_BYTES), 0o600)
    _write_new(
        folder / "signing.key",
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    public = signing_key(home).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(folder / "signing.pub", public, 0o644)


def _has_vault_files(home: Path) -> bool:
    vault = home / "vault"
    return vault.is_dir() and any(entry.name != "tmp" for entry in vault.iterdir())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file atomically unless it exists: a key once used must never be replaced.

    The bytes go to a private temporary file first and are published with a hard link,
    which fails instead of overwriting when another process created the key meanwhile.
    """
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def workspace_key(home: Path) -> bytes:
    """The AES-256 key: from `JIKIMI_KEY`, else the file `JIKIMI_KEY_FILE` names, else
    `keys/workspace.key`."""
    if (value := os.environ.get(ENV_KEY)) is not None:
        return _parse_env_key(value.strip())
    if (named := os.environ.get(ENV_KEY_FILE)) is not None:
        return _read_key_file(Path(named))
    path = keys_dir(home) / "workspace.key"
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise WorkspaceKeyError(
            f"no workspace key: set {ENV_KEY} or run `jikimi init` to create {path}"
        ) from None
    if len(key) != KEY_BYTES:
        raise WorkspaceKeyError(f"{path} is not a workspace key ({len(key)} bytes, expected 32)")
    return key


def _read_key_file(path: Path) -> bytes:
    """32 raw bytes (as `keys/workspace.key` is written), or the key as hex or base64 text."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WorkspaceKeyError(f"{ENV_KEY_FILE} names {path}, which cannot be read ({e.strerror})") from None
    if len(data) == KEY_BYTES:
        return data
    try:
        return _parse_env_key(data.decode("ascii").strip())
    except (UnicodeDecodeError, WorkspaceKeyError):
        raise WorkspaceKeyError(f"{path} ({ENV_KEY_FILE}) is not a workspace key: 32 bytes, or 64 hex characters "
                                "or base64 text") from None


def _parse_env_key(value: str) -> bytes:
    if len(value) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise WorkspaceKeyError(
            f"{ENV_KEY} must be a 32-byte key written as 64 hex characters or base64"
        )
    return key


def encrypt(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce, returned as nonce + ciphertext + tag.

    `associated` names the row the ciphertext belongs to (e.g. b"subject_template:17"):
    it is authenticated, not stored, so a ciphertext copied into another row fails to open.
    """
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def decrypt(key: bytes, ciphertext: bytes, associated: bytes, what: str = "data") -> bytes:
    """Open what `encrypt` sealed; `what` names the data in the error (e.g. "templates")."""
    try:
        return AESGCM(key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError):
        raise WorkspaceKeyError(
            f"cannot decrypt {what}: wrong workspace key ({ENV_KEY} or keys/workspace.key), "
            "or the stored bytes were altered or moved from another row"
        ) from None


def signing_key(home: Path) -> Ed25519PrivateKey:
    path = keys_dir(home) / "signing.key"
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise WorkspaceKeyError(f"no signing key at {path}: run `jikimi init`") from None
    except ValueError:
        raise WorkspaceKeyError(f"{path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WorkspaceKeyError(f"{path} is not an Ed25519 key")
    return key


def public_key(home: Path) -> Ed25519PublicKey:
    """The key that checks signatures, read from `signing.pub` (no secret needed)."""
    path = keys_dir(home) / "signing.pub"
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise WorkspaceKeyError(f"no public signing key at {path}: run `jikimi init`") from None
    except ValueError:
        raise WorkspaceKeyError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise WorkspaceKeyError(f"{path} is not an Ed25519 key")
    return key


def public_key_bytes(home: Path) -> bytes:
    """The 32 raw bytes of the public signing key, as printed in evidence packages."""
    return raw_public_bytes(public_key(home))


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


FINGERPRINT_HEX_CHARS = 64


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, in hex: the key ID of Certificate
    Transparency logs and Sigstore. Anyone can recompute it without Jikimi:
    `openssl pkey -pubin -in public_key.pem -outform DER | sha256sum`."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes, or WorkspaceKeyError saying what is wrong."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise WorkspaceKeyError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise WorkspaceKeyError("not an Ed25519 public key")
    return key


def trusted_fingerprint(value: str) -> str:
    """The fingerprint a verifier trusts, given as a fingerprint, a PEM file, or PEM text.

    A fingerprint may carry a `SHA256:` prefix, colons or spaces, in either case, as people
    copy them from web pages and letters.
    """
    text = value.strip()
    if "-----BEGIN" in text:
        return fingerprint(load_public_pem(text.encode("ascii", "replace")))
    cleaned = re.sub(r"[\s:]", "", text.lower().removeprefix("sha256:"))
    if re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_HEX_CHARS}}}", cleaned):
        return cleaned
    path = Path(text).expanduser()
    if path.is_file():
        try:
            return fingerprint(load_public_pem(path.read_bytes()))
        except WorkspaceKeyError as e:
            raise WorkspaceKeyError(f"{path} is {e}: give the centre's public_key.pem or its fingerprint") from None
    raise WorkspaceKeyError(f"{value!r} is neither a {FINGERPRINT_HEX_CHARS}-character SHA-256 fingerprint "
                            "nor a PEM public key file")
