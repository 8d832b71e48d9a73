from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import jikimi.store.audit_models  # noqa: F401  (each module registers its tables)
import jikimi.store.job_models  # noqa: F401
import jikimi.store.takedown_models  # noqa: F401
import jikimi.store.web_models  # noqa: F401
import jikimi.store.webhook_models  # noqa: F401
import jikimi.store.exchange_models  # noqa: F401
from jikimi.store.models import Base


# Indexes the models create on one database only (an expression on SQLite's JSON functions).
SQLITE_ONLY_INDEXES = {"ix_item_locators_chat"}


def test_migrations_build_exactly_the_models(ws):
    with ws.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        if connection.dialect.name != "sqlite":
            differences = [d for d in differences
                           if not (d[0] == "add_index" and d[1].name in SQLITE_ONLY_INDEXES)]
        assert differences == []
