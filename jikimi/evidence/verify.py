"""Check an evidence package on any machine: no workspace, only the ZIP and this code.

What is checked, in order: every entry name is a plain relative path, and the ZIP is shaped
as Jikimi writes it (a bounded number of entries, every file stored uncompressed, sizes that
agree and do not overlap, small files small), so a hostile ZIP is refused before anything is
inflated or read into memory; every file reads back with its CRC; the Ed25519 signature over
manifest.json with the enclosed public key; every line of SHA256SUMS; every original against
the SHA-256, MD5 and size in the manifest; every custody-log entry and the signed head
receipt against the same key; that both reports state the fingerprint of that key; and
finally the ZIP as a whole, rebuilt from its files and compared byte for byte (see
`layout`). A problem names the file, item or log entry that was altered, in a sentence a
police officer can act on, kept as a code and parameters (`jikimi.messages`) so the web says it
in the reader's language.

A valid signature only proves the package was made with the key enclosed in it; anyone can
make a key. As with Sigstore's and Certificate Transparency's pinned keys, trust comes from
comparing that key with one obtained another way: `trusted_fingerprint` (the `--key` of
`jikimi evidence verify`) is the centre's published fingerprint or public key. Without it,
the result says that the signer was not checked (`status == "unpinned"`).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jikimi import keys, messages
from jikimi.audit import LogRow, verify_excerpt
from jikimi.audit_heads import HeadReceipt, ReceiptError, signature_problem_message
from jikimi.evidence import layout
from jikimi.limits import MAX_ZIP_ENTRIES

SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
REQUIRED = (layout.MANIFEST, layout.SIGNATURE, layout.PUBLIC_KEY, layout.SUMS,
            layout.REPORT_HTML, layout.REPORT_PDF)
# Files read whole into memory, each with the most it may hold. A manifest of 32 MiB holds
# about 10,000 items with their custody entries; its JSON parses in well under 1 GB.
SMALL_MEMBER_LIMITS = {layout.MANIFEST: 32 * 1024**2, layout.SIGNATURE: 1024, layout.PUBLIC_KEY: 4096,
                       layout.SUMS: 16 * 1024**2}
MAX_PACKAGE_ENTRIES = MAX_ZIP_ENTRIES
LOCAL_HEADER = 30  # bytes of a ZIP local file header before its name and extra field
# The reports state the signing key's fingerprint in a marker (the HTML's <meta name="keywords">,
# which WeasyPrint copies into the PDF's document information, inside a compressed object stream).
KEY_MARKER = re.compile(rb"jikimi-signing-key-sha256:([0-9a-f]{64})")
PDF_STREAM = re.compile(rb"stream\r?\n")
PDF_STREAM_WINDOW = 256 * 1024  # compressed bytes looked at per stream: object streams are small
PDF_STREAM_OUTPUT = 1024**2  # inflated bytes kept per stream, whatever it claims to hold

# Exit statuses of `jikimi evidence verify`, by `PackageReport.status`.
EXIT_STATUS = {"trusted": 0, "not_intact": 1, "unpinned": 3, "other_key": 4}


@dataclass
class PackageReport:
    ok: bool  # intact: every file, hash, signature and log entry is as the enclosed key signed it
    problem_messages: list[dict]  # each a code and parameters (jikimi.messages)
    items: int = 0
    log_entries: int = 0
    key_fingerprint: str | None = None  # of the key that signed the manifest (`keys.fingerprint`)
    head: dict | None = None  # the signed head receipt of the custody log the package carries
    trusted_fingerprint: str | None = None  # the key the verifier trusts (--key), when given

    @property
    def problems(self) -> list[str]:
        """The problems in English, for the CLI and the JSON API."""
        return [messages.render_message(p, "en") for p in self.problem_messages]

    @property
    def status(self) -> str:
        """not_intact, trusted (signed by the trusted key), other_key, or unpinned (no key given)."""
        if not self.ok:
            return "not_intact"
        if self.trusted_fingerprint is None:
            return "unpinned"
        return "trusted" if self.trusted_fingerprint == self.key_fingerprint else "other_key"

    @property
    def exit_code(self) -> int:
        return EXIT_STATUS[self.status]

    @property
    def summary(self) -> str:
        contents = (f"{self.items} original(s) match their hashes, the manifest signature is valid, "
                    f"{self.log_entries} custody-log entries are authentic")
        if self.status == "not_intact":
            more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
            return f"NOT INTACT: {self.problems[0]}{more}; do not rely on this package."
        if self.status == "trusted":
            return f"Intact and signed by the trusted key {self.key_fingerprint}: {contents}."
        if self.status == "other_key":
            return (f"NOT TRUSTED: the package is intact but signed by key {self.key_fingerprint}, not by the key "
                    f"you trust ({self.trusted_fingerprint}): it was not made by that centre, or was re-signed.")
        return (f"Signature checked only against the key inside the package, fingerprint {self.key_fingerprint}: "
                "compare it with the fingerprint the centre publishes, or verify with --key. Intact against "
                f"that key: {contents}.")


@dataclass
class _Read:
    digests: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> sha256, md5, size
    small: dict[str, bytes] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)


def verify_package(path: Path, trusted_fingerprint: str | None = None) -> PackageReport:
    """Check the package; `trusted_fingerprint` (see `keys.trusted_fingerprint`) pins the signer."""
    report = _verify(Path(path))
    report.trusted_fingerprint = trusted_fingerprint
    return report


def _verify(path: Path) -> PackageReport:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return _report([_problem("verify.not_zip", file=path.name, why=str(e))])
    with archive, tempfile.TemporaryFile() as rebuilt:
        infos = archive.infolist()
        unsafe = [i.filename for i in infos if not _safe_name(i.filename)]
        if unsafe:
            return _report([_problem("verify.unsafe_name", name=repr(name)) for name in unsafe[:10]])
        refusal = _hostile_shape(path, infos)
        if refusal:
            return _report([refusal])
        read = _read_members(archive, infos, rebuilt)
        problems = read.problems
        missing = [name for name in REQUIRED if name not in read.digests]
        problems += [_problem("verify.missing", file=name) for name in missing if not _damaged(name, problems)]
        if layout.MANIFEST in read.small and layout.SIGNATURE in read.small and layout.PUBLIC_KEY in read.small:
            key, key_problem = _load_key(read.small[layout.PUBLIC_KEY])
            if key_problem:
                return _report(problems + [key_problem])
            fingerprint = keys.fingerprint(key)
            try:
                key.verify(read.small[layout.SIGNATURE], read.small[layout.MANIFEST])
                signed = True
            except InvalidSignature:
                signed = False
                problems.append(_problem("verify.signature"))
            manifest, manifest_problem = _parse_manifest(read.small[layout.MANIFEST])
            if manifest_problem:
                return _report(problems + [manifest_problem], fingerprint=fingerprint)
            if manifest["public_key"] != _raw(key).hex():
                problems.append(_problem("verify.key_not_named"))
            problems += _check_sums(read, _vouched(manifest, read) if signed else set())
            problems += _check_manifest_files(manifest, read)
            log_problems, log_entries, head = _check_custody_log(manifest, key)
            problems += log_problems
            problems += _check_reports_name_the_key(path, infos, fingerprint)
            if not read.problems:
                problems += _check_layout(path, rebuilt, infos, archive.start_dir)
            return _report(problems, len(manifest["items"]), log_entries, fingerprint, head)
        return _report(problems)


def _hostile_shape(path: Path, infos: list[zipfile.ZipInfo]) -> dict | None:
    """Why the ZIP cannot be a Jikimi package and must not be read at all, or None.

    A package is written stored (see `layout`), so no entry ever needs inflating: a
    compressed entry is refused unread, which is what makes a zip bomb harmless here. With
    stored entries that do not overlap, reading every entry reads each byte of the file at
    most once, and the rebuilt copy is no bigger than the package.
    """
    if len(infos) > MAX_PACKAGE_ENTRIES:
        return _problem("verify.too_many_entries", count=f"{len(infos):,}", limit=f"{MAX_PACKAGE_ENTRIES:,}")
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            return _problem("verify.encrypted", file=name)
        if info.compress_type != zipfile.ZIP_STORED:
            return _problem("verify.compressed", file=name, method=info.compress_type)
        if info.file_size != info.compress_size:
            return _problem("verify.two_sizes", file=name)
        limit = SMALL_MEMBER_LIMITS.get(name)
        if limit is not None and info.file_size > limit:
            return _problem("verify.too_big", file=name, size=f"{info.file_size:,}", limit=f"{limit:,}")
    if sum(info.compress_size for info in infos) > os.path.getsize(path):
        return _problem("verify.overlap")
    return None


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    parts = PurePosixPath(name).parts
    return not (".." in parts or (parts and ":" in parts[0]))


def _read_members(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], rebuilt) -> _Read:
    """Hash every member once, and write it into the rebuilt copy while at it."""
    read = _Read()
    counts = Counter(i.filename for i in infos)
    read.problems += [_problem("verify.duplicate", file=name) for name, count in sorted(counts.items()) if count > 1]
    with layout.open_writer(rebuilt) as copy:
        for info in infos:
            try:
                with archive.open(info) as member:
                    if info.filename in SMALL_MEMBER_LIMITS:
                        data = member.read()
                        read.small[info.filename] = data
                        digests = (layout.add_bytes(copy, info.filename, data), hashlib.md5(data).hexdigest(), len(data))
                    else:
                        digests = layout.add_stream(copy, info.filename, layout.pieces(member), info.file_size)
                read.digests[info.filename] = digests
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError) as e:
                read.problems.append(_problem("verify.damaged", file=info.filename, why=str(e)))
    return read


def _damaged(name: str, problems: list[dict]) -> bool:
    return any(p["code"] == "verify.damaged" and p["params"]["file"] == name for p in problems)


def _load_key(pem: bytes) -> tuple[Ed25519PublicKey | None, dict | None]:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None, _problem("verify.key_not_pem")
    if not isinstance(key, Ed25519PublicKey):
        return None, _problem("verify.key_not_ed25519")
    return key, None


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _parse_manifest(data: bytes) -> tuple[dict, dict | None]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return {}, _problem("verify.manifest_not_json", why=str(e)[:200])
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
        return {}, _problem("verify.manifest_not_format", format=layout.FORMAT)
    shape = _shape_problem(manifest)
    return (manifest, None) if shape is None else ({}, _problem("verify.manifest_malformed", problem=shape))


def _shape_problem(manifest: dict) -> dict | None:
    """What the later checks rely on, checked once: a hostile manifest gets a sentence, not a crash."""
    if not isinstance(manifest.get("public_key"), str):
        return _problem("verify.shape.public_key")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return _problem("verify.shape.files")
    items = manifest.get("items")
    if not isinstance(items, list):
        return _problem("verify.shape.items")
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("file"), str) and isinstance(item.get("sha256"), str)
                and isinstance(item.get("md5"), str) and type(item.get("size")) is int):
            return _problem("verify.shape.item")
    log = manifest.get("custody_log")
    if not (isinstance(log, dict) and isinstance(log.get("entries"), list)
            and all(isinstance(e, dict) for e in log["entries"])):
        return _problem("verify.shape.custody_log")
    return None


def _vouched(manifest: dict, read: _Read) -> set[str]:
    """Files whose bytes the valid signature proves: the manifest, its signature, what it lists."""
    listed = dict(manifest.get("files", {}))
    listed.update({item.get("file"): item.get("sha256") for item in manifest.get("items", [])})
    proven = {name for name, digest in listed.items() if name in read.digests and read.digests[name][0] == digest}
    return proven | {layout.MANIFEST, layout.SIGNATURE}


def _check_sums(read: _Read, vouched: set[str]) -> list[dict]:
    """Check SHA256SUMS; a line that disagrees with a file the signature vouches for blames SHA256SUMS."""
    if layout.SUMS not in read.small:
        return []
    problems, listed = [], set()
    for number, line in enumerate(read.small[layout.SUMS].decode("utf-8", "replace").splitlines(), 1):
        match = SUMS_LINE.match(line)
        if not match:
            problems.append(_problem("verify.sums_line", line=number))
            continue
        digest, name = match.groups()
        listed.add(name)
        if name not in read.digests:
            if not _damaged(name, read.problems):
                problems.append(_problem("verify.sums_unknown", line=number, file=name))
        elif read.digests[name][0] != digest:
            if name in vouched:
                problems.append(_problem("verify.sums_wrong", line=number, file=name))
            else:
                problems.append(_problem("verify.altered_sums", file=name))
    unlisted = sorted(set(read.digests) - listed - {layout.SUMS})
    problems += [_problem("verify.unlisted", file=name) for name in unlisted]
    return problems


def _check_manifest_files(manifest: dict, read: _Read) -> list[dict]:
    problems, expected = [], {layout.MANIFEST, layout.SIGNATURE, layout.SUMS}
    for name, digest in manifest.get("files", {}).items():
        expected.add(name)
        if name in read.digests and read.digests[name][0] != digest:
            problems.append(_problem("verify.altered_manifest", file=name))
    for item in manifest.get("items", []):
        name = item.get("file")
        expected.add(name)
        if name not in read.digests:
            if not _damaged(str(name), read.problems):
                problems.append(_problem("verify.original_missing", item=str(item.get("item_id")), file=str(name)))
            continue
        sha256, md5, size = read.digests[name]
        if (sha256, md5, size) != (item.get("sha256"), item.get("md5"), item.get("size")):
            problems.append(_problem("verify.original_altered", file=name, item=str(item.get("item_id"))))
    problems += [_problem("verify.not_in_manifest", file=name) for name in sorted(set(read.digests) - expected)]
    return problems


def _check_custody_log(manifest: dict, key: Ed25519PublicKey) -> tuple[list[dict], int, dict | None]:
    """Check every entry of the excerpt, and the signed head receipt taken when it was exported."""
    log = manifest["custody_log"]
    entries = log["entries"]
    try:
        rows = [LogRow(int(e["seq"]), e["time"], e["actor"], e["action"], e["subject"], e["case_id"], e["details"],
                       e["prev_hash"], e["entry_hash"], bytes.fromhex(e["signature"])) for e in entries]
        result = verify_excerpt(rows, key)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        return [_problem("verify.log_malformed")], len(entries), None
    problems = [] if result.ok else [_problem("verify.log", problem=result.message)]
    try:
        head = HeadReceipt.from_json(log.get("head"))
    except ReceiptError as e:
        return problems + [_problem("verify.no_receipt", why=str(e))], len(rows), None
    receipt_problem = signature_problem_message(head, key)
    if receipt_problem:
        problems.append(_problem("verify.receipt", problem=receipt_problem))
    if rows and rows[-1].seq > head.seq:
        problems.append(_problem("verify.after_head", seq=rows[-1].seq, head=head.seq))
    return problems, len(rows), head.to_json()


def _check_reports_name_the_key(path: Path, infos: list[zipfile.ZipInfo], fingerprint: str) -> list[dict]:
    """Both reports must state the fingerprint of the key that signed the manifest.

    Otherwise a package re-signed with another key could keep a report that shows the centre's
    real fingerprint to a reader who compares the report, not this check, with the published one.
    """
    problems = []
    by_name = {info.filename: info for info in infos}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for name, found in ((layout.REPORT_HTML, _html_markers), (layout.REPORT_PDF, _pdf_markers)):
            if name not in by_name:
                continue
            start, end = _data_range(data, by_name[name])
            stated = found(data, start, end)
            if not stated:
                problems.append(_problem("verify.report_no_key", file=name))
            elif stated != {fingerprint}:
                shown = ", ".join(sorted(stated - {fingerprint}))
                problems.append(_problem("verify.report_other_key", file=name, shown=shown, fingerprint=fingerprint))
    return problems


def _data_range(data: mmap.mmap, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Where a stored entry's bytes lie in the ZIP file (empty when its header is damaged)."""
    header = data[info.header_offset:info.header_offset + LOCAL_HEADER]
    if len(header) < LOCAL_HEADER or not header.startswith(b"PK\x03\x04"):
        return 0, 0
    start = info.header_offset + LOCAL_HEADER + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    return start, min(start + info.compress_size, len(data))


def _html_markers(data: mmap.mmap, start: int, end: int) -> set[str]:
    return {m.group(1).decode("ascii") for m in KEY_MARKER.finditer(data, start, end)}


def _pdf_markers(data: mmap.mmap, start: int, end: int) -> set[str]:
    """Markers in the PDF's compressed streams, each inflated at most PDF_STREAM_OUTPUT bytes."""
    found = set()
    for stream in PDF_STREAM.finditer(data, start, end):
        window = data[stream.end():min(stream.end() + PDF_STREAM_WINDOW, end)]
        try:
            text = zlib.decompressobj().decompress(window, PDF_STREAM_OUTPUT)
        except zlib.error:
            continue
        found |= {m.group(1).decode("ascii") for m in KEY_MARKER.finditer(text)}
    return found


def _check_layout(path: Path, rebuilt, infos: list[zipfile.ZipInfo], directory_start: int) -> list[dict]:
    """Compare the package with the ZIP rebuilt from its own files, byte for byte."""
    rebuilt.seek(0)
    offset = 0
    with open(path, "rb") as original:
        while True:
            a, b = original.read(layout.CHUNK_BYTES), rebuilt.read(layout.CHUNK_BYTES)
            if a != b:
                where = offset + next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                return [_problem("verify.layout", offset=where, region=_region(where, infos, directory_start))]
            if not a:
                return []
            offset += len(a)


def _region(offset: int, infos: list[zipfile.ZipInfo], directory_start: int) -> dict:
    if offset >= directory_start:
        return _problem("verify.region.directory")
    before = [i for i in infos if i.header_offset <= offset]
    if not before:
        return _problem("verify.region.before_first")
    return _problem("verify.region.entry", file=max(before, key=lambda i: i.header_offset).filename)


def _problem(code: str, **params) -> dict:
    return messages.message(code, **params)


def _report(problems: list[dict], items: int = 0, log_entries: int = 0, fingerprint: str | None = None,
            head: dict | None = None) -> PackageReport:
    return PackageReport(not problems, problems, items, log_entries, fingerprint, head)
