"""The custody log: who did what to which evidence, when, in an order nobody can rewrite.

Each entry holds the SHA-256 of the previous entry (`prev_hash`), its own hash over its
canonical bytes (`entry_hash`), and an Ed25519 signature of that hash by the workspace
signing key. Canonical bytes are the JSON of every field except `entry_hash` and
`signature`, keys sorted, no spaces, UTF-8. The signature is over the 64 ASCII characters
of `entry_hash`, so anyone can check an entry with `signing.pub` and standard tools.

Signing every entry lets an excerpt (the entries of one case in an evidence package) be
checked entry by entry without the rest of the log; the chain makes a whole-log check
cheap, see `verify`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Text, false, func, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jikimi import keys, messages
from jikimi.errors import JikimiError
from jikimi.store.audit_models import CANONICAL_JSON, AuditEntry
from jikimi.store.models import utcnow

GENESIS_HASH = "0" * 64
# PostgreSQL advisory lock id of the custody log head (any fixed 64-bit number; "JIKIMI-A" in ASCII).
AUDIT_LOCK_KEY = 0x4A494B494D492D41
# A signature is checked every CHECKPOINT_EVERY entries and on the last one. Any one valid
# signature authenticates the whole chain before it; the checkpoints only bound how many
# entries must be kept in memory to name the first forged one (see `verify`).
CHECKPOINT_EVERY = 256
READ_BATCH = 5000
APPEND_ATTEMPTS = 20

# The canonical JSON of an entry written out, keys in sorted order, so that verifying a
# million entries does not build and sort a million dicts. `details` is inserted as its
# canonical text. It equals CANONICAL_JSON.encode() of the entry's fields (tested).
_CANONICAL_TEMPLATE = (
    '{"action":%s,"actor":%s,"case_id":%s,"details":%s,'
    '"prev_hash":%s,"seq":%s,"subject":%s,"time":%s}'
)


class AuditError(JikimiError):
    """The custody log cannot be written (details not JSON, too many concurrent writers)."""


class LogRow(NamedTuple):
    """One entry as plain values; `details` is its canonical JSON text or the parsed dict."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    case_id: int | None
    details: str | dict
    prev_hash: str
    entry_hash: str | None
    signature: bytes | None

    @classmethod
    def of(cls, entry: AuditEntry | Sequence) -> LogRow:
        if type(entry) is AuditEntry:
            return cls(*(getattr(entry, name) for name in cls._fields))
        return cls._make(entry)


def canonical_bytes(row: LogRow) -> bytes:
    """The bytes an entry's hash covers: JSON of every field but entry_hash and signature."""
    details = row.details if isinstance(row.details, str) else CANONICAL_JSON.encode(row.details)
    return (
        _CANONICAL_TEMPLATE
        % (
            _json_value(row.action),
            _json_value(row.actor),
            _json_value(row.case_id),
            details,
            _json_value(row.prev_hash),
            _json_value(row.seq),
            _json_value(row.subject),
            _json_value(row.time),
        )
    ).encode()


def _json_value(value: object) -> str:
    """CANONICAL_JSON.encode(value), five times faster for the str, int and None the log holds."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    return CANONICAL_JSON.encode(value)


def compute_hash(row: LogRow) -> str:
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


def seal(entry: AuditEntry, key: Ed25519PrivateKey) -> AuditEntry:
    """Fill in `entry_hash` and `signature` once every hashed field is set."""
    entry.entry_hash = compute_hash(LogRow.of(entry))
    entry.signature = key.sign(entry.entry_hash.encode("ascii"))
    return entry


def operator_name() -> str:
    """Who is acting: `JIKIMI_OPERATOR` when set (shared accounts), else the OS user."""
    if name := os.environ.get("JIKIMI_OPERATOR", "").strip():
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # entries read, up to and including the first bad one
    first_bad_seq: int | None
    reason: str  # in English, for the CLI and the JSON API
    message: dict | None = None  # the same as a code and parameters (jikimi.messages), for the web

    @classmethod
    def intact(cls, checked: int) -> VerifyResult:
        return cls(True, checked, None, messages.english("log.intact", {"count": checked}),
                   messages.message("log.intact", count=checked))

    @classmethod
    def damaged(cls, checked: int, seq: int, problem: dict) -> VerifyResult:
        return cls(False, checked, seq, messages.english(problem["code"], problem["params"]), problem)


class AuditLog:
    """The custody log of one workspace, written through the caller's session.

    An entry appended inside a transaction commits or rolls back with the action it records.
    """

    def __init__(self, session: Session, home: Path):
        self.session = session
        self.home = home
        self._signing_key: Ed25519PrivateKey | None = None

    def append(
        self,
        action: str,
        subject: str,
        details: dict | None = None,
        case_id: int | None = None,
        actor: str | None = None,
    ) -> AuditEntry:
        """Record an action. The next seq and prev_hash are read in the same transaction.

        Two writers that read the same head both try to insert the same seq; the primary
        key lets one win and the other retries on the new head, so the chain never forks.
        """
        if self._signing_key is None:
            self._signing_key = keys.signing_key(self.home)
        details = {} if details is None else details
        try:
            if not isinstance(details, dict):
                raise TypeError(f"a {type(details).__name__}, not an object")
            details = json.loads(CANONICAL_JSON.encode(details))  # what is stored is what is hashed
        except (TypeError, ValueError) as e:
            raise AuditError(f"audit details for {action!r} are not plain JSON: {e}") from None
        self._lock_head()
        for _ in range(APPEND_ATTEMPTS):
            try:
                with self.session.begin_nested():
                    head = self.session.execute(
                        select(AuditEntry.seq, AuditEntry.entry_hash)
                        .order_by(AuditEntry.seq.desc())
                        .limit(1)
                    ).first()
                    entry = AuditEntry(
                        seq=head.seq + 1 if head else 1,
                        time=utcnow().isoformat(timespec="microseconds"),
                        actor=actor or operator_name(),
                        action=action,
                        subject=str(subject),
                        case_id=case_id,
                        details=details,
                        prev_hash=head.entry_hash if head else GENESIS_HASH,
                    )
                    self.session.add(seal(entry, self._signing_key))
                return entry
            except IntegrityError:
                continue
        raise AuditError(
            f"could not append to the custody log: {APPEND_ATTEMPTS} concurrent writers came first"
        )

    def _lock_head(self) -> None:
        """Take the log's write lock before the head is read, held until the transaction ends,
        so writers in other processes or machines queue instead of racing for the same seq.

        SQLite: an empty UPDATE takes the database write lock. PostgreSQL: a transaction-level
        advisory lock (READ COMMITTED would otherwise let every writer read the same head and
        all but one retry, many times under load).
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
        else:
            self.session.execute(
                update(AuditEntry).where(false()).values(seq=AuditEntry.seq),
                execution_options={"synchronize_session": False},
            )

    def entries(
        self, case_id: int | None = None, subject: str | None = None
    ) -> Iterator[AuditEntry]:
        """Entries in seq order, optionally of one case or one subject, read in batches."""
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        if subject is not None:
            query = query.where(AuditEntry.subject == subject)
        yield from self.session.scalars(query.execution_options(yield_per=READ_BATCH))

    def verify(self, public_key: Ed25519PublicKey | bytes | None = None) -> VerifyResult:
        """Check the whole log against `public_key` (default: this workspace's signing.pub)."""
        columns = [getattr(AuditEntry, name) for name in LogRow._fields]
        # details as stored text: the hash is checked over the stored bytes, unparsed
        columns[LogRow._fields.index("details")] = type_coerce(AuditEntry.details, Text)
        rows = self.session.connection().execute(
            select(*columns).order_by(AuditEntry.seq).execution_options(yield_per=READ_BATCH)
        )
        return verify(rows, public_key or keys.public_key(self.home))


def verify(
    entries: Iterable[AuditEntry | Sequence],
    public_key: Ed25519PublicKey | bytes,
    every_signature: bool = False,
) -> VerifyResult:
    """Check a complete log (seq 1, 2, 3, ...) and name the first entry that is not authentic.

    `entries` are AuditEntry objects or rows with LogRow's fields in that order, by seq.

    Every entry's hash is recomputed and linked to the previous one; signatures are checked
    every CHECKPOINT_EVERY entries and on the last entry. The guarantee is the same as
    checking every signature, assuming SHA-256 is collision resistant and the signing key
    was not stolen: a valid signature on entry n signs its hash, which covers prev_hash,
    which covers entry n-1, and so on back to entry 1. So `ok` means entries 1..N are
    exactly, and in the order, that the key holder wrote them, none missing between.

    The first bad entry is named exactly as well. Any entry with a valid signature whose
    chain back to 1 is intact is authentic, so once a checkpoint passes everything before it
    is; when a later check fails, the signatures since the last passing checkpoint (at most
    CHECKPOINT_EVERY, kept in memory) are checked one by one and the first invalid one is
    the first entry the key holder did not write. An entry altered in place is named by its
    hash; a deleted entry by its own seq (the one missing); swapped entries by the first of
    them; an entry forged and re-hashed without the key by its signature.

    Not seen by default: a signature overwritten on an entry whose contents are intact
    (unless it is a checkpoint). The contents stay proven by the next checkpoint; the
    damaged signature only matters for excerpts, which `verify_excerpt` checks entry by
    entry. `every_signature=True` checks them all, about 20 times slower.

    What no chain can show: entries cut from the end. Compare the head (last seq and hash)
    with one recorded elsewhere, e.g. in an evidence package, to rule that out.
    """
    public_key = _as_public_key(public_key)
    unconfirmed: list[tuple[int, str, bytes]] = []  # entries since the last good signature
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for item in entries:
        entry = LogRow.of(item)
        checked += 1
        problem = _link_problem(entry, expected_seq, prev_hash)
        if problem:
            bad_seq, reason = problem
            return _first_forged(unconfirmed, public_key, checked) or VerifyResult.damaged(checked, bad_seq, reason)
        unconfirmed.append((entry.seq, entry.entry_hash, entry.signature))
        if every_signature or entry.seq % CHECKPOINT_EVERY == 0:
            if not _signed(public_key, entry.entry_hash, entry.signature):
                return _first_forged(unconfirmed, public_key, checked)
            unconfirmed.clear()
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
    if unconfirmed and not _signed(public_key, entry.entry_hash, entry.signature):
        return _first_forged(unconfirmed, public_key, checked)
    return VerifyResult.intact(checked)


def verify_excerpt(
    entries: Iterable[AuditEntry | Sequence], public_key: Ed25519PublicKey | bytes
) -> VerifyResult:
    """Check entries taken out of the log (one case's, in an evidence package) one by one.

    Each entry must match its hash and carry a valid signature, and seqs must increase;
    gaps are expected. `ok` means every entry is exactly as the key holder wrote it. It
    cannot show that no entry of the case was left out: that needs the whole log.
    """
    public_key = _as_public_key(public_key)
    checked, last_seq = 0, 0
    for item in entries:
        entry = LogRow.of(item)
        checked += 1
        if entry.seq <= last_seq:
            reason = messages.message("log.out_of_order_after", seq=entry.seq, last=last_seq)
            return VerifyResult.damaged(checked, entry.seq, reason)
        if compute_hash(entry) != entry.entry_hash:
            return VerifyResult.damaged(checked, entry.seq, messages.message("log.altered", seq=entry.seq))
        if not _signed(public_key, entry.entry_hash, entry.signature):
            return VerifyResult.damaged(checked, entry.seq, _forged_reason(entry.seq))
        last_seq = entry.seq
    return VerifyResult.intact(checked)


def _as_public_key(public_key: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    if isinstance(public_key, bytes):
        return Ed25519PublicKey.from_public_bytes(public_key)
    return public_key


def _link_problem(entry: LogRow, expected_seq: int, prev_hash: str) -> tuple[int, dict] | None:
    if entry.seq > expected_seq:
        return expected_seq, messages.message("log.missing", seq=expected_seq, next=entry.seq)
    if entry.seq < expected_seq:
        return entry.seq, messages.message("log.out_of_order", seq=entry.seq, expected=expected_seq)
    if compute_hash(entry) != entry.entry_hash:
        return entry.seq, messages.message("log.altered", seq=entry.seq)
    if entry.prev_hash != prev_hash:
        return entry.seq, messages.message("log.not_following", seq=entry.seq, previous=entry.seq - 1)
    return None


def _first_forged(
    unconfirmed: list[tuple[int, str, bytes]], public_key: Ed25519PublicKey, checked: int
) -> VerifyResult | None:
    for seq, entry_hash, signature in unconfirmed:
        if not _signed(public_key, entry_hash, signature):
            return VerifyResult.damaged(checked, seq, _forged_reason(seq))
    return None


def _forged_reason(seq: int) -> dict:
    return messages.message("log.forged", seq=seq)


def _signed(public_key: Ed25519PublicKey, entry_hash: str, signature: bytes | None) -> bool:
    try:
        public_key.verify(signature or b"", entry_hash.encode("ascii"))
        return True
    except InvalidSignature:
        return False
