"""Alembic environment: Dyad always hands it a live connection (see service.store.migrate)."""

from alembic import context

import service.notify.tables  # noqa: F401  (the outbox tables share Base)
from service.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
