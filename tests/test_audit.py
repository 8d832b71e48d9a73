import json
import threading
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, text

from conftest import sqlite_only
from jikimi import audit, keys
from jikimi.audit import GENESIS_HASH, AuditError, AuditLog, LogRow, verify, verify_excerpt
from jikimi.store.audit_models import CANONICAL_JSON, AuditEntry

ENTRIES = 12
CHECKPOINT = 4  # small, so that tampering before, at, between and after checkpoints is tried
POSITIONS = [1, 3, 4, 6, 12]  # first, inside a window, a checkpoint, later window, the head


@pytest.fixture
def log_ws(ws, monkeypatch):
    monkeypatch.setenv("JIKIMI_OPERATOR", "caseworker-kim")
    monkeypatch.setattr(audit, "CHECKPOINT_EVERY", CHECKPOINT)
    return ws


@pytest.fixture
def full_ws(log_ws):
    fill(log_ws, ENTRIES)
    return log_ws


def fill(ws, count):
    actions = ["ingest", "view", "reveal", "decision", "export", "notice", "subject_add"]
    with ws.session() as session:
        log = AuditLog(session, ws.home)
        for i in range(count):
            log.append(
                actions[i % len(actions)],
                f"item:{i // 2}",
                {"sha256": f"{i:064x}", "note": "검토 \"확인\"", "score": i / 3},
                case_id=i % 3 or None,
            )


def check(ws, **options):
    with ws.session() as session:
        if options:
            rows = list(AuditLog(session, ws.home).entries())
            return verify(rows, keys.public_key(ws.home), **options)
        return AuditLog(session, ws.home).verify()


def sql(ws, statement, **params):
    with ws.engine.begin() as connection:
        connection.execute(text(statement), params)


def rows(ws):
    with ws.session() as session:
        return [LogRow.of(e) for e in AuditLog(session, ws.home).entries()]


def rewrite(ws, row, **changes):
    """What an attacker with the database but without the key can do: edit and re-hash."""
    row = row._replace(**changes)
    row = row._replace(entry_hash=audit.compute_hash(row))
    sql(
        ws,
        "UPDATE audit_log SET time = :time, actor = :actor, action = :action, subject = :subject,"
        " case_id = :case_id, details = :details, prev_hash = :prev_hash,"
        " entry_hash = :entry_hash WHERE seq = :seq",
        **{**row._asdict(), "details": CANONICAL_JSON.encode(row.details)},
    )
    return row


def test_entries_are_chained_signed_and_attributed(full_ws):
    entries = rows(full_ws)
    assert [e.seq for e in entries] == list(range(1, ENTRIES + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in zip(entries, entries[1:]):
        assert after.prev_hash == before.entry_hash
    public = keys.public_key(full_ws.home)
    for entry in entries:
        assert entry.actor == "caseworker-kim"
        stamp = datetime.fromisoformat(entry.time)
        assert stamp.utcoffset() == timedelta(0)
        public.verify(entry.signature, entry.entry_hash.encode("ascii"))


def test_canonical_bytes_are_sorted_compact_utf8_json(full_ws):
    for entry in rows(full_ws):
        fields = {name: getattr(entry, name) for name in audit.LogRow._fields[:8]}
        expected = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert audit.canonical_bytes(entry) == expected.encode("utf-8")
        assert len(entry.entry_hash) == 64


def test_intact_log_verifies(full_ws):
    result = check(full_ws)
    assert result.ok and result.checked == ENTRIES and result.first_bad_seq is None
    assert check(full_ws, every_signature=True).ok  # from ORM objects, every signature


def test_empty_log_verifies(log_ws):
    assert check(log_ws).ok and check(log_ws).checked == 0


@pytest.mark.parametrize("k", POSITIONS)
@pytest.mark.parametrize(
    "column, value",
    [
        ("time", "2020-01-01T00:00:00.000000+00:00"),
        ("actor", "someone else"),
        ("action", "view"),
        ("subject", "item:999"),
        ("case_id", 999),
        ("details", '{"note":"edited"}'),
        ("prev_hash", "f" * 64),
        ("entry_hash", "a" * 64),
    ],
)
def test_altering_any_field_names_the_entry(full_ws, k, column, value):
    sql(full_ws, f"UPDATE audit_log SET {column} = :value WHERE seq = :k", value=value, k=k)
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k, result
    assert f"entry {k} " in result.reason


@pytest.mark.parametrize("k", POSITIONS)
def test_damaged_signature_is_found_when_every_signature_is_checked(full_ws, k):
    sql(full_ws, "UPDATE audit_log SET signature = :sig WHERE seq = :k", sig=b"\0" * 64, k=k)
    result = check(full_ws, every_signature=True)
    assert not result.ok and result.first_bad_seq == k
    # by default, only checkpoints and the head: the contents stay proven (see verify)
    assert check(full_ws).ok == (k % CHECKPOINT != 0 and k != ENTRIES)


@pytest.mark.parametrize("k", POSITIONS)
def test_entry_edited_and_rehashed_without_the_key_is_named(full_ws, k):
    rewrite(full_ws, rows(full_ws)[k - 1], actor="someone else")
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k, result
    assert "not signed by this workspace's key" in result.reason


@pytest.mark.parametrize("k", POSITIONS)
def test_whole_chain_rewritten_without_the_key_names_the_first_edit(full_ws, k):
    prev_hash = rows(full_ws)[k - 2].entry_hash if k > 1 else GENESIS_HASH
    for row in rows(full_ws)[k - 1 :]:
        changes = {"prev_hash": prev_hash}
        if row.seq == k:
            changes["details"] = {"note": "nothing happened"}
        prev_hash = rewrite(full_ws, row, **changes).entry_hash
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k, result
    assert "not signed by this workspace's key" in result.reason


@pytest.mark.parametrize("k", [1, 4, 6, 11])
def test_deleted_entry_is_named_by_its_own_seq(full_ws, k):
    sql(full_ws, "DELETE FROM audit_log WHERE seq = :k", k=k)
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k
    assert result.reason == f"entry {k} is missing (the next entry is {k + 1})"


@pytest.mark.parametrize("k", [1, 4, 6])
def test_deleted_entry_with_later_ones_renumbered_is_named(full_ws, k):
    sql(full_ws, "DELETE FROM audit_log WHERE seq = :k", k=k)
    for seq in range(k + 1, ENTRIES + 1):
        sql(full_ws, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k


def test_cutting_the_tail_is_not_visible_in_the_chain_alone(full_ws):
    """Documented limit: compare the head with one recorded elsewhere."""
    sql(full_ws, "DELETE FROM audit_log WHERE seq = :k", k=ENTRIES)
    result = check(full_ws)
    assert result.ok and result.checked == ENTRIES - 1


@pytest.mark.parametrize("k", [1, 3, 4, 11])
def test_swapped_entries_are_detected_at_the_first(full_ws, k):
    sql(full_ws, "UPDATE audit_log SET seq = -1 WHERE seq = :k", k=k)
    sql(full_ws, "UPDATE audit_log SET seq = :k WHERE seq = :k1", k=k, k1=k + 1)
    sql(full_ws, "UPDATE audit_log SET seq = :k1 WHERE seq = -1", k1=k + 1)
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == k


def forge(ws, seq, prev_hash, signature):
    row = LogRow(
        seq, "2024-09-01T00:00:00.000000+00:00", "intruder", "decision", "item:1", None,
        {"decision": "reject"}, prev_hash, None, None,
    )
    row = row._replace(entry_hash=audit.compute_hash(row))
    sql(
        ws,
        "INSERT INTO audit_log VALUES (:seq, :time, :actor, :action, :subject, :case_id,"
        " :details, :prev_hash, :entry_hash, :signature)",
        **{**row._asdict(), "details": CANONICAL_JSON.encode(row.details), "signature": signature},
    )


@pytest.mark.parametrize(
    "signature",
    [b"", b"\0" * 64, Ed25519PrivateKey.generate().sign(b"x" * 64)],
    ids=["unsigned", "zeros", "other-key"],
)
def test_forged_entry_rehashed_but_unsigned_is_detected(full_ws, signature):
    forge(full_ws, ENTRIES + 1, rows(full_ws)[-1].entry_hash, signature)
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == ENTRIES + 1
    assert "not signed by this workspace's key" in result.reason


def test_forged_entry_signed_with_another_key_is_detected(full_ws):
    other = Ed25519PrivateKey.generate()
    head = rows(full_ws)[-1]
    row = LogRow(ENTRIES + 1, head.time, "intruder", "view", "item:1", None, {}, head.entry_hash,
                 None, None)
    row = row._replace(entry_hash=audit.compute_hash(row))
    forge_signature = other.sign(row.entry_hash.encode("ascii"))
    with full_ws.session() as session:
        session.add(AuditEntry(**{**row._asdict(), "signature": forge_signature}))
    result = check(full_ws)
    assert not result.ok and result.first_bad_seq == ENTRIES + 1


def test_excerpt_of_one_case_verifies_entry_by_entry(full_ws):
    public = keys.public_key_bytes(full_ws.home)
    with full_ws.session() as session:
        excerpt = [LogRow.of(e) for e in AuditLog(session, full_ws.home).entries(case_id=1)]
    assert [e.case_id for e in excerpt] == [1] * len(excerpt) and len(excerpt) == 4
    assert verify_excerpt(excerpt, public).ok
    altered = excerpt[:]
    altered[1] = altered[1]._replace(actor="someone else")
    assert verify_excerpt(altered, public).first_bad_seq == excerpt[1].seq
    resigned = excerpt[:]
    resigned[2] = resigned[2]._replace(signature=b"\0" * 64)
    assert verify_excerpt(resigned, public).first_bad_seq == excerpt[2].seq
    assert verify_excerpt(excerpt[::-1], public).first_bad_seq == excerpt[-2].seq


def test_entries_filter_by_subject(full_ws):
    with full_ws.session() as session:
        found = list(AuditLog(session, full_ws.home).entries(subject="item:2"))
    assert [e.seq for e in found] == [5, 6]
    assert found[0].details["note"] == "검토 \"확인\""


def test_entry_rolls_back_with_the_action_it_records(log_ws):
    fill(log_ws, 2)
    with pytest.raises(RuntimeError):
        with log_ws.session() as session:
            AuditLog(session, log_ws.home).append("export", "case:1", {})
            raise RuntimeError("export failed")
    fill(log_ws, 1)
    assert [e.seq for e in rows(log_ws)] == [1, 2, 3]
    assert check(log_ws).ok


def test_actor_can_be_named_and_details_must_be_json(log_ws):
    with log_ws.session() as session:
        log = AuditLog(session, log_ws.home)
        assert log.append("view", "item:1", actor="reviewer-lee").actor == "reviewer-lee"
        with pytest.raises(AuditError, match="not plain JSON"):
            log.append("view", "item:1", {"when": datetime.now()})
        with pytest.raises(AuditError, match="not plain JSON"):
            log.append("view", "item:1", {"score": float("nan")})
        with pytest.raises(AuditError, match="not an object"):
            log.append("view", "item:1", ["a list"])


def test_concurrent_writers_never_fork_the_chain(log_ws):
    errors = []

    def writer(n):
        try:
            for i in range(25):
                with log_ws.session() as session:
                    session.execute(text("SELECT count(*) FROM audit_log")).scalar()
                    AuditLog(session, log_ws.home).append("view", f"item:{n}-{i}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in rows(log_ws)] == list(range(1, 101))
    assert check(log_ws).ok


def test_writer_that_loses_the_race_retries_on_the_new_head(log_ws):
    """A competing row with the same seq appears just before the insert (as on PostgreSQL)."""
    attempts = []

    def competitor(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO audit_log"):
            attempts.append(statement)
            if len(attempts) == 1:
                empty_bytes = "x''" if conn.dialect.name == "sqlite" else "''::bytea"
                cursor.connection.execute(
                    f"INSERT INTO audit_log VALUES (2, '', '', '', '', NULL, '{{}}', '', '', {empty_bytes})"
                )

    fill(log_ws, 1)
    event.listen(log_ws.engine, "before_cursor_execute", competitor)
    try:
        with log_ws.session() as session:
            AuditLog(session, log_ws.home).append("view", "item:1")
    finally:
        event.remove(log_ws.engine, "before_cursor_execute", competitor)
    assert len(attempts) == 2
    assert [e.seq for e in rows(log_ws)] == [1, 2]
    assert check(log_ws).ok


# Signed head receipts (as Certificate Transparency's signed tree heads): the log's end is pinned.

def cli(*args):
    from typer.testing import CliRunner

    from jikimi.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def anchor(ws, path):
    result = cli("audit", "anchor", "-o", path)
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text())


def restore(ws, copy):
    """Put a database file back in place of the workspace's, as a restore from backup would."""
    ws.engine.dispose()
    for suffix in ("-wal", "-shm"):
        (ws.home / f"jikimi.db{suffix}").unlink(missing_ok=True)
    staged = ws.home / "restored.db"
    staged.write_bytes(copy.read_bytes())
    staged.replace(ws.home / "jikimi.db")  # a new file, as a restore writes it


def test_a_receipt_is_signed_by_the_workspace_key_over_the_head(full_ws, tmp_path):
    from jikimi.audit_heads import HeadReceipt, signature_problem

    receipt = anchor(full_ws, tmp_path / "head.json")
    assert (receipt["seq"], receipt["entry_hash"]) == (ENTRIES, rows(full_ws)[-1].entry_hash)
    assert receipt["key_fingerprint"] == keys.fingerprint(keys.public_key(full_ws.home))
    assert (tmp_path / "head.json").stat().st_mode & 0o777 == 0o600
    assert signature_problem(HeadReceipt.from_json(receipt), keys.public_key(full_ws.home)) is None
    forged = HeadReceipt.from_json({**receipt, "seq": ENTRIES - 5})
    assert "not valid" in signature_problem(forged, keys.public_key(full_ws.home))


def test_the_log_holds_every_earlier_receipt(full_ws, tmp_path):
    first = tmp_path / "first.json"
    anchor(full_ws, first)
    fill(full_ws, 3)
    second = tmp_path / "second.json"
    anchor(full_ws, second)
    result = cli("audit", "verify", "--witness", first, "--witness", second)
    assert result.exit_code == 0, result.output
    assert "contains the head of each of 2 receipt(s)" in result.stdout


@pytest.mark.parametrize("cut", [1, 3, ENTRIES])
def test_cutting_the_tail_is_caught_against_a_receipt(full_ws, tmp_path, cut):
    receipt = tmp_path / "head.json"
    anchor(full_ws, receipt)
    sql(full_ws, "DELETE FROM audit_log WHERE seq > :keep", keep=ENTRIES - cut)
    assert check(full_ws).ok  # the chain alone cannot tell
    result = cli("audit", "verify", "--witness", receipt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"]
    assert f"the log ends at entry {ENTRIES - cut}, but the receipt of" in report["witness_problems"][0]["problem"]


def rolled_back_after_a_receipt(full_ws, tmp_path):
    """Copy the database, log 5 more entries, take a receipt, then put the copy back."""
    backup = tmp_path / "backup.db"
    sql(full_ws, f"VACUUM INTO '{backup}'")
    fill(full_ws, 5)
    receipt = tmp_path / "head.json"
    anchor(full_ws, receipt)
    restore(full_ws, backup)
    return receipt


@sqlite_only
def test_a_rolled_back_database_copy_is_caught(full_ws, tmp_path):
    receipt = rolled_back_after_a_receipt(full_ws, tmp_path)
    result = cli("audit", "verify", "--witness", receipt)
    assert result.exit_code == 1 and f"the log ends at entry {ENTRIES}, but" in result.stdout


@sqlite_only
def test_a_rolled_back_and_rewritten_log_is_caught(full_ws, tmp_path):
    receipt = rolled_back_after_a_receipt(full_ws, tmp_path)
    fill(full_ws, 7)  # the same number of entries and more, written after the rollback
    result = cli("audit", "verify", "--witness", receipt)
    assert result.exit_code == 1
    assert f"entry {ENTRIES + 5} is not the one the receipt of" in result.stdout and "rolled back" in result.stdout


@sqlite_only
def test_a_database_replaced_by_an_empty_file_is_caught(full_ws, tmp_path):
    receipt = tmp_path / "head.json"
    anchor(full_ws, receipt)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    restore(full_ws, empty)
    result = cli("audit", "verify", "--witness", receipt)
    # An empty database is refused before any command reads it, receipt or not: never a new workspace.
    assert result.exit_code == 1 and "is empty, so it was damaged or replaced" in str(result.exception)


def test_a_receipt_from_new_keys_is_caught(full_ws, tmp_path):
    receipt = tmp_path / "head.json"
    data = anchor(full_ws, receipt)
    other = Ed25519PrivateKey.generate()
    from jikimi.audit_heads import signed_bytes

    fingerprint = keys.fingerprint(other.public_key())
    data.update(key_fingerprint=fingerprint,
                signature=other.sign(signed_bytes(data["seq"], data["entry_hash"], data["time"], fingerprint)).hex())
    receipt.write_text(json.dumps(data))
    result = cli("audit", "verify", "--witness", receipt)
    assert result.exit_code == 1 and "not by this workspace's key" in result.stdout


def test_a_file_without_a_receipt_is_a_clear_error(full_ws, tmp_path):
    from jikimi.audit_heads import ReceiptError, load_witness

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ReceiptError, match="no head receipt in it"):
        load_witness(tmp_path / "notes.txt")


def test_audit_key_prints_the_fingerprint_openssl_computes(log_ws):
    import shutil
    import subprocess

    result = cli("audit", "key")
    assert result.exit_code == 0
    fingerprint = result.stdout.strip()
    assert fingerprint == keys.fingerprint(keys.public_key(log_ws.home))
    pem = cli("audit", "key", "--pem").stdout
    assert pem.encode() == (log_ws.home / "keys" / "signing.pub").read_bytes()
    if shutil.which("openssl"):
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode(),
                             capture_output=True, check=True).stdout
        import hashlib

        assert hashlib.sha256(der).hexdigest() == fingerprint
