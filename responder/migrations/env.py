"""Alembic's entry point for the responder schema: runs the revisions on the connection that
responder.migrations.upgrade hands over (already inside its lock and transaction).

Run through `responder db upgrade`, not the bare `alembic` command: the lock, the version table
name and the timeouts live in responder.migrations.
"""

from alembic import context

from responder.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `responder db upgrade --database-url URL`")

context.configure(connection=connection, version_table=VERSION_TABLE, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
