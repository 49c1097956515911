"""Alembic environment: runs migrations on the connection the ledger hands over.

The application always passes an open connection (inside its own transaction) through
``config.attributes["connection"]``; offline SQL generation is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("provenance migrations run through provenance.migrate.upgrade()")

context.configure(
    connection=connection,
    render_as_batch=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
