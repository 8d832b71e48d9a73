"""The workspace: everything Jikimi keeps lives under one folder a person can back up.

`$JIKIMI_HOME` chooses it; the default is `~/.local/share/jikimi` (or
`$XDG_DATA_HOME/jikimi`). It holds `jikimi.db` (SQLite), `vault/` (originals), `keys/` (encryption and signing keys) and `reports/`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from jikimi.errors import JikimiError, WorkspaceError
from jikimi.keys import ensure_keys, keys_dir
from jikimi.store.vault import Vault

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DATABASE_FILE = "jikimi.db"
READ_ONLY = "the workspace is read-only: only commands that read it (scans, report) work"
EMPTY_DATABASE = ("the workspace database jikimi.db is empty, so it was damaged or replaced: restore it "
                  "from a backup (delete it only to start again with an empty workspace)")


def default_home() -> Path:
    if home := os.environ.get("JIKIMI_HOME"):
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "jikimi"


def database_problem(error: Exception) -> str:
    """One sentence for a database that cannot be read or written, from the driver's message."""
    text = str(getattr(error, "orig", None) or error)
    if "full" in text:
        return "the disk holding the workspace database is full: free some space first"
    if "readonly" in text or "read-only" in text:
        return READ_ONLY
    if "not a database" in text or "malformed" in text:
        return "the workspace database jikimi.db is damaged: restore it from a backup"
    if "locked" in text:
        return "the workspace database is locked by another process: try again when it is done"
    return f"the workspace database cannot be used ({text})"


def _sqlite_connect(dbapi_connection, _record) -> None:
    """WAL lets a report be read while a scan writes; foreign keys keep rows honest."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _migration_engine(url: str) -> Engine:
    """An engine on which schema changes are one transaction, all or nothing.

    pysqlite commits before DDL on its own; here it is told to leave transactions to
    SQLAlchemy. Foreign keys are off because SQLite migrations rebuild whole tables.
    """
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=OFF")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def begin(connection):
            connection.exec_driver_sql("BEGIN")

    return engine


class Workspace:
    def __init__(self, home: Path | None = None, database_url: str | None = None):
        self.home = (home or default_home()).resolve()
        self.database_url = (
            database_url
            or os.environ.get("JIKIMI_DATABASE_URL")
            or f"sqlite:///{self.home / DATABASE_FILE}"
        )
        self.vault = Vault(self.home / "vault", self.home)
        self.reports = self.home / "reports"
        self._engine: Engine | None = None
        self._sessions: sessionmaker | None = None

    def init(self) -> None:
        """Create folders and bring the database schema up to date. Safe to repeat."""
        for folder in (self.home, self.vault.root, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        ensure_keys(self.home)
        config = _alembic_config()
        engine = _migration_engine(self.database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        engine.dispose()

    def open_read_only(self, database: Path) -> None:
        """Use the database without writing a byte, and check its schema is current.

        SQLite reads a database in WAL mode read-only only through its -shm file; a cleanly
        closed one has none, and is then opened as immutable.
        """
        wal = database.with_name(database.name + "-wal")
        has_wal = wal.exists() and wal.stat().st_size > 0
        self.database_url = f"sqlite:///file:{database}?mode=ro{'' if has_wal else '&immutable=1'}&uri=true"
        script = ScriptDirectory.from_config(_alembic_config())
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current != script.get_current_head():
            raise WorkspaceError("the workspace needs an upgrade, which cannot be done while it is read-only")

    @property
    def uploads(self) -> Path:
        """Where the web app keeps uploaded sources: the one part of the workspace a scan may read."""
        return self.home / "uploads"

    def refuse_as_source(self, path: Path) -> None:
        """Never scan the workspace: a scan would copy its keys and database into the vault,
        where a reviewer could reveal them. Uploaded sources are the one exception."""
        path = Path(path).resolve()
        for protected in (self.home, keys_dir(self.home).resolve()):
            if path == protected or protected in path.parents and self.uploads not in path.parents:
                raise JikimiError(f"{path} is inside the Jikimi workspace: scan your sources, never the workspace")
            if path in protected.parents:
                raise JikimiError(f"{path} contains the Jikimi workspace ({self.home}): choose a folder inside it "
                                  "that holds only the material to scan")

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.database_url)
            if self._engine.dialect.name == "sqlite":
                event.listen(self._engine, "connect", _sqlite_connect)
        return self._engine

    def new_session(self) -> Session:
        """A plain session, for long loops that commit in batches themselves."""
        if self._sessions is None or self._sessions.kw["bind"] is not self.engine:
            # one factory per engine: building one costs ~1 ms (a new Session class), a lookup's budget
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends normally, rolled back otherwise."""
        with self.new_session() as session:
            with session.begin():
                yield session


def open_workspace() -> Workspace:
    """The workspace at $JIKIMI_HOME, created or brought up to date first: what commands use.

    A workspace that cannot be written (a read-only mount, a copy on a DVD) is opened read-only
    as it is, so its scans and reports can still be read. A database that is damaged or empty
    is refused with one sentence, never replaced by a new workspace.
    """
    ws = Workspace()
    database = ws.home / DATABASE_FILE
    local = ws.database_url == f"sqlite:///{database}"
    if local and database.exists() and database.stat().st_size == 0:
        raise WorkspaceError(EMPTY_DATABASE)
    try:
        if local and database.exists() and not _writable(ws.home, database):
            ws.open_read_only(database)
        else:
            ws.init()
    except DBAPIError as error:
        raise WorkspaceError(database_problem(error)) from None
    except OSError as error:
        raise WorkspaceError(f"the workspace at {ws.home} cannot be set up ({error.strerror})") from None
    return ws


def _writable(home: Path, database: Path) -> bool:
    return os.access(home, os.W_OK) and os.access(database, os.W_OK)
