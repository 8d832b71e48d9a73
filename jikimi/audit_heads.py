"""Signed heads of the custody log, so cutting its end or rolling it back is caught.

A hash chain proves that no entry was changed, removed or inserted between the first and the
last entry it holds, but not that the last entry is the last one written: delete the newest
entries, restore an older copy of the database, or start an empty one, and the chain that is
left is still intact. Certificate Transparency answers this with signed tree heads: the log
signs (size, root hash, time); anyone who keeps one can later demand that the log still
contains that head. Jikimi does the same. A *head receipt* is the workspace key's Ed25519
signature over the canonical JSON of

    {"format": "jikimi-log-head/1", "seq": N, "entry_hash": H, "time": T, "key_fingerprint": F}

where N is the number of entries, H the hash of entry N (which covers the whole chain before
it), T when the receipt was signed and F the fingerprint of the signing key (see
`keys.fingerprint`). Every evidence package and every JSON or HTML scan report carries one,
and `jikimi audit anchor` writes one. `witness_problem` says what is wrong when the log no
longer contains a receipt's head. Receipts are only worth what is kept where the attacker
cannot reach it: mail them, print them, keep them on another disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jikimi import keys, messages
from jikimi.audit import GENESIS_HASH
from jikimi.errors import JikimiError
from jikimi.store.audit_models import CANONICAL_JSON, AuditEntry
from jikimi.store.models import utcnow

RECEIPT_FORMAT = "jikimi-log-head/1"
# An HTML report embeds its receipt in this element, so a witness can be any HTML report.
HTML_RECEIPT = re.compile(rb'<script type="application/json" id="jikimi-custody-head">(.{1,2000}?)</script>', re.S)
HASH = re.compile(r"[0-9a-f]{64}")


class ReceiptError(JikimiError):
    """A file given as a witness holds no readable head receipt."""


@dataclass(frozen=True)
class HeadReceipt:
    seq: int
    entry_hash: str
    time: str
    key_fingerprint: str
    signature: str  # hex

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.seq, self.entry_hash, self.time, self.key_fingerprint)

    def to_json(self) -> dict:
        return {"format": RECEIPT_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> HeadReceipt:
        if not isinstance(data, dict) or data.get("format") != RECEIPT_FORMAT:
            raise ReceiptError(f"not a {RECEIPT_FORMAT} receipt")
        seq, entry_hash, signature = data.get("seq"), data.get("entry_hash"), data.get("signature")
        time, fingerprint = data.get("time"), data.get("key_fingerprint")
        if not (type(seq) is int and seq >= 0 and isinstance(entry_hash, str) and HASH.fullmatch(entry_hash)
                and isinstance(time, str) and isinstance(fingerprint, str) and HASH.fullmatch(fingerprint)
                and isinstance(signature, str) and re.fullmatch(r"[0-9a-f]{128}", signature)):
            raise ReceiptError(f"a {RECEIPT_FORMAT} receipt with a missing or malformed field")
        return cls(seq, entry_hash, time, fingerprint, signature)


def signed_bytes(seq: int, entry_hash: str, time: str, key_fingerprint: str) -> bytes:
    return CANONICAL_JSON.encode({"format": RECEIPT_FORMAT, "seq": seq, "entry_hash": entry_hash, "time": time,
                                  "key_fingerprint": key_fingerprint}).encode("utf-8")


def sign_head(session: Session, home: Path) -> HeadReceipt:
    """A receipt for the log's head as this session sees it (seq 0 and the genesis hash when empty).

    Call it after the command's own entries were appended: the receipt then covers them, and
    they commit with the session or the command fails before the receipt is handed out.
    """
    head = session.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, entry_hash = (head.seq, head.entry_hash) if head else (0, GENESIS_HASH)
    time = utcnow().isoformat(timespec="seconds")
    signing_key = keys.signing_key(home)
    fingerprint = keys.fingerprint(signing_key.public_key())
    signature = signing_key.sign(signed_bytes(seq, entry_hash, time, fingerprint))
    return HeadReceipt(seq, entry_hash, time, fingerprint, signature.hex())


def signature_problem(receipt: HeadReceipt, public_key: Ed25519PublicKey) -> str | None:
    """Why the receipt is not the signature of `public_key`, or None."""
    problem = signature_problem_message(receipt, public_key)
    return messages.english(problem["code"], problem["params"]) if problem else None


def signature_problem_message(receipt: HeadReceipt, public_key: Ed25519PublicKey) -> dict | None:
    """`signature_problem` as a code and parameters (jikimi.messages)."""
    if receipt.key_fingerprint != keys.fingerprint(public_key):
        return messages.message("receipt.other_key", signer=receipt.key_fingerprint, own=keys.fingerprint(public_key))
    try:
        public_key.verify(bytes.fromhex(receipt.signature), receipt.signed_bytes())
    except InvalidSignature:
        return messages.message("receipt.forged")
    return None


def witness_problem(session: Session, receipt: HeadReceipt, public_key: Ed25519PublicKey) -> str | None:
    """Why the log no longer contains the head the receipt vouches for, or None when it does.

    With the chain intact (checked separately), entry `seq` having the receipt's hash means
    entries 1..seq are exactly the ones the receipt was signed over.
    """
    problem = witness_problem_message(session, receipt, public_key)
    return messages.english(problem["code"], problem["params"]) if problem else None


def witness_problem_message(session: Session, receipt: HeadReceipt, public_key: Ed25519PublicKey) -> dict | None:
    """`witness_problem` as a code and parameters (jikimi.messages)."""
    problem = signature_problem_message(receipt, public_key)
    if problem or receipt.seq == 0:
        return problem
    stored = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == receipt.seq))
    if stored is None:
        last = session.scalar(select(func.max(AuditEntry.seq))) or 0
        return messages.message("receipt.log_cut", last=last, time=receipt.time, seq=receipt.seq)
    if stored != receipt.entry_hash:
        return messages.message("receipt.rolled_back", seq=receipt.seq, time=receipt.time)
    return None


def load_witness(path: Path) -> HeadReceipt:
    """The head receipt in a receipt file or a JSON or HTML scan report (packages: see `evidence.verify`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReceiptError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        found = HTML_RECEIPT.search(data)
        document = json.loads(found.group(1) if found else data)
        if isinstance(document, dict) and "custody_head" in document:
            document = document["custody_head"]
        return HeadReceipt.from_json(document)
    except (ValueError, RecursionError) as e:
        raise ReceiptError(f"{path}: no head receipt in it (not a receipt, nor a JSON or HTML report: {e})") from None
    except ReceiptError as e:
        raise ReceiptError(f"{path}: {e}") from None
