"""Alembic environment: always run programmatically, on the connection that ``upgrade`` passes in."""

from alembic import context

from bgremover.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
