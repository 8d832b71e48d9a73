"""Custody-log verification speed: jikimi.audit.verify against checking every signature.

    python benchmarks/audit_verify.py --entries 1000000 --baseline 50000

Builds a signed log in a temporary SQLite workspace (bulk insert, same sealing code as
AuditLog.append), then times AuditLog.verify over the whole log, streamed from the
database. The baseline, measured in the same run on the first `--baseline` entries, is
the same code checking every entry's signature (`every_signature=True`), as a naive
verifier would. Then the cost of checking signed head receipts (`audit verify --witness`):
WITNESSES receipts, each a signature check and one indexed lookup, against the whole
log's verify. Finally one entry in the middle is altered with SQL and the time to name it
is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import Text, insert, select, text, type_coerce

from jikimi import keys
from jikimi.audit import GENESIS_HASH, AuditLog, LogRow, seal, verify
from jikimi.audit_heads import sign_head, witness_problem
from jikimi.store.audit_models import AuditEntry
from jikimi.store.models import Base
from jikimi.workspace import Workspace

ACTIONS = ("ingest", "view", "reveal", "decision", "export", "notice")
INSERT_BATCH = 20_000
WITNESSES = 100


def build_log(ws: Workspace, count: int) -> None:
    key = keys.signing_key(ws.home)
    columns = [c.name for c in AuditEntry.__table__.columns]
    prev_hash, batch = GENESIS_HASH, []
    with ws.session() as session:
        for seq in range(1, count + 1):
            entry = seal(
                AuditEntry(
                    seq=seq,
                    time=f"2024-09-{1 + seq % 28:02d}T{seq % 24:02d}:00:00.{seq % 10**6:06d}+00:00",
                    actor="caseworker-1",
                    action=ACTIONS[seq % len(ACTIONS)],
                    subject=f"item:{seq // 3}",
                    case_id=seq % 50,
                    details={"sha256": f"{seq:064x}", "scan_id": seq // 1000, "note": "접수"},
                    prev_hash=prev_hash,
                ),
                key,
            )
            prev_hash = entry.entry_hash
            batch.append({name: getattr(entry, name) for name in columns})
            if len(batch) == INSERT_BATCH:
                session.execute(insert(AuditEntry), batch)
                batch.clear()
        if batch:
            session.execute(insert(AuditEntry), batch)


def timed(fn):
    """(result, wall seconds, CPU seconds): on a busy machine CPU time is the fair figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "home")
        ws.init()
        Base.metadata.create_all(ws.engine)
        keys.ensure_keys(ws.home)
        public_key = keys.public_key(ws.home)

        start = time.perf_counter()
        build_log(ws, args.entries)
        build_s = time.perf_counter() - start
        db_mb = os.path.getsize(ws.home / "jikimi.db") / 1e6
        print(f"built {args.entries:,} signed entries in {build_s:.1f} s ({db_mb:.0f} MB SQLite)")

        with ws.session() as session:
            result, verify_s, verify_cpu = timed(AuditLog(session, ws.home).verify)
        assert result.ok and result.checked == args.entries, result
        rate, cpu_rate = args.entries / verify_s, args.entries / verify_cpu
        print(
            f"AuditLog.verify: {args.entries:,} entries in {verify_s:.2f} s = {rate:,.0f} entries/s"
            f" (CPU {verify_cpu:.2f} s = {cpu_rate:,.0f} entries/s)"
        )

        columns = [getattr(AuditEntry, name) for name in LogRow._fields]
        columns[LogRow._fields.index("details")] = type_coerce(AuditEntry.details, Text)
        with ws.session() as session:
            rows = session.connection().execute(
                select(*columns)
                .where(AuditEntry.seq <= args.baseline)
                .order_by(AuditEntry.seq)
                .execution_options(yield_per=5000)
            )
            naive, naive_s, naive_cpu = timed(lambda: verify(rows, public_key, every_signature=True))
        assert naive.ok, naive
        checked = naive.checked
        naive_rate, naive_cpu_rate = checked / naive_s, checked / naive_cpu
        print(
            f"baseline, every signature checked: {checked:,} entries in {naive_s:.2f} s = "
            f"{naive_rate:,.0f} entries/s (CPU {naive_cpu_rate:,.0f} entries/s); "
            f"verify is {rate / naive_rate:.1f}x faster (CPU {cpu_rate / naive_cpu_rate:.1f}x)"
        )

        with ws.session() as session:
            receipt = sign_head(session, ws.home)
            problems, witness_s, _ = timed(lambda: [witness_problem(session, receipt, public_key)
                                                    for _ in range(WITNESSES)])
        assert problems == [None] * WITNESSES, problems
        per_witness_ms = witness_s / WITNESSES * 1000
        print(f"witness check: {per_witness_ms:.2f} ms per receipt, {verify_s * 1000 / per_witness_ms:,.0f}x less "
              "than verifying the whole log")

        bad = args.entries // 2 + 7
        with ws.session() as session:
            session.execute(
                text("UPDATE audit_log SET actor = 'someone else' WHERE seq = :seq"), {"seq": bad}
            )
        with ws.session() as session:
            result, tamper_s, _ = timed(AuditLog(session, ws.home).verify)
        assert result.first_bad_seq == bad, result
        print(f"altered entry {bad:,} named in {tamper_s:.2f} s: {result.reason}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak_mb:.0f} MB")
        print(json.dumps({
            "entries": args.entries, "build_s": round(build_s, 1), "verify_s": round(verify_s, 2),
            "verify_per_s": round(rate), "verify_per_cpu_s": round(cpu_rate),
            "baseline_per_s": round(naive_rate), "baseline_per_cpu_s": round(naive_cpu_rate),
            "speedup": round(rate / naive_rate, 1), "witness_ms": round(per_witness_ms, 3),
            "peak_rss_mb": round(peak_mb),
            "load_average": os.getloadavg()[0],
        }))


if __name__ == "__main__":
    main()
