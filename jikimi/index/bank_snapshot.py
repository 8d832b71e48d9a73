"""A matcher's built PDQ index on disk, so that a restart reads one file instead of every hash.

Reading 10M hashes from the database and sorting them into the index's tables takes minutes;
reading the built arrays back takes seconds. As HMA stores the index its background job built
and FAISS has `write_index`/`read_index`, a matcher writes its index here (after a full load,
and again after many changes), then a restart loads the file and applies only the feed's
changes since the sequence number the file records (snapshot + log replay).

A snapshot is only a cache: anything doubtful about it and the matcher loads in full, with a
one-line warning. Refused: another format version or index layout, a file cut short or with
a wrong checksum (CRC-32 per array: damage, not an attacker, is what it guards against; the
file is the owner's, mode 0600), and a file from another database or one that the feed has
moved past. Both are caught by its anchor: the feed change it was taken at (number, kind,
bank, content, time) must still be in the feed as recorded. A feed compacted past it no
longer holds that change, and another database has other changes (or none) at that number.
A snapshot is taken only once the feed has a change to anchor it to.

Layout: MAGIC, a 4-byte header length, the header (JSON: version, layout, anchor, and per
array its dtype, shape and CRC-32), then each array's bytes in the header's order.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jikimi.index import pdq
from jikimi.signals.pdq import PDQ_QUALITY_THRESHOLD
from jikimi.store.models import BankChange

log = logging.getLogger(__name__)

MAGIC = b"JIKIMI-PDQ-SNAPSHOT\n"
VERSION = 1
FILE_NAME = "bank_pdq.snapshot"
DIRECTORY_VARIABLE = "JIKIMI_INDEX_SNAPSHOT_DIR"  # where snapshots go; default the workspace's index/
# What the arrays mean depends on these: a snapshot taken with others is not used.
LAYOUT = {"num_substrings": pdq.NUM_SUBSTRINGS, "pdq_bytes": pdq.PDQ_BYTES,
          "quality_threshold": PDQ_QUALITY_THRESHOLD}
READ_CHUNK = 64 * 1024 * 1024  # bytes per checksum step: no second copy of a large array
HEADER_LIMIT = 1024 * 1024  # a longer header is damage


class Unusable(Exception):
    """Why a snapshot is not used (the full load runs instead)."""


def path_for(home: Path) -> Path:
    """The snapshot file of the workspace at `home` (or in $JIKIMI_INDEX_SNAPSHOT_DIR)."""
    return Path(os.environ.get(DIRECTORY_VARIABLE) or home / "index") / FILE_NAME


def write(path: Path, arrays: dict[str, np.ndarray], numbers: dict, anchor: dict) -> None:
    """Write atomically (a temporary file renamed over the old one), readable by the owner only."""
    header = {"version": VERSION, "layout": LAYOUT, "anchor": anchor, "numbers": numbers,
              "arrays": [{"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
                          "crc32": _crc32(array)} for name, array in arrays.items()]}
    encoded = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A new file of ours (O_EXCL, 0600), never one planted under a name we would pick: the
    # directory may be shared ($JIKIMI_INDEX_SNAPSHOT_DIR). The rename replaces a link, never follows it.
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with open(handle, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(encoded)) + encoded)
            for array in arrays.values():
                f.write(_bytes(array))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read(path: Path, session: Session) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and numbers of a snapshot still good for this database; raises Unusable.

    The arrays are the file's pages mapped copy-on-write, not read into memory: the processes
    of `jikimi serve --workers N` loading the same snapshot share one copy of them (the
    kernel's page cache), and a page one of them changes (a content's row marked dead) becomes
    its own. The file is never written in place (`write` renames a new one over it), so a
    mapping always sees the file it checked."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            _check_owner(os.fstat(f.fileno()))
            header = _header(f)
            _check_anchor(session, header["anchor"])
            offset, size = f.tell(), os.fstat(f.fileno()).st_size
            arrays = {}
            for spec in header["arrays"]:
                arrays[spec["name"]] = _array(f, spec, offset, size)
                offset += arrays[spec["name"]].nbytes
            if size > offset:
                raise Unusable("bytes after its last array")
    except FileNotFoundError:
        raise Unusable("none yet") from None
    except (OSError, ValueError, KeyError, TypeError, MemoryError) as error:
        raise Unusable(f"unreadable ({type(error).__name__}: {error})") from None
    return arrays, header["numbers"]


def _check_owner(status: os.stat_result) -> None:
    """Only a file this user owns and nobody else may write: a checksum is no signature."""
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        raise Unusable("not owned by this user, or writable by others")


def anchor(session: Session, seq: int) -> dict | None:
    """The feed change `seq` as a snapshot records it (None when the feed has no such change)."""
    row = session.execute(select(BankChange.kind, BankChange.bank_id, BankChange.content_id, BankChange.created_at)
                          .where(BankChange.seq == seq)).first()
    if row is None:
        return None
    return {"seq": seq, "kind": row.kind, "bank_id": row.bank_id, "content_id": row.content_id,
            "created_at": row.created_at.isoformat()}


def _header(f) -> dict:
    if f.read(len(MAGIC)) != MAGIC:
        raise Unusable("not a Jikimi index snapshot")
    (length,) = struct.unpack("<I", f.read(4))
    if length > HEADER_LIMIT:
        raise Unusable("damaged header")
    try:
        header = json.loads(f.read(length))
    except ValueError:
        raise Unusable("damaged header") from None
    if header.get("version") != VERSION or header.get("layout") != LAYOUT:
        raise Unusable(f"format version {header.get('version')} with layout {header.get('layout')}, "
                       f"this is version {VERSION} with {LAYOUT}")
    return header


def _check_anchor(session: Session, recorded: dict) -> None:
    current = anchor(session, recorded["seq"])
    if current != recorded:
        raise Unusable(f"taken at feed change {recorded['seq']}, which this database's feed does not hold "
                       "(another database, or the feed was compacted past it)")


def _array(f, spec: dict, offset: int, size: int) -> np.ndarray:
    """One array mapped from the file at `offset` (copy-on-write), its checksum checked."""
    dtype, shape = np.dtype(spec["dtype"]), spec["shape"]
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise Unusable(f"damaged shape of {spec['name']}")
    nbytes = dtype.itemsize * math.prod(shape)
    if offset + nbytes > size:  # before mapping: a damaged header may claim petabytes
        raise Unusable("cut short")
    if nbytes == 0:  # nothing to map (an empty mapping is refused)
        array = np.empty(shape, dtype=dtype)
    else:
        array = np.memmap(f, dtype=dtype, mode="c", offset=offset, shape=tuple(shape))
    if _crc32(array) != spec["crc32"]:
        raise Unusable(f"wrong checksum of {spec['name']}")
    return array


def _bytes(array: np.ndarray) -> np.ndarray:
    """The array's bytes, flat, without a copy."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _crc32(array: np.ndarray) -> int:
    view, crc = _bytes(array), 0
    for start in range(0, len(view), READ_CHUNK):
        crc = zlib.crc32(view[start:start + READ_CHUNK], crc)
    return crc
