"""Alembic environment: runs on the connection the workspace hands over."""

from alembic import context

import jikimi.store.audit_models  # noqa: F401  (registers the audit_log table)
import jikimi.store.job_models  # noqa: F401  (registers the jobs table)
import jikimi.store.takedown_models  # noqa: F401  (registers the takedown tables)
import jikimi.store.web_models  # noqa: F401  (registers the web accounts tables)
import jikimi.store.webhook_models  # noqa: F401  (registers the webhook tables)
import jikimi.store.exchange_models  # noqa: F401  (registers where imported hashes came from)
from jikimi.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
