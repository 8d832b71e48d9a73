"""Check an evidence package on any machine: no workspace, only the ZIP and this code.

What is checked, in order: every entry name is a plain relative path (a ZIP with `..` or
absolute names is rejected before anything is read); every file reads back with its CRC;
the Ed25519 signature over manifest.json with the enclosed public key; every line of
SHA256SUMS; every original against the SHA-256, MD5 and size in the manifest; every
custody-log entry against its hash and signature; and finally the ZIP as a whole, rebuilt
from its files and compared byte for byte (see `layout`). A problem names the file, item
or log entry that was altered, in a sentence a police officer can act on.

The signature proves the package was made with the key whose fingerprint is reported; to
know whose key that is, compare the fingerprint with the one the support centre publishes.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jikimi.audit import LogRow, verify_excerpt
from jikimi.evidence import layout

SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
REQUIRED = (layout.MANIFEST, layout.SIGNATURE, layout.PUBLIC_KEY, layout.SUMS,
            layout.REPORT_HTML, layout.REPORT_PDF)
SMALL_MEMBERS = (layout.MANIFEST, layout.SIGNATURE, layout.PUBLIC_KEY, layout.SUMS)


@dataclass
class PackageReport:
    ok: bool
    problems: list[str]
    items: int = 0
    log_entries: int = 0
    key_fingerprint: str | None = None  # SHA-256 of the raw 32-byte public key
    summary: str = ""


@dataclass
class _Read:
    digests: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> sha256, md5, size
    small: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def verify_package(path: Path) -> PackageReport:
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return _report([f"{path.name} is not a readable ZIP file ({e})"])
    with archive, tempfile.TemporaryFile() as rebuilt:
        infos = archive.infolist()
        unsafe = [i.filename for i in infos if not _safe_name(i.filename)]
        if unsafe:
            return _report([f"unsafe entry name {name!r} (absolute, or escaping with '..'): "
                            "the package is rejected unread" for name in unsafe])
        read = _read_members(archive, infos, rebuilt)
        problems = read.problems
        missing = [name for name in REQUIRED if name not in read.digests]
        problems += [f"{name} is missing from the package" for name in missing if not _damaged(name, problems)]
        if layout.MANIFEST in read.small and layout.SIGNATURE in read.small and layout.PUBLIC_KEY in read.small:
            key, key_problem = _load_key(read.small[layout.PUBLIC_KEY])
            if key_problem:
                return _report(problems + [key_problem])
            fingerprint = hashlib.sha256(_raw(key)).hexdigest()
            try:
                key.verify(read.small[layout.SIGNATURE], read.small[layout.MANIFEST])
                signed = True
            except InvalidSignature:
                signed = False
                problems.append("manifest.sig: the signature does not match manifest.json: the manifest "
                                "was altered, or it was signed with another key")
            manifest, manifest_problem = _parse_manifest(read.small[layout.MANIFEST])
            if manifest_problem:
                return _report(problems + [manifest_problem], fingerprint=fingerprint)
            if manifest.get("public_key") != _raw(key).hex():
                problems.append("public_key.pem is not the key named in manifest.json")
            problems += _check_sums(read, _vouched(manifest, read) if signed else set())
            problems += _check_manifest_files(manifest, read)
            log_problems, log_entries = _check_custody_log(manifest, key)
            problems += log_problems
            if not read.problems:
                problems += _check_layout(path, rebuilt, infos, archive.start_dir)
            items = len(manifest.get("items", []))
            return _report(problems, items, log_entries, fingerprint)
        return _report(problems)


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    parts = PurePosixPath(name).parts
    return not (".." in parts or (parts and ":" in parts[0]))


def _read_members(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], rebuilt) -> _Read:
    """Hash every member once, and write it into the rebuilt copy while at it."""
    read = _Read()
    names = [i.filename for i in infos]
    read.problems += [f"{name} appears more than once in the ZIP" for name in sorted({n for n in names if names.count(n) > 1})]
    with layout.open_writer(rebuilt) as copy:
        for info in infos:
            try:
                with archive.open(info) as member:
                    if info.filename in SMALL_MEMBERS:
                        data = member.read()
                        read.small[info.filename] = data
                        digests = (layout.add_bytes(copy, info.filename, data), hashlib.md5(data).hexdigest(), len(data))
                    else:
                        digests = layout.add_stream(copy, info.filename, member, info.file_size)
                read.digests[info.filename] = digests
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError) as e:
                read.problems.append(f"{info.filename}: damaged or altered, it cannot be read back intact ({e})")
    return read


def _damaged(name: str, problems: list[str]) -> bool:
    return any(p.startswith(f"{name}:") for p in problems)


def _load_key(pem: bytes) -> tuple[Ed25519PublicKey | None, str | None]:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None, "public_key.pem is not a PEM public key: the signature cannot be checked"
    if not isinstance(key, Ed25519PublicKey):
        return None, "public_key.pem is not an Ed25519 key: the signature cannot be checked"
    return key, None


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _parse_manifest(data: bytes) -> tuple[dict, str | None]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return {}, f"manifest.json is not valid JSON ({e})"
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
        return {}, f"manifest.json is not a {layout.FORMAT} manifest"
    return manifest, None


def _vouched(manifest: dict, read: _Read) -> set[str]:
    """Files whose bytes the valid signature proves: the manifest, its signature, what it lists."""
    listed = dict(manifest.get("files", {}))
    listed.update({item.get("file"): item.get("sha256") for item in manifest.get("items", [])})
    proven = {name for name, digest in listed.items() if name in read.digests and read.digests[name][0] == digest}
    return proven | {layout.MANIFEST, layout.SIGNATURE}


def _check_sums(read: _Read, vouched: set[str]) -> list[str]:
    """Check SHA256SUMS; a line that disagrees with a file the signature vouches for blames SHA256SUMS."""
    if layout.SUMS not in read.small:
        return []
    problems, listed = [], set()
    for number, line in enumerate(read.small[layout.SUMS].decode("utf-8", "replace").splitlines(), 1):
        match = SUMS_LINE.match(line)
        if not match:
            problems.append(f"SHA256SUMS: line {number} is not a checksum line: SHA256SUMS was altered")
            continue
        digest, name = match.groups()
        listed.add(name)
        if name not in read.digests:
            if not _damaged(name, read.problems):
                problems.append(f"SHA256SUMS: line {number} names {name}, which is not in the package")
        elif read.digests[name][0] != digest:
            if name in vouched:
                problems.append(f"SHA256SUMS: line {number} has the wrong SHA-256 for {name} (the file itself "
                                "matches the signed manifest): SHA256SUMS was altered")
            else:
                problems.append(f"{name}: its SHA-256 does not match SHA256SUMS: the file was altered")
    unlisted = sorted(set(read.digests) - listed - {layout.SUMS})
    problems += [f"{name} is not listed in SHA256SUMS: it was added or renamed after the package was made"
                 for name in unlisted]
    return problems


def _check_manifest_files(manifest: dict, read: _Read) -> list[str]:
    problems, expected = [], {layout.MANIFEST, layout.SIGNATURE, layout.SUMS}
    for name, digest in manifest.get("files", {}).items():
        expected.add(name)
        if name in read.digests and read.digests[name][0] != digest:
            problems.append(f"{name}: its SHA-256 does not match the signed manifest: the file was altered")
    for item in manifest.get("items", []):
        name = item.get("file")
        expected.add(name)
        if name not in read.digests:
            if not _damaged(str(name), read.problems):
                problems.append(f"item {item.get('item_id')}: its original {name} is missing from the package")
            continue
        sha256, md5, size = read.digests[name]
        if (sha256, md5, size) != (item.get("sha256"), item.get("md5"), item.get("size")):
            problems.append(f"{name} (item {item.get('item_id')}): the original does not match the SHA-256, "
                            "MD5 and size recorded in the manifest: it was altered")
    problems += [f"{name} is not part of the signed manifest" for name in sorted(set(read.digests) - expected)]
    return problems


def _check_custody_log(manifest: dict, key: Ed25519PublicKey) -> tuple[list[str], int]:
    log = manifest.get("custody_log", {})
    entries = log.get("entries", [])
    try:
        rows = [LogRow(e["seq"], e["time"], e["actor"], e["action"], e["subject"], e["case_id"], e["details"],
                       e["prev_hash"], e["entry_hash"], bytes.fromhex(e["signature"])) for e in entries]
    except (KeyError, TypeError, ValueError):
        return ["custody log in manifest.json: an entry is incomplete or malformed"], len(entries)
    result = verify_excerpt(rows, key)
    problems = [] if result.ok else [f"custody log: {result.reason}"]
    head = log.get("head") or {}
    if rows and head.get("seq") is not None and rows[-1].seq > head["seq"]:
        problems.append(f"custody log: entry {rows[-1].seq} is after the recorded head {head['seq']}")
    return problems, len(rows)


def _check_layout(path: Path, rebuilt, infos: list[zipfile.ZipInfo], directory_start: int) -> list[str]:
    """Compare the package with the ZIP rebuilt from its own files, byte for byte."""
    rebuilt.seek(0)
    offset = 0
    with open(path, "rb") as original:
        while True:
            a, b = original.read(layout.CHUNK_BYTES), rebuilt.read(layout.CHUNK_BYTES)
            if a != b:
                where = offset + next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                return [f"the ZIP structure was altered at byte {where} ({_region(where, infos, directory_start)}), "
                        "outside the checked file contents"]
            if not a:
                return []
            offset += len(a)


def _region(offset: int, infos: list[zipfile.ZipInfo], directory_start: int) -> str:
    if offset >= directory_start:
        return "in the ZIP directory"
    before = [i for i in infos if i.header_offset <= offset]
    if not before:
        return "before the first file"
    return f"in the entry of {max(before, key=lambda i: i.header_offset).filename}"


def _report(problems: list[str], items: int = 0, log_entries: int = 0, fingerprint: str | None = None) -> PackageReport:
    if problems:
        summary = f"NOT INTACT: {len(problems)} problem(s) found; do not rely on this package."
    else:
        summary = (f"Intact: {items} original(s) match their hashes, the manifest signature is valid "
                   f"(key fingerprint {fingerprint}), {log_entries} custody-log entries are authentic.")
    return PackageReport(not problems, problems, items, log_entries, fingerprint, summary)
