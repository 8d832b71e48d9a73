"""Concurrency a single SQLite file hides: several processes writing one database at once.

Run with `JIKIMI_TEST_DB=postgres` these go through a real PostgreSQL server, as a
deployment with several web workers or scan machines would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ON_POSTGRES
from sqlalchemy import func, select

from jikimi.audit import AuditLog
from jikimi.store.audit_models import AuditEntry

WRITERS = 3
ENTRIES_PER_WRITER = 40

# Each writer waits for the start file, then appends its entries one transaction each.
WRITER = """
import sys, time
from pathlib import Path
from jikimi.audit import AuditLog
from jikimi.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
start, name, count = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
while not start.exists():
    time.sleep(0.005)
for n in range(count):
    with ws.session() as session:
        AuditLog(session, ws.home).append("test_append", f"writer:{name}", {"n": n}, actor=name)
"""


def test_the_suite_runs_on_the_database_it_was_asked_for(ws):
    assert ws.engine.dialect.name == ("postgresql" if ON_POSTGRES else "sqlite")


def test_processes_appending_at_once_keep_one_verified_chain(ws, tmp_path):
    start = tmp_path / "start"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(ws.home), str(start), f"w{i}", str(ENTRIES_PER_WRITER)],
                         env=env, stderr=subprocess.PIPE, text=True)
        for i in range(WRITERS)
    ]
    time.sleep(2)  # every writer imported and waiting
    start.touch()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    with ws.session() as session:
        per_writer = dict(session.execute(
            select(AuditEntry.actor, func.count()).where(AuditEntry.action == "test_append").group_by(AuditEntry.actor)
        ).all())
        seqs = session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
        result = AuditLog(session, ws.home).verify()
    assert per_writer == {f"w{i}": ENTRIES_PER_WRITER for i in range(WRITERS)}
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no fork
    assert result.ok, result.reason
    assert result.checked == len(seqs)
