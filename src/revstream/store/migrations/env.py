"""Alembic environment: runs on the connection revstream hands it (see store._engine)."""

from alembic import context

from revstream.store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("revstream migrations run through `revstream db upgrade`, not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
