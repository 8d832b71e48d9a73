"""A throwaway PostgreSQL cluster for the test suite (`JIKIMI_TEST_DB=postgres`).

The tests start their own server rather than trusting one on the machine: `initdb` in a
temporary folder, a free port on 127.0.0.1, no durability (fsync off: a crash loses only test
data). PostgreSQL refuses to run as root, so under root it runs as `nobody`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SUPERUSER = "jikimi"
TEMPLATE = "jikimi_template"  # migrated once; every test database is a copy of it
SERVER_OPTIONS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300"
# Debian's packages put the server binaries outside PATH, one folder per major version.
POSTGRES_BINARIES = "/usr/lib/postgresql/*/bin"


def _binary(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in sorted(Path("/").glob(POSTGRES_BINARIES.lstrip("/") + "/" + name),
                                                                reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """initdb + pg_ctl start in a temporary folder; `new_database()` hands out empty databases."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="jikimi-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody")
            self._as_user = ["runuser", "-u", "nobody", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        data = self.root / "data"
        self._run(_binary("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self._run(_binary("pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w", "start",
                  "-o", f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}")

    def stop(self) -> None:
        try:
            self._run(_binary("pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                               autocommit=True)

    def make_template(self, migrate) -> None:
        """Run the migrations once; `CREATE DATABASE ... TEMPLATE` then copies them in milliseconds."""
        with self._admin() as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate(self.url(TEMPLATE))

    def new_database(self) -> str:
        name = f"test_{next(self._names)}"
        with self._admin() as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
